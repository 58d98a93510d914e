//! The `tokio-compat` feature: tokio-only futures (tokio's timers, sockets,
//! `tokio::spawn`) awaited from asyncio tasks through the background tokio
//! runtime (run with `--features tokio-compat`). Every wait is on a signal,
//! never on elapsed time.
//!
//! The runtime is process-wide, so every test here shares the one it
//! starts; starting options and shutdown have their own binary
//! (`compat_tokio_shutdown.rs`).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use asyncio::compat::{run_on_tokio, with_tokio_context, THREAD_NAME};
use asyncio::executor::JobError;
use asyncio::ContextVar;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

/// True if the calling thread is inside some tokio runtime's context.
fn in_tokio_context() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// A one-line echo server on the running loop; its address.
async fn echo_server() -> (asyncio::net::Server, std::net::SocketAddr) {
    let server = asyncio::start_server(
        |mut r, w| async move {
            let line = r.readline().await?;
            w.write(&line);
            w.drain().await
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let addr = server.local_addrs()[0];
    (server, addr)
}

/// One line through a tokio `TcpStream` to `addr` and the echo back.
async fn tokio_echo(addr: std::net::SocketAddr, line: String) -> std::io::Result<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(line.as_bytes()).await?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).await?;
    Ok(reply)
}

#[test]
fn tokio_timer_awaited_from_a_task() {
    asyncio::run(async {
        let (thread, in_context) = run_on_tokio(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let t = std::thread::current();
            (t.name().map(str::to_owned), in_tokio_context())
        })
        .await
        .unwrap();
        assert_eq!(
            thread.as_deref(),
            Some(THREAD_NAME),
            "ran on the background runtime's thread"
        );
        assert!(in_context);
    });
}

#[test]
fn tokio_tcp_client_against_a_server_on_the_loop() {
    asyncio::run(async {
        let (server, addr) = echo_server().await;
        let reply = run_on_tokio(tokio_echo(addr, "hello\n".into())).await.unwrap().unwrap();
        assert_eq!(reply, "hello\n");
        server.close();
    });
}

#[test]
fn many_concurrent_calls_each_get_their_own_result() {
    asyncio::run(async {
        let (server, addr) = echo_server().await;
        // TCP round trips and bare futures, all in flight at once.
        let echoes = (0..50).map(|i| run_on_tokio(tokio_echo(addr, format!("line {i}\n"))));
        let bare = (0..1000u64).map(|i| run_on_tokio(async move { i * 2 }));
        let (echoes, bare) = asyncio::gather!(asyncio::gather(echoes), asyncio::gather(bare)).await;
        for (i, r) in echoes.into_iter().enumerate() {
            assert_eq!(r.unwrap().unwrap(), format!("line {i}\n"));
        }
        for (i, r) in (0..).zip(bare) {
            assert_eq!(r.unwrap(), i * 2);
        }
        server.close();
    });
}

#[test]
fn tokio_channels_cross_between_the_runtimes() {
    asyncio::run(async {
        // tokio -> loop: a tokio task produces, an asyncio task consumes
        // (tokio's channels need no runtime to be awaited).
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(4);
        let producer = run_on_tokio(async move {
            for i in 0..100 {
                tx.send(i).await.unwrap();
            }
        });
        let mut got = Vec::new();
        while let Some(i) = rx.recv().await {
            got.push(i);
        }
        producer.await.unwrap();
        assert_eq!(got, (0..100).collect::<Vec<_>>());

        // loop -> tokio: a tokio task waits for the loop's answer.
        let (tx, rx) = oneshot::channel::<&str>();
        let waiter = run_on_tokio(async move { rx.await.unwrap().len() });
        tx.send("from the loop").unwrap();
        assert_eq!(waiter.await.unwrap(), 13);
    });
}

/// Sends on its channel when dropped: proof that a future holding it was
/// dropped, whichever thread dropped it.
struct DropSignal(Option<oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.take().unwrap().send(());
    }
}

#[test]
fn dropping_the_awaiting_future_aborts_the_tokio_task() {
    asyncio::run(async {
        // Cancelling the asyncio task that awaits the call.
        let (started_tx, started_rx) = oneshot::channel();
        let (dropped_tx, dropped_rx) = oneshot::channel();
        let task = asyncio::create_task(run_on_tokio(async move {
            let _guard = DropSignal(Some(dropped_tx));
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        }));
        started_rx.await.unwrap();
        task.cancel();
        assert!(task.await.unwrap_err().is_cancelled());
        dropped_rx.await.expect("the tokio task's future was dropped");

        // Dropping the future directly, and through an expired timeout.
        for via_timeout in [false, true] {
            let (started_tx, started_rx) = oneshot::channel();
            let (dropped_tx, dropped_rx) = oneshot::channel();
            let call = run_on_tokio(async move {
                let _guard = DropSignal(Some(dropped_tx));
                started_tx.send(()).unwrap();
                std::future::pending::<()>().await;
            });
            started_rx.await.unwrap();
            if via_timeout {
                assert!(asyncio::timeout(Duration::ZERO, call).await.is_err());
            } else {
                assert!(!call.is_finished());
                drop(call);
            }
            dropped_rx.await.expect("the tokio task's future was dropped");
        }
    });
}

#[test]
fn a_panic_on_tokio_is_an_error_for_the_awaiter() {
    asyncio::run(async {
        let err = run_on_tokio(async { panic!("disk on fire") }).await.unwrap_err();
        assert!(matches!(err, JobError::Panicked(_)), "{err:?}");
        assert_eq!(err.panic_message(), Some("disk on fire"));
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"disk on fire"));

        // The runtime is still there for the next call.
        assert_eq!(run_on_tokio(async { 7 }).await.unwrap(), 7);
    });
}

#[test]
fn the_loop_serves_other_tasks_while_a_call_waits() {
    asyncio::run(async {
        // The tokio task can only finish after another task on the loop has
        // run to its end: the waiting call does not hold the loop.
        let (tx, rx) = oneshot::channel::<u32>();
        let call = asyncio::create_task(run_on_tokio(async move { rx.await.unwrap() + 1 }));
        let steps = Rc::new(Cell::new(0));
        let other = asyncio::create_task({
            let steps = steps.clone();
            async move {
                for _ in 0..100 {
                    steps.set(steps.get() + 1);
                    asyncio::yield_now().await;
                }
                tx.send(41).unwrap();
            }
        });
        assert_eq!(call.await.unwrap().unwrap(), 42);
        other.await.unwrap();
        assert_eq!(steps.get(), 100);
    });
}

#[test]
fn the_loop_thread_never_enters_tokio() {
    asyncio::run(async {
        assert!(!in_tokio_context());
        let inside = run_on_tokio(async { in_tokio_context() }).await.unwrap();
        assert!(inside, "the future runs in tokio's context");
        assert!(
            !in_tokio_context(),
            "awaiting a call leaves the loop's thread outside tokio"
        );

        // with_tokio_context enters only for the length of each poll.
        let polls = Rc::new(Cell::new(0u32));
        let seen = with_tokio_context({
            let polls = polls.clone();
            async move {
                let mut all_inside = true;
                for _ in 0..3 {
                    polls.set(polls.get() + 1);
                    all_inside &= in_tokio_context();
                    asyncio::yield_now().await;
                }
                all_inside
            }
        });
        let observer = asyncio::create_task({
            let polls = polls.clone();
            async move {
                // Polled between the wrapped future's polls, on the same
                // thread: the context must not leak into this task.
                let mut outside = true;
                while polls.get() < 3 {
                    outside &= !in_tokio_context();
                    asyncio::yield_now().await;
                }
                outside
            }
        });
        assert!(seen.await, "every poll of the wrapped future is inside tokio's context");
        assert!(observer.await.unwrap(), "no other task ever saw tokio's context");
        assert!(!in_tokio_context());
    });
}

#[test]
fn with_tokio_context_drives_tokio_io_beside_local_state() {
    asyncio::run(async {
        let (server, addr) = echo_server().await;
        let local = Rc::new(Cell::new(0)); // !Send: run_on_tokio could not take it
        let reply = with_tokio_context({
            let local = local.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                local.set(local.get() + 1);
                tokio_echo(addr, "local\n".into()).await
            }
        })
        .await
        .unwrap();
        assert_eq!(reply, "local\n");
        assert_eq!(local.get(), 1);
        server.close();
    });
}

#[test]
fn tokio_calls_on_the_loop_panic_and_the_error_names_the_way_out() {
    asyncio::run(async {
        let err = asyncio::create_task(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
        })
        .await
        .unwrap_err();
        let message = err.panic_message().unwrap();
        assert!(message.contains("there is no reactor running"), "{message}");
        let shown = err.to_string();
        assert!(shown.contains("asyncio::compat::run_on_tokio"), "{shown}");
    });
}

static REQUEST_ID: ContextVar<u32> = ContextVar::new("request_id");

#[test]
fn the_call_sees_its_callers_context_variables() {
    asyncio::run(async {
        REQUEST_ID.set(7);
        let seen = run_on_tokio(async {
            tokio::task::yield_now().await;
            REQUEST_ID.get()
        })
        .await
        .unwrap();
        assert_eq!(seen, Some(7));
    });
}
