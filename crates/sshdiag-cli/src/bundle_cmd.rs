//! `sshdiag bundle show FILE` and `sshdiag bundle verify FILE`: the support engineer's view of
//! an evidence bundle in the terminal, and the check an intake script runs before accepting an
//! upload. `docs/cli.md` documents both and the exit statuses.
//!
//! `show` renders the integrity warning first, then verdict, hints, the phase timeline, server
//! facts, the algorithm audit, the commands and the redaction summary. An edited bundle's
//! verdict is never shown as a plain success: it is marked as unverifiable.
//!
//! `verify` exits with a bit set per failed check: [`EXIT_EDITED`] (integrity does not match,
//! or the bundle has no `integrity`) and [`EXIT_NOT_REDACTED`]; [`EXIT_UNREADABLE`] when the
//! file is not a bundle at all. It checks redaction on the content, not only on the flags:
//! identities must be pseudonyms and command output must be removed.
//!
//! This module only reads the file it is given. It never prints anything of a bundle a
//! redacted download would not show, other than what the file itself holds.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sshdiag_events::bundle::{Bundle, IntegrityStatus};
use sshdiag_events::codes::Phase;
use sshdiag_events::redact::IdentityKind;

/// `verify`: the integrity check failed (edited, or no `integrity` key to check).
pub const EXIT_EDITED: u8 = 1;
/// `verify`: the bundle is not redacted.
pub const EXIT_NOT_REDACTED: u8 = 2;
/// The file could not be read as a bundle, or the command line was wrong.
pub const EXIT_UNREADABLE: u8 = 255;

/// Widest bar of the phase timeline, in characters.
const BAR_WIDTH: f64 = 40.0;

#[derive(Debug, Parser)]
#[command(
    name = "sshdiag bundle",
    about = "Read an evidence bundle: render it, or check its integrity and redaction.",
    after_help = "verify exit status: 0 intact and redacted; bit 1 (1) edited or no integrity; \
                  bit 2 (2) not redacted; 3 both; 255 not a readable bundle."
)]
struct BundleArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Render a bundle: verdict, hints, timeline, server facts, audit, commands, integrity.
    Show { file: PathBuf },
    /// Check integrity and redaction; the exit status says which failed.
    Verify { file: PathBuf },
}

/// Runs `sshdiag bundle …` when `args` (the whole command line) starts with `bundle`;
/// `None` otherwise, so the diagnosis command line is parsed as usual.
pub fn dispatch(args: &[OsString]) -> Option<ExitCode> {
    if args.get(1).and_then(|a| a.to_str()) != Some("bundle") {
        return None;
    }
    let parsed = match BundleArgs::try_parse_from(
        std::iter::once(OsString::from("sshdiag bundle")).chain(args[2..].iter().cloned()),
    ) {
        Ok(parsed) => parsed,
        Err(error) => {
            use clap::error::ErrorKind;
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) {
                let _ = error.print();
                return Some(ExitCode::SUCCESS);
            }
            let text = error.to_string();
            let first = match error.kind() {
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    "`sshdiag bundle` needs an action: show FILE or verify FILE"
                }
                _ => text.lines().next().unwrap_or("invalid arguments"),
            };
            eprintln!(
                "sshdiag: {} (see sshdiag bundle --help)",
                first.trim_start_matches("error: ")
            );
            return Some(ExitCode::from(EXIT_UNREADABLE));
        }
    };
    let (file, verify) = match &parsed.action {
        Action::Show { file } => (file, false),
        Action::Verify { file } => (file, true),
    };
    let bundle = match load(file) {
        Ok(bundle) => bundle,
        Err(line) => {
            eprintln!("sshdiag: {line}");
            return Some(ExitCode::from(EXIT_UNREADABLE));
        }
    };
    if verify {
        let (report, status) = verify_report(&bundle);
        print!("{report}");
        Some(ExitCode::from(status))
    } else {
        print!("{}", render(&bundle, &file.display().to_string()));
        Some(ExitCode::SUCCESS)
    }
}

/// Reads `path` as a bundle, or one line naming the file and what is wrong with it.
pub fn load(path: &Path) -> Result<Bundle, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Bundle::from_json_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Why `bundle` does not count as redacted; empty when it does.
pub fn redaction_problems(bundle: &Bundle) -> Vec<String> {
    let mut problems = Vec::new();
    if !bundle.redaction.applied || !bundle.host_info.redacted {
        problems.push("it says it is not redacted (a raw bundle)".to_string());
    }
    let info = &bundle.host_info;
    if !(is_pseudonym(&info.host, IdentityKind::Host)
        || is_pseudonym(&info.host, IdentityKind::Address))
    {
        problems.push("the host name is not a pseudonym".to_string());
    }
    // Redaction leaves identities shorter than two characters alone (see redact.rs).
    if info.username.chars().count() >= 2 && !is_pseudonym(&info.username, IdentityKind::Username) {
        problems.push("the user name is not a pseudonym".to_string());
    }
    // A jump host's host and user are identities like the target's.
    for hop in bundle.hops.iter().flatten().filter(|h| !h.target) {
        let n = hop.index + 1;
        if !(is_pseudonym(&hop.host, IdentityKind::Host)
            || is_pseudonym(&hop.host, IdentityKind::Address))
        {
            problems.push(format!("jump host {n}'s host name is not a pseudonym"));
        }
        if hop.username.chars().count() >= 2 && !is_pseudonym(&hop.username, IdentityKind::Username)
        {
            problems.push(format!("jump host {n}'s user name is not a pseudonym"));
        }
    }
    let kept = bundle
        .transcript
        .iter()
        .filter(|t| t.stdout.is_some() || t.stderr.is_some())
        .count();
    if kept > 0 {
        problems.push(format!("{kept} command(s) still have their output"));
    }
    problems
}

/// `user-1a2b3c4d`, `host-…`, `ip-…`: the prefix, a dash and 8 lowercase hex digits.
fn is_pseudonym(text: &str, kind: IdentityKind) -> bool {
    text.strip_prefix(kind.prefix())
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| {
            hex.len() == 8
                && hex
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        })
}

/// The text `verify` prints and its exit status.
pub fn verify_report(bundle: &Bundle) -> (String, u8) {
    let mut out = String::new();
    let mut status = 0;
    match bundle.verify_integrity() {
        IntegrityStatus::Valid => {
            out.push_str("integrity: ok (unchanged since sshdiag wrote it)\n")
        }
        IntegrityStatus::Mismatch { .. } => {
            status |= EXIT_EDITED;
            out.push_str("integrity: FAILED (the bundle was edited after sshdiag wrote it)\n");
        }
        IntegrityStatus::Missing => {
            status |= EXIT_EDITED;
            out.push_str("integrity: FAILED (no integrity key, so edits cannot be detected)\n");
        }
    }
    let problems = redaction_problems(bundle);
    if problems.is_empty() {
        out.push_str("redaction: ok (identities are pseudonyms, command output removed)\n");
    } else {
        status |= EXIT_NOT_REDACTED;
        let _ = writeln!(out, "redaction: FAILED ({})", problems.join("; "));
    }
    (out, status)
}

/// The whole terminal rendering of a bundle read from `name`.
pub fn render(bundle: &Bundle, name: &str) -> String {
    let mut out = String::new();
    let edited = !matches!(bundle.verify_integrity(), IntegrityStatus::Valid);
    render_head(&mut out, bundle, name);
    render_verdict(&mut out, bundle, edited);
    render_timeline(&mut out, bundle);
    render_server(&mut out, bundle);
    render_audit(&mut out, bundle);
    render_commands(&mut out, bundle);
    render_integrity(&mut out, bundle);
    out
}

fn render_head(out: &mut String, bundle: &Bundle, name: &str) {
    let info = &bundle.host_info;
    let _ = writeln!(out, "Evidence bundle {name}");
    if let IntegrityStatus::Mismatch { .. } = bundle.verify_integrity() {
        out.push_str(
            "  WARNING: this bundle was edited after sshdiag wrote it; nothing below can be trusted\n",
        );
    }
    let _ = writeln!(
        out,
        "  made {} by {} {} ({}), connection {}",
        utc_time(bundle.created_ms),
        or_dash(&bundle.tool.name),
        or_dash(&bundle.tool.version),
        or_dash(&bundle.tool.runtime),
        or_dash(&bundle.connection_id)
    );
    let user = if info.username.is_empty() {
        String::new()
    } else {
        format!("{}@", info.username)
    };
    let via = match &info.proxy {
        Some(proxy) => format!(" via relay {proxy}"),
        None => " over direct TCP".to_string(),
    };
    let _ = writeln!(
        out,
        "  target {user}{}:{}{via}{}",
        info.host,
        info.port,
        if info.redacted { " (redacted)" } else { "" }
    );
    for hop in bundle.hops.iter().flatten().filter(|h| !h.target) {
        let reached = if hop.reached { "" } else { " (not reached)" };
        let _ = writeln!(
            out,
            "  through jump host {} {}@{}:{}{reached}",
            hop.index + 1,
            hop.username,
            hop.host,
            hop.port
        );
    }
}

fn render_verdict(out: &mut String, bundle: &Bundle, edited: bool) {
    let v = &bundle.verdict;
    let outcome = match (v.ok, edited) {
        (true, false) => "OK".to_string(),
        (true, true) => "OK as written, but UNVERIFIED (see integrity)".to_string(),
        (false, _) => format!(
            "FAILED at {}",
            v.layer.map_or("an unknown layer", |l| l.as_str())
        ),
    };
    let _ = writeln!(out, "\nVerdict: {outcome} [{}]", or_dash(&v.code));
    if !v.summary.is_empty() {
        let _ = writeln!(out, "  {}", v.summary);
    }
    if !v.hints.is_empty() {
        out.push_str("Hints:\n");
        for hint in &v.hints {
            let _ = writeln!(out, "  - {hint}");
        }
    }
}

fn render_timeline(out: &mut String, bundle: &Bundle) {
    let timing = &bundle.timing;
    let _ = writeln!(
        out,
        "\nTimeline: connect {:.1} ms, auth {:.1} ms, total {:.1} ms",
        timing.connect_duration_ms, timing.auth_duration_ms, timing.total_duration_ms
    );
    let longest = timing.phases.values().copied().fold(0.0_f64, f64::max);
    for phase in Phase::ALL {
        let Some(ms) = timing.phases.get(&phase) else {
            continue;
        };
        let width = if longest > 0.0 {
            ((ms / longest) * BAR_WIDTH).round().max(1.0) as usize
        } else {
            1
        };
        let _ = writeln!(
            out,
            "  {:<8} {:>9.1} ms  {}",
            phase.as_str(),
            ms,
            "#".repeat(width)
        );
    }
}

fn render_server(out: &mut String, bundle: &Bundle) {
    let server = &bundle.server;
    let algs = &bundle.algorithms;
    out.push_str("\nServer:\n");
    let _ = writeln!(out, "  banner      {}", opt(&server.banner));
    let _ = writeln!(out, "  software    {}", opt(&server.software));
    // What the server saw of this client: where to find the attempt in its log.
    if let Some(source) = &server.source {
        let _ = writeln!(
            out,
            "  saw us from {source} (the source address in sshd's log)"
        );
    }
    if let Some(version) = &server.client_version {
        let _ = writeln!(out, "  our version {version}");
    }
    match &server.host_key {
        Some(key) => {
            let _ = writeln!(
                out,
                "  host key    {} {}",
                key.algorithm, key.fingerprint_sha256
            );
        }
        None => out.push_str("  host key    -\n"),
    }
    // Every key the server has (its announcement, or a scan), with the trusted key it matches.
    for key in server.host_keys.iter().flat_map(|i| &i.keys) {
        let trusted = key.trusted_at.as_deref().unwrap_or("not trusted");
        let _ = writeln!(
            out,
            "  server key  {} {} ({trusted}{})",
            key.algorithm,
            key.fingerprint_sha256,
            if key.proven { "" } else { ", not proven" }
        );
    }
    let _ = writeln!(out, "  kex         {}", opt(&algs.kex));
    let _ = writeln!(out, "  key type    {}", opt(&algs.host_key));
    let _ = writeln!(
        out,
        "  cipher      {} / {}",
        opt(&algs.cipher_cs),
        opt(&algs.cipher_sc)
    );
    let _ = writeln!(
        out,
        "  mac         {} / {}",
        opt(&algs.mac_cs),
        opt(&algs.mac_sc)
    );
    let strict = match algs.strict_kex {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    };
    let _ = writeln!(out, "  strict kex  {strict}");
    if let Some(reason) = &bundle.disconnect_reason {
        let _ = writeln!(
            out,
            "  disconnect  {}",
            serde_json::to_value(reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{reason:?}"))
        );
    }
}

fn render_audit(out: &mut String, bundle: &Bundle) {
    let Some(findings) = &bundle.audit else {
        out.push_str("\nAudit: not run\n");
        return;
    };
    let _ = writeln!(out, "\nAudit ({} finding(s)):", findings.len());
    for f in findings {
        let _ = write!(
            out,
            "  [{}] {} {}: {}",
            f.grade, f.category, f.algorithm, f.reason
        );
        if let Some(fix) = &f.fix {
            let _ = write!(out, " (fix: {fix})");
        }
        out.push('\n');
    }
}

fn render_commands(out: &mut String, bundle: &Bundle) {
    if bundle.transcript.is_empty() {
        return;
    }
    out.push_str("\nCommands:\n");
    for t in &bundle.transcript {
        let status = match (&t.exit_code, &t.exit_signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(signal)) => format!("killed by {signal}"),
            (None, None) => "no exit status".to_string(),
        };
        let _ = writeln!(out, "  $ {}  ({status})", t.command);
        for (name, text, len) in [
            ("stdout", &t.stdout, t.stdout_len),
            ("stderr", &t.stderr, t.stderr_len),
        ] {
            match text {
                None if len > 0 => {
                    let _ = writeln!(out, "    {name}: output removed ({len} B)");
                }
                None => {}
                Some(text) if text.is_empty() => {}
                Some(text) => {
                    let _ = writeln!(out, "    {name}:");
                    for line in text.lines() {
                        let _ = writeln!(out, "      {line}");
                    }
                    if t.truncated && (text.len() as u64) < len {
                        let _ = writeln!(out, "      … (cut: {len} B written)");
                    }
                }
            }
        }
    }
}

fn render_integrity(out: &mut String, bundle: &Bundle) {
    out.push('\n');
    match bundle.verify_integrity() {
        IntegrityStatus::Valid => out.push_str("Integrity: valid (unchanged since written)\n"),
        IntegrityStatus::Mismatch { expected, actual } => {
            let _ = writeln!(
                out,
                "Integrity: EDITED (recorded sha256 {expected}, content hashes to {actual})"
            );
        }
        IntegrityStatus::Missing => {
            out.push_str("Integrity: none recorded (edits cannot be detected)\n");
        }
    }
    let r = &bundle.redaction.replaced;
    if bundle.redaction.applied {
        let _ = writeln!(
            out,
            "Redaction: applied ({} user name(s), {} host name(s), {} address(es), {} output stream(s), {} secret(s) replaced)",
            r.username, r.host, r.address, r.output, r.secret
        );
    } else {
        let _ = writeln!(
            out,
            "Redaction: none (a raw bundle; {} secret(s) scrubbed)",
            r.secret
        );
    }
}

fn opt(value: &Option<String>) -> &str {
    value.as_deref().filter(|v| !v.is_empty()).unwrap_or("-")
}

fn or_dash(value: &str) -> &str {
    if value.is_empty() { "-" } else { value }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian calendar).
fn utc_time(ms: u64) -> String {
    let (year, month, day, hour, minute, second) =
        sshdiag_events::civil::civil_from_unix(ms / 1000);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_pseudonyms() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(1_763_700_000_123), "2025-11-21 04:40:00 UTC");
        assert!(is_pseudonym("host-0a1b2c3d", IdentityKind::Host));
        assert!(!is_pseudonym("host-0A1B2C3D", IdentityKind::Host));
        assert!(!is_pseudonym("example.com", IdentityKind::Host));
        assert!(!is_pseudonym("user-0a1b2c3", IdentityKind::Username));
    }
}
