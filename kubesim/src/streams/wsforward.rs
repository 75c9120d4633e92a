//! Port-forward over WebSocket channels (`v4.channel.k8s.io`, what kube-rs's
//! `Api::<Pod>::portforward` and older client-go websocket clients speak), as the kubelet serves
//! it (kubernetes `staging/src/k8s.io/kubelet/pkg/cri/streaming/portforward/websocket.go`): the
//! `ports` query names the ports; port `i` gets data channel `2i` and error channel `2i+1`, and
//! the first message on each is the port as two little-endian bytes. One connection to the pod
//! per port; once every port's connection has ended the WebSocket is closed.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::Query;
use super::upgrade::Io;

/// The WebSocket subprotocol of channel port-forward.
pub(crate) const PROTOCOL: &str = "v4.channel.k8s.io";
/// Most ports in one request (two channels each, channel numbers being one byte).
const MAX_PORTS: usize = 64;
/// Bytes read from the pod per message.
const CHUNK: usize = 32 * 1024;

/// The ports of the `ports` query (repeated or comma-separated), or the kubelet's refusal.
pub(crate) fn ports(q: &Query) -> Result<Vec<u16>, String> {
    let given = q.all("ports");
    if given.is_empty() {
        return Err("query parameter \"ports\" is required".into());
    }
    let mut ports = Vec::new();
    for s in &given {
        if s.is_empty() {
            return Err("query parameter \"ports\" cannot be empty".into());
        }
        for p in s.split(',') {
            let port = p
                .parse::<u16>()
                .map_err(|e| format!("unable to parse {s:?} as a port: {e}"))?;
            if port < 1 {
                return Err(format!("port {s:?} must be > 0"));
            }
            ports.push(port);
        }
    }
    if ports.len() > MAX_PORTS {
        return Err(format!(
            "at most {MAX_PORTS} ports may be forwarded at once"
        ));
    }
    Ok(ports)
}

/// One channel message: the channel byte, then `data`.
fn message(channel: u8, data: &[u8]) -> Message {
    let mut m = Vec::with_capacity(data.len() + 1);
    m.push(channel);
    m.extend_from_slice(data);
    Message::Binary(m.into())
}

/// Forward `ports` of the pod over `ws` until every port's connection has ended or the client
/// leaves.
pub(crate) async fn forward(ws: WebSocketStream<Io>, ports: Vec<u16>, ns: String, pod: String) {
    let (mut sink, mut source) = ws.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(16);
    let mut to_pod = Vec::with_capacity(ports.len());
    let mut pumps = Vec::with_capacity(ports.len());
    for (i, &port) in ports.iter().enumerate() {
        let data = (2 * i) as u8;
        let le = port.to_le_bytes();
        for channel in [data, data + 1] {
            if sink.send(message(channel, &le)).await.is_err() {
                return;
            }
        }
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (ns, pod) = (ns.clone(), pod.clone());
        tokio::spawn(async move { super::responder::serve(port, server, &ns, &pod).await });
        let (tx, rx) = mpsc::channel::<Bytes>(16);
        to_pod.push(tx);
        pumps.push(pump(client, rx, out_tx.clone(), data));
    }
    drop(out_tx);
    // Every pump done drops the last sender: the writer then closes the WebSocket.
    let write = async {
        while let Some(m) = out_rx.recv().await {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        let _ = sink.send(Message::Close(None)).await;
        let _ = sink.close().await;
    };
    let read = async {
        while let Some(Ok(m)) = source.next().await {
            let data = match m {
                Message::Binary(d) => d,
                Message::Close(_) => break,
                _ => continue,
            };
            let Some((&channel, payload)) = data.split_first() else {
                continue;
            };
            // Only the data channels carry bytes to the pod.
            let port = usize::from(channel / 2);
            if channel % 2 == 0
                && !payload.is_empty()
                && let Some(tx) = to_pod.get(port)
            {
                let _ = tx.send(Bytes::copy_from_slice(payload)).await;
            }
        }
    };
    tokio::select! {
        _ = futures::future::join(futures::future::join_all(pumps), write) => {}
        () = read => tracing::debug!(namespace = %ns, pod = %pod, "the port-forward client left"),
    }
    tracing::info!(namespace = %ns, pod = %pod, ?ports, "port-forward over WebSocket channels ended");
}

/// Join one port's connection to the pod with its data channel until the pod's side ends.
async fn pump(
    io: tokio::io::DuplexStream,
    mut from_client: mpsc::Receiver<Bytes>,
    out: mpsc::Sender<Message>,
    channel: u8,
) {
    let (mut rd, mut wr) = tokio::io::split(io);
    let up = async {
        while let Some(d) = from_client.recv().await {
            if wr.write_all(&d).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out.send(message(channel, &buf[..n])).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    // The pod's side ending ends the port even if the client keeps writing.
    tokio::select! {
        () = down => {}
        () = async { up.await; std::future::pending::<()>().await } => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_read_as_the_kubelet_reads_them() {
        let q = Query::parse(Some("ports=80%2C8080&ports=9000"));
        assert_eq!(ports(&q).unwrap(), vec![80, 8080, 9000]);
        assert_eq!(
            ports(&Query::parse(None)).unwrap_err(),
            "query parameter \"ports\" is required"
        );
        assert_eq!(
            ports(&Query::parse(Some("ports=0"))).unwrap_err(),
            "port \"0\" must be > 0"
        );
        assert!(
            ports(&Query::parse(Some("ports=http")))
                .unwrap_err()
                .starts_with("unable to parse \"http\" as a port")
        );
    }
}
