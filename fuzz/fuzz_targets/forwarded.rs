//! `X-Forwarded-For` / `-Proto` behind trusted proxies: never believed from
//! an untrusted peer, never a panic on what a client makes up.
#![no_main]

use std::net::IpAddr;

#[derive(arbitrary::Arbitrary, Debug)]
struct Input {
    trusted: Vec<String>,
    peer: IpAddr,
    xff: Vec<Vec<u8>>,
    proto: Vec<Vec<u8>>,
}

libfuzzer_sys::fuzz_target!(|i: Input| {
    let trusted: Vec<&str> = i.trusted.iter().map(String::as_str).collect();
    let xff: Vec<&[u8]> = i.xff.iter().map(Vec::as_slice).collect();
    let proto: Vec<&[u8]> = i.proto.iter().map(Vec::as_slice).collect();
    asyncio_http::__fuzz::forwarded(&trusted, i.peer, &xff, &proto)
});
