//! Response decompression (`Content-Encoding: gzip`, `deflate`, `br`), chunk
//! by chunk: flate2 (its pure-Rust backend) for gzip and deflate, the
//! brotli crate for br. Each compressed chunk in gives what it decodes to
//! out, so a streamed body stays streamed.
//!
//! Every decoder writes into a [`Sink`] that refuses to grow past the room
//! the response's size limit leaves, so a small compressed chunk that
//! expands to gigabytes (a decompression bomb: gzip reaches about 1,000:1,
//! brotli far more) fails with [`TooLarge`] after at most the limit plus
//! one of the decoder's internal buffers, instead of being decoded whole
//! before the limit is checked.

use std::io::{self, Write};

use bytes::Bytes;

/// What the client offers in `Accept-Encoding`.
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate, br";

/// The error a [`Sink`] fails a write with when the decoded body would
/// outgrow its room.
#[derive(Debug)]
pub(crate) struct TooLarge;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the decoded body is larger than the limit")
    }
}

impl std::error::Error for TooLarge {}

/// Whether `e` is a [`Sink`]'s refusal (the limit, not a corrupt stream).
pub(crate) fn is_too_large(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<TooLarge>())
}

/// Where a decoder writes: the bytes decoded since they were last taken,
/// and how many more it may take before the body is over its limit.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    out: Vec<u8>,
    room: u64,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let len = buf.len() as u64;
        if len > self.room {
            return Err(io::Error::other(TooLarge));
        }
        self.room -= len;
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn take(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.out))
    }
}

/// A decoder for one response body.
pub(crate) enum Decoder {
    Gzip(flate2::write::MultiGzDecoder<Sink>),
    /// `deflate` is zlib-wrapped by the standard; some servers send it
    /// raw. Which one is decided by the first bytes.
    Deflate(Option<DeflateKind>, Vec<u8>),
    Brotli(Box<brotli::DecompressorWriter<Sink>>),
}

pub(crate) enum DeflateKind {
    Zlib(flate2::write::ZlibDecoder<Sink>),
    Raw(flate2::write::DeflateDecoder<Sink>),
}

impl Decoder {
    /// The decoder for a `Content-Encoding` value; `None` for identity or
    /// one this does not know (the body is then given as it came).
    pub(crate) fn for_encoding(encoding: &str) -> Option<Decoder> {
        match encoding.trim().to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Decoder::Gzip(flate2::write::MultiGzDecoder::new(Sink::default()))),
            "deflate" => Some(Decoder::Deflate(None, Vec::new())),
            "br" => Some(Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(
                Sink::default(),
                8192,
            )))),
            _ => None,
        }
    }

    /// The sink of the decoder in use, if one has been chosen.
    fn sink(&mut self) -> Option<&mut Sink> {
        match self {
            Decoder::Gzip(d) => Some(d.get_mut()),
            Decoder::Deflate(Some(DeflateKind::Zlib(d)), _) => Some(d.get_mut()),
            Decoder::Deflate(Some(DeflateKind::Raw(d)), _) => Some(d.get_mut()),
            Decoder::Deflate(None, _) => None,
            Decoder::Brotli(d) => Some(d.get_mut()),
        }
    }

    /// Decodes `input`, returning what it decoded to (possibly nothing
    /// yet), at most `room` bytes.
    ///
    /// # Errors
    /// A corrupt stream; [`TooLarge`] (see [`is_too_large`]) once the
    /// output would pass `room`.
    pub(crate) fn decode(&mut self, input: &[u8], room: u64) -> io::Result<Bytes> {
        if let Decoder::Deflate(kind @ None, pending) = self {
            pending.extend_from_slice(input);
            if pending.len() < 2 {
                return Ok(Bytes::new());
            }
            // A zlib header: CMF says deflate (low nibble 8) and
            // CMF·256 + FLG is a multiple of 31.
            let zlib = pending[0] & 0x0f == 8 && (u16::from(pending[0]) << 8 | u16::from(pending[1])) % 31 == 0;
            let first = std::mem::take(pending);
            *kind = Some(if zlib {
                DeflateKind::Zlib(flate2::write::ZlibDecoder::new(Sink::default()))
            } else {
                DeflateKind::Raw(flate2::write::DeflateDecoder::new(Sink::default()))
            });
            return self.decode(&first, room);
        }
        self.sink().expect("a decoder is chosen").room = room;
        match self {
            Decoder::Gzip(d) => d.write_all(input)?,
            Decoder::Deflate(Some(DeflateKind::Zlib(d)), _) => d.write_all(input)?,
            Decoder::Deflate(Some(DeflateKind::Raw(d)), _) => d.write_all(input)?,
            Decoder::Deflate(None, _) => unreachable!("chosen above"),
            Decoder::Brotli(d) => d.write_all(input)?,
        }
        Ok(self.sink().expect("a decoder is chosen").take())
    }

    /// The end of the compressed body: what was still held back, at most
    /// `room` bytes.
    ///
    /// # Errors
    /// A body that ends in the middle of its compressed stream;
    /// [`TooLarge`] as in [`decode`](Self::decode).
    pub(crate) fn finish(&mut self, room: u64) -> io::Result<Bytes> {
        match self.sink() {
            Some(sink) => sink.room = room,
            None => {
                return match self {
                    Decoder::Deflate(None, pending) if pending.is_empty() => Ok(Bytes::new()),
                    _ => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "deflate stream too short")),
                }
            }
        }
        match self {
            Decoder::Gzip(d) => d.try_finish()?,
            Decoder::Deflate(Some(DeflateKind::Zlib(d)), _) => d.try_finish()?,
            Decoder::Deflate(Some(DeflateKind::Raw(d)), _) => d.try_finish()?,
            Decoder::Deflate(None, _) => unreachable!("answered above"),
            Decoder::Brotli(d) => {
                d.flush()?;
                d.close()?;
            }
        }
        Ok(self.sink().expect("a decoder is chosen").take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(encoding: &str, compressed: &[u8], expected: &[u8]) {
        // Fed one byte at a time: nothing depends on chunk boundaries.
        let mut decoder = Decoder::for_encoding(encoding).unwrap();
        let mut out = Vec::new();
        for b in compressed {
            out.extend_from_slice(&decoder.decode(std::slice::from_ref(b), u64::MAX).unwrap());
        }
        out.extend_from_slice(&decoder.finish(u64::MAX).unwrap());
        assert_eq!(out, expected, "{encoding}");
    }

    #[test]
    fn gzip_deflate_zlib_raw_and_brotli() {
        let text = "the quick brown fox jumps over the lazy dog ".repeat(200);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        roundtrip("gzip", &gz.finish().unwrap(), text.as_bytes());

        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(text.as_bytes()).unwrap();
        roundtrip("deflate", &zlib.finish().unwrap(), text.as_bytes());

        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(text.as_bytes()).unwrap();
        roundtrip("deflate", &raw.finish().unwrap(), text.as_bytes());

        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            w.write_all(text.as_bytes()).unwrap();
        }
        roundtrip("br", &br, text.as_bytes());
    }

    #[test]
    fn a_truncated_stream_fails_at_the_end() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&[7u8; 10_000]).unwrap();
        let gz = gz.finish().unwrap();
        let mut decoder = Decoder::for_encoding("gzip").unwrap();
        let _ = decoder.decode(&gz[..gz.len() / 2], u64::MAX).unwrap();
        assert!(decoder.finish(u64::MAX).is_err());
        assert!(Decoder::for_encoding("identity").is_none());
        assert!(Decoder::for_encoding("zstd").is_none());
    }

    /// A small compressed chunk that expands enormously stops at the room
    /// it was given, with `TooLarge`, for every encoding: it is not decoded
    /// whole first.
    #[test]
    fn a_decompression_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        let mut bombs: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            for _ in 0..64 {
                gz.write_all(&zeros).unwrap();
                zlib.write_all(&zeros).unwrap();
                raw.write_all(&zeros).unwrap();
                w.write_all(&zeros).unwrap();
            }
        }
        bombs.push(("gzip", gz.finish().unwrap()));
        bombs.push(("deflate", zlib.finish().unwrap()));
        bombs.push(("deflate", raw.finish().unwrap()));
        bombs.push(("br", br));
        for (encoding, bomb) in bombs {
            assert!(bomb.len() < 256 * 1024, "{encoding}: {} bytes", bomb.len());
            let limit = 1 << 20;
            let mut decoder = Decoder::for_encoding(encoding).unwrap();
            let mut total = 0u64;
            let mut result = Ok(());
            for chunk in bomb.chunks(16 * 1024) {
                match decoder.decode(chunk, limit - total) {
                    Ok(out) => total += out.len() as u64,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            let e = result.expect_err(encoding);
            assert!(is_too_large(&e), "{encoding}: {e}");
            assert!(total <= limit, "{encoding}: {total} bytes handed out");
            let held = decoder.sink().map_or(0, |s| s.out.len());
            assert!(held as u64 <= limit, "{encoding}: {held} bytes held");
        }
    }

    /// Exactly the room is enough; a corrupt stream is not `TooLarge`.
    #[test]
    fn room_is_exact_and_corruption_is_not_too_large() {
        let text = b"abcdefgh".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        let mut decoder = Decoder::for_encoding("gzip").unwrap();
        let mut out = decoder.decode(&gz, text.len() as u64).unwrap().to_vec();
        out.extend_from_slice(&decoder.finish(text.len() as u64 - out.len() as u64).unwrap());
        assert_eq!(out, text);
        let mut decoder = Decoder::for_encoding("gzip").unwrap();
        let e = decoder
            .decode(&gz, text.len() as u64 - 1)
            .and_then(|_| decoder.finish(0));
        assert!(is_too_large(&e.unwrap_err()));
        let mut decoder = Decoder::for_encoding("gzip").unwrap();
        let e = decoder.decode(b"\x1f\x8b\x08\x00garbage-garbage-garbage", u64::MAX);
        let e = e.and_then(|_| decoder.finish(u64::MAX)).unwrap_err();
        assert!(!is_too_large(&e), "{e}");
    }
}
