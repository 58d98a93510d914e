//! The HTTP client's response decompression: chunk boundaries change
//! nothing, a size limit holds however far a body would inflate, and no
//! body a server sends makes the decoder panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|raw: &[u8]| asyncio_http::__fuzz::client_decode(raw));
