//! LEB128 variable-length integers (unsigned and zigzag-signed) used inside records.
//!
//! Decoders never read past the slice they are given, and reject encodings longer than ten bytes or longer than
//! needed (only the minimal encoding of a value is valid).

use crate::batch::BatchError;

/// Largest number of bytes a `u64` varint may occupy.
pub const MAX_VARINT_LEN: usize = 10;

/// Number of bytes `value` takes as an unsigned varint.
#[inline]
pub fn len_u64(value: u64) -> usize {
    // 1 byte per started group of 7 bits; a zero still takes one byte.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Number of bytes `value` takes as a zigzag varint.
#[inline]
pub fn len_i64(value: i64) -> usize {
    len_u64(zigzag(value))
}

#[inline]
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

#[inline]
fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Appends `value` as an unsigned varint.
#[inline]
pub fn put_u64(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends `value` as a zigzag varint.
#[inline]
pub fn put_i64(out: &mut Vec<u8>, value: i64) {
    put_u64(out, zigzag(value));
}

/// Reads an unsigned varint at `*pos`, advancing it.
#[inline]
pub fn get_u64(buf: &[u8], pos: &mut usize) -> Result<u64, BatchError> {
    let mut result = 0u64;
    for i in 0..MAX_VARINT_LEN {
        let Some(&byte) = buf.get(*pos) else {
            return Err(BatchError::Truncated);
        };
        *pos += 1;
        if i == MAX_VARINT_LEN - 1 && byte > 1 {
            return Err(BatchError::MalformedRecord("varint overflows 64 bits"));
        }
        if i > 0 && byte == 0 {
            // A zero last group adds nothing: the value had a shorter encoding, and only the shortest is valid (so
            // a validated batch is the one encoding of its records).
            return Err(BatchError::MalformedRecord("varint not minimally encoded"));
        }
        result |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok(result);
        }
    }
    Err(BatchError::MalformedRecord("varint longer than 10 bytes"))
}

/// Reads a zigzag varint at `*pos`, advancing it.
#[inline]
pub fn get_i64(buf: &[u8], pos: &mut usize) -> Result<i64, BatchError> {
    get_u64(buf, pos).map(unzigzag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths_match_encodings() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_u64(&mut out, v);
            assert_eq!(out.len(), len_u64(v), "value {v}");
        }
    }

    #[test]
    fn rejects_overlong_and_truncated() {
        let mut pos = 0;
        assert_eq!(get_u64(&[0x80, 0x80], &mut pos), Err(BatchError::Truncated));
        let mut pos = 0;
        assert!(get_u64(&[0xff; 11], &mut pos).is_err());
        let mut pos = 0;
        let mut max = [0xffu8; 10];
        max[9] = 0x01;
        assert_eq!(get_u64(&max, &mut pos), Ok(u64::MAX));
        let mut pos = 0;
        max[9] = 0x02;
        assert!(get_u64(&max, &mut pos).is_err());
    }

    #[test]
    fn rejects_non_minimal_encodings() {
        // Found by the record_batch fuzz target: a zero continuation group (0 as `80 00`) decoded, so a batch the
        // validator accepted did not re-encode to its own bytes.
        for overlong in [&[0x80, 0x00][..], &[0x81, 0x80, 0x00], &[0xff, 0x00]] {
            let mut pos = 0;
            assert!(get_u64(overlong, &mut pos).is_err(), "{overlong:02x?}");
        }
        let mut pos = 0;
        assert_eq!(get_u64(&[0x80, 0x01], &mut pos), Ok(128));
        let mut pos = 0;
        assert_eq!(get_u64(&[0x00], &mut pos), Ok(0));
    }

    proptest! {
        #[test]
        fn roundtrip_u64(v: u64) {
            let mut out = Vec::new();
            put_u64(&mut out, v);
            let mut pos = 0;
            prop_assert_eq!(get_u64(&out, &mut pos), Ok(v));
            prop_assert_eq!(pos, out.len());
        }

        #[test]
        fn roundtrip_i64(v: i64) {
            let mut out = Vec::new();
            put_i64(&mut out, v);
            prop_assert_eq!(out.len(), len_i64(v));
            let mut pos = 0;
            prop_assert_eq!(get_i64(&out, &mut pos), Ok(v));
        }
    }
}
