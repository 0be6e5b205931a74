//! The `ssh_config` engine: reads the command-line options and the files in OpenSSH's order,
//! keeps the first value of each keyword (identity and certificate files accumulate), follows
//! `Host`, `Match` and `Include` exactly as `readconf.c` does, and remembers for every value the
//! file and line it came from.
//!
//! It never expands tokens in stored values (that happens when a value is used, see
//! [`super::Resolved`]) and never fails on a keyword sshdiag does not use: those are skipped.

use std::path::{Path, PathBuf};

use super::lex::{glob, parse_time, pattern_list_matches, split_line};
use super::{ConfigError, Origin, Query, Setting, Settings, StrictHostKeyChecking};

/// OpenSSH's limit on nested `Include`s.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Whether a file is the user's (relative `Include`s are under `~/.ssh`) or the system's
/// (under `/etc/ssh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    User,
    System,
}

pub struct Engine<'a> {
    pub query: &'a Query,
    pub settings: Settings,
    pub warnings: Vec<String>,
    pub final_pass: bool,
    pub want_final: bool,
}

/// The tokens each keyword accepts (as `ssh_config(5)` lists them, limited to what sshdiag
/// can expand).
fn allowed_tokens(key: &str) -> &'static str {
    match key {
        "hostname" => "h%",
        "identityfile" | "certificatefile" | "userknownhostsfile" => "dhiknpru%",
        _ => "",
    }
}

fn check_tokens(key: &str, value: &str) -> Result<(), String> {
    let allowed = allowed_tokens(key);
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some(t) if allowed.contains(t) => {}
                Some(t) => return Err(format!("token %{t} is not supported in {key}")),
                None => return Err(format!("{key}: a lone % at the end (write %% for %)")),
            }
        }
    }
    Ok(())
}

fn one_arg(key: &str, args: &[String]) -> Result<String, String> {
    match args {
        [v] => Ok(v.clone()),
        [] => Err(format!("{key}: missing argument")),
        _ => Err(format!("{key}: takes one argument, got {}", args.len())),
    }
}

fn yes_no(key: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(format!("{key}: expected yes or no, got {v:?}")),
    }
}

fn set<T>(slot: &mut Option<Setting<T>>, active: bool, value: T, origin: &Origin) {
    if active && slot.is_none() {
        *slot = Some(Setting {
            value,
            origin: origin.clone(),
        });
    }
}

fn push(list: &mut Vec<Setting<String>>, active: bool, value: String, origin: &Origin) {
    if active && !list.iter().any(|s| s.value == value) {
        list.push(Setting {
            value,
            origin: origin.clone(),
        });
    }
}

impl Engine<'_> {
    /// One keyword that sets a value (not `Host`, `Match`, `Include`): validated always, as
    /// OpenSSH does, and stored when the block is active and the value is still unset.
    pub fn setting(
        &mut self,
        key: &str,
        args: &[String],
        active: bool,
        origin: &Origin,
    ) -> Result<(), String> {
        let s = &mut self.settings;
        match key {
            "hostname" => {
                let v = one_arg(key, args)?;
                check_tokens(key, &v)?;
                set(&mut s.hostname, active, v, origin);
            }
            "user" => set(&mut s.user, active, one_arg(key, args)?, origin),
            "port" => {
                let v = one_arg(key, args)?;
                let port = v
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("Port: expected 1-65535, got {v:?}"))?;
                set(&mut s.port, active, port, origin);
            }
            "identityfile" | "certificatefile" => {
                let v = one_arg(key, args)?;
                check_tokens(key, &v)?;
                let list = if key == "identityfile" {
                    &mut s.identity_files
                } else {
                    &mut s.certificate_files
                };
                push(list, active, v, origin);
            }
            "identitiesonly" => {
                let v = yes_no("IdentitiesOnly", &one_arg(key, args)?)?;
                set(&mut s.identities_only, active, v, origin);
            }
            "proxyjump" => set(&mut s.proxy_jump, active, one_arg(key, args)?, origin),
            "userknownhostsfile" => {
                if args.is_empty() {
                    return Err("UserKnownHostsFile: missing argument".into());
                }
                for a in args {
                    check_tokens(key, a)?;
                }
                set(&mut s.user_known_hosts_files, active, args.to_vec(), origin);
            }
            "stricthostkeychecking" => {
                let v = one_arg(key, args)?;
                let policy = match v.to_ascii_lowercase().as_str() {
                    "yes" | "true" => StrictHostKeyChecking::Yes,
                    "no" | "false" | "off" => StrictHostKeyChecking::No,
                    "ask" => StrictHostKeyChecking::Ask,
                    "accept-new" => StrictHostKeyChecking::AcceptNew,
                    _ => {
                        return Err(format!(
                            "StrictHostKeyChecking: expected yes, no, ask or accept-new, got {v:?}"
                        ));
                    }
                };
                set(&mut s.strict_host_key_checking, active, policy, origin);
            }
            "connecttimeout" => {
                let v = one_arg(key, args)?;
                let t = if v.eq_ignore_ascii_case("none") {
                    None
                } else {
                    Some(parse_time(&v).ok_or_else(|| {
                        format!("ConnectTimeout: expected a time like 10 or 1m, got {v:?}")
                    })?)
                };
                set(&mut s.connect_timeout, active, t, origin);
            }
            "serveraliveinterval" => {
                let v = one_arg(key, args)?;
                let t = parse_time(&v).ok_or_else(|| {
                    format!("ServerAliveInterval: expected a time like 15 or 1m, got {v:?}")
                })?;
                set(&mut s.server_alive_interval, active, t, origin);
            }
            "serveralivecountmax" => {
                let v = one_arg(key, args)?;
                let n = v
                    .parse::<u32>()
                    .map_err(|_| format!("ServerAliveCountMax: expected a number, got {v:?}"))?;
                set(&mut s.server_alive_count_max, active, n, origin);
            }
            "kexalgorithms" | "hostkeyalgorithms" | "ciphers" | "macs" => {
                let v = one_arg(key, args)?;
                let slot = match key {
                    "kexalgorithms" => &mut s.kex_algorithms,
                    "hostkeyalgorithms" => &mut s.host_key_algorithms,
                    "ciphers" => &mut s.ciphers,
                    _ => &mut s.macs,
                };
                set(slot, active, v, origin);
            }
            // Every other keyword is OpenSSH's business, not a diagnosis's.
            _ => {}
        }
        Ok(())
    }

    /// The host name `Match host` compares, as `readconf.c` computes it at this point.
    fn match_host(&self) -> String {
        match &self.settings.hostname {
            Some(h) => super::expand_hostname(&h.value, &self.query.host),
            None => self.query.host.clone(),
        }
    }

    /// The remote user as known at this point.
    fn match_user(&self) -> &str {
        self.settings
            .user
            .as_ref()
            .map(|u| u.value.as_str())
            .unwrap_or(&self.query.local_user)
    }

    /// Whether a `Match` line's criteria all hold.
    fn match_line(&mut self, args: &[String], origin: &Origin) -> Result<bool, String> {
        if args.is_empty() {
            return Err("Match: missing criteria".into());
        }
        let mut result = true;
        let mut i = 0;
        while i < args.len() {
            let raw = args[i].to_ascii_lowercase();
            let (negate, attr) = match raw.strip_prefix('!') {
                Some(a) => (true, a.to_string()),
                None => (false, raw.clone()),
            };
            i += 1;
            let hit = match attr.as_str() {
                "all" => {
                    let others = args.iter().any(|a| {
                        let a = a.to_ascii_lowercase();
                        !matches!(a.as_str(), "all" | "canonical" | "final")
                    });
                    if others {
                        return Err("Match all: must appear alone (or with canonical/final)".into());
                    }
                    true
                }
                "canonical" | "final" => {
                    if attr == "final" {
                        self.want_final = true;
                    }
                    self.final_pass
                }
                _ => {
                    let Some(arg) = args.get(i) else {
                        return Err(format!("Match {attr}: missing argument"));
                    };
                    i += 1;
                    match attr.as_str() {
                        "host" => {
                            pattern_list_matches(&arg.to_ascii_lowercase(), &self.match_host())
                        }
                        "originalhost" => {
                            pattern_list_matches(&arg.to_ascii_lowercase(), &self.query.host)
                        }
                        "user" => pattern_list_matches(arg, self.match_user()),
                        "localuser" => pattern_list_matches(arg, &self.query.local_user),
                        "exec" | "localnetwork" | "tagged" => {
                            self.warnings.push(format!(
                                "{origin}: Match {attr} is not evaluated by sshdiag; treated as not matching"
                            ));
                            false
                        }
                        _ => return Err(format!("Match: unsupported criterion {attr:?}")),
                    }
                }
            };
            if hit == negate {
                result = false;
            }
        }
        Ok(result)
    }

    /// Whether a `Host` line's patterns select this host (a matching `!` pattern vetoes). Each
    /// word is one glob (commas are not lists here, unlike `Match`), and the host is compared as
    /// typed, case-sensitively, as OpenSSH does.
    fn host_line(&self, args: &[String]) -> Result<bool, String> {
        if args.is_empty() {
            return Err("Host: missing pattern".into());
        }
        let host = &self.query.host;
        let mut hit = false;
        for a in args {
            if let Some(neg) = a.strip_prefix('!') {
                if glob(neg, host) {
                    return Ok(false);
                }
            } else if glob(a, host) {
                hit = true;
            }
        }
        Ok(hit)
    }

    /// Command-line `-o` options: always active, no `Host`, `Match` or `Include`.
    pub fn command_line(&mut self, options: &[String]) -> Result<(), ConfigError> {
        for (n, line) in options.iter().enumerate() {
            let origin = Origin::command_line(n + 1);
            let err = |message: String| ConfigError::at(&origin, message);
            let Some((key, args)) = split_line(line).map_err(err)? else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if matches!(key.as_str(), "host" | "match" | "include") {
                return Err(err(format!(
                    "-o {line}: {key} is not allowed on the command line"
                )));
            }
            self.setting(&key, &args, true, &origin).map_err(err)?;
        }
        Ok(())
    }

    /// Read one file. `active` is the state of the including block; a file included from an
    /// inactive block never matches (OpenSSH's `SSHCONF_NEVERMATCH`).
    pub fn file(
        &mut self,
        path: &Path,
        text: &str,
        kind: FileKind,
        depth: usize,
        mut active: bool,
        never_match: bool,
    ) -> Result<(), ConfigError> {
        for (n, line) in text.lines().enumerate() {
            let origin = Origin::file(path, n + 1);
            let err = |message: String| ConfigError::at(&origin, message);
            let Some((key, args)) = split_line(line).map_err(err)? else {
                continue;
            };
            match key.to_ascii_lowercase().as_str() {
                "host" => active = self.host_line(&args).map_err(err)? && !never_match,
                "match" => active = self.match_line(&args, &origin).map_err(err)? && !never_match,
                "include" => {
                    if args.is_empty() {
                        return Err(err("Include: missing file name".into()));
                    }
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(err(format!(
                            "Include nested deeper than {MAX_INCLUDE_DEPTH} files"
                        )));
                    }
                    for pattern in &args {
                        let full = self.include_path(pattern, kind).map_err(err)?;
                        for p in super::files::glob_paths(&full) {
                            let text = match super::files::read_config(&p) {
                                Ok(t) => t,
                                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                                Err(e) => {
                                    return Err(err(format!("Include {}: {e}", p.display())));
                                }
                            };
                            self.file(&p, &text, kind, depth + 1, active, never_match || !active)?;
                        }
                    }
                }
                k => self.setting(k, &args, active, &origin).map_err(err)?,
            }
        }
        Ok(())
    }

    /// Where an `Include` argument points: `~` is the home directory, a relative name is under
    /// `~/.ssh` (user files) or `/etc/ssh` (system files).
    fn include_path(&self, arg: &str, kind: FileKind) -> Result<PathBuf, String> {
        if let Some(rest) = arg.strip_prefix("~/") {
            if kind == FileKind::System {
                return Err("Include: ~ is not allowed in the system configuration".into());
            }
            return Ok(self.query.home.join(rest));
        }
        if arg.starts_with('~') {
            return Err(format!("Include {arg}: only ~/ is supported"));
        }
        let p = Path::new(arg);
        Ok(if p.is_absolute() {
            p.to_path_buf()
        } else if kind == FileKind::User {
            self.query.home.join(".ssh").join(p)
        } else {
            Path::new("/etc/ssh").join(p)
        })
    }
}
