//! A tiny HTTPS client for the hub's plain endpoints (`/metrics`, `/healthz`, `/v1/register`):
//! HTTP/1.1 over rustls, trusting only the hub's CA.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

/// A rustls client configuration trusting `ca_pem`, speaking HTTP/1.1.
pub fn client_tls(ca_pem: &str) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// One request, async: (status, body).
pub async fn request_async(
    endpoint: &str,
    server_name: &str,
    ca_pem: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<(u16, Vec<u8>)> {
    let tls = client_tls(ca_pem)?;
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(endpoint)
            .await
            .with_context(|| format!("connecting to {endpoint}"))?;
        let name = ServerName::try_from(server_name.to_string())?;
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .context("TLS handshake")?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", server_name);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::copy_from_slice(body)))?;
        let resp = send.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes().to_vec();
        anyhow::Ok((status, body))
    };
    tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .context("HTTPS request timed out")?
}

/// One request, blocking (call from a test thread, not from inside a runtime).
pub fn request(
    endpoint: &str,
    server_name: &str,
    ca_pem: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<(u16, Vec<u8>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(request_async(
        endpoint,
        server_name,
        ca_pem,
        method,
        path,
        headers,
        body,
    ))
}
