//! Running out of file descriptors at accept: the server rests instead of
//! spinning, and serves again once descriptors are free. A file of its own:
//! it exhausts the whole process's descriptor table.

use std::fs::File;
use std::time::Duration;

use asyncio::net::{start_server, StreamReader, StreamWriter, TcpStream};

/// CPU time (user + system) this process used so far, read through a file
/// opened beforehand (no descriptor is free while we measure).
fn cpu_time(stat_file: &File) -> Duration {
    use std::os::unix::fs::FileExt;
    let mut raw = vec![0u8; 4096];
    let n = stat_file.read_at(&mut raw, 0).unwrap();
    let stat = String::from_utf8_lossy(&raw[..n]).into_owned();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // Fields 14 and 15 of stat (utime, stime), counted from after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

#[test]
fn out_of_descriptors_at_accept_does_not_spin() {
    asyncio::run(async {
        let server = start_server(
            |mut r: StreamReader, w: StreamWriter| async move {
                let line = r.readline().await?;
                w.write(&line);
                w.close();
                w.wait_closed().await
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let addr = server.local_addrs()[0];

        let stat_file = File::open("/proc/self/stat").unwrap();
        // Use up every descriptor, then free exactly one for the client.
        let mut hoard = Vec::new();
        loop {
            match File::open("/dev/null") {
                Ok(f) => hoard.push(f),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(24), "expected EMFILE, got {e}");
                    break;
                }
            }
        }
        hoard.pop();
        let client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"hello\n").await.unwrap();

        // The connection waits in the backlog; accept fails with EMFILE.
        let before = cpu_time(&stat_file);
        asyncio::sleep(Duration::from_millis(600)).await;
        let used = cpu_time(&stat_file) - before;
        assert!(
            used < Duration::from_millis(250),
            "the loop spun: {used:?} of CPU in 600 ms"
        );

        // Free descriptors: the server accepts and answers.
        drop(hoard);
        let mut buf = [0u8; 6];
        let mut got = 0;
        let deadline = asyncio::time::Instant::now() + Duration::from_secs(5);
        while got < 6 {
            let n = asyncio::timeout_at(deadline, client.read(&mut buf[got..]))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0);
            got += n;
        }
        assert_eq!(&buf, b"hello\n");
        server.close();
    });
}
