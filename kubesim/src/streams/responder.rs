//! What listens in a simulated pod for port-forward: a tiny HTTP server on ports 80 and 8080
//! (`GET /` names the pod, `GET /bytes/N` sends N bytes, `POST /echo` returns the body), and an
//! echo of every byte on any other port. Requests are bounded in head size and body length.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Longest request head.
const MAX_HEAD: usize = 16 * 1024;
/// Largest body echoed or sent.
const MAX_BODY: u64 = 1 << 30;

/// Serve one forwarded connection to `port`.
pub(crate) async fn serve<S>(port: u16, io: S, ns: &str, pod: &str)
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    if matches!(port, 80 | 8080) {
        if let Err(e) = http(io, port, ns, pod).await {
            tracing::debug!(error = %e, "responder connection ended");
        }
    } else {
        let (mut rd, mut wr) = tokio::io::split(io);
        let _ = tokio::io::copy(&mut rd, &mut wr).await;
        let _ = wr.shutdown().await;
    }
}

/// The byte at `i` of a `/bytes/N` body.
pub(crate) fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

async fn http<S>(io: S, port: u16, ns: &str, pod: &str) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let mut io = BufReader::new(io);
    loop {
        let mut head = Vec::new();
        loop {
            let n = (&mut io)
                .take((MAX_HEAD - head.len()) as u64 + 1)
                .read_until(b'\n', &mut head)
                .await?;
            if n == 0 {
                return Ok(());
            }
            if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
                break;
            }
            if head.len() > MAX_HEAD {
                io.get_mut().write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").await?;
                return Ok(());
            }
        }
        let text = String::from_utf8_lossy(&head);
        let mut lines = text.lines();
        let mut first = lines.next().unwrap_or_default().split(' ');
        let (method, path) = (
            first.next().unwrap_or_default().to_string(),
            first.next().unwrap_or_default().to_string(),
        );
        let mut length = 0u64;
        let mut close = false;
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "content-length" {
                    length = v.parse().unwrap_or(0);
                }
                if k == "connection" && v.eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        if length > MAX_BODY {
            io.get_mut().write_all(b"HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").await?;
            return Ok(());
        }
        let w = |code: &str, len: u64| {
            format!(
                "HTTP/1.1 {code}\r\ncontent-type: application/octet-stream\r\ncontent-length: {len}\r\n\r\n"
            )
        };
        if (method == "POST" || method == "PUT") && path == "/echo" {
            io.get_mut()
                .write_all(w("200 OK", length).as_bytes())
                .await?;
            let mut left = length;
            let mut buf = vec![0u8; 32 * 1024];
            while left > 0 {
                let want = left.min(buf.len() as u64) as usize;
                let n = io.read(&mut buf[..want]).await?;
                if n == 0 {
                    return Ok(());
                }
                io.get_mut().write_all(&buf[..n]).await?;
                left -= n as u64;
            }
        } else {
            // Any body of another request is read and dropped.
            tokio::io::copy(&mut (&mut io).take(length), &mut tokio::io::sink()).await?;
            if let Some(n) = path
                .strip_prefix("/bytes/")
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|n| *n <= MAX_BODY)
            {
                io.get_mut().write_all(w("200 OK", n).as_bytes()).await?;
                let mut sent = 0u64;
                let mut buf = vec![0u8; 32 * 1024];
                while sent < n {
                    let k = (n - sent).min(buf.len() as u64) as usize;
                    for (j, b) in buf[..k].iter_mut().enumerate() {
                        *b = pattern(sent + j as u64);
                    }
                    io.get_mut().write_all(&buf[..k]).await?;
                    sent += k as u64;
                }
            } else if path == "/" {
                let body = format!("pod {ns}/{pod} port {port}\n");
                let h = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                io.get_mut().write_all(h.as_bytes()).await?;
                io.get_mut().write_all(body.as_bytes()).await?;
            } else {
                io.get_mut()
                    .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                    .await?;
            }
        }
        io.get_mut().flush().await?;
        if close {
            io.get_mut().shutdown().await?;
            return Ok(());
        }
    }
}
