//! JSON Lines: writing events one per line, reading a stream back, and collecting a session's
//! events in order.
//!
//! # Wire format
//!
//! One [`Event`] per line: a compact JSON object (no newlines inside; strings escape them) with
//! the envelope keys `event_type`, `timestamp`, `connection_id`, `seq`, `level`, `code`, `data`,
//! followed by `\n`. Lines are UTF-8. A writer emits each line as the event happens, so a crash
//! leaves every earlier line intact. `timestamp` is Unix time in seconds rounded to milliseconds
//! (three decimals), as nbs-ssh writes it.
//!
//! # Reading
//!
//! [`read_jsonl`] loads what it can: a line that is not JSON, is not an object, lacks envelope
//! keys or carries `data` the event type does not accept is reported in
//! [`JsonlRead::errors`] with its 1-based line number, and every other line still loads. Blank
//! lines are ignored; a leading byte-order mark and `\r\n` line ends are accepted.
//!
//! ## nbs-ssh lines
//!
//! nbs-ssh's lines have only `event_type`, `timestamp` and `data`. The spec says a line lacking
//! envelope keys is reported, and [`read_jsonl`] keeps that promise: a stream that silently
//! loses `seq` or `code` is a damaged sshdiag stream, and filling in defaults would hide it.
//! The envelope keys therefore have **no serde defaults**. nbs-ssh users instead opt in with
//! [`read_jsonl_with`] and [`ReadOptions::nbs_ssh`]: missing `connection_id` becomes `""`,
//! missing `seq` the line's position among loaded events, missing `level` is inferred
//! (`ERROR` → `error`, a failure status → `warn`, else `info`) and missing `code` is inferred
//! from the type and status where the catalog has one (`AUTH` failed → `auth-rejected`), else
//! `""`. `event_type`, `timestamp` and `data` stay required in both modes.
//!
//! # Collecting
//!
//! [`EventCollector`] is the producer's side: it assigns `connection_id` and `seq` (0, 1, 2 …
//! without gaps), rounds timestamps, keeps every event in memory and, when given a sink, hands
//! each event and its finished line to the sink the moment it is pushed (nbs-ssh's "file +
//! in-memory" option). This module never does I/O itself: the sink decides where lines go.

use serde::Deserialize;
use serde_json::Value;

use crate::codes::{Code, ErrorType};
use crate::event::{Event, EventData, EventType, Level};
use crate::precision::round_thousandths;

/// The envelope keys every sshdiag line carries.
pub const ENVELOPE_KEYS: [&str; 7] = [
    "event_type",
    "timestamp",
    "connection_id",
    "seq",
    "level",
    "code",
    "data",
];

/// Rounds a Unix time in seconds to the envelope's millisecond precision (three decimals), with
/// [`round_thousandths`]: a time that is not a finite number becomes `0.0`.
pub fn round_timestamp(seconds: f64) -> f64 {
    round_thousandths(seconds)
}

/// Serialises one event as one JSON line, `\n` included.
pub fn to_line(event: &Event) -> String {
    match serde_json::to_string(event) {
        Ok(mut line) => {
            line.push('\n');
            line
        }
        // Serialising our own types cannot fail (every map key is a string); should it ever,
        // the stream still gets a well-formed line that says so instead of a torn one.
        Err(error) => {
            let fallback = serde_json::json!({
                "event_type": "ERROR",
                "timestamp": round_timestamp(event.timestamp),
                "connection_id": event.connection_id,
                "seq": event.seq,
                "level": "error",
                "code": Code::Internal.as_str(),
                "data": {
                    "error_type": "Internal",
                    "message": format!("sshdiag could not serialise event {}: {error}", event.seq),
                },
            });
            format!("{fallback}\n")
        }
    }
}

/// Serialises events as JSON Lines, one line each.
pub fn to_jsonl(events: &[Event]) -> String {
    events.iter().map(to_line).collect()
}

/// A line that did not load, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct LineError {
    /// The line number, from 1.
    pub line: usize,
    /// Why the line did not load, in one sentence.
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// What [`read_jsonl`] made of a stream: the events that loaded, in stream order, and one
/// error per line that did not.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct JsonlRead {
    /// The events that loaded, in stream order.
    pub events: Vec<Event>,
    /// One error per non-blank line that did not load.
    pub errors: Vec<LineError>,
}

impl JsonlRead {
    /// True when every non-blank line loaded.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }
}

/// How strictly [`read_jsonl_with`] treats the envelope. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadOptions {
    /// Accept nbs-ssh lines, which lack `connection_id`, `seq`, `level` and `code`, and fill
    /// those in.
    pub accept_nbs_ssh: bool,
}

impl ReadOptions {
    /// The spec's rule: every envelope key is required.
    pub fn strict() -> ReadOptions {
        ReadOptions {
            accept_nbs_ssh: false,
        }
    }

    /// Also load nbs-ssh lines, filling in the envelope keys they lack.
    pub fn nbs_ssh() -> ReadOptions {
        ReadOptions {
            accept_nbs_ssh: true,
        }
    }
}

/// Reads a JSON Lines stream strictly (every envelope key required); see the module docs.
pub fn read_jsonl(text: &str) -> JsonlRead {
    read_jsonl_with(text, ReadOptions::strict())
}

/// Reads a JSON Lines stream with the given options; see the module docs.
pub fn read_jsonl_with(text: &str, options: ReadOptions) -> JsonlRead {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut read = JsonlRead::default();
    for (index, raw_line) in text.split('\n').enumerate() {
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if line.trim().is_empty() {
            continue;
        }
        let next_seq = read.events.len() as u64;
        match parse_line(line, options, next_seq) {
            Ok(event) => read.events.push(event),
            Err(message) => read.errors.push(LineError {
                line: index + 1,
                message,
            }),
        }
    }
    read
}

/// Parses one line (without its `\n`) into an event, or says in one sentence why not.
/// `next_seq` is the `seq` given to an nbs-ssh line that has none.
pub fn parse_line(line: &str, options: ReadOptions, next_seq: u64) -> Result<Event, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| describe_json_error(&e))?;
    let Value::Object(mut object) = value else {
        return Err(format!(
            "not a JSON object but {}; each line must be one event object",
            json_kind(&value)
        ));
    };
    let missing: Vec<&str> = ENVELOPE_KEYS
        .iter()
        .copied()
        .filter(|key| !object.contains_key(*key))
        .collect();
    if !missing.is_empty() {
        let seed_keys_present = ["event_type", "timestamp", "data"]
            .iter()
            .all(|key| object.contains_key(*key));
        if options.accept_nbs_ssh && seed_keys_present {
            fill_nbs_ssh_envelope(&mut object, next_seq);
        } else {
            let mut message = format!("missing envelope key(s): {}", missing.join(", "));
            if seed_keys_present {
                message.push_str(
                    " (this looks like an nbs-ssh line; read the stream in nbs-ssh mode to \
                     load it)",
                );
            }
            return Err(message);
        }
    }
    Event::deserialize(&Value::Object(object)).map_err(|e| e.to_string())
}

/// A serde_json error as a sentence without its "line 1" (the caller reports the line).
fn describe_json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let reason = match text.rfind(" at line ") {
        Some(cut) => &text[..cut],
        None => text.as_str(),
    };
    format!("not JSON (column {}): {reason}", error.column())
}

/// "an array", "a string" …, for messages about JSON of the wrong shape.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Fills the envelope keys an nbs-ssh line lacks; see the module docs.
fn fill_nbs_ssh_envelope(object: &mut serde_json::Map<String, Value>, next_seq: u64) {
    let event_type = object
        .get("event_type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let data = object.get("data").cloned().unwrap_or(Value::Null);
    if !object.contains_key("connection_id") {
        object.insert("connection_id".into(), Value::String(String::new()));
    }
    if !object.contains_key("seq") {
        object.insert("seq".into(), Value::from(next_seq));
    }
    if !object.contains_key("level") {
        let level = infer_level(&event_type, &data);
        object.insert(
            "level".into(),
            serde_json::to_value(level).unwrap_or(Value::Null),
        );
    }
    if !object.contains_key("code") {
        let code = infer_code(&event_type, &data)
            .map(Code::as_str)
            .unwrap_or_default();
        object.insert("code".into(), Value::String(code.to_string()));
    }
}

fn infer_level(event_type: &str, data: &Value) -> Level {
    let status = data.get("status").and_then(Value::as_str);
    let reason = data.get("reason").and_then(Value::as_str);
    match (event_type, status, reason) {
        ("ERROR", _, _) => Level::Error,
        (_, Some("failed"), _) => Level::Warn,
        ("DISCONNECT", _, Some(reason)) if reason != "normal" => Level::Warn,
        _ => Level::Info,
    }
}

/// The catalog code an nbs-ssh event of this type and status corresponds to, if any.
pub fn infer_code(event_type: &str, data: &Value) -> Option<Code> {
    let status = data
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match EventType::from_wire(event_type)? {
        EventType::Connect => match status {
            "initiating" => Some(Code::ConnectInitiating),
            "connected" => Some(Code::ConnectEstablished),
            _ => None,
        },
        EventType::Auth => match status {
            "attempt" => Some(Code::AuthAttempt),
            "success" => Some(Code::AuthSuccess),
            "failed" => Some(Code::AuthRejected),
            "partial" => Some(Code::AuthPartial),
            _ => None,
        },
        EventType::Exec => Some(Code::ExecFinished),
        EventType::Forward => match status {
            "establishing" => Some(Code::ForwardEstablishing),
            "established" => Some(Code::ForwardEstablished),
            "closed" => Some(Code::ForwardClosed),
            "failed" => Some(Code::ForwardFailed),
            _ => None,
        },
        EventType::StateChange => Some(Code::StateChange),
        EventType::Keepalive => match data.get("missed").and_then(Value::as_u64) {
            Some(missed) if missed > 0 => Some(Code::KeepaliveMissed),
            _ => Some(Code::KeepaliveOk),
        },
        EventType::Disconnect => match data.get("reason").and_then(Value::as_str) {
            Some("normal") => Some(Code::DisconnectNormal),
            Some(_) => Some(Code::DisconnectUnexpected),
            None => None,
        },
        EventType::Error => data
            .get("error_type")
            .and_then(Value::as_str)
            .and_then(ErrorType::from_wire)
            .map(ErrorType::code),
        _ => None,
    }
}

/// An event waiting for its `connection_id` and `seq`, which an [`EventCollector`] assigns.
#[derive(Debug, Clone, PartialEq)]
pub struct EventBuilder {
    /// The severity; `info` unless set.
    pub level: Level,
    /// The message code's wire name.
    pub code: String,
    /// The typed data.
    pub data: EventData,
    /// Unix seconds; rounded to milliseconds when the event is built.
    pub timestamp: f64,
}

impl EventBuilder {
    /// An `info` event at time zero; set the level and time with the other methods.
    pub fn new(code: Code, data: EventData) -> EventBuilder {
        EventBuilder {
            level: Level::Info,
            code: code.as_str().to_string(),
            data,
            timestamp: 0.0,
        }
    }

    /// Sets the severity.
    pub fn level(mut self, level: Level) -> EventBuilder {
        self.level = level;
        self
    }

    /// Sets the time from Unix seconds.
    pub fn at(mut self, timestamp_secs: f64) -> EventBuilder {
        self.timestamp = timestamp_secs;
        self
    }

    /// Sets the time from Unix milliseconds.
    pub fn at_unix_ms(mut self, unix_ms: f64) -> EventBuilder {
        self.timestamp = unix_ms / 1000.0;
        self
    }

    /// The finished event with this envelope.
    pub fn build(self, connection_id: &str, seq: u64) -> Event {
        Event {
            timestamp: round_timestamp(self.timestamp),
            connection_id: connection_id.to_string(),
            seq,
            level: self.level,
            code: self.code,
            data: self.data,
            hop: None,
        }
    }
}

/// Where an [`EventCollector`] streams each event as it is pushed: given the event and its
/// finished JSON line (`\n` included). It may write a file, post to a channel or call into
/// JavaScript; this crate never does I/O itself.
pub type EventSink = Box<dyn FnMut(&Event, &str)>;

/// Keeps one session's events in order, assigning `connection_id` and `seq` (0, 1, 2 … with no
/// gaps), and optionally streams each one to a sink as it is pushed.
pub struct EventCollector {
    connection_id: String,
    events: Vec<Event>,
    sink: Option<EventSink>,
}

impl std::fmt::Debug for EventCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventCollector")
            .field("connection_id", &self.connection_id)
            .field("events", &self.events.len())
            .field("sink", &self.sink.is_some())
            .finish()
    }
}

impl EventCollector {
    /// An in-memory collector for the session with this id.
    pub fn new(connection_id: impl Into<String>) -> EventCollector {
        EventCollector {
            connection_id: connection_id.into(),
            events: Vec::new(),
            sink: None,
        }
    }

    /// A collector that also streams every event to `sink` as it is pushed.
    pub fn with_sink(
        connection_id: impl Into<String>,
        sink: impl FnMut(&Event, &str) + 'static,
    ) -> EventCollector {
        let mut collector = EventCollector::new(connection_id);
        collector.set_sink(sink);
        collector
    }

    /// Streams every event pushed from now on to `sink` (replacing any earlier sink).
    pub fn set_sink(&mut self, sink: impl FnMut(&Event, &str) + 'static) {
        self.sink = Some(Box::new(sink));
    }

    /// Appends an event, filling in `connection_id` and the next `seq`, rounding the timestamp
    /// (Unix seconds) to milliseconds, and streaming it to the sink. Returns the stored event.
    pub fn push(
        &mut self,
        level: Level,
        code: Code,
        data: EventData,
        timestamp_secs: f64,
    ) -> &Event {
        self.push_built(
            EventBuilder::new(code, data)
                .level(level)
                .at(timestamp_secs),
        )
    }

    /// Appends a built event; see [`EventCollector::push`].
    pub fn push_built(&mut self, builder: EventBuilder) -> &Event {
        let event = builder.build(&self.connection_id, self.events.len() as u64);
        if let Some(sink) = self.sink.as_mut() {
            let line = to_line(&event);
            sink(&event, &line);
        }
        self.events.push(event);
        &self.events[self.events.len() - 1]
    }

    /// The id of the session whose events this collects.
    pub fn connection_id(&self) -> &str {
        &self.connection_id
    }

    /// Every event so far, in `seq` order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The events with `seq >= from`, for a front end polling for new ones.
    pub fn events_since(&self, from: u64) -> &[Event] {
        let start = usize::try_from(from)
            .unwrap_or(usize::MAX)
            .min(self.events.len());
        &self.events[start..]
    }

    /// The events of one type (nbs-ssh's `collector.get_by_type("AUTH")`).
    pub fn by_type(&self, event_type: EventType) -> impl Iterator<Item = &Event> {
        self.events
            .iter()
            .filter(move |event| event.data.event_type() == Some(event_type))
    }

    /// The `seq` the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.events.len() as u64
    }

    /// How many events so far.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True before the first event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Every event so far as JSON Lines.
    pub fn to_jsonl(&self) -> String {
        to_jsonl(&self.events)
    }

    /// The events, giving up the collector.
    pub fn into_events(self) -> Vec<Event> {
        self.events
    }
}
