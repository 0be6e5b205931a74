//! Processes the tests start, and the process table under `/proc` for cleaning up after them:
//! who is whose child, and which are zombies. Used by the fixtures (killing an sshd's or a
//! WebDriver server's whole tree) and by xtask (ending what a test run left behind).
//!
//! It must never signal a process that is not a descendant of one the caller started.

use anyhow::Context as _;
use std::io::Write as _;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};

/// Runs `command` to its end, asserts that it succeeded (the failure names `what` and shows
/// its stderr), and returns its stdout as text. For tests, where a tool that fails is a failed
/// test.
pub fn stdout_of(command: &mut Command, what: &str) -> String {
    stdout_of_fed(command, &[], what)
}

/// [`stdout_of`], with `input` written to the command's standard input.
pub fn stdout_of_fed(command: &mut Command, input: &[u8], what: &str) -> String {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .unwrap_or_else(|error| panic!("{what}: writing its input: {error}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The open-files limit the bench asks for: 10,000 relayed sessions hold 20,000 sockets in the
/// relay (WebSocket + TCP) and as many in the load generator (clients + the target it serves).
pub const BENCH_NOFILE: u64 = 65_536;

/// Raises this process's soft limit of open files to the hard one (the processes it starts
/// inherit it): for the bench, which opens thousands of sockets. As root, the hard limit itself
/// is first raised to [`BENCH_NOFILE`] when it is lower (where the sandbox permits it; a
/// container without `CAP_SYS_RESOURCE` keeps its hard limit). Returns the limit in force after.
pub fn raise_nofile() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_max < BENCH_NOFILE {
            let wanted = libc::rlimit {
                rlim_cur: BENCH_NOFILE,
                rlim_max: BENCH_NOFILE,
            };
            // Only root may raise the hard limit; otherwise the soft one goes to the hard one.
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                return BENCH_NOFILE;
            }
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
            limit.rlim_max
        } else {
            0
        }
    }
}

/// Every pid in `/proc`.
pub fn pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .collect()
}

/// A process's parent pid and state letter (`R`, `S`, `Z`, …), from `/proc/PID/stat`.
pub fn stat(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: the fields start after the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// The parent of `pid`, if it exists.
pub fn parent_pid(pid: u32) -> Option<u32> {
    stat(pid).map(|(ppid, _)| ppid)
}

/// All living descendants of `root` (not `root` itself), parents before children. Zombies are
/// left out: they are dead already, and reaping is their parent's business.
pub fn descendants(root: u32) -> Vec<u32> {
    let links: Vec<(u32, u32)> = pids()
        .into_iter()
        .filter_map(|pid| match stat(pid) {
            Some((ppid, state)) if state != 'Z' => Some((pid, ppid)),
            _ => None,
        })
        .collect();
    let mut found = vec![root];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        for &(pid, ppid) in &links {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
            }
        }
        index += 1;
    }
    found.remove(0);
    found
}

/// Children of `parent` that have exited and wait to be reaped.
pub fn zombie_children(parent: u32) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|&pid| stat(pid).is_some_and(|(ppid, state)| ppid == parent && state == 'Z'))
        .collect()
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(_, state)| state != 'Z')
}

/// Sends `signal` to each of `pids`.
pub fn signal_all(pids: &[u32], signal: libc::c_int) {
    for &pid in pids {
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }
}

/// Kills `pid` and all its descendants with SIGKILL. sshd's per-connection processes call
/// setsid(), so a process-group kill would miss them: walk the parent links in /proc instead.
pub fn kill_tree(pid: u32) {
    let mut doomed = descendants(pid);
    doomed.push(pid);
    signal_all(&doomed, libc::SIGKILL);
}

/// Spawns `command` so that the kernel kills it (SIGKILL) when this process dies, even by
/// SIGKILL or a test harness timeout, when no Drop runs.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not the process, and
/// test threads and tokio's blocking threads come and go. So every fixture process is forked
/// by one spawner thread that lives as long as the process.
pub fn spawn_dying_with_this_process(mut command: Command) -> std::io::Result<Child> {
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("sshdiag-fixture-spawner".into())
            .spawn(move || {
                for (mut command, reply) in receiver {
                    let _ = reply.send(command.spawn());
                }
            })
            .map(|_| ())
            .unwrap_or_else(|error| eprintln!("sshdiag-testkit: no spawner thread: {error}"));
        Mutex::new(sender)
    });

    let parent = std::process::id();
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe calls
    // (prctl, getppid).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(std::io::Error::other("parent died during spawn"));
            }
            Ok(())
        });
    }
    let (reply, response) = mpsc::channel();
    let sent = spawner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .send((command, reply));
    match sent {
        Ok(()) => response
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("the spawner thread is gone"))),
        // No spawner thread: spawn here, still with the death signal (tied to this thread).
        Err(mpsc::SendError((mut command, _))) => command.spawn(),
    }
}

/// Makes this process a child subreaper (Linux `PR_SET_CHILD_SUBREAPER`): orphans of the
/// processes it started (a Chromium left by a killed runner, an sshd a crashed test forgot)
/// are re-parented to it instead of init, so it can find and end them.
pub fn become_subreaper() {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer flag; no memory is shared.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// A child process killed and reaped when the value is dropped, so a failing test leaves no
/// process behind.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A binary of this workspace, built next to the running test (`target/<profile>/NAME`;
/// `cargo xtask test` builds them all). Panics with the build command when it is missing.
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("the test runs from target/<profile>/deps");
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --workspace --bins` (cargo xtask test does)",
        bin.display()
    );
    bin
}

/// A command that runs `program` with `hosts` as its `/etc/hosts`, in a private mount namespace
/// (`unshare --mount`, as root): the machine's own file is never touched, and only this
/// program (and its children) resolves names through the test's file.
pub fn with_hosts_file(
    hosts: &std::path::Path,
    program: &std::path::Path,
) -> anyhow::Result<Command> {
    let unshare = crate::tools::UNSHARE.require()?;
    anyhow::ensure!(
        crate::tools::is_root(),
        "a private /etc/hosts needs root (unshare --mount and a bind mount)"
    );
    let mut command = Command::new(unshare);
    command
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount --bind \"$0\" /etc/hosts && exec \"$@\"")
        .arg(hosts)
        .arg(program);
    Ok(command)
}

/// The real relay binary (`sshdiag-proxy`, built beside the test) listening on a free loopback
/// port: `configure` adds its flags, environment and output; returns once it accepts
/// connections, with its port. It is killed when the [`Killed`] is dropped.
pub fn spawn_relay_binary(configure: impl FnOnce(&mut Command)) -> anyhow::Result<(Killed, u16)> {
    let port = crate::ports::free_loopback_port()?;
    let mut command = Command::new(workspace_binary("sshdiag-proxy"));
    command.args(["--listen", &format!("127.0.0.1:{port}")]);
    configure(&mut command);
    let relay = Killed(command.spawn().context("starting sshdiag-proxy")?);
    crate::ports::wait_for_port(port, std::time::Duration::from_secs(20))?;
    Ok((relay, port))
}
