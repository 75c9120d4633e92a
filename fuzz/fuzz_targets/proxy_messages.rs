//! The messages of a proxied request's stream: the request (hub to agent), the response head
//! (agent to hub) and body chunks (both ways). Whatever decodes must survive re-encoding.
#![no_main]

use cceone_proto::v1::{ProxyChunk, ProxyRequest, ProxyResponse};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(m) = M::decode(data) {
        let again = M::decode(m.encode_to_vec().as_slice()).expect("re-encoded message decodes");
        assert_eq!(again, m);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<ProxyRequest>(data);
    round_trip::<ProxyResponse>(data);
    round_trip::<ProxyChunk>(data);
});
