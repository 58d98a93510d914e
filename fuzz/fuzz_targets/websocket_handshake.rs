//! A WebSocket upgrade request's headers: accepted only as RFC 6455 says,
//! the offered subprotocols split cleanly.
#![no_main]

#[derive(arbitrary::Arbitrary, Debug)]
struct Input {
    upgrade: Vec<u8>,
    connection: Vec<u8>,
    version: Vec<u8>,
    key: Option<Vec<u8>>,
    protocols: Vec<u8>,
}

libfuzzer_sys::fuzz_target!(|i: Input| {
    asyncio_http::__fuzz::websocket_handshake(&i.upgrade, &i.connection, &i.version, i.key.as_deref(), &i.protocols)
});
