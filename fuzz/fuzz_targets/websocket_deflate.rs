//! Per-message deflate: an extension offer negotiated, then arbitrary
//! frames through the server's inflating side.
#![no_main]

#[derive(arbitrary::Arbitrary, Debug)]
struct Input {
    offer: Vec<u8>,
    wire: Vec<u8>,
    cuts: Vec<u8>,
}

libfuzzer_sys::fuzz_target!(|i: Input| { asyncio_http::__fuzz::websocket_deflate(&i.offer, &i.wire, &i.cuts) });
