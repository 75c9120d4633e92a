//! A SPDY/3.1 connection as the simulated kubelet drives it: a reader task turning bytes into
//! frames (answering pings itself), and a writer task that owns the header compressor and
//! writes frames in order. Handlers see incoming frames on a channel and send frames back.

use cceone_kubesim_core::streams::spdy::{Decoder, Encoder, Frame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The largest data frame written.
pub(crate) const CHUNK: usize = 32 * 1024;

/// One SPDY connection.
pub(crate) struct Conn {
    /// Frames from the client (ends when it closes or sends GOAWAY).
    pub(crate) incoming: mpsc::Receiver<Frame>,
    /// Frames to the client.
    pub(crate) out: mpsc::Sender<Frame>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Conn {
    /// Start the reader and writer tasks on `io`.
    pub(crate) fn start<IO>(io: IO) -> Conn
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mut rd, mut wr) = tokio::io::split(io);
        let (in_tx, incoming) = mpsc::channel(64);
        let (out, mut out_rx) = mpsc::channel::<Frame>(64);
        let pong = out.clone();
        let reader = tokio::spawn(async move {
            let mut dec = Decoder::default();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                dec.push(&buf[..n]);
                loop {
                    match dec.next_frame() {
                        Ok(Some(Frame::Ping { id })) => {
                            let _ = pong.send(Frame::Ping { id }).await;
                        }
                        Ok(Some(Frame::GoAway { .. })) => return,
                        Ok(Some(f)) => {
                            if in_tx.send(f).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "SPDY client sent a bad frame; closing");
                            return;
                        }
                    }
                }
            }
        });
        let writer = tokio::spawn(async move {
            let mut enc = Encoder::default();
            while let Some(f) = out_rx.recv().await {
                let bytes = match enc.encode(&f) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e, "SPDY frame not encodable");
                        continue;
                    }
                };
                if wr.write_all(&bytes).await.is_err() {
                    return;
                }
                // Write as soon as nothing more is queued.
                if out_rx.is_empty() && wr.flush().await.is_err() {
                    return;
                }
            }
            let _ = wr.flush().await;
            let _ = wr.shutdown().await;
        });
        Conn {
            incoming,
            out,
            reader,
            writer,
        }
    }

    /// Send `data` on stream `id` in frames of at most [`CHUNK`] bytes.
    pub(crate) async fn send_data(
        out: &mpsc::Sender<Frame>,
        id: u32,
        data: &[u8],
        fin: bool,
    ) -> bool {
        let mut chunks = data.chunks(CHUNK).peekable();
        if chunks.peek().is_none() {
            return out
                .send(Frame::Data {
                    stream_id: id,
                    fin,
                    data: Vec::new(),
                })
                .await
                .is_ok();
        }
        while let Some(c) = chunks.next() {
            let last = chunks.peek().is_none();
            if out
                .send(Frame::Data {
                    stream_id: id,
                    fin: fin && last,
                    data: c.to_vec(),
                })
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    }

    /// Say goodbye, write what is queued and close.
    pub(crate) async fn close(self, last_stream_id: u32) {
        let Conn {
            incoming,
            out,
            reader,
            writer,
        } = self;
        drop(incoming);
        let _ = out
            .send(Frame::GoAway {
                last_stream_id,
                status: 0,
            })
            .await;
        drop(out);
        reader.abort();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
    }
}

/// The first value of header `name`.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
