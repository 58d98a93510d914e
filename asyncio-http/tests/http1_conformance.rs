//! RFC 9112 and RFC 9110's requirements on an HTTP/1.1 server's handling
//! of requests, each a raw request through the real server and the answer
//! the RFC asks for. Most are hyper's doing; the ones hyper leaves to the
//! application (marked "ours") are asyncio-http's (`src/framing.rs`,
//! `src/conn.rs`). The README's "HTTP/1.1 conformance" table is this file.

mod support;

use std::net::SocketAddr;

use asyncio_http::{Request, Router};
use support::{start, Conn};

async fn hello(_req: Request) -> &'static str {
    "Hello, world!"
}

async fn echo_len(mut req: Request) -> Result<String, asyncio_http::BodyError> {
    Ok(format!("{} bytes", req.bytes().await?.len()))
}

fn app() -> Router {
    Router::new().get("/", hello).post("/", echo_len)
}

/// One requirement: the raw request, the status it must get, and whether
/// the connection must be closed after it (`None`: either is allowed).
struct Case {
    rule: &'static str,
    raw: &'static str,
    status: u16,
    closes: Option<bool>,
}

const CASES: &[Case] = &[
    Case {
        rule: "9112 2.2: an empty line before the request-line is ignored",
        raw: "\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
        status: 200,
        closes: Some(false),
    },
    Case {
        rule: "9112 2.2: a bare CR is invalid (MUST)",
        raw: "GET / HTTP/1.1\r\nHost: t\rX-A: b\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 2.3: a major version other than 1 is not HTTP/1.x: 400 (hyper; 9110 15.6.6 suggests 505)",
        raw: "GET / HTTP/2.0\r\nHost: t\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 3: an invalid request-line gets 400 (SHOULD): two spaces",
        raw: "GET  / HTTP/1.1\r\nHost: t\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 3: an invalid request-line gets 400: a method that is not a token",
        raw: "G@T / HTTP/1.1\r\nHost: t\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 3: an invalid request-line gets 400: no version",
        raw: "GET /\r\nHost: t\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 3.2: no Host in HTTP/1.1 gets 400 (MUST, ours)",
        raw: "GET / HTTP/1.1\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 3.2: two Hosts get 400 (MUST, ours)",
        raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 3.2: an invalid Host gets 400 (MUST, ours)",
        raw: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 3.2.3: authority-form is for CONNECT only (ours)",
        raw: "GET t:80 HTTP/1.1\r\nHost: t\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 3.2.4: asterisk-form is for OPTIONS only (ours)",
        raw: "GET * HTTP/1.1\r\nHost: t\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 5.1: whitespace between a field name and the colon gets 400 (MUST)",
        raw: "GET / HTTP/1.1\r\nHost : t\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 5.2: obs-fold is rejected (MUST reject or replace)",
        raw: "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9110 5.1: a field name that is not a token gets 400",
        raw: "GET / HTTP/1.1\r\nHost: t\r\nX(A): b\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9110 5.5: NUL in a field value is rejected (MUST reject or replace)",
        raw: "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 6.1: chunked not last in Transfer-Encoding: 400 and close (MUST)",
        raw: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 6.1: a coding the server does not know: 501 (SHOULD, ours)",
        raw: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        status: 501,
        closes: Some(true),
    },
    Case {
        rule: "9112 6.1: Transfer-Encoding in HTTP/1.0: faulty framing, closed after (MUST)",
        raw: "POST / HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 6.3: Content-Length with Transfer-Encoding: 400 and close (ours)",
        raw: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 6.3: an invalid Content-Length: 400 and close (MUST)",
        raw: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5a\r\n\r\nhello",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 6.3: a signed Content-Length is invalid",
        raw: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 6.3: differing Content-Lengths: 400 and close (MUST)",
        raw: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 6.3: equal Content-Lengths as a list are refused too (ours: a smuggling shape)",
        raw: "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 5\r\n\r\nhello",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 6.3: the same for an absolute-form target (found by fuzzing: the check compared paths only)",
        raw: "POST http://t/ HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 6.3: Content-Length with Transfer-Encoding, absolute-form target: 400 and close (ours)",
        raw: "POST http://t/ HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 7.1: an invalid chunk size: 400 and close",
        raw: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        status: 400,
        closes: Some(true),
    },
    Case {
        rule: "9112 7.1: a chunked body is read whole",
        raw: "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        status: 200,
        closes: Some(false),
    },
    Case {
        rule: "9112 9.3: HTTP/1.0 without keep-alive is closed after the response",
        raw: "GET / HTTP/1.0\r\n\r\n",
        status: 200,
        closes: Some(true),
    },
    Case {
        rule: "9112 9.6: Connection: close from the client closes after the response (MUST)",
        raw: "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        status: 200,
        closes: Some(true),
    },
    Case {
        rule: "9110 15.5.6: 405 lists the allowed methods in Allow (MUST)",
        raw: "DELETE / HTTP/1.1\r\nHost: t\r\n\r\n",
        status: 405,
        closes: Some(false),
    },
    Case {
        rule: "9110 15.5.15: a request-target longer than the server parses: 414 (MUST, ours)",
        raw: "",
        status: 414,
        closes: None,
    },
];

/// Sends `raw` on a connection of its own; the response, and whether the
/// server then closed the connection: checked by a second request when it
/// must stay open (`keep` true), by waiting for the close otherwise (the
/// server's idle timeout is a minute, far past the wait).
async fn answer(addr: SocketAddr, raw: &str, keep: bool) -> (support::Resp, bool) {
    let mut c = Conn::open(addr).await;
    c.send(raw.as_bytes()).await.unwrap();
    let r = c.response().await.unwrap().expect("a response");
    let closed = if keep {
        let again = c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
        !matches!((again, c.response().await), (Ok(()), Ok(Some(r2))) if r2.status == 200)
    } else {
        c.closed_within(std::time::Duration::from_secs(10)).await
    };
    (r, closed)
}

#[asyncio::test]
async fn each_requirement_gets_its_answer() {
    let server = start(|s| s.keep_alive_timeout(std::time::Duration::from_secs(60)), app).await;
    let addr = server.local_addr();
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    let mut failures = Vec::new();
    for case in CASES {
        let raw = if case.status == 414 {
            long_target.as_str()
        } else {
            case.raw
        };
        let (r, closed) = answer(addr, raw, case.closes == Some(false)).await;
        let status_ok = r.status == case.status;
        let close_ok = case.closes.is_none_or(|c| c == closed);
        let allow_ok = r.status != 405 || r.header("allow").is_some_and(|a| a.contains("GET"));
        if !(status_ok && close_ok && allow_ok) {
            failures.push(format!(
                "{}: got {} (closed: {closed}, allow: {:?}), want {} (closed: {:?})",
                case.rule,
                r.status,
                r.header("allow"),
                case.status,
                case.closes
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    server.shutdown().await.unwrap();
}
