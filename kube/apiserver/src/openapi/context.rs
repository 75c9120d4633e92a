//! The `fieldValidation` directive of the HTTP request being served, and the warnings and
//! duplicate fields gathered while serving it, kept in a task-local so the body decoder and the
//! write path can reach them without threading them through every signature. Writes made
//! in-process (the federation's controllers) run outside any scope: they are pruned silently.

use std::cell::RefCell;
use std::future::Future;

use http::{HeaderValue, Response};

/// `fieldValidation`: what the server does with unknown and duplicate fields
/// (k8s.io/apimachinery/pkg/apis/meta/v1 `CreateOptions.FieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and say so in a `Warning` header (the server's default since 1.27).
    Warn,
    /// Refuse the request with 400.
    Strict,
}

impl FieldValidation {
    /// The directive a request's query names; `Warn` when it names none or an unknown one
    /// (upstream refuses an unknown value; kubectl never sends one).
    pub fn from_query(query: Option<&str>) -> FieldValidation {
        let value = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .find_map(|p| p.strip_prefix("fieldValidation="));
        match value {
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            _ => FieldValidation::Warn,
        }
    }
}

#[derive(Debug)]
struct Context {
    mode: FieldValidation,
    duplicates: Vec<String>,
    warnings: Vec<String>,
}

tokio::task_local! {
    static CONTEXT: RefCell<Context>;
}

/// Runs `serve` with `mode` as the request's directive, then adds a `Warning` header
/// (`299 - "..."`, as k8s.io/apiserver/pkg/warning) for each warning gathered.
pub async fn with_warnings<B>(
    mode: FieldValidation,
    serve: impl Future<Output = Response<B>>,
) -> Response<B> {
    let context = RefCell::new(Context {
        mode,
        duplicates: Vec::new(),
        warnings: Vec::new(),
    });
    let (mut resp, context) = CONTEXT
        .scope(context, async {
            let resp = serve.await;
            (
                resp,
                CONTEXT.with(|c| std::mem::take(&mut c.borrow_mut().warnings)),
            )
        })
        .await;
    for w in context {
        let quoted = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{quoted}\"")) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
    resp
}

/// The directive of the request being served, if any.
pub(crate) fn mode() -> Option<FieldValidation> {
    CONTEXT.try_with(|c| c.borrow().mode).ok()
}

/// Records a warning for the response (nothing outside a request scope).
pub(crate) fn warn(message: String) {
    let _ = CONTEXT.try_with(|c| c.borrow_mut().warnings.push(message));
}

/// Records the duplicate fields the body decoder found.
pub(crate) fn add_duplicates(paths: Vec<String>) {
    let _ = CONTEXT.try_with(|c| c.borrow_mut().duplicates.extend(paths));
}

/// Takes the duplicate fields recorded so far.
pub(crate) fn take_duplicates() -> Vec<String> {
    CONTEXT
        .try_with(|c| std::mem::take(&mut c.borrow_mut().duplicates))
        .unwrap_or_default()
}
