//! Streams with the real `kubectl`: `logs` (`--tail`, `--previous` refused in kubelet's words,
//! `-f` receiving lines as they are written), `attach`, `exec` (output, exit codes, stdin, `-it` with a
//! TTY and its size), `cp` both ways and `port-forward` carrying a large body both ways, first
//! directly against the simulator, then through a proxy kubeconfig (hub -> tunnel -> agent ->
//! a member behind NAT when network namespaces are available) over QUIC and over TLS/TCP, each
//! with kubectl 1.32 (WebSocket: `v5.channel.k8s.io`, SPDY tunnelled in WebSocket for
//! port-forward) and kubectl 1.27 (SPDY/3.1). The member's RBAC refuses exec to a user without
//! `pods/exec`, and ending kubectl ends the process in the member.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::netlab::NetLab;
use support::{Platform, Proc, eventually, kubectl_127, kubectl_bin, kubesim, kubesim_in, step};

/// (exit code, stdout, stderr) of `bin --kubeconfig kc args...`, with `stdin` piped in.
fn kc_run(bin: &Path, kc: &Path, args: &[&str], stdin: Option<&[u8]>) -> (i32, Vec<u8>, String) {
    let mut child = Command::new(bin)
        .arg("--kubeconfig")
        .arg(kc)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(data) = stdin {
        let mut s = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = s.write_all(&data);
        });
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Deterministic bytes that are not text.
fn blob(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// exec output, exit codes, stdin and `cp` both ways with one client.
fn exec_and_cp(
    bin: &Path,
    kc: &Path,
    dir: &Path,
    tag: &str,
    member_log: &dyn Fn() -> String,
    want: &str,
) {
    let (code, out, err) = kc_run(bin, kc, &["exec", "solo", "--", "echo", "hello", tag], None);
    assert_eq!(
        (code, String::from_utf8_lossy(&out).as_ref()),
        (0, format!("hello {tag}\n").as_str()),
        "{err}"
    );
    let (code, out, err) = kc_run(
        bin,
        kc,
        &[
            "exec",
            "solo",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        None,
    );
    assert_eq!(code, 3, "{err}");
    assert_eq!(out, b"out\n");
    assert!(
        err.contains("err") && err.contains("command terminated with exit code 3"),
        "{err}"
    );
    // stdin: what goes in comes back, and its end ends `cat`.
    let input = blob(200_000, 7);
    let (code, out, err) = kc_run(bin, kc, &["exec", "-i", "solo", "--", "cat"], Some(&input));
    assert_eq!(code, 0, "{err}");
    assert!(
        out == input,
        "stdin came back as {} bytes, not {}",
        out.len(),
        input.len()
    );
    // cp into the pod and back out again.
    let local = dir.join(format!("up-{tag}.bin"));
    let data = blob(300_000, 11);
    std::fs::write(&local, &data).unwrap();
    let l = local.display().to_string();
    let remote = format!("solo:/tmp/{tag}.bin");
    let (code, _, err) = kc_run(bin, kc, &["cp", &l, &remote], None);
    assert_eq!(code, 0, "cp to the pod: {err}");
    let (_, out, _) = kc_run(bin, kc, &["exec", "solo", "--", "ls", "/tmp"], None);
    assert!(String::from_utf8_lossy(&out).contains(&format!("{tag}.bin")));
    let back = dir.join(format!("down-{tag}.bin"));
    let b = back.display().to_string();
    let (code, _, err) = kc_run(bin, kc, &["cp", &remote, &b], None);
    assert_eq!(code, 0, "cp from the pod: {err}");
    assert!(
        std::fs::read(&back).unwrap() == data,
        "cp round trip changed the file"
    );
    // Each command reached the member once, over the protocol this client speaks first (no
    // fallback from a failed WebSocket to SPDY).
    let log = member_log();
    let ran = format!("command=[\"echo\", \"hello\", \"{tag}\"] upgrade={want}");
    assert_eq!(
        log.matches(&format!("command=[\"echo\", \"hello\", \"{tag}\"]"))
            .count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches(&ran).count(),
        1,
        "no {ran:?} in the member's log"
    );
    step(&format!("exec and cp with {tag}"));
}

/// `kubectl port-forward` to the pod's HTTP responder: a large body up and back, and a large
/// download.
fn port_forward(bin: &Path, kc: &Path, dir: &Path, tag: &str) {
    let port = support::free_port();
    let spec = format!("{port}:80");
    let kc_s = kc.display().to_string();
    let pf = Proc::start_program(
        &format!("port-forward-{tag}"),
        bin.to_path_buf(),
        &["--kubeconfig", &kc_s, "port-forward", "pod/solo", &spec],
        dir,
    );
    eventually(
        &format!("port-forward {tag} listening"),
        Duration::from_secs(20),
        || {
            pf.log_text()
                .contains("Forwarding from 127.0.0.1")
                .then_some(())
        },
    );
    let body = blob(4 << 20, 3);
    let echoed = http(port, "POST", "/echo", &body);
    assert!(
        echoed == body,
        "4 MiB echo came back as {} bytes",
        echoed.len()
    );
    let got = http(port, "GET", "/bytes/3000000", b"");
    assert_eq!(got.len(), 3_000_000);
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    step(&format!(
        "port-forward with {tag}: 4 MiB both ways, 3 MB down"
    ));
}

/// One HTTP/1.1 request to 127.0.0.1:`port`; the response body.
fn http(port: u16, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut w = s.try_clone().unwrap();
    let up = body.to_vec();
    let writer = std::thread::spawn(move || {
        w.write_all(head.as_bytes()).unwrap();
        w.write_all(&up).unwrap();
    });
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    writer.join().unwrap();
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&resp[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    resp[split..].to_vec()
}

/// `kubectl exec -it` under a pseudo-terminal (`script`) sized 40x100: the prompt, the size the
/// client sent, an echoed command, and the exit code of `exit 4`.
fn exec_tty(bin: &Path, kc: &Path) {
    let cmd = format!(
        "stty rows 40 cols 100; exec {} --kubeconfig {} exec -it solo -- sh",
        bin.display(),
        kc.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = |what: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !String::from_utf8_lossy(&seen).contains(what) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                !left.is_zero(),
                "no {what:?} from exec -it; saw {:?}",
                String::from_utf8_lossy(&seen)
            );
            if let Ok(b) = rx.recv_timeout(left) {
                seen.extend(b);
            }
        }
    };
    wait_for("/ # ");
    stdin.write_all(b"stty size\r").unwrap();
    wait_for("40 100");
    stdin.write_all(b"echo tty-ok\r").unwrap();
    wait_for("tty-ok\r\n");
    stdin.write_all(b"exit 4\r").unwrap();
    // `script` reads its input to the end before it exits.
    drop(stdin);
    let status = eventually("exec -it exits", Duration::from_secs(20), || {
        child.try_wait().unwrap()
    });
    assert_eq!(
        status.code(),
        Some(4),
        "{:?}",
        String::from_utf8_lossy(&seen)
    );
    step("exec -it: prompt, TTY size 40x100, echo, exit 4");
}

/// `logs --tail` and `logs -f` getting a line written after it started.
fn logs(bin: &Path, kc: &Path, dir: &Path, tag: &str) {
    // One line a second from the container's start: wait for two.
    let text = eventually("two log lines written", Duration::from_secs(20), || {
        let (code, out, err) = kc_run(bin, kc, &["logs", "solo", "--tail", "2"], None);
        assert_eq!(code, 0, "{err}");
        let text = String::from_utf8_lossy(&out).to_string();
        (text.lines().count() == 2).then_some(text)
    });
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("default/solo solo: line "), "{text}");
    let last: u64 = lines[1].rsplit(' ').next().unwrap().parse().unwrap();
    let kc_s = kc.display().to_string();
    let follow = Proc::start_program(
        &format!("logs-f-{tag}"),
        bin.to_path_buf(),
        &["--kubeconfig", &kc_s, "logs", "-f", "solo", "--tail", "1"],
        dir,
    );
    let later = format!("solo: line {}\n", last + 2);
    eventually(
        &format!("logs -f ({tag}) receives {later:?} as it is written"),
        Duration::from_secs(20),
        || follow.log_text().contains(&later).then_some(()),
    );
}

/// The pod `solo` running in the member.
fn wait_solo(member: &dyn Fn(&[&str]) -> String) {
    member(&["run", "solo", "--image=busybox"]);
    eventually("pod solo Running", Duration::from_secs(30), || {
        member(&["get", "pod", "solo", "-o", "jsonpath={.status.phase}"])
            .contains("Running")
            .then_some(())
    });
}

#[test]
fn streams_directly_against_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, kc) = kubesim("member", dir.path(), &["--nodes", "1"]);
    let member_log = || sim.log_text();
    wait_solo(&|args| support::kubectl(&kc, args));
    let k132 = kubectl_bin();
    let (code, _, err) = kc_run(&k132, &kc, &["logs", "solo", "--previous"], None);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "Error from server (BadRequest): previous terminated container \"solo\" in pod \"solo\" not found"
    );
    logs(&k132, &kc, dir.path(), "direct");
    exec_and_cp(
        &k132,
        &kc,
        dir.path(),
        "direct-ws",
        &member_log,
        "WebSocket",
    );
    exec_tty(&k132, &kc);
    port_forward(&k132, &kc, dir.path(), "direct-ws");
    let Some(k127) = kubectl_127() else {
        println!("SKIPPED: the SPDY half: no kubectl.1.27 beside the kubectl dispatcher");
        return;
    };
    exec_and_cp(&k127, &kc, dir.path(), "direct-spdy", &member_log, "Spdy");
    port_forward(&k127, &kc, dir.path(), "direct-spdy");
}

#[test]
fn streams_through_the_hub_over_quic_and_tcp() {
    let lab = NetLab::nat("streams_through_the_hub_over_quic_and_tcp");
    let p = match &lab {
        Some(lab) => Platform::start_at(&lab.hub_ip, &[]),
        None => Platform::start(&[]),
    };
    let (member_proc, member_kc) = match &lab {
        Some(lab) => kubesim_in(
            Some(&lab.member),
            "0.0.0.0:0",
            "member",
            p.dir.path(),
            &["--nodes", "1"],
        ),
        None => kubesim("member", p.dir.path(), &["--nodes", "1"]),
    };
    let kc_s = member_kc.display().to_string();
    let kubectl_s = kubectl_bin().display().to_string();
    let member = |args: &[&str]| -> String {
        let mut all = vec![kubectl_s.as_str(), "--kubeconfig", kc_s.as_str()];
        all.extend_from_slice(args);
        match &lab {
            Some(lab) => lab.member_output(&all).unwrap(),
            None => support::kubectl(&member_kc, args),
        }
    };
    wait_solo(&member);
    // dev may read pods and their logs, not exec.
    member(&[
        "create",
        "role",
        "pod-reader",
        "--verb=get,list",
        "--resource=pods,pods/log",
    ]);
    member(&[
        "create",
        "rolebinding",
        "dev-reads",
        "--role=pod-reader",
        "--user=dev",
    ]);
    let mut agents = Vec::new();
    for (cluster, transport) in [("over-quic", "quic"), ("over-tcp", "grpc")] {
        member(&["create", "namespace", cluster]);
        let mut env = p.register(cluster, &[]);
        env.insert("CCEONE_TRANSPORT".into(), transport.into());
        env.insert("CCEONE_NAMESPACE".into(), cluster.into());
        let netns = lab.as_ref().map(|l| l.member.as_str());
        agents.push(p.agent_in(netns, cluster, &member_kc, env));
    }
    let k132 = kubectl_bin();
    let k127 = kubectl_127();
    for (cluster, want) in [("over-quic", "quic"), ("over-tcp", "grpc")] {
        p.wait_phase(cluster, "Running", Duration::from_secs(40));
        assert_eq!(p.cluster_field(cluster, ".status.transport"), want);
        let (kc, _) = p.proxy_kubeconfig(cluster, &format!("{cluster}.kubeconfig"));
        let d = p.dir.path();
        logs(&k132, &kc, d, cluster);
        let member_log = || member_proc.log_text();
        exec_and_cp(
            &k132,
            &kc,
            d,
            &format!("{cluster}-ws"),
            &member_log,
            "WebSocket",
        );
        exec_tty(&k132, &kc);
        port_forward(&k132, &kc, d, &format!("{cluster}-ws"));
        if let Some(k127) = &k127 {
            exec_and_cp(
                k127,
                &kc,
                d,
                &format!("{cluster}-spdy"),
                &member_log,
                "Spdy",
            );
            port_forward(k127, &kc, d, &format!("{cluster}-spdy"));
        }

        // Ending kubectl ends the process in the member.
        let gone = |log: &str| {
            log.matches("client went away; its process is ended")
                .count()
        };
        let before = gone(&member_proc.log_text());
        let started = |log: &str| log.matches("command=[\"sleep\", \"600\"]").count();
        let running = started(&member_proc.log_text());
        let kc_s = kc.display().to_string();
        let mut sleeper = Proc::start_program(
            &format!("sleeper-{cluster}"),
            k132.clone(),
            &["--kubeconfig", &kc_s, "exec", "solo", "--", "sleep", "600"],
            d,
        );
        eventually("the member runs sleep 600", Duration::from_secs(20), || {
            (started(&member_proc.log_text()) > running).then_some(())
        });
        sleeper.kill();
        eventually(
            &format!("{cluster}: the member ends the process when kubectl goes"),
            Duration::from_secs(20),
            || (gone(&member_proc.log_text()) > before).then_some(()),
        );
    }

    // The member's RBAC decides: dev reads logs through the hub but may not exec.
    // (a named user without --group gets no group at all; --group puts them in devs)
    let text = p.cceonectl(&[
        "cluster",
        "kubeconfig",
        "over-quic",
        "--user",
        "dev",
        "--group",
        "devs",
    ]);
    let dev = p.dir.path().join("dev.kubeconfig");
    std::fs::write(&dev, text).unwrap();
    let (code, out, err) = kc_run(&k132, &dev, &["logs", "solo", "--tail", "1"], None);
    assert_eq!(code, 0, "{err}");
    assert!(String::from_utf8_lossy(&out).contains("solo: line"));
    let (code, _, err) = kc_run(&k132, &dev, &["exec", "solo", "--", "echo", "no"], None);
    assert_ne!(code, 0);
    assert!(
        err.contains("User \"dev\" cannot create resource \"pods/exec\" in API group \"\" in the namespace \"default\""),
        "{err}"
    );
    drop(agents);
}
