//! Every message a peer can send decodes random bytes without panicking, and whatever decodes
//! re-encodes to something that decodes to the same message.
#![allow(clippy::unwrap_used)]

use cceone_proto::v1;
use proptest::prelude::*;
use prost::Message;

fn check<M: Message + Default + PartialEq>(data: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(m) = M::decode(data) {
        let again = M::decode(m.encode_to_vec().as_slice()).unwrap();
        prop_assert!(again == m);
    }
    Ok(())
}

/// Random protobuf-shaped bytes: fields 1..=8 of every wire type, so decoders get past the
/// first tag more often than with uniform noise.
fn protobuf_shaped() -> impl Strategy<Value = Vec<u8>> {
    let field = (
        1u8..=8,
        0u8..=5,
        proptest::collection::vec(any::<u8>(), 0..24),
    )
        .prop_map(|(num, wire, payload)| {
            let mut out = vec![(num << 3) | wire];
            if wire == 2 {
                out.push(payload.len() as u8);
            }
            out.extend(payload);
            out
        });
    proptest::collection::vec(field, 0..8).prop_map(|fs| fs.concat())
}

proptest! {
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
        check::<v1::StreamOpen>(&data)?;
        check::<v1::AgentMessage>(&data)?;
        check::<v1::HubMessage>(&data)?;
        check::<v1::ProxyRequest>(&data)?;
        check::<v1::ProxyResponse>(&data)?;
        check::<v1::ProxyChunk>(&data)?;
    }

    #[test]
    fn protobuf_shaped_bytes_never_panic(data in protobuf_shaped()) {
        check::<v1::StreamOpen>(&data)?;
        check::<v1::AgentMessage>(&data)?;
        check::<v1::HubMessage>(&data)?;
        check::<v1::ProxyRequest>(&data)?;
        check::<v1::ProxyResponse>(&data)?;
        check::<v1::ProxyChunk>(&data)?;
    }
}
