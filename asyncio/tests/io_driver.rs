//! The I/O drivers: each runs the same socket, pipe and `AsyncFd` work
//! with the same results, a loop asked for io_uring gets it where the
//! kernel allows it, and the environment variable picks the default.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use asyncio::io::{AsyncFd, Driver};

fn runner(driver: Driver) -> asyncio::Runner {
    asyncio::Runner::new().driver(driver)
}

fn drivers() -> Vec<Driver> {
    let mut v = vec![Driver::Readiness];
    match Driver::io_uring_available() {
        Ok(()) => v.push(Driver::IoUring),
        Err(e) => eprintln!("io_uring unavailable here, its cases skipped: {e}"),
    }
    v
}

#[test]
fn a_loop_gets_the_driver_it_asks_for() {
    for d in drivers() {
        let got = runner(d).run(async { asyncio::get_running_loop().driver() });
        assert_eq!(got, d);
    }
}

#[test]
fn tcp_echo_on_each_driver() {
    for d in drivers() {
        runner(d).run(async {
            let listener = asyncio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = asyncio::create_task(async move {
                let (s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 1 << 20];
                let mut total = 0;
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    s.write_all(&buf[..n]).await.unwrap();
                    total += n;
                }
                total
            });
            let c = std::rc::Rc::new(asyncio::net::TcpStream::connect(addr).await.unwrap());
            // More than the socket buffers hold: both sides wait for write
            // readiness as well as read readiness.
            let data: std::rc::Rc<Vec<u8>> = std::rc::Rc::new((0..4_000_000u32).map(|i| (i % 251) as u8).collect());
            let (c2, data2) = (c.clone(), data.clone());
            let send = asyncio::create_task(async move {
                c2.write_all(&data2).await.unwrap();
                c2.shutdown(std::net::Shutdown::Write).unwrap();
            });
            let mut got = Vec::new();
            let mut buf = vec![0u8; 65536];
            loop {
                let n = c.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            send.await.unwrap();
            assert_eq!(got.len(), data.len(), "{d:?}");
            assert!(got == *data, "{d:?}: echoed bytes differ");
            assert_eq!(server.await.unwrap(), data.len());
        });
    }
}

#[test]
fn asyncfd_read_readiness_and_hangup_on_each_driver() {
    for d in drivers() {
        runner(d).run(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            let a = AsyncFd::new(a).unwrap();
            let reader = asyncio::create_task(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 3];
                loop {
                    let n = a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
                    if n == 0 {
                        return got;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
            });
            asyncio::sleep(Duration::from_millis(1)).await;
            b.write_all(b"hello, ").unwrap();
            asyncio::sleep(Duration::from_millis(1)).await;
            b.write_all(b"world").unwrap();
            drop(b);
            assert_eq!(reader.await.unwrap(), b"hello, world", "{d:?}");
        });
    }
}

#[test]
fn dropping_a_stream_closes_it_at_once_on_each_driver() {
    // The peer sees end of stream without the loop turning again: the
    // io_uring driver removes its poll (which holds the file) right away.
    for d in drivers() {
        runner(d).run(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            let a = AsyncFd::new(a).unwrap();
            asyncio::sleep(Duration::from_millis(1)).await; // registered and armed
            drop(a);
            b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = [0u8; 1];
            assert_eq!(b.read(&mut buf).unwrap(), 0, "{d:?}");
        });
    }
}

#[test]
fn cross_thread_wakes_on_each_driver() {
    for d in drivers() {
        runner(d).run(async {
            for i in 0..200u32 {
                // Each result comes back through the loop's cross-thread
                // waker while the loop sleeps in its driver.
                let r = asyncio::to_thread(move || i * 2).await.unwrap();
                assert_eq!(r, i * 2, "{d:?}");
            }
        });
    }
}

#[test]
fn many_sources_on_each_driver() {
    // More registrations than the ring's submission queue holds in one go,
    // all readable at once.
    for d in drivers() {
        runner(d).run(async {
            let mut peers = Vec::new();
            let mut tasks = Vec::new();
            for _ in 0..600 {
                let (a, b) = UnixStream::pair().unwrap();
                a.set_nonblocking(true).unwrap();
                let a = AsyncFd::new(a).unwrap();
                tasks.push(asyncio::create_task(async move {
                    let mut buf = [0u8; 8];
                    a.read_with(|mut s| s.read(&mut buf)).await.unwrap()
                }));
                peers.push(b);
            }
            asyncio::sleep(Duration::from_millis(1)).await;
            for b in &mut peers {
                b.write_all(b"x").unwrap();
            }
            for t in tasks {
                assert_eq!(t.await.unwrap(), 1, "{d:?}");
            }
        });
    }
}

#[test]
fn the_environment_picks_the_default_driver() {
    // CI runs the whole suite a second time with ASYNCIO_DRIVER=io_uring:
    // this is the check that it really ran on io_uring (or says loudly why
    // not).
    let got = asyncio::run(async { asyncio::get_running_loop().driver() });
    match Driver::from_env() {
        None | Some(Driver::Readiness) => assert_eq!(got, Driver::Readiness),
        Some(_) => match Driver::io_uring_available() {
            Ok(()) => assert_eq!(got, Driver::IoUring),
            Err(e) => {
                eprintln!("*** ASYNCIO_DRIVER=io_uring, but this kernel refuses io_uring ({e}):");
                eprintln!("*** every loop of this run fell back to the readiness driver.");
                assert_eq!(got, Driver::Readiness);
            }
        },
    }
}

#[test]
fn a_runner_setting_beats_the_environment() {
    let got = runner(Driver::Readiness).run(async { asyncio::get_running_loop().driver() });
    assert_eq!(got, Driver::Readiness);
}

fn thread_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // utime and stime: fields 14 and 15, the 12th and 13th after the name.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn an_always_ready_file_does_not_spin_the_loop_on_each_driver() {
    // /dev/null cannot be polled: epoll refuses it, io_uring reports it
    // ready once and ends the poll. Either way the loop then sleeps.
    for d in drivers() {
        runner(d).run(async {
            let f = std::fs::File::open("/dev/null").unwrap();
            let Ok(fd) = AsyncFd::new(f) else {
                return; // the readiness driver: EPERM, nothing to watch
            };
            let mut buf = [0u8; 8];
            assert_eq!(fd.read_with(|mut f| f.read(&mut buf)).await.unwrap(), 0, "{d:?}");
            let before = thread_cpu_ticks();
            asyncio::sleep(Duration::from_millis(300)).await;
            let used = thread_cpu_ticks() - before;
            // A loop spinning through the sleep would use about 30 ticks.
            assert!(used < 10, "{d:?}: {used} ticks of CPU during a 300 ms sleep");
            drop(fd);
        });
    }
}

#[test]
fn a_consumed_socket_error_does_not_leave_reads_spinning_on_each_driver() {
    // A connected UDP socket sending to a closed port: the ICMP error is
    // reported by one receive; the next must wait (here, until a timeout
    // on the virtual clock), not poll in a circle inside one poll.
    for d in drivers() {
        asyncio::Runner::new().driver(d).virtual_time(true).run(async {
            let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = closed.local_addr().unwrap();
            drop(closed);
            let s = asyncio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            s.connect(port).await.unwrap();
            s.send(b"x").await.unwrap();
            let mut buf = [0u8; 8];
            let first = s.recv(&mut buf).await;
            assert_eq!(
                first.unwrap_err().kind(),
                std::io::ErrorKind::ConnectionRefused,
                "{d:?}"
            );
            let second = asyncio::timeout(Duration::from_secs(1), s.recv(&mut buf)).await;
            assert!(second.is_err(), "{d:?}: {second:?}");
        });
    }
}

#[test]
fn a_drop_closes_at_once_even_with_many_sources_busy_on_each_driver() {
    // With io_uring the cancel's task work queues behind the pending
    // readiness of every busy source; the peer must still see end of
    // stream before the loop turns again.
    for d in drivers() {
        runner(d).run(async {
            let mut busy = Vec::new();
            for _ in 0..300 {
                let (a, mut b) = UnixStream::pair().unwrap();
                a.set_nonblocking(true).unwrap();
                busy.push((AsyncFd::new(a).unwrap(), b.try_clone().unwrap()));
                b.write_all(b"x").unwrap();
            }
            let (a, mut peer) = UnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            let a = AsyncFd::new(a).unwrap();
            asyncio::sleep(Duration::from_millis(1)).await; // all armed
            for (_, b) in &mut busy {
                b.write_all(b"y").unwrap(); // readiness pending in the kernel
            }
            drop(a);
            peer.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 1];
            assert_eq!(peer.read(&mut buf).unwrap(), 0, "{d:?}: the peer is still open");
            drop(busy);
        });
    }
}
