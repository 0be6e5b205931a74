//! The CLI's diagnostic log on stderr, for developers and bug reports: off unless `RUST_LOG`
//! asks (`RUST_LOG=russh=debug` shows russh's own lines, `RUST_LOG=sshdiag_cli=debug` the
//! connectors' spans, each carrying the run's `connection_id`). The diagnosis itself is the
//! event stream, not this log.
//!
//! What this module must never do: show a secret. Library lines are capped at `debug`, since
//! their `trace` lines print raw WebSocket frames and SSH packets, which carry the relay
//! token and passwords; a `RUST_LOG` asking for more gets `debug`.

use tracing_log::AsLog as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterExt as _, LevelFilter, filter_fn};
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};

/// Installs the stderr log if `RUST_LOG` is set; does nothing otherwise, or when a log is
/// already installed.
pub fn init() {
    let Ok(rust_log) = std::env::var("RUST_LOG") else {
        return;
    };
    let filter = EnvFilter::builder().parse_lossy(rust_log);
    let max = filter
        .max_level_hint()
        .unwrap_or(LevelFilter::OFF)
        .min(LevelFilter::DEBUG);
    // Ours may trace; libraries stop at debug (see the module docs).
    let no_library_trace = filter_fn(|meta| {
        *meta.level() < tracing::Level::TRACE || meta.target().starts_with("sshdiag")
    });
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(filter.and(no_library_trace));
    if tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).is_err()
    {
        return;
    }
    let _ = tracing_log::LogTracer::builder()
        .with_max_level(max.as_log())
        .init();
}
