//! Cookies: read from the request, set and removed on the response.

use asyncio_http::cookies::{self, Cookie, Cookies, SameSite};
use asyncio_http::testing::TestClient;
use asyncio_http::{IntoResponse, Response, Router};

async fn visit(jar: Cookies) -> Response {
    let n: u32 = jar.get("visits").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut r = format!("visit {} of {} cookies", n + 1, jar.len()).into_response();
    cookies::set(
        &mut r,
        Cookie::build(("visits", (n + 1).to_string()))
            .path("/")
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Strict)
            .max_age(cookie::time::Duration::hours(1))
            .build(),
    );
    cookies::set(&mut r, Cookie::new("theme", "dark mode"));
    r
}

async fn logout() -> Response {
    let mut r = "bye".into_response();
    cookies::remove(&mut r, "session", "/");
    r
}

#[test]
fn cookies_in_and_out() {
    asyncio::run(async {
        let c = TestClient::new(Router::new().get("/", visit).get("/logout", logout));
        let r = c.get("/").send().await;
        assert_eq!(r.text(), "visit 1 of 0 cookies");
        let set: Vec<&str> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(set.len(), 2);
        let visits = set[0];
        for part in [
            "visits=1",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(visits.contains(part), "{visits} lacks {part}");
        }
        assert_eq!(set[1], "theme=dark%20mode", "values are percent-encoded");

        let r = c.get("/").header("cookie", "visits=41; theme=light").send().await;
        assert_eq!(r.text(), "visit 42 of 2 cookies");
        let r = c.get("/").header("cookie", "garbage; visits=2; =x").send().await;
        assert!(r.text().starts_with("visit 3"), "bad pairs are skipped: {}", r.text());

        let r = c.get("/logout").send().await;
        let removal = r.header("set-cookie").unwrap();
        assert!(
            removal.starts_with("session=;") && removal.contains("Max-Age=0"),
            "{removal}"
        );
    });
}
