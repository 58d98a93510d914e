//! Per-message deflate (RFC 7692): the settings, and the negotiation of
//! the `Sec-WebSocket-Extensions` header on both ends. The compression
//! itself is [`super::io::WsIo`]'s.

/// Per-message deflate (RFC 7692) for WebSockets: what a server accepts
/// ([`Server::websocket_deflate`](crate::Server::websocket_deflate)) or a
/// client offers ([`WebSocketBuilder::deflate`](crate::client::ws::WebSocketBuilder::deflate)).
///
/// Browsers offer it on every WebSocket. A message is compressed with
/// DEFLATE (zlib-rs, through flate2) and, unless "no context takeover" is
/// agreed, each message may refer back to the earlier ones in the same
/// direction, which is what makes small, similar messages (JSON events,
/// chat lines) shrink. That history costs memory on both ends for as long
/// as the WebSocket is open; the window settings bound it.
///
/// The defaults follow Python's `websockets` (uvicorn's WebSocket layer):
/// on, level 1 (fast), windows of 2^12 bytes where the peer lets us choose,
/// context kept across messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsDeflate {
    pub(crate) enabled: bool,
    pub(crate) level: u32,
    pub(crate) window_bits: u8,
    pub(crate) peer_window_bits: u8,
    pub(crate) no_context_takeover: bool,
    pub(crate) peer_no_context_takeover: bool,
}

impl Default for WsDeflate {
    fn default() -> WsDeflate {
        WsDeflate {
            enabled: true,
            level: 1,
            window_bits: 12,
            peer_window_bits: 12,
            no_context_takeover: false,
            peer_no_context_takeover: false,
        }
    }
}

impl WsDeflate {
    /// No compression: the offer is declined (a server) or not made (a
    /// client), and messages go uncompressed.
    pub fn disabled() -> WsDeflate {
        WsDeflate {
            enabled: false,
            ..WsDeflate::default()
        }
    }

    /// Whether compression is offered or accepted at all.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The compression level, 0 (store only) to 9 (smallest, slowest);
    /// values above 9 count as 9. Default 1.
    pub fn level(mut self, level: u32) -> WsDeflate {
        self.level = level.min(9);
        self
    }

    /// The window (2^`bits` bytes, 9 to 15, clamped) of what this end
    /// sends: how far back its compressor looks, and so the memory its
    /// history takes. The peer may ask for a smaller one, which is then
    /// used. Default 12.
    pub fn window_bits(mut self, bits: u8) -> WsDeflate {
        self.window_bits = bits.clamp(9, 15);
        self
    }

    /// The window (2^`bits` bytes, 9 to 15, clamped) asked of the peer for
    /// what it sends, where it allows choosing one (browsers do): it bounds
    /// the memory of this end's decompressor. Default 12.
    pub fn peer_window_bits(mut self, bits: u8) -> WsDeflate {
        self.peer_window_bits = bits.clamp(9, 15);
        self
    }

    /// Compress each message on its own (this end's "no context
    /// takeover"): worse compression of small, similar messages, but no
    /// compressor per WebSocket: one per loop thread serves them all. What
    /// a WebSocket holds on a server, measured (release build, 2,000 idle
    /// WebSockets after one message each): 35 KiB without compression,
    /// about 270 KiB with it and context takeover (zlib-rs's compressor is
    /// most of that), about 70 KiB with this on. Default off, as uvicorn.
    pub fn no_context_takeover(mut self, on: bool) -> WsDeflate {
        self.no_context_takeover = on;
        self
    }

    /// Ask the peer to compress each message on its own, so this end keeps
    /// no decompression history between messages. Default off.
    pub fn peer_no_context_takeover(mut self, on: bool) -> WsDeflate {
        self.peer_no_context_takeover = on;
        self
    }
}

/// What a negotiation settled, from one end's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Agreed {
    pub(crate) level: u32,
    /// The window this end compresses with (8 means stored blocks only:
    /// zlib cannot compress raw DEFLATE with a 256-byte window).
    pub(crate) send_window_bits: u8,
    /// Reset the compressor after each message.
    pub(crate) send_no_context: bool,
    /// The window the peer compresses with (this end's decompressor).
    pub(crate) recv_window_bits: u8,
    /// Reset the decompressor after each message.
    pub(crate) recv_no_context: bool,
}

impl Agreed {
    /// RFC 7692's defaults: 32 KiB windows, history kept both ways (what
    /// an offer with no parameters agrees), at level 1.
    #[cfg(any(test, fuzzing))]
    pub(crate) const RFC_DEFAULTS: Agreed = Agreed {
        level: 1,
        send_window_bits: 15,
        send_no_context: false,
        recv_window_bits: 15,
        recv_no_context: false,
    };
}

const NAME: &str = "permessage-deflate";
const SERVER_NO_CONTEXT: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW: &str = "client_max_window_bits";

/// One extension of a `Sec-WebSocket-Extensions` list: its name and its
/// parameters (a value unquoted).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Extension {
    pub(crate) name: String,
    pub(crate) params: Vec<(String, Option<String>)>,
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Parses the values of `Sec-WebSocket-Extensions` (RFC 6455 section 9.1:
/// `extension *( "," extension )`, `extension = token *( ";" param )`,
/// `param = token [ "=" ( token / quoted-string ) ]`). `None` if any of it
/// is malformed: a server then declines every offer.
pub(crate) fn parse_extensions<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<Extension>> {
    let mut out = Vec::new();
    for value in values {
        let mut p = Parser { s: value, i: 0 };
        loop {
            p.ows();
            if p.at_end() {
                break;
            }
            if p.eat(b',') {
                continue; // empty list elements are allowed (RFC 9110 5.6.1)
            }
            let name = p.token()?;
            let mut params = Vec::new();
            loop {
                p.ows();
                if !p.eat(b';') {
                    break;
                }
                p.ows();
                let key = p.token()?;
                p.ows();
                let val = if p.eat(b'=') {
                    p.ows();
                    Some(if p.peek() == Some(b'"') {
                        p.quoted()?
                    } else {
                        p.token()?
                    })
                } else {
                    None
                };
                params.push((key, val));
            }
            p.ows();
            if !(p.at_end() || p.eat(b',')) {
                return None;
            }
            out.push(Extension { name, params });
        }
    }
    Some(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn quoted(&mut self) -> Option<String> {
        self.eat(b'"');
        let mut v = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return String::from_utf8(v).ok();
                }
                b'\\' => {
                    self.i += 1;
                    v.push(self.peek()?);
                    self.i += 1;
                }
                c => {
                    v.push(c);
                    self.i += 1;
                }
            }
        }
    }
}

/// A window-bits value: 8 to 15, digits only (RFC 7692 section 7.1.2).
fn window_bits(v: &str) -> Option<u8> {
    if v.is_empty() || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().filter(|b| (8..=15).contains(b))
}

/// A server's answer to the client's offers: the first
/// `permessage-deflate` offer it can accept, as what was agreed and the
/// response's header value. `None` declines them all (no header is sent
/// and the WebSocket runs uncompressed).
pub(crate) fn server_accept<'a>(
    cfg: &WsDeflate,
    offers: impl IntoIterator<Item = &'a [u8]>,
) -> Option<(Agreed, String)> {
    if !cfg.enabled {
        return None;
    }
    let offers = parse_extensions(offers)?;
    offers
        .iter()
        .filter(|e| e.name.eq_ignore_ascii_case(NAME))
        .find_map(|offer| accept_one(cfg, offer))
}

fn accept_one(cfg: &WsDeflate, offer: &Extension) -> Option<(Agreed, String)> {
    let mut server_no_context = false;
    let mut client_no_context = false;
    let mut server_max: Option<u8> = None;
    // Some(None): the client accepts a limit without naming one.
    let mut client_max: Option<Option<u8>> = None;
    let mut seen = Vec::new();
    for (key, val) in &offer.params {
        let key = key.to_ascii_lowercase();
        if seen.contains(&key) {
            return None; // a parameter given twice declines the offer
        }
        match (key.as_str(), val) {
            (SERVER_NO_CONTEXT, None) => server_no_context = true,
            (CLIENT_NO_CONTEXT, None) => client_no_context = true,
            (SERVER_MAX_WINDOW, Some(v)) => server_max = Some(window_bits(v)?),
            (CLIENT_MAX_WINDOW, None) => client_max = Some(None),
            (CLIENT_MAX_WINDOW, Some(v)) => client_max = Some(Some(window_bits(v)?)),
            _ => return None, // unknown, or a value where none belongs
        }
        seen.push(key);
    }
    let send_window_bits = server_max.map_or(cfg.window_bits, |m| m.min(cfg.window_bits));
    let send_no_context = server_no_context || cfg.no_context_takeover;
    let recv_no_context = cfg.peer_no_context_takeover || client_no_context;
    let mut header = String::from(NAME);
    if send_no_context {
        header.push_str("; ");
        header.push_str(SERVER_NO_CONTEXT);
    }
    if recv_no_context {
        // Said back even when the client offered it: some clients read
        // the offer as "I would agree to", not as RFC 7692's promise, and
        // keep their history unless the answer names it.
        header.push_str("; ");
        header.push_str(CLIENT_NO_CONTEXT);
    }
    if server_max.is_some() {
        // Required when the offer named a limit. Otherwise this end just
        // compresses with its smaller window, which any peer can read.
        header.push_str(&format!("; {SERVER_MAX_WINDOW}={send_window_bits}"));
    }
    let recv_window_bits = match client_max {
        // Not offered: the client may use any window, and this end may not
        // name one.
        None => 15,
        Some(limit) => {
            let bits = limit.map_or(cfg.peer_window_bits, |l| l.min(cfg.peer_window_bits));
            header.push_str(&format!("; {CLIENT_MAX_WINDOW}={bits}"));
            bits
        }
    };
    let agreed = Agreed {
        level: cfg.level,
        send_window_bits,
        send_no_context,
        recv_window_bits,
        recv_no_context,
    };
    Some((agreed, header))
}

/// A client's offer, as a header value.
pub(crate) fn client_offer(cfg: &WsDeflate) -> Option<String> {
    if !cfg.enabled {
        return None;
    }
    let mut offer = String::from(NAME);
    if cfg.no_context_takeover {
        offer.push_str("; ");
        offer.push_str(CLIENT_NO_CONTEXT);
    }
    if cfg.peer_no_context_takeover {
        offer.push_str("; ");
        offer.push_str(SERVER_NO_CONTEXT);
    }
    if cfg.peer_window_bits < 15 {
        offer.push_str(&format!("; {SERVER_MAX_WINDOW}={}", cfg.peer_window_bits));
    }
    // The server may name a limit for our compressor; ours is the cap.
    offer.push_str(&format!("; {CLIENT_MAX_WINDOW}={}", cfg.window_bits));
    Some(offer)
}

/// The client's side of the negotiation: what the server's
/// `Sec-WebSocket-Extensions` answer settled. `Ok(None)`: no compression.
///
/// # Errors
/// An answer the offer did not allow (RFC 7692 section 5: the client then
/// fails the WebSocket): an extension other than `permessage-deflate`,
/// more than one, an unknown or repeated parameter, a window out of range
/// or above the one offered, or no context takeover we did not offer.
pub(crate) fn client_accept<'a>(
    cfg: &WsDeflate,
    answer: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Option<Agreed>, String> {
    let exts = parse_extensions(answer).ok_or("malformed Sec-WebSocket-Extensions")?;
    let Some(ext) = exts.first() else {
        return Ok(None);
    };
    if !cfg.enabled || exts.len() > 1 || !ext.name.eq_ignore_ascii_case(NAME) {
        return Err(format!("the server answered extensions not offered: {}", ext.name));
    }
    let mut agreed = Agreed {
        level: cfg.level,
        send_window_bits: cfg.window_bits,
        send_no_context: cfg.no_context_takeover,
        recv_window_bits: 15,
        recv_no_context: false,
    };
    let mut seen = Vec::new();
    for (key, val) in &ext.params {
        let key = key.to_ascii_lowercase();
        if seen.contains(&key) {
            return Err(format!("{key} given twice"));
        }
        let bad = || format!("unexpected {key} {val:?} in the server's answer");
        match (key.as_str(), val) {
            (SERVER_NO_CONTEXT, None) => agreed.recv_no_context = true,
            (CLIENT_NO_CONTEXT, None) => agreed.send_no_context = true,
            (SERVER_MAX_WINDOW, Some(v)) => {
                let bits = window_bits(v).ok_or_else(bad)?;
                if cfg.peer_window_bits < 15 && bits > cfg.peer_window_bits {
                    return Err(bad());
                }
                agreed.recv_window_bits = bits;
            }
            (CLIENT_MAX_WINDOW, Some(v)) => {
                let bits = window_bits(v).ok_or_else(bad)?;
                agreed.send_window_bits = agreed.send_window_bits.min(bits);
            }
            _ => return Err(bad()),
        }
        seen.push(key);
    }
    Ok(Some(agreed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(offer: &str) -> Option<(Agreed, String)> {
        server_accept(&WsDeflate::default(), [offer.as_bytes()])
    }

    #[test]
    fn parses_lists_params_and_quoted_values() {
        let exts = parse_extensions([&b"foo, permessage-deflate; client_max_window_bits=\"10\" ;x , bar"[..]]).unwrap();
        assert_eq!(exts.len(), 3);
        assert_eq!(exts[0].name, "foo");
        assert_eq!(
            exts[1].params,
            vec![("client_max_window_bits".into(), Some("10".into())), ("x".into(), None)]
        );
        assert_eq!(exts[2].name, "bar");
        assert!(parse_extensions([&b"permessage-deflate; =1"[..]]).is_none());
        assert!(parse_extensions([&b"a b"[..]]).is_none());
        assert!(parse_extensions([&b"a; b=\"unterminated"[..]]).is_none());
        assert_eq!(parse_extensions([&b" , ,"[..]]).unwrap(), vec![]);
    }

    #[test]
    fn a_browser_offer_gets_the_default_windows() {
        let (a, h) = accept("permessage-deflate; client_max_window_bits").unwrap();
        assert_eq!(h, "permessage-deflate; client_max_window_bits=12");
        assert_eq!((a.send_window_bits, a.recv_window_bits), (12, 12));
        assert!(!a.send_no_context && !a.recv_no_context);
    }

    #[test]
    fn limits_in_the_offer_are_honoured() {
        let (a, h) = accept("permessage-deflate; server_max_window_bits=8; server_no_context_takeover").unwrap();
        assert_eq!(a.send_window_bits, 8);
        assert!(a.send_no_context);
        assert_eq!(a.recv_window_bits, 15, "no client_max_window_bits offered: any window");
        assert_eq!(
            h,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=8"
        );
        let (a, _) = accept("permessage-deflate; client_max_window_bits=9; client_no_context_takeover").unwrap();
        assert_eq!(a.recv_window_bits, 9);
        assert!(a.recv_no_context);
    }

    #[test]
    fn a_bad_offer_is_declined_and_the_next_one_taken() {
        for bad in [
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; unknown",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "x-webkit-deflate-frame",
        ] {
            assert!(accept(bad).is_none(), "{bad}");
        }
        let (a, _) = accept("permessage-deflate; unknown, permessage-deflate; server_no_context_takeover").unwrap();
        assert!(a.send_no_context);
        assert!(server_accept(&WsDeflate::disabled(), [&b"permessage-deflate"[..]]).is_none());
    }

    #[test]
    fn the_client_checks_the_answer_against_its_offer() {
        let cfg = WsDeflate::default();
        let offer = client_offer(&cfg).unwrap();
        assert_eq!(
            offer,
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
        );
        // The server's own offer parser takes the client's offer.
        let (_, answer) = server_accept(&cfg, [offer.as_bytes()]).unwrap();
        let a = client_accept(&cfg, [answer.as_bytes()]).unwrap().unwrap();
        assert_eq!((a.send_window_bits, a.recv_window_bits), (12, 12));
        assert_eq!(client_accept(&cfg, []).unwrap(), None);
        for bad in [
            "permessage-deflate; server_max_window_bits=13",
            "permessage-deflate; bogus",
            "permessage-deflate, permessage-deflate",
            "x-other",
        ] {
            assert!(client_accept(&cfg, [bad.as_bytes()]).is_err(), "{bad}");
        }
    }
}
