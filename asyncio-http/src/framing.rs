//! The request-framing checks hyper leaves to the application: the
//! smuggling shapes it hides (two lengths, a length and a coding) found in
//! the raw head, and the declared length checked against the body limit
//! before any handler runs.

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::body::Incoming;

/// True if the request's raw head declares its length ambiguously: both
/// `Content-Length` and `Transfer-Encoding`, more than one
/// `Content-Length`, or a list of lengths. (hyper refuses unequal lengths
/// itself, frames by `Transfer-Encoding` alone when both are sent, and
/// merges equal duplicates, so these are looked for in the raw bytes.)
///
/// The head is found in `raw` (the bytes read since it began, which may
/// hold earlier pipelined requests too): one that parses, with this
/// request's method, target and header names (but for the lengths). If none
/// does (a head larger than the capture, say), hyper's own handling stands.
pub(crate) fn ambiguous_framing(req: &http::Request<Incoming>, raw: &[u8]) -> bool {
    if req
        .headers()
        .get_all(CONTENT_LENGTH)
        .iter()
        .any(|v| v.as_bytes().contains(&b','))
    {
        return true;
    }
    // The common case, one length and no coding, costs one scan.
    if !req.headers().contains_key(TRANSFER_ENCODING) && mentions(raw, b"content-length:") < 2 {
        return false;
    }
    // hyper's view of the headers, but for the lengths it may have dropped
    // or merged: a raw head must show the same names to be this request's.
    let mut seen: Vec<&str> = req
        .headers()
        .keys()
        .flat_map(|k| std::iter::repeat_n(k.as_str(), req.headers().get_all(k).iter().count()))
        .filter(|k| *k != "content-length")
        .collect();
    seen.sort_unstable();
    let method = req.method().as_str().as_bytes();
    let target = req.uri().path_and_query().map_or("", |p| p.as_str()).as_bytes();
    // Wherever this request's method starts what parses as a head (a
    // pipelined head may follow a body directly).
    for start in 0..raw.len() {
        let rest = &raw[start..];
        if !rest.starts_with(method) || rest.get(method.len()) != Some(&b' ') {
            continue;
        }
        let mut headers = vec![httparse::EMPTY_HEADER; 256];
        let mut parsed = httparse::Request::new(&mut headers);
        if !matches!(parsed.parse(rest), Ok(httparse::Status::Complete(_))) {
            continue;
        }
        if parsed.path.map(str::as_bytes) != Some(target) {
            continue;
        }
        let mut names: Vec<String> = parsed
            .headers
            .iter()
            .map(|h| h.name.to_ascii_lowercase())
            .filter(|n| n != "content-length")
            .collect();
        names.sort_unstable();
        if !names.iter().map(String::as_str).eq(seen.iter().copied()) {
            continue; // another request's head (pipelined before this one)
        }
        let count = |name: &str| {
            parsed
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .count()
        };
        let (lengths, codings) = (count("content-length"), count("transfer-encoding"));
        if lengths > 1 || (lengths > 0 && codings > 0) {
            return true;
        }
    }
    false
}

/// How many times `needle` (lowercase ASCII) occurs in `hay`, ignoring case.
fn mentions(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .filter(|w| w.eq_ignore_ascii_case(needle))
        .count()
}

/// The `Content-Length` a request declares (hyper has already refused
/// conflicting or malformed ones).
pub(crate) fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}
