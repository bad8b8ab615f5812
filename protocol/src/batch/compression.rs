//! Record-batch compression: the codecs named by attribute bits 0-2, with Kafka's numbering and formats.
//!
//! As in Kafka's record batches, only the records (everything after the fixed 57-byte header) are compressed; the
//! header stays readable and the CRC covers the compressed bytes as stored. The formats are the ones Kafka clients
//! send, so a Kafka gateway can store their batches unchanged:
//!
//! | bits | codec  | format written | formats read |
//! |------|--------|----------------|--------------|
//! | 0    | none   | records as they are | |
//! | 1    | gzip   | gzip (RFC 1952) | gzip, concatenated members too |
//! | 2    | snappy | raw snappy block (as librdkafka writes it) | raw block, or the xerial framing the Java client writes |
//! | 3    | lz4    | LZ4 frame, independent 64 KiB blocks | LZ4 frame |
//! | 4    | zstd   | zstd frame | zstd frame |
//!
//! Values 5-7 are refused with [`BatchError::UnsupportedCompression`].
//!
//! Decompression is bounded: every decoder reads through `Read::take(limit + 1)` (snappy's raw block declares its
//! length up front and is checked before allocating), so a batch that would decompress past `limit` bytes (a
//! decompression bomb) fails with [`BatchError::DecompressedTooLarge`] having allocated at most about `limit`
//! bytes, never the size it claims.

use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use super::BatchError;

/// Largest decompressed record region any batch may have: 1 GiB, the largest batch storage accepts.
pub const MAX_DECOMPRESSED_BYTES: usize = 1 << 30;

/// Compression codec named by attribute bits 0-2 (Kafka's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Records are stored as they are.
    #[default]
    None,
    /// gzip (deflate with the RFC 1952 wrapper).
    Gzip,
    /// Snappy, raw block format.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// Every codec, in attribute-bit order.
    pub const ALL: [Compression; 5] =
        [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

    /// The codec named by the low three attribute bits.
    pub fn from_bits(bits: u16) -> Result<Self, BatchError> {
        match bits & 0b111 {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(BatchError::UnsupportedCompression(other as u8)),
        }
    }

    /// The attribute bits naming this codec.
    pub fn bits(self) -> u16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec's lowercase name, as the CLI and configuration spell it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A codec name that is not one of `none`, `gzip`, `snappy`, `lz4`, `zstd`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compression codec {0:?} (expected none, gzip, snappy, lz4 or zstd)")]
pub struct UnknownCodec(pub String);

impl FromStr for Compression {
    type Err = UnknownCodec;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compression::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(s)).ok_or_else(|| UnknownCodec(s.into()))
    }
}

/// Compresses `data` with `codec`, appending the result to `out`. [`Compression::None`] copies `data`.
pub fn compress_into(codec: Compression, data: &[u8], out: &mut Vec<u8>) -> Result<(), BatchError> {
    let failed = |e: std::io::Error| BatchError::Compression { codec: codec.name(), reason: e.to_string() };
    match codec {
        Compression::None => out.extend_from_slice(data),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            encoder.write_all(data).map_err(failed)?;
            encoder.finish().map_err(failed)?;
        }
        Compression::Snappy => {
            let start = out.len();
            out.resize(start + snap::raw::max_compress_len(data.len()), 0);
            let written = snap::raw::Encoder::new()
                .compress(data, &mut out[start..])
                .map_err(|e| BatchError::Compression { codec: codec.name(), reason: e.to_string() })?;
            out.truncate(start + written);
        }
        Compression::Lz4 => {
            use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
            // Independent 64 KiB blocks: what Kafka's Java client writes and the only kind it reads.
            let info = FrameInfo::new().block_size(BlockSize::Max64KB).block_mode(BlockMode::Independent);
            let mut encoder = FrameEncoder::with_frame_info(info, out);
            encoder.write_all(data).map_err(failed)?;
            encoder.finish().map_err(|e| BatchError::Compression { codec: codec.name(), reason: e.to_string() })?;
        }
        Compression::Zstd => {
            let mut encoder = zstd::stream::write::Encoder::new(out, 1).map_err(failed)?;
            encoder.write_all(data).map_err(failed)?;
            encoder.finish().map_err(failed)?;
        }
    }
    Ok(())
}

/// Compresses `data` with `codec` into a new buffer.
pub fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::new();
    compress_into(codec, data, &mut out)?;
    Ok(out)
}

/// Decompresses `data` written by `codec`, refusing output larger than `limit` bytes before allocating it.
///
/// Corrupt input gives [`BatchError::Decompression`]; output past `limit` gives
/// [`BatchError::DecompressedTooLarge`]. [`Compression::None`] returns a copy of `data` (also bounded).
pub fn decompress(codec: Compression, data: &[u8], limit: usize) -> Result<Vec<u8>, BatchError> {
    let limit = limit.min(MAX_DECOMPRESSED_BYTES);
    let corrupt = |reason: String| BatchError::Decompression { codec: codec.name(), reason };
    if data.is_empty() && codec != Compression::None {
        // Some decoders read no input as no output; no encoder writes nothing.
        return Err(corrupt("no compressed data".into()));
    }
    match codec {
        Compression::None => {
            if data.len() > limit {
                return Err(BatchError::DecompressedTooLarge { limit });
            }
            Ok(data.to_vec())
        }
        Compression::Gzip => read_bounded(codec, flate2::read::MultiGzDecoder::new(data), limit),
        Compression::Snappy => {
            if let Some(framed) = data.strip_prefix(XERIAL_MAGIC) {
                unxerial(framed, limit)
            } else {
                let mut out = Vec::new();
                snappy_block(data, limit, &mut out)?;
                Ok(out)
            }
        }
        Compression::Lz4 => read_bounded(codec, lz4_flex::frame::FrameDecoder::new(data), limit),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(|e| corrupt(e.to_string()))?;
            read_bounded(codec, decoder.single_frame(), limit)
        }
    }
}

/// Reads a decoder to its end, at most `limit` bytes: one byte more means the output is too large.
fn read_bounded(codec: Compression, reader: impl Read, limit: usize) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| BatchError::Decompression { codec: codec.name(), reason: e.to_string() })?;
    if out.len() > limit {
        return Err(BatchError::DecompressedTooLarge { limit });
    }
    Ok(out)
}

/// The header of snappy-java's stream framing: magic, then version and minimum compatible version (u32 BE each).
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_REST: usize = 8;

/// Decodes one raw snappy block, appending to `out`; the block's declared length is bounded before allocating.
fn snappy_block(block: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), BatchError> {
    let corrupt = |e: snap::Error| BatchError::Decompression { codec: "snappy", reason: e.to_string() };
    let len = snap::raw::decompress_len(block).map_err(corrupt)?;
    if len > limit.saturating_sub(out.len()) {
        return Err(BatchError::DecompressedTooLarge { limit });
    }
    let start = out.len();
    out.resize(start + len, 0);
    let written = snap::raw::Decoder::new().decompress(block, &mut out[start..]).map_err(corrupt)?;
    out.truncate(start + written);
    Ok(())
}

/// Decodes snappy-java's framing (after the magic): version words, then blocks of `u32 BE length` + raw block.
fn unxerial(framed: &[u8], limit: usize) -> Result<Vec<u8>, BatchError> {
    let truncated = || BatchError::Decompression { codec: "snappy", reason: "truncated xerial snappy frame".into() };
    let mut rest = framed.get(XERIAL_HEADER_REST..).ok_or_else(truncated)?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(truncated)?;
        let len = u32::from_be_bytes(*len) as usize;
        let block = tail.get(..len).ok_or_else(truncated)?;
        snappy_block(block, limit, &mut out)?;
        rest = &tail[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..20_000u32).flat_map(|i| format!("{{\"id\":{i},\"name\":\"user-{}\"}}", i % 97).into_bytes()).collect()
    }

    #[test]
    fn every_codec_round_trips_and_compresses_text() {
        let data = sample();
        for codec in Compression::ALL {
            let packed = compress(codec, &data).expect("compress");
            if codec != Compression::None {
                assert!(packed.len() < data.len() / 3, "{codec}: {} of {} bytes", packed.len(), data.len());
            }
            assert_eq!(decompress(codec, &packed, data.len()).expect("decompress"), data, "{codec}");
        }
    }

    #[test]
    fn output_one_byte_over_the_limit_is_refused() {
        let data = sample();
        for codec in Compression::ALL {
            let packed = compress(codec, &data).expect("compress");
            let err = decompress(codec, &packed, data.len() - 1).expect_err("over the limit");
            assert_eq!(err, BatchError::DecompressedTooLarge { limit: data.len() - 1 }, "{codec}");
        }
    }

    #[test]
    fn a_bomb_is_refused_without_allocating_its_size() {
        // 256 MiB of zeros compress to a few hundred KiB; a 1 MiB limit stops each decoder early.
        let zeros = vec![0u8; 256 << 20];
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let bomb = compress(codec, &zeros).expect("compress");
            assert!(bomb.len() < 16 << 20, "{codec}: {} bytes", bomb.len());
            assert_eq!(decompress(codec, &bomb, 1 << 20), Err(BatchError::DecompressedTooLarge { limit: 1 << 20 }));
        }
    }

    #[test]
    fn a_snappy_block_claiming_a_huge_length_is_refused_before_allocating() {
        // A raw snappy block starts with its decompressed length as a varint: claim 4 GiB - 1 in 5 bytes.
        let claim = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert_eq!(
            decompress(Compression::Snappy, &claim, 1 << 20),
            Err(BatchError::DecompressedTooLarge { limit: 1 << 20 })
        );
    }

    #[test]
    fn corrupt_input_is_an_error_never_a_panic() {
        let data = sample();
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let packed = compress(codec, &data).expect("compress");
            for cut in [0, 1, 5, packed.len() / 2, packed.len() - 1] {
                // A cut is an error, or (an LZ4 frame cut in its end mark) the whole data; never more or a panic.
                match decompress(codec, &packed[..cut], data.len()) {
                    Err(BatchError::Decompression { .. }) => {}
                    Ok(out) => {
                        assert!(out == data && cut + 4 >= packed.len(), "{codec} cut at {cut}: {} bytes", out.len())
                    }
                    Err(e) => panic!("{codec} cut at {cut}: {e}"),
                }
            }
            let mut flipped = packed.clone();
            for i in (0..flipped.len()).step_by(7) {
                flipped[i] ^= 0x5a;
            }
            // Flipped bits may still decode to something (snappy has no checksum); they must never panic.
            if let Ok(out) = decompress(codec, &flipped, data.len()) {
                assert!(out.len() <= data.len());
            }
        }
    }

    #[test]
    fn xerial_framed_snappy_is_read() {
        let data = sample();
        let mut framed = XERIAL_MAGIC.to_vec();
        framed.extend_from_slice(&1u32.to_be_bytes());
        framed.extend_from_slice(&1u32.to_be_bytes());
        for chunk in data.chunks(32 << 10) {
            let block = snap::raw::Encoder::new().compress_vec(chunk).expect("block");
            framed.extend_from_slice(&(block.len() as u32).to_be_bytes());
            framed.extend_from_slice(&block);
        }
        assert_eq!(decompress(Compression::Snappy, &framed, data.len()).expect("framed"), data);
        assert_eq!(
            decompress(Compression::Snappy, &framed, data.len() - 1),
            Err(BatchError::DecompressedTooLarge { limit: data.len() - 1 })
        );
        let cut = &framed[..framed.len() - 3];
        assert!(matches!(decompress(Compression::Snappy, cut, data.len()), Err(BatchError::Decompression { .. })));
    }

    #[test]
    fn codecs_parse_and_number_as_kafka_does() {
        for (bits, codec) in Compression::ALL.into_iter().enumerate() {
            assert_eq!(codec.bits() as usize, bits);
            assert_eq!(Compression::from_bits(bits as u16), Ok(codec));
            assert_eq!(codec.name().parse::<Compression>(), Ok(codec));
        }
        assert_eq!("ZSTD".parse::<Compression>(), Ok(Compression::Zstd));
        assert!("brotli".parse::<Compression>().is_err());
        for bits in 5..8 {
            assert_eq!(Compression::from_bits(bits), Err(BatchError::UnsupportedCompression(bits as u8)));
        }
    }
}
