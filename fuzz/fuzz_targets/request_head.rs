//! A raw HTTP/1.x request head: the framing (request smuggling), `Host` and
//! request-target checks asyncio-http adds to hyper's parsing.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| asyncio_http::__fuzz::request_head(data));
