//! WebSocket chat room: `cargo run --release -p asyncio-http --example websocket_chat -- [--port 8080] [--tls CERT.pem KEY.pem]`, then open
//! http://127.0.0.1:8080/ (or https://localhost:8080/ with `--tls`) in two
//! browser tabs: what one sends, all see. `tests/browser.rs` does that in
//! headless Chromium.
//! The room is plain `Rc<RefCell<..>>` state on the loop (no locks, no
//! `Send`); each member has a bounded outbox, so a slow reader loses
//! messages instead of slowing the room.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use asyncio::sync::Queue;
use asyncio_examples_support::args::{Options, ServerArgs, Workers};
use asyncio_http::ws::{Message, WebSocket};
use asyncio_http::{Html, Request, Response, Router, Server};
use futures_lite::future::or;

const PAGE: &str = r#"<!doctype html>
<title>chat</title>
<input id="m" placeholder="say something" onkeydown="if (event.key === 'Enter') { ws.send(m.value); m.value = ''; }">
<pre id="log"></pre>
<script>
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onmessage = e => { log.textContent += e.data + "\n"; };
</script>
"#;

#[derive(Default)]
struct Room {
    next_id: Cell<u64>,
    members: RefCell<HashMap<u64, Rc<Queue<String>>>>,
}

impl Room {
    fn say(&self, line: String) {
        for outbox in self.members.borrow().values() {
            let _ = outbox.put_nowait(line.clone()); // full: this member misses it
        }
    }
}

async fn page(_req: Request) -> Html<&'static str> {
    Html(PAGE)
}

async fn chat(room: Rc<Room>, req: Request) -> Response {
    req.websocket(move |ws: WebSocket| async move {
        let id = room.next_id.get();
        room.next_id.set(id + 1);
        let outbox = Rc::new(Queue::new(64));
        room.members.borrow_mut().insert(id, outbox.clone());
        room.say(format!("* guest{id} joined"));
        let (mut tx, mut rx) = ws.split();
        // Two halves on one task: read from this member, write its outbox.
        let reading = async {
            loop {
                match rx.recv().await {
                    Some(Ok(Message::Text(text))) => room.say(format!("guest{id}: {text}")),
                    Some(Ok(_)) => {}
                    None | Some(Err(_)) => break,
                }
            }
        };
        let writing = async {
            while let Ok(line) = outbox.get().await {
                if tx.send(Message::text(line)).await.is_err() {
                    break;
                }
            }
        };
        or(reading, writing).await;
        room.members.borrow_mut().remove(&id);
        room.say(format!("* guest{id} left"));
    })
}

/// The chat's routes, with a room of their own.
pub fn app() -> Router {
    let room = Rc::new(Room::default());
    Router::new()
        .get("/", page)
        .get("/ws", move |req| chat(room.clone(), req))
}

#[asyncio::main]
async fn main() -> std::io::Result<()> {
    let options = Options::new(Workers::One);
    #[cfg(feature = "tls")]
    let options = options.tls();
    let args = ServerArgs::from_env("websocket_chat", options);
    // One worker: one room (each worker loop would have its own).
    let server = Server::bind(args.addr().to_string()).workers(1);
    #[cfg(feature = "tls")]
    let server = match &args.tls {
        Some(files) => server.tls_pem_files(&files.cert, &files.key)?,
        None => server,
    };
    let server = server.start(app).await?;
    println!("listening on {}/", args.url("http", server.local_addr()));
    server.wait().await
}
