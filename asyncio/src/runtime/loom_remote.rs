//! Loom model of the remote-wake-versus-park handshake (`remote.rs`): a
//! thread that pushes while the loop is deciding to sleep must never leave
//! the loop asleep with work queued. The "epoll_wait" is a condition
//! variable that the pusher's wake sets; loom explores every interleaving and
//! fails on the one where the loop blocks forever.

use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use super::remote::RemoteQueue;

struct Driver {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Driver {
    fn wake(&self) {
        *self.woken.lock().unwrap() = true;
        self.cv.notify_one();
    }

    /// Blocks until woken (an infinite epoll timeout), or returns at once.
    fn wait(&self, may_block: bool) {
        let mut woken = self.woken.lock().unwrap();
        if may_block {
            while !*woken {
                woken = self.cv.wait(woken).unwrap();
            }
        }
        *woken = false;
    }
}

fn model(pushers: usize) {
    loom::model(move || {
        let q = Arc::new(RemoteQueue::<u32>::new());
        let d = Arc::new(Driver {
            woken: Mutex::new(false),
            cv: Condvar::new(),
        });
        let handles: Vec<_> = (0..pushers)
            .map(|i| {
                let (q, d) = (q.clone(), d.clone());
                thread::spawn(move || {
                    q.push(i as u32, || d.wake()).unwrap();
                })
            })
            .collect();
        let mut got = Vec::new();
        while got.len() < pushers {
            q.drain_into(&mut got);
            if got.len() == pushers {
                break;
            }
            q.park(|may_block| d.wait(may_block));
        }
        for h in handles {
            h.join().unwrap();
        }
        got.sort();
        assert_eq!(got, (0..pushers as u32).collect::<Vec<_>>());
    });
}

#[test]
fn one_remote_wake_never_lost() {
    model(1);
}

#[test]
fn two_remote_wakes_never_lost() {
    model(2);
}
