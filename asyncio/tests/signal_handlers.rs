//! Signals: delivered while the loop sleeps, handled as loop code, removed.
//! One test function: signal dispositions are process-wide, so the cases
//! run in order rather than in parallel threads.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncio::signal::{add_signal_handler, ctrl_c, recv, remove_signal_handler, SIGINT, SIGUSR1, SIGUSR2};

fn send(signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn signals_reach_the_loop() {
    asyncio::run(async {
        // 1. A signal arriving while the loop sleeps wakes it: the handler
        //    cancels a task sleeping for an hour.
        let sleeper = asyncio::create_task(asyncio::sleep(Duration::from_secs(3600)));
        let s = sleeper.task_ref();
        let hits = Rc::new(Cell::new(0));
        let h = hits.clone();
        add_signal_handler(SIGUSR1, move || {
            h.set(h.get() + 1);
            s.cancel();
        })
        .unwrap();
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            send("USR1");
        });
        let start = Instant::now();
        assert!(sleeper.await.unwrap_err().is_cancelled());
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(hits.get(), 1);

        // 2. Removed: no more calls (the signal is not ours to die of
        //    either: another listener keeps it handled meanwhile).
        assert!(remove_signal_handler(SIGUSR1));
        assert!(!remove_signal_handler(SIGUSR1));
        let keep_alive = asyncio::create_task(recv(SIGUSR1));
        asyncio::yield_now().await;
        send("USR1");
        keep_alive.await.unwrap().unwrap();
        asyncio::sleep(Duration::from_millis(20)).await;
        assert_eq!(hits.get(), 1);

        // 3. A handler replaced on the same loop: only the new one runs.
        let first = Rc::new(Cell::new(0));
        let second = Rc::new(Cell::new(0));
        let f = first.clone();
        add_signal_handler(SIGUSR2, move || f.set(f.get() + 1)).unwrap();
        let g = second.clone();
        add_signal_handler(SIGUSR2, move || g.set(g.get() + 1)).unwrap();
        asyncio::yield_now().await;
        send("USR2");
        let deadline = Instant::now() + Duration::from_secs(5);
        while second.get() == 0 && Instant::now() < deadline {
            asyncio::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!((first.get(), second.get()), (0, 1));
        remove_signal_handler(SIGUSR2);

        // 4. ctrl_c() resolves on SIGINT instead of ending the program.
        let waiting = asyncio::create_task(ctrl_c());
        asyncio::yield_now().await;
        send("INT");
        asyncio::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("ctrl_c resolved")
            .unwrap()
            .unwrap();

        // 5. Signals that cannot be handled are an error.
        assert!(add_signal_handler(9, || {}).is_err());
    });
    // SIGINT's default action is back: not tested here (it would end the
    // test process); the listener count that restores it is.
    let _ = SIGINT;
}
