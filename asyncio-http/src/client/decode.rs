//! Response decompression (`Content-Encoding: gzip`, `deflate`, `br`), chunk
//! by chunk: flate2 (its pure-Rust backend) for gzip and deflate, the
//! brotli crate for br. Each compressed chunk in gives what it decodes to
//! out, so a streamed body stays streamed.

use std::io::{self, Write};

use bytes::Bytes;

/// What the client offers in `Accept-Encoding`.
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate, br";

/// A decoder for one response body.
pub(crate) enum Decoder {
    Gzip(flate2::write::MultiGzDecoder<Vec<u8>>),
    /// `deflate` is zlib-wrapped by the standard; some servers send it
    /// raw. Which one is decided by the first bytes.
    Deflate(Option<DeflateKind>, Vec<u8>),
    Brotli(Box<brotli::DecompressorWriter<Vec<u8>>>),
}

pub(crate) enum DeflateKind {
    Zlib(flate2::write::ZlibDecoder<Vec<u8>>),
    Raw(flate2::write::DeflateDecoder<Vec<u8>>),
}

impl Decoder {
    /// The decoder for a `Content-Encoding` value; `None` for identity or
    /// one this does not know (the body is then given as it came).
    pub(crate) fn for_encoding(encoding: &str) -> Option<Decoder> {
        match encoding.trim().to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Decoder::Gzip(flate2::write::MultiGzDecoder::new(Vec::new()))),
            "deflate" => Some(Decoder::Deflate(None, Vec::new())),
            "br" => Some(Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(
                Vec::new(),
                8192,
            )))),
            _ => None,
        }
    }

    /// Decodes `input`, returning what it decoded to (possibly nothing
    /// yet).
    pub(crate) fn decode(&mut self, input: &[u8]) -> io::Result<Bytes> {
        match self {
            Decoder::Gzip(d) => {
                d.write_all(input)?;
                Ok(Bytes::from(std::mem::take(d.get_mut())))
            }
            Decoder::Deflate(kind, pending) => {
                let kind = match kind {
                    Some(kind) => kind,
                    None => {
                        pending.extend_from_slice(input);
                        if pending.len() < 2 {
                            return Ok(Bytes::new());
                        }
                        // A zlib header: CMF says deflate (low nibble 8)
                        // and CMF·256 + FLG is a multiple of 31.
                        let zlib =
                            pending[0] & 0x0f == 8 && (u16::from(pending[0]) << 8 | u16::from(pending[1])) % 31 == 0;
                        let first = std::mem::take(pending);
                        let kind = kind.insert(if zlib {
                            DeflateKind::Zlib(flate2::write::ZlibDecoder::new(Vec::new()))
                        } else {
                            DeflateKind::Raw(flate2::write::DeflateDecoder::new(Vec::new()))
                        });
                        return decode_deflate(kind, &first);
                    }
                };
                decode_deflate(kind, input)
            }
            Decoder::Brotli(d) => {
                d.write_all(input)?;
                Ok(Bytes::from(std::mem::take(d.get_mut())))
            }
        }
    }

    /// The end of the compressed body: what was still held back.
    ///
    /// # Errors
    /// A body that ends in the middle of its compressed stream.
    pub(crate) fn finish(&mut self) -> io::Result<Bytes> {
        match self {
            Decoder::Gzip(d) => {
                d.try_finish()?;
                Ok(Bytes::from(std::mem::take(d.get_mut())))
            }
            Decoder::Deflate(None, pending) if pending.is_empty() => Ok(Bytes::new()),
            Decoder::Deflate(None, _) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "deflate stream too short")),
            Decoder::Deflate(Some(DeflateKind::Zlib(d)), _) => {
                d.try_finish()?;
                Ok(Bytes::from(std::mem::take(d.get_mut())))
            }
            Decoder::Deflate(Some(DeflateKind::Raw(d)), _) => {
                d.try_finish()?;
                Ok(Bytes::from(std::mem::take(d.get_mut())))
            }
            Decoder::Brotli(d) => {
                d.flush()?;
                d.close()?;
                Ok(Bytes::from(std::mem::take(d.get_mut())))
            }
        }
    }
}

fn decode_deflate(kind: &mut DeflateKind, input: &[u8]) -> io::Result<Bytes> {
    match kind {
        DeflateKind::Zlib(d) => {
            d.write_all(input)?;
            Ok(Bytes::from(std::mem::take(d.get_mut())))
        }
        DeflateKind::Raw(d) => {
            d.write_all(input)?;
            Ok(Bytes::from(std::mem::take(d.get_mut())))
        }
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
            out.extend_from_slice(&decoder.decode(std::slice::from_ref(b)).unwrap());
        }
        out.extend_from_slice(&decoder.finish().unwrap());
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
        let _ = decoder.decode(&gz[..gz.len() / 2]).unwrap();
        assert!(decoder.finish().is_err());
        assert!(Decoder::for_encoding("identity").is_none());
        assert!(Decoder::for_encoding("zstd").is_none());
    }
}
