//! `ssh_config` for the CLI, as OpenSSH's client reads it: the command line's `-o` options
//! first, then `-F FILE` (or `~/.ssh/config` followed by `/etc/ssh/ssh_config`), the first value
//! of each keyword wins, `Host` patterns with `*`, `?` and `!`, `Match host/originalhost/user/
//! localuser/all/final`, `Include` with globs, and the `%h %p %r %u %d %n %i %k %%` tokens. Only
//! the keywords a diagnosis needs are kept (see [`Settings`]), each with the file and line it
//! came from, so a bundle can say which lines applied.
//!
//! It never connects and never reads a key: it resolves names and values. A bad line is one
//! [`ConfigError`] naming `file:line`; a keyword sshdiag does not use is skipped, not an error.

mod apply;
mod files;
mod lex;
mod resolve;

use std::fmt;
use std::path::{Path, PathBuf};

pub use apply::{Outcome, apply, apply_for_main};
use resolve::{Engine, FileKind};

/// Where a value came from: a file and line, or the n-th command-line setting (`USER@`, `-l`,
/// `-p`, `-i`, `--known-hosts`, then each `-o`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

impl Origin {
    fn file(path: &Path, line: usize) -> Self {
        Origin {
            file: path.display().to_string(),
            line,
        }
    }
    fn command_line(n: usize) -> Self {
        Origin {
            file: "command line".into(),
            line: n,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub origin: Origin,
}

/// `StrictHostKeyChecking`, as OpenSSH spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictHostKeyChecking {
    Yes,
    AcceptNew,
    No,
    Ask,
}

/// The keywords sshdiag uses, each unset until a line sets it. Values are as written (tokens
/// unexpanded); [`Resolved`] expands them.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub hostname: Option<Setting<String>>,
    pub user: Option<Setting<String>>,
    pub port: Option<Setting<u16>>,
    pub identity_files: Vec<Setting<String>>,
    pub certificate_files: Vec<Setting<String>>,
    pub identities_only: Option<Setting<bool>>,
    pub proxy_jump: Option<Setting<String>>,
    pub user_known_hosts_files: Option<Setting<Vec<String>>>,
    pub strict_host_key_checking: Option<Setting<StrictHostKeyChecking>>,
    /// `Some(None)` is an explicit `ConnectTimeout none`.
    pub connect_timeout: Option<Setting<Option<u64>>>,
    pub server_alive_interval: Option<Setting<u64>>,
    pub server_alive_count_max: Option<Setting<u32>>,
    pub kex_algorithms: Option<Setting<String>>,
    pub host_key_algorithms: Option<Setting<String>>,
    pub ciphers: Option<Setting<String>>,
    pub macs: Option<Setting<String>>,
}

/// A bad configuration line (or an unreadable `-F` file), told in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub origin: Origin,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn at(origin: &Origin, message: String) -> Self {
        ConfigError {
            origin: origin.clone(),
            message,
        }
    }
}

/// What is being resolved: the host as typed and the local facts tokens need.
#[derive(Debug, Clone)]
pub struct Query {
    /// The destination host as typed (`ssh -G` prints it as `host`).
    pub host: String,
    pub local_user: String,
    pub home: PathBuf,
}

/// Which files to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigFiles {
    /// `~/.ssh/config`, then `/etc/ssh/ssh_config` (OpenSSH's order without `-F`).
    Default,
    /// `-F none`.
    None,
    /// `-F FILE`: only this file (and what it includes).
    File(PathBuf),
}

impl ConfigFiles {
    /// From the `-F` argument.
    pub fn from_flag(flag: Option<&str>) -> Self {
        match flag {
            None => ConfigFiles::Default,
            Some(f) if f.eq_ignore_ascii_case("none") => ConfigFiles::None,
            Some(f) => ConfigFiles::File(PathBuf::from(f)),
        }
    }
}

/// The outcome: the settings with their origins, and notes for the user.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub query: Query,
    pub settings: Settings,
    /// Lines sshdiag could not evaluate (e.g. `Match exec`), each naming `file:line`.
    pub warnings: Vec<String>,
}

/// Resolve the configuration for `query`: `command_line` are `-o` options (and `-p`/`-l` given
/// as `Port N`/`User U`), read before any file, so they win as in OpenSSH.
pub fn resolve(
    query: Query,
    command_line: &[String],
    files: &ConfigFiles,
    system_file: &Path,
) -> Result<Resolved, ConfigError> {
    let sources: Vec<(PathBuf, FileKind, bool)> = match files {
        ConfigFiles::None => Vec::new(),
        ConfigFiles::File(p) => vec![(p.clone(), FileKind::User, true)],
        ConfigFiles::Default => vec![
            (query.home.join(".ssh/config"), FileKind::User, false),
            (system_file.to_path_buf(), FileKind::System, false),
        ],
    };
    let mut texts = Vec::new();
    for (path, kind, required) in sources {
        match files::read_config(&path) {
            Ok(t) => texts.push((path, kind, t)),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ConfigError::at(
                    &Origin::file(&path, 0),
                    format!("cannot read the configuration file: {e}"),
                ));
            }
        }
    }
    let mut engine = Engine {
        query: &query,
        settings: Settings::default(),
        warnings: Vec::new(),
        final_pass: false,
        want_final: false,
    };
    engine.command_line(command_line)?;
    for (path, kind, text) in &texts {
        engine.file(path, text, *kind, 0, true, false)?;
    }
    // `Match final` asks for a second pass with the host name as resolved so far.
    if engine.want_final {
        engine.final_pass = true;
        if let Some(h) = &mut engine.settings.hostname {
            h.value = expand_hostname(&h.value, &query.host)
                .to_ascii_lowercase()
                .replace('%', "%%");
        }
        for (path, kind, text) in &texts {
            engine.file(path, text, *kind, 0, true, false)?;
        }
    }
    let (settings, warnings) = (engine.settings, engine.warnings);
    Ok(Resolved {
        query,
        settings,
        warnings,
    })
}

/// `HostName`'s tokens: `%h` is the host as given, `%%` a percent sign.
pub fn expand_hostname(value: &str, host: &str) -> String {
    expand(value, &|t| (t == 'h').then(|| host.to_string()))
}

/// Replace `%x` tokens using `lookup`; an unknown token stays as written (the parser already
/// refused tokens a keyword does not take).
fn expand(value: &str, lookup: &dyn Fn(char) -> Option<String>) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(t) => match lookup(t) {
                Some(v) => out.push_str(&v),
                None => {
                    out.push('%');
                    out.push(t);
                }
            },
            None => out.push('%'),
        }
    }
    out
}

use crate::identity::uid;

mod output;

impl Resolved {
    /// The host name to connect to (`HostName` with `%h` expanded, else the host as given),
    /// lower-cased as OpenSSH does once the configuration is read.
    pub fn hostname(&self) -> String {
        match &self.settings.hostname {
            Some(h) => expand_hostname(&h.value, &self.query.host),
            None => self.query.host.clone(),
        }
        .to_ascii_lowercase()
    }

    pub fn user(&self) -> String {
        self.settings
            .user
            .as_ref()
            .map(|u| u.value.clone())
            .unwrap_or_else(|| self.query.local_user.clone())
    }

    pub fn port(&self) -> u16 {
        self.settings.port.as_ref().map(|p| p.value).unwrap_or(22)
    }

    /// A path value with its tokens and a leading `~/` expanded, as OpenSSH uses it.
    pub fn expand_path(&self, value: &str) -> PathBuf {
        let (host, user, port) = (self.hostname(), self.user(), self.port().to_string());
        let home = self.query.home.display().to_string();
        let original = self.query.host.clone();
        let text = expand(value, &|t| match t {
            'h' => Some(host.clone()),
            'p' => Some(port.clone()),
            'r' => Some(user.clone()),
            'u' => Some(self.query.local_user.clone()),
            'd' => Some(home.clone()),
            'n' | 'k' => Some(original.clone()),
            'i' => Some(uid()),
            _ => None,
        });
        match text.strip_prefix("~/") {
            Some(rest) => self.query.home.join(rest),
            None if text == "~" => self.query.home.clone(),
            None => PathBuf::from(text),
        }
    }

    /// The `known_hosts` files: `UserKnownHostsFile`, else OpenSSH's two defaults.
    pub fn user_known_hosts_files(&self) -> Vec<PathBuf> {
        match &self.settings.user_known_hosts_files {
            Some(s) => s.value.iter().map(|v| self.expand_path(v)).collect(),
            None => vec![
                self.query.home.join(".ssh/known_hosts"),
                self.query.home.join(".ssh/known_hosts2"),
            ],
        }
    }

    /// Every value that came from a file or `-o`, as `(keyword, origin)`: what a bundle
    /// records as the lines that applied (values are not included).
    pub fn applied(&self) -> Vec<(&'static str, &Origin)> {
        let s = &self.settings;
        let mut out: Vec<(&'static str, &Origin)> = Vec::new();
        macro_rules! one {
            ($name:literal, $field:expr) => {
                if let Some(v) = &$field {
                    out.push(($name, &v.origin));
                }
            };
        }
        one!("HostName", s.hostname);
        one!("User", s.user);
        one!("Port", s.port);
        out.extend(s.identity_files.iter().map(|v| ("IdentityFile", &v.origin)));
        out.extend(
            s.certificate_files
                .iter()
                .map(|v| ("CertificateFile", &v.origin)),
        );
        one!("IdentitiesOnly", s.identities_only);
        one!("ProxyJump", s.proxy_jump);
        one!("UserKnownHostsFile", s.user_known_hosts_files);
        one!("StrictHostKeyChecking", s.strict_host_key_checking);
        one!("ConnectTimeout", s.connect_timeout);
        one!("ServerAliveInterval", s.server_alive_interval);
        one!("ServerAliveCountMax", s.server_alive_count_max);
        one!("KexAlgorithms", s.kex_algorithms);
        one!("HostKeyAlgorithms", s.host_key_algorithms);
        one!("Ciphers", s.ciphers);
        one!("MACs", s.macs);
        out
    }
}

#[cfg(test)]
mod tests;
