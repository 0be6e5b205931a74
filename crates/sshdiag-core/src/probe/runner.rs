//! The runner: one diagnosis from the options to the report. It checks the options, then runs
//! the stages in order (connect → handshake → auth → session check → exec → forward probe →
//! hold) under the run's time limit, lets the supervisor retry transient failures with a fresh
//! attempt, and always ends with the verdict.
//!
//! It owns the session handle between stages (the stages borrow it) and never formats a
//! secret; keys are decoded here (by the front end's `Env::decode_key`), once per attempt, and handed
//! to the auth stage.

use std::sync::Arc;

use russh::client;
use sshdiag_events::bundle::TranscriptEntry;
use sshdiag_events::{
    AuditData, Code, ConnectData, ConnectStatus, ErrorType, Event, EventData, Level, VerdictData,
};

use super::attempt::{Link, Session};
use super::handshake::ProbeHandler;
use super::recorder::{Recorder, new_connection_id};
use super::supervisor::Supervisor;
use super::verdict::run_timeout;
use crate::failure::Failure;
use crate::hints;
use crate::hostkey::TrustStore;
use crate::options::{AgentSource, AuthPlan, Credential, ProbeOptions};
use crate::runtime::Env;
use crate::transport::Connector;

/// Everything a diagnosis produced.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub connection_id: String,
    pub started_unix_ms: f64,
    pub events: Vec<Event>,
    pub verdict: VerdictData,
    /// The commands of the last attempt, as the bundle's transcript holds them.
    pub commands: Vec<TranscriptEntry>,
    /// The proxy URL used, without credentials.
    pub proxy: Option<String>,
    /// The algorithm audit of the server's offer, when its KEXINIT was seen.
    pub audit: Vec<AuditData>,
}

impl ProbeReport {
    /// The exit status of the last command that ran, if any.
    pub fn last_exit_code(&self) -> Option<i64> {
        self.commands.iter().rev().find_map(|c| c.exit_code)
    }
}

type Handle = client::Handle<ProbeHandler>;

/// Run one diagnosis. Never fails: every outcome is in the report, ending with `VERDICT`.
pub async fn run<C: Connector>(
    opts: ProbeOptions,
    connector: &mut C,
    env: Arc<dyn Env>,
    trust: &mut dyn TrustStore,
    on_event: Box<dyn FnMut(&Event)>,
) -> ProbeReport {
    let never = futures::future::pending::<()>();
    run_cancellable(opts, connector, env, trust, on_event, never).await
}

/// [`run`], stopped when `cancel` completes: the stages are cut off where they are (as the
/// time limit cuts them) and the run ends with a `Cancelled` failure and its `VERDICT`.
pub async fn run_cancellable<C: Connector>(
    opts: ProbeOptions,
    connector: &mut C,
    env: Arc<dyn Env>,
    trust: &mut dyn TrustStore,
    on_event: Box<dyn FnMut(&Event)>,
    cancel: impl std::future::Future<Output = ()>,
) -> ProbeReport {
    let connection_id = opts
        .connection_id
        .clone()
        .unwrap_or_else(|| new_connection_id(env.as_ref()));
    let started_unix_ms = env.now_unix_ms();
    let proxy = connector.proxy_url();
    let mut rec = Recorder::new(connection_id.clone(), env.clone(), on_event);
    let mut link = Link::new(proxy.clone());
    let transport = link.transport;
    let mut cx = Session::new(&opts, env.clone(), &mut rec, &mut link);
    cx.rec.emit(
        Level::Info,
        Code::ConnectInitiating,
        EventData::Connect(ConnectData {
            status: Some(ConnectStatus::Initiating),
            host: opts.host.clone(),
            port: opts.port,
            username: Some(opts.username.clone()),
            transport: Some(transport),
            proxy: proxy.clone(),
            auth_method: None,
            source: None,
        }),
    );
    let mut sup = Supervisor::new(opts.retry.is_some() || opts.keepalive.is_some());
    let mut slot: Option<Handle> = None;
    // The jump hosts' sessions, which carry the target's and stay open until it is closed.
    let mut chain: Vec<Handle> = Vec::new();
    let result = {
        let mut attempts = Attempts {
            sup: &mut sup,
            connector,
            trust,
            slot: &mut slot,
            chain: &mut chain,
        };
        let steps = async {
            let r = supervise(&mut cx, &mut attempts).await;
            // After the attempts, whatever their outcome, while the verdict is still to come.
            if cx.opts.deep_audit {
                cx.deep_audit(attempts.connector).await;
            }
            let mut r = r;
            if cx.opts.host_key_inventory
                && let Some(keys) = cx.scan_host_keys(attempts.connector).await
                && let Err(f) = &mut r
                && matches!(f.code, Code::HostKeyMismatch | Code::HostKeyTypeChanged)
            {
                // The scan tells a changed key from a type the server merely prefers now: that
                // answer comes first.
                let trusted = cx.at.trusted_keys.clone();
                let found = super::inventory::scan_conclusions(&keys, &trusted);
                f.hints.splice(0..0, found);
            }
            r
        };
        let timer = match opts.timeout_ms {
            Some(ms) => env.sleep(ms),
            None => Box::pin(futures::future::pending::<()>()),
        };
        tokio::pin!(steps, timer, cancel);
        tokio::select! {
            biased;
            r = &mut steps => Ok(r),
            _ = &mut cancel => Err(true),
            _ = &mut timer => Err(false),
        }
    };
    let result = match result {
        Ok(r) => r,
        Err(cancelled) => {
            // The stages were cut off mid-way: their session goes without a goodbye, as a
            // session a stage held would.
            slot = None;
            let phase = cx.fail_phase();
            Err(match cancelled {
                true => run_cancelled(phase),
                false => run_timeout(opts.timeout_ms, phase),
            })
        }
    };
    cx.finish(&mut sup, &mut slot, result).await;
    // The jump hosts' sessions close after the target's, the nearest first.
    while let Some(h) = chain.pop() {
        let _ = h
            .disconnect(russh::Disconnect::ByApplication, "sshdiag finished", "en")
            .await;
    }
    let commands = std::mem::take(&mut cx.at.commands);
    let audit = std::mem::take(&mut cx.at.audit);
    let verdict = match rec.events.last().map(|e| &e.data) {
        Some(EventData::Verdict(v)) => v.clone(),
        _ => VerdictData::default(),
    };
    ProbeReport {
        connection_id,
        started_unix_ms,
        events: std::mem::take(&mut rec.events),
        verdict,
        commands,
        proxy,
        audit,
    }
}

/// What a run's attempts share besides the session: the supervisor, the way in, the trusted
/// host keys, the target's session handle (`slot`) and the jump hosts' (`chain`).
struct Attempts<'r, C> {
    sup: &'r mut Supervisor,
    connector: &'r mut C,
    trust: &'r mut dyn TrustStore,
    slot: &'r mut Option<Handle>,
    chain: &'r mut Vec<Handle>,
}

/// The failure of a run stopped by [`run_cancellable`]'s `cancel`, in `phase`.
fn run_cancelled(phase: Option<sshdiag_events::codes::Phase>) -> Failure {
    let phase_name = phase
        .map(sshdiag_events::codes::Phase::as_str)
        .unwrap_or("start");
    Failure::new(
        ErrorType::Cancelled,
        format!("the diagnosis was cancelled (it was in the {phase_name} phase)"),
    )
    .hint("Nothing failed: the run was stopped before it finished. Run it again to get a verdict.")
    .ctx("phase", serde_json::json!(phase_name))
    .disconnect(sshdiag_events::DisconnectReason::Cancelled)
}

/// The attempts of a run: the stages, and after a transient failure a fresh attempt, until
/// one succeeds or the supervisor gives up.
async fn supervise<C: Connector>(
    cx: &mut Session<'_>,
    run: &mut Attempts<'_, C>,
) -> Result<(), Failure> {
    run.sup
        .set_state(cx.rec, sshdiag_events::SupervisorState::Connecting, None);
    loop {
        let failure = match steps(cx, run).await {
            Ok(()) => return Ok(()),
            Err(f) => f,
        };
        run.sup.retry_or_give_up(cx, run.slot, failure).await?;
    }
}

/// One attempt: every stage in order. The session handle goes into `slot` as soon as the
/// handshake made it, so that whatever fails later, the verdict can close it.
async fn steps<C: Connector>(
    cx: &mut Session<'_>,
    run: &mut Attempts<'_, C>,
) -> Result<(), Failure> {
    precheck(cx).await?;
    let handle = if cx.opts.jump.is_empty() {
        let stream = cx.connect_transport(run.connector).await?;
        run.slot.insert(cx.handshake(stream, run.trust).await?)
    } else {
        let stream = cx
            .through_jump_hosts(run.connector, run.trust, run.chain)
            .await?;
        run.slot.insert(cx.handshake(stream, run.trust).await?)
    };
    cx.authenticate(handle).await?;
    run.sup
        .set_state(cx.rec, sshdiag_events::SupervisorState::Connected, None);
    if cx.at.auth_method.is_some() {
        cx.announced_host_keys(handle).await;
    }
    if cx.opts.session_check && cx.at.auth_method.is_some() {
        cx.session_check(handle).await?;
    }
    for command in &cx.opts.commands {
        cx.exec(handle, command).await?;
    }
    if let Some((host, port)) = &cx.opts.forward_probe {
        cx.forward_probe(handle, host, *port).await?;
    }
    if cx.opts.hold_ms > 0 {
        cx.hold(handle).await?;
    }
    Ok(())
}

/// Everything before the first byte: options that cannot work are reported without
/// connecting (bad algorithm names, unreadable keys).
pub(super) async fn precheck(cx: &mut Session<'_>) -> Result<(), Failure> {
    let lists = cx.opts.algorithms.resolve().map_err(|m| {
        Failure::new(ErrorType::InvalidInput, m.clone())
            .hint("Fix the algorithm option; the message lists what sshdiag supports.")
    })?;
    lists
        .to_russh()
        .map_err(|m| Failure::new(ErrorType::InvalidInput, m))?;
    cx.at.lists = Some(lists);
    let AuthPlan::Credentials(creds) = &cx.opts.auth else {
        return Ok(());
    };
    let mut keys = Vec::with_capacity(creds.len());
    for c in creds {
        keys.push(match c {
            Credential::PrivateKey {
                key_text,
                passphrase,
                label,
                certificate,
            } => {
                let label = label.clone().unwrap_or_else(|| "the private key".into());
                let key = decode_key(
                    cx.env.as_ref(),
                    key_text.expose(),
                    passphrase.as_ref().map(|p| p.expose()),
                    &label,
                )
                .await?;
                if let Some(text) = certificate {
                    cx.describe_certificate(text, &key, &label)?;
                }
                Some(Arc::new(key))
            }
            Credential::Agent(AgentSource::Unavailable(why)) => {
                return Err(Failure::new(ErrorType::AgentError, why.clone())
                    .hints(hints::agent_unavailable()));
            }
            _ => None,
        });
    }
    if creds.is_empty() {
        return Err(Failure::new(ErrorType::InvalidInput, "no credential was given")
            .hint("Give a password, a private key or keyboard-interactive answers, or use probe-only mode."));
    }
    cx.at.keys = keys;
    Ok(())
}

/// Decode a private key through the front end's decoder; a failure says whether the
/// passphrase or the file is at fault.
async fn decode_key(
    env: &dyn Env,
    text: &str,
    passphrase: Option<&str>,
    label: &str,
) -> Result<russh::keys::PrivateKey, Failure> {
    env.decode_key(text, passphrase).await.map_err(|problem| {
        let (message, hint) = hints::key_load_failure(label, &problem, passphrase.is_some());
        Failure::new(ErrorType::KeyLoadError, message)
            .hint(hint)
            .ctx("key", serde_json::json!(label))
    })
}
