//! gRPC message framing, sans-IO: a 1-byte compression flag, a 4-byte big-endian length, then
//! the message. The decoder takes bytes as they arrive and yields whole messages; a bad flag or
//! an oversized length is an error for that stream only.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The largest message accepted on a tunnel stream.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// A malformed frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The compression flag is set (we never compress) or not 0/1.
    #[error("unsupported frame flag {0}")]
    Flag(u8),
    /// The declared length exceeds [`MAX_FRAME`].
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame ({0} bytes buffered)")]
    Truncated(usize),
}

/// Prefix `msg` with its frame header.
pub fn encode(msg: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + msg.len());
    out.put_u8(0);
    out.put_u32(msg.len() as u32);
    out.put_slice(msg);
    out.freeze()
}

/// Encode `msg` straight into a framed buffer: one allocation and no intermediate copy of the
/// message (large proxied bodies cross here chunk by chunk).
pub fn encode_message<M: prost::Message>(msg: &M) -> Bytes {
    let len = msg.encoded_len();
    let mut out = BytesMut::with_capacity(5 + len);
    out.put_u8(0);
    out.put_u32(len as u32);
    // A BytesMut grows as needed, so encoding into it cannot run out of room.
    let _ = msg.encode(&mut out);
    out.freeze()
}

/// Most bytes [`Decoder::push`] reserves beyond those it was given, for the rest of a frame.
const RESERVE_AHEAD: usize = 256 * 1024;

/// Incremental frame decoder.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    /// Feed received bytes.
    pub fn push(&mut self, data: &[u8]) {
        // Room for the whole frame at once when its header is in: grown by doubling as its
        // pieces arrived (HTTP/2 carries a 32 KiB proxy chunk in 16 KiB DATA frames), a large
        // frame was copied again on each growth and landed on freshly faulted pages (memmove
        // and clear_page were a fifth of the hub's CPU on a proxied list, by perf). The
        // reservation ahead of the bytes received is capped, so a header alone cannot make the
        // decoder hold more than [`RESERVE_AHEAD`].
        let header = if self.buf.len() >= 5 {
            Some([
                self.buf[0],
                self.buf[1],
                self.buf[2],
                self.buf[3],
                self.buf[4],
            ])
        } else if self.buf.is_empty() && data.len() >= 5 {
            Some([data[0], data[1], data[2], data[3], data[4]])
        } else {
            None
        };
        if let Some([0, a, b, c, d]) = header {
            let want = 5 + u32::from_be_bytes([a, b, c, d]) as usize;
            let have = self.buf.len() + data.len();
            let ahead = want.saturating_sub(have).min(RESERVE_AHEAD);
            self.buf.reserve(data.len() + ahead);
        }
        self.buf.extend_from_slice(data);
    }

    /// The next whole message, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let flag = self.buf[0];
        if flag != 0 {
            return Err(FrameError::Flag(flag));
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge(len));
        }
        if self.buf.len() < 5 + len {
            return Ok(None);
        }
        self.buf.advance(5);
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    /// Call when the peer finished the stream: leftover bytes are a truncated frame.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Truncated(self.buf.len()))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_frame_arriving_in_pieces_is_buffered_in_one_allocation() {
        let big = encode(&vec![9; 100_000]);
        let mut d = Decoder::default();
        d.push(&big[..16_384]);
        let cap = d.buf.capacity();
        assert!(
            cap >= big.len(),
            "reserved {cap} for a {}-byte frame",
            big.len()
        );
        for piece in big[16_384..].chunks(16_384) {
            d.push(piece);
            assert_eq!(d.buf.capacity(), cap, "the buffer grew again");
        }
        assert_eq!(d.next_frame().unwrap().unwrap().len(), 100_000);
        // A header alone reserves no more than the cap ahead.
        let mut d = Decoder::default();
        d.push(&[0, 0, 0xff, 0, 0]);
        assert!(d.buf.capacity() <= 5 + RESERVE_AHEAD + 64);
    }

    #[test]
    fn round_trip_split_anywhere() {
        let msgs: Vec<Vec<u8>> = vec![vec![], b"hello".to_vec(), vec![7; 70_000]];
        let wire: Vec<u8> = msgs.iter().flat_map(|m| encode(m).to_vec()).collect();
        for cut in [1, 3, 5, 6, 1000] {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for chunk in wire.chunks(cut) {
                d.push(chunk);
                while let Some(m) = d.next_frame().unwrap() {
                    got.push(m.to_vec());
                }
            }
            assert_eq!(got, msgs);
            d.finish().unwrap();
        }
    }

    #[test]
    fn encode_message_matches_encode() {
        use prost::Message;
        let m = cceone_proto::v1::ProxyChunk {
            data: vec![7; 70_000].into(),
            end: true,
        };
        assert_eq!(encode_message(&m), encode(&m.encode_to_vec()));
    }

    #[test]
    fn bad_flag_and_size_and_truncation() {
        let mut d = Decoder::default();
        d.push(&[1, 0, 0, 0, 0]);
        assert_eq!(d.next_frame(), Err(FrameError::Flag(1)));
        let mut d = Decoder::default();
        d.push(&[0, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge(_))));
        let mut d = Decoder::default();
        d.push(&[0, 0, 0, 0, 9, 1, 2]);
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.finish(), Err(FrameError::Truncated(7)));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let mut d = Decoder::default();
            d.push(&data);
            while let Ok(Some(_)) = d.next_frame() {}
        }
    }
}
