//! `StreamOpen` decoding: The first message of every stream (hub to agent). Whatever decodes must survive re-encoding.
#![no_main]

use cceone_proto::v1::StreamOpen;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = StreamOpen::decode(data) {
        let again =
            StreamOpen::decode(m.encode_to_vec().as_slice()).expect("re-encoded message decodes");
        assert_eq!(again, m);
    }
});
