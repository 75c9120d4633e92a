//! A minimal HTTPS client for the few plain requests the agent makes to the hub outside the
//! tunnel (registration): one connection per request, trusting only the hub's CA, optionally
//! presenting the agent's client certificate. HTTP/2 or HTTP/1.1, whichever ALPN picks.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::HubEndpoint;

/// Largest response body accepted.
const MAX_BODY: usize = 1 << 20;
/// Default time allowed for connect, handshake, request and response together.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    /// The CA bundle or client identity is unusable (permanent).
    #[error("TLS configuration: {0}")]
    Config(String),
    /// TCP connect failed.
    #[error("connecting to {endpoint}: {source}")]
    Connect {
        /// Where.
        endpoint: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake failed (wrong CA, wrong name, hub not speaking TLS).
    #[error("TLS handshake with {endpoint}: {source}")]
    Handshake {
        /// Where.
        endpoint: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// HTTP-level failure.
    #[error("HTTP exchange with {endpoint}: {source}")]
    Http {
        /// Where.
        endpoint: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No answer within the timeout.
    #[error("no answer from {endpoint} within {timeout:?}")]
    Timeout {
        /// Where.
        endpoint: String,
        /// The limit.
        timeout: Duration,
    },
}

impl HttpsError {
    /// Whether trying again later can succeed (everything but bad local configuration).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, HttpsError::Config(_))
    }
}

/// An HTTPS client that trusts exactly the hub's CA.
#[derive(Clone)]
pub struct HttpsClient {
    tls: TlsConnector,
    timeout: Duration,
}

impl std::fmt::Debug for HttpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpsClient {
    /// Trust the CA certificates in `ca_pem`; no client certificate.
    pub fn new(ca_pem: &str) -> Result<HttpsClient, HttpsError> {
        HttpsClient::build(ca_pem, None)
    }

    /// Trust `ca_pem` and present `cert_pem` / `key_pem` (mTLS).
    pub fn with_identity(
        ca_pem: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<HttpsClient, HttpsError> {
        HttpsClient::build(ca_pem, Some((cert_pem, key_pem)))
    }

    /// Change the overall per-request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn build(ca_pem: &str, identity: Option<(&str, &str)>) -> Result<HttpsClient, HttpsError> {
        let config = client_config(ca_pem, identity)?;
        Ok(HttpsClient {
            tls: TlsConnector::from(Arc::new(config)),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// POST `body` as JSON to `https://<endpoint><path>`; the status and the body of any answer.
    pub async fn post_json(
        &self,
        endpoint: &HubEndpoint,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(StatusCode, Bytes), HttpsError> {
        let ep = endpoint.authority();
        match tokio::time::timeout(self.timeout, self.exchange(endpoint, path, body)).await {
            Ok(r) => r,
            Err(_) => Err(HttpsError::Timeout {
                endpoint: ep,
                timeout: self.timeout,
            }),
        }
    }

    async fn exchange(
        &self,
        endpoint: &HubEndpoint,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(StatusCode, Bytes), HttpsError> {
        let ep = endpoint.authority();
        let http_err = |e: Box<dyn std::error::Error + Send + Sync>| HttpsError::Http {
            endpoint: ep.clone(),
            source: e,
        };
        let name = ServerName::try_from(endpoint.host.clone())
            .map_err(|e| HttpsError::Config(format!("{:?} as a TLS name: {e}", endpoint.host)))?;
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|source| HttpsError::Connect {
                endpoint: ep.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|source| HttpsError::Handshake {
                endpoint: ep.clone(),
                source,
            })?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let payload = serde_json::to_vec(body).map_err(|e| http_err(e.into()))?;
        // HTTP/2 carries scheme and authority as pseudo-headers; HTTP/1.1 wants origin-form plus
        // a Host header.
        let uri = if h2 {
            format!("https://{ep}{path}")
        } else {
            path.to_string()
        };
        let req = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("cceone-cluster-agent/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| http_err(e.into()))?;
        let io = TokioIo::new(tls);
        let resp = if h2 {
            let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| http_err(e.into()))?;
            tokio::spawn(conn);
            send.send_request(req).await
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| http_err(e.into()))?;
            tokio::spawn(conn);
            let mut req = req;
            if let Ok(host) = header::HeaderValue::from_str(&ep) {
                req.headers_mut().insert(header::HOST, host);
            }
            send.send_request(req).await
        }
        .map_err(|e| http_err(e.into()))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(http_err)?
            .to_bytes();
        Ok((status, body))
    }
}

fn client_config(
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> Result<rustls::ClientConfig, HttpsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| HttpsError::Config(format!("hub CA: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| HttpsError::Config(format!("hub CA: {e}")))?;
    }
    if roots.is_empty() {
        return Err(HttpsError::Config(
            "hub CA bundle holds no certificate".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpsError::Config(e.to_string()))?
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert_pem, key_pem)) => {
            let chain: Vec<CertificateDer<'static>> =
                rustls_pemfile::certs(&mut cert_pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(|e| HttpsError::Config(format!("client certificate: {e}")))?;
            let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
                .map_err(|e| HttpsError::Config(format!("client key: {e}")))?
                .ok_or_else(|| HttpsError::Config("client key: no private key in PEM".into()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| HttpsError::Config(format!("client identity: {e}")))?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
