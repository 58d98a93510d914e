//! Static files: the request path's cleaning (nothing climbs out of the
//! root), `Range` parsing (a range served is inside the file) and
//! `If-None-Match` lists.
#![no_main]

#[derive(arbitrary::Arbitrary, Debug)]
struct Input {
    path: String,
    range: String,
    len: u64,
    list: String,
    tag: String,
}

libfuzzer_sys::fuzz_target!(|i: Input| {
    asyncio_http::__fuzz::static_file(&i.path, &i.range, i.len, &i.list, &i.tag)
});
