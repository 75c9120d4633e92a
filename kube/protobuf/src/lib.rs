//! Decoding of Kubernetes protobuf request bodies into JSON objects.

/// A body that cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// Not yet implemented.
    #[error("unsupported protobuf body: {0}")]
    Unsupported(String),
}

/// Decode a `k8s\0`-enveloped protobuf body into the JSON form of the object.
pub fn decode(raw: &[u8]) -> Result<serde_json::Value, ProtoError> {
    Err(ProtoError::Unsupported(format!("{} bytes", raw.len())))
}
