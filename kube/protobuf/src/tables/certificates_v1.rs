//! Descriptors of `certificates.k8s.io/v1`: CertificateSigningRequest, which `kubectl
//! certificate approve|deny` sends back with a condition added. `spec.extra` (a map of string
//! lists) is not described and so skipped; the approval keeps the stored spec anyway.
//!
//! Field numbers are those of k8s.io/api's `certificates/v1` protobuf definitions; the flags
//! follow the Go struct tags (see [`crate::descriptor`]).

use super::meta_v1;

message! { CERTIFICATE_SIGNING_REQUEST = "CertificateSigningRequest" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(CSR_SPEC);
    3 "status" msg(CSR_STATUS) omit;
}}
message! { CSR_SPEC = "CertificateSigningRequestSpec" {
    1 "request" bytes; 2 "username" str omit; 3 "uid" str omit; 4 "groups" str list omit;
    5 "usages" str list omit; 7 "signerName" str; 8 "expirationSeconds" i32 ptr omit;
}}
message! { CSR_STATUS = "CertificateSigningRequestStatus" {
    1 "conditions" msg(CSR_CONDITION) list omit; 2 "certificate" bytes omit;
}}
message! { CSR_CONDITION = "CertificateSigningRequestCondition" {
    1 "type" str; 2 "reason" str omit; 3 "message" str omit; 4 "lastUpdateTime" time omit;
    5 "lastTransitionTime" time omit; 6 "status" str;
}}
