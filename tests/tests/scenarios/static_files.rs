//! The real relay serving the page's files (`--web-root`): the precompressed variant
//! `cargo xtask build-web` writes (`FILE.br`, `FILE.gz`) chosen by `Accept-Encoding` with the
//! right `Content-Encoding` and `Vary`, and caching headers that let a second visit revalidate
//! to a bodiless 304 instead of downloading the module again. Spoken over a plain TCP socket, so
//! every header the relay sends is seen as sent.

use std::path::Path;
use std::time::{Duration, SystemTime};

use sshdiag_tests::relay::RelayFixture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// GET the module again accepting `encodings`, as a browser revalidating `etag` does.
async fn revalidate(relay: &RelayFixture, encodings: &str, etag: &str) -> Reply {
    let headers = [("Accept-Encoding", encodings), ("If-None-Match", etag)];
    get(relay, "/pkg/m.wasm", &headers).await
}

async fn get(relay: &RelayFixture, path: &str, extra: &[(&str, &str)]) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(relay.addr()).await.unwrap();
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        relay.addr()
    );
    for (name, value) in extra {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn write_page(root: &Path) {
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(
        root.join("index.html"),
        "<!doctype html><title>page</title>",
    )
    .unwrap();
    std::fs::write(root.join("pkg/m.wasm"), b"\0asm identity bytes").unwrap();
    // Distinct bodies, so the test sees which file was sent; the relay never decodes them.
    std::fs::write(root.join("pkg/m.wasm.br"), b"brotli bytes").unwrap();
    std::fs::write(root.join("pkg/m.wasm.gz"), b"gzip bytes").unwrap();
}

#[tokio::test]
async fn precompressed_variants_by_accept_encoding_and_a_304_on_revalidation() {
    let root = tempfile::tempdir().unwrap();
    write_page(root.path());
    let web_root = root.path().to_str().unwrap().to_string();
    let relay = RelayFixture::start_with_args(["--web-root".to_string(), web_root])
        .await
        .unwrap();

    let br = get(
        &relay,
        "/pkg/m.wasm",
        &[("Accept-Encoding", "gzip, deflate, br")],
    )
    .await;
    assert_eq!(br.status, 200);
    assert_eq!(br.body, b"brotli bytes");
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(br.header("content-type"), Some("application/wasm"));
    assert_eq!(br.header("vary"), Some("accept-encoding"));
    assert_eq!(br.header("cache-control"), Some("no-cache"));
    let etag = br.header("etag").expect("an ETag").to_string();

    let gz = get(&relay, "/pkg/m.wasm", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!((gz.status, gz.body.as_slice()), (200, &b"gzip bytes"[..]));
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(
        gz.header("etag"),
        Some(etag.as_str()),
        "one validator for every encoding"
    );

    let plain = get(&relay, "/pkg/m.wasm", &[]).await;
    assert_eq!(plain.body, b"\0asm identity bytes");
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("accept-encoding"));

    // A second visit: the browser revalidates and gets no body.
    let again = revalidate(&relay, "br", &etag).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(again.header("cache-control"), Some("no-cache"));

    // The page's own files are cached alike, the directory's index.html included.
    let index = get(&relay, "/", &[]).await;
    assert_eq!(index.status, 200);
    let index_tag = index.header("etag").expect("an ETag for /").to_string();
    let index_again = get(&relay, "/", &[("If-None-Match", &index_tag)]).await;
    assert_eq!(index_again.status, 304);

    // The module rebuilt without its variants: the stale .br is not served, the old tag no
    // longer matches, and the new bytes come whole.
    std::fs::write(root.path().join("pkg/m.wasm"), b"\0asm rebuilt").unwrap();
    let later = SystemTime::now() + Duration::from_secs(5);
    let file = std::fs::File::options()
        .write(true)
        .open(root.path().join("pkg/m.wasm"))
        .unwrap();
    file.set_modified(later).unwrap();
    let rebuilt = revalidate(&relay, "br, gzip", &etag).await;
    assert_eq!(rebuilt.status, 200);
    assert_eq!(rebuilt.body, b"\0asm rebuilt");
    assert_eq!(rebuilt.header("content-encoding"), None);
    assert_ne!(rebuilt.header("etag"), Some(etag.as_str()));

    // Nothing outside the web root.
    let escape = get(&relay, "/../Cargo.toml", &[]).await;
    assert_ne!(escape.status, 200);
    let escape = get(&relay, "/pkg/%2e%2e/%2e%2e/etc/passwd", &[]).await;
    assert_ne!(escape.status, 200);
    relay.shutdown().await;
}
