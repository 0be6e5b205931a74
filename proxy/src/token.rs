//! Connect tokens: with `--token-secret-file`, every connect must carry one.
//!
//! Format (version 1), ASCII, URL-safe:
//!
//! ```text
//! token   = payload "." mac
//! payload = base64url-nopad( JSON {"v":1,"target":"host:port","exp":UNIX_SECONDS} )
//! mac     = base64url-nopad( HMAC-SHA256(secret, payload) )      ; over the base64 text
//! ```
//!
//! `target` is the host exactly as the client will send it (compared case-insensitively,
//! without a trailing dot; IPv6 hosts in brackets, `[2001:db8::1]:22`) and the port. A token
//! whose MAC does not verify, that does not parse, or that names another target is
//! `token-invalid`; one whose `exp` is in the past is `token-expired` (checked only after the
//! MAC verified, so an attacker learns nothing from a forged expiry). A portal mints one per
//! ticket with [`mint_token`] (or any HMAC-SHA256 implementation following the format above).
//!
//! Architecture invariant: a token is never logged, echoed in a control frame or kept after
//! the check; messages describe what was wrong without quoting it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sshdiag_events::relay::RelayErrorCode;

use crate::policy::Denial;

type HmacSha256 = Hmac<Sha256>;

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u32,
    target: String,
    exp: u64,
}

/// The target string a token names: `host:port`, host normalised, IPv6 in brackets.
pub fn token_target(host: &str, port: u16) -> String {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&host)
        .to_string();
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn mac(secret: &[u8], payload: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    mac.update(payload.as_bytes());
    mac
}

/// Mints a token allowing `host:port` until `expires_unix` (seconds since the epoch).
pub fn mint_token(secret: &[u8], host: &str, port: u16, expires_unix: u64) -> String {
    let payload = Payload {
        v: 1,
        target: token_target(host, port),
        exp: expires_unix,
    };
    let json = serde_json::to_vec(&payload).unwrap_or_default();
    let payload = URL_SAFE_NO_PAD.encode(json);
    let tag = URL_SAFE_NO_PAD.encode(mac(secret, &payload).finalize().into_bytes());
    format!("{payload}.{tag}")
}

/// Checks `token` for a connect to `host:port` at `now_unix`.
pub fn verify_token(
    secret: &[u8],
    token: Option<&str>,
    host: &str,
    port: u16,
    now_unix: u64,
) -> Result<(), Denial> {
    let invalid = |message: &str| Denial {
        code: RelayErrorCode::TokenInvalid,
        message: message.to_string(),
    };
    let token = token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("this relay requires a token and the connect frame has none"))?;
    let (payload, tag) = token
        .split_once('.')
        .ok_or_else(|| invalid("the token is malformed"))?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| invalid("the token is malformed"))?;
    mac(secret, payload).verify_slice(&tag).map_err(|_| {
        invalid("the token's signature does not verify (tampered, or signed with another secret)")
    })?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| invalid("the token is malformed"))?;
    let payload: Payload =
        serde_json::from_slice(&json).map_err(|_| invalid("the token is malformed"))?;
    if payload.v != 1 {
        return Err(invalid("the token has an unknown version"));
    }
    if payload.target != token_target(host, port) {
        return Err(invalid("the token was issued for another target"));
    }
    if payload.exp <= now_unix {
        return Err(Denial {
            code: RelayErrorCode::TokenExpired,
            message: "the token has expired; ask for a new link".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"correct horse battery staple";

    #[test]
    fn a_minted_token_verifies_for_its_target_only() {
        let token = mint_token(SECRET, "Example.com", 22, 2_000);
        assert_eq!(
            verify_token(SECRET, Some(&token), "example.com.", 22, 1_000),
            Ok(())
        );
        let other = verify_token(SECRET, Some(&token), "example.org", 22, 1_000).unwrap_err();
        assert_eq!(other.code, RelayErrorCode::TokenInvalid);
        let port = verify_token(SECRET, Some(&token), "example.com", 2222, 1_000).unwrap_err();
        assert_eq!(port.code, RelayErrorCode::TokenInvalid);
        let expired = verify_token(SECRET, Some(&token), "example.com", 22, 2_000).unwrap_err();
        assert_eq!(expired.code, RelayErrorCode::TokenExpired);
        let wrong_key = verify_token(b"other", Some(&token), "example.com", 22, 1_000).unwrap_err();
        assert_eq!(wrong_key.code, RelayErrorCode::TokenInvalid);
    }

    #[test]
    fn tampering_and_garbage_are_invalid() {
        let token = mint_token(SECRET, "example.com", 22, 2_000);
        let (payload, tag) = token.split_once('.').unwrap();
        let forged_payload =
            URL_SAFE_NO_PAD.encode(br#"{"v":1,"target":"example.com:22","exp":9999999999}"#);
        for bad in [
            format!("{forged_payload}.{tag}"),
            format!("{payload}.{}", &tag[1..]),
            format!("{payload}x.{tag}"),
            "garbage".to_string(),
            ".".to_string(),
            "é.é".to_string(),
        ] {
            let denial = verify_token(SECRET, Some(&bad), "example.com", 22, 1_000).unwrap_err();
            assert_eq!(denial.code, RelayErrorCode::TokenInvalid, "{bad}");
            assert!(!denial.message.contains(&bad) || bad == ".");
        }
        let missing = verify_token(SECRET, None, "example.com", 22, 1_000).unwrap_err();
        assert_eq!(missing.code, RelayErrorCode::TokenInvalid);
    }

    #[test]
    fn ipv6_targets_are_bracketed() {
        assert_eq!(token_target("[::1]", 22), "[::1]:22");
        assert_eq!(token_target("::1", 22), "[::1]:22");
        let token = mint_token(SECRET, "::1", 22, 2_000);
        assert_eq!(
            verify_token(SECRET, Some(&token), "[::1]", 22, 1_000),
            Ok(())
        );
    }
}
