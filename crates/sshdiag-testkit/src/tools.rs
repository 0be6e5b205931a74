//! Where the real programs the tests use live, and which Debian package (or crate) brings each.
//!
//! This is the one table of external tools: the fixtures use it to fail with one clear line
//! when a tool is missing, and `xtask` uses it to install the packages before a test run. It is
//! in the kit's always-built part, so it needs only `std` and `anyhow`.
//!
//! It must never skip silently: a missing tool is an error naming the package to install.

use std::path::{Path, PathBuf};

/// An external program and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// The program's file name, searched on `PATH`.
    pub name: &'static str,
    /// Absolute paths tried when the program is not on `PATH` (sshd lives in /usr/sbin, which
    /// is not on every user's `PATH`).
    pub fallbacks: &'static [&'static str],
    /// What installs it.
    pub source: Source,
}

/// What installs a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A Debian package (`apt-get install`).
    Debian(&'static str),
    /// A crate from crates.io, exactly this version (`cargo install --locked`); as root into
    /// `/usr/local` (on `PATH`, like a package), otherwise into `~/.cargo/bin`.
    Crate {
        name: &'static str,
        version: &'static str,
    },
    /// A Python module from a Debian package, found by importing it with the interpreter of
    /// the tool's `fallbacks` (Debian's `/usr/bin/python3`: a `python3` earlier on `PATH`, such
    /// as pyenv's, does not see Debian's modules).
    DebianPython {
        package: &'static str,
        module: &'static str,
    },
}

impl Source {
    /// The command that installs it, for messages.
    pub fn install_command(&self) -> String {
        match self {
            Source::Debian(package) | Source::DebianPython { package, .. } => {
                format!("apt-get install -y {package}")
            }
            Source::Crate { name, version } => {
                format!("cargo install --locked --version ={version} {name}")
            }
        }
    }
}

/// The OpenSSH server; the harness runs it by absolute path because sshd re-executes itself.
pub const SSHD: Tool = Tool::debian("sshd", &["/usr/sbin/sshd"], "openssh-server");

/// Generates host and client keys for the sshd fixture and prints fingerprints.
pub const SSH_KEYGEN: Tool = Tool::debian("ssh-keygen", &["/usr/bin/ssh-keygen"], "openssh-client");

/// The OpenSSH client, used to check the fixture the way a user would.
pub const SSH: Tool = Tool::debian("ssh", &["/usr/bin/ssh"], "openssh-client");

/// Makes PuTTY `.ppk` keys for the key-file tests (a format users bring from Windows).
pub const PUTTYGEN: Tool = Tool::debian("puttygen", &["/usr/bin/puttygen"], "putty-tools");

/// Runs a program in a mount namespace of its own, where a test's `/etc/hosts` is bound over
/// the machine's: names that resolve to several loopback addresses, seen by that program only.
pub const UNSHARE: Tool = Tool::debian("unshare", &["/usr/bin/unshare"], "util-linux");

/// The browser the wasm tests and page tests run in.
pub const CHROMIUM: Tool = Tool::debian("chromium", &["/usr/bin/chromium"], "chromium");

/// The WebDriver server `wasm-bindgen-test-runner` and page tests talk to.
pub const CHROMEDRIVER: Tool = Tool::debian(
    "chromedriver",
    &["/usr/bin/chromedriver"],
    "chromium-driver",
);

/// Builds `ring`'s C and assembly for wasm32.
pub const CLANG: Tool = Tool::debian("clang", &["/usr/bin/clang"], "clang");

/// Used by shell-level checks of JSON output.
pub const JQ: Tool = Tool::debian("jq", &["/usr/bin/jq"], "jq");

/// Shrinks the release wasm module (`cargo xtask build-web` installs it or stops).
pub const WASM_OPT: Tool = Tool::debian("wasm-opt", &["/usr/bin/wasm-opt"], "binaryen");

/// The second browser the page tests run in (page.md: "current Chromium and Firefox").
pub const FIREFOX: Tool = Tool::debian(
    "firefox-esr",
    &["/usr/bin/firefox-esr", "/usr/bin/firefox"],
    "firefox-esr",
);

/// Firefox's WebDriver server; Debian does not package it, crates.io has Mozilla's own.
pub const GECKODRIVER: Tool = Tool {
    name: "geckodriver",
    fallbacks: &["/usr/local/bin/geckodriver"],
    source: Source::Crate {
        name: "geckodriver",
        version: "0.37.1",
    },
};

/// PyJWT, the standard JWT library the relay's token tests mint with; `find` gives the
/// interpreter that imports it.
pub const PYJWT: Tool = Tool {
    name: "python3 (module jwt)",
    fallbacks: &["/usr/bin/python3"],
    source: Source::DebianPython {
        package: "python3-jwt",
        module: "jwt",
    },
};

/// `cryptography`, which PyJWT needs for EdDSA (Ed25519) tokens.
pub const PY_CRYPTOGRAPHY: Tool = Tool {
    name: "python3 (module cryptography)",
    fallbacks: &["/usr/bin/python3"],
    source: Source::DebianPython {
        package: "python3-cryptography",
        module: "cryptography.hazmat.primitives.asymmetric.ed25519",
    },
};

/// The load balancer the relay fleet tests put in front of several relays.
pub const HAPROXY: Tool = Tool::debian("haproxy", &["/usr/sbin/haproxy"], "haproxy");

/// cargo-fuzz, which `cargo xtask fuzz` runs the coverage-guided fuzz targets with (libFuzzer;
/// the test suite's smoke of the same targets needs nothing).
pub const CARGO_FUZZ: Tool = Tool {
    name: "cargo-fuzz",
    fallbacks: &["/usr/local/bin/cargo-fuzz"],
    source: Source::Crate {
        name: "cargo-fuzz",
        version: "0.13.2",
    },
};

/// Installs the npm packages the page tests use (axe-core), pinned in `tests/js/`.
pub const NPM: Tool = Tool {
    name: "npm",
    fallbacks: &["/usr/bin/npm"],
    source: Source::Debian("npm"),
};

/// Every tool a full `cargo xtask test` run needs, in install order.
pub const ALL: &[Tool] = &[
    SSHD,
    SSH_KEYGEN,
    SSH,
    CHROMIUM,
    CHROMEDRIVER,
    FIREFOX,
    GECKODRIVER,
    CLANG,
    JQ,
    PUTTYGEN,
    PYJWT,
    PY_CRYPTOGRAPHY,
    HAPROXY,
    WASM_OPT,
    NPM,
    UNSHARE,
];

impl Tool {
    /// A program from the Debian package `package`, also looked for at `fallbacks`.
    pub const fn debian(
        name: &'static str,
        fallbacks: &'static [&'static str],
        package: &'static str,
    ) -> Tool {
        Tool {
            name,
            fallbacks,
            source: Source::Debian(package),
        }
    }

    /// The program's absolute path, if it is installed.
    pub fn find(&self) -> Option<PathBuf> {
        if let Source::DebianPython { module, .. } = self.source {
            return self.fallbacks.iter().map(PathBuf::from).find(|python| {
                is_executable(python)
                    && std::process::Command::new(python)
                        .args(["-c", &format!("import {module}")])
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .status()
                        .is_ok_and(|status| status.success())
            });
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                let candidate = dir.join(self.name);
                if is_executable(&candidate) {
                    return Some(candidate);
                }
            }
        }
        let cargo_bin = match self.source {
            Source::Crate { .. } => cargo_home().map(|home| home.join("bin").join(self.name)),
            Source::Debian(_) | Source::DebianPython { .. } => None,
        };
        self.fallbacks
            .iter()
            .map(PathBuf::from)
            .chain(cargo_bin)
            .find(|candidate| is_executable(candidate))
    }

    /// The program's absolute path, or an error that names the package to install.
    pub fn require(&self) -> anyhow::Result<PathBuf> {
        self.find().ok_or_else(|| {
            anyhow::anyhow!(
                "`{}` not found: install it ({}), or run `cargo xtask test` as root to have it installed",
                self.name,
                self.source.install_command()
            )
        })
    }
}

/// The tools from `tools` that are not installed.
pub fn missing(tools: &[Tool]) -> Vec<Tool> {
    tools
        .iter()
        .copied()
        .filter(|t| t.find().is_none())
        .collect()
}

/// `$CARGO_HOME`, else `~/.cargo`: where `cargo install` puts programs by default.
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(meta) => meta.is_file() && meta.permissions().mode() & 0o111 != 0,
        Err(_) => false,
    }
}

/// The account the sshd fixture's clients log in as. It lives here, beside the tools, so
/// `xtask` can check for it before a run without the `harness` feature.
pub const TEST_USER: &str = "sshdiag-test";

/// Whether a local account with this name exists (read from `/etc/passwd`).
pub fn user_exists(name: &str) -> bool {
    std::fs::read_to_string("/etc/passwd")
        .map(|passwd| {
            passwd
                .lines()
                .any(|line| line.split(':').next() == Some(name))
        })
        .unwrap_or(false)
}

/// Whether this process runs as root (effective uid 0), read from `/proc/self/status` so
/// this module needs no `libc`.
pub fn is_root() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .is_some_and(|euid| euid == "0")
}
