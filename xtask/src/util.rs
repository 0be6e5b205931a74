//! Small helpers shared by the tasks: where the workspace is, how to call cargo, how to run a
//! command and fail with a useful line.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::{Context, bail};

/// The workspace root (the parent of xtask's manifest dir), whatever the caller's cwd.
pub fn project_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `cargo` as the one that runs us (`$CARGO`), started in the workspace root.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(project_root());
    // A CI run builds once from a clean clone: the incremental cache is gigabytes of disk it
    // never reads back (and CI's disk is the budget a clean build must fit in).
    if std::env::var_os("CI").is_some() && std::env::var_os("CARGO_INCREMENTAL").is_none() {
        command.env("CARGO_INCREMENTAL", "0");
    }
    command
}

/// A short display of a command for error lines.
pub fn describe(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// Runs `cargo build ARGS --message-format=json-render-diagnostics` and returns the files of
/// the artifacts it produced (executables and libraries), so callers never guess the target
/// directory.
pub fn cargo_build(args: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let mut words = vec!["build"];
    words.extend(args);
    cargo_artifacts(&words)
}

/// Runs `cargo ARGS --message-format=json-render-diagnostics` (`build`, or `test --no-run`)
/// and returns the files of the artifacts it produced.
pub fn cargo_artifacts(args: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let mut command = cargo();
    command
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped());
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", describe(&command)))?;
    let mut files = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading cargo's messages")?;
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if message["reason"] != "compiler-artifact" {
                continue;
            }
            if let Some(executable) = message["executable"].as_str() {
                files.push(PathBuf::from(executable));
            }
            if let Some(names) = message["filenames"].as_array() {
                files.extend(names.iter().filter_map(|n| n.as_str()).map(PathBuf::from));
            }
        }
    }
    let status = child.wait().context("waiting for cargo build")?;
    if !status.success() {
        bail!("{} failed ({status})", describe(&command));
    }
    Ok(files)
}

/// The artifact file whose name is exactly `file_name`.
pub fn find_artifact(files: &[PathBuf], file_name: &str) -> anyhow::Result<PathBuf> {
    files
        .iter()
        .find(|f| f.file_name().is_some_and(|n| n == file_name))
        .cloned()
        .with_context(|| format!("cargo build produced no `{file_name}`"))
}

/// Builds the wasm32 test runner (`xtask/runner`: the pinned `wasm-bindgen-cli`'s runner, the
/// path `.cargo/config.toml` names) and returns its path. Only the tasks that run wasm tests
/// build it, so the demo never compiles the whole CLI crate.
pub fn build_wasm_test_runner() -> anyhow::Result<PathBuf> {
    let files = cargo_build(&[
        "-p",
        "sshdiag-wasm-runner",
        "--bin",
        "wasm-bindgen-test-runner",
    ])?;
    find_artifact(&files, "wasm-bindgen-test-runner")
}

/// What a `cargo test` run reported, summed over its `test result:` lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct TestCounts {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    /// How many test binaries reported a result.
    pub suites: u64,
}

impl TestCounts {
    /// Adds the counts of one `test result: ok. 3 passed; 0 failed; 1 ignored; …` line.
    pub fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result:") else {
            return;
        };
        self.suites += 1;
        let words: Vec<&str> = rest
            .split(|c: char| c.is_whitespace() || c == ';' || c == '.')
            .filter(|w| !w.is_empty())
            .collect();
        for pair in words.windows(2) {
            let Ok(n) = pair[0].parse::<u64>() else {
                continue;
            };
            match pair[1] {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }

    pub fn add(&mut self, other: TestCounts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
        self.suites += other.suites;
    }
}

/// Runs a `cargo test` command, passing its stdout through line by line while counting the
/// `test result:` lines. Returns the exit status and the counts.
///
/// A process a test leaves running may hold the stdout pipe open after cargo has exited; the
/// output is then read for 5 s more, `end_leftovers` is called (it must end such processes),
/// and reading stops at the latest 5 s after that.
pub fn run_counting(
    command: &mut Command,
    end_leftovers: &dyn Fn(),
) -> anyhow::Result<(ExitStatus, TestCounts)> {
    command.stdout(Stdio::piped());
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", describe(command)))?;
    let stdout = child.stdout.take().context("cargo test's stdout")?;
    let (done_sender, done) = mpsc::channel();
    let counts = Arc::new(Mutex::new(TestCounts::default()));
    let reader_counts = Arc::clone(&counts);
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        let out = std::io::stdout();
        while let Ok(n) = reader.read_until(b'\n', &mut line) {
            if n == 0 {
                break;
            }
            let mut out = out.lock();
            let _ = out.write_all(&line);
            let _ = out.flush();
            if let Ok(mut counts) = reader_counts.lock() {
                counts.add_line(&String::from_utf8_lossy(&line));
            }
            line.clear();
        }
        let _ = done_sender.send(());
    });
    let status = child.wait().context("waiting for cargo test")?;
    if done.recv_timeout(Duration::from_secs(5)).is_err() {
        end_leftovers();
        let _ = done.recv_timeout(Duration::from_secs(5));
    }
    let counts = *counts
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Ok((status, counts))
}

#[cfg(test)]
mod tests {
    use super::TestCounts;

    #[test]
    fn counts_libtest_and_wasm_bindgen_result_lines() {
        let mut counts = TestCounts::default();
        counts.add_line("test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 2.30s");
        counts.add_line(
            "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 filtered out; finished in 0.50s",
        );
        counts.add_line("running 3 tests");
        assert_eq!(
            (counts.passed, counts.failed, counts.ignored, counts.suites),
            (4, 2, 1, 2)
        );
    }
}
