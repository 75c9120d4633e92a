//! Section 4, raw streams: bytes through `kubectl port-forward` to a simulated pod's HTTP
//! responder (`GET /bytes/N` down, `POST /echo` up and back), over the hub and the tunnel and
//! directly to the simulator, alternately. `kubectl` is whichever is on `PATH` (the version
//! dispatcher picks WebSocket port-forward for a 1.32 server); its own CPU shares the cores.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Throughput of one path, bytes per second.
#[derive(Default, Clone, Copy)]
pub(crate) struct Rates {
    /// `GET /bytes/N`: pod to client.
    pub(crate) down: f64,
    /// `POST /echo`: the body up and back, counted once.
    pub(crate) echo: f64,
}

/// A `kubectl port-forward` running, killed when dropped.
struct Forward {
    child: Child,
    port: u16,
}

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `kubectl port-forward pod/NAME :80` and wait for the local port it picked.
async fn forward(kubeconfig: &Path, ns: &str, pod: &str, log: PathBuf) -> anyhow::Result<Forward> {
    let out = std::fs::File::create(&log)?;
    let child = Command::new("kubectl")
        .args(["--kubeconfig"])
        .arg(kubeconfig)
        .args(["-n", ns, "port-forward", &format!("pod/{pod}"), ":80"])
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()?;
    let mut f = Forward { child, port: 0 };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let port = text
            .split("Forwarding from 127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse().ok());
        if let Some(port) = port {
            f.port = port;
            return Ok(f);
        }
        anyhow::ensure!(
            f.child.try_wait()?.is_none(),
            "kubectl port-forward exited: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("kubectl port-forward did not listen within 30 s")
}

/// One HTTP/1.1 request through the forward; the response body's length and the time taken.
async fn request(port: u16, head: String, body: usize) -> anyhow::Result<(usize, Duration)> {
    let t = Instant::now();
    let s = TcpStream::connect(("127.0.0.1", port)).await?;
    let _ = s.set_nodelay(true);
    let (mut rd, mut wr) = s.into_split();
    let up = async move {
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b'x'; 64 * 1024];
        let mut left = body;
        while left > 0 {
            let n = left.min(chunk.len());
            wr.write_all(&chunk[..n]).await?;
            left -= n;
        }
        // Keep the write half open: a half-close would end the forwarded stream early.
        Ok::<_, std::io::Error>(wr)
    };
    let down = async move {
        let mut buf = vec![0u8; 256 * 1024];
        let (mut total, mut head_end) = (0usize, None);
        let mut head = Vec::new();
        loop {
            let n = rd.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            if head_end.is_none() {
                head.extend_from_slice(&buf[..n]);
                if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                    head_end = Some(i + 4);
                    total = head.len() - (i + 4);
                }
            } else {
                total += n;
            }
        }
        anyhow::ensure!(
            head.starts_with(b"HTTP/1.1 200"),
            "responder said {}",
            String::from_utf8_lossy(&head[..head.len().min(80)])
        );
        Ok(total)
    };
    let (w, n) = tokio::join!(up, down);
    drop(w?);
    Ok((n?, t.elapsed()))
}

/// Throughput through one forward: `rounds` downloads of `bytes` and echoes of `bytes / 2`.
async fn rates(f: &Forward, bytes: usize, rounds: usize) -> anyhow::Result<Rates> {
    let (mut down, mut echo) = ((0usize, Duration::ZERO), (0usize, Duration::ZERO));
    for _ in 0..rounds {
        let head = format!("GET /bytes/{bytes} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        let (n, d) = request(f.port, head, 0).await?;
        anyhow::ensure!(n == bytes, "downloaded {n} of {bytes} bytes");
        down = (down.0 + n, down.1 + d);
        let half = bytes / 2;
        let head = format!(
            "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: {half}\r\nconnection: close\r\n\r\n"
        );
        let (n, d) = request(f.port, head, half).await?;
        anyhow::ensure!(n == half, "echoed {n} of {half} bytes");
        echo = (echo.0 + n, echo.1 + d);
    }
    Ok(Rates {
        down: down.0 as f64 / down.1.as_secs_f64(),
        echo: echo.0 as f64 / echo.1.as_secs_f64(),
    })
}

/// Direct and through-the-tunnel rates, each path warmed up once first.
pub(crate) async fn run(
    direct_kc: &Path,
    tunnel_kc: &Path,
    ns: &str,
    pod: &str,
    dir: &Path,
    bytes: usize,
    rounds: usize,
) -> anyhow::Result<(Rates, Rates)> {
    let direct = forward(direct_kc, ns, pod, dir.join("port-forward-direct.log")).await?;
    let tunnel = forward(tunnel_kc, ns, pod, dir.join("port-forward-tunnel.log")).await?;
    rates(&direct, 1 << 20, 1).await?;
    rates(&tunnel, 1 << 20, 1).await?;
    let (mut d, mut t) = (Rates::default(), Rates::default());
    for _ in 0..rounds {
        let a = rates(&direct, bytes, 1).await?;
        let b = rates(&tunnel, bytes, 1).await?;
        d.down += a.down / rounds as f64;
        d.echo += a.echo / rounds as f64;
        t.down += b.down / rounds as f64;
        t.echo += b.echo / rounds as f64;
    }
    Ok((d, t))
}
