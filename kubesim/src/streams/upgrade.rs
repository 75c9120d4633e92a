//! The HTTP upgrade of exec, attach and port-forward: WebSocket (subprotocol chosen from the
//! client's `Sec-WebSocket-Protocol` list in its order) or SPDY/3.1 (from its
//! `X-Stream-Protocol-Version` list), answered with 101 and handed over as a byte stream.

use cceone_kube_apiserver::http::Body;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

/// The connection once upgraded.
pub(crate) type Io = TokioIo<hyper::upgrade::Upgraded>;

/// What the client asked to switch to, and what was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Upgrade {
    /// WebSocket with this subprotocol.
    WebSocket { protocol: String, key: String },
    /// SPDY/3.1 with this stream protocol.
    Spdy { protocol: String },
}

fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .take(32)
        .collect()
}

/// Choose a protocol; the 4xx to answer when none fits.
pub(crate) fn negotiate(
    headers: &HeaderMap,
    websocket: &[&str],
    spdy: &[&str],
) -> Result<Upgrade, Box<Response<Body>>> {
    let upgrade = headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if upgrade == "websocket" {
        let key = headers
            .get("sec-websocket-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let offered = list(headers, "sec-websocket-protocol");
        return match offered.iter().find(|p| websocket.contains(&p.as_str())) {
            Some(p) if !key.is_empty() => Ok(Upgrade::WebSocket {
                protocol: p.clone(),
                key,
            }),
            _ => Err(Box::new(super::bad_request(&format!(
                "unable to upgrade: no supported WebSocket subprotocol among {offered:?} (supported: {websocket:?})"
            )))),
        };
    }
    if upgrade.starts_with("spdy/3.1") {
        let offered = list(headers, "x-stream-protocol-version");
        return match offered.iter().find(|p| spdy.contains(&p.as_str())) {
            Some(p) => Ok(Upgrade::Spdy {
                protocol: p.clone(),
            }),
            None => {
                let mut r = super::bad_request(&format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports {spdy:?}"
                ));
                *r.status_mut() = StatusCode::FORBIDDEN;
                Err(Box::new(r))
            }
        };
    }
    Err(Box::new(super::bad_request(
        "Upgrade request required: use a WebSocket (v5.channel.k8s.io) or SPDY/3.1 client such as kubectl",
    )))
}

/// The 101 answer for `u`.
pub(crate) fn switching(u: &Upgrade) -> Response<Body> {
    let mut r = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    match u {
        Upgrade::WebSocket { protocol, key } => {
            h.insert(
                http::header::UPGRADE,
                http::HeaderValue::from_static("websocket"),
            );
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            if let Ok(v) = http::HeaderValue::from_str(&accept) {
                h.insert("sec-websocket-accept", v);
            }
            if let Ok(v) = http::HeaderValue::from_str(protocol) {
                h.insert("sec-websocket-protocol", v);
            }
        }
        Upgrade::Spdy { protocol } => {
            h.insert(
                http::header::UPGRADE,
                http::HeaderValue::from_static("SPDY/3.1"),
            );
            if let Ok(v) = http::HeaderValue::from_str(protocol) {
                h.insert("x-stream-protocol-version", v);
            }
        }
    }
    r
}

/// Answer 101 and run `then` on the upgraded connection.
pub(crate) fn spawn<F, Fut>(
    mut req: http::Request<hyper::body::Incoming>,
    u: Upgrade,
    then: F,
) -> Response<Body>
where
    F: FnOnce(Io, Upgrade) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let on = hyper::upgrade::on(&mut req);
    // The audit log's ResponseComplete is written once the stream ends.
    let held = req
        .extensions_mut()
        .remove::<cceone_kube_apiserver::audit::Completion>();
    let resp = switching(&u);
    tokio::spawn(async move {
        let _held = held;
        match on.await {
            Ok(up) => then(TokioIo::new(up), u).await,
            Err(e) => tracing::debug!(error = %e, "upgrade did not complete"),
        }
    });
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_the_clients_order_and_refuses_the_unknown() {
        let mut h = HeaderMap::new();
        h.insert("upgrade", "websocket".parse().unwrap());
        h.insert(
            "sec-websocket-key",
            "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap(),
        );
        h.insert(
            "sec-websocket-protocol",
            "v5.channel.k8s.io, v4.channel.k8s.io".parse().unwrap(),
        );
        let ws = ["v4.channel.k8s.io", "v5.channel.k8s.io"];
        let u = negotiate(&h, &ws, &[]).unwrap();
        assert_eq!(
            u,
            Upgrade::WebSocket {
                protocol: "v5.channel.k8s.io".into(),
                key: "dGhlIHNhbXBsZSBub25jZQ==".into()
            }
        );
        let r = switching(&u);
        assert_eq!(
            r.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        h.insert("sec-websocket-protocol", "channel.k8s.io".parse().unwrap());
        assert_eq!(
            negotiate(&h, &ws, &[]).unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        let mut h = HeaderMap::new();
        h.insert("upgrade", "SPDY/3.1".parse().unwrap());
        h.append(
            "x-stream-protocol-version",
            "v4.channel.k8s.io".parse().unwrap(),
        );
        h.append(
            "x-stream-protocol-version",
            "v3.channel.k8s.io".parse().unwrap(),
        );
        assert_eq!(
            negotiate(&h, &[], &["v4.channel.k8s.io"]).unwrap(),
            Upgrade::Spdy {
                protocol: "v4.channel.k8s.io".into()
            }
        );
        assert_eq!(
            negotiate(&h, &[], &["portforward.k8s.io"])
                .unwrap_err()
                .status(),
            StatusCode::FORBIDDEN
        );
    }
}
