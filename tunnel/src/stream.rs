//! One tunnel stream: a bidirectional sequence of gRPC-framed protobuf messages, carried by an
//! HTTP/2 stream (reversed roles over TLS/TCP) or a QUIC bidirectional stream.

use std::future::poll_fn;

use bytes::Bytes;
use prost::Message;

use crate::TunnelError;
use crate::frame::{self, Decoder};

/// The sending half of a stream.
pub enum Sender {
    /// HTTP/2 request body (hub) or response body (agent).
    H2(h2::SendStream<Bytes>),
    /// QUIC send stream.
    Quic(quinn::SendStream),
}

enum RecvInner {
    /// Hub side: the agent's response (and its body) has not arrived yet.
    H2Pending(h2::client::ResponseFuture),
    H2(h2::RecvStream),
    Quic(quinn::RecvStream),
    Done,
}

/// The receiving half of a stream.
pub struct Receiver {
    inner: RecvInner,
    decoder: Decoder,
}

/// A whole stream.
pub struct Stream {
    /// Send half.
    pub tx: Sender,
    /// Receive half.
    pub rx: Receiver,
}

impl Stream {
    pub(crate) fn h2_hub(tx: h2::SendStream<Bytes>, resp: h2::client::ResponseFuture) -> Stream {
        Stream {
            tx: Sender::H2(tx),
            rx: Receiver {
                inner: RecvInner::H2Pending(resp),
                decoder: Decoder::default(),
            },
        }
    }

    pub(crate) fn h2_agent(tx: h2::SendStream<Bytes>, rx: h2::RecvStream) -> Stream {
        Stream {
            tx: Sender::H2(tx),
            rx: Receiver {
                inner: RecvInner::H2(rx),
                decoder: Decoder::default(),
            },
        }
    }

    pub(crate) fn quic(tx: quinn::SendStream, rx: quinn::RecvStream) -> Stream {
        Stream {
            tx: Sender::Quic(tx),
            rx: Receiver {
                inner: RecvInner::Quic(rx),
                decoder: Decoder::default(),
            },
        }
    }

    /// Send one message.
    pub async fn send<M: Message>(&mut self, msg: &M) -> Result<(), TunnelError> {
        self.tx.send(msg).await
    }

    /// Receive one message; None when the peer finished the stream cleanly.
    pub async fn recv<M: Message + Default>(&mut self) -> Result<Option<M>, TunnelError> {
        self.rx.recv().await
    }

    /// Split into halves that can be used from different tasks.
    pub fn split(self) -> (Sender, Receiver) {
        (self.tx, self.rx)
    }
}

impl Sender {
    /// Send one message.
    pub async fn send<M: Message>(&mut self, msg: &M) -> Result<(), TunnelError> {
        self.send_raw(frame::encode_message(msg)).await
    }

    async fn send_raw(&mut self, mut data: Bytes) -> Result<(), TunnelError> {
        match self {
            Sender::H2(s) => {
                while !data.is_empty() {
                    s.reserve_capacity(data.len());
                    let cap = match poll_fn(|cx| s.poll_capacity(cx)).await {
                        Some(Ok(c)) => c,
                        Some(Err(e)) => return Err(TunnelError::H2(e)),
                        None => {
                            return Err(TunnelError::Closed("stream reset while sending".into()));
                        }
                    };
                    if cap == 0 {
                        continue;
                    }
                    let chunk = data.split_to(cap.min(data.len()));
                    s.send_data(chunk, false).map_err(TunnelError::H2)?;
                }
                Ok(())
            }
            Sender::Quic(s) => s
                .write_all(&data)
                .await
                .map_err(|e| TunnelError::Closed(format!("quic write: {e}"))),
        }
    }

    /// Finish the stream (the peer's `recv` then returns None).
    pub fn finish(&mut self) -> Result<(), TunnelError> {
        match self {
            Sender::H2(s) => s.send_data(Bytes::new(), true).map_err(TunnelError::H2),
            Sender::Quic(s) => s
                .finish()
                .map_err(|e| TunnelError::Closed(format!("quic finish: {e}"))),
        }
    }

    /// Abort the stream (the peer sees an error).
    pub fn reset(&mut self) {
        match self {
            Sender::H2(s) => s.send_reset(h2::Reason::CANCEL),
            Sender::Quic(s) => {
                let _ = s.reset(quinn::VarInt::from_u32(1));
            }
        }
    }

    /// Resolves once the peer no longer takes what this side sends: it reset the stream (HTTP/2)
    /// or stopped reading it (QUIC), or the connection is gone. A side that only sends (the
    /// agent answering a watch) learns so that its caller left without waiting for its next
    /// write. Not to be polled while a `send` of the same stream is pending.
    pub async fn closed(&mut self) {
        match self {
            Sender::H2(s) => {
                let _ = poll_fn(|cx| s.poll_reset(cx)).await;
            }
            Sender::Quic(s) => {
                let _ = s.stopped().await;
            }
        }
    }
}

/// Give up a stream both ways: the peer's reads fail and its [`Sender::closed`] resolves (a
/// caller that left ends the member's request).
pub fn cancel(tx: &mut Sender, rx: &mut Receiver) {
    tx.reset();
    rx.stop();
}

impl Receiver {
    /// Tell the peer this side reads no more (its [`Sender::closed`] resolves). An HTTP/2
    /// stream has no such half-close: there [`Sender::reset`] ends both directions.
    pub fn stop(&mut self) {
        if let RecvInner::Quic(r) = &mut self.inner {
            let _ = r.stop(quinn::VarInt::from_u32(1));
        }
    }

    /// Receive one message; None when the peer finished the stream cleanly.
    pub async fn recv<M: Message + Default>(&mut self) -> Result<Option<M>, TunnelError> {
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                return M::decode(frame).map(Some).map_err(TunnelError::Decode);
            }
            match self.next_chunk().await? {
                Some(chunk) => self.decoder.push(&chunk),
                None => {
                    self.decoder.finish()?;
                    return Ok(None);
                }
            }
        }
    }

    async fn next_chunk(&mut self) -> Result<Option<Bytes>, TunnelError> {
        loop {
            match &mut self.inner {
                RecvInner::H2Pending(fut) => {
                    let resp = fut.await.map_err(TunnelError::H2)?;
                    if resp.status() != http::StatusCode::OK {
                        return Err(TunnelError::Closed(format!(
                            "agent refused the stream: {}",
                            resp.status()
                        )));
                    }
                    self.inner = RecvInner::H2(resp.into_body());
                }
                RecvInner::H2(r) => {
                    return match r.data().await {
                        Some(Ok(b)) => {
                            let _ = r.flow_control().release_capacity(b.len());
                            Ok(Some(b))
                        }
                        Some(Err(e)) => Err(TunnelError::H2(e)),
                        None => {
                            self.inner = RecvInner::Done;
                            Ok(None)
                        }
                    };
                }
                RecvInner::Quic(r) => {
                    return match r.read_chunk(64 * 1024, true).await {
                        Ok(Some(c)) => Ok(Some(c.bytes)),
                        Ok(None) => {
                            self.inner = RecvInner::Done;
                            Ok(None)
                        }
                        Err(e) => Err(TunnelError::Closed(format!("quic read: {e}"))),
                    };
                }
                RecvInner::Done => return Ok(None),
            }
        }
    }
}
