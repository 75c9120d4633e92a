//! `pods/<name>/exec` and `pods/<name>/attach`: checks as kube-apiserver and the kubelet make
//! them, protocol negotiation, then the process (a built-in command, or for attach the
//! container's main process: its log as it is written, and stdin echoed) over WebSocket
//! channels or SPDY streams. The end is reported on the status channel as the kubelet reports
//! it: `Success`, or `NonZeroExitCode` with the code as an `ExitCode` cause.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cceone_kube_apiserver::PodStream;
use cceone_kube_apiserver::http::Body;
use cceone_kubesim_core::streams::logs;
use cceone_kubesim_core::streams::spdy::Frame;
use http::Response;
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::process::{self, Container, Exit, Output, Stdio};
use super::spdy::{Conn, header};
use super::upgrade::{self, Io, Upgrade};
use super::ws::{self, Streams};
use super::{
    Kubelet, Query, bad_request, container_spec, container_status, pick_container, pod_names,
};

/// WebSocket subprotocols served, preferred first as the client lists them.
const WEBSOCKET: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];
/// SPDY stream protocols served.
const SPDY: &[&str] = &["v4.channel.k8s.io"];
/// How long a SPDY client has to open the streams it announced.
const STREAMS_DEADLINE: Duration = Duration::from_secs(30);

/// Which streams the request asked for.
#[derive(Debug, Clone, Copy)]
struct Want {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

/// Serve exec or attach.
pub(crate) fn serve(kubelet: Arc<Kubelet>, ps: PodStream, q: &Query) -> Response<Body> {
    let attach = ps.subresource == "attach";
    let pod = &ps.pod;
    let (ns, name) = pod_names(pod);
    let container = match pick_container(pod, q.get("container"), &ps.subresource) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .is_empty()
    {
        return bad_request(&format!("pod {name} does not have a host assigned"));
    }
    let started = container_status(pod, &container)
        .and_then(|s| s.pointer("/state/running/startedAt").cloned())
        .and_then(|t| t.as_str().and_then(|t| t.parse::<Timestamp>().ok()));
    let Some(started) = started else {
        return bad_request(&format!(
            "unable to upgrade connection: container not found (\"{container}\")"
        ));
    };
    let argv = q.all("command");
    if !attach && argv.is_empty() {
        return bad_request("you must specify at least one command for the container");
    }
    let want = Want {
        stdin: q.flag("stdin"),
        stdout: q.flag("stdout"),
        stderr: q.flag("stderr"),
        tty: q.flag("tty"),
    };
    if !(want.stdin || want.stdout || want.stderr) {
        return bad_request("you must specify at least one of stdin, stdout, stderr");
    }
    let u = match upgrade::negotiate(ps.request.headers(), WEBSOCKET, SPDY) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    // Only an attach ends with the container (an exec'd process is its own).
    let gone = attach.then(|| kubelet.container_gone(pod, &container));
    let c = Container {
        namespace: ns,
        pod: name,
        env: process::environment(pod, &container_spec(pod, &container)),
        fs: kubelet.files(pod, &container),
        name: container,
    };
    tracing::info!(namespace = %c.namespace, pod = %c.pod, container = %c.name, attach,
        command = ?argv, upgrade = ?u, tty = want.tty, stdin = want.stdin, "remote command starting");
    upgrade::spawn(ps.request, u, move |io, u| async move {
        let c2 = c.clone();
        let run = move |stdio: Stdio| async move {
            if let Some(gone) = gone {
                attach_main(&c2, started, stdio, gone).await
            } else {
                let exit = process::exec(&c2, argv, stdio).await;
                tracing::info!(namespace = %c2.namespace, pod = %c2.pod, container = %c2.name, exit = ?exit, "remote command ended");
                Some(exit)
            }
        };
        match u {
            Upgrade::WebSocket { protocol, .. } => {
                let streams = Streams {
                    stdin: want.stdin,
                    tty: want.tty,
                };
                ws::remote_command(
                    ws::accept(io).await,
                    protocol.starts_with("v5"),
                    streams,
                    run,
                )
                .await;
            }
            Upgrade::Spdy { .. } => spdy_remote_command(io, want, run).await,
        }
    })
}

/// The status-channel message for `exit`, as the kubelet writes it.
pub(crate) fn status(exit: &Exit) -> String {
    let v = match exit {
        Exit::Code(0) => json!({"metadata": {}, "status": "Success"}),
        Exit::Code(code) => json!({
            "metadata": {}, "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command, exit code {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Exit::Failed(m) => json!({
            "metadata": {}, "status": "Failure",
            "message": format!("Internal error occurred: error executing command in container: {m}"),
            "reason": "InternalError",
            "details": {"causes": [{"message": format!("error executing command in container: {m}")}]},
            "code": 500,
        }),
    };
    v.to_string()
}

/// The container's main process as attach sees it: each new log line as it is written, and
/// stdin echoed back; it runs until the client leaves (None) or the container goes away
/// (`gone`: then the kubelet reports `Success`).
async fn attach_main(
    c: &Container,
    started: Timestamp,
    mut io: Stdio,
    gone: impl std::future::Future<Output = ()>,
) -> Option<Exit> {
    tokio::pin!(gone);
    let now = Timestamp::now();
    let mut next = logs::window(started, now, Some(0), None)
        .end()
        .saturating_add(1)
        .max(1);
    let crlf = |s: &[u8], tty: bool| -> Bytes {
        if !tty {
            return Bytes::copy_from_slice(s);
        }
        let mut v = Vec::with_capacity(s.len() + 4);
        for &b in s {
            if b == b'\n' {
                v.push(b'\r');
            }
            v.push(b);
        }
        Bytes::from(v)
    };
    loop {
        let due = logs::written_at(started, next);
        let wait = Timestamp::now().duration_until(due).as_secs_f64().max(0.0);
        let stdin = async {
            match io.stdin.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut gone => {
                tracing::info!(namespace = %c.namespace, pod = %c.pod, container = %c.name,
                    "the attached container is gone; ending the attach");
                return Some(Exit::Code(0));
            }
            () = tokio::time::sleep(Duration::from_secs_f64(wait)) => {
                let line = format!("{}\n", logs::line(&c.namespace, &c.pod, &c.name, next, false));
                next += 1;
                if io.out.send(Output::Stdout(crlf(line.as_bytes(), io.tty))).await.is_err() {
                    return None;
                }
            }
            b = stdin => match b {
                Some(b) => {
                    let b = if io.tty { b.iter().map(|&c| if c == b'\r' { b'\n' } else { c }).collect::<Vec<u8>>().into() } else { b };
                    if io.out.send(Output::Stdout(crlf(&b, io.tty))).await.is_err() {
                        return None;
                    }
                }
                None => io.stdin = None,
            },
        }
    }
}

/// A remote command over SPDY: the client opens one stream per channel (`streamtype` error,
/// stdin, stdout, stderr, resize); each is answered, then the process runs; at its end the
/// output streams are half-closed and the status written on the error stream.
async fn spdy_remote_command<F, Fut>(io: Io, want: Want, run: F)
where
    F: FnOnce(Stdio) -> Fut,
    Fut: std::future::Future<Output = Option<Exit>>,
{
    let mut conn = Conn::start(io);
    let need = 1
        + usize::from(want.stdin)
        + usize::from(want.stdout)
        + usize::from(want.stderr)
        + usize::from(want.tty);
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut early: Vec<Frame> = Vec::new();
    let mut last = 0;
    let deadline = tokio::time::Instant::now() + STREAMS_DEADLINE;
    while ids.len() < need {
        match tokio::time::timeout_at(deadline, conn.incoming.recv()).await {
            Ok(Some(Frame::SynStream {
                stream_id, headers, ..
            })) => {
                last = stream_id;
                let kind = header(&headers, "streamtype")
                    .unwrap_or_default()
                    .to_string();
                let _ = conn
                    .out
                    .send(Frame::SynReply {
                        stream_id,
                        fin: false,
                        headers: Vec::new(),
                    })
                    .await;
                ids.insert(kind, stream_id);
            }
            Ok(Some(f)) => {
                if early.len() < 64 {
                    early.push(f);
                }
            }
            Ok(None) => return conn.close(last).await,
            Err(_) => {
                tracing::warn!(
                    have = ids.len(),
                    need,
                    "SPDY client did not open its streams in time"
                );
                return conn.close(last).await;
            }
        }
    }
    let id = |k: &str| ids.get(k).copied();
    let (stdin_id, stdout_id, stderr_id, error_id, resize_id) = (
        id("stdin"),
        id("stdout"),
        id("stderr"),
        id("error"),
        id("resize"),
    );
    let (stdin_tx, stdin_rx) = mpsc::channel::<Bytes>(16);
    let (size_tx, size_rx) = watch::channel(None);
    let (out_tx, mut out_rx) = mpsc::channel::<Output>(16);
    let stdio = Stdio {
        stdin: want.stdin.then_some(stdin_rx),
        out: out_tx,
        size: size_rx,
        tty: want.tty,
    };
    let out = conn.out.clone();
    let work = async {
        let process = run(stdio);
        let write = async {
            while let Some(o) = out_rx.recv().await {
                let (id, data) = match o {
                    Output::Stdout(d) => (stdout_id, d),
                    Output::Stderr(d) => (stderr_id, d),
                };
                if let Some(id) = id
                    && !Conn::send_data(&out, id, &data, false).await
                {
                    return;
                }
            }
        };
        tokio::join!(process, write).0
    };
    let incoming = &mut conn.incoming;
    let read = async {
        let mut stdin_tx = Some(stdin_tx);
        let mut resize_buf: Vec<u8> = Vec::new();
        let mut early = early.into_iter();
        loop {
            let f = match early.next() {
                Some(f) => f,
                None => match incoming.recv().await {
                    Some(f) => f,
                    None => return,
                },
            };
            match f {
                Frame::Data {
                    stream_id,
                    fin,
                    data,
                } if Some(stream_id) == stdin_id => {
                    if let Some(tx) = &stdin_tx
                        && !data.is_empty()
                        && tx.send(Bytes::from(data)).await.is_err()
                    {
                        stdin_tx = None;
                    }
                    if fin {
                        stdin_tx = None;
                    }
                }
                Frame::Data {
                    stream_id, data, ..
                } if Some(stream_id) == resize_id => {
                    resize_buf.extend_from_slice(&data);
                    while let Some(i) = resize_buf.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = resize_buf.drain(..=i).collect();
                        if let Some(s) = ws::parse_size(&line) {
                            let _ = size_tx.send(Some(s));
                        }
                    }
                    if resize_buf.len() > 4096 {
                        resize_buf.clear();
                    }
                }
                Frame::RstStream { stream_id, .. } if Some(stream_id) == stdin_id => {
                    stdin_tx = None
                }
                _ => {}
            }
        }
    };
    let exit = tokio::select! {
        exit = work => exit,
        () = read => {
            tracing::info!("the SPDY client went away; its process is ended");
            return conn.close(last).await;
        }
    };
    for id in [stdout_id, stderr_id].into_iter().flatten() {
        Conn::send_data(&conn.out, id, &[], true).await;
    }
    if let (Some(exit), Some(id)) = (exit, error_id) {
        Conn::send_data(&conn.out, id, status(&exit).as_bytes(), true).await;
    }
    conn.close(last).await;
}
