//! One fuzz body per parser that reads bytes from outside sshdiag (issue 15, item 5): the
//! relay's first frame, its allow rules and its tokens; the relay's control frames as the
//! client reads them; the tap's banner and KEXINIT reader; the JSONL and bundle readers; key
//! and certificate files; `known_hosts`; `ssh_config`.
//!
//! Each body takes arbitrary bytes and checks more than "no panic": what parses must survive a
//! round trip, a transparent reader must pass every byte through, and no error text may carry
//! the token it refused. The same bodies run in two places, so the two can never drift:
//! coverage-guided under libFuzzer (`cargo xtask fuzz`, the cargo-fuzz project in `fuzz/`) and
//! as a short deterministic smoke in the test suite (`tests/smoke.rs`: every committed seed,
//! every committed crash, and mutations of the seeds).
//!
//! A body must never touch the network, and writes at most one scratch file of its own.

pub mod files;
pub mod mutate;
pub mod relay;
pub mod wire;

/// One parser under fuzzing.
pub struct Target {
    /// The name cargo-fuzz knows it by (`fuzz/fuzz_targets/NAME.rs`), and the folder of its
    /// seeds and regressions (`fuzz/seeds/NAME/`, `fuzz/regressions/NAME/`).
    pub name: &'static str,
    /// What it reads, for `cargo xtask fuzz --list`.
    pub reads: &'static str,
    /// The body: panics (an assertion) when an invariant breaks.
    pub run: fn(&[u8]),
}

/// Every target, in the order `cargo xtask fuzz` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "relay_first_frame",
        reads: "the relay's first WebSocket text frame, target host and allow rules",
        run: relay::first_frame,
    },
    Target {
        name: "relay_token",
        reads: "the relay's connect token (JWT) check",
        run: relay::token,
    },
    Target {
        name: "control_frame",
        reads: "the relay's control frames, as the client reads them",
        run: relay::control_frame,
    },
    Target {
        name: "tap",
        reads: "the tap's identification-line and KEXINIT reader, both directions",
        run: wire::tap,
    },
    Target {
        name: "kexinit",
        reads: "an SSH_MSG_KEXINIT payload",
        run: wire::kexinit,
    },
    Target {
        name: "gex",
        reads: "the deep audit's group exchange, up to the server's group",
        run: wire::gex,
    },
    Target {
        name: "jsonl",
        reads: "an event log (JSON Lines), strict and nbs-ssh dialects",
        run: files::jsonl,
    },
    Target {
        name: "bundle",
        reads: "an evidence bundle, its derivation and its redaction",
        run: files::bundle,
    },
    Target {
        name: "key_file",
        reads: "a key or certificate file, recognised by its content",
        run: files::key_file,
    },
    Target {
        name: "known_hosts",
        reads: "an OpenSSH known_hosts file",
        run: files::known_hosts,
    },
    Target {
        name: "ssh_config",
        reads: "an OpenSSH client configuration file",
        run: files::ssh_config,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// Runs the target `name` on `data`; an unknown name is a programming error in a fuzz
/// target file, so it panics with the list of names.
pub fn run(name: &str, data: &[u8]) {
    match target(name) {
        Some(t) => (t.run)(data),
        None => {
            let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
            panic!("no fuzz target `{name}`; the targets are {names:?}");
        }
    }
}

/// The bytes as text the way a reader that wants text sees them (lossy, never failing).
fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}
