//! Standard tokens, proven with the real PyJWT: tokens a portal mints in Python (HS256 with the
//! shared secret, EdDSA with an Ed25519 key whose public half is all the relay holds) are
//! accepted by the real relay, which logs their `ticket`; expired, wrong-target, wrong-key,
//! `alg: none` and not-configured-algorithm tokens are refused with the right code. The other
//! way round, tokens from `sshdiag-proxy mint-token` and `link` verify in PyJWT and in the relay.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use sshdiag_events::relay::RelayErrorCode;

use crate::tools;
use crate::util::{TestRelay, echo_server, expect_connected, expect_error};

const SECRET: &str = "pyjwt-shared-secret-0123456789";

/// Debian's Python with PyJWT and cryptography, or a failure naming the packages to install.
fn python() -> PathBuf {
    for tool in [tools::PYJWT, tools::PY_CRYPTOGRAPHY] {
        if let Err(error) = tool.require() {
            panic!("{error}");
        }
    }
    tools::PYJWT.require().expect("checked above")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Runs a Python script and returns its stdout, failing with its stderr.
fn run_python(script: &str, args: &[&str]) -> String {
    let mut command = Command::new(python());
    command.arg("-c").arg(script).args(args);
    sshdiag_testkit::procs::stdout_of(&mut command, "python")
}

/// Writes an Ed25519 key pair as PEM (PKCS#8 private, SubjectPublicKeyInfo public) with the
/// `cryptography` package, as a portal would.
fn ed25519_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    run_python(
        r#"
import sys
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
key = Ed25519PrivateKey.generate()
open(sys.argv[1], "wb").write(key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
open(sys.argv[2], "wb").write(key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
"#,
        &[private.to_str().unwrap(), public.to_str().unwrap()],
    );
    (private, public)
}

/// Every token case, minted by PyJWT: name → token.
fn pyjwt_tokens(port: u16, key: &Path, other_key: &Path, public: &Path) -> HashMap<String, String> {
    let script = r#"
import hashlib, hmac, base64, json, sys, jwt
port, key, other, public, secret, now = sys.argv[1:7]
now = int(now)
target = f"127.0.0.1:{port}"
priv = open(key, "rb").read()
def ok(**extra):
    return dict({"exp": now + 300, "nbf": now, "target": target}, **extra)
def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
# HS256 signed with the public key as its secret: the classic algorithm-confusion forgery.
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps(ok()).encode())
confused_sig = hmac.new(open(public, "rb").read(), f"{head}.{body}".encode(), hashlib.sha256).digest()
print(json.dumps({
    "hs256": jwt.encode(ok(ticket="SUP-4242"), secret, algorithm="HS256"),
    "eddsa": jwt.encode(ok(ticket="SUP-5353"), priv, algorithm="EdDSA"),
    "eddsa-list": jwt.encode(ok(target=["192.0.2.1:22", target]), priv, algorithm="EdDSA"),
    "expired": jwt.encode(ok(exp=now - 3600, nbf=now - 7200), priv, algorithm="EdDSA"),
    "wrong-target": jwt.encode(ok(target=f"127.0.0.1:{int(port) + 1}"), priv, algorithm="EdDSA"),
    "wrong-key": jwt.encode(ok(), open(other, "rb").read(), algorithm="EdDSA"),
    "wrong-secret": jwt.encode(ok(), secret + "x", algorithm="HS256"),
    "alg-none": jwt.encode(ok(), None, algorithm="none"),
    "hs384": jwt.encode(ok(), secret, algorithm="HS384"),
    "no-exp": jwt.encode({"target": target}, priv, algorithm="EdDSA"),
    "no-target": jwt.encode({"exp": now + 300}, priv, algorithm="EdDSA"),
    "not-yet": jwt.encode(ok(nbf=now + 3600), priv, algorithm="EdDSA"),
    "confused": f"{head}.{body}.{b64(confused_sig)}",
}))
"#;
    let out = run_python(
        script,
        &[
            &port.to_string(),
            key.to_str().unwrap(),
            other_key.to_str().unwrap(),
            public.to_str().unwrap(),
            SECRET,
            &now().to_string(),
        ],
    );
    serde_json::from_str(&out).expect("PyJWT printed a JSON object")
}

/// What both token tests start from: an echo target, and a temp dir holding the portal's
/// Ed25519 pair and the shared secret.
struct Scene {
    echo: SocketAddr,
    dir: tempfile::TempDir,
    private: PathBuf,
    public: PathBuf,
    secret_file: PathBuf,
}

impl Scene {
    /// The scene, with the file `secret` holding `secret`.
    async fn new(secret: &str) -> Scene {
        let echo = echo_server().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let (private, public) = ed25519_pair(dir.path(), "portal");
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, secret).expect("write secret");
        Scene {
            echo,
            dir,
            private,
            public,
            secret_file,
        }
    }

    /// A relay that allows only the echo target and takes HS256 tokens signed with the secret
    /// and EdDSA tokens signed with the portal's key.
    async fn relay(&self) -> TestRelay {
        TestRelay::start(&[
            "--allow",
            &format!("127.0.0.1/32:{}", self.echo.port()),
            "--token-secret-file",
            self.secret_file.to_str().unwrap(),
            "--token-public-key",
            self.public.to_str().unwrap(),
        ])
        .await
    }
}

#[tokio::test]
async fn pyjwt_tokens_are_accepted_and_bad_ones_refused_with_the_right_code() {
    let scene = Scene::new(&format!("{SECRET}\n")).await;
    let (echo, port) = (scene.echo, scene.echo.port());
    let (private, public) = (&scene.private, &scene.public);
    let (other_private, _) = ed25519_pair(scene.dir.path(), "other");
    let tokens = pyjwt_tokens(port, private, &other_private, public);
    let allow = format!("127.0.0.1/32:{port}");
    let both = scene.relay().await;

    for name in ["hs256", "eddsa", "eddsa-list"] {
        let mut ws = both
            .open("127.0.0.1", port, name, Some(tokens[name].clone()))
            .await;
        assert_eq!(expect_connected(&mut ws).await, echo.to_string(), "{name}");
    }
    for ticket in ["SUP-4242", "SUP-5353"] {
        let logged = both.log.lines().join("\n");
        assert!(logged.contains(ticket), "ticket {ticket} not logged");
    }

    use RelayErrorCode::{TokenExpired, TokenInvalid};
    let refused = [
        ("expired", TokenExpired),
        ("wrong-target", TokenInvalid),
        ("wrong-key", TokenInvalid),
        ("wrong-secret", TokenInvalid),
        ("alg-none", TokenInvalid),
        ("hs384", TokenInvalid),
        ("no-exp", TokenInvalid),
        ("no-target", TokenInvalid),
        ("not-yet", TokenInvalid),
        ("confused", TokenInvalid),
    ];
    for (name, expected) in refused {
        let mut ws = both
            .open("127.0.0.1", port, name, Some(tokens[name].clone()))
            .await;
        let (code, message) = expect_error(&mut ws).await;
        assert_eq!(code, expected, "{name}: {message}");
        assert!(!message.contains(&tokens[name]), "{name}: token echoed");
        both.wait_line(name, "relay-denied").await;
    }
    let logged = both.log.lines().join("\n");
    for (name, token) in &tokens {
        let signature = token.rsplit('.').next().unwrap_or_default();
        assert!(
            signature.is_empty() || !logged.contains(signature),
            "{name}: a token reached the log"
        );
    }

    // A relay holding only the public key refuses HS256, even with a valid secret-signed token.
    let public_only = TestRelay::start(&[
        "--allow",
        &allow,
        "--token-public-key",
        public.to_str().unwrap(),
    ])
    .await;
    let mut ws = public_only
        .open(
            "127.0.0.1",
            port,
            "eddsa-only",
            Some(tokens["eddsa"].clone()),
        )
        .await;
    assert_eq!(expect_connected(&mut ws).await, echo.to_string());
    for name in ["hs256", "confused"] {
        let mut ws = public_only
            .open("127.0.0.1", port, name, Some(tokens[name].clone()))
            .await;
        let (code, message) = expect_error(&mut ws).await;
        assert_eq!(code, TokenInvalid, "{name}: {message}");
    }
    both.relay.shutdown().await;
    public_only.relay.shutdown().await;
}

fn proxy_tool(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sshdiag-proxy"))
        .args(args)
        .output()
        .expect("run sshdiag-proxy")
}

/// Runs `sshdiag-proxy ARGS`, asserts that it succeeded, and returns its trimmed stdout.
fn proxy_tool_ok(args: &[&str]) -> String {
    let out = proxy_tool(args);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Decodes a token with PyJWT (verifying it) and returns its claims.
fn pyjwt_decode(token: &str, alg: &str, key_arg: &str) -> serde_json::Value {
    let out = run_python(
        r#"
import json, sys, jwt
token, alg, key = sys.argv[1:4]
if alg == "EdDSA":
    key = open(key, "rb").read()
print(json.dumps(jwt.decode(token, key, algorithms=[alg])))
"#,
        &[token, alg, key_arg],
    );
    serde_json::from_str(&out).expect("claims JSON")
}

#[tokio::test]
async fn mint_token_and_link_make_tokens_pyjwt_and_the_relay_accept() {
    let scene = Scene::new(SECRET).await;
    let (echo, port) = (scene.echo, scene.echo.port());
    let (private, public, secret_file) = (&scene.private, &scene.public, &scene.secret_file);
    let target = format!("127.0.0.1:{port}");

    let hs256 = proxy_tool_ok(&[
        "mint-token",
        "--secret-file",
        secret_file.to_str().unwrap(),
        "--target",
        &target,
        "--ttl",
        "10m",
        "--ticket",
        "SUP-77",
    ]);
    let claims = pyjwt_decode(&hs256, "HS256", SECRET);
    assert_eq!(claims["target"], target);
    assert_eq!(claims["ticket"], "SUP-77");
    let exp = claims["exp"].as_u64().expect("exp");
    assert!((now() + 590..=now() + 610).contains(&exp), "exp {exp}");

    let link = proxy_tool_ok(&[
        "link",
        "--private-key",
        private.to_str().unwrap(),
        "--base",
        "https://support.example/diagnose/",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--user",
        "ann o'neil",
        "--command",
        "uname -a",
    ]);
    let (base, fragment) = link.split_once('#').expect("a fragment");
    assert_eq!(base, "https://support.example/diagnose/");
    let pairs: HashMap<String, String> = url::form_urlencoded::parse(fragment.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(pairs["host"], "127.0.0.1");
    assert_eq!(pairs["port"], port.to_string());
    assert_eq!(pairs["user"], "ann o'neil");
    assert_eq!(pairs["command"], "uname -a");
    let eddsa = pairs["token"].clone();
    assert_eq!(
        pyjwt_decode(&eddsa, "EdDSA", public.to_str().unwrap())["target"],
        target
    );

    let relay = scene.relay().await;
    for (id, token) in [("cli-hs256", hs256), ("cli-link", eddsa)] {
        let mut ws = relay.open("127.0.0.1", port, id, Some(token)).await;
        assert_eq!(expect_connected(&mut ws).await, echo.to_string(), "{id}");
    }
    relay.relay.shutdown().await;

    // Bad input: one line on stderr, exit 2, nothing on stdout.
    for (args, needle) in [
        (
            vec![
                "mint-token",
                "--secret-file",
                "/nonexistent",
                "--target",
                "a:22",
            ],
            "--secret-file",
        ),
        (
            vec![
                "mint-token",
                "--private-key",
                secret_file.to_str().unwrap(),
                "--target",
                "a:22",
            ],
            "Ed25519",
        ),
        (
            vec![
                "mint-token",
                "--secret-file",
                secret_file.to_str().unwrap(),
                "--target",
                "a:22",
                "--ttl",
                "30d",
            ],
            "--ttl",
        ),
        (
            vec![
                "link",
                "--secret-file",
                secret_file.to_str().unwrap(),
                "--base",
                "ftp://x/",
                "--host",
                "h",
            ],
            "--base",
        ),
    ] {
        let out = proxy_tool(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
        assert!(!stderr.contains(SECRET), "the secret leaked: {stderr}");
    }
}

#[tokio::test]
async fn a_link_through_jump_hosts_lists_them_and_its_token_opens_the_first() {
    let scene = Scene::new(SECRET).await;
    let port = scene.echo.port();
    let first = format!("ops@127.0.0.1:{port}");
    let link = proxy_tool_ok(&[
        "link",
        "--private-key",
        scene.private.to_str().unwrap(),
        "--base",
        "https://support.example/",
        "--host",
        "db.internal",
        "--user",
        "ann",
        "--jump",
        &first,
        "--jump",
        "[2001:db8::7]:2200",
    ]);
    let (_, fragment) = link.split_once('#').expect("a fragment");
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(fragment.as_bytes())
        .into_owned()
        .collect();
    let jumps: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "jump")
        .map(|(_, v)| v.as_str())
        .collect();
    // In the order given, in the form the page's `jump=` reads.
    assert_eq!(jumps, [first.as_str(), "[2001:db8::7]:2200"]);
    let token = &pairs.iter().find(|(k, _)| k == "token").expect("a token").1;
    // The relay connects to the first jump host, so that is what the token allows.
    let claims = pyjwt_decode(token, "EdDSA", scene.public.to_str().unwrap());
    assert_eq!(claims["target"], format!("127.0.0.1:{port}"));
    let relay = scene.relay().await;
    let mut ws = relay
        .open("127.0.0.1", port, "link-jump", Some(token.clone()))
        .await;
    assert_eq!(expect_connected(&mut ws).await, scene.echo.to_string());
    relay.relay.shutdown().await;

    // A jump host carrying a password is refused, and the password is not echoed.
    let out = proxy_tool(&[
        "link",
        "--secret-file",
        scene.secret_file.to_str().unwrap(),
        "--base",
        "https://support.example/",
        "--host",
        "db",
        "--jump",
        "ops:Hunter2-pw@bastion",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("carries a password"), "{stderr}");
    assert!(!stderr.contains("Hunter2-pw"), "{stderr}");
}
