//! The supervisor: the connection state machine (`STATE_CHANGE` events), retries with backoff
//! for transient failures only, keepalive round trips while commands are silent and while
//! holding, and the hold itself.
//!
//! States go `disconnected → connecting → connected`, and on a transient failure
//! `→ reconnecting` (with the reason) and after the backoff `→ connecting` again, so every
//! attempt and every failure is one event, until the retries run out (`→ failed`). State
//! changes are reported only when retries or keepalives were asked for. A retry starts from
//! a fresh [`Attempt`]; it never repeats authentication failures, host-key or input problems.

use russh::{Disconnect, client};
use serde_json::json;
use sshdiag_events::{
    Code, DisconnectReason, ErrorType, EventData, KeepaliveData, Level, StateChangeData,
    SupervisorState, Transport,
};

use super::attempt::{Attempt, Session};
use super::handshake::ProbeHandler;
use super::recorder::{Recorder, round3};
use crate::failure::{Failure, scrub};
use crate::hints;
use crate::options::KeepaliveConfig;

type Handle = client::Handle<ProbeHandler>;

/// Failures worth a retry: the network or the server may come back. Never authentication,
/// host keys, keys, algorithms, policy or input: retrying those only repeats the answer.
fn is_transient(e: ErrorType) -> bool {
    matches!(
        e,
        ErrorType::ConnectionRefused
            | ErrorType::ConnectionTimeout
            | ErrorType::HostUnreachable
            | ErrorType::DnsFailure
            | ErrorType::BannerTimeout
            | ErrorType::Disconnected
            | ErrorType::KeepaliveTimeout
            | ErrorType::ProxyUnreachable
    )
}

/// The reason a state change names for a failure.
pub fn failure_reason(f: &Failure) -> String {
    format!("{}: {}", f.error_type, scrub(&f.message))
}

/// The connection state of a run, across its attempts.
pub struct Supervisor {
    /// Whether state changes are reported (retries or keepalives were asked for).
    supervised: bool,
    state: SupervisorState,
    pub reconnections: u32,
}

impl Supervisor {
    pub fn new(supervised: bool) -> Self {
        Supervisor {
            supervised,
            state: SupervisorState::Disconnected,
            reconnections: 0,
        }
    }

    pub fn set_state(&mut self, rec: &mut Recorder, to: SupervisorState, reason: Option<String>) {
        if !self.supervised || self.state == to {
            return;
        }
        let from = std::mem::replace(&mut self.state, to);
        let level = match to {
            SupervisorState::Failed | SupervisorState::Reconnecting => Level::Warn,
            _ => Level::Info,
        };
        rec.emit(
            level,
            Code::StateChange,
            EventData::StateChange(StateChangeData {
                from_state: from,
                to_state: to,
                reconnection_count: self.reconnections,
                reason,
            }),
        );
    }

    /// After a failed attempt: give up (the failure comes back) or, for a transient failure
    /// with retries left, close what is left of the attempt, wait out the backoff and start
    /// the session afresh.
    pub async fn retry_or_give_up(
        &mut self,
        cx: &mut Session<'_>,
        slot: &mut Option<Handle>,
        failure: Failure,
    ) -> Result<(), Failure> {
        let Some(policy) = cx.opts.retry else {
            return Err(failure);
        };
        if !is_transient(failure.error_type) || self.reconnections >= policy.max_retries {
            return Err(failure);
        }
        self.reconnections += 1;
        let reason = failure_reason(&failure);
        self.set_state(cx.rec, SupervisorState::Reconnecting, Some(reason));
        if let Some(handle) = slot.take() {
            let _ = handle
                .disconnect(Disconnect::ByApplication, "sshdiag retrying", "en")
                .await;
        }
        if let Some(tap) = cx.at.tap.take() {
            tap.abort();
        }
        let mut b = [0u8; 2];
        cx.env.random_bytes(&mut b);
        let unit = u16::from_le_bytes(b) as f64 / 65536.0;
        cx.env
            .sleep(policy.delay_ms(self.reconnections, unit))
            .await;
        // Forget what the failed attempt learned; the events it produced stay in the stream.
        cx.at = Attempt::default();
        self.set_state(cx.rec, SupervisorState::Connecting, None);
        Ok(())
    }
}

impl Session<'_> {
    /// One keepalive round trip on the SSH connection; counts misses and fails after too many.
    pub async fn keepalive_round(
        &mut self,
        handle: &Handle,
        ka: KeepaliveConfig,
        missed: &mut u32,
    ) -> Result<(), Failure> {
        self.drain_later_steps();
        let t = self.now();
        let answered = {
            let ping = handle.send_ping();
            let timer = self.env.sleep(ka.interval_ms.max(1));
            tokio::pin!(ping, timer);
            tokio::select! {
                biased;
                r = &mut ping => Some(r),
                _ = &mut timer => None,
            }
        };
        match answered {
            // russh answers a ping on a dead session at once: check the session is alive.
            Some(Ok(())) if !handle.is_closed() => {
                *missed = 0;
                self.link.last_target_rtt_at = Some(self.now());
                self.rec.emit(
                    Level::Debug,
                    Code::KeepaliveOk,
                    EventData::Keepalive(KeepaliveData {
                        rtt_ms: Some(round3(self.now() - t)),
                        missed: 0,
                        path: Some("target".into()),
                    }),
                );
                Ok(())
            }
            Some(Ok(())) => Err(self.transport_failure(russh::Error::HUP)),
            Some(Err(e)) => Err(self.transport_failure(e)),
            None => self.keepalive_missed(ka, missed),
        }
    }

    fn keepalive_missed(&mut self, ka: KeepaliveConfig, missed: &mut u32) -> Result<(), Failure> {
        *missed += 1;
        self.rec.emit(
            Level::Warn,
            Code::KeepaliveMissed,
            EventData::Keepalive(KeepaliveData {
                rtt_ms: None,
                missed: *missed,
                path: Some("target".into()),
            }),
        );
        if *missed < ka.max_missed {
            return Ok(());
        }
        let secs = ka.interval_ms as f64 / 1000.0;
        let via_relay = self.link.transport == Transport::Websocket;
        let mut f = Failure::new(
            ErrorType::KeepaliveTimeout,
            format!("{missed} keepalives in a row got no answer (one every {secs} s)"),
        )
        .ctx("missed", json!(*missed))
        .ctx("interval_ms", json!(ka.interval_ms))
        .hints(hints::keepalive_timeout(
            via_relay,
            self.relay_answers_while_target_silent(),
        ))
        .disconnect(DisconnectReason::KeepaliveTimeout);
        f.phase = self.fail_phase();
        Err(f)
    }

    /// Through a relay: did the relay keep answering pings after the server went quiet?
    /// `Some(true)`: the silence is behind the relay; `Some(false)`: the relay went quiet too;
    /// `None`: no relay pings to judge by.
    fn relay_answers_while_target_silent(&self) -> Option<bool> {
        let relay = self.link.last_relay_rtt_at?;
        Some(relay > self.link.last_target_rtt_at.unwrap_or(0.0) + 1.0)
    }

    /// Stay connected for `hold_ms`, with a keepalive round trip every interval.
    pub async fn hold(&mut self, handle: &Handle) -> Result<(), Failure> {
        let ka = self.opts.keepalive.unwrap_or(KeepaliveConfig {
            interval_ms: 15_000,
            max_missed: 3,
        });
        let end = self.now() + self.opts.hold_ms as f64;
        let mut missed = 0;
        while self.now() < end {
            let wait = (end - self.now()).max(0.0).min(ka.interval_ms as f64) as u64;
            self.env.sleep(wait).await;
            if self.now() >= end {
                break;
            }
            self.keepalive_round(handle, ka, &mut missed).await?;
        }
        Ok(())
    }
}
