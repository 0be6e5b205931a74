//! The options of `new Diagnostics(options)` (page.md, "Embed"; `docs/embed.md`), checked by
//! hand against the contract's list so a mistake is refused with an `Error` naming the option
//! by its path (`auth.passphrase`, `algorithms.kex`, `jump[1].host`), then read into the
//! core's [`ProbeOptions`].
//!
//! Decisions the contract leaves open:
//!
//! - `host` and `username` are required; `port` defaults to 22, `auth` to `{type: "probe"}`,
//!   `commands` to none, `connectTimeoutMs` to 10000, `hostKeyPolicy` to `"accept-new"`,
//!   `proxyUrl` to this page's origin (`ws:`/`wss:`) + `/ws`. A `null` or `undefined` value is
//!   the same as leaving the option out. `auth` of type `privateKey` also takes `label` (a file
//!   name, used in messages only) and `certificate` (the user certificate's `…-cert.pub`
//!   line). With `auth: {type: "probe"}` no command runs (a probe never logs in).
//! - `jump: [{host, port, username, auth}, …]`: the jump hosts in the order they are passed
//!   through (OpenSSH's `ProxyJump`). Only the first is reached through the relay; each next
//!   server through a `direct-tcpip` channel of the one before. `host` is required, `port`
//!   defaults to 22, `username` to the target's, `auth` (the same shapes as the target's) to
//!   the target's credential. Each hop's host key is checked and trusted under its own
//!   host:port.
//! - `trustedHostCas: ["ssh-ed25519 AAAA… comment", …]`: host certificate authorities, each a
//!   CA's public key line (trusted for every host) or a `known_hosts` line
//!   `@cert-authority PATTERNS KEY` (for those hosts). A server presenting a host certificate
//!   one of them signed for its name is trusted, under every policy, as with OpenSSH's
//!   `@cert-authority`; host certificate algorithms are offered only when one applies.
//!
//! It never keeps a secret: the credentials go into the options' `Secret`s, and no error text
//! quotes a credential or a pasted key.

use serde_json::{Map, Value};
use sshdiag_core::algorithms::AlgorithmPrefs;
use sshdiag_core::hostkey::KnownHosts;
use sshdiag_core::options::JumpHost;
use sshdiag_core::{AuthPlan, Credential, ProbeOptions, Secret};
use sshdiag_events::HostKeyPolicy;
use sshdiag_events::jsonl::json_kind;
use wasm_bindgen::prelude::*;

use crate::js_error;

const OPTIONS: &[&str] = &[
    "proxyUrl",
    "host",
    "port",
    "username",
    "auth",
    "commands",
    "connectTimeoutMs",
    "token",
    "hostKeyPolicy",
    "algorithms",
    "forwardProbe",
    "keepaliveIntervalMs",
    "keepaliveMaxMissed",
    "holdMs",
    "retries",
    "deepAudit",
    "sessionCheck",
    "hostKeyInventory",
    "jump",
    "trustedHostCas",
];

/// What `run()` consumes: the options with their secrets, and where to connect.
pub(crate) struct Pending {
    pub opts: ProbeOptions,
    pub proxy_url: String,
    pub token: Option<String>,
    /// The `@cert-authority` lines of `trustedHostCas` (public keys only).
    pub host_cas: KnownHosts,
}

/// The options object as JSON, so it can be checked key by key.
pub(crate) fn to_json_value(options: &JsValue, what: &str) -> Result<Value, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(Value::Object(Map::new()));
    }
    if !options.is_object() || js_sys::Array::is_array(options) {
        return Err(js_error(format!(
            "{what} must be an object like {{ host: \"example.com\", username: \"alice\" }}"
        )));
    }
    serde_wasm_bindgen::from_value::<Value>(options.clone())
        .map_err(|e| js_error(format!("{what} could not be read: {e}")))
}

/// Refuses keys not in `allowed`, naming them and what is allowed.
pub(crate) fn check_keys(
    obj: &Map<String, Value>,
    allowed: &[&str],
    prefix: &str,
) -> Result<(), JsValue> {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(js_error(format!(
                "unknown option `{prefix}{k}`; known options{}: {}",
                if prefix.is_empty() {
                    String::new()
                } else {
                    format!(" of `{}`", prefix.trim_end_matches('.'))
                },
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

/// The value of `key`, with `null` counted as absent.
pub(crate) fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn string(obj: &Map<String, Value>, key: &str, name: &str) -> Result<Option<String>, JsValue> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(js_error(format!(
            "option `{name}` must be a string, not {}",
            json_kind(other)
        ))),
    }
}

fn required_string(obj: &Map<String, Value>, key: &str, name: &str) -> Result<String, JsValue> {
    match string(obj, key, name)? {
        Some(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => Err(js_error(format!(
            "option `{name}` is required and must be a non-empty string"
        ))),
    }
}

fn integer(
    obj: &Map<String, Value>,
    key: &str,
    name: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, JsValue> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let v = n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            });
            match v {
                Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
                _ => Err(js_error(format!(
                    "option `{name}` must be a whole number from {min} to {max}, not {n}"
                ))),
            }
        }
        Some(other) => Err(js_error(format!(
            "option `{name}` must be a number, not {}",
            json_kind(other)
        ))),
    }
}

fn string_list(obj: &Map<String, Value>, key: &str, name: &str) -> Result<Vec<String>, JsValue> {
    match get(obj, key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(js_error(format!(
                    "option `{name}[{i}]` must be a string, not {}",
                    json_kind(other)
                ))),
            })
            .collect(),
        Some(other) => Err(js_error(format!(
            "option `{name}` must be an array of strings, not {}",
            json_kind(other)
        ))),
    }
}

fn object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>, JsValue> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(js_error(format!(
            "option `{name}` must be an object, not {}",
            json_kind(other)
        ))),
    }
}

/// The credential at option `name` (`auth`, `jump[0].auth`); absent is a probe.
fn parse_auth(obj: Option<&Map<String, Value>>, name: &str) -> Result<AuthPlan, JsValue> {
    let Some(a) = obj else {
        return Ok(AuthPlan::Probe);
    };
    let types = "\"password\", \"privateKey\", \"keyboardInteractive\" or \"probe\"";
    let t = match get(a, "type") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(js_error(format!(
                "option `{name}.type` must be a string ({types}), not {}",
                json_kind(other)
            )));
        }
        None => {
            return Err(js_error(format!(
                "option `{name}.type` is required: {types}"
            )));
        }
    };
    let prefix = format!("{name}.");
    let field = |key: &str| format!("{name}.{key}");
    match t {
        "probe" => {
            check_keys(a, &["type"], &prefix)?;
            Ok(AuthPlan::Probe)
        }
        "password" => {
            check_keys(a, &["type", "password"], &prefix)?;
            let password = string(a, "password", &field("password"))?.ok_or_else(|| {
                js_error(format!(
                    "option `{name}.password` is required when {name}.type is \"password\""
                ))
            })?;
            Ok(AuthPlan::Credentials(vec![Credential::Password(
                Secret::new(password),
            )]))
        }
        "privateKey" => parse_private_key(a, name),
        "keyboardInteractive" => {
            check_keys(a, &["type", "answers"], &prefix)?;
            let answers = string_list(a, "answers", &field("answers"))?
                .into_iter()
                .map(Secret::new)
                .collect();
            Ok(AuthPlan::Credentials(vec![
                Credential::KeyboardInteractive { answers },
            ]))
        }
        other => Err(js_error(format!(
            "option `{name}.type` must be {types}, not {other:?}"
        ))),
    }
}

/// `{type: "privateKey", key, passphrase, label, certificate}` at option `name`. The
/// certificate (the `…-cert.pub` text) is public: it is checked here to be one line of an
/// OpenSSH certificate, so a private key pasted into it by mistake is refused unread.
fn parse_private_key(a: &Map<String, Value>, name: &str) -> Result<AuthPlan, JsValue> {
    let field = |key: &str| format!("{name}.{key}");
    check_keys(
        a,
        &["type", "key", "passphrase", "label", "certificate"],
        &format!("{name}."),
    )?;
    let key = string(a, "key", &field("key"))?
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| {
            js_error(format!(
                "option `{name}.key` is required when {name}.type is \"privateKey\": the private key text (-----BEGIN OPENSSH PRIVATE KEY-----…)"
            ))
        })?;
    let passphrase = string(a, "passphrase", &field("passphrase"))?
        .filter(|p| !p.is_empty())
        .map(Secret::new);
    let label = string(a, "label", &field("label"))?;
    let certificate = string(a, "certificate", &field("certificate"))?
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    if let Some(cert) = &certificate {
        let first = cert.split_whitespace().next().unwrap_or("");
        if !first.contains("-cert-v01@openssh.com") || cert.lines().count() != 1 {
            return Err(js_error(format!(
                "option `{name}.certificate` must be an OpenSSH certificate: the one line of a …-cert.pub file (ssh-ed25519-cert-v01@openssh.com AAAA…)"
            )));
        }
    }
    Ok(AuthPlan::Credentials(vec![Credential::PrivateKey {
        key_text: Secret::new(key),
        passphrase,
        label,
        certificate,
    }]))
}

fn parse_algorithms(obj: Option<&Map<String, Value>>) -> Result<AlgorithmPrefs, JsValue> {
    let Some(a) = obj else {
        return Ok(AlgorithmPrefs::default());
    };
    check_keys(a, &["kex", "hostKey", "ciphers", "macs"], "algorithms.")?;
    let pref = |key: &str| -> Result<Option<String>, JsValue> {
        Ok(string(a, key, &format!("algorithms.{key}"))?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()))
    };
    let prefs = AlgorithmPrefs {
        kex: pref("kex")?,
        host_key: pref("hostKey")?,
        ciphers: pref("ciphers")?,
        macs: pref("macs")?,
    };
    prefs
        .resolve()
        .map_err(|e| js_error(format!("option `algorithms`: {e}")))?;
    Ok(prefs)
}

/// `ws(s)://<this page's host>/ws`.
fn default_proxy_url() -> Result<String, JsValue> {
    let location = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("location"))
        .ok()
        .filter(|l| l.is_object());
    let field = |name: &str| {
        location
            .as_ref()
            .and_then(|l| js_sys::Reflect::get(l, &JsValue::from_str(name)).ok())
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let scheme = match field("protocol").as_str() {
        "https:" => "wss",
        "http:" => "ws",
        _ => {
            return Err(js_error(
                "option `proxyUrl` is required here: this page is not served over http(s), so there is no origin to default to",
            ));
        }
    };
    Ok(format!("{scheme}://{}/ws", field("host")))
}

pub(crate) fn parse_options(options: &JsValue) -> Result<Pending, JsValue> {
    let value = to_json_value(options, "the options of new Diagnostics()")?;
    let Value::Object(o) = value else {
        return Err(js_error(
            "the options of new Diagnostics() must be an object",
        ));
    };
    check_keys(&o, OPTIONS, "")?;
    let host = required_string(&o, "host", "host")?;
    let username = required_string(&o, "username", "username")?;
    let port = integer(&o, "port", "port", 1, 65535)?.unwrap_or(22) as u16;
    let auth = parse_auth(object(&o, "auth", "auth")?, "auth")?;
    let mut opts = ProbeOptions::new(host, port, username, auth);
    let commands: Vec<String> = string_list(&o, "commands", "commands")?
        .into_iter()
        .filter(|c| !c.trim().is_empty())
        .collect();
    // A probe never logs in, so there is no session to run a command in.
    if !matches!(opts.auth, AuthPlan::Probe) {
        opts.commands = commands;
    }
    if let Some(ms) = integer(&o, "connectTimeoutMs", "connectTimeoutMs", 1, 600_000)? {
        opts.connect_timeout_ms = ms;
    }
    if let Some(p) = string(&o, "hostKeyPolicy", "hostKeyPolicy")? {
        opts.host_key_policy = serde_json::from_value::<HostKeyPolicy>(Value::String(p.clone()))
            .map_err(|_| {
                js_error(format!(
                    "option `hostKeyPolicy` must be \"yes\", \"accept-new\" or \"no\", not {p:?}"
                ))
            })?;
    }
    opts.algorithms = parse_algorithms(object(&o, "algorithms", "algorithms")?)?;
    parse_supervisor(&o, &mut opts)?;
    opts.jump = parse_jump(&o, &opts.username)?;
    let host_cas = parse_host_cas(&o)?;
    let proxy_url = match string(&o, "proxyUrl", "proxyUrl")?.map(|s| s.trim().to_string()) {
        Some(u) if !u.is_empty() => {
            if !(u.starts_with("ws://") || u.starts_with("wss://")) {
                return Err(js_error(format!(
                    "option `proxyUrl` must be a ws:// or wss:// URL, not {:?}",
                    sshdiag_core::transport::redact_url_credentials(&u)
                )));
            }
            u
        }
        _ => default_proxy_url()?,
    };
    let token = string(&o, "token", "token")?.filter(|t| !t.trim().is_empty());
    Ok(Pending {
        opts,
        proxy_url,
        token,
        host_cas,
    })
}

/// The forward probe, keepalives on the browser's timer, the hold, retries and the switches
/// (deep audit, session check, host key inventory).
fn parse_supervisor(o: &Map<String, Value>, opts: &mut ProbeOptions) -> Result<(), JsValue> {
    // Issue 8 additions: forward probe, keepalives on the browser's timer, hold, retries.
    if let Some(spec) = string(o, "forwardProbe", "forwardProbe")?.filter(|s| !s.trim().is_empty())
    {
        let bad = || {
            js_error(format!(
                "option `forwardProbe` must be \"host:port\", not {spec:?}"
            ))
        };
        let target = sshdiag_core::options::parse_host_port(spec.trim()).map_err(|_| bad())?;
        opts.forward_probe = Some(target);
    }
    if let Some(ms) = integer(
        o,
        "keepaliveIntervalMs",
        "keepaliveIntervalMs",
        100,
        3_600_000,
    )? {
        let missed = integer(o, "keepaliveMaxMissed", "keepaliveMaxMissed", 1, 100)?.unwrap_or(3);
        opts.keepalive = Some(sshdiag_core::options::KeepaliveConfig {
            interval_ms: ms,
            max_missed: missed as u32,
        });
    }
    if let Some(ms) = integer(o, "holdMs", "holdMs", 0, 3_600_000)? {
        opts.hold_ms = ms;
        opts.timeout_ms = opts.timeout_ms.map(|t| t + ms);
    }
    if let Some(n) = integer(o, "retries", "retries", 0, 20)?
        && n > 0
    {
        opts.retry = Some(sshdiag_core::options::RetryPolicy {
            max_retries: n as u32,
            ..Default::default()
        });
    }
    // Booleans only: `deepAudit` and `hostKeyInventory` off unless `true`, `sessionCheck` on
    // unless `false`.
    for (name, default, slot) in [
        ("deepAudit", false, &mut opts.deep_audit),
        ("sessionCheck", true, &mut opts.session_check),
        ("hostKeyInventory", false, &mut opts.host_key_inventory),
    ] {
        *slot = match get(o, name) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(js_error(format!(
                    "option `{name}` must be true or false, not {}",
                    json_kind(other)
                )));
            }
        };
    }
    Ok(())
}

/// `jump`: the jump hosts, in the order they are passed through (see the module docs).
fn parse_jump(o: &Map<String, Value>, target_user: &str) -> Result<Vec<JumpHost>, JsValue> {
    let items = match get(o, "jump") {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(js_error(format!(
                "option `jump` must be an array of jump hosts like [{{ host: \"bastion.example.com\", username: \"alice\" }}], not {}",
                json_kind(other)
            )));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let name = format!("jump[{i}]");
            let Value::Object(j) = item else {
                return Err(js_error(format!(
                    "option `{name}` must be an object like {{ host: \"bastion.example.com\", port: 22, username: \"alice\", auth: {{ type: \"password\", password: \"…\" }} }}, not {}",
                    json_kind(item)
                )));
            };
            check_keys(j, &["host", "port", "username", "auth"], &format!("{name}."))?;
            let host = required_string(j, "host", &format!("{name}.host"))?;
            let port = integer(j, "port", &format!("{name}.port"), 1, 65535)?.unwrap_or(22) as u16;
            let username = match string(j, "username", &format!("{name}.username"))? {
                Some(u) if !u.trim().is_empty() => u.trim().to_string(),
                _ => target_user.to_string(),
            };
            let auth_name = format!("{name}.auth");
            let auth = object(j, "auth", &auth_name)?
                .map(|a| parse_auth(Some(a), &auth_name))
                .transpose()?;
            Ok(JumpHost {
                auth,
                ..JumpHost::new(host, port, username)
            })
        })
        .collect()
}

/// `trustedHostCas`: each entry a CA's public key line (for every host) or an
/// `@cert-authority PATTERNS KEY` line; anything else is refused, without quoting it (a
/// private key pasted here by mistake must not reach an error message).
fn parse_host_cas(o: &Map<String, Value>) -> Result<KnownHosts, JsValue> {
    let mut text = String::new();
    for (i, entry) in string_list(o, "trustedHostCas", "trustedHostCas")?
        .iter()
        .enumerate()
    {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let line = if entry.starts_with("@cert-authority") {
            entry.to_string()
        } else {
            format!("@cert-authority * {entry}")
        };
        if entry.lines().count() != 1 || !is_ca_line(&line) {
            return Err(js_error(format!(
                "option `trustedHostCas[{i}]` must be a CA's public key line (ssh-ed25519 AAAA… host-ca, as in the CA's .pub file) or a known_hosts line @cert-authority PATTERNS KEY"
            )));
        }
        text.push_str(&line);
        text.push('\n');
    }
    Ok(KnownHosts::parse(&text))
}

/// Whether `line` is an `@cert-authority` line whose key is a public key (its patterns set
/// aside: they are checked per host when the run looks the CAs up).
fn is_ca_line(line: &str) -> bool {
    let mut t = line.split_whitespace();
    let (Some("@cert-authority"), Some(_patterns), Some(alg), Some(b64)) =
        (t.next(), t.next(), t.next(), t.next())
    else {
        return false;
    };
    !KnownHosts::parse(&format!("@cert-authority * {alg} {b64}"))
        .cert_authorities("any", 22)
        .is_empty()
}

// What the checks above accept, the declared type must accept too (see `types`): checked here,
// in a test, rather than on every `new Diagnostics()` in the module customers download (reading
// the options into the type cost 8.5 KB brotli of it).
#[cfg(test)]
mod tests {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::parse_options;
    use crate::types::DiagnosticsOptions;

    /// Every option, every credential shape, a jump host of each: accepted by both.
    const ACCEPTED: &[&str] = &[
        r#"{"proxyUrl": "ws://127.0.0.1:8022/ws", "host": "h", "port": 2222, "username": "u",
            "auth": {"type": "password", "password": "p"}, "commands": ["uname -a", "true"],
            "connectTimeoutMs": 5000, "token": "t", "hostKeyPolicy": "yes",
            "algorithms": {"kex": "+diffie-hellman-group14-sha256", "hostKey": "-ssh-rsa",
                           "ciphers": "^aes256-gcm@openssh.com", "macs": "hmac-sha2-256"},
            "forwardProbe": "127.0.0.1:80", "keepaliveIntervalMs": 1000,
            "keepaliveMaxMissed": 2, "holdMs": 100, "retries": 1, "deepAudit": true,
            "sessionCheck": false, "hostKeyInventory": true,
            "trustedHostCas": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl host-ca"],
            "jump": [{"host": "b", "port": 22, "username": "j", "auth": {"type": "probe"}},
                     {"host": "c", "auth": {"type": "keyboardInteractive", "answers": ["a"]}}]}"#,
        r#"{"proxyUrl": "ws://127.0.0.1:8022/ws", "host": "h", "username": "u",
            "auth": {"type": "privateKey", "key": "k", "passphrase": "p", "label": "id_ed25519"}}"#,
        r#"{"proxyUrl": "ws://127.0.0.1:8022/ws", "host": "h", "username": "u", "port": null,
            "auth": {"type": "probe"}, "jump": []}"#,
    ];

    #[wasm_bindgen_test]
    fn the_declared_options_type_accepts_what_the_checks_accept() {
        for text in ACCEPTED {
            let options = js_sys::JSON::parse(text).unwrap();
            if let Err(e) = parse_options(&options) {
                panic!(
                    "the checks refuse {text}: {:?}",
                    e.dyn_ref::<js_sys::Error>()
                        .map(|e| String::from(e.message()))
                );
            }
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            if let Err(e) = serde_json::from_value::<DiagnosticsOptions>(value) {
                panic!("the checks accept {text} but not the DiagnosticsOptions type: {e}");
            }
        }
    }
}
