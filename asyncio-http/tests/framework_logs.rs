//! What the framework logs: a handler's panic (the request, the task, the
//! message; nothing to the client) and the access log's one event per
//! request, with its request id.

use std::io;
use std::sync::{Arc, Mutex};

use asyncio_http::middleware::AccessLog;
use asyncio_http::testing::TestClient;
use asyncio_http::Router;

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

async fn boom() -> &'static str {
    panic!("the ledger is unbalanced")
}

async fn fine() -> &'static str {
    "fine"
}

#[test]
fn panics_and_requests_are_logged() {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    asyncio::run(async {
        let app = Router::new()
            .get("/boom", boom)
            .get("/fine", fine)
            .layer(AccessLog::new());
        let c = TestClient::new(app);
        let r = c.get("/boom").send().await;
        assert_eq!(r.status(), 500);
        assert!(!r.text().contains("ledger"));
        let ok = c.get("/fine").send().await;
        let id = ok.header("x-request-id").unwrap().to_owned();

        let text = log.text();
        let panic_line = text.lines().find(|l| l.contains("handler for")).expect(&text);
        assert!(panic_line.contains("GET /boom"), "{panic_line}");
        assert!(panic_line.contains("in task"), "{panic_line}");
        assert!(panic_line.contains("the ledger is unbalanced"), "{panic_line}");
        let access: Vec<&str> = text.lines().filter(|l| l.contains("asyncio_http::access")).collect();
        assert_eq!(access.len(), 2, "{text}");
        assert!(
            access[0].contains("status=500") && access[0].contains("path=/boom"),
            "{}",
            access[0]
        );
        assert!(access[1].contains(&format!("request_id={id}")), "{}", access[1]);
        assert!(
            access[1].contains("status=200") && access[1].contains("micros="),
            "{}",
            access[1]
        );
    });
}
