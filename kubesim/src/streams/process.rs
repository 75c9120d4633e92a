//! The simulated containers' processes: a small built-in command set (`echo`, `env`,
//! `hostname`, `cat`, `ls`, `test`, `tar`, `sh -c`, an interactive `sh`, `sleep`, `stty size`,
//! ...) run against the container's in-memory files, with stdin, stdout and stderr as streams
//! and a TTY's line discipline when one is asked for. Transports (WebSocket, SPDY) feed them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cceone_kubesim_core::streams::fs::{Entry, Fs, normalise};
use cceone_kubesim_core::streams::{shell, tar};
use tokio::sync::{mpsc, watch};

/// Most bytes a command buffers from stdin or a pipe (`tar x`, `a | b`).
const MAX_BUFFERED: usize = 64 * 1024 * 1024;
/// Longest `sleep`.
const MAX_SLEEP: u64 = 3600;
/// Deepest `sh -c "sh -c ..."` nesting.
const MAX_DEPTH: usize = 8;

/// Which container a process runs in.
#[derive(Clone)]
pub(crate) struct Container {
    pub(crate) namespace: String,
    pub(crate) pod: String,
    pub(crate) name: String,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) fs: Arc<parking_lot::Mutex<Fs>>,
}

/// Output of a process.
#[derive(Debug)]
pub(crate) enum Output {
    Stdout(Bytes),
    Stderr(Bytes),
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    /// It exited with this code.
    Code(i32),
    /// It could not be started (kubelet's `InternalError`).
    Failed(String),
}

/// A process's streams as the transport hands them over.
pub(crate) struct Stdio {
    /// Raw stdin (closed at the client's end of input); None without `stdin=true`.
    pub(crate) stdin: Option<mpsc::Receiver<Bytes>>,
    /// stdout and stderr.
    pub(crate) out: mpsc::Sender<Output>,
    /// Terminal size (rows, columns) once the client sent one.
    pub(crate) size: watch::Receiver<Option<(u16, u16)>>,
    /// Whether a TTY was asked for.
    pub(crate) tty: bool,
}

/// The process went away: its client is gone.
struct Gone;

enum Input {
    Live(mpsc::Receiver<Bytes>),
    Buf(Option<Vec<u8>>),
    Closed,
}

impl Input {
    async fn read(&mut self) -> Option<Bytes> {
        match self {
            Input::Live(rx) => rx.recv().await,
            Input::Buf(b) => b.take().map(Bytes::from),
            Input::Closed => None,
        }
    }

    async fn read_all(&mut self) -> Result<Vec<u8>, String> {
        let mut all = Vec::new();
        while let Some(b) = self.read().await {
            if all.len() + b.len() > MAX_BUFFERED {
                return Err("input too large".into());
            }
            all.extend_from_slice(&b);
        }
        Ok(all)
    }
}

enum Dest {
    Live {
        out: mpsc::Sender<Output>,
        err: bool,
        tty: bool,
    },
    Buf(Vec<u8>),
}

impl Dest {
    async fn write(&mut self, b: &[u8]) -> Result<(), Gone> {
        match self {
            Dest::Live { out, err, tty } => {
                let data = if *tty {
                    // The terminal's output processing (onlcr).
                    let mut v = Vec::with_capacity(b.len() + 8);
                    for &c in b {
                        if c == b'\n' {
                            v.push(b'\r');
                        }
                        v.push(c);
                    }
                    Bytes::from(v)
                } else {
                    Bytes::copy_from_slice(b)
                };
                let o = if *err {
                    Output::Stderr(data)
                } else {
                    Output::Stdout(data)
                };
                out.send(o).await.map_err(|_| Gone)
            }
            Dest::Buf(v) => {
                if v.len() + b.len() > MAX_BUFFERED {
                    return Err(Gone);
                }
                v.extend_from_slice(b);
                Ok(())
            }
        }
    }

    async fn line(&mut self, s: &str) -> Result<(), Gone> {
        let mut v = s.as_bytes().to_vec();
        v.push(b'\n');
        self.write(&v).await
    }
}

struct Ctx<'a> {
    c: &'a Container,
    cwd: String,
    size: watch::Receiver<Option<(u16, u16)>>,
    tty: bool,
    depth: usize,
}

impl Ctx<'_> {
    fn env(&self, k: &str) -> Option<String> {
        self.c
            .env
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    }
}

/// The environment a container's processes see: the pod's `env` values over the defaults.
pub(crate) fn environment(
    pod: &serde_json::Value,
    container: &serde_json::Value,
) -> Vec<(String, String)> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let mut env = vec![
        (
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ),
        ("HOSTNAME".to_string(), name.to_string()),
        ("HOME".to_string(), "/root".to_string()),
        (
            "KUBERNETES_SERVICE_HOST".to_string(),
            "10.96.0.1".to_string(),
        ),
        ("KUBERNETES_SERVICE_PORT".to_string(), "443".to_string()),
    ];
    for e in container
        .get("env")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(n), Some(v)) = (
            e.get("name").and_then(serde_json::Value::as_str),
            e.get("value").and_then(serde_json::Value::as_str),
        ) {
            env.push((n.to_string(), v.to_string()));
        }
    }
    env
}

/// Run `argv` as a container's exec would.
pub(crate) async fn exec(c: &Container, argv: Vec<String>, io: Stdio) -> Exit {
    let Some(cmd) = argv.first().cloned() else {
        return Exit::Failed("command is required".into());
    };
    if !is_builtin(&cmd) {
        return Exit::Failed(format!(
            "failed to exec in container: OCI runtime exec failed: exec failed: unable to start container process: exec: \"{cmd}\": executable file not found in $PATH: unknown"
        ));
    }
    let tty = io.tty;
    let stdin = match io.stdin {
        Some(rx) if tty => Input::Live(line_discipline(rx, io.out.clone())),
        Some(rx) => Input::Live(rx),
        None => Input::Closed,
    };
    let mut stdin = stdin;
    let mut stdout = Dest::Live {
        out: io.out.clone(),
        err: false,
        tty,
    };
    let mut stderr = Dest::Live {
        out: io.out,
        err: !tty,
        tty,
    };
    let mut ctx = Ctx {
        c,
        cwd: "/".into(),
        size: io.size,
        tty,
        depth: 0,
    };
    match run(&mut ctx, &argv, &mut stdin, &mut stdout, &mut stderr).await {
        Ok(code) => Exit::Code(code),
        Err(Gone) => Exit::Code(130),
    }
}

fn is_builtin(cmd: &str) -> bool {
    let base = cmd.rsplit('/').next().unwrap_or(cmd);
    matches!(
        base,
        "echo"
            | "env"
            | "printenv"
            | "hostname"
            | "pwd"
            | "cat"
            | "ls"
            | "test"
            | "["
            | "true"
            | "false"
            | "exit"
            | "sleep"
            | "mkdir"
            | "tar"
            | "tail"
            | "head"
            | "seq"
            | "stty"
            | "sh"
            | "bash"
    )
}

/// A TTY's canonical mode: echo what is typed, hand lines over on Enter (CR becomes LF),
/// Backspace erases, Ctrl-D on an empty line ends input, Ctrl-C ends the process.
fn line_discipline(
    mut raw: mpsc::Receiver<Bytes>,
    out: mpsc::Sender<Output>,
) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut line: Vec<u8> = Vec::new();
        while let Some(chunk) = raw.recv().await {
            let mut echo = Vec::new();
            for &b in chunk.iter() {
                match b {
                    b'\r' | b'\n' => {
                        echo.extend_from_slice(b"\r\n");
                        line.push(b'\n');
                        let _ = out
                            .send(Output::Stdout(Bytes::from(std::mem::take(&mut echo))))
                            .await;
                        if tx
                            .send(Bytes::from(std::mem::take(&mut line)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    0x7f | 0x08 => {
                        if line.pop().is_some() {
                            echo.extend_from_slice(b"\x08 \x08");
                        }
                    }
                    0x03 => {
                        let _ = out
                            .send(Output::Stdout(Bytes::from_static(b"^C\r\n")))
                            .await;
                        return; // dropping tx ends input; exec's select sees the interrupt
                    }
                    0x04 if line.is_empty() => return,
                    0x04 => {
                        if tx
                            .send(Bytes::from(std::mem::take(&mut line)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    b => {
                        if line.len() < 4096 {
                            line.push(b);
                            echo.push(b);
                        }
                    }
                }
            }
            if !echo.is_empty() && out.send(Output::Stdout(Bytes::from(echo))).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// Run one command; its exit code.
fn run<'a>(
    ctx: &'a mut Ctx<'_>,
    argv: &'a [String],
    stdin: &'a mut Input,
    stdout: &'a mut Dest,
    stderr: &'a mut Dest,
) -> futures::future::BoxFuture<'a, Result<i32, Gone>> {
    Box::pin(async move {
        let Some(cmd) = argv.first() else {
            return Ok(0);
        };
        let args = &argv[1..];
        let base = cmd.rsplit('/').next().unwrap_or(cmd).to_string();
        match base.as_str() {
            "echo" => {
                let (nl, words) = match args.first().map(String::as_str) {
                    Some("-n") => (false, &args[1..]),
                    _ => (true, args),
                };
                let mut s = words.join(" ");
                if nl {
                    s.push('\n');
                }
                stdout.write(s.as_bytes()).await?;
                Ok(0)
            }
            "env" | "printenv" => {
                if let Some(k) = args.first() {
                    return Ok(match ctx.env(k) {
                        Some(v) => {
                            stdout.line(&v).await?;
                            0
                        }
                        None => 1,
                    });
                }
                let mut seen = std::collections::BTreeMap::new();
                for (k, v) in &ctx.c.env {
                    seen.insert(k.clone(), v.clone());
                }
                let mut s = String::new();
                for (k, v) in &ctx.c.env {
                    if let Some(v2) = seen.remove(k) {
                        let _ = v;
                        s.push_str(&format!("{k}={v2}\n"));
                    }
                }
                stdout.write(s.as_bytes()).await?;
                Ok(0)
            }
            "hostname" => {
                stdout.line(&ctx.c.pod).await?;
                Ok(0)
            }
            "pwd" => {
                stdout.line(&ctx.cwd).await?;
                Ok(0)
            }
            "true" => Ok(0),
            "false" => Ok(1),
            "exit" => Ok(args.first().and_then(|a| a.parse().ok()).unwrap_or(0)),
            "sleep" => {
                let secs: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(0.0);
                let secs = secs.clamp(0.0, MAX_SLEEP as f64);
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                Ok(0)
            }
            "seq" => {
                let nums: Vec<i64> = args.iter().filter_map(|a| a.parse().ok()).collect();
                let (a, b) = match nums.as_slice() {
                    [b] => (1, *b),
                    [a, b, ..] => (*a, *b),
                    _ => return Ok(1),
                };
                let b = b.min(a.saturating_add(10_000_000));
                let mut buf = String::new();
                for i in a..=b {
                    buf.push_str(&i.to_string());
                    buf.push('\n');
                    if buf.len() > 32 * 1024 {
                        stdout.write(buf.as_bytes()).await?;
                        buf.clear();
                    }
                }
                stdout.write(buf.as_bytes()).await?;
                Ok(0)
            }
            "stty" => {
                if !ctx.tty {
                    stderr.line("stty: standard input: Not a tty").await?;
                    return Ok(1);
                }
                if args.first().map(String::as_str) == Some("size") {
                    let (r, c) = (*ctx.size.borrow()).unwrap_or((24, 80));
                    stdout.line(&format!("{r} {c}")).await?;
                }
                Ok(0)
            }
            "cat" => cat(ctx, args, stdin, stdout, stderr).await,
            "head" | "tail" => head_tail(&base, args, stdin, stdout, stderr).await,
            "ls" => {
                let p = normalise(&ctx.cwd, args.first().map_or(".", String::as_str));
                let listing = {
                    let fs = ctx.c.fs.lock();
                    match fs.get(&p) {
                        Some(Entry::Dir) => Some(fs.list(&p).join("\n")),
                        Some(Entry::File { .. }) => Some(args.first().cloned().unwrap_or_default()),
                        None => None,
                    }
                };
                match listing {
                    Some(l) if l.is_empty() => Ok(0),
                    Some(l) => {
                        stdout.line(&l).await?;
                        Ok(0)
                    }
                    None => {
                        stderr
                            .line(&format!(
                                "ls: {}: No such file or directory",
                                args.first().cloned().unwrap_or_default()
                            ))
                            .await?;
                        Ok(1)
                    }
                }
            }
            "test" | "[" => {
                let args: Vec<&str> = args
                    .iter()
                    .map(String::as_str)
                    .filter(|a| *a != "]")
                    .collect();
                let fs = ctx.c.fs.lock();
                let ok = match args.as_slice() {
                    ["-d", p] => matches!(fs.get(&normalise(&ctx.cwd, p)), Some(Entry::Dir)),
                    ["-f", p] => {
                        matches!(fs.get(&normalise(&ctx.cwd, p)), Some(Entry::File { .. }))
                    }
                    ["-e", p] => fs.get(&normalise(&ctx.cwd, p)).is_some(),
                    ["-s", p] => {
                        matches!(fs.get(&normalise(&ctx.cwd, p)), Some(Entry::File { data, .. }) if !data.is_empty())
                    }
                    ["-n", s] => !s.is_empty(),
                    ["-z", s] => s.is_empty(),
                    [a, "=", b] => a == b,
                    [a, "!=", b] => a != b,
                    [s] => !s.is_empty(),
                    _ => false,
                };
                Ok(if ok { 0 } else { 1 })
            }
            "mkdir" => {
                let mut code = 0;
                for p in args.iter().filter(|a| !a.starts_with('-')) {
                    let r = ctx.c.fs.lock().mkdir_all(&normalise(&ctx.cwd, p));
                    if let Err(e) = r {
                        stderr
                            .line(&format!("mkdir: can't create directory '{p}': {e}"))
                            .await?;
                        code = 1;
                    }
                }
                Ok(code)
            }
            "tar" => tar_cmd(ctx, args, stdin, stdout, stderr).await,
            "sh" | "bash" => sh(ctx, args, stdin, stdout, stderr).await,
            other => {
                stderr.line(&format!("sh: {other}: not found")).await?;
                Ok(127)
            }
        }
    })
}

async fn cat(
    ctx: &mut Ctx<'_>,
    args: &[String],
    stdin: &mut Input,
    stdout: &mut Dest,
    stderr: &mut Dest,
) -> Result<i32, Gone> {
    if args.is_empty() || args.iter().all(|a| a == "-") {
        while let Some(b) = stdin.read().await {
            stdout.write(&b).await?;
        }
        return Ok(0);
    }
    let mut code = 0;
    for a in args {
        let p = normalise(&ctx.cwd, a);
        let data = match ctx.c.fs.lock().get(&p) {
            Some(Entry::File { data, .. }) => Ok(data.clone()),
            Some(Entry::Dir) => Err("Is a directory"),
            None => Err("No such file or directory"),
        };
        match data {
            Ok(d) => stdout.write(&d).await?,
            Err(e) => {
                stderr.line(&format!("cat: can't open '{a}': {e}")).await?;
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `head -c N`, `tail -c +N` (what `kubectl cp --retries` appends) and `-c N`.
async fn head_tail(
    which: &str,
    args: &[String],
    stdin: &mut Input,
    stdout: &mut Dest,
    stderr: &mut Dest,
) -> Result<i32, Gone> {
    let spec = match args {
        [c, n, ..] if c == "-c" => n.clone(),
        [c, ..] if c.starts_with("-c") => c[2..].to_string(),
        _ => {
            stderr
                .line(&format!("{which}: only -c is supported"))
                .await?;
            return Ok(1);
        }
    };
    let Ok(all) = stdin.read_all().await else {
        return Ok(1);
    };
    let from_start = spec.starts_with('+');
    let Ok(n) = spec.trim_start_matches('+').parse::<usize>() else {
        stderr
            .line(&format!("{which}: invalid number '{spec}'"))
            .await?;
        return Ok(1);
    };
    let slice = match (which, from_start) {
        ("head", _) => &all[..n.min(all.len())],
        ("tail", true) => &all[n.saturating_sub(1).min(all.len())..],
        _ => &all[all.len().saturating_sub(n)..],
    };
    stdout.write(slice).await?;
    Ok(0)
}

async fn tar_cmd(
    ctx: &mut Ctx<'_>,
    args: &[String],
    stdin: &mut Input,
    stdout: &mut Dest,
    stderr: &mut Dest,
) -> Result<i32, Gone> {
    let (mut create, mut extract, mut dir) = (false, false, ctx.cwd.clone());
    let mut operands = Vec::new();
    let mut it = args.iter().enumerate().peekable();
    while let Some((i, a)) = it.next() {
        if a.starts_with("--") {
            continue; // --no-same-permissions, --no-same-owner: nothing to drop here
        }
        if a == "-C" {
            if let Some((_, d)) = it.next() {
                dir = normalise(&ctx.cwd, d);
            }
            continue;
        }
        // The first word may be bundled flags without a dash (`cf`, `xmf`).
        if a.starts_with('-') || i == 0 {
            let flags = a.trim_start_matches('-');
            for f in flags.chars() {
                match f {
                    'c' => create = true,
                    'x' => extract = true,
                    'f' => {
                        if let Some((_, v)) = it.next()
                            && v != "-"
                        {
                            stderr
                                .line("tar: only -f - (stdin or stdout) is supported")
                                .await?;
                            return Ok(2);
                        }
                    }
                    'C' => {
                        if let Some((_, d)) = it.next() {
                            dir = normalise(&ctx.cwd, d);
                        }
                    }
                    _ => {}
                }
            }
            continue;
        }
        operands.push(a.clone());
    }
    if create == extract {
        stderr.line("tar: need exactly one of -c or -x").await?;
        return Ok(2);
    }
    if create {
        let mut out = Vec::new();
        for o in &operands {
            let r = tar::create(&ctx.c.fs.lock(), &dir, o);
            match r {
                Ok(mut a) => {
                    a.truncate(a.len() - 1024);
                    out.extend(a);
                }
                Err(e) => {
                    stderr.line(&format!("tar: {e}")).await?;
                    return Ok(2);
                }
            }
        }
        out.extend_from_slice(&[0u8; 1024]);
        stdout.write(&out).await?;
        return Ok(0);
    }
    let archive = match stdin.read_all().await {
        Ok(a) => a,
        Err(e) => {
            stderr.line(&format!("tar: {e}")).await?;
            return Ok(2);
        }
    };
    let r = tar::extract(&mut ctx.c.fs.lock(), &dir, &archive);
    match r {
        Ok(names) => {
            tracing::debug!(files = names.len(), dir, "tar extracted");
            Ok(0)
        }
        Err(e) => {
            stderr.line(&format!("tar: {e}")).await?;
            Ok(2)
        }
    }
}

async fn sh(
    ctx: &mut Ctx<'_>,
    args: &[String],
    stdin: &mut Input,
    stdout: &mut Dest,
    stderr: &mut Dest,
) -> Result<i32, Gone> {
    if ctx.depth >= MAX_DEPTH {
        stderr.line("sh: nested too deeply").await?;
        return Ok(2);
    }
    ctx.depth += 1;
    let r = if let Some(i) = args.iter().position(|a| a == "-c") {
        let script = args.get(i + 1).cloned().unwrap_or_default();
        script_run(ctx, &script, stdin, stdout, stderr).await
    } else {
        interactive(ctx, stdin, stdout, stderr).await
    };
    ctx.depth -= 1;
    r
}

/// An interactive shell: a prompt on a TTY, one line at a time, until `exit` or end of input.
async fn interactive(
    ctx: &mut Ctx<'_>,
    stdin: &mut Input,
    stdout: &mut Dest,
    stderr: &mut Dest,
) -> Result<i32, Gone> {
    let mut pending: Vec<u8> = Vec::new();
    let mut code = 0;
    loop {
        if ctx.tty {
            stdout.write(b"/ # ").await?;
        }
        let line = loop {
            if let Some(i) = pending.iter().position(|&b| b == b'\n') {
                let l: Vec<u8> = pending.drain(..=i).collect();
                break Some(l);
            }
            match stdin.read().await {
                Some(b) => {
                    if pending.len() + b.len() > 64 * 1024 {
                        pending.clear();
                    }
                    pending.extend_from_slice(&b);
                }
                None if pending.is_empty() => break None,
                None => break Some(std::mem::take(&mut pending)),
            }
        };
        let Some(line) = line else {
            return Ok(code);
        };
        let line = String::from_utf8_lossy(&line).trim().to_string();
        if line == "exit" || line.starts_with("exit ") {
            return Ok(line[4..].trim().parse().unwrap_or(code));
        }
        code = script_run(ctx, &line, &mut Input::Closed, stdout, stderr).await?;
    }
}

async fn script_run(
    ctx: &mut Ctx<'_>,
    script: &str,
    stdin: &mut Input,
    stdout: &mut Dest,
    stderr: &mut Dest,
) -> Result<i32, Gone> {
    let steps = {
        let env = |k: &str| ctx.env(k);
        shell::parse(script, &env)
    };
    let steps = match steps {
        Ok(s) => s,
        Err(e) => {
            stderr.line(&format!("sh: {e}")).await?;
            return Ok(2);
        }
    };
    let mut code = 0;
    let mut skip = false;
    for step in steps {
        if !skip {
            if let [only] = step.pipeline.as_slice()
                && only.argv.first().map(String::as_str) == Some("exit")
            {
                return Ok(only
                    .argv
                    .get(1)
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(code));
            }
            code = pipeline(ctx, &step.pipeline, stdin, stdout, stderr).await?;
        }
        skip = match step.then {
            shell::Join::Then => false,
            shell::Join::And => code != 0,
            shell::Join::Or => code == 0,
        };
    }
    Ok(code)
}

async fn pipeline(
    ctx: &mut Ctx<'_>,
    cmds: &[shell::Command],
    stdin: &mut Input,
    stdout: &mut Dest,
    stderr: &mut Dest,
) -> Result<i32, Gone> {
    let mut carried: Option<Vec<u8>> = None;
    let mut code = 0;
    for (i, cmd) in cmds.iter().enumerate() {
        let last = i + 1 == cmds.len();
        let mut input = match carried.take() {
            Some(b) => Input::Buf(Some(b)),
            None if i == 0 => std::mem::replace(stdin, Input::Closed),
            None => Input::Buf(None),
        };
        let redirected = cmd.stdout_to.is_some() || !last;
        let mut buf = Dest::Buf(Vec::new());
        let r = if cmd.to_stderr && !redirected {
            let mut err_as_out = Dest::Buf(Vec::new());
            let r = run(ctx, &cmd.argv, &mut input, &mut err_as_out, stderr).await;
            if let Dest::Buf(b) = err_as_out {
                stderr.write(&b).await?;
            }
            r
        } else if redirected {
            run(ctx, &cmd.argv, &mut input, &mut buf, stderr).await
        } else {
            run(ctx, &cmd.argv, &mut input, stdout, stderr).await
        };
        if i == 0
            && let Input::Live(_) = input
        {
            *stdin = input;
        }
        code = r?;
        let Dest::Buf(out) = buf else { continue };
        match &cmd.stdout_to {
            Some((file, append)) => {
                let p = normalise(&ctx.cwd, file);
                let w = {
                    let mut fs = ctx.c.fs.lock();
                    let mut data = match (append, fs.get(&p)) {
                        (true, Some(Entry::File { data, .. })) => data.clone(),
                        _ => Vec::new(),
                    };
                    data.extend_from_slice(&out);
                    fs.write(&p, data, 0o644)
                };
                if let Err(e) = w {
                    stderr
                        .line(&format!("sh: can't create {file}: {e}"))
                        .await?;
                    code = 1;
                }
                if !last {
                    carried = Some(Vec::new());
                }
            }
            None if !last => carried = Some(out),
            None => {}
        }
    }
    Ok(code)
}
