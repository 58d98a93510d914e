//! `cargo run -p asyncio --example request_id`: a request id in every log line of a request, through context variables and `tracing`, without passing it around.
//!
//! Three requests are handled at once; their log lines interleave. Each
//! handler sets `REQUEST_ID` once, and the log formatter reads it: the
//! handler's own lines, those of a helper that knows nothing of requests,
//! of a task the handler starts, of a `call_later` callback it schedules
//! and of a blocking job it runs with `to_thread` (on another thread) all
//! carry the right id. Lines logged outside any request show `-`.
//!
//! This is asyncio's `contextvars` recipe (`request_id.set(...)` in the
//! handler, a `logging.Filter` reading it) with `tracing-subscriber`'s
//! formatter in place of the filter.

use std::fmt;
use std::time::Duration;

use asyncio::ContextVar;
use tracing::{info, Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The id of the request being handled, in whatever code runs for it.
static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");

/// Writes `[request 7] INFO message`, reading the id from the context.
struct WithRequestId;

impl<S, N> FormatEvent<S, N> for WithRequestId
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        match REQUEST_ID.get() {
            Some(id) => write!(writer, "[request {id}] ")?,
            None => write!(writer, "[request -] ")?,
        }
        write!(writer, "{:5} ", event.metadata().level())?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Knows nothing of requests; its lines carry the id all the same.
async fn query_database(table: &str) -> usize {
    info!(table, "query started");
    asyncio::sleep(Duration::from_millis(20)).await;
    info!(table, "query done");
    table.len()
}

async fn handle(id: u64, path: &'static str) -> usize {
    // Set once, at the top of the request: this task's context only.
    REQUEST_ID.set(id);
    info!(path, "request received");

    // A task started here inherits the id.
    let audit = asyncio::create_task(async move {
        asyncio::sleep(Duration::from_millis(5)).await;
        info!(path, "audit record written");
    });

    // So does a callback scheduled here.
    asyncio::get_running_loop().call_later(Duration::from_millis(10), || info!("slow-request timer checked"));

    let rows = query_database(path.trim_start_matches('/')).await;

    // And a blocking job on the default thread pool, on another thread.
    let checksum = asyncio::to_thread(move || {
        info!(
            rows,
            "checksum computed on {:?}",
            std::thread::current().name().unwrap_or("?")
        );
        rows * 31
    })
    .await
    .expect("the checksum job ran");

    audit.await.expect("the audit task ran");
    info!(checksum, "response sent");
    checksum
}

#[asyncio::main]
async fn main() {
    tracing_subscriber::fmt().event_format(WithRequestId).init();

    info!("server starting");
    let requests = [(1, "/users"), (2, "/orders"), (3, "/inventory")];
    let handlers: Vec<_> = requests
        .into_iter()
        .map(|(id, path)| asyncio::create_task(handle(id, path)))
        .collect();
    for h in handlers {
        h.await.expect("the handler ran");
    }
    // The handlers' ids stayed theirs.
    assert_eq!(REQUEST_ID.get(), None);
    info!("all requests served");
}
