//! Server-Sent Events encoding: whatever a handler puts in an event, a
//! client's parser (WHATWG's algorithm) reads back exactly it, and no text
//! forges another field or event.
#![no_main]

#[derive(arbitrary::Arbitrary, Debug)]
struct Input {
    data: Option<String>,
    event: Option<String>,
    id: Option<String>,
    comment: Option<String>,
}

libfuzzer_sys::fuzz_target!(|i: Input| {
    asyncio_http::__fuzz::sse_event(
        i.data.as_deref(),
        i.event.as_deref(),
        i.id.as_deref(),
        i.comment.as_deref(),
    )
});
