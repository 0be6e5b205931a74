//! The `sshdiag-fixtures` process (a real sshd and relay in a process of their own, their facts
//! as one JSON line), for the wasm browser test tier and the bench in xtask.
//!
//! It must never leave the process running: stopping closes its stdin, and drop stops it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The `sshdiag-fixtures` process: a real sshd and relay, held until its stdin closes.
pub struct FixturesProcess {
    /// The process itself (its pid is spared when a run ends leftovers around it).
    pub child: Child,
    /// Its JSON line, as `SSHDIAG_TEST_<KEY>` → value.
    pub facts: BTreeMap<String, String>,
    log: PathBuf,
}

impl FixturesProcess {
    /// Starts `binary` (the `sshdiag-fixtures` program) with `args`, its stderr in `log`, and
    /// reads its JSON line; fails (and stops it) when none comes within 120 s.
    pub fn start(binary: &Path, args: &[&str], log: &Path) -> anyhow::Result<FixturesProcess> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = Command::new(binary)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("fixtures stdout")?;
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let mut fixtures = FixturesProcess {
            child,
            facts: BTreeMap::new(),
            log: log.to_path_buf(),
        };
        let line = match receiver.recv_timeout(Duration::from_secs(120)) {
            Ok(line) if !line.trim().is_empty() => line,
            _ => {
                fixtures.stop();
                fixtures.print_log_tail();
                bail!("sshdiag-fixtures did not print its JSON line");
            }
        };
        let parsed: serde_json::Value = match serde_json::from_str(&line) {
            Ok(value) => value,
            Err(error) => {
                fixtures.stop();
                bail!("sshdiag-fixtures printed no JSON ({error})");
            }
        };
        let Some(object) = parsed.as_object() else {
            fixtures.stop();
            bail!("sshdiag-fixtures printed JSON that is not an object");
        };
        for (key, value) in object {
            let value = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            fixtures
                .facts
                .insert(format!("SSHDIAG_TEST_{}", key.to_uppercase()), value);
        }
        Ok(fixtures)
    }

    /// Closes its stdin and waits for it to clean up; kills it after 15 s. True when it exited
    /// by itself with success.
    pub fn stop(&mut self) -> bool {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return false;
                }
            }
        }
    }

    /// Prints the last lines of its log to stderr, after a failure.
    pub fn print_log_tail(&self) {
        if let Ok(log) = std::fs::read_to_string(&self.log) {
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("--- sshdiag-fixtures log (last lines) ---");
            for line in &lines[lines.len().saturating_sub(30)..] {
                eprintln!("{line}");
            }
        }
    }
}

impl Drop for FixturesProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}
