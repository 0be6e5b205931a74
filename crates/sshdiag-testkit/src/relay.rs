//! The real relay, in-process, on a free loopback port.
//!
//! [`RelayFixture::start`] builds `sshdiag_proxy::Config` from command-line words (so tests
//! exercise the same flags users type) with `--listen 127.0.0.1:0` and runs the relay with its
//! log lines kept in memory ([`RelayFixture::log_json`]) instead of on stdout.
//!
//! The relay is deny by default: pass the targets a test may reach as `--allow` patterns such
//! as `127.0.0.1/32:2222` (loopback is refused unless a CIDR names it).
//!
//! Dropping the fixture stops the relay: inside a tokio runtime it schedules the graceful
//! shutdown; [`RelayFixture::shutdown`] awaits it. The fixture's drain deadline is 1 s (not
//! the relay's 10 s default) unless the test passes `--drain-timeout` itself.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use sshdiag_proxy::{LogSink, MemoryLog, RunningRelay};

/// A running relay; stopped on drop.
pub struct RelayFixture {
    relay: Option<RunningRelay>,
    addr: SocketAddr,
    log: MemoryLog,
}

impl RelayFixture {
    /// Starts a relay on `127.0.0.1:0` that allows exactly these `--allow` patterns.
    pub async fn start(allow: Vec<String>) -> anyhow::Result<RelayFixture> {
        let mut args = Vec::new();
        for pattern in allow {
            args.push("--allow".to_string());
            args.push(pattern);
        }
        RelayFixture::start_with_args(args).await
    }

    /// Starts a relay on `127.0.0.1:0` with these extra command-line words
    /// (`--allow`, `--token-secret-file`, `--max-connections`, `--demo`…).
    pub async fn start_with_args<I, S>(args: I) -> anyhow::Result<RelayFixture>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let extra: Vec<String> = args.into_iter().map(Into::into).collect();
        let mut words = vec![
            "sshdiag-proxy".to_string(),
            "--listen".to_string(),
            "127.0.0.1:0".to_string(),
            "--log-format".to_string(),
            "json".to_string(),
        ];
        if !extra.iter().any(|w| w.starts_with("--drain-timeout")) {
            words.extend(["--drain-timeout".to_string(), "1s".to_string()]);
        }
        words.extend(extra);
        let config = sshdiag_proxy::Config::try_parse_from(&words)
            .with_context(|| format!("relay flags {:?}", &words[1..]))?;
        let log = MemoryLog::new();
        let relay = sshdiag_proxy::start_with_log_sink(config, LogSink::Memory(log.clone()))
            .await
            .context("starting the relay")?;
        let addr = relay.local_addr();
        Ok(RelayFixture {
            relay: Some(relay),
            addr,
            log,
        })
    }

    /// The address the relay listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/ws`, the relay endpoint.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// `http://127.0.0.1:PORT/`, where the page is served.
    pub fn http_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The relay itself (`demo_addr()`, `active_connections()`…).
    pub fn relay(&self) -> Option<&RunningRelay> {
        self.relay.as_ref()
    }

    /// Every log line so far, as written.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lines()
    }

    /// Every log line so far, parsed (the relay logs JSON in this fixture).
    pub fn log_json(&self) -> Vec<serde_json::Value> {
        self.log.json()
    }

    /// The live in-memory log (a cheap clone that keeps seeing new lines).
    pub fn log_handle(&self) -> MemoryLog {
        self.log.clone()
    }

    /// Graceful shutdown, awaited.
    pub async fn shutdown(mut self) {
        if let Some(relay) = self.relay.take() {
            relay.shutdown().await;
        }
    }
}

impl Drop for RelayFixture {
    fn drop(&mut self) {
        let Some(relay) = self.relay.take() else {
            return;
        };
        // Outside a runtime there is nothing to run the shutdown on; the relay's tasks die
        // with the runtime that started them.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(relay.shutdown());
        }
    }
}
