//! The `Diagnostics` JS API (page.md, "Embed"): what the page uses, and what a support portal
//! embeds.
//!
//! ```js
//! import init, { Diagnostics } from "./pkg/sshdiag_web.js";
//! await init();
//! const d = new Diagnostics({ host: "example.com", username: "alice",
//!                             auth: { type: "password", password: "…" } });
//! d.onEvent((event) => { /* events.md's JSON object, as it happens */ });
//! const verdict = await d.run();  // VERDICT data; resolves on SSH failures too
//! d.derived();                    // what the bundle derives from the events so far
//! d.eventsJsonl();                // JSON Lines, one event per line
//! d.bundle({ redact: true });     // the bundle JSON (redacted unless redact: false)
//! Diagnostics.openBundle(text);   // { bundle, integrity, integrityDetail, derived } or throws
//! Diagnostics.openEventLog(text);  // { events, errors, derived } from an events.jsonl
//! Diagnostics.maxFileBytes();     // the largest file openBundle/openEventLog read (20 MiB)
//! Diagnostics.forgetHostKey("example.com", 22);
//! d.cancel();                     // stops a run: it ends with a `Cancelled` VERDICT
//! d.timeLimitMs;                  // the run's overall time limit (ms)
//! ```
//!
//! Decisions the contract leaves open:
//!
//! - Options are checked by hand against the contract's list, so a mistake is refused with an
//!   `Error` naming the option by its path (`auth.passphrase`, `algorithms.kex`, `port`). `host`
//!   and `username` are required; `port` defaults to 22, `auth` to `{type: "probe"}`,
//!   `commands` to none, `connectTimeoutMs` to 10000, `hostKeyPolicy` to `"accept-new"`,
//!   `proxyUrl` to this page's origin (`ws:`/`wss:`) + `/ws`. A `null` or `undefined` value is
//!   the same as leaving the option out. `auth` of type `privateKey` also takes `label` (a file
//!   name, used in messages only). With `auth: {type: "probe"}` no command runs (a probe
//!   never logs in), whatever `commands` says.
//! - `run()` may be called once per `Diagnostics`: the secrets (password, passphrase, key,
//!   answers, relay token) are handed to the core when it starts and dropped when it ends; the
//!   object keeps only the report and the options without `auth`/`token`. A second call
//!   rejects with an Error saying so. `run()` rejects only on such misuse, never on an SSH or
//!   network failure: those are in the verdict.
//! - `openBundle(input)` takes the file's text (or its bytes as a `Uint8Array`/`ArrayBuffer`,
//!   so a file that is not even UTF-8 gets a clear message) and returns
//!   `{ bundle, integrity, integrityDetail }`: `bundle` the parsed bundle object (bundle.md),
//!   `integrity` one of `"valid"`, `"mismatch"` (edited after it was written) or `"missing"`
//!   (no `integrity` key), `integrityDetail` `{ expected, actual }` on a mismatch, else `null`.
//! - An Error thrown by `openBundle` has a `kind` (`"not-json"`, `"wrong-format"`,
//!   `"newer-version"`, `"looks-like-jsonl"`, …) beside its message. `openEventLog(input)`
//!   reads an `events.jsonl` (or nbs-ssh) log as `{ events, errors: [{ line, message }] }`.
//! - `onEvent(cb)` replaces any earlier callback; `onEvent(null)` removes it. A callback that
//!   throws does not stop the run.
//! - `derived()`, and the `derived` key of `openBundle` and `openEventLog`, is the session's
//!   view as `sshdiag_events::bundle::SessionView` serialises it: the bundle's derived sections
//!   (`verdict`, `algorithms`, `server`, `timing`, `error_context`, `audit`) plus `finished`,
//!   `connection_id`, `failed_phase`, `client_version`, `pre_banner_lines`, `host_key_status`,
//!   `host_key_policy`, `kex_failed` and `host_key_mismatch`. During a run it is derived from
//!   the events so far (callable from `onEvent`); for a bundle the sections are the bundle's
//!   own. The page renders this and derives nothing itself.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use serde_json::{Map, Value};
use sshdiag_core::algorithms::AlgorithmPrefs;
use sshdiag_core::report::bundle_json;
use sshdiag_core::{AuthPlan, Credential, ProbeOptions, ProbeReport, Secret};
use sshdiag_events::jsonl::{ReadOptions, json_kind, read_jsonl_with};
use sshdiag_events::{
    Bundle, Event, HostKeyPolicy, IntegrityStatus, MAX_BUNDLE_BYTES, SessionView, to_line,
};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::env::BrowserEnv;
use crate::files::{FileInput, bundle_error, file_input, js_error, too_large};
use crate::transport::BrowserRelayConnector;
use crate::trust::{LocalStorageTrust, forget};
use crate::types::{
    DiagnosticsOptions, IntegrityCheck, IntegrityDetail, OpenedBundle, OpenedEventLog,
};

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
];

/// What `run()` consumes: the options with their secrets, and where to connect.
struct Pending {
    opts: ProbeOptions,
    proxy_url: String,
    token: Option<String>,
}

/// What is kept after a run: no secret in either.
struct Finished {
    report: ProbeReport,
    opts: ProbeOptions,
}

#[derive(Default)]
struct State {
    pending: Option<Pending>,
    running: bool,
    finished: Option<Finished>,
    /// Set by `cancel()`: a run that has not started yet is cancelled as it starts.
    cancel_requested: bool,
    /// Stops the run in progress (`cancel()` sends on it).
    cancel: Option<futures::channel::oneshot::Sender<()>>,
}

/// One diagnosis of one SSH target, through an sshdiag relay.
#[wasm_bindgen]
pub struct Diagnostics {
    state: Rc<RefCell<State>>,
    on_event: Rc<RefCell<Option<js_sys::Function>>>,
    lines: Rc<RefCell<Vec<String>>>,
    events: Rc<RefCell<Vec<Event>>>,
    time_limit_ms: Option<u64>,
}

fn json_to_js(text: &str) -> Result<JsValue, JsValue> {
    js_sys::JSON::parse(text)
        .map_err(|_| js_error("sshdiag produced JSON the browser could not parse (a bug)"))
}

/// The options object as JSON, so it can be checked key by key.
fn to_json_value(options: &JsValue, what: &str) -> Result<Value, JsValue> {
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
fn check_keys(obj: &Map<String, Value>, allowed: &[&str], prefix: &str) -> Result<(), JsValue> {
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
fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
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

/// `sessionCheck` (on unless `false`), `hostKeyInventory` (off unless `true`): booleans only.
fn switches(o: &Map<String, Value>, opts: &mut ProbeOptions) -> Result<(), JsValue> {
    for (name, default, slot) in [
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

fn parse_auth(obj: Option<&Map<String, Value>>) -> Result<AuthPlan, JsValue> {
    let Some(a) = obj else {
        return Ok(AuthPlan::Probe);
    };
    let types = "\"password\", \"privateKey\", \"keyboardInteractive\" or \"probe\"";
    let t = match get(a, "type") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(js_error(format!(
                "option `auth.type` must be a string ({types}), not {}",
                json_kind(other)
            )));
        }
        None => return Err(js_error(format!("option `auth.type` is required: {types}"))),
    };
    match t {
        "probe" => {
            check_keys(a, &["type"], "auth.")?;
            Ok(AuthPlan::Probe)
        }
        "password" => {
            check_keys(a, &["type", "password"], "auth.")?;
            let password = string(a, "password", "auth.password")?.ok_or_else(|| {
                js_error("option `auth.password` is required when auth.type is \"password\"")
            })?;
            Ok(AuthPlan::Credentials(vec![Credential::Password(
                Secret::new(password),
            )]))
        }
        "privateKey" => {
            check_keys(a, &["type", "key", "passphrase", "label"], "auth.")?;
            let key = string(a, "key", "auth.key")?
                .filter(|k| !k.trim().is_empty())
                .ok_or_else(|| {
                    js_error(
                        "option `auth.key` is required when auth.type is \"privateKey\": the private key text (-----BEGIN OPENSSH PRIVATE KEY-----…)",
                    )
                })?;
            let passphrase = string(a, "passphrase", "auth.passphrase")?
                .filter(|p| !p.is_empty())
                .map(Secret::new);
            let label = string(a, "label", "auth.label")?;
            Ok(AuthPlan::Credentials(vec![Credential::PrivateKey {
                key_text: Secret::new(key),
                passphrase,
                label,
                certificate: None,
            }]))
        }
        "keyboardInteractive" => {
            check_keys(a, &["type", "answers"], "auth.")?;
            let answers = string_list(a, "answers", "auth.answers")?
                .into_iter()
                .map(Secret::new)
                .collect();
            Ok(AuthPlan::Credentials(vec![
                Credential::KeyboardInteractive { answers },
            ]))
        }
        other => Err(js_error(format!(
            "option `auth.type` must be {types}, not {other:?}"
        ))),
    }
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

fn parse_options(options: &JsValue) -> Result<Pending, JsValue> {
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
    let auth = parse_auth(object(&o, "auth", "auth")?)?;
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
    // Issue 8 additions: forward probe, keepalives on the browser's timer, hold, retries.
    if let Some(spec) = string(&o, "forwardProbe", "forwardProbe")?.filter(|s| !s.trim().is_empty())
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
        &o,
        "keepaliveIntervalMs",
        "keepaliveIntervalMs",
        100,
        3_600_000,
    )? {
        let missed = integer(&o, "keepaliveMaxMissed", "keepaliveMaxMissed", 1, 100)?.unwrap_or(3);
        opts.keepalive = Some(sshdiag_core::options::KeepaliveConfig {
            interval_ms: ms,
            max_missed: missed as u32,
        });
    }
    if let Some(ms) = integer(&o, "holdMs", "holdMs", 0, 3_600_000)? {
        opts.hold_ms = ms;
        opts.timeout_ms = opts.timeout_ms.map(|t| t + ms);
    }
    if let Some(n) = integer(&o, "retries", "retries", 0, 20)?
        && n > 0
    {
        opts.retry = Some(sshdiag_core::options::RetryPolicy {
            max_retries: n as u32,
            ..Default::default()
        });
    }
    opts.deep_audit = match get(&o, "deepAudit") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(js_error(format!(
                "option `deepAudit` must be true or false, not {}",
                json_kind(other)
            )));
        }
    };
    switches(&o, &mut opts)?;
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
    // What the checks above accept, the declared type must accept too (see `types`).
    serde_json::from_value::<DiagnosticsOptions>(Value::Object(o)).map_err(|e| {
        js_error(format!(
            "these options pass sshdiag's checks but not its DiagnosticsOptions type (a bug): {e}"
        ))
    })?;
    Ok(Pending {
        opts,
        proxy_url,
        token,
    })
}

/// A view of a session as a JS object; see the module docs.
fn view_to_value(view: &SessionView) -> Result<Value, JsValue> {
    serde_json::to_value(view)
        .map_err(|e| js_error(format!("could not show the session (a bug): {e}")))
}

#[wasm_bindgen]
impl Diagnostics {
    /// Checks the options (see the module docs); throws an Error naming a bad option.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "DiagnosticsOptions")] options: JsValue,
    ) -> Result<Diagnostics, JsValue> {
        let pending = parse_options(&options)?;
        let time_limit_ms = pending.opts.timeout_ms;
        Ok(Diagnostics {
            time_limit_ms,
            state: Rc::new(RefCell::new(State {
                pending: Some(pending),
                ..State::default()
            })),
            on_event: Rc::new(RefCell::new(None)),
            lines: Rc::new(RefCell::new(Vec::new())),
            events: Rc::new(RefCell::new(Vec::new())),
        })
    }

    /// Calls `callback(event)` with each event's JSON object as it happens.
    #[wasm_bindgen(js_name = onEvent)]
    pub fn on_event(
        &self,
        #[wasm_bindgen(unchecked_param_type = "((event: Event) => void) | null")] callback: JsValue,
    ) -> Result<(), JsValue> {
        if callback.is_null() || callback.is_undefined() {
            *self.on_event.borrow_mut() = None;
            return Ok(());
        }
        let f = callback
            .dyn_into::<js_sys::Function>()
            .map_err(|_| js_error("onEvent takes a function (event) => …"))?;
        *self.on_event.borrow_mut() = Some(f);
        Ok(())
    }

    /// Runs the diagnosis; the Promise resolves to the VERDICT data, whatever the outcome.
    #[wasm_bindgen(unchecked_return_type = "Promise<VerdictData>")]
    pub fn run(&self) -> js_sys::Promise {
        let pending = {
            let mut state = self.state.borrow_mut();
            if state.running {
                None
            } else {
                state.pending.take()
            }
        };
        let Some(pending) = pending else {
            let running = self.state.borrow().running;
            let message = if running {
                "this diagnosis is already running; wait for its run() to resolve"
            } else {
                "this Diagnostics has already run (its secrets are gone); create a new Diagnostics to run again"
            };
            return js_sys::Promise::reject(&js_error(message));
        };
        let (stop, stopped) = futures::channel::oneshot::channel::<()>();
        {
            let mut state = self.state.borrow_mut();
            state.running = true;
            if state.cancel_requested {
                let _ = stop.send(());
            } else {
                state.cancel = Some(stop);
            }
        }
        // Only a sent cancel stops the run; a dropped sender (the run ended) does not.
        let cancelled = async move {
            if stopped.await.is_err() {
                futures::future::pending::<()>().await;
            }
        };
        let state = self.state.clone();
        let on_event = self.on_event.clone();
        let lines = self.lines.clone();
        let events = self.events.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let Pending {
                opts,
                proxy_url,
                token,
            } = pending;
            let mut kept = opts.clone();
            kept.auth = AuthPlan::Probe;
            let mut connector = BrowserRelayConnector {
                url: proxy_url,
                token,
            };
            let mut trust = LocalStorageTrust;
            let sink = Box::new(move |event: &sshdiag_events::Event| {
                let line = to_line(event);
                lines.borrow_mut().push(line.clone());
                events.borrow_mut().push(event.clone());
                let callback = on_event.borrow().clone();
                if let Some(cb) = callback
                    && let Ok(obj) = js_sys::JSON::parse(line.trim_end())
                    && let Err(e) = cb.call1(&JsValue::NULL, &obj)
                {
                    web_sys::console::warn_2(
                        &JsValue::from_str("sshdiag: the onEvent callback threw"),
                        &e,
                    );
                }
            });
            let report = sshdiag_core::run_cancellable(
                opts,
                &mut connector,
                Arc::new(BrowserEnv),
                &mut trust,
                sink,
                cancelled,
            )
            .await;
            drop(connector);
            let verdict = serde_json::to_string(&report.verdict)
                .map_err(|e| js_error(format!("could not serialise the verdict (a bug): {e}")));
            let mut s = state.borrow_mut();
            s.running = false;
            s.cancel = None;
            s.finished = Some(Finished { report, opts: kept });
            drop(s);
            json_to_js(&verdict?)
        })
    }

    /// Stops the run in progress cleanly: it ends at once with an `ERROR` and a failed
    /// `VERDICT` of type `Cancelled` (code `cancelled`), and `run()` resolves with that verdict.
    /// Before `run()`, the run is cancelled as it starts; after it has ended, this does nothing.
    pub fn cancel(&self) {
        let mut state = self.state.borrow_mut();
        if state.finished.is_some() {
            return;
        }
        state.cancel_requested = true;
        if let Some(stop) = state.cancel.take() {
            let _ = stop.send(());
        }
    }

    /// The run's overall time limit in milliseconds (the connect timeout is per step), so a page
    /// can show the time used against it.
    #[wasm_bindgen(getter, js_name = timeLimitMs)]
    pub fn time_limit_ms(&self) -> Option<f64> {
        self.time_limit_ms.map(|ms| ms as f64)
    }

    /// The events so far as JSON Lines (one `\n`-terminated line each).
    #[wasm_bindgen(js_name = eventsJsonl)]
    pub fn events_jsonl(&self) -> String {
        self.lines.borrow().concat()
    }

    /// What the bundle derives from the events so far (see the module docs): live during a
    /// run, so an `onEvent` callback can render it, and final once `run()` has resolved.
    #[wasm_bindgen(unchecked_return_type = "SessionView")]
    pub fn derived(&self) -> Result<JsValue, JsValue> {
        let view = SessionView::from_events(&self.events.borrow());
        json_to_js(&view_to_value(&view)?.to_string())
    }

    /// The largest file `openBundle` and `openEventLog` read, in bytes (bundle.md: 20 MiB),
    /// so a page can refuse a bigger one before reading it.
    #[wasm_bindgen(js_name = maxFileBytes)]
    pub fn max_file_bytes() -> f64 {
        MAX_BUNDLE_BYTES as f64
    }

    /// The connection id of the finished run (also in the relay's logs), or `undefined`.
    #[wasm_bindgen(getter, js_name = connectionId)]
    pub fn connection_id(&self) -> Option<String> {
        self.state
            .borrow()
            .finished
            .as_ref()
            .map(|f| f.report.connection_id.clone())
    }

    /// The evidence bundle as JSON: `bundle()` or `bundle({ redact: true })` is redacted,
    /// `bundle({ redact: false })` raw (still without any secret).
    pub fn bundle(
        &self,
        #[wasm_bindgen(unchecked_param_type = "BundleOptions | undefined")] options: JsValue,
    ) -> Result<String, JsValue> {
        let value = to_json_value(&options, "the options of bundle()")?;
        let redact = match &value {
            Value::Object(o) => {
                check_keys(o, &["redact"], "")?;
                match get(o, "redact") {
                    None => true,
                    Some(Value::Bool(b)) => *b,
                    Some(other) => {
                        return Err(js_error(format!(
                            "option `redact` must be a boolean, not {}",
                            json_kind(other)
                        )));
                    }
                }
            }
            _ => true,
        };
        let state = self.state.borrow();
        let Some(f) = state.finished.as_ref() else {
            return Err(js_error(if state.running {
                "the bundle is ready when run() has resolved"
            } else {
                "there is no bundle yet: call run() first"
            }));
        };
        Ok(bundle_json(&f.report, &f.opts, &BrowserEnv, redact))
    }

    /// Reads a bundle file (text, or bytes as a `Uint8Array`/`ArrayBuffer`) and checks its
    /// integrity: `{ bundle, integrity: "valid"|"mismatch"|"missing", integrityDetail }`.
    /// Throws an Error with a plain message when the file is not a bundle sshdiag can read.
    #[wasm_bindgen(js_name = openBundle, unchecked_return_type = "OpenedBundle")]
    pub fn open_bundle(
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array | ArrayBuffer")] input: JsValue,
    ) -> Result<JsValue, JsValue> {
        let parsed = match file_input(&input, "openBundle")? {
            FileInput::Text(text) => Bundle::from_json(&text),
            FileInput::Bytes(bytes) => Bundle::from_json_bytes(&bytes),
        };
        let bundle = parsed.map_err(|e| bundle_error(&e))?;
        let (integrity, integrity_detail) = match bundle.verify_integrity() {
            IntegrityStatus::Valid => (IntegrityCheck::Valid, None),
            IntegrityStatus::Missing => (IntegrityCheck::Missing, None),
            IntegrityStatus::Mismatch { expected, actual } => (
                IntegrityCheck::Mismatch,
                Some(IntegrityDetail { expected, actual }),
            ),
        };
        let derived = SessionView::from_bundle(&bundle);
        let out = OpenedBundle {
            bundle,
            integrity,
            integrity_detail,
            derived,
        };
        let text = serde_json::to_string(&out)
            .map_err(|e| js_error(format!("could not show the bundle (a bug): {e}")))?;
        json_to_js(&text)
    }

    /// Reads an event log (`events.jsonl`, or an nbs-ssh log) as `{ events, errors }`: every
    /// line that loads, in order, and `{ line, message }` for each line that does not (the
    /// rest still loads). Throws when nothing loads at all.
    #[wasm_bindgen(js_name = openEventLog, unchecked_return_type = "OpenedEventLog")]
    pub fn open_event_log(
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array | ArrayBuffer")] input: JsValue,
    ) -> Result<JsValue, JsValue> {
        let text = match file_input(&input, "openEventLog")? {
            FileInput::Text(text) => text,
            FileInput::Bytes(bytes) => {
                if bytes.len() > MAX_BUNDLE_BYTES {
                    return Err(too_large(bytes.len()));
                }
                String::from_utf8(bytes).map_err(|e| {
                    js_error(format!(
                        "this file is not text (invalid UTF-8 at byte {}), so it is not an event log",
                        e.utf8_error().valid_up_to()
                    ))
                })?
            }
        };
        if text.len() > MAX_BUNDLE_BYTES {
            return Err(too_large(text.len()));
        }
        let read = read_jsonl_with(&text, ReadOptions::nbs_ssh());
        if read.events.is_empty() {
            return Err(js_error(match read.errors.first() {
                Some(first) => format!(
                    "no event in this file could be read ({} bad lines; {first})",
                    read.errors.len()
                ),
                None => "this file is empty: it holds no event".to_string(),
            }));
        }
        let derived = SessionView::from_events(&read.events);
        let out = OpenedEventLog {
            events: read.events,
            errors: read.errors,
            derived,
        };
        let text = serde_json::to_string(&out)
            .map_err(|e| js_error(format!("could not show the events (a bug): {e}")))?;
        json_to_js(&text)
    }

    /// Forgets the host key this browser trusts for host:port, so the next run with
    /// `hostKeyPolicy: "accept-new"` trusts whatever key the server presents then. The page's
    /// deliberate "trust the new key" action after a `HostKeyMismatch`.
    #[wasm_bindgen(js_name = forgetHostKey)]
    pub fn forget_host_key(host: &str, port: u16) {
        forget(host.trim(), port);
    }
}
