//! The Kubernetes protobuf request-body decoder (`k8s\0` envelope and the built-in kinds),
//! both on raw input and with the envelope magic in front.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cceone_kube_protobuf::decode(data);
    let mut enveloped = b"k8s\0".to_vec();
    enveloped.extend_from_slice(data);
    let _ = cceone_kube_protobuf::decode(&enveloped);
});
