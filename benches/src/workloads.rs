//! Workload code shared between bench targets: [`shared_workloads!`](crate::shared_workloads)
//! (the workloads `compare` times and `instructions` counts),
//! [`runtime_modules!`](crate::runtime_modules) and [`per_runtime!`](crate::per_runtime)
//! (a workload macro expanded once per runtime, and one [`Run`](crate::Run)
//! per runtime of one workload function), and [`echo_streams`], the streams
//! echo handler of the `tcp_echo` and `seeds` benches.

use asyncio::net::{StreamReader, StreamWriter};

/// The read buffer of every echo server.
pub const ECHO_BUF: usize = 16 * 1024;

/// asyncio's streams echo handler, as Python's echo server is written: read
/// up to [`ECHO_BUF`] bytes, write them back, drain; until end of stream or
/// an error, then close.
pub async fn echo_streams(mut reader: StreamReader, writer: StreamWriter) {
    loop {
        let data = match reader.read(ECHO_BUF).await {
            Ok(data) if !data.is_empty() => data,
            _ => break,
        };
        writer.write(&data);
        if writer.drain().await.is_err() {
            break;
        }
    }
    writer.close();
}

/// Expands the workload macro `$workloads` (which takes a runtime adapter
/// type) once per runtime, each in a module of its own: by default the five
/// of [`RUNTIME_NAMES`](crate::RUNTIME_NAMES), as `rt_asyncio`, `rt_tokio_ct`,
/// `rt_smol_local`, `rt_tokio_mt` and `rt_smol_mt`; or the modules and
/// adapters listed (`runtime_modules!(w: on_asyncio = Asyncio, ...)`).
#[macro_export]
macro_rules! runtime_modules {
    ($workloads:ident) => {
        $crate::runtime_modules!(
            $workloads: rt_asyncio = Asyncio,
            rt_tokio_ct = TokioCt,
            rt_smol_local = SmolLocal,
            rt_tokio_mt = TokioMt,
            rt_smol_mt = SmolMt
        );
    };
    ($workloads:ident: $($module:ident = $rt:ident),+ $(,)?) => {
        $(
            mod $module {
                $workloads!($crate::$rt);
            }
        )+
    };
}

/// One [`Run`](crate::Run) per runtime module calling the same workload
/// function with the same arguments, as an array: by default the five modules
/// of [`runtime_modules!`](crate::runtime_modules), in
/// [`RUNTIME_NAMES`](crate::RUNTIME_NAMES) order, or the modules listed
/// (`per_runtime!(f(a, b) in rt_asyncio, rt_tokio_ct)`).
#[macro_export]
macro_rules! per_runtime {
    ($f:ident $args:tt) => {
        $crate::per_runtime!($f $args in rt_asyncio, rt_tokio_ct, rt_smol_local, rt_tokio_mt, rt_smol_mt)
    };
    ($f:ident $args:tt in $($module:ident),+) => {
        [$(Box::new(move || $module::$f $args) as $crate::Run<'_>),+]
    };
}

/// The workloads both bench targets run (`compare` times them, `instructions`
/// counts their instructions), written once. Expand inside a module that has
/// a `type R = <runtime adapter>;` and `std::time::Duration` in scope.
#[macro_export]
macro_rules! shared_workloads {
    () => {
        /// Spawns `n` empty tasks, then awaits each handle in order.
        pub fn spawn_await(n: usize) -> Duration {
            $crate::time_on::<R, _>(async move {
                let mut handles = Vec::with_capacity(n);
                for _ in 0..n {
                    handles.push(R::spawn(async {}));
                }
                for h in handles {
                    h.await;
                }
            })
        }

        /// One task per duration, each sleeping that long; awaits them all.
        pub fn timers(durations: &[Duration]) -> Duration {
            let durations = durations.to_vec();
            $crate::time_on::<R, _>(async move {
                let mut handles = Vec::with_capacity(durations.len());
                for d in durations {
                    handles.push(R::spawn(async move {
                        R::sleep(d).await;
                    }));
                }
                for h in handles {
                    h.await;
                }
            })
        }

        /// One task running `n` 60-second timeouts in sequence around a
        /// future that is pending once: each arms a timer, then cancels it.
        pub fn timer_churn(n: usize) -> Duration {
            $crate::time_on::<R, _>(async move {
                let worker = R::spawn(async move {
                    for _ in 0..n {
                        let r = R::timeout(Duration::from_secs(60), $crate::YieldOnce::new()).await;
                        assert!(r.is_ok(), "a 60 s timeout fired");
                    }
                });
                worker.await;
            })
        }

        /// One task running `n` 60-second timeouts in sequence around an
        /// already-ready future (no timer is armed).
        pub fn timeout_ready(n: usize) -> Duration {
            $crate::time_on::<R, _>(async move {
                let worker = R::spawn(async move {
                    for _ in 0..n {
                        let r = R::timeout(Duration::from_secs(60), std::future::ready(())).await;
                        assert!(r.is_ok(), "a 60 s timeout fired");
                    }
                });
                worker.await;
            })
        }
    };
}
