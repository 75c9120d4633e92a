//! The CA keeps its identity across loads, signs with subjects of its own choosing, and tells
//! cluster certificates from user certificates.

use std::time::Duration;

use rcgen::{CertificateParams, DnType, KeyPair};
use x509_parser::prelude::*;

use super::*;

fn der_of(pem_text: &str) -> Vec<u8> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem_text.as_bytes()).unwrap();
    pem.contents
}

/// A CSR asking for a subject and SAN of its own.
fn csr(cn: &str) -> (String, KeyPair) {
    let mut params = CertificateParams::new(vec!["evil.example".to_string()]).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    let key = KeyPair::generate().unwrap();
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    (pem, key)
}

fn fresh() -> HubCa {
    HubCa::generate().unwrap().0
}

#[test]
fn generated_once_then_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pki");
    let a = HubCa::load_or_generate(&path).unwrap();
    let b = HubCa::load_or_generate(&path).unwrap();
    assert_eq!(a.ca_pem(), b.ca_pem());
    assert!(a.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path.join("ca.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Certificates signed after a reload chain to the same CA.
    let (pem, _) = csr("x");
    let (cert, _) = b
        .sign_cluster_csr(&pem, "demo", Duration::from_secs(60))
        .unwrap();
    let ca_der = der_of(a.ca_pem());
    let (_, ca) = parse_x509_certificate(&ca_der).unwrap();
    let der = der_of(&cert);
    let (_, leaf) = parse_x509_certificate(&der).unwrap();
    leaf.verify_signature(Some(ca.public_key())).unwrap();
    assert!(format!("{a:?}").contains("masked") && !format!("{a:?}").contains("PRIVATE"));
}

#[test]
fn half_a_ca_is_refused_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.crt"), "x").unwrap();
    assert!(matches!(
        HubCa::load_or_generate(dir.path()),
        Err(PlatformError::BadPem(_))
    ));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ca.crt")).unwrap(),
        "x"
    );
    // A key from another CA is refused.
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    HubCa::load_or_generate(a.path()).unwrap();
    HubCa::load_or_generate(b.path()).unwrap();
    std::fs::copy(b.path().join("ca.key"), a.path().join("ca.key")).unwrap();
    let err = HubCa::load_or_generate(a.path()).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");
    let dir2 = tempfile::tempdir().unwrap();
    std::fs::write(dir2.path().join("ca.crt"), "garbage").unwrap();
    std::fs::write(dir2.path().join("ca.key"), "garbage").unwrap();
    assert!(HubCa::load_or_generate(dir2.path()).is_err());
}

#[test]
fn the_subject_comes_from_us_not_the_csr() {
    let ca = fresh();
    let (pem, key) = csr("other");
    let before = OffsetDateTime::now_utc().unix_timestamp();
    let (cert_pem, not_after) = ca
        .sign_cluster_csr(&pem, "demo", Duration::from_secs(3600))
        .unwrap();
    assert!(
        (before + 3590..=before + 3610).contains(&not_after),
        "{not_after}"
    );
    let der = der_of(&cert_pem);
    let (_, cert) = parse_x509_certificate(&der).unwrap();
    let cns: Vec<_> = cert
        .subject()
        .iter_common_name()
        .map(|c| c.as_str().unwrap())
        .collect();
    let orgs: Vec<_> = cert
        .subject()
        .iter_organization()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(cns, ["demo"]);
    assert_eq!(orgs, [CLUSTERS_ORG]);
    assert_eq!(cert.validity().not_after.timestamp(), not_after);
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert!(
        cert.subject_alternative_name().unwrap().is_none(),
        "no SANs copied from the CSR"
    );
    assert!(!cert.is_ca());
    // The certificate is for the CSR's key.
    assert_eq!(
        cert.public_key().subject_public_key.data.as_ref(),
        key.public_key_raw()
    );
    assert_eq!(cluster_of_cert(&der).as_deref(), Some("demo"));
}

#[test]
fn bad_requests_are_errors() {
    let ca = fresh();
    let (pem, _) = csr("x");
    for bad in [
        "",
        "garbage",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    ] {
        assert!(
            ca.sign_cluster_csr(bad, "demo", Duration::from_secs(60))
                .is_err(),
            "{bad:?}"
        );
    }
    // A CSR whose signature does not match its content.
    let tampered = pem.replacen("MII", "MIJ", 1);
    assert!(
        ca.sign_cluster_csr(&tampered, "demo", Duration::from_secs(60))
            .is_err()
    );
    assert!(
        ca.sign_cluster_csr(&pem, "Not A Name", Duration::from_secs(60))
            .is_err()
    );
    assert!(ca.sign_cluster_csr(&pem, "demo", Duration::ZERO).is_err());
    assert!(
        ca.sign_cluster_csr(&pem, "demo", Duration::from_secs(u64::MAX))
            .is_err()
    );
}

#[test]
fn user_certificates_are_not_cluster_certificates() {
    let ca = fresh();
    let groups = vec!["dev".to_string()];
    let (cert_pem, key_pem) = ca
        .sign_user("alice", &groups, Duration::from_secs(60))
        .unwrap();
    assert!(key_pem.contains("PRIVATE KEY"));
    let der = der_of(&cert_pem);
    let (_, cert) = parse_x509_certificate(&der).unwrap();
    let orgs: Vec<_> = cert
        .subject()
        .iter_organization()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(orgs, ["dev"]);
    let two = ["dev".to_string(), "ops".to_string()];
    assert!(
        ca.sign_user("alice", &two, Duration::from_secs(60))
            .is_err()
    );
    assert_eq!(cluster_of_cert(&der), None);
    assert!(
        ca.sign_user(
            "alice",
            &[CLUSTERS_ORG.to_string()],
            Duration::from_secs(60)
        )
        .is_err()
    );
    assert!(
        ca.sign_user("alice", &[HUBS_ORG.to_string()], Duration::from_secs(60))
            .is_err()
    );
    assert!(ca.sign_user("", &[], Duration::from_secs(60)).is_err());
    assert_eq!(cluster_of_cert(b"not a certificate"), None);
    assert_eq!(cluster_of_cert(&der_of(ca.ca_pem())), None);
}

#[test]
fn serving_certificate_names() {
    let ca = fresh();
    let names = vec!["hub.example.com".to_string(), "10.1.2.3".to_string()];
    let (cert_pem, _) = ca.serving_cert(&names).unwrap();
    let der = der_of(&cert_pem);
    let (_, cert) = parse_x509_certificate(&der).unwrap();
    let sans = cert.subject_alternative_name().unwrap().unwrap().value;
    let text: Vec<String> = sans.general_names.iter().map(|n| format!("{n}")).collect();
    let joined = text.join(",");
    for want in [
        "DNSName(localhost)",
        "IPAddress(7f:00:00:01)",
        "DNSName(hub.example.com)",
        "IPAddress(0a:01:02:03)",
    ] {
        assert!(joined.contains(want), "{joined}");
    }
    assert!(
        cert.extended_key_usage()
            .unwrap()
            .unwrap()
            .value
            .server_auth
    );
    assert!(ca.serving_cert(&["bad name!".to_string()]).is_err());
}

#[test]
fn hub_peer_certificates_and_a_shared_ca() {
    let (ca, key_pem) = HubCa::generate().unwrap();
    let (cert_pem, _) = ca.sign_hub_peer("hub-a", Duration::from_secs(60)).unwrap();
    let der = der_of(&cert_pem);
    let (_, cert) = parse_x509_certificate(&der).unwrap();
    let orgs: Vec<_> = cert
        .subject()
        .iter_organization()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(orgs, [HUBS_ORG]);
    assert_eq!(cluster_of_cert(&der), None);
    assert!(ca.sign_hub_peer("", Duration::from_secs(60)).is_err());
    // The same CA loaded from its PEM (as another hub reads it from the shared Secret).
    let again = HubCa::from_pem(ca.ca_pem(), &key_pem).unwrap();
    assert_eq!(again.ca_pem(), ca.ca_pem());
    let (other, other_key) = HubCa::generate().unwrap();
    assert!(HubCa::from_pem(ca.ca_pem(), &other_key).is_err());
    assert!(HubCa::from_pem(other.ca_pem(), "not a key").is_err());
}
