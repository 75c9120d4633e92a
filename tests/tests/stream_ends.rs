//! Each end of a proxied stream ends the other. A `kubectl get pods -w`, a `kubectl logs -f` and
//! a `kubectl exec` made through a proxy kubeconfig (hub -> tunnel -> agent -> member), over
//! QUIC and over TLS/TCP, are each ended on the member once kubectl is killed: the member's
//! audit log says so, its request's `ResponseComplete` being written when its answer ends (as
//! kube-apiserver writes it for long-running requests). And a `kubectl attach` ends, exit code 0,
//! when its pod is deleted, as the kubelet ends an attach whose container stops (over WebSocket
//! with kubectl 1.32, and over SPDY/3.1 with kubectl 1.27 when installed). kube-rs's
//! `Api::<Pod>::portforward` (WebSocket channels, `v4.channel.k8s.io`) carries 1 MiB both ways
//! and ends once the pod closes its side.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use support::{
    Platform, Proc, audit_events, eventually, kubectl, kubectl_127, kubectl_bin, kubesim, step,
};

/// The member's audit events of requests made for a proxied caller (the agent impersonates
/// them) with this verb (any when empty: exec over WebSocket is a GET, over SPDY a POST) and
/// subresource.
fn proxied(log: &Path, verb: &str, subresource: &str, stage: &str) -> Vec<String> {
    audit_events(log)
        .iter()
        .filter(|e| {
            e["impersonatedUser"]["username"].is_string()
                && (verb.is_empty() || e["verb"] == verb)
                && e["stage"] == stage
                && e["objectRef"]["subresource"].as_str().unwrap_or_default() == subresource
        })
        .filter_map(|e| e["auditID"].as_str().map(str::to_string))
        .collect()
}

/// Start `kubectl args` through `kc`; once the member has started answering it (a new
/// `ResponseStarted` for `verb` on `subresource`), kill kubectl and wait for the member to end
/// that request.
fn ends_on_the_member(
    dir: &Path,
    audit: &Path,
    kc: &Path,
    tag: &str,
    (verb, subresource): (&str, &str),
    args: &[&str],
) {
    let before = proxied(audit, verb, subresource, "ResponseStarted");
    let kc_s = kc.display().to_string();
    let mut all = vec!["--kubeconfig", kc_s.as_str()];
    all.extend_from_slice(args);
    let mut caller = Proc::start_program(tag, kubectl_bin(), &all, dir);
    let id = eventually(
        &format!("{tag}: the member answers"),
        Duration::from_secs(30),
        || {
            proxied(audit, verb, subresource, "ResponseStarted")
                .into_iter()
                .find(|id| !before.contains(id))
        },
    );
    // Still open on the member while kubectl runs.
    assert!(
        !proxied(audit, verb, subresource, "ResponseComplete").contains(&id),
        "{tag}: the member ended the request before kubectl left; kubectl said:\n{}",
        caller.log_text()
    );
    caller.kill();
    eventually(
        &format!("{tag}: the member ends the request once kubectl is gone"),
        Duration::from_secs(20),
        || {
            proxied(audit, verb, subresource, "ResponseComplete")
                .contains(&id)
                .then_some(())
        },
    );
}

/// The pod `pod` running in the member.
fn run_pod(member_kc: &Path, pod: &str) {
    kubectl(member_kc, &["run", pod, "--image=busybox"]);
    eventually(
        &format!("pod {pod} Running"),
        Duration::from_secs(30),
        || {
            kubectl(
                member_kc,
                &["get", "pod", pod, "-o", "jsonpath={.status.phase}"],
            )
            .contains("Running")
            .then_some(())
        },
    );
}

/// `bin attach pod` through `kc`: once it prints the container's lines as they are written,
/// deleting the pod in the member ends it with exit code 0.
fn attach_ends_with_its_pod(
    bin: &Path,
    (member, member_kc): (&Proc, &Path),
    kc: &Path,
    dir: &Path,
    pod: &str,
) {
    run_pod(member_kc, pod);
    let kc_s = kc.display().to_string();
    let mut attach = Proc::start_program(
        &format!("attach-{pod}"),
        bin.to_path_buf(),
        &["--kubeconfig", &kc_s, "attach", pod],
        dir,
    );
    eventually(
        &format!("attach {pod} prints its lines"),
        Duration::from_secs(30),
        || {
            attach
                .log_text()
                .contains(&format!("{pod}: line"))
                .then_some(())
        },
    );
    kubectl(member_kc, &["delete", "pod", pod, "--wait=false"]);
    attach.wait_exit(Duration::from_secs(30));
    assert_eq!(attach.exit_code(), Some(0), "{}", attach.log_text());
    // Ended by the member's kubelet, not by a connection lost on the way.
    let said = |l: &str| {
        l.contains("the attached container is gone") && l.contains(&format!("pod={pod} "))
    };
    assert!(
        member.log_text().lines().any(said),
        "the member's log does not say the attach of {pod} ended with its container"
    );
    step(&format!("attach {pod} ended with its pod"));
}

/// kube-rs's port-forward (WebSocket channels, `v4.channel.k8s.io`) through `kc` to `pod`'s
/// HTTP responder: 1 MiB up and back, then the end of the stream once the pod's side closes.
async fn kube_rs_port_forward(kc: &Path, pod: &str) {
    let kubeconfig = kube::config::Kubeconfig::read_from(kc).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let pods: kube::Api<Pod> = kube::Api::default_namespaced(kube::Client::try_from(cfg).unwrap());
    let mut pf = pods.portforward(pod, &[80]).await.unwrap();
    let (mut rd, mut wr) = tokio::io::split(pf.take_stream(80).unwrap());
    let body: Vec<u8> = (0..1u32 << 20).map(|i| (i % 253) as u8).collect();
    let head = format!(
        "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let up = body.clone();
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await.unwrap();
        wr.write_all(&up).await.unwrap();
        wr
    });
    let mut resp = Vec::new();
    // Read to the end: the pod closing its side after the answer ends the stream.
    tokio::time::timeout(Duration::from_secs(30), rd.read_to_end(&mut resp))
        .await
        .expect("the forwarded stream did not end once the pod closed its side")
        .unwrap();
    // The whole stream dropped: kube-rs's side of the port then ends too.
    drop((rd, writer.await.unwrap()));
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let answer = String::from_utf8_lossy(&resp[..split]).to_string();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        resp[split..] == body[..],
        "1 MiB echo came back as {} bytes",
        resp.len() - split
    );
    // Its task ends. (kube-rs 5 answers the server's Close, then sends its own once its last
    // port is done, which tungstenite refuses: SendAfterClosing. The kubelet closes first too.)
    let ended = tokio::time::timeout(Duration::from_secs(20), pf.join())
        .await
        .expect("kube-rs's port-forward did not end");
    if let Err(e) = ended {
        assert!(format!("{e:?}").contains("SendAfterClosing"), "{e:?}");
    }
}

#[test]
fn each_end_of_a_proxied_stream_ends_the_other() {
    let p = Platform::start(&[]);
    let audit = p.dir.path().join("member-audit.log");
    let audit_s = audit.display().to_string();
    let (member, member_kc) = kubesim(
        "member",
        p.dir.path(),
        &["--nodes", "1", "--audit-log", &audit_s],
    );
    let mut agents = Vec::new();
    for (cluster, transport) in [("over-quic", "quic"), ("over-tcp", "grpc")] {
        kubectl(&member_kc, &["create", "namespace", cluster]);
        let mut env = p.register(cluster, &[]);
        env.insert("CCEONE_TRANSPORT".into(), transport.into());
        env.insert("CCEONE_NAMESPACE".into(), cluster.into());
        agents.push(p.agent(cluster, &member_kc, env));
    }
    run_pod(&member_kc, "solo");
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Attach over SPDY/3.1 (kubectl 1.27) to one of the two, when installed.
    let k127 = kubectl_127();
    for (cluster, want) in [("over-quic", "quic"), ("over-tcp", "grpc")] {
        p.wait_phase(cluster, "Running", Duration::from_secs(40));
        assert_eq!(p.cluster_field(cluster, ".status.transport"), want);
        let (kc, _) = p.proxy_kubeconfig(cluster, &format!("{cluster}.kubeconfig"));
        let d = p.dir.path();
        ends_on_the_member(
            d,
            &audit,
            &kc,
            &format!("watch-{cluster}"),
            ("watch", ""),
            &["get", "pods", "-w"],
        );
        ends_on_the_member(
            d,
            &audit,
            &kc,
            &format!("logs-f-{cluster}"),
            ("get", "log"),
            &["logs", "-f", "solo"],
        );
        ends_on_the_member(
            d,
            &audit,
            &kc,
            &format!("exec-{cluster}"),
            ("", "exec"),
            &["exec", "solo", "--", "sleep", "600"],
        );
        step(&format!(
            "{cluster}: watch, logs -f and exec end with kubectl"
        ));
        let bin = match (&k127, cluster) {
            (Some(k), "over-tcp") => k.clone(),
            _ => kubectl_bin(),
        };
        rt.block_on(kube_rs_port_forward(&kc, "solo"));
        step(&format!("{cluster}: kube-rs port-forward, 1 MiB echoed"));
        attach_ends_with_its_pod(
            &bin,
            (&member, &member_kc),
            &kc,
            d,
            &format!("held-{cluster}"),
        );
    }
    drop(agents);
}
