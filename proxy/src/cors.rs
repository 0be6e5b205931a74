//! CORS on the relay's static files and `/relay.json`, for the origins of `--origin`: a portal
//! page on another origin can then `import()` the module (and fetch its wasm) from the relay.
//!
//! Only an `Origin` that `--origin` allows (or any, with `--origin '*'`) gets
//! `Access-Control-Allow-Origin`, echoed back; without `--origin` (same-origin only) no CORS
//! header is ever sent. Preflights (`OPTIONS`) from an allowed origin are answered for `GET`
//! and `HEAD`. No credentials are ever allowed.
//!
//! It must never add CORS headers to `/ws` (the upgrade has its own Origin check),
//! `/metrics` or `/healthz`, which are for operators, not pages.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::Shared;

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// Paths that never get CORS headers.
const OPERATOR_PATHS: &[&str] = &["/ws", "/metrics", "/healthz"];

/// The `Origin` of `request`, when `origins` (normalised `--origin` values) allow it.
fn allowed<'a>(origins: &[String], origin: Option<&'a HeaderValue>) -> Option<&'a HeaderValue> {
    let origin = origin?;
    let text = origin.to_str().ok()?.trim().trim_end_matches('/');
    origins
        .iter()
        .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(text))
        .then_some(origin)
}

/// Middleware adding CORS headers for `--origin` origins (see the module docs).
pub(crate) async fn static_cors(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if shared.origins.is_empty() || OPERATOR_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let origin = allowed(&shared.origins, request.headers().get(header::ORIGIN)).cloned();
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = match (&origin, preflight) {
        (Some(_), true) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            let headers = response.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD"),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(PREFLIGHT_MAX_AGE),
            );
            response
        }
        _ => next.run(request).await,
    };
    let headers = response.headers_mut();
    // The answer depends on the Origin, so caches must key on it, allowed or not. One `Vary`
    // line naming everything (the file server already varies on Accept-Encoding): some caches
    // and clients read only the first.
    add_vary_origin(headers);
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

/// Adds `Origin` to the response's `Vary`, folding any `Vary` lines already there into one.
fn add_vary_origin(headers: &mut axum::http::HeaderMap) {
    let mut names: Vec<String> = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if !names.iter().any(|n| n.eq_ignore_ascii_case("origin")) {
        names.push("Origin".to_string());
    }
    match HeaderValue::from_str(&names.join(", ")) {
        Ok(value) => {
            headers.insert(header::VARY, value);
        }
        Err(_) => {
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_are_allowed() {
        let origins = vec!["https://portal.example".to_string()];
        let portal = HeaderValue::from_static("https://Portal.example/");
        let evil = HeaderValue::from_static("https://evil.example");
        assert!(allowed(&origins, Some(&portal)).is_some());
        assert!(allowed(&origins, Some(&evil)).is_none());
        assert!(allowed(&origins, None).is_none());
        assert!(allowed(&["*".to_string()], Some(&evil)).is_some());
    }
}
