//! The hub's certificate authority: generated with rcgen on first start and kept in a
//! directory (`ca.crt`, `ca.key`), it signs the hub's serving certificate, the client
//! certificates of registered clusters (from their CSRs, with a subject *we* choose) and user
//! certificates for proxy kubeconfigs.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;

use crate::secret::random_bytes;
use crate::{CLUSTERS_ORG, PlatformError, validate_cluster_name};

/// The organisation of the certificates hubs present to each other (several hubs of one
/// federation forwarding proxied requests over mutual TLS): reserved, never in a user's or a
/// cluster's certificate.
pub const HUBS_ORG: &str = "cceone:hubs";

/// Common name of the generated CA.
const CA_CN: &str = "cceone-hub-ca";
/// Lifetime of a generated CA.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Lifetime of a serving certificate.
const SERVING_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Certificates start this much in the past, for clocks slightly behind ours (their issue time
/// is notBefore plus this).
pub const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// The hub's CA. `Debug` never shows the key.
pub struct HubCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl HubCa {
    /// A CA from its certificate and key (PEM), as kept where several hubs share it; the key
    /// must belong to the certificate.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PlatformError> {
        let key_pair = KeyPair::from_pem(key_pem).map_err(PlatformError::cert("key load"))?;
        check_key_matches(cert_pem, &key_pair)?;
        let issuer =
            Issuer::from_ca_cert_pem(cert_pem, key_pair).map_err(PlatformError::cert("CA load"))?;
        Ok(HubCa {
            cert_pem: cert_pem.to_string(),
            issuer,
        })
    }

    /// Load `dir/ca.crt` and `dir/ca.key`, or generate both when neither exists (the key file
    /// is written with mode 0600). Exactly one of them existing is an error, never overwritten.
    pub fn load_or_generate(dir: &Path) -> Result<Self, PlatformError> {
        let (crt, key) = (dir.join("ca.crt"), dir.join("ca.key"));
        match (crt.exists(), key.exists()) {
            (true, true) => {
                let read = |p: &Path| {
                    std::fs::read_to_string(p).map_err(|source| PlatformError::Io {
                        path: p.to_path_buf(),
                        source,
                    })
                };
                let (cert_pem, key_pem) = (read(&crt)?, read(&key)?);
                let key_pair =
                    KeyPair::from_pem(&key_pem).map_err(PlatformError::cert("key load"))?;
                check_key_matches(&cert_pem, &key_pair)?;
                let issuer = Issuer::from_ca_cert_pem(&cert_pem, key_pair)
                    .map_err(PlatformError::cert("CA load"))?;
                Ok(HubCa { cert_pem, issuer })
            }
            (false, false) => {
                let (ca, key_pem) = HubCa::generate()?;
                let io = |path: &Path| {
                    let path = path.to_path_buf();
                    move |source| PlatformError::Io { path, source }
                };
                std::fs::create_dir_all(dir).map_err(io(dir))?;
                write_file(&key, &key_pem, 0o600).map_err(io(&key))?;
                write_file(&crt, &ca.cert_pem, 0o644).map_err(io(&crt))?;
                Ok(ca)
            }
            _ => Err(PlatformError::BadPem(format!(
                "{} holds only one of ca.crt and ca.key; restore the other or remove both",
                dir.display()
            ))),
        }
    }

    /// A fresh CA in memory; returns it and its key PEM.
    pub fn generate() -> Result<(Self, String), PlatformError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(CA_CN, &[]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, CA_VALIDITY)?;
        let key = KeyPair::generate().map_err(PlatformError::cert("key generation"))?;
        let cert = params
            .self_signed(&key)
            .map_err(PlatformError::cert("CA generation"))?;
        let key_pem = key.serialize_pem();
        let ca = HubCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        };
        Ok((ca, key_pem))
    }

    /// The CA certificate (PEM), for trust bundles.
    pub fn ca_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A serving certificate for the hub with SANs `localhost`, `127.0.0.1`, `::1` and `names`
    /// (DNS names or IP addresses), valid for a year; returns (cert PEM, key PEM).
    pub fn serving_cert(&self, names: &[String]) -> Result<(String, String), PlatformError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn("cceone-hub", &[]);
        let defaults = ["localhost", "127.0.0.1", "::1"].map(String::from);
        for name in defaults.iter().chain(names) {
            let san = match name.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => {
                    let bad =
                        || PlatformError::InvalidInput(format!("{name:?} is not a DNS name or IP"));
                    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '*');
                    if name.is_empty() || !name.chars().all(ok) {
                        return Err(bad());
                    }
                    SanType::DnsName(name.clone().try_into().map_err(|_| bad())?)
                }
            };
            if !params.subject_alt_names.contains(&san) {
                params.subject_alt_names.push(san);
            }
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign_new_key(params, SERVING_VALIDITY)
    }

    /// Sign an agent's CSR (PEM) for `cluster`. Only the CSR's public key is used: the subject
    /// is always CN=`cluster`, O=[`CLUSTERS_ORG`], the usage client authentication, with no
    /// SANs, whatever the CSR asked. Returns (cert PEM, notAfter as unix seconds).
    pub fn sign_cluster_csr(
        &self,
        csr_pem: &str,
        cluster: &str,
        validity: Duration,
    ) -> Result<(String, i64), PlatformError> {
        validate_cluster_name(cluster)?;
        let csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(PlatformError::cert("signing request"))?;
        let mut params = client_params(cluster, &[CLUSTERS_ORG.to_string()]);
        let not_after = set_validity(&mut params, validity)?;
        let cert = params
            .signed_by(&csr.public_key, &self.issuer)
            .map_err(PlatformError::cert("signing"))?;
        Ok((cert.pem(), not_after))
    }

    /// A client certificate and fresh key for a user (CN=`user`, O=the group); returns
    /// (cert PEM, key PEM). At most one group: rcgen 0.14's `DistinguishedName` holds one value
    /// per attribute type, so several O entries cannot be written; proxy tokens
    /// ([`crate::proxytoken`]) carry any number of groups.
    pub fn sign_user(
        &self,
        user: &str,
        groups: &[String],
        validity: Duration,
    ) -> Result<(String, String), PlatformError> {
        if user.is_empty() {
            return Err(PlatformError::InvalidInput(
                "user name must not be empty".into(),
            ));
        }
        if groups.len() > 1 {
            return Err(PlatformError::InvalidInput(
                "a user certificate carries at most one group".into(),
            ));
        }
        if groups.iter().any(|g| g == CLUSTERS_ORG || g == HUBS_ORG) {
            return Err(PlatformError::InvalidInput(format!(
                "groups {CLUSTERS_ORG} and {HUBS_ORG} are reserved for cluster and hub certificates"
            )));
        }
        self.sign_new_key(client_params(user, groups), validity)
    }

    /// A client certificate and fresh key a hub presents to the other hubs of its federation
    /// (CN=`hub_id`, O=[`HUBS_ORG`]); returns (cert PEM, key PEM).
    pub fn sign_hub_peer(
        &self,
        hub_id: &str,
        validity: Duration,
    ) -> Result<(String, String), PlatformError> {
        if hub_id.is_empty() {
            return Err(PlatformError::InvalidInput(
                "hub id must not be empty".into(),
            ));
        }
        self.sign_new_key(client_params(hub_id, &[HUBS_ORG.to_string()]), validity)
    }

    fn sign_new_key(
        &self,
        mut params: CertificateParams,
        validity: Duration,
    ) -> Result<(String, String), PlatformError> {
        set_validity(&mut params, validity)?;
        let key = KeyPair::generate().map_err(PlatformError::cert("key generation"))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(PlatformError::cert("signing"))?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

impl std::fmt::Debug for HubCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubCa")
            .field("key", &"<masked>")
            .finish_non_exhaustive()
    }
}

/// A CA certificate and key from different pairs would sign certificates nobody can verify.
fn check_key_matches(cert_pem: &str, key: &KeyPair) -> Result<(), PlatformError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
        .map_err(|e| PlatformError::BadPem(format!("ca.crt: {e}")))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| PlatformError::BadPem(format!("ca.crt: {e}")))?;
    if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err(PlatformError::BadPem(
            "ca.key does not belong to ca.crt".into(),
        ));
    }
    Ok(())
}

fn dn(cn: &str, orgs: &[String]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    for o in orgs {
        dn.push(DnType::OrganizationName, o.as_str());
    }
    dn
}

fn client_params(cn: &str, orgs: &[String]) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(cn, orgs);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params
}

/// A random positive 128-bit serial number.
fn serial() -> Result<SerialNumber, PlatformError> {
    let mut bytes = random_bytes(16)?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

/// Set notBefore (now minus a little) and notAfter (now + `validity`) and a fresh serial;
/// returns notAfter as unix seconds.
fn set_validity(params: &mut CertificateParams, validity: Duration) -> Result<i64, PlatformError> {
    if validity.is_zero() {
        return Err(PlatformError::InvalidInput(
            "certificate validity must be positive".into(),
        ));
    }
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    let too_long =
        || PlatformError::InvalidInput(format!("certificate validity {validity:?} is too long"));
    let not_after = now
        .checked_add(validity.try_into().map_err(|_| too_long())?)
        .ok_or_else(too_long)?;
    params.not_before = now - BACKDATE;
    params.not_after = not_after;
    if params.serial_number.is_none() {
        params.serial_number = Some(serial()?);
    }
    Ok(not_after.unix_timestamp())
}

/// Write `content` to `path` with permission bits `mode` (0600 for keys, tokens and sign-in
/// links), whole or not at all: written beside it, synced, then renamed into place.
pub fn write_file(path: &Path, content: &str, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Check that `csr_pem` is a well-formed, correctly self-signed CSR, as
/// [`HubCa::sign_cluster_csr`] requires (without signing anything).
pub fn check_csr(csr_pem: &str) -> Result<(), PlatformError> {
    CertificateSigningRequestParams::from_pem(csr_pem)
        .map(|_| ())
        .map_err(PlatformError::cert("signing request"))
}

/// The cluster a verified client certificate (DER) was signed for: its CN, but only when the
/// certificate carries O=[`CLUSTERS_ORG`] (so a user certificate never passes for a cluster).
/// The caller must have verified the chain to the hub CA.
pub fn cluster_of_cert(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let mut orgs = subject.iter_organization().map(|o| o.as_str().ok());
    if !orgs.any(|o| o == Some(CLUSTERS_ORG)) {
        return None;
    }
    let mut cns = subject.iter_common_name();
    let cn = cns.next()?.as_str().ok()?.to_string();
    // Two CNs would be ambiguous; we never sign such a thing.
    if cns.next().is_some() || validate_cluster_name(&cn).is_err() {
        return None;
    }
    Some(cn)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
