//! A sans-IO SPDY/3.1 framer, as far as Kubernetes' streaming (exec, attach, port-forward by
//! `kubectl` <= 1.29 and client-go) needs it: frames in and out, and the header blocks'
//! connection-wide zlib contexts primed with the SPDY/3 dictionary. Every frame is bounded in
//! size and every header block in decompressed size and pair count, so a peer cannot make the
//! simulator buffer or inflate without limit.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The largest frame payload accepted (kubectl writes data frames of at most 32 KiB).
pub const MAX_FRAME: usize = 1 << 20;
/// The largest decompressed header block accepted.
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// The most header pairs in one block.
pub const MAX_HEADERS: usize = 64;

const VERSION: u16 = 3;
const FLAG_FIN: u8 = 0x01;

/// One SPDY/3.1 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A peer opens a stream.
    SynStream {
        /// Stream id.
        stream_id: u32,
        /// No data follows from the opener.
        fin: bool,
        /// Header pairs, names lower case.
        headers: Vec<(String, String)>,
    },
    /// The answer to a `SynStream`.
    SynReply {
        /// Stream id.
        stream_id: u32,
        /// No data follows from the replier.
        fin: bool,
        /// Header pairs.
        headers: Vec<(String, String)>,
    },
    /// A stream is aborted.
    RstStream {
        /// Stream id.
        stream_id: u32,
        /// Why (SPDY status code).
        status: u32,
    },
    /// Settings (their values do not matter here).
    Settings,
    /// A ping, answered with the same id.
    Ping {
        /// Ping id.
        id: u32,
    },
    /// The peer is going away.
    GoAway {
        /// The last stream the sender processed.
        last_stream_id: u32,
        /// Why.
        status: u32,
    },
    /// More headers on a stream.
    Headers {
        /// Stream id.
        stream_id: u32,
        /// Half-close.
        fin: bool,
        /// Header pairs.
        headers: Vec<(String, String)>,
    },
    /// Flow-control credit.
    WindowUpdate {
        /// Stream id (0: the session).
        stream_id: u32,
        /// Credit.
        delta: u32,
    },
    /// Stream data.
    Data {
        /// Stream id.
        stream_id: u32,
        /// The sender's half-close.
        fin: bool,
        /// Payload.
        data: Vec<u8>,
    },
    /// A control frame type this framer does not know (ignored, as SPDY asks).
    Unknown,
}

/// Why bytes from a peer are not SPDY/3.1.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpdyError {
    /// A frame announces more than [`MAX_FRAME`] bytes.
    #[error("frame of {0} bytes exceeds the limit")]
    FrameTooLarge(usize),
    /// A control frame of another SPDY version.
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    /// A frame too short for its type.
    #[error("truncated {0} frame")]
    Truncated(&'static str),
    /// The header block does not inflate, is too large, or is malformed.
    #[error("header block: {0}")]
    HeaderBlock(String),
}

/// The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1): the
/// length-prefixed words, then a run of common values.
fn dictionary() -> Vec<u8> {
    const WORDS: &[&str] = &[
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ];
    const TAIL: &str = "100101201202205206300302303304305306307402405406407408409410411412413414\
        415416417502504505203 Non-Authoritative Information204 No Content301 Moved Permanently\
        400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not \
        Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec \
        00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,\
        image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,\
        publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
    let mut d = Vec::with_capacity(1500);
    for w in WORDS {
        d.extend_from_slice(&(w.len() as u32).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(TAIL.as_bytes());
    d
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads frames out of the bytes a peer sends; owns the peer's header decompression context.
pub struct Decoder {
    buf: Vec<u8>,
    inflate: Decompress,
    dictionary: Vec<u8>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            buf: Vec::new(),
            inflate: Decompress::new(true),
            dictionary: dictionary(),
        }
    }
}

impl Decoder {
    /// Add bytes received.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole frame, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SpdyError> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let len = (usize::from(self.buf[5]) << 16)
            | (usize::from(self.buf[6]) << 8)
            | usize::from(self.buf[7]);
        if len > MAX_FRAME {
            return Err(SpdyError::FrameTooLarge(len));
        }
        if self.buf.len() < 8 + len {
            return Ok(None);
        }
        let frame: Vec<u8> = self.buf.drain(..8 + len).collect();
        let flags = frame[4];
        let fin = flags & FLAG_FIN != 0;
        let p = &frame[8..];
        if frame[0] & 0x80 == 0 {
            return Ok(Some(Frame::Data {
                stream_id: be32(&frame[..4]) & 0x7fff_ffff,
                fin,
                data: p.to_vec(),
            }));
        }
        let version = u16::from_be_bytes([frame[0] & 0x7f, frame[1]]);
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        let kind = u16::from_be_bytes([frame[2], frame[3]]);
        let need = |n: usize, what: &'static str| {
            if p.len() < n {
                Err(SpdyError::Truncated(what))
            } else {
                Ok(())
            }
        };
        Ok(Some(match kind {
            1 => {
                need(10, "SYN_STREAM")?;
                Frame::SynStream {
                    stream_id: be32(p) & 0x7fff_ffff,
                    fin,
                    headers: self.headers(&p[10..])?,
                }
            }
            2 => {
                need(4, "SYN_REPLY")?;
                Frame::SynReply {
                    stream_id: be32(p) & 0x7fff_ffff,
                    fin,
                    headers: self.headers(&p[4..])?,
                }
            }
            3 => {
                need(8, "RST_STREAM")?;
                Frame::RstStream {
                    stream_id: be32(p) & 0x7fff_ffff,
                    status: be32(&p[4..]),
                }
            }
            4 => Frame::Settings,
            6 => {
                need(4, "PING")?;
                Frame::Ping { id: be32(p) }
            }
            7 => {
                need(8, "GOAWAY")?;
                Frame::GoAway {
                    last_stream_id: be32(p) & 0x7fff_ffff,
                    status: be32(&p[4..]),
                }
            }
            8 => {
                need(4, "HEADERS")?;
                Frame::Headers {
                    stream_id: be32(p) & 0x7fff_ffff,
                    fin,
                    headers: self.headers(&p[4..])?,
                }
            }
            9 => {
                need(8, "WINDOW_UPDATE")?;
                Frame::WindowUpdate {
                    stream_id: be32(p) & 0x7fff_ffff,
                    delta: be32(&p[4..]) & 0x7fff_ffff,
                }
            }
            _ => Frame::Unknown,
        }))
    }

    /// Inflate one header block (the context carries over between blocks) and parse it.
    fn headers(&mut self, block: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
        let bad = |m: String| SpdyError::HeaderBlock(m);
        let mut out: Vec<u8> = Vec::with_capacity(1024);
        let mut used = 0usize;
        loop {
            if out.len() == out.capacity() {
                if out.capacity() >= MAX_HEADER_BLOCK {
                    return Err(bad("larger than the limit".into()));
                }
                out.reserve(out.capacity());
            }
            let (in0, out0) = (self.inflate.total_in(), self.inflate.total_out());
            let status =
                self.inflate
                    .decompress_vec(&block[used..], &mut out, FlushDecompress::Sync);
            used += (self.inflate.total_in() - in0) as usize;
            let produced = self.inflate.total_out() - out0;
            match status {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(&self.dictionary)
                        .map_err(|e| bad(e.to_string()))?;
                    continue;
                }
                Err(e) => return Err(bad(e.to_string())),
            }
            if used >= block.len() && out.len() < out.capacity() {
                break;
            }
            if produced == 0 && used >= block.len() {
                break;
            }
        }
        parse_block(&out)
    }
}

fn parse_block(b: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
    let bad = |m: &str| SpdyError::HeaderBlock(m.to_string());
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], SpdyError> {
        let s = b.get(at..at + n).ok_or_else(|| bad("truncated"))?;
        at += n;
        Ok(s)
    };
    let count = be32(take(4)?) as usize;
    if count > MAX_HEADERS {
        return Err(bad("too many headers"));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let n = be32(take(4)?) as usize;
        let name = String::from_utf8_lossy(take(n)?).to_ascii_lowercase();
        let n = be32(take(4)?) as usize;
        let value = String::from_utf8_lossy(take(n)?).into_owned();
        // Several values of one name are joined by NUL.
        for v in value.split('\0') {
            out.push((name.clone(), v.to_string()));
        }
    }
    Ok(out)
}

/// Writes frames for a peer; owns this side's header compression context.
pub struct Encoder {
    deflate: Compress,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").finish_non_exhaustive()
    }
}

impl Default for Encoder {
    fn default() -> Self {
        let mut deflate = Compress::new(Compression::default(), true);
        // A fresh deflate context takes a dictionary before its first byte; this cannot fail.
        let _ = deflate.set_dictionary(&dictionary());
        Encoder { deflate }
    }
}

impl Encoder {
    /// The bytes of `frame` (stream ids and lengths are the caller's to keep in range).
    pub fn encode(&mut self, frame: &Frame) -> Result<Vec<u8>, SpdyError> {
        let control = |kind: u16, flags: u8, payload: Vec<u8>| {
            let mut f = Vec::with_capacity(8 + payload.len());
            f.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
            f.extend_from_slice(&kind.to_be_bytes());
            f.push(flags);
            f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
            f.extend_from_slice(&payload);
            f
        };
        let fl = |fin: bool| if fin { FLAG_FIN } else { 0 };
        Ok(match frame {
            Frame::Data {
                stream_id,
                fin,
                data,
            } => {
                if data.len() > MAX_FRAME {
                    return Err(SpdyError::FrameTooLarge(data.len()));
                }
                let mut f = Vec::with_capacity(8 + data.len());
                f.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                f.push(fl(*fin));
                f.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
                f.extend_from_slice(data);
                f
            }
            Frame::SynStream {
                stream_id,
                fin,
                headers,
            } => {
                let mut p = Vec::new();
                p.extend_from_slice(&stream_id.to_be_bytes());
                p.extend_from_slice(&[0; 6]);
                p.extend_from_slice(&self.block(headers)?);
                control(1, fl(*fin), p)
            }
            Frame::SynReply {
                stream_id,
                fin,
                headers,
            } => {
                let mut p = stream_id.to_be_bytes().to_vec();
                p.extend_from_slice(&self.block(headers)?);
                control(2, fl(*fin), p)
            }
            Frame::Headers {
                stream_id,
                fin,
                headers,
            } => {
                let mut p = stream_id.to_be_bytes().to_vec();
                p.extend_from_slice(&self.block(headers)?);
                control(8, fl(*fin), p)
            }
            Frame::RstStream { stream_id, status } => {
                let mut p = stream_id.to_be_bytes().to_vec();
                p.extend_from_slice(&status.to_be_bytes());
                control(3, 0, p)
            }
            Frame::Settings => control(4, 0, vec![0; 4]),
            Frame::Ping { id } => control(6, 0, id.to_be_bytes().to_vec()),
            Frame::GoAway {
                last_stream_id,
                status,
            } => {
                let mut p = last_stream_id.to_be_bytes().to_vec();
                p.extend_from_slice(&status.to_be_bytes());
                control(7, 0, p)
            }
            Frame::WindowUpdate { stream_id, delta } => {
                let mut p = stream_id.to_be_bytes().to_vec();
                p.extend_from_slice(&delta.to_be_bytes());
                control(9, 0, p)
            }
            Frame::Unknown => Vec::new(),
        })
    }

    fn block(&mut self, headers: &[(String, String)]) -> Result<Vec<u8>, SpdyError> {
        let mut raw = (headers.len() as u32).to_be_bytes().to_vec();
        for (n, v) in headers {
            let n = n.to_ascii_lowercase();
            raw.extend_from_slice(&(n.len() as u32).to_be_bytes());
            raw.extend_from_slice(n.as_bytes());
            raw.extend_from_slice(&(v.len() as u32).to_be_bytes());
            raw.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut used = 0usize;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(64));
            }
            let in0 = self.deflate.total_in();
            self.deflate
                .compress_vec(&raw[used..], &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError::HeaderBlock(e.to_string()))?;
            used += (self.deflate.total_in() - in0) as usize;
            if used >= raw.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_is_the_spdy3_one() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\0\0\0\x07options");
        assert!(d.ends_with(b",enq=0."));
    }

    #[test]
    fn frames_round_trip_with_one_compression_context_per_direction() {
        let mut enc = Encoder::default();
        let mut dec = Decoder::default();
        let frames = vec![
            Frame::SynStream {
                stream_id: 1,
                fin: false,
                headers: vec![("streamtype".into(), "error".into())],
            },
            Frame::SynStream {
                stream_id: 3,
                fin: false,
                headers: vec![
                    ("streamtype".into(), "stdout".into()),
                    ("port".into(), "80".into()),
                ],
            },
            Frame::Data {
                stream_id: 3,
                fin: true,
                data: b"hello".to_vec(),
            },
            Frame::SynReply {
                stream_id: 3,
                fin: false,
                headers: vec![],
            },
            Frame::Ping { id: 7 },
            Frame::RstStream {
                stream_id: 5,
                status: 5,
            },
            Frame::GoAway {
                last_stream_id: 3,
                status: 0,
            },
            Frame::WindowUpdate {
                stream_id: 0,
                delta: 1000,
            },
        ];
        let mut wire = Vec::new();
        for f in &frames {
            wire.extend(enc.encode(f).unwrap());
        }
        // Byte by byte: frames appear only once whole.
        let mut got = Vec::new();
        for b in wire {
            dec.push(&[b]);
            while let Some(f) = dec.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
    }

    #[test]
    fn oversized_frames_and_bad_blocks_are_refused() {
        let mut dec = Decoder::default();
        dec.push(&[0, 0, 0, 1, 0, 0x20, 0, 0]);
        assert_eq!(dec.next_frame(), Err(SpdyError::FrameTooLarge(0x200000)));
        let mut dec = Decoder::default();
        dec.push(&[
            0x80, 3, 0, 1, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2,
        ]);
        assert!(matches!(dec.next_frame(), Err(SpdyError::HeaderBlock(_))));
        let mut dec = Decoder::default();
        dec.push(&[0x80, 2, 0, 1, 0, 0, 0, 0]);
        assert_eq!(dec.next_frame(), Err(SpdyError::Version(2)));
    }
}
