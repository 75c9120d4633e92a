//! `GET pods/<name>/log`: the container's deterministic lines (see
//! [`cceone_kubesim_core::streams::logs`]), with `tailLines`, `sinceSeconds`, `sinceTime`,
//! `timestamps`, `limitBytes`, `previous`, and `follow` writing each new line as its second
//! comes.

use std::time::Duration;

use bytes::Bytes;
use cceone_kube_apiserver::http::Body;
use cceone_kubesim_core::streams::logs;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use jiff::Timestamp;
use serde_json::Value;

use super::{Query, bad_request, container_status, pick_container};

/// Serve one log request.
pub(crate) fn serve(pod: &Value, q: &Query) -> Response<Body> {
    let (ns, name) = super::pod_names(pod);
    let container = match pick_container(pod, q.get("container"), "log") {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let status = container_status(pod, &container);
    let previous = q.flag("previous");
    let restarts = status
        .as_ref()
        .and_then(|s| s.get("restartCount"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if previous && restarts == 0 {
        return bad_request(&format!(
            "previous terminated container \"{container}\" in pod \"{name}\" not found"
        ));
    }
    let started = status
        .as_ref()
        .and_then(|s| {
            s.pointer("/state/running/startedAt")
                .or_else(|| s.pointer("/state/terminated/startedAt"))
        })
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok());
    let Some(started) = started else {
        let reason = status
            .as_ref()
            .and_then(|s| s.pointer("/state/waiting/reason"))
            .and_then(Value::as_str)
            .unwrap_or("ContainerCreating");
        return bad_request(&format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        ));
    };
    let tail = q
        .get("tailLines")
        .and_then(|t| t.parse::<i64>().ok())
        .filter(|t| *t >= 0)
        .map(|t| t as u64);
    let now = Timestamp::now();
    let since = q
        .get("sinceSeconds")
        .and_then(|s| s.parse::<i64>().ok())
        .map(|s| now - jiff::SignedDuration::from_secs(s.max(0)))
        .or_else(|| q.get("sinceTime").and_then(|t| t.parse().ok()));
    let timestamps = q.flag("timestamps");
    let limit = q.get("limitBytes").and_then(|l| l.parse::<usize>().ok());
    let render = {
        let (ns, name, container) = (ns.clone(), name.clone(), container.clone());
        move |n: u64| {
            let l = logs::line(&ns, &name, &container, n, previous);
            if timestamps {
                format!("{} {l}\n", logs::written_at(started, n))
            } else {
                format!("{l}\n")
            }
        }
    };
    let window = logs::window(started, now, tail, since);
    let mut first = String::new();
    for n in window.clone() {
        first.push_str(&render(n));
    }
    // A previous instance's log is complete; only the running one grows.
    if !q.flag("follow") || previous {
        let mut b = first.into_bytes();
        if let Some(l) = limit {
            b.truncate(l);
        }
        return text(
            Full::new(Bytes::from(b))
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(8);
    let mut next = window.end().saturating_add(1).max(1);
    tracing::debug!(namespace = %ns, pod = %name, container, "following a container log");
    tokio::spawn(async move {
        let mut budget = limit.unwrap_or(usize::MAX);
        let send = |s: String, budget: &mut usize| {
            let mut b = s.into_bytes();
            b.truncate(*budget);
            *budget -= b.len();
            b
        };
        let b = send(first, &mut budget);
        if !b.is_empty() && tx.send(Ok(Frame::data(Bytes::from(b)))).await.is_err() {
            return;
        }
        loop {
            if budget == 0 {
                return;
            }
            let due = logs::written_at(started, next);
            let wait = Timestamp::now().duration_until(due).as_secs_f64().max(0.0);
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs_f64(wait)) => {}
                () = tx.closed() => return, // the reader went away
            }
            let b = send(render(next), &mut budget);
            next += 1;
            if tx.send(Ok(Frame::data(Bytes::from(b)))).await.is_err() {
                return;
            }
        }
    });
    text(StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx)).boxed_unsync())
}

fn text(body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    r
}
