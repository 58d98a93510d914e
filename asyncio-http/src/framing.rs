//! The request-framing checks hyper leaves to the application: the
//! smuggling shapes it hides (two lengths, a length and a coding) found in
//! the raw head, the declared length checked against the body limit
//! before any handler runs, and `Host` as RFC 9112 section 3.2 wants it.

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};

/// Why an HTTP/1.x request's `Host` must be answered `400` (RFC 9112,
/// section 3.2), if it must: an HTTP/1.1 request without one, any request
/// with more than one, or one whose value is not a `uri-host [":" port]`
/// (no user information; a port of digits, possibly none: RFC 3986
/// allows `host:`). An empty value is valid (a
/// target with no authority). hyper leaves all of these to the
/// application.
pub(crate) fn bad_host<B>(req: &http::Request<B>, memo: &HostMemo) -> Option<&'static str> {
    // A walk over the few headers a request has costs less than hashing
    // the name for a look-up (and finds a second `Host` on the way):
    // callgrind, 254 instructions per request for this whole check against
    // 335 with `get` and `get_all`.
    let mut host = None;
    for (name, value) in req.headers() {
        if name == HOST && host.replace(value).is_some() {
            return Some("more than one Host header");
        }
    }
    match host {
        None if req.version() == http::Version::HTTP_11 => Some("an HTTP/1.1 request needs a Host header"),
        None => None,
        Some(v) if v.is_empty() || memo.is(v.as_bytes()) => None,
        Some(v) if valid_host(v.as_bytes()) => {
            memo.set(v.as_bytes());
            None
        }
        Some(_) => Some("invalid Host header"),
    }
}

/// The longest `Host` value a [`HostMemo`] keeps.
const HOST_MEMO: usize = 64;

/// The last `Host` value that passed [`bad_host`]'s check on a connection:
/// a client sends the same one with every request, and comparing it costs
/// less than checking it again (callgrind: about 150 instructions per
/// request for a 15-byte `127.0.0.1:8080`).
pub(crate) struct HostMemo {
    bytes: std::cell::RefCell<[u8; HOST_MEMO]>,
    /// 0: none kept (an empty value needs no check).
    len: std::cell::Cell<u8>,
}

impl HostMemo {
    pub(crate) fn new() -> HostMemo {
        HostMemo {
            bytes: std::cell::RefCell::new([0; HOST_MEMO]),
            len: std::cell::Cell::new(0),
        }
    }

    fn is(&self, v: &[u8]) -> bool {
        usize::from(self.len.get()) == v.len() && self.bytes.borrow()[..v.len()] == *v
    }

    fn set(&self, v: &[u8]) {
        if v.len() <= HOST_MEMO {
            self.bytes.borrow_mut()[..v.len()].copy_from_slice(v);
            self.len.set(v.len() as u8);
        }
    }
}

/// Why a request's target form does not fit its method (RFC 9112, section
/// 3.2), if it does not: the authority form (`host:port`) is for `CONNECT`
/// only and `CONNECT` takes nothing else (3.2.3); the asterisk form (`*`)
/// is for `OPTIONS` only (3.2.4). hyper parses all four forms for any
/// method.
pub(crate) fn bad_target_form<B>(req: &http::Request<B>) -> Option<&'static str> {
    let uri = req.uri();
    let authority_form = uri.scheme().is_none() && uri.authority().is_some();
    let connect = req.method() == http::Method::CONNECT;
    if connect != authority_form {
        return Some(if connect {
            "CONNECT needs an authority-form target (host:port)"
        } else {
            "an authority-form target is for CONNECT only"
        });
    }
    if uri.scheme().is_none() && uri.authority().is_none() && uri.path() == "*" && req.method() != http::Method::OPTIONS
    {
        return Some("the asterisk-form target is for OPTIONS only");
    }
    None
}

/// `uri-host [":" port]` (RFC 3986): an IP literal in brackets, or a
/// non-empty name of unreserved characters, percent-escapes and
/// sub-delimiters (an IPv4 address is one); then nothing, or `:` and at
/// most five digits. One pass over the bytes (http's `Authority` parser
/// cost some 1,500 instructions per request here).
fn valid_host(v: &[u8]) -> bool {
    let (host_ok, rest) = match v.first() {
        Some(b'[') => match v.iter().position(|&b| b == b']') {
            Some(end) => (
                end > 1
                    && v[1..end]
                        .iter()
                        .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.'),
                &v[end + 1..],
            ),
            None => return false,
        },
        _ => {
            let end = v.iter().position(|&b| b == b':').unwrap_or(v.len());
            (end > 0 && reg_name(&v[..end]), &v[end..])
        }
    };
    host_ok
        && match rest.split_first() {
            None => true,
            Some((b':', port)) => port.len() <= 5 && port.iter().all(u8::is_ascii_digit),
            Some(_) => false,
        }
}

/// RFC 3986's `reg-name`: unreserved characters, `%HH`, sub-delimiters.
fn reg_name(name: &[u8]) -> bool {
    let mut i = 0;
    while i < name.len() {
        let b = name[i];
        if b == b'%' {
            if !(i + 2 < name.len() && name[i + 1].is_ascii_hexdigit() && name[i + 2].is_ascii_hexdigit()) {
                return false;
            }
            i += 2;
        } else if !REG_NAME[usize::from(b)] {
            return false;
        }
        i += 1;
    }
    true
}

/// The bytes `reg-name` takes as they are (all but `%HH`).
static REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let allowed = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=";
    let mut i = 0;
    while i < allowed.len() {
        t[allowed[i] as usize] = true;
        i += 1;
    }
    t
};

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
pub(crate) fn ambiguous_framing<B>(req: &http::Request<B>, raw: &[u8]) -> bool {
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
        // The target as hyper parsed it (not only its path: an
        // absolute-form target's raw bytes hold the scheme and authority
        // too, which the fuzzer found this comparison missing).
        if parsed.path.and_then(|p| p.parse::<http::Uri>().ok()).as_ref() != Some(req.uri()) {
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

/// Whether a request's `Transfer-Encoding` names a coding other than
/// `chunked`: hyper decodes only `chunked` and would hand the other
/// codings' bytes to the handler as if they were the body. RFC 9112,
/// section 6.1: the server SHOULD answer `501`.
pub(crate) fn unknown_coding<B>(req: &http::Request<B>) -> bool {
    req.headers().get_all(TRANSFER_ENCODING).iter().any(|v| {
        v.as_bytes().split(|b| *b == b',').any(|coding| {
            let coding = coding.trim_ascii();
            !coding.is_empty() && !coding.eq_ignore_ascii_case(b"chunked")
        })
    })
}

/// The `Content-Length` a request declares (hyper has already refused
/// conflicting or malformed ones).
pub(crate) fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(version: http::Version, hosts: &[&str]) -> http::Request<()> {
        let mut b = http::Request::builder().version(version).uri("/");
        for h in hosts {
            b = b.header(HOST, *h);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn host_as_rfc_9112_wants_it() {
        use http::Version;
        for ok in [
            "example.com",
            "example.com:8080",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:443",
            "a-b.c",
            "host:",
            "",
        ] {
            assert_eq!(
                bad_host(&req(Version::HTTP_11, &[ok]), &HostMemo::new()),
                None,
                "{ok:?}"
            );
        }
        for bad in [
            "a b",
            "user@host",
            "host:port",
            "host:123456",
            ":80",
            "[::1",
            "a/b",
            "a\"b",
        ] {
            assert!(
                bad_host(&req(Version::HTTP_11, &[bad]), &HostMemo::new()).is_some(),
                "{bad:?}"
            );
        }
        assert!(
            bad_host(&req(Version::HTTP_11, &[]), &HostMemo::new()).is_some(),
            "HTTP/1.1 needs one"
        );
        assert_eq!(
            bad_host(&req(Version::HTTP_10, &[]), &HostMemo::new()),
            None,
            "HTTP/1.0 may go without"
        );
        assert!(
            bad_host(&req(Version::HTTP_10, &["a", "a"]), &HostMemo::new()).is_some(),
            "never two"
        );
    }

    #[test]
    fn a_remembered_host_changes_no_verdict() {
        use http::Version;
        let memo = HostMemo::new();
        let host = "example.com:8080";
        assert_eq!(bad_host(&req(Version::HTTP_11, &[host]), &memo), None);
        assert!(memo.is(host.as_bytes()), "kept");
        // Seen before: still one Host, still required.
        assert_eq!(bad_host(&req(Version::HTTP_11, &[host]), &memo), None);
        assert!(bad_host(&req(Version::HTTP_11, &[host, host]), &memo).is_some());
        assert!(bad_host(&req(Version::HTTP_11, &[]), &memo).is_some());
        // A different value is checked on its own (a prefix of the kept
        // one included), and a bad one is not kept.
        assert!(bad_host(&req(Version::HTTP_11, &["example.com:80x"]), &memo).is_some());
        assert!(bad_host(&req(Version::HTTP_11, &["example.com:8080 "]), &memo).is_some());
        assert!(memo.is(host.as_bytes()));
        assert_eq!(bad_host(&req(Version::HTTP_11, &["example.com"]), &memo), None);
        assert!(memo.is(b"example.com"));
        // Too long to keep: checked every time, right every time.
        let long = format!("{}.example", "a".repeat(HOST_MEMO));
        assert_eq!(bad_host(&req(Version::HTTP_11, &[&long]), &memo), None);
        assert!(memo.is(b"example.com"));
        assert!(bad_host(&req(Version::HTTP_11, &[&format!("{long} x")]), &memo).is_some());
    }
}
