//! What the client tests share: a raw server for what a well-behaved
//! server never does.

#![allow(dead_code)]

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

use asyncio::net::{TcpListener, TcpStream};

/// A raw server: accepts connections and runs `serve` on each, counting
/// them.
pub async fn raw_server<F, Fut>(serve: F) -> (SocketAddr, Rc<Cell<usize>>)
where
    F: Fn(TcpStream, usize) -> Fut + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Rc::new(Cell::new(0));
    let counter = count.clone();
    // Detached: they end with the test's loop.
    let _accepting = asyncio::create_task(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.set(counter.get() + 1);
            let _serving = asyncio::create_task(serve(stream, counter.get()));
        }
    });
    (addr, count)
}

/// Reads a request head (up to the blank line).
pub async fn read_head(stream: &TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    head
}

/// Copies `from` to `to` until the end of `from`, then closes `to`'s
/// writing side.
async fn pipe(from: Rc<TcpStream>, to: Rc<TcpStream>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// A forward proxy: `CONNECT host:port` opens a tunnel; an absolute-form
/// request (`GET http://host:port/path`) is passed on to its host as it
/// came. Each request line it saw, with the `Proxy-Authorization` it
/// carried, is logged.
pub async fn forward_proxy(refuse_connect: bool) -> (SocketAddr, Rc<std::cell::RefCell<Vec<String>>>) {
    let log = Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = log.clone();
    let (addr, _) = raw_server(move |client, _| {
        let seen = seen.clone();
        async move {
            let head = read_head(&client).await;
            let text = String::from_utf8_lossy(&head).to_string();
            let line = text.lines().next().unwrap_or("").to_owned();
            let auth = text
                .lines()
                .find_map(|l| {
                    l.strip_prefix("Proxy-Authorization: ")
                        .or_else(|| l.strip_prefix("proxy-authorization: "))
                })
                .unwrap_or("-")
                .to_owned();
            seen.borrow_mut().push(format!("{line} [{auth}]"));
            let mut parts = line.split(' ');
            let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let client = Rc::new(client);
            let (upstream_addr, first) = if method == "CONNECT" {
                if refuse_connect {
                    let _ = client
                        .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                        .await;
                    return;
                }
                (target.to_owned(), None)
            } else {
                let rest = target.strip_prefix("http://").unwrap_or(target);
                let authority = rest.split('/').next().unwrap_or("").to_owned();
                (authority, Some(head))
            };
            let Ok(upstream) = TcpStream::connect(upstream_addr.as_str()).await else {
                let _ = client
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    .await;
                return;
            };
            let upstream = Rc::new(upstream);
            match first {
                None => {
                    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
                }
                Some(head) => {
                    let _ = upstream.write_all(&head).await;
                }
            }
            let up = asyncio::create_task(pipe(client.clone(), upstream.clone()));
            pipe(upstream, client).await;
            let _ = up.await;
        }
    })
    .await;
    (addr, log)
}
