//! The simulator's SPDY/3.1 framer (exec, attach and port-forward from kubectl <= 1.29 and
//! client-go), fed the input in pieces (the first byte picks the piece size). Every frame it
//! accepts must survive being written again by the encoder and read back by a fresh decoder.
#![no_main]

use cceone_kubesim_core::streams::spdy::{Decoder, Encoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(step.max(1));
    let mut d = Decoder::default();
    let (mut enc, mut again) = (Encoder::default(), Decoder::default());
    for piece in rest.chunks(step) {
        d.push(piece);
        loop {
            match d.next_frame() {
                Ok(Some(frame)) => {
                    if let Ok(bytes) = enc.encode(&frame) {
                        again.push(&bytes);
                        match again.next_frame() {
                            Ok(Some(back)) => assert_eq!(back, frame),
                            other => panic!("{frame:?} encoded and read back as {other:?}"),
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
