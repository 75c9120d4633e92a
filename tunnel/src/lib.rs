//! The tunnel between `cceone-cluster-agent` and `cceone-hub`.
//!
//! One long-lived connection per agent, dialed out from the member cluster. Over TLS/TCP the
//! HTTP/2 roles are reversed after the handshake (the hub becomes the HTTP/2 client on the
//! connection the agent dialed), so the hub can open streams toward a cluster behind NAT; over
//! QUIC the hub opens streams natively. Every stream carries gRPC-framed protobuf messages
//! ([`frame`]); the first says what the stream is for. Many independent streams share the
//! connection, so a large proxied list never holds back a heartbeat.

pub mod backoff;
mod conn;
pub mod frame;
pub mod splice;
mod stream;

pub use conn::{
    AgentConn, DialConfig, HubConn, Transport, TransportChoice, dial, hub_quic_transport,
    quic_transport,
};
pub use splice::{Spliced, splice};
pub use stream::{Receiver, Sender, Stream, cancel};

/// The ALPN protocol that marks a tunnel connection (plain HTTPS on the same port uses h2 or
/// http/1.1).
pub const ALPN: &[u8] = b"cceone-tunnel/1";

/// A tunnel failure. Each affects one stream or one connection, never the process.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    /// A malformed frame: the stream that sent it is closed.
    #[error("malformed frame: {0}")]
    Frame(#[from] frame::FrameError),
    /// A frame that is not a valid protobuf message of the expected type.
    #[error("undecodable message: {0}")]
    Decode(#[source] prost::DecodeError),
    /// HTTP/2 failure.
    #[error("http/2: {0}")]
    H2(#[source] h2::Error),
    /// The stream or connection is gone.
    #[error("closed: {0}")]
    Closed(String),
    /// Could not reach the hub (retry with backoff).
    #[error("dial: {0}")]
    Dial(String),
    /// The hub refused us (certificate, revocation): retrying as-is will not help.
    #[error("refused: {0}")]
    Refused(String),
    /// The peer broke the protocol (unexpected message, no common version).
    #[error("protocol: {0}")]
    Protocol(String),
}
