//! The page's files (`--web-root`), served so that a first visit downloads as little as possible
//! and a second downloads nothing: tower-http's `ServeDir` picks the brotli or gzip file that
//! `cargo xtask build-web` wrote beside each original (`app.js.br`, `app.js.gz`) by the request's
//! `Accept-Encoding`; this module adds `Vary: Accept-Encoding`, a weak `ETag` (the original's
//! size and modification time, the same for every encoding of it) and `Cache-Control: no-cache`,
//! so a browser keeps the file and revalidates it, and answers a matching `If-None-Match` with
//! `304 Not Modified` and no body.
//!
//! It must never serve a file outside the web root (paths are resolved by `ServeDir`; the
//! lookup here only reads metadata, and only for plain paths), nor a compressed variant older
//! than its original (a page file edited after `build-web` is served as it is now, uncompressed).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::services::ServeDir;

/// The file-name suffixes of the precompressed variants `ServeDir` looks for.
const VARIANT_SUFFIXES: [&str; 2] = ["br", "gz"];

/// What every file response says about caching: keep it, but ask before using it again.
const CACHE_CONTROL: &str = "no-cache";

/// `app` with the files under `root` as its fallback.
pub(crate) fn serve_from<S: Clone + Send + Sync + 'static>(
    app: Router<S>,
    root: PathBuf,
) -> Router<S> {
    let root: Arc<Path> = root.into();
    app.fallback(move |request: Request| serve(Arc::clone(&root), request))
}

async fn serve(root: Arc<Path>, mut request: Request) -> Response {
    let cacheable = matches!(*request.method(), Method::GET | Method::HEAD);
    let file = match cacheable {
        true => original(&root, request.uri().path()).await,
        false => None,
    };
    let tag = file.as_ref().map(|(_, meta)| etag(meta));
    if let (Some((path, meta)), Some(tag)) = (&file, &tag) {
        if if_none_match(request.headers(), tag) {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            file_headers(response.headers_mut(), tag);
            return response;
        }
        // With an ETag to compare, a date comparison is not made as well (RFC 9110 13.1.3).
        request.headers_mut().remove(header::IF_MODIFIED_SINCE);
        if !variants_fresh(path, meta).await {
            request.headers_mut().remove(header::ACCEPT_ENCODING);
        }
    }
    let mut files = ServeDir::new(&*root)
        .precompressed_br()
        .precompressed_gzip();
    let mut response = match files.try_call(request).await {
        Ok(response) => response.map(Body::new),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if let Some(tag) = &tag
        && response.status() == StatusCode::OK
    {
        file_headers(response.headers_mut(), tag);
    }
    response
}

/// The original file a plain request path names (a directory's `index.html`), with its
/// metadata; None for anything else (percent-escapes, dot segments, missing files), which is
/// then left to `ServeDir` and served, if at all, without caching headers.
async fn original(root: &Path, uri_path: &str) -> Option<(PathBuf, std::fs::Metadata)> {
    let relative = uri_path.strip_prefix('/')?;
    let plain = |segment: &str| !segment.is_empty() && segment != "." && segment != "..";
    if relative.contains(['%', '\\', '\0'])
        || !relative.split('/').filter(|s| !s.is_empty()).all(plain)
    {
        return None;
    }
    let mut path = root.join(relative);
    let mut meta = tokio::fs::metadata(&path).await.ok()?;
    if meta.is_dir() {
        path.push("index.html");
        meta = tokio::fs::metadata(&path).await.ok()?;
    }
    meta.is_file().then_some((path, meta))
}

/// Whether every precompressed variant of `path` that exists is at least as new as `path`.
async fn variants_fresh(path: &Path, meta: &std::fs::Metadata) -> bool {
    let Ok(original) = meta.modified() else {
        return false;
    };
    for suffix in VARIANT_SUFFIXES {
        let mut variant = path.as_os_str().to_owned();
        variant.push(".");
        variant.push(suffix);
        if let Ok(variant) = tokio::fs::metadata(&variant).await
            && variant
                .modified()
                .map_or(true, |modified| modified < original)
        {
            return false;
        }
    }
    true
}

/// A weak validator: the same content in any encoding (RFC 9110 8.8.1).
fn etag(meta: &std::fs::Metadata) -> String {
    let nanos = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("W/\"{:x}-{:x}\"", meta.len(), nanos)
}

/// Whether `If-None-Match` lists `tag` (weak comparison) or is `*`.
fn if_none_match(headers: &HeaderMap, tag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_string();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|candidate| candidate.trim() == "*" || opaque(candidate) == opaque(tag))
}

fn file_headers(headers: &mut HeaderMap, tag: &str) {
    if let Ok(tag) = HeaderValue::from_str(tag) {
        headers.insert(header::ETAG, tag);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
}
