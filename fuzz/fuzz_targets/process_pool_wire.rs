//! The process pool's pipe protocol (length-prefixed postcard frames) read
//! from arbitrary bytes, as a pool reads a crashed or foreign worker.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| asyncio::__fuzz::process_pool_wire(data));
