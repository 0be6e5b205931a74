//! Where to look on the server: for a failure the server itself decided or saw (a rejected
//! login, a disconnect during authentication, a refusal before the banner, no common
//! algorithm), the exact commands that find this attempt in sshd's log — by the source address
//! and port the server saw, within the attempt's UTC times — and what sshd's line says for this
//! failure. Through a relay, it says that the server saw the relay's address, so every failure
//! counts against the relay for all its users (fail2ban, PerSourcePenalties).
//!
//! Text only, like `hints` and `prebanner`: it never builds a failure and never depends on the
//! probe. The lines it quotes are OpenSSH's own formats (`auth.c`, `sshd.c`, `packet.c`) at its
//! default `LogLevel INFO`; it never invents a line for a failure sshd does not log.

use std::net::SocketAddr;

use sshdiag_events::Code;
use sshdiag_events::civil::civil_from_unix;
use sshdiag_events::codes::Phase;

use crate::prebanner::Refusal;

/// How far the log window reaches either side of the attempt, for clocks that disagree.
const WINDOW_SLACK_S: u64 = 60;

/// What this attempt left for the server's admin to find.
#[derive(Debug, Clone)]
pub struct LogLookup<'a> {
    /// The failure's code: it picks the line sshd writes.
    pub code: Code,
    /// The phase it failed in (a lost connection's line depends on it).
    pub phase: Option<Phase>,
    /// `ADDR:PORT` as the server saw it: ours, or the relay's. `None` when this run cannot
    /// know it (a server behind a jump host saw that jump host connect): then `seen_from`
    /// says whose address it was, and the hint finds the attempt by user and time.
    pub source: Option<&'a str>,
    /// Whose address the server saw when `source` is unknown ("jump host 1 of 1
    /// (bastion:22)'s own address").
    pub seen_from: Option<&'a str>,
    /// Which server's log to read, in a jump-host chain ("jump host 1 of 2 (bastion:22)",
    /// "the target db:22"); `None`: the one server of a direct run.
    pub server: Option<&'a str>,
    /// True when the connection came through a relay (the source is the relay's).
    pub via_relay: bool,
    /// The user the login was for.
    pub username: &'a str,
    /// The authentication methods tried, in order.
    pub methods_tried: &'a [String],
    /// The server's own disconnect text, when it sent one.
    pub server_said: Option<&'a str>,
    /// The refusal line the server sent before its banner, when it was a known one.
    pub refusal: Option<Refusal>,
    /// When TCP came up and when the attempt failed (Unix milliseconds, this machine's clock).
    pub since_unix_ms: f64,
    pub until_unix_ms: f64,
}

/// `2026-12-06 17:58:03 UTC`: the form `journalctl --since` reads in any server time zone.
pub fn utc(unix_s: u64) -> String {
    let (y, mo, d, h, mi, s) = civil_from_unix(unix_s);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

/// The hints that tell the admin where to look, or nothing for a failure sshd does not log
/// (this side's own refusals, the relay's, DNS and TCP) or when nothing locates the attempt.
pub fn hints(l: &LogLookup<'_>) -> Vec<String> {
    let Some(line) = expected_line(l) else {
        return Vec::new();
    };
    let server = l.server.unwrap_or("the server");
    let window = format!(
        "journalctl -u ssh -u sshd --since \"{}\" --until \"{}\"",
        utc(((l.since_unix_ms.max(0.0) / 1000.0).floor() as u64).saturating_sub(WINDOW_SLACK_S)),
        utc((l.until_unix_ms.max(0.0) / 1000.0).ceil() as u64 + WINDOW_SLACK_S),
    );
    let times = "The times are UTC, from this machine's clock, with a minute either side.";
    // By user and time: what finds lines without the source's port (PAM's), and the only
    // way when the source is not known to this run.
    let user = l.username;
    let by_user = format!("grep -F -e \"for {user} \" -e \"user {user} \"");
    let source = l.source.and_then(|s| s.parse::<SocketAddr>().ok());
    let Some(source) = source else {
        let Some(whose) = l.seen_from else {
            return Vec::new();
        };
        return vec![
            format!(
                "Where to look on {server}: sshd saw this attempt come from {whose}, not from this machine, and this run cannot see that connection's port. Find it by user and time with: {window} | {by_user} — or on a plain log: {by_user} /var/log/auth.log (/var/log/secure on Red Hat). {times}"
            ),
            line.replace("{ADDR}", "ADDR").replace("{PORT}", "PORT"),
        ];
    };
    let (ip, port) = (source.ip(), source.port());
    let grep = format!("grep -wF -e \"{ip} port {port}\" -e \"[{ip}]:{port}\"");
    let seen = if l.via_relay {
        format!("the relay's address {ip} port {port}")
    } else {
        format!("{ip} port {port}")
    };
    let mut h = vec![format!(
        "Where to look on {server}: sshd saw this attempt come from {seen}. Find it with: {window} | {grep} — or on a plain log: {grep} /var/log/auth.log (/var/log/secure on Red Hat). {times}"
    )];
    if l.code == Code::PasswordExpired {
        h[0].push_str(&format!(" PAM's lines name no address or port: find them by user and time with: {window} | {by_user}."));
    }
    h.push(
        line.replace("{ADDR}", &ip.to_string())
            .replace("{PORT}", &port.to_string()),
    );
    if l.via_relay {
        h.push(format!("Through the relay, the server never saw this machine's address: every failure it logs counts against the relay's address ({ip}), for every user of the relay. fail2ban bans that address, and OpenSSH 9.8+'s PerSourcePenalties refuses it for a while, for everybody behind the relay. If the relay is trusted, exempt it (fail2ban's ignoreip, sshd's PerSourcePenaltyExemptList); the relay's own log line relay-tcp-connected names port {port} with this diagnosis's connection id."));
    }
    h
}

/// What sshd's line says for this failure, with `{ADDR}` and `{PORT}` to fill in; `None` for
/// failures sshd does not see or does not log.
fn expected_line(l: &LogLookup<'_>) -> Option<String> {
    let user = l.username;
    let from = "from {ADDR} port {PORT}";
    Some(match l.code {
        Code::AuthFailed | Code::AuthIncomplete => auth_failed_line(l),
        Code::AuthDisconnected => {
            let said = l.server_said.unwrap_or("Too many authentication failures");
            let mut s = format!(
                "For this failure sshd's line reads \"Disconnecting authenticating user {user} {{ADDR}} port {{PORT}}: {said} [preauth]\" (\"Disconnecting invalid user …\" when the account does not exist)."
            );
            if said.to_ascii_lowercase().contains("too many") {
                s.push_str(&format!(" Before it: \"maximum authentication attempts exceeded for {user} {from} ssh2 [preauth]\" (after \"error: \" in syslog) — MaxAuthTries counts every key offered, not only passwords."));
            }
            s
        }
        Code::RefusedBeforeBanner | Code::ResetBeforeBanner | Code::ClosedBeforeBanner => {
            prebanner_line(l.refusal)
        }
        Code::PasswordExpired => format!(
            "For this failure the lines read \"Accepted password for {user} {from} ssh2\" (or keyboard-interactive/pam) when the login itself went through, then PAM's \"pam_unix(sshd:account): expired password for user {user} (password aged)\" (\"(root enforced)\" after chage -d 0) and, when the change is attempted, \"pam_unix(sshd:chauthtok): …\"; the account's state is in chage -l {user} on the server."
        ),
        Code::NoMutualKex => "For this failure sshd's line reads \"Unable to negotiate with {ADDR} port {PORT}: no matching … found. Their offer: …\": it names the category and lists what this client offered.".to_string(),
        Code::Disconnected
            if matches!(
                l.phase,
                Some(Phase::Banner | Phase::Kex | Phase::Hostkey | Phase::Auth)
            ) =>
        {
            "For this failure sshd says why it ended the connection: \"Timeout before authentication for {ADDR} port {PORT}\" means LoginGraceTime ran out; \"fatal: …\" or \"error: …\" names a refusal or a crash (OpenSSH 9.8+ then penalises the source); \"Connection closed by {ADDR} port {PORT}\" or \"Connection reset by …\" means sshd saw the connection end from this side, so something between the two ended it.".to_string()
        }
        _ => return None,
    })
}

/// The lines of a rejected login, by the methods tried.
fn auth_failed_line(l: &LogLookup<'_>) -> String {
    let user = l.username;
    let from = "from {ADDR} port {PORT}";
    let tried = |m: &str| l.methods_tried.iter().any(|t| t == m);
    let mut lines = Vec::new();
    if tried("password") {
        lines.push(format!(
            "\"Failed password for {user} {from} ssh2\" (the password is wrong)"
        ));
    }
    if tried("keyboard-interactive") {
        lines.push(format!(
            "\"Failed keyboard-interactive/pam for {user} {from} ssh2\" (PAM refused the answers)"
        ));
    }
    if tried("publickey") {
        lines.push(format!("\"Failed publickey for {user} {from} ssh2: …\" with the key's fingerprint (logged only at LogLevel VERBOSE; \"Authentication refused: bad ownership or modes …\" means StrictModes refused authorized_keys)"));
    }
    if lines.is_empty() {
        lines.push(format!("\"Connection closed by authenticating user {user} {{ADDR}} port {{PORT}} [preauth]\" or \"Disconnected from authenticating user …\" (the login ended without an accepted method)"));
    }
    let mut s = format!(
        "For this failure sshd's line reads {}.",
        lines.join("; or ")
    );
    if l.code == Code::AuthIncomplete {
        s.push_str(&format!(" The accepted first step shows as \"Partial publickey for {user} {from} ssh2\" (or Partial password …) before it."));
    }
    s.push_str(&format!(" Instead, \"Invalid user {user} {from}\" means the account does not exist there; \"User {user} from {{ADDR}} not allowed because …\" names the AllowUsers/DenyUsers/AllowGroups rule (or the missing shell) that refused it; no line at all means this attempt did not reach this sshd."));
    s
}

/// The lines of a connection refused before the banner, by what the server sent.
fn prebanner_line(refusal: Option<Refusal>) -> String {
    let drop = "drop connection #N from [{ADDR}]:{PORT} on [SERVER]:PORT";
    match refusal {
        Some(Refusal::MaxStartups) => format!(
            "For this failure sshd's line reads \"{drop} past MaxStartups\" (logged at LogLevel VERBOSE; at INFO only \"error: beginning MaxStartups throttling\", without the port)."
        ),
        Some(Refusal::Penalty) => format!(
            "For this failure sshd's line reads \"{drop} penalty: …\", with the reason for the penalty (failed authentication, no authentication, a crash, …)."
        ),
        Some(Refusal::AccessRule) | None => format!(
            "If sshd refused it, its line reads \"{drop} penalty: …\" (PerSourcePenalties, OpenSSH 9.8+) or \"… past MaxStartups\" (LogLevel VERBOSE), or \"refused connect from … ({{ADDR}})\" for tcp-wrappers (no port: grep the address). No line at all means sshd never saw the connection: look at the firewall, fail2ban (grep {{ADDR}} /var/log/fail2ban.log; fail2ban-client status sshd) or the proxy in front."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(code: Code, methods: &'a [String]) -> LogLookup<'a> {
        LogLookup {
            code,
            phase: Some(Phase::Auth),
            source: Some("192.0.2.7:54321"),
            seen_from: None,
            server: None,
            via_relay: false,
            username: "alice",
            methods_tried: methods,
            server_said: None,
            refusal: None,
            // 2026-12-06 17:58:03.400 UTC and 17:58:05.100 UTC.
            since_unix_ms: 1_796_579_883_400.0,
            until_unix_ms: 1_796_579_885_100.0,
        }
    }

    #[test]
    fn times_are_utc_for_journalctl() {
        assert_eq!(utc(1_796_579_883), "2026-12-06 17:58:03 UTC");
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn a_wrong_password_gets_the_commands_and_its_line() {
        let methods = vec!["none".to_string(), "password".to_string()];
        let h = hints(&lookup(Code::AuthFailed, &methods));
        assert_eq!(h.len(), 2, "{h:?}");
        assert!(
            h[0].contains("journalctl -u ssh -u sshd --since \"2026-12-06 17:57:03 UTC\" --until \"2026-12-06 17:59:06 UTC\" | grep -wF -e \"192.0.2.7 port 54321\" -e \"[192.0.2.7]:54321\""),
            "{}",
            h[0]
        );
        assert!(h[0].contains("-e \"[192.0.2.7]:54321\" /var/log/auth.log"));
        assert!(h[0].contains("UTC"));
        assert!(
            h[1].contains("\"Failed password for alice from 192.0.2.7 port 54321 ssh2\""),
            "{}",
            h[1]
        );
        assert!(h[1].contains("Invalid user alice from 192.0.2.7 port 54321"));
        assert!(!h[1].contains("publickey for"));
    }

    #[test]
    fn each_method_tried_names_its_own_line() {
        let methods = vec!["publickey".to_string(), "keyboard-interactive".to_string()];
        let h = hints(&lookup(Code::AuthFailed, &methods));
        assert!(h[1].contains("Failed publickey for alice from 192.0.2.7 port 54321 ssh2"));
        assert!(h[1].contains("Failed keyboard-interactive/pam for alice"));
        assert!(!h[1].contains("Failed password"));
        let h = hints(&lookup(Code::AuthFailed, &[]));
        assert!(
            h[1].contains("Connection closed by authenticating user alice 192.0.2.7 port 54321")
        );
        let partial = vec!["publickey".to_string(), "password".to_string()];
        let h = hints(&lookup(Code::AuthIncomplete, &partial));
        assert!(h[1].contains("Partial publickey for alice from 192.0.2.7 port 54321"));
    }

    #[test]
    fn a_disconnect_during_auth_quotes_the_servers_reason_in_its_line() {
        let mut l = lookup(Code::AuthDisconnected, &[]);
        l.server_said = Some("Too many authentication failures");
        let h = hints(&l);
        assert!(h[1].contains("\"Disconnecting authenticating user alice 192.0.2.7 port 54321: Too many authentication failures [preauth]\""), "{}", h[1]);
        assert!(h[1].contains(
            "maximum authentication attempts exceeded for alice from 192.0.2.7 port 54321"
        ));
        l.server_said = Some("Access denied");
        let h = hints(&l);
        assert!(h[1].contains("port 54321: Access denied [preauth]"));
        assert!(!h[1].contains("maximum authentication attempts"));
    }

    #[test]
    fn refusals_before_the_banner_name_sshds_drop_line() {
        let mut l = lookup(Code::RefusedBeforeBanner, &[]);
        l.refusal = Some(Refusal::Penalty);
        let h = hints(&l);
        assert!(
            h[1].contains("drop connection #N from [192.0.2.7]:54321 on [SERVER]:PORT penalty:")
        );
        l.refusal = Some(Refusal::MaxStartups);
        assert!(hints(&l)[1].contains("past MaxStartups"));
        let l = lookup(Code::ResetBeforeBanner, &[]);
        let h = hints(&l);
        assert!(h[1].contains("fail2ban"));
        assert!(h[1].contains("grep 192.0.2.7 /var/log/fail2ban.log"));
        assert!(hints(&lookup(Code::ClosedBeforeBanner, &[]))[1].contains("never saw"));
    }

    #[test]
    fn no_common_algorithm_and_a_lost_connection_have_their_lines() {
        let h = hints(&lookup(Code::NoMutualKex, &[]));
        assert!(h[1].contains("Unable to negotiate with 192.0.2.7 port 54321: no matching"));
        let h = hints(&lookup(Code::Disconnected, &[]));
        assert!(h[1].contains("Timeout before authentication for 192.0.2.7 port 54321"));
        let mut l = lookup(Code::Disconnected, &[]);
        l.phase = Some(Phase::Exec);
        assert!(hints(&l).is_empty());
    }

    #[test]
    fn failures_sshd_never_sees_or_an_unknown_source_get_nothing() {
        for code in [
            Code::ConnectionRefused,
            Code::HostKeyMismatch,
            Code::ProxyDenied,
            Code::KeyLoadError,
            Code::BannerTarpit,
        ] {
            assert!(hints(&lookup(code, &[])).is_empty(), "{code:?}");
        }
        let mut l = lookup(Code::AuthFailed, &[]);
        l.source = Some("not an address");
        assert!(hints(&l).is_empty());
        l.source = None;
        assert!(hints(&l).is_empty());
    }

    #[test]
    fn through_a_relay_the_failures_count_against_the_relay() {
        let mut l = lookup(Code::AuthFailed, &[]);
        l.via_relay = true;
        l.source = Some("[2001:db8::5]:40222");
        let h = hints(&l);
        assert_eq!(h.len(), 3);
        assert!(h[0].contains("the relay's address 2001:db8::5 port 40222"));
        assert!(h[0].contains("-e \"2001:db8::5 port 40222\" -e \"[2001:db8::5]:40222\""));
        assert!(h[2].contains("every user of the relay"));
        assert!(h[2].contains("fail2ban") && h[2].contains("PerSourcePenalties"));
        assert!(h[2].contains("PerSourcePenaltyExemptList"));
    }

    #[test]
    fn behind_a_jump_host_the_attempt_is_found_by_user_and_time_on_the_named_server() {
        let methods = vec!["password".to_string()];
        let mut l = lookup(Code::AuthFailed, &methods);
        l.source = None;
        l.seen_from = Some("jump host 1 of 1 (bastion:22)'s own address");
        l.server = Some("the target db:22");
        let h = hints(&l);
        assert_eq!(h.len(), 2, "{h:?}");
        assert!(h[0].starts_with("Where to look on the target db:22: sshd saw this attempt come from jump host 1 of 1 (bastion:22)'s own address"), "{}", h[0]);
        assert!(
            h[0].contains(
                "--until \"2026-12-06 17:59:06 UTC\" | grep -F -e \"for alice \" -e \"user alice \""
            ),
            "{}",
            h[0]
        );
        assert!(
            h[1].contains("\"Failed password for alice from ADDR port PORT ssh2\""),
            "{}",
            h[1]
        );
    }

    #[test]
    fn an_expired_password_is_found_by_user_too_since_pams_line_has_no_port() {
        let l = lookup(Code::PasswordExpired, &[]);
        let h = hints(&l);
        assert!(h[0].contains("-e \"192.0.2.7 port 54321\""), "{}", h[0]);
        assert!(
            h[0].contains("PAM's lines name no address or port"),
            "{}",
            h[0]
        );
        assert!(
            h[0].contains("grep -F -e \"for alice \" -e \"user alice \""),
            "{}",
            h[0]
        );
        assert!(h[1].contains("expired password for user alice"), "{}", h[1]);
        assert!(h[1].contains("Accepted password for alice from 192.0.2.7 port 54321 ssh2"));
    }
}
