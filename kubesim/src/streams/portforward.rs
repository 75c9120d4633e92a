//! `pods/<name>/portforward`: SPDY/3.1 (`portforward.k8s.io`), directly or tunnelled in
//! WebSocket (`SPDY/3.1+portforward.k8s.io`, kubectl 1.31+); WebSocket channels
//! (`v4.channel.k8s.io`, kube-rs) are served by [`super::wsforward`]. Per forwarded connection the client
//! opens an error stream and a data stream sharing a `requestID`; the data stream is joined to
//! the pod's responder on `port` (see [`super::responder`]) and both streams are half-closed
//! when the responder's side ends.

use std::collections::HashMap;

use cceone_kube_apiserver::PodStream;
use cceone_kube_apiserver::http::Body;
use cceone_kubesim_core::streams::spdy::Frame;
use http::Response;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::spdy::{Conn, header};
use super::upgrade::{self, Upgrade};
use super::{Query, bad_request, pod_names};

const WEBSOCKET: &[&str] = &["SPDY/3.1+portforward.k8s.io", super::wsforward::PROTOCOL];
const SPDY: &[&str] = &["portforward.k8s.io"];
/// Most connections forwarded at once on one port-forward session.
const MAX_FORWARDS: usize = 256;

/// Serve port-forward.
pub(crate) fn serve(ps: PodStream, q: &Query) -> Response<Body> {
    let (ns, name) = pod_names(&ps.pod);
    let running = ps.pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running");
    if !running {
        return bad_request(&format!(
            "unable to do port forwarding: pod {name} is not running"
        ));
    }
    let u = match upgrade::negotiate(ps.request.headers(), WEBSOCKET, SPDY) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    // Channel port-forward names its ports up front (SPDY names them per stream).
    let channel_ports = match &u {
        Upgrade::WebSocket { protocol, .. } if protocol == super::wsforward::PROTOCOL => {
            match super::wsforward::ports(q) {
                Ok(p) => Some(p),
                Err(e) => return bad_request(&e),
            }
        }
        _ => None,
    };
    tracing::info!(namespace = %ns, pod = %name, upgrade = ?u, "port-forward starting");
    upgrade::spawn(ps.request, u, move |io, u| async move {
        match u {
            Upgrade::WebSocket { .. } => {
                let ws = super::ws::accept(io).await;
                match channel_ports {
                    Some(ports) => super::wsforward::forward(ws, ports, ns, name).await,
                    None => {
                        forward(Conn::start(super::ws::byte_stream(ws)), ns, name).await;
                    }
                }
            }
            Upgrade::Spdy { .. } => forward(Conn::start(io), ns, name).await,
        }
    })
}

/// One forwarded connection's streams.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
}

async fn forward(mut conn: Conn, ns: String, pod: String) {
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut data: HashMap<u32, mpsc::Sender<Option<Vec<u8>>>> = HashMap::new();
    let mut last = 0;
    while let Some(f) = conn.incoming.recv().await {
        match f {
            Frame::SynStream {
                stream_id, headers, ..
            } => {
                last = stream_id;
                let kind = header(&headers, "streamtype")
                    .unwrap_or_default()
                    .to_string();
                let request = header(&headers, "requestid")
                    .unwrap_or_default()
                    .to_string();
                let port = header(&headers, "port")
                    .and_then(|p| p.parse::<u16>().ok())
                    .filter(|p| *p > 0);
                let _ = conn
                    .out
                    .send(Frame::SynReply {
                        stream_id,
                        fin: false,
                        headers: Vec::new(),
                    })
                    .await;
                match kind.as_str() {
                    "error" => {
                        if pairs.len() >= MAX_FORWARDS {
                            pairs.retain(|_, p| {
                                p.error.is_some_and(|e| {
                                    e > stream_id.saturating_sub(2 * MAX_FORWARDS as u32)
                                })
                            });
                        }
                        pairs.entry(request).or_default().error = Some(stream_id);
                    }
                    "data" => {
                        let error = pairs.remove(&request).and_then(|p| p.error);
                        let Some(port) = port else {
                            if let Some(e) = error {
                                let m = format!("invalid port in port-forward request {request}");
                                Conn::send_data(&conn.out, e, m.as_bytes(), true).await;
                            }
                            let _ = conn
                                .out
                                .send(Frame::RstStream {
                                    stream_id,
                                    status: 1,
                                })
                                .await;
                            continue;
                        };
                        if data.len() >= MAX_FORWARDS {
                            data.retain(|_, tx| !tx.is_closed());
                        }
                        let (tx, rx) = mpsc::channel(16);
                        data.insert(stream_id, tx);
                        let (client, server) = tokio::io::duplex(64 * 1024);
                        let (ns2, pod2) = (ns.clone(), pod.clone());
                        tokio::spawn(async move {
                            super::responder::serve(port, server, &ns2, &pod2).await
                        });
                        tokio::spawn(pump(client, rx, conn.out.clone(), stream_id, error));
                        tracing::debug!(namespace = %ns, pod = %pod, port, request, "forwarding a connection");
                    }
                    other => tracing::debug!(kind = other, "unknown port-forward stream type"),
                }
            }
            Frame::Data {
                stream_id,
                fin,
                data: d,
            } => {
                if let Some(tx) = data.get(&stream_id) {
                    if !d.is_empty() {
                        let _ = tx.send(Some(d)).await;
                    }
                    if fin {
                        let _ = tx.send(None).await;
                    }
                }
            }
            Frame::RstStream { stream_id, .. } => {
                data.remove(&stream_id);
            }
            _ => {}
        }
    }
    tracing::info!(namespace = %ns, pod = %pod, "port-forward ended");
    drop(data);
    conn.close(last).await;
}

/// Join one data stream to its responder until both directions end.
async fn pump<S>(
    io: S,
    mut from_client: mpsc::Receiver<Option<Vec<u8>>>,
    out: mpsc::Sender<Frame>,
    id: u32,
    error: Option<u32>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let up = async {
        while let Some(Some(d)) = from_client.recv().await {
            if wr.write_all(&d).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; super::spdy::CHUNK];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !Conn::send_data(&out, id, &buf[..n], false).await {
                        return;
                    }
                }
            }
        }
        Conn::send_data(&out, id, &[], true).await;
        if let Some(e) = error {
            Conn::send_data(&out, e, &[], true).await;
        }
    };
    // The responder ending its side ends the forward even if the client keeps writing.
    tokio::select! {
        () = down => {}
        () = async { up.await; std::future::pending::<()>().await } => {}
    }
}
