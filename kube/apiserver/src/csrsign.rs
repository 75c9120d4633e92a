//! The built-in signers of `certificates.k8s.io`, as kube-controller-manager's csrsigning
//! controller runs them (`pkg/controller/certificates/signer/signer.go`, its
//! `authority.go`): an approved request for `kubernetes.io/kube-apiserver-client` (or
//! `-client-kubelet`, `kubelet-serving`, `legacy-unknown`) is signed by the cluster CA, with
//! the requested subject and usages, valid from five minutes ago for
//! `spec.expirationSeconds` (at most a year, `--cluster-signing-duration`).

use base64::Engine as _;
use rcgen::{
    CertificateSigningRequestParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;

/// Signers the cluster CA signs for.
const SIGNERS: &[&str] = &[
    "kubernetes.io/kube-apiserver-client",
    "kubernetes.io/kube-apiserver-client-kubelet",
    "kubernetes.io/kubelet-serving",
    "kubernetes.io/legacy-unknown",
];
/// `--cluster-signing-duration`'s default.
const MAX_SECONDS: i64 = 365 * 24 * 3600;
/// Certificates start this long before they are signed, for clock skew (`backdate`).
const BACKDATE_SECONDS: i64 = 5 * 60;

/// Whether `csr` is approved (and neither denied nor failed) for a built-in signer and has no
/// certificate yet.
pub(crate) fn due(csr: &Value) -> bool {
    let has = |t: &str| {
        csr.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.get("type").and_then(Value::as_str) == Some(t))
            })
    };
    let signer = csr.pointer("/spec/signerName").and_then(Value::as_str);
    signer.is_some_and(|s| SIGNERS.contains(&s))
        && has("Approved")
        && !has("Denied")
        && !has("Failed")
        && csr
            .pointer("/status/certificate")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
}

/// The certificate for `csr` (PEM, base64-encoded as `status.certificate` holds it) signed by
/// the CA `ca_cert`/`ca_key` at `now` (Unix seconds), or None when the request does not parse.
pub(crate) fn sign(ca_cert: &str, ca_key: &str, csr: &Value, now: i64) -> Option<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let request = b64.decode(csr.pointer("/spec/request")?.as_str()?).ok()?;
    let mut params =
        CertificateSigningRequestParams::from_pem(std::str::from_utf8(&request).ok()?).ok()?;
    let seconds = csr
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .map_or(MAX_SECONDS, |s| s.clamp(600, MAX_SECONDS));
    let p = &mut params.params;
    p.is_ca = IsCa::ExplicitNoCa;
    p.not_before = time::OffsetDateTime::from_unix_timestamp(now - BACKDATE_SECONDS).ok()?;
    p.not_after = time::OffsetDateTime::from_unix_timestamp(now + seconds).ok()?;
    p.key_usages.clear();
    p.extended_key_usages.clear();
    let usages = csr.pointer("/spec/usages").and_then(Value::as_array);
    for u in usages.into_iter().flatten().filter_map(Value::as_str) {
        match u {
            "client auth" => p
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth),
            "server auth" => p
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth),
            "digital signature" => p.key_usages.push(KeyUsagePurpose::DigitalSignature),
            "key encipherment" => p.key_usages.push(KeyUsagePurpose::KeyEncipherment),
            _ => {}
        }
    }
    let key = KeyPair::from_pem(ca_key).ok()?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert, &key).ok()?;
    let cert = params.signed_by(&issuer).ok()?;
    Some(b64.encode(cert.pem()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn approved_requests_for_built_in_signers_are_signed_with_their_subject() {
        let pki = crate::tls::Pki::load_or_generate(None, &[]).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "alice");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "dev");
        let request = params.serialize_request(&key).unwrap().pem().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut csr = json!({"spec": {"request": b64.encode(request), "usages": ["client auth"],
            "signerName": "kubernetes.io/kube-apiserver-client"},
            "status": {"conditions": [{"type": "Approved", "status": "True"}]}});
        assert!(due(&csr));
        let cert = sign(&pki.ca_cert, &pki.ca_key, &csr, 1_800_000_000).unwrap();
        let pem = b64.decode(cert).unwrap();
        let der = rustls_pemfile::certs(&mut &pem[..])
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(
            crate::tls::identity_of(&der),
            Some(("alice".to_string(), vec!["dev".to_string()]))
        );
        csr["spec"]["signerName"] = json!("example.com/other");
        assert!(!due(&csr));
    }
}
