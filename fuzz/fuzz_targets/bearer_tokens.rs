//! Tokens callers present: bootstrap tokens (`/v1/register`) and proxy bearer tokens
//! (`Authorization` on `/clusters/<name>/proxy/...`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = cceone_platform::token::parse(s);
    let _ = cceone_platform::proxytoken::parse(s);
});
