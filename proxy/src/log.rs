//! The relay's log: one line per event, JSON by default (`--log-format text` for humans),
//! produced through `tracing`: the relay emits `tracing` events (each connection's inside a
//! `connection` span that carries `connection_id`, `client_ip`, `target` and `peer` once
//! known), and [`RelayLines`], a `tracing-subscriber` layer, writes them in the format below.
//! `RUST_LOG` filters (default `sshdiag_proxy=info`, which is every relay line); libraries'
//! own lines (russh, tungstenite, hyper) appear on demand, e.g. `RUST_LOG=russh=debug`, with
//! `code` `library` and a `module` key naming where they came from.
//!
//! Wire format (JSON Lines, one object per line, UTF-8):
//!
//! | key | always | meaning |
//! |---|---|---|
//! | `ts` | yes | RFC 3339 UTC timestamp with milliseconds |
//! | `level` | yes | `info`, `warn` or `error` (`debug` for library lines on demand) |
//! | `code` | yes | a stable code from `sshdiag_events::Code` (`relay-…`, `demo-server-started`), or `library` |
//! | `connection_id` | when known | the id the client sent in its connect frame |
//! | `client_ip` | per connection | the WebSocket peer's IP address |
//! | `target` | when known | `host:port` the client asked for |
//! | `peer` | once connected | the address actually connected to |
//! | `ms` | when timed | duration of the step (resolve, connect, session) |
//! | `bytes_up` / `bytes_down` | at close | client→target and target→client byte counts |
//! | `module` | library lines | the library module that wrote the line (`russh::server`…) |
//! | `message` | yes | one sentence for humans |
//!
//! Keys without a value are left out rather than written as `null`.
//!
//! Architecture invariant: nothing secret is ever passed to this module. Tokens, in
//! particular, never reach a [`LogLine`]; the session code logs only the target the token was
//! checked against. Library lines are capped at `debug`: their `trace` lines print WebSocket
//! frames, connect frame (and so token) included, and are dropped whatever `RUST_LOG` says.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sshdiag_events::Code;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Subscriber};
use tracing_log::AsLog as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

/// The `tracing` target of the relay's own lines; the default filter shows all of them.
pub const TARGET: &str = "sshdiag_proxy";

/// The span field that holds the client's `host:port` (`target` is a word `tracing`'s macros
/// reserve); it is written as the `target` key.
pub(crate) const TARGET_FIELD: &str = "relay_target";

/// Severity of a log line: the same four words as an event's level.
pub use sshdiag_events::Level;

/// One event of the relay's log.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub ts: String,
    pub level: Level,
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_up: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_down: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    pub message: String,
}

impl LogLine {
    /// A line with the current time and only the required fields set.
    pub fn new(level: Level, code: Code, message: impl Into<String>) -> Self {
        LogLine {
            ts: rfc3339_now(),
            level,
            code: code.as_str(),
            connection_id: None,
            client_ip: None,
            target: None,
            peer: None,
            ms: None,
            bytes_up: None,
            bytes_down: None,
            module: None,
            message: message.into(),
        }
    }

    /// A warning about a client that has no session (yet): the line names its IP.
    pub fn client_warning(
        client: std::net::IpAddr,
        code: Code,
        message: impl Into<String>,
    ) -> Self {
        let mut line = LogLine::new(Level::Warn, code, message);
        line.client_ip = Some(client.to_string());
        line
    }

    /// Emits this line as a `tracing` event of the relay, inside whatever span is current;
    /// the span's connection fields fill the keys this line leaves empty.
    pub fn emit(&self) {
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(
                    target: TARGET,
                    $level,
                    code = self.code,
                    connection_id = self.connection_id.as_deref(),
                    client_ip = self.client_ip.as_deref(),
                    relay_target = self.target.as_deref(),
                    peer = self.peer.as_deref(),
                    ms = self.ms,
                    bytes_up = self.bytes_up,
                    bytes_down = self.bytes_down,
                    "{}",
                    self.message
                )
            };
        }
        match self.level {
            Level::Debug => event!(tracing::Level::DEBUG),
            Level::Info => event!(tracing::Level::INFO),
            Level::Warn => event!(tracing::Level::WARN),
            Level::Error => event!(tracing::Level::ERROR),
        }
    }

    fn to_json(&self) -> String {
        // Serialising a struct of strings and numbers cannot fail; fall back to a minimal
        // line rather than panic if it ever did.
        serde_json::to_string(self).unwrap_or_else(|_| {
            format!(
                "{{\"level\":\"error\",\"code\":\"{}\",\"message\":\"log line not serialisable\"}}",
                self.code
            )
        })
    }

    fn to_text(&self) -> String {
        let mut line = format!(
            "{} {:5} {}",
            self.ts,
            format!("{:?}", self.level).to_uppercase(),
            self.code
        );
        let fields: [(&str, Option<String>); 8] = [
            ("id", self.connection_id.clone()),
            ("client", self.client_ip.clone()),
            ("target", self.target.clone()),
            ("peer", self.peer.clone()),
            ("ms", self.ms.map(|ms| format!("{ms:.1}"))),
            ("up", self.bytes_up.map(|b| b.to_string())),
            ("down", self.bytes_down.map(|b| b.to_string())),
            ("module", self.module.clone()),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                let _ = write!(line, " {key}={}", printable(&value));
            }
        }
        let _ = write!(line, " — {}", printable(&self.message));
        line
    }
}

/// The keys a span or an event may carry, as they were recorded.
#[derive(Debug, Clone, Default)]
struct Fields {
    code: Option<String>,
    connection_id: Option<String>,
    client_ip: Option<String>,
    target: Option<String>,
    peer: Option<String>,
    ms: Option<f64>,
    bytes_up: Option<u64>,
    bytes_down: Option<u64>,
    message: Option<String>,
    /// `log` records bridged into `tracing` name their origin here.
    log_target: Option<String>,
}

impl Fields {
    /// Fills what `self` lacks from `outer` (an enclosing span).
    fn inherit(&mut self, outer: &Fields) {
        let fill = |mine: &mut Option<String>, theirs: &Option<String>| {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        };
        fill(&mut self.connection_id, &outer.connection_id);
        fill(&mut self.client_ip, &outer.client_ip);
        fill(&mut self.target, &outer.target);
        fill(&mut self.peer, &outer.peer);
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        let slot = match field.name() {
            "code" => &mut self.code,
            "connection_id" => &mut self.connection_id,
            "client_ip" => &mut self.client_ip,
            TARGET_FIELD => &mut self.target,
            "peer" => &mut self.peer,
            "message" => &mut self.message,
            "log.target" => &mut self.log_target,
            _ => return,
        };
        *slot = Some(value.to_string());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "ms" {
            self.ms = Some(value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "bytes_up" => self.bytes_up = Some(value),
            "bytes_down" => self.bytes_down = Some(value),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `message` arrives here as formatted arguments; other keys of ours are strings.
        self.record_str(field, &format!("{value:?}"));
    }
}

/// The `tracing-subscriber` layer that writes the relay's lines (see the module docs).
pub struct RelayLines {
    logger: Logger,
}

impl RelayLines {
    pub fn new(sink: LogSink, format: LogFormat) -> Self {
        RelayLines {
            logger: Logger::new(sink, format),
        }
    }
}

impl<S> Layer<S> for RelayLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            if let Some(fields) = extensions.get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let ours = meta.target().starts_with(TARGET);
        if !ours && *meta.level() == tracing::Level::TRACE {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if let Some(outer) = span.extensions().get::<Fields>() {
                    fields.inherit(outer);
                }
            }
        }
        let level = match *meta.level() {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            _ => Level::Debug,
        };
        let code = fields.code.as_deref().and_then(Code::from_wire);
        let mut line = LogLine::new(level, code.unwrap_or(Code::RelayStarted), "");
        if code.is_none() {
            line.code = "library";
            line.module = Some(
                fields
                    .log_target
                    .take()
                    .unwrap_or_else(|| meta.target().to_string()),
            );
        }
        line.message = fields.message.take().unwrap_or_default();
        line.connection_id = fields.connection_id;
        line.client_ip = fields.client_ip;
        line.target = fields.target;
        line.peer = fields.peer;
        line.ms = fields.ms;
        line.bytes_up = fields.bytes_up;
        line.bytes_down = fields.bytes_down;
        self.logger.write(&line);
    }
}

/// Emits `line` through the relay's subscriber `dispatch`, inside whatever span is current.
pub fn emit_with(dispatch: &tracing::Dispatch, line: &LogLine) {
    tracing::dispatcher::with_default(dispatch, || line.emit());
}

/// The relay's filter: `sshdiag_proxy=info` (every relay line), plus the directives of
/// `rust_log` (`RUST_LOG`). A `RUST_LOG` that names `sshdiag_proxy` itself sets the relay's
/// own level; invalid directives are skipped rather than fatal.
pub fn filter(rust_log: Option<&str>) -> EnvFilter {
    let user = rust_log.unwrap_or("").trim();
    let mut directives = Vec::new();
    if !user.contains(TARGET) {
        directives.push(format!("{TARGET}=info"));
    }
    if !user.is_empty() {
        directives.push(user.to_string());
    }
    EnvFilter::builder().parse_lossy(directives.join(","))
}

/// The relay's log subscriber: [`RelayLines`] behind [`filter`]. With [`LogSink::Stdout`] (the
/// binary) the filter reads `RUST_LOG`, the subscriber becomes the process's default (so
/// library lines from any task reach it) and `log` records (russh, tungstenite) are bridged
/// into it, at most at `debug`. A memory sink (tests) takes the relay's own lines only.
pub fn dispatch(sink: LogSink, format: LogFormat) -> tracing::Dispatch {
    let stdout = matches!(sink, LogSink::Stdout);
    let rust_log = if stdout {
        std::env::var("RUST_LOG").ok()
    } else {
        None
    };
    let filter = filter(rust_log.as_deref());
    let max = filter
        .max_level_hint()
        .unwrap_or(LevelFilter::INFO)
        .min(LevelFilter::DEBUG);
    let subscriber =
        tracing_subscriber::registry().with(RelayLines::new(sink, format).with_filter(filter));
    let dispatch = tracing::Dispatch::new(subscriber);
    if stdout {
        // Both fail only when another subscriber or logger was installed first (a host
        // program, or a second relay in one process); the relay's own lines still go out.
        let _ = tracing::dispatcher::set_global_default(dispatch.clone());
        let _ = tracing_log::LogTracer::builder()
            .with_max_level(max.as_log())
            .init();
    }
    dispatch
}

/// Escapes control characters, so text that came from a client cannot start a new log line.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// Where log lines go: stdout (the default) or memory (tests).
#[derive(Clone, Default)]
pub enum LogSink {
    /// Print each line on stdout.
    #[default]
    Stdout,
    /// Keep each line in memory; see [`MemoryLog`].
    Memory(MemoryLog),
}

/// An in-memory log for tests: every formatted line, in order.
#[derive(Clone, Default)]
pub struct MemoryLog {
    lines: Arc<Mutex<Vec<String>>>,
}

impl MemoryLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every line written so far, formatted as the configured `--log-format` would print it.
    pub fn lines(&self) -> Vec<String> {
        match self.lines.lock() {
            Ok(lines) => lines.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Every line that parses as JSON (all of them with `--log-format json`).
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    fn push(&self, line: String) {
        match self.lines.lock() {
            Ok(mut lines) => lines.push(line),
            Err(poisoned) => poisoned.into_inner().push(line),
        }
    }
}

/// The relay's logger: a sink plus a format. Cheap to clone.
#[derive(Clone)]
pub struct Logger {
    sink: LogSink,
    format: LogFormat,
}

impl Logger {
    pub fn new(sink: LogSink, format: LogFormat) -> Self {
        Logger { sink, format }
    }

    /// Writes one formatted line to the sink.
    pub fn write(&self, line: &LogLine) {
        let text = match self.format {
            LogFormat::Json => line.to_json(),
            LogFormat::Text => line.to_text(),
        };
        match &self.sink {
            LogSink::Stdout => {
                let stdout = std::io::stdout();
                let mut lock = stdout.lock();
                let _ = writeln!(lock, "{text}");
                let _ = lock.flush();
            }
            LogSink::Memory(memory) => memory.push(text),
        }
    }
}

/// Now as `2025-11-21T06:03:00.123Z`.
pub fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (year, month, day, hour, minute, second) = civil_from_unix(now.as_secs());
    format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{:03}Z",
        now.subsec_millis()
    )
}

/// Splits Unix seconds into UTC (year, month, day, hour, minute, second).
pub use sshdiag_events::civil::civil_from_unix;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_unix(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil_from_unix(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil_from_unix(1_763_704_980), (2025, 11, 21, 6, 3, 0));
    }

    #[test]
    fn text_lines_cannot_be_split_by_client_text() {
        let memory = MemoryLog::new();
        let dispatch = dispatch(LogSink::Memory(memory.clone()), LogFormat::Text);
        let mut line = LogLine::new(Level::Warn, Code::RelayDenied, "bad host `a\nFAKE`");
        line.target = Some("x\r\ny:22".into());
        emit_with(&dispatch, &line);
        let lines = memory.lines();
        assert_eq!(lines.len(), 1);
        assert!(!lines[0].contains('\n') && !lines[0].contains('\r'));
        assert!(lines[0].contains("a\\nFAKE"));
    }

    #[test]
    fn json_lines_leave_out_missing_fields() {
        let memory = MemoryLog::new();
        let dispatch = dispatch(LogSink::Memory(memory.clone()), LogFormat::Json);
        let mut line = LogLine::new(Level::Info, Code::RelayClosed, "closed");
        line.connection_id = Some("c1".into());
        line.bytes_up = Some(3);
        emit_with(&dispatch, &line);
        let json = memory.json();
        assert_eq!(json.len(), 1);
        assert_eq!(json[0]["code"], "relay-closed");
        assert_eq!(json[0]["connection_id"], "c1");
        assert_eq!(json[0]["bytes_up"], 3);
        assert!(json[0].get("peer").is_none());
    }

    #[test]
    fn span_fields_fill_the_line_and_the_filter_keeps_libraries_out() {
        let memory = MemoryLog::new();
        let dispatch = dispatch(LogSink::Memory(memory.clone()), LogFormat::Json);
        tracing::dispatcher::with_default(&dispatch, || {
            let span = tracing::info_span!(
                target: TARGET,
                "connection",
                client_ip = "192.0.2.7",
                connection_id = tracing::field::Empty,
                relay_target = tracing::field::Empty,
            );
            let _entered = span.enter();
            span.record("connection_id", "c7f3");
            span.record(TARGET_FIELD, "example.com:22");
            let mut line = LogLine::new(Level::Info, Code::RelayResolved, "resolved");
            line.ms = Some(1.5);
            line.emit();
            tracing::debug!(target: "russh::client", "a library line");
            tracing::info!(target: "russh::client", "another library line");
        });
        let json = memory.json();
        assert_eq!(json.len(), 1, "{json:?}");
        assert_eq!(json[0]["code"], "relay-resolved");
        assert_eq!(json[0]["connection_id"], "c7f3");
        assert_eq!(json[0]["client_ip"], "192.0.2.7");
        assert_eq!(json[0]["target"], "example.com:22");
        assert_eq!(json[0]["ms"], 1.5);
        assert_eq!(json[0]["level"], "info");
    }

    #[test]
    fn rust_log_adds_library_lines_without_hiding_the_relays() {
        let on_demand = filter(Some("russh=debug"));
        let text = on_demand.to_string();
        assert!(
            text.contains("sshdiag_proxy=info") && text.contains("russh=debug"),
            "{text}"
        );
        let quiet = filter(Some("sshdiag_proxy=warn"));
        assert!(!quiet.to_string().contains("sshdiag_proxy=info"));
        assert!(filter(None).to_string().contains("sshdiag_proxy=info"));
    }
}
