//! Certificates and TLS: a CA, a serving certificate and an admin client certificate generated
//! with rcgen when none exist (kept in the data directory so restarts keep the same identity),
//! the rustls server configuration (optional client certificates), and kubeconfig files.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

/// A failure to create, load or use certificates.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// Reading or writing PEM files failed.
    #[error("certificate files: {0}")]
    Io(#[from] std::io::Error),
    /// PEM content is not usable.
    #[error("bad PEM: {0}")]
    Pem(String),
    /// rustls refused the configuration.
    #[error("tls configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The server's PKI material, PEM-encoded.
#[derive(Clone)]
pub struct Pki {
    /// CA certificate.
    pub ca_cert: String,
    /// CA private key.
    pub ca_key: String,
    /// Serving certificate (signed by the CA).
    pub server_cert: String,
    /// Serving key.
    pub server_key: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pki { keys: <masked> }")
    }
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "cceone-kube-ca");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2036, 1, 1);
    p
}

impl Pki {
    /// Load the PKI from `dir/pki`, or generate and save it there. Without a directory the
    /// material lives in memory only.
    pub fn load_or_generate(dir: Option<&Path>, hostnames: &[String]) -> Result<Pki, TlsError> {
        let pki_dir = dir.map(|d| d.join("pki"));
        if let Some(d) = &pki_dir {
            let files = ["ca.crt", "ca.key", "server.crt", "server.key"].map(|f| d.join(f));
            if files.iter().all(|f| f.exists()) {
                let [ca_cert, ca_key, server_cert, server_key] = files.map(std::fs::read_to_string);
                return Ok(Pki {
                    ca_cert: ca_cert?,
                    ca_key: ca_key?,
                    server_cert: server_cert?,
                    server_key: server_key?,
                });
            }
        }
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca_params().self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params(), &ca_key);
        let mut sp = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "cceone-kube-apiserver");
        sp.distinguished_name = dn;
        let mut names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        names.extend(hostnames.iter().cloned());
        for n in &names {
            let san = match n.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(n.clone().try_into()?),
            };
            sp.subject_alt_names.push(san);
        }
        sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        sp.not_before = rcgen::date_time_ymd(2024, 1, 1);
        sp.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let server_key = KeyPair::generate()?;
        let server_cert = sp.signed_by(&server_key, &issuer)?;
        let pki = Pki {
            ca_cert: ca_cert.pem(),
            ca_key: ca_key.serialize_pem(),
            server_cert: server_cert.pem(),
            server_key: server_key.serialize_pem(),
        };
        if let Some(d) = &pki_dir {
            for (f, content) in [
                ("ca.crt", &pki.ca_cert),
                ("ca.key", &pki.ca_key),
                ("server.crt", &pki.server_cert),
                ("server.key", &pki.server_key),
            ] {
                crate::write_private(&d.join(f), content.as_bytes())?;
            }
        }
        Ok(pki)
    }

    /// Issue a client certificate for `user` in `groups` (CN and O), signed by the CA.
    pub fn issue_client(&self, user: &str, groups: &[&str]) -> Result<(String, String), TlsError> {
        let ca_key = KeyPair::from_pem(&self.ca_key)?;
        let issuer = Issuer::new(ca_params(), &ca_key);
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, user);
        for g in groups {
            dn.push(DnType::OrganizationName, *g);
        }
        p.distinguished_name = dn;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.not_before = rcgen::date_time_ymd(2024, 1, 1);
        p.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// The rustls server configuration: HTTP/2 and HTTP/1.1, client certificates optional
    /// (verified against our CA when presented).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = CertificateDer::pem_slice_iter(self.server_cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Pem(e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(self.server_key.as_bytes())
            .map_err(|e| TlsError::Pem(e.to_string()))?;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.ca_cert.as_bytes()) {
            roots.add(c.map_err(|e| TlsError::Pem(e.to_string()))?)?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&provider),
        )
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Pem(e.to_string()))?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

/// Read the user (CN) and groups (O) from a verified client certificate.
pub fn identity_of(cert: &CertificateDer<'_>) -> Option<(String, Vec<String>)> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    let cn = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(String::from))
        .collect();
    Some((cn, groups))
}

/// How a kubeconfig authenticates.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A bearer token.
    Token(String),
    /// A client certificate and key (PEM).
    ClientCert {
        /// Certificate PEM.
        cert: String,
        /// Key PEM.
        key: String,
    },
}

/// A kubeconfig (YAML) for `server` trusting `ca_pem`.
pub fn kubeconfig(
    cluster: &str,
    server: &str,
    ca_pem: &str,
    user: &str,
    cred: &Credential,
) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let user_block = match cred {
        Credential::Token(t) => format!("    token: {t}\n"),
        Credential::ClientCert { cert, key } => format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(cert),
            b64(key)
        ),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {cluster}\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\nusers:\n- name: {user}\n  user:\n{user_block}contexts:\n- name: {cluster}\n  context:\n    cluster: {cluster}\n    user: {user}\ncurrent-context: {cluster}\n",
        b64(ca_pem)
    )
}
