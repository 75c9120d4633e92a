//! Raw bytes across a tunnel stream once an HTTP upgrade (exec, attach, port-forward) has
//! switched protocols: each direction becomes `ProxyChunk`s, `end` marks that side's half-close,
//! and the splice ends when both directions have ended, so closing either end closes the other.

use bytes::Bytes;
use cceone_proto::v1;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{Receiver, Sender};

/// Bytes read from the connection per chunk sent.
const CHUNK: usize = 32 * 1024;
/// How long one direction may stay open after the other has ended.
pub const LINGER: std::time::Duration = std::time::Duration::from_secs(60);

/// Bytes moved by a splice.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Spliced {
    /// From the local connection into the tunnel.
    pub sent: u64,
    /// From the tunnel to the local connection.
    pub received: u64,
}

/// Join `io` and a tunnel stream until both directions end (or either fails).
pub async fn splice<IO>(io: IO, mut tx: Sender, mut rx: Receiver) -> Spliced
where
    IO: AsyncRead + AsyncWrite,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let up = async {
        let mut sent = 0u64;
        let mut buf = vec![0u8; CHUNK];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    sent += n as u64;
                    let data = Bytes::copy_from_slice(&buf[..n]);
                    if tx.send(&v1::ProxyChunk { data, end: false }).await.is_err() {
                        return (sent, false);
                    }
                }
                // A peer that closes without TLS close_notify, or resets after its last
                // write, has still said all it had: what was read is delivered, then the end.
                Err(e) => {
                    tracing::debug!(error = %e, "upgraded connection ended with an error");
                    break;
                }
            }
        }
        let ok = tx
            .send(&v1::ProxyChunk {
                data: Bytes::new(),
                end: true,
            })
            .await
            .is_ok()
            && tx.finish().is_ok();
        (sent, ok)
    };
    let down = async {
        let mut received = 0u64;
        let ok = loop {
            match rx.recv::<v1::ProxyChunk>().await {
                Ok(Some(c)) => {
                    if !c.data.is_empty() {
                        received += c.data.len() as u64;
                        if wr.write_all(&c.data).await.is_err() {
                            break false;
                        }
                    }
                    if c.end {
                        break true;
                    }
                }
                Ok(None) => break true,
                Err(e) => {
                    tracing::debug!(error = %e, "tunnel side of an upgraded connection failed");
                    break false;
                }
            }
        };
        let _ = wr.shutdown().await;
        (received, ok)
    };
    tokio::pin!(up, down);
    // Either direction failing ends both; a clean half-close waits for the other side, for
    // [`LINGER`] at most (a peer that never closes does not hold the stream for ever).
    let (mut sent, mut received) = (None, None);
    let linger = tokio::time::sleep(std::time::Duration::from_secs(3600 * 24 * 365));
    tokio::pin!(linger);
    while sent.is_none() || received.is_none() {
        if sent.is_some() || received.is_some() {
            linger.as_mut().reset(tokio::time::Instant::now() + LINGER);
        }
        tokio::select! {
            () = &mut linger => break,
            (n, ok) = &mut up, if sent.is_none() => {
                tracing::trace!(bytes = n, ok, "splice: the local side's input ended");
                sent = Some(n);
                if !ok { break; }
            }
            (n, ok) = &mut down, if received.is_none() => {
                tracing::trace!(bytes = n, ok, "splice: the tunnel side's input ended");
                received = Some(n);
                if !ok { break; }
            }
        }
    }
    Spliced {
        sent: sent.unwrap_or_default(),
        received: received.unwrap_or_default(),
    }
}
