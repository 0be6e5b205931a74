//! The event recorder and the phase clock.
//!
//! The [`Recorder`] keeps the event stream of a run: it assigns `seq`, stamps the time and
//! hands each event to the caller's callback the moment it is made. The [`PhaseClock`] adds up
//! how long each phase took, for the verdict's `phases`. Neither knows anything about SSH; they
//! must never hold a secret (events are formatted from evidence only).

use std::collections::BTreeMap;
use std::sync::Arc;

use sshdiag_events::codes::Phase;
use sshdiag_events::{Code, Event, EventData, Hop, Level, timestamp_from_unix_ms};

use crate::runtime::Env;

/// Keeps the event stream of a run.
pub struct Recorder {
    pub connection_id: String,
    env: Arc<dyn Env>,
    pub events: Vec<Event>,
    on_event: Box<dyn FnMut(&Event)>,
    /// In a jump-host run, the hop the next events belong to.
    pub hop: Option<Hop>,
    /// In a jump-host run, the time the jump hosts of this attempt spent in each phase: the
    /// verdict's `phases` add them to the target's, so the timeline shows the whole path.
    pub hop_phases: BTreeMap<Phase, f64>,
}

impl Recorder {
    pub fn new(connection_id: String, env: Arc<dyn Env>, on_event: Box<dyn FnMut(&Event)>) -> Self {
        Recorder {
            connection_id,
            env,
            events: Vec::new(),
            on_event,
            hop: None,
            hop_phases: BTreeMap::new(),
        }
    }

    /// Make the next event and hand it to the caller at once.
    pub fn emit(&mut self, level: Level, code: Code, data: EventData) {
        let event = Event {
            timestamp: timestamp_from_unix_ms(self.env.now_unix_ms()),
            connection_id: self.connection_id.clone(),
            seq: self.events.len() as u64,
            level,
            code: code.as_str().to_string(),
            data,
            hop: self.hop.clone(),
        };
        (self.on_event)(&event);
        self.events.push(event);
    }
}

/// The time spent in each phase of one attempt, and the phase running now.
#[derive(Debug, Default)]
pub struct PhaseClock {
    pub phases: BTreeMap<Phase, f64>,
    /// The phase running now and when it started (monotonic ms).
    pub current: Option<(Phase, f64)>,
}

impl PhaseClock {
    /// End the running phase (if any) and start `phase` at `now`.
    pub fn start(&mut self, phase: Phase, now: f64) {
        self.end(now);
        self.current = Some((phase, now));
    }

    /// End the running phase at `now`, adding its time to its total.
    pub fn end(&mut self, now: f64) {
        if let Some((ph, start)) = self.current.take() {
            let d = (now - start).max(0.0);
            *self.phases.entry(ph).or_insert(0.0) += round3(d);
        }
    }

    /// A phase measured elsewhere (by the connector).
    pub fn set(&mut self, phase: Phase, ms: f64) {
        self.phases.insert(phase, round3(ms));
    }

    /// Add `ms` to a phase's total.
    pub fn add(&mut self, phase: Phase, ms: f64) {
        *self.phases.entry(phase).or_insert(0.0) += round3(ms);
    }

    /// Every phase's total as if the running one ended at `now` (the clock is not changed).
    pub fn totals_at(&self, now: f64) -> BTreeMap<Phase, f64> {
        let mut totals = self.phases.clone();
        if let Some((ph, start)) = self.current {
            *totals.entry(ph).or_insert(0.0) += round3((now - start).max(0.0));
        }
        totals
    }

    /// The phase a failure happened in: the one running now.
    pub fn running(&self) -> Option<Phase> {
        self.current.map(|(p, _)| p)
    }
}

/// Milliseconds as the events carry them: rounded to the microsecond.
pub fn round3(x: f64) -> f64 {
    sshdiag_events::round_thousandths(x)
}

/// Make a random connection id (10 hex digits, like the spec's example).
pub fn new_connection_id(env: &dyn Env) -> String {
    let mut b = [0u8; 5];
    env.random_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}
