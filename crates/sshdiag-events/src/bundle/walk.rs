//! One traversal of every string in a bundle, by what kind of string it is: an identity field
//! (user name, host, URL), free text, or command output. Secret scrubbing (here) and the
//! redactor (the `redact` module) are visitors of it, so both see exactly the same strings.
//!
//! The traversal destructures every event data struct without `..`, so adding a field to one
//! fails to compile here until someone decides how it is scrubbed and redacted. It never does
//! I/O and changes a string only through its visitor.

use serde_json::Value;

use super::{Bundle, BundleVerdict, ChainHop, ConfigLine, HostInfo, ServerInfo, TranscriptEntry};
use crate::event::{
    AuditData, AuthData, ChannelData, ConnectData, DisconnectData, ErrorData, Event, EventData,
    ExecData, ForwardData, HostkeyData, HostkeyInventoryData, InventoryKey, KeepaliveData, KexData,
    ProxyData, StateChangeData, TrustedKey, VerdictData, VersionData,
};
use crate::scrub::scrub_secrets_counted;

/// What each kind of string in a bundle gets. One traversal, three uses: collecting
/// identities, scrubbing secrets, replacing identities.
pub(crate) trait Visitor {
    /// A user name, replaced whole.
    fn username(&mut self, value: &mut String);
    /// A host name or address, replaced whole.
    fn host(&mut self, value: &mut String);
    /// A URL (the relay's), whose user and host are identities and the rest text.
    fn url(&mut self, value: &mut String);
    /// Free text, which may quote identities or secrets anywhere.
    fn text(&mut self, value: &mut String);
    /// A command's output, which a redacted bundle drops.
    fn output(&mut self, value: &mut Option<String>);
}

fn each_text(v: &mut impl Visitor, values: &mut [String]) {
    for value in values {
        v.text(value);
    }
}

fn opt(value: &mut Option<String>, mut f: impl FnMut(&mut String)) {
    if let Some(value) = value.as_mut() {
        f(value);
    }
}

/// How a key inside free-form JSON (error context, unknown event types) is treated.
enum KeyRole {
    Username,
    Host,
    Url,
    Keep,
    Text,
}

fn key_role(key: Option<&str>) -> KeyRole {
    let Some(key) = key else {
        return KeyRole::Text;
    };
    let key = key.to_ascii_lowercase();
    match key.as_str() {
        "username" | "user" | "login" => KeyRole::Username,
        "host" | "hostname" | "local_host" | "remote_host" | "target_host" | "target" => {
            KeyRole::Host
        }
        "proxy" | "proxy_url" | "relay_url" | "url" => KeyRole::Url,
        "kex" | "host_key" | "cipher_cs" | "cipher_sc" | "mac_cs" | "mac_sc" | "compression_cs"
        | "compression_sc" | "server_sig_algs" | "client_proposal" | "server_proposal"
        | "algorithm" | "algorithms" | "code" | "event_type" | "level" | "status" | "layer"
        | "phase" | "error_type" | "method" | "methods_available" | "methods_tried"
        | "server_software" | "software" => KeyRole::Keep,
        _ if key.contains("fingerprint") => KeyRole::Keep,
        _ => KeyRole::Text,
    }
}

fn walk_value(v: &mut impl Visitor, key: Option<&str>, value: &mut Value) {
    match value {
        Value::String(s) => match key_role(key) {
            KeyRole::Username => v.username(s),
            KeyRole::Host => v.host(s),
            KeyRole::Url => v.url(s),
            KeyRole::Keep => {}
            KeyRole::Text => v.text(s),
        },
        Value::Array(items) => {
            for item in items {
                walk_value(v, key, item);
            }
        }
        Value::Object(object) => {
            if !matches!(key_role(key), KeyRole::Keep) {
                for (inner_key, item) in object.iter_mut() {
                    walk_value(v, Some(inner_key), item);
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn walk_error(v: &mut impl Visitor, error: &mut ErrorData) {
    let ErrorData {
        error_type: _,
        message,
        layer: _,
        hints,
        host,
        port: _,
        phase: _,
        methods_tried: _,
        context,
    } = error;
    v.text(message);
    each_text(v, hints);
    opt(host, |h| v.host(h));
    for (key, item) in context.iter_mut() {
        walk_value(v, Some(key), item);
    }
}

fn walk_audit(v: &mut impl Visitor, audit: &mut AuditData) {
    let AuditData {
        category: _,
        algorithm: _,
        grade: _,
        reason,
        fix,
    } = audit;
    v.text(reason);
    opt(fix, |f| v.text(f));
}

/// Key types and fingerprints are kept; where a key is trusted (`/home/alice/.ssh/known_hosts:3`)
/// and a scan's error are text.
fn walk_inventory(v: &mut impl Visitor, inventory: &mut HostkeyInventoryData) {
    let HostkeyInventoryData {
        source: _,
        keys,
        trusted,
    } = inventory;
    for key in keys {
        let InventoryKey {
            algorithm: _,
            fingerprint_sha256: _,
            proven: _,
            presented: _,
            trusted_at,
            error,
        } = key;
        opt(trusted_at, |t| v.text(t));
        opt(error, |e| v.text(e));
    }
    for key in trusted {
        let TrustedKey {
            algorithm: _,
            fingerprint_sha256: _,
            source,
            matched: _,
        } = key;
        opt(source, |s| v.text(s));
    }
}

// An exhaustive destructuring visitor: every field of every event type is named (no `..`), so
// a new field cannot reach a bundle unscrubbed; splitting it would only scatter the list.
fn walk_event(v: &mut impl Visitor, event: &mut Event) {
    let Event {
        timestamp: _,
        connection_id: _,
        seq: _,
        level: _,
        code: _,
        data,
        hop,
    } = event;
    if let Some(h) = hop {
        v.host(&mut h.host);
    }
    match data {
        EventData::Connect(ConnectData {
            status: _,
            host,
            port: _,
            username,
            transport: _,
            proxy,
            auth_method: _,
            source,
        }) => {
            v.host(host);
            opt(username, |u| v.username(u));
            opt(proxy, |p| v.url(p));
            // `ADDR:PORT`: text, so its address is pseudonymised like every other.
            opt(source, |s| v.text(s));
        }
        EventData::Proxy(ProxyData {
            status: _,
            ms: _,
            addrs,
            peer,
            local,
            reason,
            by: _,
            bytes_up: _,
            bytes_down: _,
        }) => {
            if let Some(addrs) = addrs {
                each_text(v, addrs);
            }
            opt(peer, |p| v.text(p));
            opt(local, |l| v.text(l));
            opt(reason, |r| v.text(r));
        }
        EventData::Version(VersionData {
            client_version: _,
            server_version,
            server_software: _,
            pre_banner_lines,
            duration_ms: _,
        }) => {
            v.text(server_version);
            each_text(v, pre_banner_lines);
        }
        // Algorithms, proposals and the failed category are kept as they are.
        EventData::Kex(KexData { .. }) => {}
        EventData::Hostkey(HostkeyData {
            algorithm: _,
            fingerprint_sha256: _,
            status: _,
            expected_fingerprint: _,
            policy: _,
        }) => {}
        EventData::Auth(AuthData {
            status: _,
            method: _,
            username,
            duration_ms: _,
            methods_available: _,
            key_fingerprint: _,
            error_type: _,
            error_message,
            certificate,
        }) => {
            opt(username, |u| v.username(u));
            opt(error_message, |m| v.text(m));
            if let Some(c) = certificate.as_mut() {
                // Principals are user names; the key id and critical options (a
                // `source-address`, a `force-command`) are text that may quote identities.
                for p in &mut c.principals {
                    v.username(p);
                }
                v.text(&mut c.key_id);
                each_text(v, &mut c.critical_options);
            }
        }
        EventData::Channel(ChannelData {
            status: _,
            channel_type: _,
            reason_code: _,
            reason,
        }) => opt(reason, |r| v.text(r)),
        EventData::Exec(ExecData {
            command,
            streaming: _,
            duration_ms: _,
            exit_code: _,
            exit_signal: _,
            stdout_len: _,
            stderr_len: _,
        }) => v.text(command),
        EventData::Forward(ForwardData {
            status: _,
            forward_type: _,
            local_host,
            local_port: _,
            remote_host,
            remote_port: _,
            duration_ms: _,
            reason,
        }) => {
            opt(local_host, |h| v.host(h));
            v.host(remote_host);
            opt(reason, |r| v.text(r));
        }
        EventData::Keepalive(KeepaliveData {
            rtt_ms: _,
            missed: _,
            path: _,
        }) => {}
        EventData::StateChange(StateChangeData {
            from_state: _,
            to_state: _,
            reconnection_count: _,
            reason,
        }) => opt(reason, |r| v.text(r)),
        EventData::Error(error) => walk_error(v, error),
        EventData::Disconnect(DisconnectData {
            reason: _,
            disconnect_code: _,
            description,
            bytes_sent: _,
            bytes_received: _,
        }) => opt(description, |d| v.text(d)),
        EventData::Verdict(VerdictData {
            ok: _,
            layer: _,
            error_type: _,
            code: _,
            summary,
            hints,
            phases: _,
        }) => {
            v.text(summary);
            each_text(v, hints);
        }
        EventData::Audit(audit) => walk_audit(v, audit),
        EventData::HostkeyInventory(inventory) => walk_inventory(v, inventory),
        EventData::Other {
            event_type: _,
            data,
        } => walk_value(v, None, data),
    }
}

pub(crate) fn walk_bundle(v: &mut impl Visitor, bundle: &mut Bundle) {
    let Bundle {
        format: _,
        version: _,
        created_ms: _,
        connection_id: _,
        // The tool's own name, version, runtime and user agent describe sshdiag, not the user.
        tool: _,
        host_info,
        verdict,
        events,
        transcript,
        algorithms: _,
        server,
        timing: _,
        disconnect_reason: _,
        error_context,
        redaction: _,
        audit,
        ssh_config,
        hops,
        integrity: _,
        loaded_digest: _,
    } = bundle;
    let HostInfo {
        host,
        port: _,
        username,
        proxy,
        redacted: _,
    } = host_info;
    v.host(host);
    v.username(username);
    opt(proxy, |p| v.url(p));
    let BundleVerdict {
        ok: _,
        layer: _,
        error_type: _,
        code: _,
        summary,
        hints,
    } = verdict;
    v.text(summary);
    each_text(v, hints);
    for event in events {
        walk_event(v, event);
    }
    for entry in transcript {
        let TranscriptEntry {
            command,
            exit_code: _,
            exit_signal: _,
            stdout,
            stderr,
            stdout_len: _,
            stderr_len: _,
            truncated: _,
            command_redacted,
        } = entry;
        let typed = command.clone();
        v.text(command);
        // Whatever changed the text says so, so a reader never takes it for what was typed.
        *command_redacted |= *command != typed;
        v.output(stdout);
        v.output(stderr);
    }
    walk_server(v, server);
    if let Some(error) = error_context {
        walk_error(v, error);
    }
    if let Some(findings) = audit {
        for finding in findings {
            walk_audit(v, finding);
        }
    }
    // A configuration file's path names its owner (`/home/alice/.ssh/config`).
    for line in ssh_config.iter_mut().flatten() {
        let ConfigLine {
            keyword: _,
            file,
            line: _,
        } = line;
        v.text(file);
    }
    for hop in hops.iter_mut().flatten() {
        walk_chain_hop(v, hop);
    }
}

/// A server of a jump-host chain: its host and user are identities like the target's, its
/// banner and the source it saw are text, its algorithms and fingerprints are kept.
fn walk_chain_hop(v: &mut impl Visitor, hop: &mut ChainHop) {
    let ChainHop {
        index: _,
        target: _,
        host,
        port: _,
        username,
        reached: _,
        server,
        algorithms: _,
        host_key_status: _,
        auth_method: _,
        methods_available: _,
        audit,
    } = hop;
    v.host(host);
    v.username(username);
    walk_server(v, server);
    for finding in audit.iter_mut().flatten() {
        walk_audit(v, finding);
    }
}

/// Scrubs secrets from every free-text string (raw and redacted bundles alike).
struct SecretScrubber {
    count: u64,
}

impl SecretScrubber {
    fn scrub(&mut self, value: &mut String) {
        let (clean, n) = scrub_secrets_counted(value);
        if n > 0 {
            *value = clean;
            self.count += n;
        }
    }
}

impl Visitor for SecretScrubber {
    fn username(&mut self, _value: &mut String) {}
    fn host(&mut self, _value: &mut String) {}
    fn url(&mut self, value: &mut String) {
        self.scrub(value);
    }
    fn text(&mut self, value: &mut String) {
        self.scrub(value);
    }
    fn output(&mut self, _value: &mut Option<String>) {}
}

/// Scrubs secrets from every free-text field of a bundle; returns how many were replaced.
pub(crate) fn scrub_bundle(bundle: &mut Bundle) -> u64 {
    let mut scrubber = SecretScrubber { count: 0 };
    walk_bundle(&mut scrubber, bundle);
    scrubber.count
}

/// One server's facts: the target's `server` and each hop's.
fn walk_server(v: &mut impl Visitor, server: &mut ServerInfo) {
    let ServerInfo {
        banner,
        software: _,
        host_key: _,
        source,
        client_version: _,
        host_keys,
    } = server;
    opt(banner, |b| v.text(b));
    opt(source, |s| v.text(s));
    if let Some(inventory) = host_keys {
        walk_inventory(v, inventory);
    }
}
