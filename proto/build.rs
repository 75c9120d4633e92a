//! Compile the tunnel protocol with protox (pure Rust; no system protoc needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=cceone/tunnel/v1/tunnel.proto");
    let fds = protox::compile(["cceone/tunnel/v1/tunnel.proto"], ["."])?;
    // Proxied bodies cross as `Bytes`: decoding slices the received frame instead of copying.
    prost_build::Config::new()
        .bytes([".cceone.tunnel.v1.ProxyChunk.data"])
        .compile_fds(fds)?;
    Ok(())
}
