//! The CA every hub of a federation shares, so that any hub can register any cluster and verify
//! any agent, and an agent trusts whichever hub it reaches. It lives in the federation API, in the
//! Secret [`SECRET`] of [`SYSTEM_NAMESPACE`] (type `kubernetes.io/tls`: `tls.crt`, `tls.key`),
//! which only the hub's identity and administrators may read. The first hub to start puts its
//! CA there (the one in its data directory, or a new one); every hub then uses the Secret's, and
//! keeps a copy in its data directory (`ca/ca.crt`, `ca/ca.key`, 0600), where the QUIC reset key
//! is derived from it and where a hub whose identity may not create the Secret falls back to a
//! CA of its own (a single hub, as before). Bootstrap tokens and proxy tokens already live in
//! Secrets of the same namespace, and certificate serials in the clusters' status, so with the CA
//! shared nothing a registration needs is local to one hub.

use std::path::Path;

use cceone_platform::SYSTEM_NAMESPACE;
use cceone_platform::ca::HubCa;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};

use crate::HubError;

/// The Secret holding the shared CA.
pub const SECRET: &str = "cceone-hub-ca";

/// The CA this hub uses: the shared one, put there first from `dir` when there is none yet.
pub(crate) async fn load(client: &kube::Client, dir: &Path) -> Result<HubCa, HubError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    // Twice at most: a hub that loses the race to create the Secret reads the winner's.
    for _ in 0..2 {
        match api.get_opt(SECRET).await {
            Ok(Some(secret)) => return adopt(&secret, dir),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, secret = SECRET, "could not read the shared hub CA; using the CA in the data directory (other hubs may not trust it)");
                return Ok(HubCa::load_or_generate(dir)?);
            }
        }
        let ca = HubCa::load_or_generate(dir)?;
        let key_pem = read(&dir.join("ca.key"))?;
        match api
            .create(&PostParams::default(), &secret_of(ca.ca_pem(), &key_pem))
            .await
        {
            Ok(_) => {
                tracing::info!(
                    secret = SECRET,
                    "published this hub's CA for the other hubs of the federation"
                );
                return Ok(ca);
            }
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => {
                tracing::warn!(error = %e, secret = SECRET, "could not publish the hub CA; this hub keeps a CA of its own (other hubs will not trust it)");
                return Ok(ca);
            }
        }
    }
    Err(HubError::Tls(format!(
        "the Secret {SYSTEM_NAMESPACE}/{SECRET} could neither be read nor created"
    )))
}

/// Use the shared CA, and keep it in `dir` (replacing a different local one, with a warning:
/// agents it signed for must register again).
fn adopt(secret: &Secret, dir: &Path) -> Result<HubCa, HubError> {
    let field = |k: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(k))
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .ok_or_else(|| {
                HubError::Tls(format!("the Secret {SYSTEM_NAMESPACE}/{SECRET} has no {k}"))
            })
    };
    let (cert_pem, key_pem) = (field("tls.crt")?, field("tls.key")?);
    let ca = HubCa::from_pem(&cert_pem, &key_pem)?;
    let (crt, key) = (dir.join("ca.crt"), dir.join("ca.key"));
    let local = std::fs::read_to_string(&crt).ok();
    if local.as_deref() != Some(cert_pem.as_str()) {
        if local.is_some() {
            tracing::warn!(dir = %dir.display(), secret = SECRET, "the data directory held a different CA; using the federation's shared CA");
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| cceone_platform::PlatformError::Io { path, source }
        };
        create_private_dir(dir).map_err(io(dir))?;
        cceone_platform::ca::write_file(&key, &key_pem, 0o600).map_err(io(&key))?;
        cceone_platform::ca::write_file(&crt, &cert_pem, 0o644).map_err(io(&crt))?;
    }
    Ok(ca)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn read(path: &Path) -> Result<String, HubError> {
    std::fs::read_to_string(path).map_err(|source| {
        HubError::Platform(cceone_platform::PlatformError::Io {
            path: path.to_path_buf(),
            source,
        })
    })
}

fn secret_of(cert_pem: &str, key_pem: &str) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(SECRET.into());
    s.metadata.namespace = Some(SYSTEM_NAMESPACE.into());
    s.metadata.labels = Some(
        [
            (
                "app.kubernetes.io/part-of".to_string(),
                "cceone".to_string(),
            ),
            ("app.kubernetes.io/component".to_string(), "hub".to_string()),
        ]
        .into(),
    );
    s.type_ = Some("kubernetes.io/tls".into());
    s.data = Some(
        [
            (
                "tls.crt".to_string(),
                ByteString(cert_pem.as_bytes().to_vec()),
            ),
            (
                "tls.key".to_string(),
                ByteString(key_pem.as_bytes().to_vec()),
            ),
        ]
        .into(),
    );
    s
}
