//! Proxied API requests from the hub: each arrives on its own tunnel stream, is sent to the
//! member's API server with the agent's own credentials plus impersonation of the original
//! caller (so the member's RBAC decides), and the response streams back chunk by chunk (watches
//! and `logs -f` included). An upgrade the member accepts (exec, attach, port-forward over
//! WebSocket or SPDY) becomes raw bytes both ways on the same stream.

use bytes::Bytes;
use cceone_proto::v1;
use cceone_tunnel::{Receiver, Sender, TunnelError};
use http_body_util::BodyExt;

/// The largest request body the agent forwards.
const MAX_REQUEST_BODY: usize = 8 * 1024 * 1024;

/// Request headers never forwarded to the member (the agent authenticates itself).
fn forwardable(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    !(n == "authorization"
        || n.starts_with("impersonate-")
        || matches!(
            n.as_str(),
            "host"
                | "connection"
                | "content-length"
                | "transfer-encoding"
                | "upgrade"
                | "te"
                | "keep-alive"
        ))
}

async fn fail(tx: &mut Sender, code: u32, message: &str) -> Result<(), TunnelError> {
    let status = serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": "ServiceUnavailable", "code": code});
    tx.send(&v1::ProxyResponse {
        status: code,
        headers: vec![v1::Header {
            name: "content-type".into(),
            value: "application/json".into(),
        }],
    })
    .await?;
    tx.send(&v1::ProxyChunk {
        data: serde_json::to_vec(&status).unwrap_or_default().into(),
        end: true,
    })
    .await?;
    tx.finish()
}

/// Serve one proxied request.
pub async fn serve(
    client: kube::Client,
    req: v1::ProxyRequest,
    mut tx: Sender,
    mut rx: Receiver,
) -> Result<(), TunnelError> {
    let mut body = Vec::new();
    if req.has_body {
        while let Some(c) = rx.recv::<v1::ProxyChunk>().await? {
            if body.len() + c.data.len() > MAX_REQUEST_BODY {
                return fail(&mut tx, 413, "request body too large for the tunnel proxy").await;
            }
            body.extend_from_slice(&c.data);
            if c.end {
                break;
            }
        }
    }
    let mut builder = http::Request::builder()
        .method(req.method.as_str())
        .uri(req.path.as_str());
    for h in req.headers.iter().filter(|h| forwardable(&h.name)) {
        builder = builder.header(h.name.as_str(), h.value.as_str());
    }
    // exec, attach and port-forward switch protocols: the hop-by-hop upgrade headers are the
    // point of the request, so they are set again for the member.
    let upgrade = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("upgrade"))
        .map(|h| h.value.clone());
    if let Some(u) = &upgrade {
        builder = builder
            .header("connection", "Upgrade")
            .header("upgrade", u.as_str());
    }
    if !req.user.is_empty() {
        builder = builder.header("Impersonate-User", req.user.as_str());
        for g in &req.groups {
            builder = builder.header("Impersonate-Group", g.as_str());
        }
    }
    let request = match builder.body(kube::client::Body::from(body)) {
        Ok(r) => r,
        Err(e) => return fail(&mut tx, 400, &format!("bad proxied request: {e}")).await,
    };
    // The caller may leave before the member answers (a request held up by the member).
    let response = tokio::select! {
        r = client.send(request) => match r {
            Ok(r) => r,
            Err(e) => return fail(&mut tx, 502, &format!("the member API server failed: {e}")).await,
        },
        () = tx.closed() => {
            tracing::debug!(path = %req.path, "the caller left before the member answered");
            return Ok(());
        }
    };
    let headers = response
        .headers()
        .iter()
        .filter_map(|(n, v)| {
            v.to_str().ok().map(|v| v1::Header {
                name: n.as_str().to_string(),
                value: v.to_string(),
            })
        })
        .collect();
    let switching = response.status() == http::StatusCode::SWITCHING_PROTOCOLS;
    tx.send(&v1::ProxyResponse {
        status: u32::from(response.status().as_u16()),
        headers,
    })
    .await?;
    if switching && upgrade.is_some() {
        return match hyper::upgrade::on(response).await {
            Ok(up) => {
                let moved = cceone_tunnel::splice(hyper_util::rt::TokioIo::new(up), tx, rx).await;
                tracing::debug!(path = %req.path, sent = moved.sent, received = moved.received,
                    "upgraded proxy stream ended");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, path = %req.path, "the member switched protocols but the upgrade failed");
                tx.reset();
                Ok(())
            }
        };
    }
    let mut body = response.into_body();
    loop {
        // The caller leaving (the hub resets or stops the stream) ends the member's request at
        // once, a quiet watch or `logs -f` included: dropping the body closes it on the member.
        let frame = tokio::select! {
            f = body.frame() => f,
            () = tx.closed() => {
                tracing::debug!(path = %req.path, "the caller left; ending the member request");
                return Ok(());
            }
        };
        match frame {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let data: Bytes = data;
                    if !data.is_empty() {
                        // An error here means the caller went away too.
                        tx.send(&v1::ProxyChunk { data, end: false }).await?;
                    }
                }
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "member response body failed");
                break;
            }
            None => break,
        }
    }
    tx.send(&v1::ProxyChunk {
        data: Bytes::new(),
        end: true,
    })
    .await?;
    tx.finish()
}
