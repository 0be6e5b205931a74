//! `sshdiag -G`: the effective settings as `ssh -G` prints them (lowercase `key value` lines),
//! for the keywords sshdiag uses. Where sshdiag's own behaviour differs from OpenSSH's when a
//! keyword is unset, the line says what sshdiag will do (documented in `docs/ssh_config.md`):
//! `stricthostkeychecking accept-new`, `connecttimeout 10`, and algorithm lists limited to what
//! sshdiag implements.

use sshdiag_core::algorithms::AlgorithmPrefs;

use super::{ConfigError, Resolved, Setting, StrictHostKeyChecking};

/// sshdiag's connect timeout when none is configured, in seconds.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;

/// The identity files OpenSSH tries when none is configured (`ssh -G` lists them).
const DEFAULT_IDENTITIES: &[&str] = &[
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss",
    "~/.ssh/id_dsa",
];

impl StrictHostKeyChecking {
    /// As `ssh -G` prints it.
    pub fn ssh_g(self) -> &'static str {
        match self {
            StrictHostKeyChecking::Yes => "true",
            StrictHostKeyChecking::No => "false",
            StrictHostKeyChecking::Ask => "ask",
            StrictHostKeyChecking::AcceptNew => "accept-new",
        }
    }
}

impl Resolved {
    /// The algorithm preferences the settings give (OpenSSH `+`/`-`/`^` syntax kept).
    pub fn algorithm_prefs(&self) -> AlgorithmPrefs {
        let s = &self.settings;
        let v = |x: &Option<Setting<String>>| x.as_ref().map(|s| s.value.clone());
        AlgorithmPrefs {
            kex: v(&s.kex_algorithms),
            host_key: v(&s.host_key_algorithms),
            ciphers: v(&s.ciphers),
            macs: v(&s.macs),
        }
    }

    /// Check the algorithm lists against what sshdiag implements; an error names the line.
    pub fn algorithm_lists(&self) -> Result<sshdiag_core::algorithms::AlgorithmLists, ConfigError> {
        let s = &self.settings;
        let one = |slot: &Option<Setting<String>>,
                   fill: fn(&mut AlgorithmPrefs, String)|
         -> Result<(), ConfigError> {
            if let Some(v) = slot {
                let mut prefs = AlgorithmPrefs::default();
                fill(&mut prefs, v.value.clone());
                prefs
                    .resolve()
                    .map_err(|message| ConfigError::at(&v.origin, message))?;
            }
            Ok(())
        };
        one(&s.kex_algorithms, |p, v| p.kex = Some(v))?;
        one(&s.host_key_algorithms, |p, v| p.host_key = Some(v))?;
        one(&s.ciphers, |p, v| p.ciphers = Some(v))?;
        one(&s.macs, |p, v| p.macs = Some(v))?;
        self.algorithm_prefs()
            .resolve()
            .map_err(|message| ConfigError {
                origin: super::Origin {
                    file: "configuration".into(),
                    line: 0,
                },
                message,
            })
    }

    /// The `ssh -G`-style lines.
    pub fn ssh_g_lines(&self) -> Result<Vec<String>, ConfigError> {
        let s = &self.settings;
        let lists = self.algorithm_lists()?;
        let mut out = vec![
            format!("host {}", self.query.host),
            format!("user {}", self.user()),
            format!("hostname {}", self.hostname()),
            format!("port {}", self.port()),
        ];
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        out.push(format!(
            "identitiesonly {}",
            yes_no(s.identities_only.as_ref().is_some_and(|v| v.value))
        ));
        out.push(format!(
            "stricthostkeychecking {}",
            s.strict_host_key_checking
                .as_ref()
                .map(|v| v.value)
                .unwrap_or(StrictHostKeyChecking::AcceptNew)
                .ssh_g()
        ));
        out.push(format!("ciphers {}", lists.ciphers.join(",")));
        out.push(format!("hostkeyalgorithms {}", lists.host_key.join(",")));
        out.push(format!("kexalgorithms {}", lists.kex.join(",")));
        out.push(format!("macs {}", lists.macs.join(",")));
        if s.identity_files.is_empty() {
            out.extend(
                DEFAULT_IDENTITIES
                    .iter()
                    .map(|f| format!("identityfile {f}")),
            );
        } else {
            out.extend(
                s.identity_files
                    .iter()
                    .map(|f| format!("identityfile {}", f.value)),
            );
        }
        out.extend(
            s.certificate_files
                .iter()
                .map(|f| format!("certificatefile {}", f.value)),
        );
        let files: Vec<String> = self
            .user_known_hosts_files()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        out.push(format!("userknownhostsfile {}", files.join(" ")));
        out.push(match s.connect_timeout.as_ref().map(|v| v.value) {
            Some(Some(t)) => format!("connecttimeout {t}"),
            Some(None) => "connecttimeout none".into(),
            None => format!("connecttimeout {DEFAULT_CONNECT_TIMEOUT_SECS}"),
        });
        out.push(format!(
            "serveraliveinterval {}",
            s.server_alive_interval.as_ref().map_or(0, |v| v.value)
        ));
        out.push(format!(
            "serveralivecountmax {}",
            s.server_alive_count_max.as_ref().map_or(3, |v| v.value)
        ));
        if let Some(j) = self.proxy_jump() {
            out.push(format!("proxyjump {j}"));
        }
        Ok(out)
    }

    /// `ProxyJump`, unless unset or `none`.
    pub fn proxy_jump(&self) -> Option<&str> {
        self.settings
            .proxy_jump
            .as_ref()
            .map(|v| v.value.as_str())
            .filter(|v| !v.eq_ignore_ascii_case("none"))
    }
}
