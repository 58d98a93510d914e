//! The reactor through `AsyncFd`: readiness, edge-triggered re-arming,
//! hang-ups, and deregistration.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use asyncio::io::AsyncFd;

fn pair() -> (AsyncFd<UnixStream>, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    (AsyncFd::new(a).unwrap(), b)
}

#[test]
fn readiness_is_re_armed_after_would_block() {
    asyncio::run(async {
        let (a, mut b) = pair();
        let writer = std::thread::spawn(move || {
            for i in 0..50u8 {
                b.write_all(&[i]).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
            b
        });
        let mut got = Vec::new();
        while got.len() < 50 {
            let mut buf = [0u8; 16];
            let n = a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, (0..50).collect::<Vec<u8>>());
        drop(writer.join().unwrap());
        // Peer closed: readable with EOF.
        let n = a.read_with(|mut s| s.read(&mut [0u8; 4])).await.unwrap();
        assert_eq!(n, 0);
    });
}

#[test]
fn write_readiness_and_backpressure() {
    asyncio::run(async {
        let (a, mut b) = pair();
        // Fill the socket buffer until WouldBlock.
        let chunk = [7u8; 65536];
        let mut written = 0usize;
        loop {
            match a.get_ref().write(&chunk) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        a.clear_write_ready();
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let mut buf = vec![0u8; written];
            b.read_exact(&mut buf).unwrap();
            b
        });
        asyncio::timeout(Duration::from_secs(10), a.writable())
            .await
            .expect("writable again")
            .unwrap();
        drop(reader.join().unwrap());
    });
}

#[test]
fn two_tasks_wait_on_two_fds() {
    asyncio::run(async {
        let (a1, mut b1) = pair();
        let (a2, mut b2) = pair();
        let t1 = asyncio::create_task(async move { a1.readable().await.is_ok() });
        let t2 = asyncio::create_task(async move { a2.readable().await.is_ok() });
        asyncio::sleep(Duration::from_millis(5)).await;
        assert!(!t1.done() && !t2.done());
        b2.write_all(b"2").unwrap();
        assert!(t2.await.unwrap());
        assert!(!t1.done());
        b1.write_all(b"1").unwrap();
        assert!(t1.await.unwrap());
    });
}

#[test]
fn into_inner_deregisters() {
    asyncio::run(async {
        let lp = asyncio::get_running_loop();
        let (a, _b) = pair();
        assert!(format!("{lp:?}").contains("io_sources: 1"));
        let raw = a.into_inner();
        assert!(format!("{lp:?}").contains("io_sources: 0"));
        drop(raw);
    });
}
