//! gzip of large responses for clients that accept it, as kube-apiserver's
//! `staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/writers.go` does:
//! bodies over 128 KiB are compressed at the fastest level when `Accept-Encoding` names
//! `gzip` (client-go and kubectl always send it). Streams (watches) and small bodies go as
//! they are.

use std::io::Write as _;

use http::Response;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, VARY};
use http_body::Body as _;
use http_body_util::BodyExt as _;

use super::util::{Body, full};

/// Bodies at least this large are compressed (`defaultGzipThresholdBytes`).
const THRESHOLD: u64 = 128 * 1024;

/// Whether an `Accept-Encoding` value accepts gzip (and does not refuse it with `q=0`).
pub(crate) fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|v| {
        v.split(',').any(|part| {
            let mut params = part.split(';').map(str::trim);
            let coding = params.next().unwrap_or_default();
            let refused = params.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
    })
}

/// Compress `resp` when `gzip` is accepted and its whole body is known and large.
pub(crate) async fn maybe_gzip(gzip: bool, resp: Response<Body>) -> Response<Body> {
    let large = resp
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| n >= THRESHOLD);
    if !gzip || !large || resp.headers().contains_key(CONTENT_ENCODING) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    // A body with an exact size is a whole buffer: collecting it does not wait.
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            tracing::debug!(error = %e, "response body unreadable for gzip");
            return Response::from_parts(parts, full(bytes::Bytes::new()));
        }
    };
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::fast(),
    );
    let compressed = match enc.write_all(&bytes).and_then(|()| enc.finish()) {
        Ok(c) => c,
        Err(_) => return Response::from_parts(parts, full(bytes)),
    };
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_ENCODING, http::HeaderValue::from_static("gzip"));
    parts
        .headers
        .append(VARY, http::HeaderValue::from_static("Accept-Encoding"));
    Response::from_parts(parts, full(compressed))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_is_read_as_upstream() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip;q=0.5")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }

    #[tokio::test]
    async fn only_large_whole_bodies_are_compressed() {
        let small = super::super::util::text(http::StatusCode::OK, "ok");
        let small = maybe_gzip(true, small).await;
        assert!(!small.headers().contains_key(CONTENT_ENCODING));
        let text = "z".repeat(200 * 1024);
        let big = super::super::util::text(http::StatusCode::OK, &text);
        let big = maybe_gzip(true, big).await;
        assert_eq!(big.headers()[CONTENT_ENCODING], "gzip");
        let body = big.into_body().collect().await.unwrap().to_bytes();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut out)
            .unwrap();
        assert_eq!(out, text);
    }
}
