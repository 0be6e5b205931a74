//! What happened before the server's SSH banner, told from the evidence: how the connection
//! ended (reset, orderly close, silence, a drip of lines) and what the server's own lines say
//! (OpenSSH's MaxStartups and PerSourcePenalties refusals, access rules, tarpits).
//!
//! It also says where a stalled handshake stood (the last clear message sent, the one awaited).
//!
//! Text only, like `hints`: it never builds a failure and never depends on the probe. It never
//! guesses from a list when the evidence decides, and it quotes the server's lines verbatim.

/// How the connection ended before any banner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The peer reset the connection (RST) after the TCP handshake completed.
    Reset,
    /// The peer closed the connection in order (FIN).
    Closed,
    /// Nothing arrived before the deadline.
    Silent,
    /// Lines kept arriving, but none was a banner.
    Drip,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Reset => "reset",
            Ending::Closed => "closed",
            Ending::Silent => "silent",
            Ending::Drip => "drip",
        }
    }
}

/// What a refusal line the server sent means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// OpenSSH's "Exceeded MaxStartups": too many unauthenticated connections at once.
    MaxStartups,
    /// OpenSSH 9.8+'s "Not allowed at this time": this source address is being penalised.
    Penalty,
    /// A tcp-wrappers, fail2ban or other access rule that printed a message.
    AccessRule,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::MaxStartups => "max_startups",
            Refusal::Penalty => "per_source_penalties",
            Refusal::AccessRule => "access_rule",
        }
    }
}

/// Read the server's pre-banner lines for a known refusal.
pub fn interpret(lines: &[String]) -> Option<Refusal> {
    let text = lines.join("\n").to_ascii_lowercase();
    if text.contains("maxstartups") {
        Some(Refusal::MaxStartups)
    } else if text.contains("not allowed at this time") || text.contains("penalt") {
        Some(Refusal::Penalty)
    } else if [
        "banned",
        "blocked",
        "denied",
        "refused",
        "not allowed",
        "blacklist",
        "blocklist",
        "fail2ban",
        "tcp wrapper",
        "hosts.deny",
        "go away",
    ]
    .iter()
    .any(|w| text.contains(w))
    {
        Some(Refusal::AccessRule)
    } else {
        None
    }
}

/// The lines as a reader sees them: each quoted, at most a few.
pub fn quoted(lines: &[String]) -> String {
    let shown: Vec<String> = lines
        .iter()
        .take(3)
        .map(|l| format!("{:?}", l.chars().take(200).collect::<String>()))
        .collect();
    let more = lines.len().saturating_sub(3);
    if more > 0 {
        format!("{} (and {more} more)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// The failure's message: how it ended and what the server said, verbatim.
pub fn message(ending: Ending, lines: &[String]) -> String {
    let how = match ending {
        Ending::Reset => "TCP connected, then the connection was reset before an SSH banner",
        Ending::Closed => {
            "TCP connected, then the server closed the connection without an SSH banner"
        }
        Ending::Silent => "TCP connected, but nothing arrived: no SSH banner",
        Ending::Drip => "the server keeps sending lines, none of them an SSH banner",
    };
    if lines.is_empty() {
        how.to_string()
    } else {
        format!("{how}; the server said: {}", quoted(lines))
    }
}

/// What fits the evidence, what would confirm it, and what to change.
pub fn hints(ending: Ending, lines: &[String], host: &str, port: u16) -> Vec<String> {
    let mut h = Vec::new();
    match interpret(lines) {
        Some(Refusal::MaxStartups) => {
            h.push(format!("This is sshd's own refusal: \"Exceeded MaxStartups\" means {host}:{port} has too many connections that have not logged in yet (MaxStartups, default 10:30:100), so it drops new ones. Not a firewall and not a ban: retrying later may work."));
            h.push("Confirm on the server: journalctl -u ssh | grep -i 'MaxStartups' shows \"drop connection #… from [address]:port past MaxStartups\"; ss -tn state established '( sport = :22 )' | wc -l counts the waiting connections. Fix: raise MaxStartups in sshd_config, or find what opens so many unauthenticated connections (a scanner, a stuck script).".into());
        }
        Some(Refusal::Penalty) => {
            h.push("This is sshd's own refusal (OpenSSH 9.8 or newer): \"Not allowed at this time\" means PerSourcePenalties is penalising this source address for earlier failed logins, crashes or unauthenticated connections. It lifts by itself after the penalty time.".into());
            h.push("Confirm on the server: journalctl -u ssh | grep -i penalty shows \"drop connection … penalty: …\" for this address. Fix: wait, or add the client's network to PerSourcePenaltyExemptList in sshd_config (and stop whatever failed repeatedly).".into());
        }
        Some(Refusal::AccessRule) => {
            h.push(format!("The server printed a refusal instead of a banner: an access rule for this source address (tcp-wrappers hosts.deny with a message, a fail2ban or sshguard rule, a DenyUsers-style wrapper) on {host}:{port}."));
            h.push("Confirm on the server: grep sshd /etc/hosts.deny; fail2ban-client status sshd (lists banned addresses); journalctl -u ssh for \"refused connect from\". Fix: unban or allow the client's address.".into());
        }
        None => match ending {
            Ending::Reset => {
                h.push(format!("The TCP connection to {host}:{port} was accepted and then reset: this is not a refused connection (nothing was refusing at connect time). A firewall or IPS that resets accepted connections, a load balancer with no healthy backend, an sshd that crashed on accept, or a server that hung up at once without reading our identification (the kernel turns that close into a reset: sshd dropping the connection for MaxStartups or PerSourcePenalties does this) fits this."));
                h.push(format!("Confirm: on the server, journalctl -u ssh | grep -iE 'MaxStartups|penalty' for this time (nothing logged means sshd never saw it: look at the firewall or balancer in front); from here, nc -v {host} {port} resets the same way if it is consistent."));
            }
            Ending::Closed => {
                h.push(format!("The server accepted TCP and closed in order without a word: sshd refusing this source before its banner (tcp-wrappers hosts.deny, MaxStartups on an older OpenSSH, PerSourcePenalties), or a proxy/port-forward in front of {host}:{port} that could not reach its backend."));
                h.push("Confirm on the server: journalctl -u ssh | grep -iE 'MaxStartups|penalty|refused connect' for this time; nothing logged means sshd never saw the connection (look at the proxy in front).".into());
            }
            Ending::Silent => {
                h.push(format!("Something accepted TCP on {host}:{port} but sent nothing: an overloaded sshd still deciding (MaxStartups queueing, slow reverse DNS), a load balancer or firewall holding the connection, or a service that waits for the client to speak first."));
                h.push(format!("Confirm: nc {host} {port} — an SSH server prints a line starting with SSH-2.0 at once; on the server, ss -tn '( sport = :{port} )' shows whether sshd holds the connection."));
            }
            Ending::Drip => {
                h.push(format!("{host}:{port} sends line after line but never an SSH banner: a tarpit (such as endlessh) that keeps scanners busy; the real sshd listens on another port."));
                h.push("Confirm: nc to the port shows the slow stream of random lines; ask the admin which port sshd really uses (ss -tlnp | grep sshd on the server).".into());
            }
        },
    }
    h
}

/// The verdict's sentence for a pre-banner failure.
pub fn summary(ending: Ending, lines: &[String], host: &str, port: u16) -> String {
    let target = format!("{host}:{port}");
    match (interpret(lines), ending) {
        (Some(Refusal::MaxStartups), _) => {
            format!(
                "{target} refused the connection before its banner: too many unauthenticated connections (MaxStartups)."
            )
        }
        (Some(Refusal::Penalty), _) => {
            format!("{target} refused this address for now before its banner (PerSourcePenalties).")
        }
        (Some(Refusal::AccessRule), _) => {
            format!("{target} refused this client before its banner (an access rule).")
        }
        (None, Ending::Reset) => {
            format!("{target} accepted the TCP connection, then reset it before any SSH banner.")
        }
        (None, Ending::Closed) => {
            format!("{target} accepted the TCP connection, then closed it before any SSH banner.")
        }
        (None, Ending::Silent) => {
            format!("{target} accepted the connection but never sent an SSH banner.")
        }
        (None, Ending::Drip) => {
            format!("{target} sends lines but no SSH banner: it looks like a tarpit.")
        }
    }
}

/// The name of a clear SSH message type (RFC 4253, 4419, 5656, 8731).
pub fn message_name(t: u8) -> String {
    match t {
        1 => "DISCONNECT".into(),
        2 => "IGNORE".into(),
        5 => "SERVICE_REQUEST".into(),
        6 => "SERVICE_ACCEPT".into(),
        7 => "EXT_INFO".into(),
        20 => "KEXINIT".into(),
        21 => "NEWKEYS".into(),
        30 => "KEX_ECDH_INIT (or KEXDH_INIT / KEX_DH_GEX_REQUEST_OLD)".into(),
        31 => "KEX_ECDH_REPLY (or KEXDH_REPLY / KEX_DH_GEX_GROUP)".into(),
        32 => "KEX_DH_GEX_INIT".into(),
        33 => "KEX_DH_GEX_REPLY".into(),
        34 => "KEX_DH_GEX_REQUEST".into(),
        n => format!("message {n}"),
    }
}

/// Where a stalled run stood: the last message sent, the one awaited, and a hint when the
/// stall has a known cause. `None` when the tap saw nothing to go on.
pub fn stall(
    sent: Option<u8>,
    received: Option<u8>,
    encrypted_out: bool,
    encrypted_in: bool,
) -> Option<(String, String, Option<String>)> {
    let awaited = match (sent, received, encrypted_out, encrypted_in) {
        (_, _, true, true) => {
            return Some((
                "an encrypted message (after key exchange)".into(),
                "the server's answer (the stall came after key exchange)".into(),
                None,
            ));
        }
        (Some(30), _, false, _) => 31,
        (Some(34), _, false, _) => 31,
        (Some(32), _, false, _) => 33,
        (Some(20), None, false, _) => 20,
        (Some(20), Some(20), false, _) => 31,
        (Some(21), _, _, false) => 21,
        _ => return None,
    };
    let sent_name = sent.map(message_name).unwrap_or_else(|| "nothing".into());
    let mtu = (awaited == 31 || awaited == 33).then(|| {
        "This is the classic path-MTU symptom: the server's key exchange reply is the first large packet (host key, signature, and with post-quantum key exchange over a kilobyte of key share), and a link with a smaller MTU whose ICMP \"fragmentation needed\" messages are filtered drops it silently. Confirm with ping -M do -s 1400 HOST (Linux); fix by allowing ICMP type 3 code 4, clamping the MSS, or lowering the interface MTU (ip link set dev IF mtu 1400).".to_string()
    });
    Some((
        sent_name,
        format!("the server's {}", message_name(awaited)),
        mtu,
    ))
}

/// The protocol version of an `SSH-x.y-…` banner when it is not one SSH 2 clients speak.
pub fn unsupported_version(banner: &str) -> Option<&str> {
    let rest = banner.strip_prefix("SSH-")?;
    let version = rest.split('-').next()?;
    (version != "2.0" && version != "1.99").then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_read_from_the_servers_words() {
        let l = |s: &str| vec![s.to_string()];
        assert_eq!(
            interpret(&l("Exceeded MaxStartups")),
            Some(Refusal::MaxStartups)
        );
        assert_eq!(
            interpret(&l("Not allowed at this time")),
            Some(Refusal::Penalty)
        );
        assert_eq!(interpret(&l("You are banned")), Some(Refusal::AccessRule));
        assert_eq!(interpret(&l("Welcome to the lab")), None);
        assert_eq!(unsupported_version("SSH-1.5-OpenSSH_3.0"), Some("1.5"));
        assert_eq!(unsupported_version("SSH-1.99-OpenSSH_3.0"), None);
        assert_eq!(unsupported_version("SSH-2.0-x"), None);
    }
}
