//! WebSocket transports: the remote-command channels of `v4`/`v5.channel.k8s.io` (one byte of
//! channel before each binary message: 0 stdin, 1 stdout, 2 stderr, 3 the status, 4 resize;
//! v5 adds 255 to close one channel, so stdin can end while output goes on), and a plain byte
//! stream over binary messages for SPDY tunnelled in WebSocket.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::process::{Exit, Output, Stdio};
use super::upgrade::Io;

/// The largest WebSocket message or frame accepted.
const MAX_MESSAGE: usize = 1 << 20;

/// How long a TTY's output waits for the client's first terminal size (see `remote_command`).
const FIRST_SIZE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Take over an upgraded connection as the server side of a WebSocket.
pub(crate) async fn accept(io: Io) -> WebSocketStream<Io> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await
}

/// Which streams a remote command has.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Streams {
    pub(crate) stdin: bool,
    pub(crate) tty: bool,
}

/// Run a remote command over WebSocket channels; the client closing ends the process.
pub(crate) async fn remote_command<F, Fut>(
    ws: WebSocketStream<Io>,
    v5: bool,
    streams: Streams,
    run: F,
) where
    F: FnOnce(Stdio) -> Fut,
    Fut: std::future::Future<Output = Option<Exit>>,
{
    let (mut sink, mut source) = ws.split();
    let (stdin_tx, stdin_rx) = mpsc::channel::<Bytes>(16);
    let (size_tx, size_rx) = watch::channel(None);
    let mut first_size = size_tx.subscribe();
    let (out_tx, mut out_rx) = mpsc::channel::<Output>(16);
    let stdio = Stdio {
        stdin: streams.stdin.then_some(stdin_rx),
        out: out_tx,
        size: size_rx,
        tty: streams.tty,
    };
    let work = async {
        let process = run(stdio);
        let write = async {
            if streams.tty {
                // client-go's WebSocket executor starts reading before it has made its streams
                // (`readDemuxLoop` runs first in remotecommand/websocket.go) and drops output
                // for a stream it has not made yet ("Unknown stream id 1, discarding message"):
                // a shell's prompt written at once was lost under load. It sends the terminal
                // size once its streams exist, so a TTY's output waits for that, at most a
                // second for a client that sends none.
                let _ = tokio::time::timeout(FIRST_SIZE_WAIT, first_size.wait_for(Option::is_some))
                    .await;
            }
            while let Some(o) = out_rx.recv().await {
                let (ch, data) = match o {
                    Output::Stdout(d) => (1u8, d),
                    Output::Stderr(d) => (2u8, d),
                };
                for chunk in data.chunks(32 * 1024) {
                    let mut m = Vec::with_capacity(chunk.len() + 1);
                    m.push(ch);
                    m.extend_from_slice(chunk);
                    if sink.send(Message::Binary(m.into())).await.is_err() {
                        return false;
                    }
                }
            }
            true
        };
        let (exit, ok) = tokio::join!(process, write);
        (exit, ok)
    };
    let read = async {
        let mut stdin_tx = Some(stdin_tx);
        while let Some(m) = source.next().await {
            let data = match m {
                Ok(Message::Binary(d)) => d,
                Ok(Message::Text(t)) => Bytes::from(t.as_str().as_bytes().to_vec()),
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => continue,
            };
            let Some((&ch, payload)) = data.split_first() else {
                continue;
            };
            match ch {
                0 => {
                    if let Some(tx) = &stdin_tx
                        && !payload.is_empty()
                        && tx.send(Bytes::copy_from_slice(payload)).await.is_err()
                    {
                        stdin_tx = None;
                    }
                }
                4 => {
                    if let Some(size) = parse_size(payload) {
                        let _ = size_tx.send(Some(size));
                    }
                }
                255 if v5 && payload.first() == Some(&0) => stdin_tx = None,
                _ => {}
            }
        }
    };
    tokio::select! {
        (exit, ok) = work => {
            if let (Some(exit), true) = (exit, ok) {
                let status = super::exec::status(&exit);
                let mut m = vec![3u8];
                m.extend_from_slice(status.as_bytes());
                let _ = sink.send(Message::Binary(m.into())).await;
            }
            // A normal closure: the client's readers see the end of their streams, not an error.
            let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))).await;
            let _ = sink.close().await;
        }
        () = read => {
            tracing::info!("the WebSocket client went away; its process is ended");
        }
    }
}

/// A terminal size message: `{"Width":80,"Height":24}` (rows, columns).
pub(crate) fn parse_size(b: &[u8]) -> Option<(u16, u16)> {
    let v: serde_json::Value = serde_json::from_slice(b).ok()?;
    let w = v.get("Width").and_then(serde_json::Value::as_u64)?;
    let h = v.get("Height").and_then(serde_json::Value::as_u64)?;
    Some((
        h.min(u64::from(u16::MAX)) as u16,
        w.min(u64::from(u16::MAX)) as u16,
    ))
}

/// The bytes carried in a WebSocket's binary messages, as a byte stream (SPDY tunnelled in
/// WebSocket).
pub(crate) fn byte_stream(ws: WebSocketStream<Io>) -> tokio::io::DuplexStream {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (mut rd, mut wr) = tokio::io::split(ours);
    let (mut sink, mut source) = ws.split();
    tokio::spawn(async move {
        while let Some(Ok(m)) = source.next().await {
            match m {
                Message::Binary(b) if wr.write_all(&b).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = wr.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink
                        .send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = sink.close().await;
    });
    theirs
}
