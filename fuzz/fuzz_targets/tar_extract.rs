//! `kubectl cp` into a simulated pod: the tar extractor run on arbitrary archives (it must
//! refuse, never panic or write outside its limits), then the result archived again.
#![no_main]

use cceone_kubesim_core::streams::fs::Fs;
use cceone_kubesim_core::streams::tar;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut fs = Fs::seeded("pod", "default", "10.0.0.1");
    if tar::extract(&mut fs, "/tmp", data).is_ok() {
        let _ = tar::create(&fs, "/", "/tmp");
    }
});
