//! Entry points for the fuzz targets in the repository's `fuzz/` directory,
//! compiled only with `--cfg fuzzing` (as `cargo fuzz` builds). Each runs
//! one of the parsers or validators written here (not hyper's, h2's or
//! tungstenite's) on arbitrary input and asserts what must hold of its
//! answer, beyond not panicking.

use std::net::IpAddr;
use std::path::Component;

use http::header::{HeaderName, HeaderValue};

use crate::body::RequestBody;
use crate::request::Request;
use crate::{forwarded, framing, sse, static_files};

/// A request head as hyper would parse it (httparse), then the framing,
/// `Host` and request-target checks hyper leaves to us.
pub fn request_head(raw: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(n)) = parsed.parse(raw) else {
        return;
    };
    let (Some(method), Some(path), Some(version)) = (parsed.method, parsed.path, parsed.version) else {
        return;
    };
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .version(if version == 0 {
            http::Version::HTTP_10
        } else {
            http::Version::HTTP_11
        });
    let mut every_header = true;
    for h in parsed.headers.iter() {
        match (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) {
            (Ok(name), Ok(value)) => b = b.header(name, value),
            _ => every_header = false,
        }
    }
    let Ok(req) = b.body(()) else {
        return;
    };
    // A connection's memo of the last good `Host` changes no verdict.
    let memo = framing::HostMemo::new();
    let verdict = framing::bad_host(&req, &memo);
    assert_eq!(framing::bad_host(&req, &memo), verdict, "memo changed the verdict");
    let _ = framing::bad_target_form(&req);
    let _ = framing::declared_length(req.headers());
    let _ = framing::unknown_coding(&req);
    let ambiguous = framing::ambiguous_framing(&req, &raw[..n]);
    let count = |name: &str| {
        parsed
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    };
    let (lengths, codings) = (count("content-length"), count("transfer-encoding"));
    if every_header && (lengths > 1 || (lengths > 0 && codings > 0)) {
        assert!(ambiguous, "two lengths, or a length and a coding, not seen");
    }
}

/// An event's fields, as a handler gives them.
pub fn sse_event(data: Option<&str>, event: Option<&str>, id: Option<&str>, comment: Option<&str>) {
    let mut e = match (data, comment) {
        (Some(d), _) => sse::Event::data(d),
        (None, Some(c)) => sse::Event::comment(c),
        (None, None) => sse::Event::default(),
    };
    if let Some(t) = event {
        e = e.event(t);
    }
    if let Some(i) = id {
        e = e.id(i);
    }
    let wire = e.encode();
    let got = parse_event_stream(&wire);
    // A client sees exactly one event if there was data, none otherwise,
    // and nothing of it leaks into other fields.
    match data {
        Some(d) => {
            assert_eq!(got.events.len(), 1, "{wire:?}");
            let (name, text) = &got.events[0];
            let lines = d.replace("\r\n", "\n").replace('\r', "\n");
            assert_eq!(text, &lines, "{wire:?}");
            let one_line = |s: &str| s.replace(['\r', '\n'], "");
            assert_eq!(name, &event.map(one_line).unwrap_or_default(), "{wire:?}");
        }
        None => assert!(got.events.is_empty(), "{wire:?}"),
    }
    if let Some(i) = id {
        let i = i.replace(['\r', '\n'], "");
        if !i.contains('\0') {
            assert_eq!(got.last_id.as_deref(), Some(i.as_str()), "{wire:?}");
        }
    } else {
        assert_eq!(got.last_id, None, "{wire:?}");
    }
    assert_eq!(got.retry, None, "{wire:?}");
}

/// What a client's event-stream parser makes of a stream (the WHATWG
/// HTML standard's algorithm, section 9.2.6).
struct Parsed {
    /// (type, data) of each dispatched event.
    events: Vec<(String, String)>,
    last_id: Option<String>,
    retry: Option<u64>,
}

fn parse_event_stream(text: &str) -> Parsed {
    let mut out = Parsed {
        events: Vec::new(),
        last_id: None,
        retry: None,
    };
    let (mut data, mut kind) = (String::new(), String::new());
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    for line in text.split('\n') {
        if line.is_empty() {
            if !data.is_empty() {
                data.pop();
                out.events.push((std::mem::take(&mut kind), std::mem::take(&mut data)));
            }
            kind.clear();
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => kind = value.to_owned(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => out.last_id = Some(value.to_owned()),
            "retry" => out.retry = value.parse().ok(),
            _ => {}
        }
    }
    out
}

/// A static file request's path, `Range` and `If-None-Match`.
pub fn static_file(path: &str, range: &str, len: u64, list: &str, tag: &str) {
    if let Some(p) = static_files::clean(path) {
        // Only plain names: nothing that climbs out of the root, nothing
        // hidden, no root or prefix of its own.
        for c in p.components() {
            let Component::Normal(name) = c else {
                panic!("{path:?} cleaned to {p:?}");
            };
            assert!(!name.to_string_lossy().starts_with('.'), "{path:?} cleaned to {p:?}");
        }
    }
    if let Ok(Some((start, end))) = static_files::range(range, len) {
        assert!(start <= end && end < len, "{range:?} of {len}: {start}-{end}");
    }
    let _ = static_files::matches(list, tag, true);
    let _ = static_files::matches(list, tag, false);
}

/// `X-Forwarded-For` and `-Proto` lines from a peer, with a trusted list.
pub fn forwarded(trusted: &[&str], peer: IpAddr, xff: &[&[u8]], proto: &[&[u8]]) {
    let Ok(t) = forwarded::TrustedProxies::parse(trusted) else {
        return;
    };
    let mut h = http::HeaderMap::new();
    for v in xff {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            h.append("x-forwarded-for", v);
        }
    }
    for v in proto {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            h.append("x-forwarded-proto", v);
        }
    }
    let client = t.client_ip(peer, &h);
    if !t.contains(peer) {
        assert_eq!(client, peer);
    }
    let scheme = t.scheme(peer, false, &h);
    assert!(scheme == "http" || scheme == "https");
}

/// A WebSocket upgrade request's headers: accepted only when RFC 6455's
/// conditions hold; the offered subprotocols come out trimmed, non-empty,
/// without commas.
pub fn websocket_handshake(upgrade: &[u8], connection: &[u8], version: &[u8], key: Option<&[u8]>, protocols: &[u8]) {
    let mut b = http::Request::builder().method("GET").uri("/ws");
    let mut set = |name: &str, v: &[u8]| {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            b = std::mem::take(&mut b).header(name, v);
        }
    };
    set("upgrade", upgrade);
    set("connection", connection);
    set("sec-websocket-version", version);
    if let Some(k) = key {
        set("sec-websocket-key", k);
    }
    set("sec-websocket-protocol", protocols);
    let Ok(req) = b.body(()) else {
        return;
    };
    let (parts, ()) = req.into_parts();
    let req = Request::new(parts, RequestBody::empty());
    for p in req.websocket_protocols() {
        assert!(!p.is_empty() && !p.contains(',') && p.trim() == p, "{p:?}");
    }
    if req.accept_websocket().is_ok() {
        let has = |name: &str, token: &str| {
            req.headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        };
        assert!(has("upgrade", "websocket") && has("connection", "upgrade"));
        assert_eq!(
            req.headers().get("sec-websocket-version").map(|v| v.as_bytes()),
            Some(&b"13"[..])
        );
        assert!(req.headers().contains_key("sec-websocket-key"));
    }
}

/// A `Sec-WebSocket-Extensions` offer and the frames that follow: a
/// server's answer is one it could parse itself, with windows in range;
/// the frames go through the per-message deflate extension as agreed (or
/// as the defaults, when declined) without panicking, and what comes out
/// is well-formed frames.
pub fn websocket_deflate(offer: &[u8], wire: &[u8], cuts: &[u8]) {
    use crate::ws::{parse_extensions, server_accept, Agreed, WsDeflate};
    let agreed = match server_accept(&WsDeflate::default(), [offer]) {
        Some((agreed, answer)) => {
            assert!(HeaderValue::from_str(&answer).is_ok(), "{answer:?}");
            let parsed = parse_extensions([answer.as_bytes()]).expect("the answer parses");
            assert_eq!(parsed.len(), 1);
            assert_eq!(parsed[0].name, "permessage-deflate");
            assert!((8..=15).contains(&agreed.send_window_bits));
            assert!((8..=15).contains(&agreed.recv_window_bits));
            agreed
        }
        None => Agreed::RFC_DEFAULTS,
    };
    crate::ws::fuzz_inflate(agreed, wire, cuts);
}

/// The HTTP client's response decoding (`gzip`, `deflate` zlib-wrapped or
/// raw, `br`). `raw`: an encoding selector, a chunk size, a pull size,
/// then the compressed body. Fed in chunks a gzip or deflate body decodes
/// to what it decodes to fed whole (and fails alike: a body's validity must
/// not depend on how the network cut it), pulled in small pieces to what it
/// decodes to pulled in large ones; no pull gives more than it was asked
/// for, and once the input has ended the decoder never asks for more.
///
/// The first two not asserted for `br`: the brotli crate's decoder
/// (brotli-decompressor 5.0.3) reads some malformed streams differently fed
/// whole and fed a byte at a time (this target's first run found one: 16
/// bytes that decode to 4 whole and fail at byte 12 one by one), which is
/// the crate's to fix.
pub fn client_decode(raw: &[u8]) {
    use crate::client::decode::{Decoder, Pulled, CHUNK};

    /// Bodies decoding to more than this are not compared (a bomb in the
    /// input would only slow the fuzzer down).
    const BIG: usize = 16 << 20;

    #[derive(Debug, PartialEq)]
    enum Outcome {
        Decoded(Vec<u8>),
        Failed,
        Big,
    }

    fn run(encoding: &str, pieces: &[&[u8]], max: u64) -> Outcome {
        let mut decoder = Decoder::for_encoding(encoding).expect("a known encoding");
        let mut out = Vec::new();
        let last = pieces.len();
        for at in 0..=last {
            match pieces.get(at) {
                Some(piece) => decoder.push(bytes::Bytes::copy_from_slice(piece)),
                None => decoder.end(),
            }
            loop {
                match decoder.pull(max) {
                    Ok(Pulled::Data(data)) => {
                        assert!(!data.is_empty(), "{encoding}: empty data");
                        assert!(
                            data.len() as u64 <= max && data.len() <= CHUNK,
                            "{encoding}: past the pull"
                        );
                        out.extend_from_slice(&data);
                        if out.len() > BIG {
                            return Outcome::Big;
                        }
                    }
                    Ok(Pulled::NeedInput) => {
                        assert!(at < last, "{encoding}: asks for input after its end");
                        break;
                    }
                    Ok(Pulled::Done) if at < last => break,
                    Ok(Pulled::Done) => return Outcome::Decoded(out),
                    Err(_) => return Outcome::Failed,
                }
            }
        }
        unreachable!("returned at the end of the input")
    }

    let [enc, chunk, pull, body @ ..] = raw else {
        return;
    };
    let encoding = ["gzip", "deflate", "br", "x-gzip"][usize::from(*enc) % 4];
    let chunk = usize::from(*chunk % 64) + 1;
    let pull = u64::from(*pull) + 1;
    let pieces: Vec<&[u8]> = body.chunks(chunk).collect();
    let whole = run(encoding, &[body], u64::MAX);
    let chunked = run(encoding, &pieces, u64::MAX);
    let small = run(encoding, &pieces, pull);
    if encoding == "br" || whole == Outcome::Big || chunked == Outcome::Big || small == Outcome::Big {
        return;
    }
    assert_eq!(whole, chunked, "{encoding}: chunks of {chunk} changed the outcome");
    assert_eq!(small, chunked, "{encoding}: pulls of {pull} changed the outcome");
}
