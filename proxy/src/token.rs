//! Connect tokens: standard JWTs (RFC 7519). With `--token-secret-file` and/or
//! `--token-public-key`, every connect must carry one; `docs/tokens.md` is the user reference.
//!
//! Accepted signatures: `HS256` with the shared secret of `--token-secret-file`, and `EdDSA`
//! (Ed25519) with the public key of `--token-public-key` (PEM), so a fleet of relays can
//! verify without holding a signing secret. Any other `alg` (`none` included) is refused, and
//! so is an algorithm whose key this relay was not given. Verification is `jsonwebtoken`'s.
//!
//! Claims:
//!
//! | claim | required | meaning |
//! |---|---|---|
//! | `exp` | yes | expiry, Unix seconds; honoured to the second (no leeway) |
//! | `nbf` | no | not before, Unix seconds; [`NBF_LEEWAY_SECS`] of clock skew tolerated |
//! | `target` | yes | `"host:port"` or a list of them; the connect must name one |
//! | `ticket` | no | a support-ticket id the relay logs (printable, at most 64 characters) |
//!
//! A target is compared as [`token_target`] writes it: host case-insensitive, without a
//! trailing dot, IPv6 in brackets (`[2001:db8::1]:22`). A token whose signature does not
//! verify, that does not parse, or that names another target is `token-invalid`; one whose
//! `exp` is past is `token-expired` (checked only after the signature verified, so an attacker
//! learns nothing from a forged expiry).
//!
//! Architecture invariant: a token is never logged, echoed in a control frame or kept after
//! the check; messages describe what was wrong without quoting it. Only the `ticket` claim of a
//! token that verified leaves this module.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sshdiag_events::relay::RelayErrorCode;

use crate::policy::Denial;

/// Seconds a token's `nbf` may lie in the future (the portal's clock running ahead).
pub const NBF_LEEWAY_SECS: u64 = 60;
/// The shortest shared secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;
/// The longest `ticket` kept for the log, in characters.
pub const MAX_TICKET_CHARS: usize = 64;

/// The `target` claim: one `host:port` or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Targets {
    One(String),
    Many(Vec<String>),
}

impl Targets {
    fn iter(&self) -> impl Iterator<Item = &String> {
        match self {
            Targets::One(one) => std::slice::from_ref(one).iter(),
            Targets::Many(many) => many.iter(),
        }
    }
}

/// The claims of a connect token (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub target: Targets,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

/// What a token that verified tells the relay.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accepted {
    /// The `ticket` claim, made printable and bounded, for the log.
    pub ticket: Option<String>,
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

/// A `target` claim entry in [`token_target`] form, or `None` when it is not `host:port`.
fn normalise_target(text: &str) -> Option<String> {
    let (host, port) = text.trim().rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    (!host.is_empty()).then(|| token_target(host, port))
}

/// Reads a shared secret: the file's bytes without trailing whitespace, at least
/// [`MIN_SECRET_BYTES`]. `flag` names the option in errors.
pub fn read_secret_file(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read {flag} {}", path.display()))?;
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let secret = bytes[..end].to_vec();
    if secret.len() < MIN_SECRET_BYTES {
        anyhow::bail!(
            "{flag} {} holds {} byte(s); use at least {MIN_SECRET_BYTES} random bytes",
            path.display(),
            secret.len()
        );
    }
    Ok(secret)
}

/// The keys a relay verifies tokens with. No token is required when both are absent.
#[derive(Clone, Default)]
pub struct TokenKeys {
    hs256: Option<DecodingKey>,
    eddsa: Option<DecodingKey>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKeys({})", self.describe())
    }
}

impl TokenKeys {
    /// Keys from the relay's flags; `None` when neither is given (no token required).
    pub fn load(
        secret_file: Option<&PathBuf>,
        public_key_file: Option<&PathBuf>,
    ) -> anyhow::Result<Option<TokenKeys>> {
        let mut keys = TokenKeys::default();
        if let Some(path) = secret_file {
            keys.hs256 = Some(DecodingKey::from_secret(&read_secret_file(
                path,
                "--token-secret-file",
            )?));
        }
        if let Some(path) = public_key_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read --token-public-key {}", path.display()))?;
            keys.eddsa = Some(DecodingKey::from_ed_pem(&pem).map_err(|_| {
                anyhow::anyhow!(
                    "--token-public-key {} is not an Ed25519 public key in PEM \
                     (`-----BEGIN PUBLIC KEY-----`; `openssl pkey -pubout` writes one)",
                    path.display()
                )
            })?);
        }
        Ok((keys.hs256.is_some() || keys.eddsa.is_some()).then_some(keys))
    }

    /// Keys verifying `HS256` tokens signed with `secret`.
    pub fn from_secret(secret: &[u8]) -> TokenKeys {
        TokenKeys {
            hs256: Some(DecodingKey::from_secret(secret)),
            eddsa: None,
        }
    }

    /// The accepted algorithms, for the start-up log line: `HS256`, `EdDSA` or both.
    pub fn describe(&self) -> String {
        let mut algs = Vec::new();
        if self.hs256.is_some() {
            algs.push("HS256");
        }
        if self.eddsa.is_some() {
            algs.push("EdDSA");
        }
        algs.join("+")
    }

    /// Checks `token` for a connect to `host:port` at `now_unix` (seconds).
    pub fn verify(
        &self,
        token: Option<&str>,
        host: &str,
        port: u16,
        now_unix: u64,
    ) -> Result<Accepted, Denial> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid("this relay requires a token and the connect frame has none"))?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            invalid(&format!(
                "the token is not a JWT signed with an algorithm this relay accepts ({})",
                self.describe()
            ))
        })?;
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref(),
            Algorithm::EdDSA => self.eddsa.as_ref(),
            _ => None,
        }
        .ok_or_else(|| {
            invalid(&format!(
                "the token is signed with {:?}, which this relay does not accept ({})",
                header.alg,
                self.describe()
            ))
        })?;
        let mut validation = Validation::new(header.alg);
        validation.set_required_spec_claims(&["exp"]);
        // Time is checked below against the caller's clock; `aud` is not part of this format.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|error| match error.kind() {
                ErrorKind::InvalidSignature => invalid(
                    "the token's signature does not verify (tampered, or signed with another key)",
                ),
                ErrorKind::MissingRequiredClaim(_) => invalid("the token has no `exp` claim"),
                _ => invalid(
                    "the token's claims are malformed (`exp` and `target` are required, see docs/tokens.md)",
                ),
            })?
            .claims;
        let wanted = token_target(host, port);
        if !claims
            .target
            .iter()
            .any(|t| normalise_target(t).as_deref() == Some(wanted.as_str()))
        {
            return Err(invalid("the token was issued for another target"));
        }
        if claims.exp <= now_unix {
            return Err(Denial {
                code: RelayErrorCode::TokenExpired,
                message: "the token has expired; ask for a new link".into(),
            });
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now_unix.saturating_add(NBF_LEEWAY_SECS))
        {
            return Err(invalid(
                "the token is not valid yet (`nbf` is in the future)",
            ));
        }
        Ok(Accepted {
            ticket: claims.ticket.as_deref().map(loggable_ticket),
        })
    }
}

fn invalid(message: &str) -> Denial {
    Denial {
        code: RelayErrorCode::TokenInvalid,
        message: message.to_string(),
    }
}

/// A ticket id as it may appear in a log line: printable ASCII, bounded.
fn loggable_ticket(ticket: &str) -> String {
    ticket
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX_TICKET_CHARS)
        .collect()
}

/// What signs tokens: a shared secret (`HS256`) or an Ed25519 private key (`EdDSA`).
pub struct TokenSigner {
    alg: Algorithm,
    key: EncodingKey,
}

impl TokenSigner {
    /// Signs `HS256` with `secret`.
    pub fn hs256(secret: &[u8]) -> TokenSigner {
        TokenSigner {
            alg: Algorithm::HS256,
            key: EncodingKey::from_secret(secret),
        }
    }

    /// Signs `EdDSA` with an Ed25519 private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn eddsa_pem(pem: &[u8]) -> anyhow::Result<TokenSigner> {
        Ok(TokenSigner {
            alg: Algorithm::EdDSA,
            key: EncodingKey::from_ed_pem(pem).map_err(|_| {
                anyhow::anyhow!(
                    "not an Ed25519 private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`; \
                     `openssl genpkey -algorithm ed25519` writes one)"
                )
            })?,
        })
    }

    /// The signed token for `claims`.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        jsonwebtoken::encode(&Header::new(self.alg), claims, &self.key)
            .map_err(|e| anyhow::anyhow!("cannot sign the token: {e}"))
    }
}

/// Mints an `HS256` token allowing `host:port` until `expires_unix` (seconds since the epoch).
pub fn mint_token(secret: &[u8], host: &str, port: u16, expires_unix: u64) -> String {
    let claims = Claims {
        exp: expires_unix,
        nbf: None,
        target: Targets::One(token_target(host, port)),
        ticket: None,
    };
    // HMAC takes keys of any length and the claims always serialise, so this cannot fail.
    TokenSigner::hs256(secret).sign(&claims).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"correct horse battery staple";

    fn keys() -> TokenKeys {
        TokenKeys::from_secret(SECRET)
    }

    /// The code `keys()` refuses `token` with for `host:port` at `now`.
    fn refusal(token: &str, host: &str, port: u16, now: u64) -> RelayErrorCode {
        keys()
            .verify(Some(token), host, port, now)
            .unwrap_err()
            .code
    }

    #[test]
    fn a_minted_token_verifies_for_its_target_only() {
        let token = mint_token(SECRET, "Example.com", 22, 2_000);
        assert!(
            keys()
                .verify(Some(&token), "example.com.", 22, 1_000)
                .is_ok()
        );
        assert_eq!(
            refusal(&token, "example.org", 22, 1_000),
            RelayErrorCode::TokenInvalid
        );
        assert_eq!(
            refusal(&token, "example.com", 2222, 1_000),
            RelayErrorCode::TokenInvalid
        );
        assert_eq!(
            refusal(&token, "example.com", 22, 2_000),
            RelayErrorCode::TokenExpired
        );
        let wrong_key = TokenKeys::from_secret(b"another secret!!")
            .verify(Some(&token), "example.com", 22, 1_000)
            .unwrap_err();
        assert_eq!(wrong_key.code, RelayErrorCode::TokenInvalid);
    }

    #[test]
    fn a_list_of_targets_nbf_and_the_ticket() {
        let signer = TokenSigner::hs256(SECRET);
        let claims = Claims {
            exp: 2_000,
            nbf: Some(1_500),
            target: Targets::Many(vec!["a.example:22".into(), "B.example.:2222".into()]),
            ticket: Some("SUP-1\u{7}42".into()),
        };
        let token = signer.sign(&claims).unwrap();
        assert_eq!(
            refusal(&token, "a.example", 22, 1_000),
            RelayErrorCode::TokenInvalid
        );
        let accepted = keys()
            .verify(Some(&token), "b.example", 2222, 1_490)
            .unwrap();
        assert_eq!(accepted.ticket.as_deref(), Some("SUP-142"));
        assert!(
            keys()
                .verify(Some(&token), "a.example", 2222, 1_600)
                .is_err()
        );
    }

    #[test]
    fn tampering_garbage_and_unconfigured_algorithms_are_invalid() {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let token = mint_token(SECRET, "example.com", 22, 2_000);
        let parts: Vec<&str> = token.split('.').collect();
        let forged_claims =
            URL_SAFE_NO_PAD.encode(br#"{"target":"example.com:22","exp":9999999999}"#);
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let eddsa_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
        for bad in [
            format!("{}.{forged_claims}.{}", parts[0], parts[2]),
            format!("{}.{}.{}", parts[0], parts[1], &parts[2][1..]),
            format!("{none_header}.{}.", parts[1]),
            format!("{eddsa_header}.{}.{}", parts[1], parts[2]),
            "garbage".to_string(),
            "..".to_string(),
            "é.é.é".to_string(),
        ] {
            let denial = keys()
                .verify(Some(&bad), "example.com", 22, 1_000)
                .unwrap_err();
            assert_eq!(denial.code, RelayErrorCode::TokenInvalid, "{bad}");
            assert!(bad == ".." || !denial.message.contains(&bad));
        }
        let missing = keys().verify(None, "example.com", 22, 1_000).unwrap_err();
        assert_eq!(missing.code, RelayErrorCode::TokenInvalid);
    }

    #[test]
    fn ipv6_targets_are_bracketed() {
        assert_eq!(token_target("[::1]", 22), "[::1]:22");
        assert_eq!(token_target("::1", 22), "[::1]:22");
        assert_eq!(normalise_target("[::1]:22").as_deref(), Some("[::1]:22"));
        assert_eq!(normalise_target("nope"), None);
        let token = mint_token(SECRET, "::1", 22, 2_000);
        assert!(keys().verify(Some(&token), "[::1]", 22, 1_000).is_ok());
    }
}
