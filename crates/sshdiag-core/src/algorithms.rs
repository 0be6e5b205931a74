//! Algorithm preferences in OpenSSH syntax (`KexAlgorithms`, `HostKeyAlgorithms`, `Ciphers`,
//! `MACs`): a plain list replaces the default, `+list` appends, `-list` removes (with `*` and `?`
//! wildcards), `^list` puts at the front. The defaults are OpenSSH 9.x client defaults limited to
//! what russh implements, so a diagnosis negotiates what a user's `ssh` would.

use std::borrow::Cow;

use russh::keys::Algorithm;
use russh::{Preferred, cipher, kex, mac};

pub const DEFAULT_KEX: &[&str] = &[
    "mlkem768x25519-sha256",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
];
pub const DEFAULT_HOST_KEY: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
];
pub const DEFAULT_CIPHERS: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
];
pub const DEFAULT_MACS: &[&str] = &[
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
];

/// The names of `all`, without those in `skip` (the null algorithms).
fn names_but<N: AsRef<str>>(all: &'static [N], skip: &[&str]) -> Vec<&'static str> {
    all.iter()
        .map(|n| n.as_ref())
        .filter(|n| !skip.contains(n))
        .collect()
}

/// `preferred` with the algorithms of the key types in `trusted` first, each part in its
/// own order (OpenSSH's `order_hostkeyalgs`): a server with several host keys then shows the
/// one this client already trusts, not another type a default order happens to prefer.
pub fn known_types_first(
    preferred: &[Algorithm],
    trusted: &[crate::hostkey::HostKeyInfo],
) -> Vec<Algorithm> {
    use crate::hostkey::key_type;
    let known = |a: &Algorithm| {
        let name = a.as_str();
        trusted
            .iter()
            .any(|t| key_type(&t.algorithm) == key_type(name))
    };
    let (first, rest): (Vec<Algorithm>, Vec<Algorithm>) =
        preferred.iter().cloned().partition(|a| known(a));
    first.into_iter().chain(rest).collect()
}

/// Everything russh can do in each category (what `+` may add).
pub fn supported_kex() -> Vec<&'static str> {
    names_but(kex::ALL_KEX_ALGORITHMS, &["none"])
}
/// The default host key algorithms and `ssh-rsa` (SHA-1 signatures: only when asked for).
pub fn supported_host_key() -> Vec<&'static str> {
    DEFAULT_HOST_KEY
        .iter()
        .copied()
        .chain(["ssh-rsa"])
        .collect()
}
pub fn supported_ciphers() -> Vec<&'static str> {
    names_but(cipher::ALL_CIPHERS, &["none", "clear"])
}
pub fn supported_macs() -> Vec<&'static str> {
    names_but(mac::ALL_MAC_ALGORITHMS, &["none"])
}

/// The user's preferences, each an OpenSSH-syntax string or empty for the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlgorithmPrefs {
    pub kex: Option<String>,
    pub host_key: Option<String>,
    pub ciphers: Option<String>,
    pub macs: Option<String>,
}

/// The resolved lists, in preference order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgorithmLists {
    pub kex: Vec<String>,
    pub host_key: Vec<String>,
    pub ciphers: Vec<String>,
    pub macs: Vec<String>,
}

/// `*` and `?` glob, case-sensitive as OpenSSH's `match_pattern` (for algorithm names here,
/// and for host names in the CLI's ssh_config).
pub fn glob(pattern: &str, name: &str) -> bool {
    fn rec(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => rec(&p[1..], n) || (!n.is_empty() && rec(p, &n[1..])),
            (Some(b'?'), Some(_)) => rec(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => rec(&p[1..], &n[1..]),
            _ => false,
        }
    }
    rec(pattern.as_bytes(), name.as_bytes())
}

/// Apply one OpenSSH-syntax preference to a default list.
pub fn apply_openssh_syntax(
    option: &str,
    spec: &str,
    default: &[&str],
    supported: &[&str],
) -> Result<Vec<String>, String> {
    let spec = spec.trim();
    let (mode, list) = match spec.chars().next() {
        Some(c @ ('+' | '-' | '^')) => (c, &spec[1..]),
        _ => ('=', spec),
    };
    let names: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return Err(format!("{option}: empty algorithm list"));
    }
    let expand = |pat: &str| -> Result<Vec<String>, String> {
        let found: Vec<String> = supported
            .iter()
            .filter(|s| glob(pat, s))
            .map(|s| s.to_string())
            .collect();
        if found.is_empty() {
            Err(format!(
                "{option}: unsupported algorithm '{pat}'; sshdiag supports: {}",
                supported.join(",")
            ))
        } else {
            Ok(found)
        }
    };
    let mut out: Vec<String> = default.iter().map(|s| s.to_string()).collect();
    match mode {
        '-' => out.retain(|d| !names.iter().any(|p| glob(p, d))),
        '+' => {
            for n in &names {
                for a in expand(n)? {
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
            }
        }
        '^' => {
            let mut front = Vec::new();
            for n in &names {
                for a in expand(n)? {
                    if !front.contains(&a) {
                        front.push(a);
                    }
                }
            }
            out.retain(|d| !front.contains(d));
            front.extend(out);
            out = front;
        }
        _ => {
            out = Vec::new();
            for n in &names {
                for a in expand(n)? {
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
            }
        }
    }
    if out.is_empty() {
        return Err(format!(
            "{option}: the list is empty after applying '{spec}'"
        ));
    }
    Ok(out)
}

impl AlgorithmPrefs {
    /// Resolve against the defaults; an error names the option and what is supported.
    pub fn resolve(&self) -> Result<AlgorithmLists, String> {
        let one = |opt: &str, v: &Option<String>, d: &[&str], s: Vec<&str>| match v {
            Some(spec) if !spec.trim().is_empty() => apply_openssh_syntax(opt, spec, d, &s),
            _ => Ok(d.iter().map(|x| x.to_string()).collect()),
        };
        Ok(AlgorithmLists {
            kex: one("KexAlgorithms", &self.kex, DEFAULT_KEX, supported_kex())?,
            host_key: one(
                "HostKeyAlgorithms",
                &self.host_key,
                DEFAULT_HOST_KEY,
                supported_host_key(),
            )?,
            ciphers: one(
                "Ciphers",
                &self.ciphers,
                DEFAULT_CIPHERS,
                supported_ciphers(),
            )?,
            macs: one("MACs", &self.macs, DEFAULT_MACS, supported_macs())?,
        })
    }
}

impl AlgorithmLists {
    /// The russh preference structure; the extension pseudo-algorithms (`ext-info-c`, strict
    /// kex) are always added so server-sig-algs and Terrapin protection keep working.
    pub fn to_russh(&self) -> Result<Preferred, String> {
        let mut kex_names: Vec<kex::Name> = Vec::new();
        for k in &self.kex {
            kex_names
                .push(kex::Name::try_from(k.as_str()).map_err(|_| format!("unsupported kex {k}"))?);
        }
        kex_names.push(kex::EXTENSION_SUPPORT_AS_CLIENT);
        kex_names.push(kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT);
        let mut keys = Vec::new();
        for k in &self.host_key {
            keys.push(
                Algorithm::new(k).map_err(|_| format!("unsupported host key algorithm {k}"))?,
            );
        }
        let mut ciphers = Vec::new();
        for c in &self.ciphers {
            ciphers.push(
                cipher::Name::try_from(c.as_str())
                    .map_err(|_| format!("unsupported cipher {c}"))?,
            );
        }
        let mut macs = Vec::new();
        for m in &self.macs {
            macs.push(mac::Name::try_from(m.as_str()).map_err(|_| format!("unsupported MAC {m}"))?);
        }
        Ok(Preferred {
            kex: Cow::Owned(kex_names),
            key: Cow::Owned(keys),
            host_key_certificates: Cow::Borrowed(&[]),
            cipher: Cow::Owned(ciphers),
            mac: Cow::Owned(macs),
            compression: Preferred::DEFAULT.compression.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssh_prefix_forms() {
        let d = ["a", "b", "c"];
        let s = ["a", "b", "c", "d", "e-x", "e-y"];
        assert_eq!(
            apply_openssh_syntax("K", "+d", &d, &s).unwrap(),
            ["a", "b", "c", "d"]
        );
        assert_eq!(apply_openssh_syntax("K", "-b", &d, &s).unwrap(), ["a", "c"]);
        assert_eq!(
            apply_openssh_syntax("K", "^c,d", &d, &s).unwrap(),
            ["c", "d", "a", "b"]
        );
        assert_eq!(
            apply_openssh_syntax("K", "e-*", &d, &s).unwrap(),
            ["e-x", "e-y"]
        );
        assert!(
            apply_openssh_syntax("K", "zzz", &d, &s)
                .unwrap_err()
                .contains("unsupported algorithm 'zzz'")
        );
        assert!(apply_openssh_syntax("K", "-*", &d, &s).is_err());
    }

    #[test]
    fn defaults_map_onto_russh() {
        let lists = AlgorithmPrefs::default().resolve().unwrap();
        let p = lists.to_russh().unwrap();
        assert_eq!(p.kex.len(), DEFAULT_KEX.len() + 2);
        let only = AlgorithmPrefs {
            kex: Some("diffie-hellman-group1-sha1".into()),
            ..Default::default()
        };
        assert_eq!(only.resolve().unwrap().kex, ["diffie-hellman-group1-sha1"]);
    }
}
