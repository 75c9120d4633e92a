//! `AgentMessage` decoding: Agent-to-hub control messages. Whatever decodes must survive re-encoding.
#![no_main]

use cceone_proto::v1::AgentMessage;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = AgentMessage::decode(data) {
        let again =
            AgentMessage::decode(m.encode_to_vec().as_slice()).expect("re-encoded message decodes");
        assert_eq!(again, m);
    }
});
