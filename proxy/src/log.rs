//! The relay's log: one line per event, JSON by default (`--log-format text` for humans).
//!
//! Wire format (JSON Lines, one object per line, UTF-8):
//!
//! | key | always | meaning |
//! |---|---|---|
//! | `ts` | yes | RFC 3339 UTC timestamp with milliseconds |
//! | `level` | yes | `info`, `warn` or `error` |
//! | `code` | yes | a stable code from `sshdiag_events::Code` (`relay-…`, `demo-server-started`) |
//! | `connection_id` | when known | the id the client sent in its connect frame |
//! | `client_ip` | per connection | the WebSocket peer's IP address |
//! | `target` | when known | `host:port` the client asked for |
//! | `peer` | once connected | the address actually connected to |
//! | `ms` | when timed | duration of the step (resolve, connect, session) |
//! | `bytes_up` / `bytes_down` | at close | client→target and target→client byte counts |
//! | `message` | yes | one sentence for humans |
//!
//! Keys without a value are left out rather than written as `null`.
//!
//! Architecture invariant: nothing secret is ever passed to this module. Tokens, in
//! particular, never reach a [`LogLine`]; the session code logs only the target the token was
//! checked against.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sshdiag_events::Code;

use crate::config::LogFormat;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warn,
    Error,
}

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
            message: message.into(),
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
        let fields: [(&str, Option<String>); 7] = [
            ("id", self.connection_id.clone()),
            ("client", self.client_ip.clone()),
            ("target", self.target.clone()),
            ("peer", self.peer.clone()),
            ("ms", self.ms.map(|ms| format!("{ms:.1}"))),
            ("up", self.bytes_up.map(|b| b.to_string())),
            ("down", self.bytes_down.map(|b| b.to_string())),
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

    pub fn emit(&self, line: LogLine) {
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
/// Howard Hinnant's `civil_from_days`, valid for every date a relay will see.
pub fn civil_from_unix(unix: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (unix / 86_400) as i64;
    let rem = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

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
        let logger = Logger::new(LogSink::Memory(memory.clone()), LogFormat::Text);
        let mut line = LogLine::new(Level::Warn, Code::RelayDenied, "bad host `a\nFAKE`");
        line.target = Some("x\r\ny:22".into());
        logger.emit(line);
        let lines = memory.lines();
        assert_eq!(lines.len(), 1);
        assert!(!lines[0].contains('\n') && !lines[0].contains('\r'));
        assert!(lines[0].contains("a\\nFAKE"));
    }

    #[test]
    fn json_lines_leave_out_missing_fields() {
        let memory = MemoryLog::new();
        let logger = Logger::new(LogSink::Memory(memory.clone()), LogFormat::Json);
        let mut line = LogLine::new(Level::Info, Code::RelayClosed, "closed");
        line.connection_id = Some("c1".into());
        line.bytes_up = Some(3);
        logger.emit(line);
        let json = memory.json();
        assert_eq!(json.len(), 1);
        assert_eq!(json[0]["code"], "relay-closed");
        assert_eq!(json[0]["connection_id"], "c1");
        assert_eq!(json[0]["bytes_up"], 3);
        assert!(json[0].get("peer").is_none());
    }
}
