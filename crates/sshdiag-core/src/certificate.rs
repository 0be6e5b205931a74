//! OpenSSH user certificates, before the connection: read one, state its public facts (key id,
//! serial, type, principals, validity, CA fingerprint, critical options, extensions), and name
//! from that evidence why a server would refuse it (expired, not yet valid, the login user not
//! among the principals, `source-address` excluding the path) — or, when none of those holds,
//! that the server probably does not trust the signing CA (`TrustedUserCAKeys`).
//!
//! Pure: no I/O, no clock of its own (the caller passes the time). It never handles a private
//! key, and what it returns is public (a certificate is public by design).

use std::net::IpAddr;

use russh::keys::{Certificate, HashAlg};

/// A certificate that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an OpenSSH certificate: {0}")]
pub struct CertificateError(pub String);

/// `valid_before` of a certificate valid forever.
pub const FOREVER: u64 = u64::MAX;

/// The public facts of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    pub key_id: String,
    pub serial: u64,
    /// `user` or `host`.
    pub cert_type: &'static str,
    /// `ssh-ed25519-cert-v01@openssh.com`, …
    pub algorithm: String,
    /// SHA256 fingerprint of the certified key (the one the private key file must match).
    pub key_fingerprint: String,
    pub principals: Vec<String>,
    /// Unix seconds; valid when `valid_after <= now < valid_before`.
    pub valid_after: u64,
    pub valid_before: u64,
    pub ca_algorithm: String,
    pub ca_fingerprint: String,
    /// Name and value (`force-command`, `source-address`, …).
    pub critical_options: Vec<(String, String)>,
    /// `permit-pty`, `permit-port-forwarding`, …
    pub extensions: Vec<String>,
}

/// Parse a certificate (`…-cert-v01@openssh.com AAAA… [comment]`).
pub fn parse(text: &str) -> Result<(Certificate, CertificateFacts), CertificateError> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| CertificateError("the file is empty".into()))?;
    let cert = Certificate::from_openssh(line).map_err(|e| CertificateError(e.to_string()))?;
    let facts = facts(&cert);
    Ok((cert, facts))
}

/// The public facts of a parsed certificate.
pub fn facts(cert: &Certificate) -> CertificateFacts {
    CertificateFacts {
        key_id: cert.key_id().to_string(),
        serial: cert.serial(),
        cert_type: if cert.cert_type().is_host() {
            "host"
        } else {
            "user"
        },
        algorithm: cert.algorithm().to_certificate_type().to_string(),
        key_fingerprint: cert.public_key().fingerprint(HashAlg::Sha256).to_string(),
        principals: cert.valid_principals().to_vec(),
        valid_after: cert.valid_after(),
        valid_before: cert.valid_before(),
        ca_algorithm: cert.signature_key().algorithm().as_str().to_string(),
        ca_fingerprint: cert
            .signature_key()
            .fingerprint(HashAlg::Sha256)
            .to_string(),
        critical_options: cert
            .critical_options()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        extensions: cert.extensions().keys().cloned().collect(),
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (`forever` for the maximum).
pub fn utc(secs: u64) -> String {
    if secs == FOREVER {
        return "forever".into();
    }
    let (y, m, d, hour, minute, second) = sshdiag_events::civil::civil_from_unix(secs);
    format!("{y:04}-{m:02}-{d:02}T{hour:02}:{minute:02}:{second:02}Z")
}

impl CertificateFacts {
    /// The facts as they go into an event (public only).
    pub fn info(&self) -> sshdiag_events::CertificateInfo {
        sshdiag_events::CertificateInfo {
            key_id: self.key_id.clone(),
            serial: self.serial,
            cert_type: self.cert_type.to_string(),
            algorithm: self.algorithm.clone(),
            key_fingerprint: self.key_fingerprint.clone(),
            principals: self.principals.clone(),
            valid_after: utc(self.valid_after),
            valid_before: utc(self.valid_before),
            ca_fingerprint: self.ca_fingerprint.clone(),
            critical_options: self.options(),
            extensions: self.extensions.clone(),
        }
    }

    /// The critical options as `name=value` (a bare `name` when it has no value).
    fn options(&self) -> Vec<String> {
        self.critical_options
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.clone()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect()
    }

    /// The facts, one per line, for a person.
    pub fn describe(&self) -> Vec<String> {
        let none = |v: &[String]| {
            if v.is_empty() {
                "(none)".to_string()
            } else {
                v.join(", ")
            }
        };
        let options = self.options();
        vec![
            format!("type: {} certificate, {}", self.cert_type, self.algorithm),
            format!("key id: {:?}, serial {}", self.key_id, self.serial),
            format!("certified key: {}", self.key_fingerprint),
            format!("principals: {}", none(&self.principals)),
            format!(
                "valid: from {} to {}",
                utc(self.valid_after),
                utc(self.valid_before)
            ),
            format!(
                "signed by CA: {} {}",
                self.ca_algorithm, self.ca_fingerprint
            ),
            format!("critical options: {}", none(&options)),
            format!("extensions: {}", none(&self.extensions)),
        ]
    }
}

/// The client's clock and how far off the server's may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub now: u64,
    /// Seconds the server's clock may differ by.
    pub skew: u64,
}

/// A reason, from the certificate alone, that a server would refuse it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A host certificate offered for user authentication.
    NotAUserCertificate,
    Expired {
        valid_before: u64,
        now: u64,
    },
    NotYetValid {
        valid_after: u64,
        now: u64,
    },
    /// Within the skew of a validity boundary: refused if the server's clock is off that way.
    NearBoundary {
        boundary: u64,
        now: u64,
        skew: u64,
    },
    /// No principals at all: `TrustedUserCAKeys` refuses it.
    NoPrincipals,
    UserNotAPrincipal {
        user: String,
        principals: Vec<String>,
    },
    SourceAddress {
        allowed: String,
        source: IpAddr,
    },
}

impl Refusal {
    /// The sentence for a hint.
    pub fn explain(&self) -> String {
        match self {
            Refusal::NotAUserCertificate => {
                "this is a host certificate; a server only accepts user certificates for login"
                    .into()
            }
            Refusal::Expired { valid_before, now } => format!(
                "the certificate expired at {} (now {}); have it signed again",
                utc(*valid_before),
                utc(*now)
            ),
            Refusal::NotYetValid { valid_after, now } => format!(
                "the certificate is not valid before {} (now {}); wait, or check this machine's clock",
                utc(*valid_after),
                utc(*now)
            ),
            Refusal::NearBoundary {
                boundary,
                now,
                skew,
            } => format!(
                "a validity limit ({}) is within the clock skew of {skew} s of now ({}); the server refuses it if its clock differs that way",
                utc(*boundary),
                utc(*now)
            ),
            Refusal::NoPrincipals => "the certificate has no principals; sshd's TrustedUserCAKeys refuses such a certificate (only an authorized_keys cert-authority line accepts it)".into(),
            Refusal::UserNotAPrincipal { user, principals } => format!(
                "the login user {user:?} is not among the principals ({}); log in as one of them or have the certificate signed with -n {user} (unless the server maps principals with AuthorizedPrincipalsFile)",
                principals.join(", ")
            ),
            Refusal::SourceAddress { allowed, source } => format!(
                "its source-address option ({allowed}) does not include {source}, the address the server sees"
            ),
        }
    }
}

/// Whether the first `bits` (all when `None`) of two `width`-bit addresses agree.
fn same_prefix(a: u128, n: u128, width: u32, bits: Option<u32>) -> bool {
    let ignored = width - bits.unwrap_or(width).min(width);
    a.checked_shr(ignored).unwrap_or(0) == n.checked_shr(ignored).unwrap_or(0)
}

/// Whether `addr` is inside `cidr` (`a.b.c.d/n`, `x::/n`, or a plain address).
fn in_cidr(addr: IpAddr, cidr: &str) -> bool {
    let (net, bits) = match cidr.split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (cidr, None),
    };
    let Ok(net) = net.trim().parse::<IpAddr>() else {
        return false;
    };
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            same_prefix(u32::from(a).into(), u32::from(n).into(), 32, bits)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => same_prefix(a.into(), n.into(), 128, bits),
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|v4| in_cidr(IpAddr::V4(v4), cidr)),
        _ => false,
    }
}

/// Every reason the certificate's own facts give for a refusal of `user` from `source` (the
/// address the server sees, when known) at `clock`. Empty: nothing in the certificate explains
/// a refusal, see [`untrusted_ca_hint`].
pub fn refusal_reasons(
    facts: &CertificateFacts,
    user: &str,
    clock: Clock,
    source: Option<IpAddr>,
) -> Vec<Refusal> {
    let mut out = Vec::new();
    if facts.cert_type != "user" {
        out.push(Refusal::NotAUserCertificate);
    }
    let now = clock.now;
    if now >= facts.valid_before {
        out.push(Refusal::Expired {
            valid_before: facts.valid_before,
            now,
        });
    } else if now < facts.valid_after {
        out.push(Refusal::NotYetValid {
            valid_after: facts.valid_after,
            now,
        });
    } else {
        let near = |b: u64| b != FOREVER && b != 0 && b.abs_diff(now) <= clock.skew;
        for boundary in [facts.valid_after, facts.valid_before] {
            if near(boundary) {
                out.push(Refusal::NearBoundary {
                    boundary,
                    now,
                    skew: clock.skew,
                });
            }
        }
    }
    if facts.principals.is_empty() {
        out.push(Refusal::NoPrincipals);
    } else if !facts.principals.iter().any(|p| p == user) {
        out.push(Refusal::UserNotAPrincipal {
            user: user.to_string(),
            principals: facts.principals.clone(),
        });
    }
    if let (Some((_, allowed)), Some(source)) = (
        facts
            .critical_options
            .iter()
            .find(|(k, _)| k == "source-address"),
        source,
    ) && !allowed.split(',').any(|c| in_cidr(source, c.trim()))
    {
        out.push(Refusal::SourceAddress {
            allowed: allowed.clone(),
            source,
        });
    }
    out
}

/// The hint when the certificate itself explains nothing: the server does not trust its CA.
pub fn untrusted_ca_hint(facts: &CertificateFacts) -> String {
    format!(
        "the certificate is valid now, names this user and allows this address, so the server probably does not trust its CA: on the server, TrustedUserCAKeys (sshd_config) must list the CA key with fingerprint {} (check with ssh-keygen -lf on that file)",
        facts.ca_fingerprint
    )
}

/// The hint for a refused certificate: the evidence-based reasons, else the untrusted CA.
pub fn refusal_hint(
    facts: &CertificateFacts,
    user: &str,
    clock: Clock,
    source: Option<IpAddr>,
) -> String {
    let seen = match source {
        Some(ip) => Seen::Direct(ip),
        None => Seen::Unknown(""),
    };
    refusal_hint_seen(facts, user, clock, &seen)
}

/// The source address the server sees a login come from, as far as a run knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen<'a> {
    /// This machine's own address (direct TCP).
    Direct(IpAddr),
    /// The relay's address (its `connected` frame's `local`): the server never sees ours.
    Relay(IpAddr),
    /// Not known to this run; the text says whose address it is (a jump host's as the server
    /// sees it, an older relay's), or is empty.
    Unknown(&'a str),
}

/// [`refusal_hint`] with what the run knows of the source address: a `source-address` that
/// excludes it is named as the cause; when the address is not known, the hint says so and
/// what to compare.
pub fn refusal_hint_seen(
    facts: &CertificateFacts,
    user: &str,
    clock: Clock,
    seen: &Seen,
) -> String {
    let ip = match seen {
        Seen::Direct(ip) | Seen::Relay(ip) => Some(*ip),
        Seen::Unknown(_) => None,
    };
    let reasons = refusal_reasons(facts, user, clock, ip);
    let allowed = facts
        .critical_options
        .iter()
        .find(|(k, _)| k == "source-address")
        .map(|(_, v)| v.as_str());
    let mut parts: Vec<String> = reasons
        .iter()
        .map(|r| match (r, seen) {
            (Refusal::SourceAddress { .. }, Seen::Relay(_)) => format!(
                "{} (through the relay the server sees the relay's address, never this machine's: sign the certificate for the relay's address, or connect without the relay)",
                r.explain()
            ),
            _ => r.explain(),
        })
        .collect();
    if let (Some(allowed), Seen::Unknown(whose)) = (allowed, seen) {
        let whose = if whose.is_empty() {
            String::new()
        } else {
            format!(" ({whose})")
        };
        let unknown = format!(
            "its source-address option ({allowed}) admits only those addresses, and the address the server sees is not known to this run{whose}: if that address is not among them, source-address is the cause"
        );
        if parts.is_empty() {
            return format!("{unknown}; if it is, {}", untrusted_ca_hint(facts));
        }
        parts.push(unknown);
    }
    if parts.is_empty() {
        return untrusted_ca_hint(facts);
    }
    parts.join("; ")
}

/// Where OpenSSH looks for the certificate of a key given with `-i KEY`: `KEY-cert.pub`.
pub fn certificate_path_for_key(key_path: &str) -> String {
    format!("{key_path}-cert.pub")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc(FOREVER), "forever");
    }

    #[test]
    fn cidr() {
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(in_cidr(a, "127.0.0.0/8"));
        assert!(in_cidr(a, "127.0.0.1"));
        assert!(!in_cidr(a, "10.0.0.0/8"));
        assert!(in_cidr("::1".parse().unwrap(), "::1/128"));
        assert!(in_cidr("::ffff:10.1.2.3".parse().unwrap(), "10.0.0.0/8"));
        assert!(in_cidr(a, "0.0.0.0/0"));
    }
}
