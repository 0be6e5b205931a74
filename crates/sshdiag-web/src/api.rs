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
//! await Diagnostics.openBundle(text);   // { bundle, integrity, integrityDetail, derived } or rejects
//! await Diagnostics.openEventLog(text); // { events, errors, derived } from an events.jsonl
//! Diagnostics.loadViewer();       // fetches the viewer's module now (openBundle does on first use)
//! await Diagnostics.loadKeyFormats(keyText); // fetches the key-format module now if that key needs it
//! Diagnostics.maxFileBytes();     // the largest file openBundle/openEventLog read (20 MiB)
//! Diagnostics.forgetHostKey("example.com", 22);
//! d.cancel();                     // stops a run: it ends with a `Cancelled` VERDICT
//! d.timeLimitMs;                  // the run's overall time limit (ms)
//! ```
//!
//! Decisions the contract leaves open:
//!
//! - The options are checked and read in `options.rs` (its module docs list the defaults,
//!   `jump` and `trustedHostCas`).
//! - `run()` may be called once per `Diagnostics`: the secrets (password, passphrase, key,
//!   answers, relay token, the jump hosts' credentials) are handed to the core when it starts
//!   and dropped when it ends; the object keeps only the report and the options without
//!   `auth`/`token` (and without each jump host's `auth`). A second call
//!   rejects with an Error saying so. `run()` rejects only on such misuse, never on an SSH or
//!   network failure: those are in the verdict.
//! - `openBundle(input)` and `openEventLog(input)` are the viewer's (`sshdiag-viewer`, whose
//!   module docs say what they take and return), a second wasm module that a run never needs:
//!   here they return a Promise, which fetches that module on the first call (`viewer.rs`) and
//!   then resolves to what its function returns, or rejects with the Error it throws (with its
//!   `kind`: `"not-json"`, `"looks-like-jsonl"`, …; `"viewer-unavailable"` when the module
//!   could not be fetched). `loadViewer()` fetches it ahead of time.
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

use serde_json::Value;
use sshdiag_core::report::bundle_json;
use sshdiag_core::{AuthPlan, ProbeOptions, ProbeReport};
use sshdiag_events::jsonl::json_kind;
use sshdiag_events::{Event, MAX_BUNDLE_BYTES, SessionView, to_line};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::env::BrowserEnv;
use crate::js_error;
use crate::options::{Pending, check_keys, get, parse_options, to_json_value};
use crate::transport::BrowserRelayConnector;
use crate::trust::{LocalStorageTrust, forget};
use crate::viewer::{viewer_call, viewer_ready};

// What `openBundle`/`openEventLog` resolve to is declared once, by the viewer's module.
#[wasm_bindgen(typescript_custom_section)]
const VIEWER_TYPES: &'static str = r#"
import type { OpenedBundle, OpenedEventLog, IntegrityCheck, IntegrityDetail } from "./sshdiag_viewer.js";
export type { OpenedBundle, OpenedEventLog, IntegrityCheck, IntegrityDetail };
"#;

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

/// A view of a session as a JS object; see the module docs.
fn view_to_value(view: &SessionView) -> Result<Value, JsValue> {
    sshdiag_events::bundle::json_tree(view)
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
                host_cas,
            } = pending;
            let mut kept = opts.clone();
            kept.auth = AuthPlan::Probe;
            // The jump hosts' own credentials go with the rest.
            for hop in &mut kept.jump {
                hop.auth = None;
            }
            let mut connector = BrowserRelayConnector {
                url: proxy_url,
                token,
            };
            let mut trust = LocalStorageTrust { host_cas };
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
    /// integrity; resolves to `{ bundle, integrity, integrityDetail, derived }`, rejects with an
    /// Error with a plain message (and a `kind`) when the file is not a bundle sshdiag can read.
    /// The first call fetches the viewer's module (see the module docs).
    #[wasm_bindgen(js_name = openBundle, unchecked_return_type = "Promise<OpenedBundle>")]
    pub fn open_bundle(
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array | ArrayBuffer")] input: JsValue,
    ) -> js_sys::Promise {
        viewer_call("openBundle", &input)
    }

    /// Reads an event log (`events.jsonl`, or an nbs-ssh log); resolves to
    /// `{ events, errors, derived }`: every line that loads, in order, and `{ line, message }`
    /// for each line that does not (the rest still loads). Rejects when nothing loads at all.
    /// The first call fetches the viewer's module (see the module docs).
    #[wasm_bindgen(js_name = openEventLog, unchecked_return_type = "Promise<OpenedEventLog>")]
    pub fn open_event_log(
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array | ArrayBuffer")] input: JsValue,
    ) -> js_sys::Promise {
        viewer_call("openEventLog", &input)
    }

    /// Fetches the viewer's module now (a page calls it when the person turns to opening a
    /// file), so the first `openBundle` does not wait for it; resolves once it is ready.
    #[wasm_bindgen(js_name = loadViewer, unchecked_return_type = "Promise<void>")]
    pub fn load_viewer() -> js_sys::Promise {
        viewer_ready()
    }

    /// Fetches the key-format module now if `key` is a private key in a format other than
    /// OpenSSH's own (PKCS#8, legacy PEM, PuTTY), so the run does not wait for it; resolves to
    /// whether it was needed, once it is ready. Nothing is decoded here and the key is not kept.
    /// A page calls it when a key is chosen or pasted; a failed fetch rejects (the run itself
    /// tries again and says why it could not).
    #[wasm_bindgen(js_name = loadKeyFormats, unchecked_return_type = "Promise<boolean>")]
    pub fn load_key_formats(key: &str) -> js_sys::Promise {
        if !sshdiag_core::keydecode::in_other_format(key) {
            return js_sys::Promise::resolve(&JsValue::FALSE);
        }
        let loading = wasm_bindgen_futures::JsFuture::from(crate::keys::load_key_formats());
        wasm_bindgen_futures::future_to_promise(async move {
            loading.await?;
            Ok(JsValue::TRUE)
        })
    }

    /// Forgets the host key this browser trusts for host:port, so the next run with
    /// `hostKeyPolicy: "accept-new"` trusts whatever key the server presents then. The page's
    /// deliberate "trust the new key" action after a `HostKeyMismatch`.
    #[wasm_bindgen(js_name = forgetHostKey)]
    pub fn forget_host_key(host: &str, port: u16) {
        forget(host.trim(), port);
    }
}
