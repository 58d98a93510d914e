//! Response decompression (`Content-Encoding: gzip`, `deflate`, `br`), chunk
//! by chunk: flate2 (its pure-Rust backend) for gzip and deflate, the
//! brotli crate for br. A streamed body stays streamed.
//!
//! The decoders are pulled, not pushed: compressed chunks go in as they
//! arrive ([`Decoder::push`]), and decoded bytes come out at most
//! [`CHUNK`] (or the room the response's size limit leaves) at a time
//! ([`Decoder::pull`]), the rest of the input kept for the next pull. So a
//! small compressed chunk that expands to gigabytes (a decompression bomb:
//! gzip reaches about 1,000:1, brotli far more) is never decoded whole: a
//! reader that streams the body holds one chunk at a time, and a size limit
//! stops it one chunk past the limit at most.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};

use bytes::{Buf, Bytes};

/// What the client offers in `Accept-Encoding`.
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate, br";

/// The most decoded bytes one [`Decoder::pull`] gives.
pub(crate) const CHUNK: usize = 64 * 1024;

/// The buffer a pull starts with (doubled as it fills, up to [`CHUNK`]).
const FIRST_BUFFER: usize = 8 * 1024;

/// The compressed bytes not decoded yet. As a reader it has nothing to
/// give (`WouldBlock`) until more arrives, and ends (`Ok(0)`) only once the
/// body has.
#[derive(Debug, Default)]
pub(crate) struct Input {
    chunks: VecDeque<Bytes>,
    ended: bool,
}

impl Input {
    fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }

    /// The first `n` bytes (fewer if fewer came), without taking them.
    fn peek(&self, n: usize) -> Vec<u8> {
        self.chunks.iter().flat_map(|c| c.iter().copied()).take(n).collect()
    }
}

impl BufRead for Input {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self.chunks.front() {
            Some(chunk) => Ok(chunk),
            None if self.ended => Ok(&[]),
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn consume(&mut self, amt: usize) {
        if let Some(chunk) = self.chunks.front_mut() {
            chunk.advance(amt);
            if chunk.is_empty() {
                self.chunks.pop_front();
            }
        }
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let available = self.fill_buf()?;
            let n = available.len().min(buf.len());
            buf[..n].copy_from_slice(&available[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

/// What a [`Decoder::pull`] gave.
#[derive(Debug)]
pub(crate) enum Pulled {
    /// Decoded bytes (never empty).
    Data(Bytes),
    /// Nothing more until more input is pushed.
    NeedInput,
    /// The compressed stream is over (input pushed after it fails the
    /// next pull).
    Done,
}

/// A decoder for one response body.
pub(crate) enum Decoder {
    Gzip(Box<flate2::bufread::MultiGzDecoder<Input>>),
    /// `deflate` is zlib-wrapped by the standard; some servers send it
    /// raw. Which one is decided by the first two bytes.
    Deflate(Input),
    Zlib(Box<flate2::bufread::ZlibDecoder<Input>>),
    RawDeflate(Box<flate2::bufread::DeflateDecoder<Input>>),
    Brotli(Box<brotli::Decompressor<Input>>),
    Done,
    /// Bytes came after the end of the compressed stream: the next pull
    /// fails.
    Trailing,
}

/// The error for bytes after the end of the compressed stream (what a
/// gzip body's next member would have to be).
fn trailing() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "bytes after the end of the compressed stream",
    )
}

impl Decoder {
    /// The decoder for a `Content-Encoding` value; `None` for identity or
    /// one this does not know (the body is then given as it came).
    pub(crate) fn for_encoding(encoding: &str) -> Option<Decoder> {
        match encoding.trim().to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Decoder::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(
                Input::default(),
            )))),
            "deflate" => Some(Decoder::Deflate(Input::default())),
            "br" => Some(Decoder::Brotli(Box::new(brotli::Decompressor::new(
                Input::default(),
                8192,
            )))),
            _ => None,
        }
    }

    fn input(&mut self) -> Option<&mut Input> {
        match self {
            Decoder::Gzip(d) => Some(d.get_mut()),
            Decoder::Deflate(input) => Some(input),
            Decoder::Zlib(d) => Some(d.get_mut()),
            Decoder::RawDeflate(d) => Some(d.get_mut()),
            Decoder::Brotli(d) => Some(d.get_mut()),
            Decoder::Done | Decoder::Trailing => None,
        }
    }

    /// Adds compressed bytes, decoded by the next pulls.
    pub(crate) fn push(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        match self.input() {
            Some(input) => input.chunks.push_back(data),
            None => *self = Decoder::Trailing,
        }
    }

    /// The compressed body has ended: the pulls that follow finish the
    /// stream (or fail if it is cut short).
    pub(crate) fn end(&mut self) {
        if let Some(input) = self.input() {
            input.ended = true;
        }
    }

    /// Decoded bytes, at most `max` (and at most [`CHUNK`]).
    ///
    /// # Errors
    /// A corrupt stream, one the body's end cut short, or bytes after the
    /// stream's end.
    pub(crate) fn pull(&mut self, max: u64) -> io::Result<Pulled> {
        if let Decoder::Deflate(input) = self {
            if input.len() < 2 && !input.ended {
                return Ok(Pulled::NeedInput);
            }
            if input.len() < 2 {
                let empty = input.len() == 0;
                *self = Decoder::Done;
                if empty {
                    return Ok(Pulled::Done);
                }
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "deflate stream too short"));
            }
            // A zlib header: CMF says deflate (low nibble 8) and
            // CMF·256 + FLG is a multiple of 31.
            let first = input.peek(2);
            let zlib = first[0] & 0x0f == 8 && (u16::from(first[0]) << 8 | u16::from(first[1])) % 31 == 0;
            let input = std::mem::take(input);
            *self = if zlib {
                Decoder::Zlib(Box::new(flate2::bufread::ZlibDecoder::new(input)))
            } else {
                Decoder::RawDeflate(Box::new(flate2::bufread::DeflateDecoder::new(input)))
            };
        }
        let max = usize::try_from(max).unwrap_or(usize::MAX).clamp(1, CHUNK);
        // Grown as it fills (most compressed bodies are small).
        let mut out = vec![0; max.min(FIRST_BUFFER)];
        let mut filled = 0;
        while filled < max {
            if filled == out.len() {
                out.resize((out.len() * 2).min(max), 0);
            }
            let read = match self {
                Decoder::Gzip(d) => d.read(&mut out[filled..]),
                Decoder::Zlib(d) => d.read(&mut out[filled..]),
                Decoder::RawDeflate(d) => d.read(&mut out[filled..]),
                Decoder::Brotli(d) => d.read(&mut out[filled..]),
                Decoder::Deflate(_) => unreachable!("chosen above"),
                Decoder::Done => Ok(0),
                Decoder::Trailing => Err(trailing()),
            };
            match read {
                Ok(0) => {
                    // The stream's end: nothing may follow it, in the
                    // input given or (brotli) in the decoder's own buffer.
                    let left = match self {
                        Decoder::Brotli(d) => match d.read(&mut [0]) {
                            Ok(0) => d.get_mut().len() > 0,
                            _ => true,
                        },
                        Decoder::Gzip(d) => d.get_mut().len() > 0,
                        Decoder::Zlib(d) => d.get_mut().len() > 0,
                        Decoder::RawDeflate(d) => d.get_mut().len() > 0,
                        _ => false,
                    };
                    *self = Decoder::Done;
                    if left {
                        return Err(trailing());
                    }
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    *self = Decoder::Done;
                    return Err(e);
                }
            }
        }
        if filled > 0 {
            // A buffer mostly unused is not kept alive by the bytes handed
            // out.
            if filled < out.len() / 2 {
                return Ok(Pulled::Data(Bytes::copy_from_slice(&out[..filled])));
            }
            out.truncate(filled);
            return Ok(Pulled::Data(Bytes::from(out)));
        }
        Ok(match self {
            Decoder::Done => Pulled::Done,
            _ => Pulled::NeedInput,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Pulls until the decoder wants input or is done.
    fn drain(decoder: &mut Decoder, out: &mut Vec<u8>) -> io::Result<bool> {
        loop {
            match decoder.pull(u64::MAX)? {
                Pulled::Data(data) => {
                    assert!(!data.is_empty() && data.len() <= CHUNK);
                    out.extend_from_slice(&data);
                }
                Pulled::NeedInput => return Ok(false),
                Pulled::Done => return Ok(true),
            }
        }
    }

    fn decode_all(encoding: &str, chunks: &[&[u8]]) -> io::Result<Vec<u8>> {
        let mut decoder = Decoder::for_encoding(encoding).unwrap();
        let mut out = Vec::new();
        for chunk in chunks {
            decoder.push(Bytes::copy_from_slice(chunk));
            drain(&mut decoder, &mut out)?;
        }
        decoder.end();
        assert!(drain(&mut decoder, &mut out)?, "{encoding}: done at the end");
        Ok(out)
    }

    fn roundtrip(encoding: &str, compressed: &[u8], expected: &[u8]) {
        // Fed one byte at a time: nothing depends on chunk boundaries.
        let bytes: Vec<&[u8]> = compressed.chunks(1).collect();
        assert_eq!(decode_all(encoding, &bytes).unwrap(), expected, "{encoding}");
        assert_eq!(decode_all(encoding, &[compressed]).unwrap(), expected, "{encoding}");
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            w.write_all(data).unwrap();
        }
        br
    }

    #[test]
    fn gzip_deflate_zlib_raw_and_brotli() {
        let text = "the quick brown fox jumps over the lazy dog ".repeat(200);
        roundtrip("gzip", &gzip(text.as_bytes()), text.as_bytes());

        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(text.as_bytes()).unwrap();
        roundtrip("deflate", &zlib.finish().unwrap(), text.as_bytes());

        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(text.as_bytes()).unwrap();
        roundtrip("deflate", &raw.finish().unwrap(), text.as_bytes());

        roundtrip("br", &brotli(text.as_bytes()), text.as_bytes());

        // Two gzip members, one after the other: one body.
        let two = [gzip(b"first, "), gzip(b"second")].concat();
        roundtrip("gzip", &two, b"first, second");
        // An empty deflate body is empty.
        assert_eq!(decode_all("deflate", &[]).unwrap(), b"");
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    #[test]
    fn a_truncated_stream_fails_at_the_end() {
        let data = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>();
        for (encoding, compressed) in [
            ("gzip", gzip(&data)),
            ("br", brotli(&data)),
            ("deflate", zlib(&data)),
            ("deflate", raw_deflate(&data)),
        ] {
            for cut in [compressed.len() / 2, compressed.len() - 1] {
                let cut = &compressed[..cut];
                assert!(decode_all(encoding, &[cut]).is_err(), "{encoding}, {} bytes", cut.len());
                let bytes: Vec<&[u8]> = cut.chunks(1).collect();
                assert!(decode_all(encoding, &bytes).is_err(), "{encoding}, {} bytes", cut.len());
            }
        }
        assert!(decode_all("deflate", &[b"x"]).is_err());
        assert!(Decoder::for_encoding("identity").is_none());
        assert!(Decoder::for_encoding("zstd").is_none());
    }

    /// A small compressed chunk that expands enormously is never decoded
    /// whole: each pull gives at most what it was asked for (and at most
    /// `CHUNK`), the rest of the input kept.
    #[test]
    fn a_decompression_bomb_comes_out_a_chunk_at_a_time() {
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
            let mut decoder = Decoder::for_encoding(encoding).unwrap();
            decoder.push(Bytes::from(bomb));
            decoder.end();
            let Pulled::Data(small) = decoder.pull(10).unwrap() else {
                panic!("{encoding}: no data");
            };
            assert!(small.len() <= 10, "{encoding}: {}", small.len());
            let Pulled::Data(chunk) = decoder.pull(u64::MAX).unwrap() else {
                panic!("{encoding}: no data");
            };
            assert!(chunk.len() <= CHUNK, "{encoding}: {}", chunk.len());
            // And the whole of it, a chunk at a time.
            let mut total = (small.len() + chunk.len()) as u64;
            loop {
                match decoder.pull(u64::MAX).unwrap() {
                    Pulled::Data(data) => {
                        assert!(data.iter().all(|&b| b == 0));
                        total += data.len() as u64;
                    }
                    Pulled::Done => break,
                    Pulled::NeedInput => panic!("{encoding}: the input has ended"),
                }
            }
            assert_eq!(total, 64 << 20, "{encoding}");
        }
    }

    /// Bytes after the end of a compressed stream fail it, whether they
    /// come with its last bytes or after them.
    #[test]
    fn bytes_after_the_stream_fail_it() {
        let data = b"the body, then something else".repeat(10);
        for (encoding, compressed) in [
            ("gzip", gzip(&data)),
            ("br", brotli(&data)),
            ("deflate", zlib(&data)),
            ("deflate", raw_deflate(&data)),
        ] {
            let with_more = [compressed.as_slice(), b"garbage"].concat();
            assert!(
                decode_all(encoding, &[&with_more]).is_err(),
                "{encoding}: in the same chunk"
            );
            assert!(
                decode_all(encoding, &[&compressed, b"garbage"]).is_err(),
                "{encoding}: after"
            );
            // An empty piece after it is nothing.
            assert_eq!(decode_all(encoding, &[&compressed, b""]).unwrap(), data, "{encoding}");
        }
    }

    /// A corrupt stream is an error, not an end.
    #[test]
    fn a_corrupt_stream_is_an_error() {
        assert!(decode_all("gzip", &[b"\x1f\x8b\x08\x00garbage-garbage-garbage"]).is_err());
        assert!(decode_all("gzip", &[b"definitely not gzip"]).is_err());
        assert!(decode_all("br", &[b"definitely not brotli, no"]).is_err());
        let mut decoder = Decoder::for_encoding("gzip").unwrap();
        decoder.push(Bytes::from_static(b"not gzip at all"));
        assert!(decoder.pull(u64::MAX).is_err());
        // Once failed, done.
        assert!(matches!(decoder.pull(u64::MAX), Ok(Pulled::Done)));
    }
}
