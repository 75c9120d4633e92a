//! The pages, embedded at compile time: one HTML shell, its script and its style sheet. No
//! build step: what is in `assets/` is what the browser gets.

/// An embedded file.
pub(crate) struct Asset {
    pub(crate) content_type: &'static str,
    pub(crate) body: &'static [u8],
}

/// The file served at `path` (below the prefix), if any.
pub(crate) fn get(path: &str) -> Option<Asset> {
    let (content_type, body): (&str, &[u8]) = match path {
        "/" | "/index.html" => (
            "text/html; charset=utf-8",
            include_bytes!("../assets/index.html"),
        ),
        "/app.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/app.js"),
        ),
        "/app.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../assets/app.css"),
        ),
        "/icon.svg" => ("image/svg+xml", include_bytes!("../assets/icon.svg")),
        _ => return None,
    };
    Some(Asset { content_type, body })
}
