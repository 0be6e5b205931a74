//! What the relay reads from a client (its first frame, the host in it, its allow rules, its
//! token) and what the client reads from the relay (control frames).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sshdiag_events::relay::{ClientFrame, ControlFrame};
use sshdiag_proxy::TokenKeys;
use sshdiag_proxy::policy::{AllowRule, Policy, TargetHost};

/// The secret the fuzzed relay checks tokens with (a fuzzer cannot learn it from the outside).
const SECRET: &[u8] = b"fuzz-secret-0123456789abcdef-0123";

/// A JSON value's round trip through its type: what parsed must serialise and parse back equal.
fn round_trips<T>(value: &T) -> bool
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq,
{
    serde_json::to_string(value)
        .ok()
        .and_then(|again| serde_json::from_str::<T>(&again).ok())
        .is_some_and(|back| back == *value)
}

/// The first frame exactly as the relay parses it, then its host through the policy made of
/// every line of the input that parses as an allow rule.
pub fn first_frame(data: &[u8]) {
    let text = crate::text(data);
    let rules: Vec<AllowRule> = text
        .lines()
        .take(64)
        .filter_map(|line| AllowRule::parse(line).ok())
        .collect();
    let policy = Policy::new(rules, data.first().is_some_and(|b| b & 1 == 1));
    let Ok(frame) = serde_json::from_str::<ClientFrame>(&text) else {
        for line in text.lines().take(64) {
            target_host(&policy, line, 22);
        }
        return;
    };
    assert!(round_trips(&frame), "a client frame does not round-trip");
    if let ClientFrame::Connect { host, port, .. } = &frame {
        target_host(&policy, host, *port);
    }
}

fn target_host(policy: &Policy, host: &str, port: u16) {
    let Ok(target) = TargetHost::parse(host) else {
        return;
    };
    // The form the relay logs and sends back must name the same target.
    assert_eq!(
        TargetHost::parse(&target.display()).ok().as_ref(),
        Some(&target),
        "TargetHost::display does not parse back to itself"
    );
    let _ = policy.precheck(&target, port);
    if let TargetHost::Ip(ip) = target {
        let _ = policy.check_address(&target, port, ip);
    }
}

/// A connect token: the input as the token text, and the input as the claims of a token
/// signed with the relay's own secret (so the claims reader is reached). A token the relay
/// refuses must not appear in the refusal's text (it is logged).
pub fn token(data: &[u8]) {
    let keys = TokenKeys::from_secret(SECRET);
    let now = 1_800_000_000;
    let text = crate::text(data);
    if let Err(denial) = keys.verify(Some(&text), "example.com", 22, now) {
        let token = text.trim();
        if token.len() >= 8 {
            assert!(
                !denial.message.contains(token),
                "a refused token appears in the refusal text"
            );
        }
    }
    let signed = sign_claims(data);
    let _ = keys.verify(Some(&signed), "example.com", 22, now);
    let _ = keys.verify(Some(&signed), "[::1]", 2222, now);
}

/// An HS256 JWT whose claims are `claims`, byte for byte, signed with [`SECRET`].
fn sign_claims(claims: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims);
    let signing_input = format!("{header}.{body}");
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(SECRET) else {
        return signing_input;
    };
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// A relay control frame as the client reads it.
pub fn control_frame(data: &[u8]) {
    if let Ok(frame) = serde_json::from_slice::<ControlFrame>(data) {
        assert!(round_trips(&frame), "a control frame does not round-trip");
    }
}
