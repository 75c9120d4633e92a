//! Resource requests: parse the path and query, call [`Core`], and encode the answer as an
//! object, a list, a `Table`, or a stream of watch events.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};

use super::body;
use super::table::{self, Include};
use super::util::{Body, bytes_response, error_response, json_response, query_pairs, read_body};
use super::{State, User};
use crate::core::{DeleteOptions, ListOptions, PatchKind, WatchItem, WatchOptions, WriteOptions};
use crate::error::{ApiError, ApiResult};
use crate::resource::ResourceInfo;
use crate::selector::{FieldSelector, LabelSelector};

struct Query(Vec<(String, String)>);

impl Query {
    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }
}

struct Target {
    res: Arc<ResourceInfo>,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

fn resolve(state: &State, group: &str, version: &str, rest: &[&str]) -> ApiResult<Target> {
    let core = &state.core;
    let (ns, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if core
                .registry
                .get(group, version, plural)
                .is_some_and(|r| r.namespaced) =>
        {
            (Some(ns.to_string()), [&[*plural][..], tail].concat())
        }
        other => (None, other.to_vec()),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => {
            return Err(ApiError::NotFound {
                resource: String::new(),
                name: String::new(),
                message: "the server could not find the requested resource".into(),
            });
        }
    };
    let res = core.resource(group, version, plural)?;
    if res.namespaced && ns.is_none() && name.is_some() {
        return Err(ApiError::NotFound {
            resource: res.qualified(),
            name: String::new(),
            message: "the server could not find the requested resource".into(),
        });
    }
    if let Some(s) = &sub {
        let ok = (s == "status" && res.has_status)
            || (s == "scale" && res.scale.is_some())
            || (s == "eviction" && res.group.is_empty() && res.plural == "pods")
            || own_subresource(&res, s);
        if !ok {
            return Err(ApiError::NotFound {
                resource: res.qualified(),
                name: s.clone(),
                message: "the server could not find the requested resource".into(),
            });
        }
    }
    Ok(Target { res, ns, name, sub })
}

/// `serviceaccounts/token` and `certificatesigningrequests/approval` (see
/// [`super::subresources`]).
fn own_subresource(res: &ResourceInfo, sub: &str) -> bool {
    match sub {
        "token" => res.group.is_empty() && res.plural == "serviceaccounts",
        "approval" => {
            res.group == "certificates.k8s.io" && res.plural == "certificatesigningrequests"
        }
        _ => false,
    }
}

pub(crate) async fn handle(
    state: &Arc<State>,
    req: Request<Incoming>,
    user: User,
    group: &str,
    version: &str,
    rest: &[&str],
    accept: &str,
) -> Response<Body> {
    match handle_inner(state, req, user, group, version, rest, accept).await {
        Ok(r) => r,
        Err(e) => {
            if e.code() >= 500 {
                tracing::error!(error = %e, "request failed");
            }
            error_response(&e)
        }
    }
}

fn user_agent_manager(req: &Request<Incoming>) -> String {
    req.headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

/// The protobuf media type.
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// Whether the Accept header names a type served: JSON (and what includes it), YAML, and
/// protobuf for the kinds `cceone_kube_protobuf` encodes.
fn accept_ok(accept: &str, protobuf: bool) -> bool {
    accept.is_empty()
        || accept.split(',').any(|a| {
            let base = a.split(';').next().unwrap_or_default().trim();
            matches!(
                base,
                "application/json" | "*/*" | "application/*" | "application/yaml" | ""
            ) || (protobuf && base == PROTOBUF)
        })
}

/// Whether protobuf is the client's first choice (client-go's protobuf clients send `Accept:
/// application/vnd.kubernetes.protobuf, application/json`; kube's negotiation takes the
/// first type it can serve). A Table request (`;as=Table`) is never protobuf here.
fn prefers_protobuf(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.trim() == PROTOBUF)
}

async fn handle_inner(
    state: &Arc<State>,
    req: Request<Incoming>,
    user: User,
    group: &str,
    version: &str,
    rest: &[&str],
    accept: &str,
) -> ApiResult<Response<Body>> {
    let t = resolve(state, group, version, rest)?;
    let encodable = cceone_kube_protobuf::can_encode(&t.res.api_version(), &t.res.kind);
    if !accept_ok(accept, encodable) {
        // The message of apimachinery's errNotAcceptable (negotiate.go).
        let types = if encodable {
            "application/json, application/yaml, application/vnd.kubernetes.protobuf"
        } else {
            "application/json, application/yaml"
        };
        return Err(ApiError::NotAcceptable(format!(
            "only the following media types are accepted: {types}"
        )));
    }
    let q = Query(query_pairs(req.uri().query()));
    let core = &state.core;
    let ns = t.ns.as_deref();
    let as_table = table::wants_table(accept);
    let proto = encodable && !as_table && prefers_protobuf(accept);
    let method = req.method().clone();
    let wopts = WriteOptions {
        dry_run: q.get("dryRun").is_some_and(|d| d == "All"),
        field_manager: q
            .get("fieldManager")
            .map(String::from)
            .or_else(|| Some(user_agent_manager(&req))),
        force: q.flag("force"),
        strict: q.get("fieldValidation") == Some("Strict"),
    };
    tracing::debug!(user = %user.name, %method, resource = %t.res.qualified(), ns, name = t.name.as_deref(), "request");
    match (&method, t.name.as_deref(), t.sub.as_deref()) {
        (&Method::POST, Some(name), Some("token")) => {
            return super::subresources::token(state, req, &t.res, ns.unwrap_or_default(), name)
                .await;
        }
        (&Method::PUT, Some(name), Some("approval")) => {
            return super::subresources::approval(state, req, &t.res, name, &wopts).await;
        }
        _ => {}
    }
    match (&method, t.name.as_deref(), t.sub.as_deref()) {
        (&Method::GET, None, _) => {
            let label = q
                .get("labelSelector")
                .filter(|s| !s.is_empty())
                .map(LabelSelector::parse)
                .transpose()?;
            let field = q
                .get("fieldSelector")
                .filter(|s| !s.is_empty())
                .map(|s| FieldSelector::parse(s, &t.res.kind))
                .transpose()?;
            if q.flag("watch") {
                let opts = WatchOptions {
                    label,
                    field,
                    resource_version: q.get("resourceVersion").map(String::from),
                    send_initial_events: q.flag("sendInitialEvents"),
                    bookmarks: q.flag("allowWatchBookmarks"),
                    timeout: q
                        .get("timeoutSeconds")
                        .and_then(|s| s.parse().ok())
                        .map(Duration::from_secs),
                };
                let include = Include::parse(q.get("includeObject"));
                return watch(state, t.res, ns, opts, as_table.then_some(include)).await;
            }
            let limit = q
                .get("limit")
                .map(|l| {
                    l.parse::<usize>()
                        .map_err(|_| ApiError::BadRequest(format!("invalid limit {l}")))
                })
                .transpose()?;
            let opts = ListOptions {
                label,
                field,
                limit,
                continue_token: q.get("continue").map(String::from),
            };
            let page = core.list(&t.res, ns, &opts).await?;
            if as_table {
                let (objs, md) = page_parts(&page)?;
                let tbl = table::table(
                    &t.res,
                    &objs,
                    Include::parse(q.get("includeObject")),
                    md,
                    true,
                );
                return Ok(json_response(StatusCode::OK, &tbl));
            }
            if proto {
                return list_protobuf(&t.res, &page);
            }
            Ok(bytes_response(
                StatusCode::OK,
                "application/json",
                core.list_body(&t.res, &page),
            ))
        }
        (&Method::GET, Some(name), sub) => {
            let obj = if sub == Some("scale") {
                core.get_scale(&t.res, ns, name).await?
            } else {
                core.get(&t.res, ns, name).await?
            };
            respond(
                &t.res,
                StatusCode::OK,
                obj,
                as_table && sub.is_none(),
                proto,
                &q,
            )
        }
        (&Method::POST, Some(name), Some("eviction")) => {
            let name = name.to_string();
            let ct = content_type(&req);
            let body = body::decode(ct.as_deref(), read_body(req).await?).await?;
            let status = core.evict(&t.res, ns, &name, &body, wopts.dry_run).await?;
            Ok(json_response(StatusCode::CREATED, &status))
        }
        (&Method::POST, None, None) => {
            let ct = content_type(&req);
            let mut body = body::decode(ct.as_deref(), read_body(req).await?).await?;
            super::subresources::stamp_requestor(&t.res, &user, &mut body);
            let written = core.create_written(&t.res, ns, body, &wopts).await?;
            respond_written(&t.res, StatusCode::CREATED, written, as_table, proto, &q)
        }
        (&Method::PUT, Some(name), sub) => {
            let name = name.to_string();
            let ct = content_type(&req);
            let body = body::decode(ct.as_deref(), read_body(req).await?).await?;
            let obj = if sub == Some("scale") {
                core.update_scale(&t.res, ns, &name, body, &wopts).await?
            } else {
                core.update(&t.res, ns, &name, sub, body, &wopts).await?
            };
            respond(&t.res, StatusCode::OK, obj, false, proto, &q)
        }
        (&Method::PATCH, Some(name), sub) => {
            let name = name.to_string();
            let ct = req
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let kind = PatchKind::from_content_type(&ct).ok_or_else(|| {
                ApiError::UnsupportedMediaType(format!(
                    "the body of the request was in an unknown format ({ct}) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"
                ))
            })?;
            let raw = read_body(req).await?;
            let patch = decode_patch(kind, &ct, raw).await?;
            let existed =
                kind == PatchKind::Apply && core.store.get(&t.res.key(ns, &name)).await?.is_some();
            let written = core
                .patch_written(&t.res, ns, &name, sub, kind, &patch, &wopts)
                .await?;
            let code = if kind == PatchKind::Apply && !existed {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            respond_written(&t.res, code, written, false, proto, &q)
        }
        (&Method::DELETE, Some(name), None) => {
            let name = name.to_string();
            // kubectl's typed clients send DeleteOptions as protobuf.
            let ct = content_type(&req);
            let raw = read_body(req).await?;
            let body = if raw.is_empty() {
                None
            } else {
                Some(body::decode(ct.as_deref(), raw).await?)
            };
            let dopts =
                DeleteOptions::from_body(body.as_ref(), q.get("propagationPolicy"), wopts.dry_run)?;
            let obj = core.delete(&t.res, ns, &name, &dopts).await?;
            respond(&t.res, StatusCode::OK, obj, false, proto, &q)
        }
        (&Method::DELETE, None, None) => {
            let label = q
                .get("labelSelector")
                .filter(|s| !s.is_empty())
                .map(LabelSelector::parse)
                .transpose()?;
            let field = q
                .get("fieldSelector")
                .filter(|s| !s.is_empty())
                .map(|s| FieldSelector::parse(s, &t.res.kind))
                .transpose()?;
            let ct = content_type(&req);
            let raw = read_body(req).await?;
            let body = if raw.is_empty() {
                None
            } else {
                body::decode(ct.as_deref(), raw).await.ok()
            };
            let dopts =
                DeleteOptions::from_body(body.as_ref(), q.get("propagationPolicy"), wopts.dry_run)?;
            let deleted = core
                .delete_collection(
                    &t.res,
                    ns,
                    &ListOptions {
                        label,
                        field,
                        ..Default::default()
                    },
                    &dopts,
                )
                .await?;
            let list = json!({"kind": format!("{}List", t.res.kind), "apiVersion": t.res.api_version(), "metadata": {}, "items": deleted});
            Ok(json_response(StatusCode::OK, &list))
        }
        _ => Err(ApiError::MethodNotAllowed(format!(
            "{method} is not supported on this path"
        ))),
    }
}

async fn decode_patch(kind: PatchKind, ct: &str, raw: Bytes) -> ApiResult<Value> {
    let v = body::decode(Some(ct), raw).await?;
    let ok = match kind {
        PatchKind::Json => v.is_array(),
        _ => v.is_object(),
    };
    if !ok {
        return Err(ApiError::BadRequest(format!(
            "the patch is not a JSON {}",
            if kind == PatchKind::Json {
                "array of operations"
            } else {
                "object"
            }
        )));
    }
    Ok(v)
}

/// The request's Content-Type, if it has a readable one.
fn content_type<B>(req: &Request<B>) -> Option<String> {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// A page's objects parsed, and its list metadata (resourceVersion, continue,
/// remainingItemCount), for the answers built from values (tables, protobuf).
fn page_parts(page: &crate::core::ListResult) -> ApiResult<(Vec<Value>, Value)> {
    let items = page
        .items
        .iter()
        .map(|b| serde_json::from_slice(b))
        .collect::<Result<Vec<Value>, _>>()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut md = json!({"resourceVersion": page.resource_version.to_string()});
    if let Some(c) = &page.continue_token {
        md["continue"] = json!(c);
    }
    if let Some(n) = page.remaining_item_count {
        md["remainingItemCount"] = json!(n);
    }
    Ok((items, md))
}

/// A list as protobuf (`<Kind>List`), for a client that prefers it.
fn list_protobuf(res: &ResourceInfo, page: &crate::core::ListResult) -> ApiResult<Response<Body>> {
    let (items, md) = page_parts(page)?;
    let body = cceone_kube_protobuf::encode_list(&res.api_version(), &res.kind, &md, &items)
        .map_err(|e| ApiError::Internal(format!("protobuf encoding failed: {e}")))?;
    Ok(bytes_response(StatusCode::OK, PROTOBUF, body))
}

fn respond(
    res: &ResourceInfo,
    code: StatusCode,
    obj: Value,
    as_table: bool,
    proto: bool,
    q: &Query,
) -> ApiResult<Response<Body>> {
    // A subresource of another kind (Scale) has no encoder: JSON, which the client also takes.
    if proto && let Ok(body) = cceone_kube_protobuf::encode(&obj) {
        return Ok(bytes_response(code, PROTOBUF, body));
    }
    if as_table {
        let md = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""))});
        let t = table::table(
            res,
            std::slice::from_ref(&obj),
            Include::parse(q.get("includeObject")),
            md,
            true,
        );
        return Ok(json_response(code, &t));
    }
    Ok(json_response(code, &obj))
}

/// [`respond`] for a write's result: a plain JSON answer is the store's bytes when the write
/// kept them (see [`crate::core::Written`]), not the object serialized again.
fn respond_written(
    res: &ResourceInfo,
    code: StatusCode,
    written: crate::core::Written,
    as_table: bool,
    proto: bool,
    q: &Query,
) -> ApiResult<Response<Body>> {
    match written.json {
        Some(json) if !as_table && !proto => Ok(bytes_response(code, "application/json", json)),
        _ => respond(res, code, written.object, as_table, proto, q),
    }
}

fn event_line(kind: &str, object: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(object.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// Bytes of watch events sent in one frame at most (a batch stops growing past this).
const WATCH_BATCH_BYTES: usize = 256 * 1024;

/// One watch item as the line a client reads (`None` for an object a table cannot show).
fn watch_line(
    res: &ResourceInfo,
    item: WatchItem,
    table: Option<Include>,
    headers_sent: &mut bool,
) -> Option<Bytes> {
    let (kind, payload): (&str, Bytes) = match item {
        WatchItem::Added(b) => ("ADDED", b),
        WatchItem::Modified(b) => ("MODIFIED", b),
        WatchItem::Deleted(b) => ("DELETED", b),
        WatchItem::Bookmark {
            resource_version,
            initial_end,
        } => {
            let mut md = json!({"resourceVersion": resource_version.to_string()});
            if initial_end {
                md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            let obj = json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": md});
            (
                "BOOKMARK",
                Bytes::from(serde_json::to_vec(&obj).unwrap_or_default()),
            )
        }
        WatchItem::Error(e) => (
            "ERROR",
            Bytes::from(serde_json::to_vec(&e.to_status()).unwrap_or_default()),
        ),
    };
    let payload = match table {
        Some(include) if matches!(kind, "ADDED" | "MODIFIED" | "DELETED") => {
            let obj = serde_json::from_slice::<Value>(&payload).ok()?;
            let md = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""))});
            let t = table::table(res, std::slice::from_ref(&obj), include, md, !*headers_sent);
            *headers_sent = true;
            Bytes::from(serde_json::to_vec(&t).unwrap_or_default())
        }
        _ => payload,
    };
    Some(event_line(kind, &payload))
}

struct WatchGuard(Arc<State>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.core.metrics.watches.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn watch(
    state: &Arc<State>,
    res: Arc<ResourceInfo>,
    ns: Option<&str>,
    opts: WatchOptions,
    table: Option<Include>,
) -> ApiResult<Response<Body>> {
    let mut rx = state.core.watch(&res, ns, opts).await?;
    state.core.metrics.watches.fetch_add(1, Ordering::Relaxed);
    let guard = WatchGuard(Arc::clone(state));
    let (tx, body_rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(64);
    tokio::spawn(async move {
        let _guard = guard;
        let mut headers_sent = false;
        // Events already waiting go out together, in one frame (one TLS record, one write)
        // rather than one each: a watcher behind a burst catches up in a few large writes.
        let mut batch: Vec<u8> = Vec::new();
        while let Some(first) = rx.recv().await {
            batch.clear();
            let mut next = Some(first);
            while let Some(item) = next.take() {
                if let Some(line) = watch_line(&res, item, table, &mut headers_sent) {
                    batch.extend_from_slice(&line);
                }
                if batch.len() < WATCH_BATCH_BYTES {
                    next = rx.try_recv().ok();
                }
            }
            if batch.is_empty() {
                continue;
            }
            let frame = Frame::data(Bytes::copy_from_slice(&batch));
            if tx.send(Ok(frame)).await.is_err() {
                return;
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(body_rx);
    let body: Body = StreamBody::new(stream).boxed_unsync();
    let mut r = Response::new(body);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}
