//! The simulated kubelet: what a member cluster's pods answer to `kubectl logs`, `exec`,
//! `attach`, `port-forward` and `cp`, served on the simulator's API port the way kube-apiserver
//! relays them to a kubelet. exec and attach speak the WebSocket subprotocols
//! `v5.channel.k8s.io` and `v4.channel.k8s.io` (kubectl 1.30+) and SPDY/3.1 with
//! `v4.channel.k8s.io` (older clients, client-go); port-forward speaks SPDY/3.1 directly or
//! tunnelled in WebSocket (`SPDY/3.1+portforward.k8s.io`, kubectl 1.31+), and WebSocket
//! channels (`v4.channel.k8s.io`, kube-rs).

mod exec;
mod gone;
mod logs;
mod portforward;
mod process;
mod responder;
mod spdy;
mod upgrade;
mod ws;
mod wsforward;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use cceone_kube_apiserver::http::Body;
use cceone_kube_apiserver::{ApiError, Core, PodStream, PodStreamHook};
use cceone_kubesim_core::streams::fs::Fs;
use http::Response;
use serde_json::Value;

/// Most container filesystems kept at once (the oldest is dropped past it).
const MAX_FILESYSTEMS: usize = 4096;

/// What the simulated kubelet keeps between requests: each container's files, and the API it
/// watches pods through (set once the server has started).
pub(crate) struct Kubelet {
    files: parking_lot::Mutex<HashMap<(String, String), SharedFs>>,
    core: Arc<OnceLock<Arc<Core>>>,
}

/// One container's files, shared by its processes.
pub(crate) type SharedFs = Arc<parking_lot::Mutex<Fs>>;

/// The hook the simulator's API server hands pod streams to; `core` is that server's, set once
/// it has started.
pub fn hook(core: Arc<OnceLock<Arc<Core>>>) -> PodStreamHook {
    let kubelet = Arc::new(Kubelet {
        files: parking_lot::Mutex::default(),
        core,
    });
    Arc::new(move |ps: PodStream| {
        let kubelet = Arc::clone(&kubelet);
        Box::pin(async move { kubelet.serve(ps) })
    })
}

impl Kubelet {
    fn serve(self: Arc<Self>, ps: PodStream) -> Response<Body> {
        let q = Query::parse(ps.request.uri().query());
        let (ns, name) = pod_names(&ps.pod);
        tracing::info!(namespace = %ns, pod = %name, subresource = %ps.subresource,
            user = %ps.user.name, query = ?q.0, "pod stream");
        match ps.subresource.as_str() {
            "log" => logs::serve(&ps.pod, &q),
            "exec" | "attach" => exec::serve(self, ps, &q),
            "portforward" => portforward::serve(ps, &q),
            other => bad_request(&format!("pods/{other} is not served")),
        }
    }

    /// Resolves once `container` of `pod` has gone away (never, before the server started).
    fn container_gone(
        &self,
        pod: &Value,
        container: &str,
    ) -> impl Future<Output = ()> + Send + 'static {
        let core = self.core.get().cloned();
        let (pod, container) = (pod.clone(), container.to_string());
        async move {
            match core {
                Some(core) => gone::container_gone(core, pod, container).await,
                None => std::future::pending().await,
            }
        }
    }

    /// The files of `container` in `pod`, made on first use.
    fn files(&self, pod: &Value, container: &str) -> SharedFs {
        let uid = pod
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut files = self.files.lock();
        if files.len() >= MAX_FILESYSTEMS
            && !files.contains_key(&(uid.clone(), container.to_string()))
            && let Some(k) = files.keys().next().cloned()
        {
            files.remove(&k);
        }
        let (ns, name) = pod_names(pod);
        let ip = pod
            .pointer("/status/podIP")
            .and_then(Value::as_str)
            .unwrap_or("10.244.0.2");
        Arc::clone(
            files
                .entry((uid, container.to_string()))
                .or_insert_with(|| Arc::new(parking_lot::Mutex::new(Fs::seeded(&name, &ns, ip)))),
        )
    }
}

/// Decoded query parameters.
#[derive(Debug)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Query {
        Query(
            q.unwrap_or_default()
                .split('&')
                .filter(|p| !p.is_empty())
                .take(256)
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub(crate) fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn pod_names(pod: &Value) -> (String, String) {
    let s = |p: &str| {
        pod.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}

/// A 400 `Status` as kube-apiserver words the kubelet's refusals.
pub(crate) fn bad_request(message: &str) -> Response<Body> {
    cceone_kube_apiserver::http::error_response(&ApiError::BadRequest(message.to_string()))
}

/// The container a request names, or the pod's only one; kube-apiserver's errors otherwise.
pub(crate) fn pick_container(
    pod: &Value,
    asked: Option<&str>,
    _what: &str,
) -> Result<String, Box<Response<Body>>> {
    let (_, name) = pod_names(pod);
    let names: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    match asked.filter(|a| !a.is_empty()) {
        Some(a) if names.iter().any(|n| n == a) => Ok(a.to_string()),
        Some(a) => Err(Box::new(bad_request(&format!(
            "container {a} is not valid for pod {name}"
        )))),
        None if names.len() == 1 => Ok(names[0].clone()),
        None => Err(Box::new(bad_request(&format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            names.join(" ")
        )))),
    }
}

/// `status.containerStatuses[]` of `container`.
pub(crate) fn container_status(pod: &Value, container: &str) -> Option<Value> {
    pod.pointer("/status/containerStatuses")
        .and_then(Value::as_array)?
        .iter()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(container))
        .cloned()
}

/// `spec.containers[]` of `container`.
pub(crate) fn container_spec(pod: &Value, container: &str) -> Value {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        })
        .cloned()
        .unwrap_or(Value::Null)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_and_repeat() {
        let q = Query::parse(Some(
            "command=sh&command=-c&command=echo+a%3Bexit+3&tty=true&x=%4",
        ));
        assert_eq!(q.all("command"), vec!["sh", "-c", "echo a;exit 3"]);
        assert!(q.flag("tty"));
        assert_eq!(q.get("x"), Some("%4"));
    }
}
