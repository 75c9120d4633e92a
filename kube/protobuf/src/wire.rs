//! A reader for the protobuf wire format: tags, varints, 64- and 32-bit values and
//! length-delimited values. Every read is bounds-checked; malformed input yields an error.

use crate::ProtoError;

/// The wire type of a field, from the low three bits of its tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireType {
    /// 0: a base-128 varint.
    Varint,
    /// 1: eight little-endian bytes.
    I64,
    /// 2: a varint length followed by that many bytes.
    Len,
    /// 5: four little-endian bytes.
    I32,
}

impl WireType {
    /// The wire type's name, for error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            WireType::Varint => "varint",
            WireType::I64 => "64-bit",
            WireType::Len => "length-delimited",
            WireType::I32 => "32-bit",
        }
    }
}

/// The largest valid field number (2^29 - 1).
const MAX_FIELD: u64 = (1 << 29) - 1;

/// A cursor over a protobuf-encoded buffer.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Whether everything has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Reads a varint of at most ten bytes.
    pub(crate) fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = *self.buf.get(self.pos).ok_or(ProtoError::Truncated)?;
            self.pos += 1;
            if i == 9 && byte > 1 {
                return Err(ProtoError::VarintOverflow);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtoError::VarintOverflow)
    }

    /// Reads `N` raw bytes.
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], ProtoError> {
        let end = self.pos.checked_add(N).ok_or(ProtoError::Truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(ProtoError::Truncated)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        self.pos = end;
        Ok(out)
    }

    /// Reads a little-endian 64-bit value.
    pub(crate) fn fixed64(&mut self) -> Result<u64, ProtoError> {
        self.fixed::<8>().map(u64::from_le_bytes)
    }

    /// Reads a little-endian 32-bit value.
    pub(crate) fn fixed32(&mut self) -> Result<u32, ProtoError> {
        self.fixed::<4>().map(u32::from_le_bytes)
    }

    /// Reads a length-delimited value.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], ProtoError> {
        let len = usize::try_from(self.varint()?).map_err(|_| ProtoError::Truncated)?;
        let end = self.pos.checked_add(len).ok_or(ProtoError::Truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(ProtoError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    /// Reads a field tag: the field number and the wire type.
    pub(crate) fn tag(&mut self) -> Result<(u32, WireType), ProtoError> {
        let key = self.varint()?;
        let num = key >> 3;
        if num == 0 || num > MAX_FIELD {
            return Err(ProtoError::InvalidTag(key));
        }
        let wire = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::I64,
            2 => WireType::Len,
            5 => WireType::I32,
            other => return Err(ProtoError::UnsupportedWireType(other as u8)),
        };
        // `num` is at most 2^29 - 1, so it fits.
        Ok((num as u32, wire))
    }

    /// Skips over one value of the given wire type.
    pub(crate) fn skip(&mut self, wire: WireType) -> Result<(), ProtoError> {
        match wire {
            WireType::Varint => self.varint().map(drop),
            WireType::I64 => self.fixed64().map(drop),
            WireType::Len => self.bytes().map(drop),
            WireType::I32 => self.fixed32().map(drop),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut r = Reader::new(&[0x00, 0x01, 0x96, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(r.varint().unwrap(), 0);
        assert_eq!(r.varint().unwrap(), 1);
        assert_eq!(r.varint().unwrap(), 150);
        assert_eq!(r.varint().unwrap(), 0xffff_ffff);
        assert!(r.is_empty());
    }

    #[test]
    fn ten_byte_varint_is_minus_one() {
        let mut bytes = vec![0xff; 9];
        bytes.push(0x01);
        assert_eq!(Reader::new(&bytes).varint().unwrap(), u64::MAX);
        assert_eq!(Reader::new(&bytes).varint().unwrap() as i64 as i32, -1);
    }

    #[test]
    fn overlong_and_truncated_varints_fail() {
        let mut bytes = vec![0xff; 9];
        bytes.push(0x02);
        assert!(matches!(
            Reader::new(&bytes).varint(),
            Err(ProtoError::VarintOverflow)
        ));
        assert!(matches!(
            Reader::new(&[0xff; 11]).varint(),
            Err(ProtoError::VarintOverflow)
        ));
        assert!(matches!(
            Reader::new(&[0x80, 0x80]).varint(),
            Err(ProtoError::Truncated)
        ));
        assert!(matches!(
            Reader::new(&[]).varint(),
            Err(ProtoError::Truncated)
        ));
    }

    #[test]
    fn fixed_values() {
        let mut r = Reader::new(&[1, 0, 0, 0, 0, 0, 0, 0x80, 2, 0, 0, 0]);
        assert_eq!(r.fixed64().unwrap(), 0x8000_0000_0000_0001);
        assert_eq!(r.fixed32().unwrap(), 2);
        assert!(r.is_empty());
        assert!(matches!(
            Reader::new(&[1, 2, 3]).fixed32(),
            Err(ProtoError::Truncated)
        ));
        assert!(matches!(
            Reader::new(&[1; 7]).fixed64(),
            Err(ProtoError::Truncated)
        ));
    }

    #[test]
    fn length_delimited() {
        let mut r = Reader::new(&[3, b'a', b'b', b'c', 0]);
        assert_eq!(r.bytes().unwrap(), b"abc");
        assert_eq!(r.bytes().unwrap(), b"");
        assert!(r.is_empty());
        assert!(matches!(
            Reader::new(&[4, b'a']).bytes(),
            Err(ProtoError::Truncated)
        ));
        let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(matches!(
            Reader::new(&huge).bytes(),
            Err(ProtoError::Truncated)
        ));
    }

    #[test]
    fn tags() {
        let mut r = Reader::new(&[0x0a, 0x10, 0x19, 0x25, 0x80, 0x01]);
        assert_eq!(r.tag().unwrap(), (1, WireType::Len));
        assert_eq!(r.tag().unwrap(), (2, WireType::Varint));
        assert_eq!(r.tag().unwrap(), (3, WireType::I64));
        assert_eq!(r.tag().unwrap(), (4, WireType::I32));
        assert_eq!(r.tag().unwrap(), (16, WireType::Varint));
        assert!(matches!(
            Reader::new(&[0x02]).tag(),
            Err(ProtoError::InvalidTag(2))
        ));
        assert!(matches!(
            Reader::new(&[0x0b]).tag(),
            Err(ProtoError::UnsupportedWireType(3))
        ));
        assert!(matches!(
            Reader::new(&[0x0e]).tag(),
            Err(ProtoError::UnsupportedWireType(6))
        ));
        let too_big = [0xf8, 0xff, 0xff, 0xff, 0x7f];
        assert!(matches!(
            Reader::new(&too_big).tag(),
            Err(ProtoError::InvalidTag(_))
        ));
    }

    #[test]
    fn skipping() {
        let mut r = Reader::new(&[
            0x96, 0x01, 2, b'h', b'i', 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9,
        ]);
        r.skip(WireType::Varint).unwrap();
        r.skip(WireType::Len).unwrap();
        r.skip(WireType::I64).unwrap();
        r.skip(WireType::I32).unwrap();
        assert!(r.is_empty());
        assert!(matches!(r.skip(WireType::I32), Err(ProtoError::Truncated)));
    }
}
