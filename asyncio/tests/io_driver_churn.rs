//! Connection churn on each I/O driver leaks no descriptor. Its own test
//! binary: it counts the process's open descriptors, which tests running
//! beside it would change.

use asyncio::io::Driver;

fn drivers() -> Vec<Driver> {
    let mut v = vec![Driver::Readiness];
    match Driver::io_uring_available() {
        Ok(()) => v.push(Driver::IoUring),
        Err(e) => eprintln!("io_uring unavailable here, its case skipped: {e}"),
    }
    v
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

#[test]
fn connection_churn_leaks_nothing_on_each_driver() {
    // Registrations come and go much faster than the loop turns: slots are
    // reused under new generations while the old polls' cancellations are
    // still being reaped; every descriptor must be closed at the end, and
    // no stale completion may reach a new registration.
    for d in drivers() {
        asyncio::Runner::new().driver(d).run(async {
            let listener = asyncio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let before = open_fds();
            for i in 0..1_000u32 {
                let c = asyncio::net::TcpStream::connect(addr).await.unwrap();
                let (s, _) = listener.accept().await.unwrap();
                c.write_all(&i.to_le_bytes()).await.unwrap();
                let mut buf = [0u8; 4];
                let mut got = 0;
                while got < 4 {
                    got += s.read(&mut buf[got..]).await.unwrap();
                }
                assert_eq!(u32::from_le_bytes(buf), i, "{d:?}");
                drop(c);
                // The server side sees end of stream, not a stale event.
                assert_eq!(s.read(&mut buf).await.unwrap(), 0, "{d:?}");
            }
            assert_eq!(open_fds(), before, "{d:?}: descriptors leaked");
        });
    }
}
