//! CORS on the static files over real HTTP: an `Origin` that `--origin` allows gets
//! `Access-Control-Allow-Origin` on the page's files and `/relay.json` (and a preflight
//! answer); any other origin, a relay without `--origin`, and the operator endpoints get none.
//! (The browser proof, a module imported across origins in Chromium, is tests/tests/scenarios/portal.rs.)

use std::net::SocketAddr;

use crate::util::{TestRelay, http_exchange};

const PORTAL: &str = "http://portal.example:8080";

/// Sends one request and returns the status and the response head's headers, lowercased.
async fn head_of(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> (u16, Vec<(String, String)>) {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    let text = http_exchange(addr, &request).await;
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn allowed_origins_get_cors_on_static_files_only() {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::write(root.path().join("mod.js"), "export const answer = 42;\n").expect("write");
    let web_root = root.path().to_str().unwrap();
    let relay = TestRelay::start(&["--web-root", web_root, "--origin", PORTAL]).await;
    let addr = relay.addr();

    let origin = [("Origin", PORTAL)];
    for path in ["/mod.js", "/relay.json"] {
        let (status, headers) = head_of(addr, "GET", path, &origin).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(
            header(&headers, "access-control-allow-origin"),
            Some(PORTAL),
            "{path}"
        );
        assert!(
            header(&headers, "vary").is_some_and(|v| v.contains("Origin")),
            "{path}"
        );
    }
    let (status, headers) = head_of(
        addr,
        "OPTIONS",
        "/mod.js",
        &[("Origin", PORTAL), ("Access-Control-Request-Method", "GET")],
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(PORTAL)
    );
    assert!(header(&headers, "access-control-allow-methods").is_some_and(|m| m.contains("GET")));

    let (status, headers) =
        head_of(addr, "GET", "/mod.js", &[("Origin", "http://evil.example")]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
    for path in ["/metrics", "/healthz"] {
        let (_, headers) = head_of(addr, "GET", path, &origin).await;
        assert_eq!(
            header(&headers, "access-control-allow-origin"),
            None,
            "{path}"
        );
    }
    relay.relay.shutdown().await;

    let same_origin = TestRelay::start(&["--web-root", web_root]).await;
    let (status, headers) = head_of(same_origin.addr(), "GET", "/mod.js", &origin).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
    same_origin.relay.shutdown().await;
}
