//! The tunnel's gRPC frame decoder, fed the input in pieces (the first byte picks the piece
//! size), and every whole frame decoded as each message a peer may send on a stream.
#![no_main]

use cceone_proto::v1;
use cceone_tunnel::frame::Decoder;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(step.max(1));
    let mut d = Decoder::default();
    for piece in rest.chunks(step) {
        d.push(piece);
        loop {
            match d.next_frame() {
                Ok(Some(frame)) => {
                    let _ = v1::StreamOpen::decode(frame.clone());
                    let _ = v1::AgentMessage::decode(frame.clone());
                    let _ = v1::HubMessage::decode(frame.clone());
                    let _ = v1::ProxyResponse::decode(frame.clone());
                    let _ = v1::ProxyChunk::decode(frame);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = d.finish();
});
