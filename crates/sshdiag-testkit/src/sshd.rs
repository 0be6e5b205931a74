//! A real OpenSSH server on a free loopback port, in a temp dir of its own.
//!
//! [`SshdFixture::start`] writes `sshd_config`, host keys (ed25519, ecdsa, rsa) and
//! `authorized_keys` into a fresh temp dir and runs `/usr/sbin/sshd -D -e -f CONFIG` with its
//! log (LogLevel DEBUG3) in `sshd.log` there. It waits until sshd says it listens and the port
//! answers with an `SSH-2.0-` banner. Dropping the fixture kills sshd and every process it
//! forked (sessions included), and removes the dir.
//!
//! Logins are for one test user, [`TEST_USER`], created once with [`TEST_PASSWORD`] (this needs
//! root). Four client keys come with every fixture: three authorised, one not.
//!
//! This module must never listen anywhere but loopback (127.0.0.1, or another address of
//! 127.0.0.0/8 when [`SshdOptions::listen`] asks for one, such as a target only a bastion
//! reaches), and never touch the machine's own `/etc/ssh`: everything the server reads is in
//! the fixture's dir.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::procs::signal_all;
use crate::tools;

/// The account tests log in as.
pub use crate::tools::TEST_USER;
/// [`TEST_USER`]'s password (password auth, and keyboard-interactive when `UsePAM yes`).
pub const TEST_PASSWORD: &str = "sshdiag-test-pw-7Qz";
/// The passphrase of the encrypted client key [`ClientKeys::rsa_enc`].
pub const TEST_PASSPHRASE: &str = "sshdiag-test-passphrase-3Vr";
/// The address a fixture listens on unless [`SshdOptions::listen`] names another.
pub const LOOPBACK: &str = "127.0.0.1";

/// How long sshd gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How many free ports to try when another process takes ours between choosing and binding.
const PORT_ATTEMPTS: usize = 5;

/// What to change from the default server.
#[derive(Debug, Clone, Default)]
pub struct SshdOptions {
    /// `sshd_config` lines written BEFORE the defaults. sshd uses the first occurrence of a
    /// keyword, so these win: `PasswordAuthentication no`, `KexAlgorithms …`,
    /// `AllowTcpForwarding no`, `UsePAM yes` (needed for keyboard-interactive: without PAM,
    /// OpenSSH on Linux offers the method but has no device to answer it)…
    pub extra_config: Vec<String>,
    /// A fixed port instead of a free one (for example to start a second server where a
    /// stopped one was).
    pub port: Option<u16>,
    /// A loopback address to listen on instead of 127.0.0.1 (for example 127.0.0.2, which a
    /// client connecting to 127.0.0.1 cannot reach: a target only a bastion reaches). Refused
    /// at start when it is not in 127.0.0.0/8.
    pub listen: Option<Ipv4Addr>,
}

impl SshdOptions {
    /// Options with these extra `sshd_config` lines.
    pub fn with_config<I, S>(lines: I) -> SshdOptions
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SshdOptions {
            extra_config: lines.into_iter().map(Into::into).collect(),
            ..SshdOptions::default()
        }
    }
}

/// One client key pair on disk, with its text.
#[derive(Debug, Clone)]
pub struct ClientKey {
    /// The private key file (mode 0600).
    pub path: PathBuf,
    /// The private key, OpenSSH format.
    pub private_key: String,
    /// The public key line (`ssh-ed25519 AAAA… comment`).
    pub public_key: String,
    /// The passphrase protecting `private_key`, if any.
    pub passphrase: Option<&'static str>,
}

/// The client keys that come with every fixture.
#[derive(Debug, Clone)]
pub struct ClientKeys {
    /// ed25519, no passphrase, authorised.
    pub ed25519: ClientKey,
    /// RSA 3072 encrypted with [`TEST_PASSPHRASE`], authorised.
    pub rsa_enc: ClientKey,
    /// ECDSA P-256, no passphrase, authorised.
    pub ecdsa: ClientKey,
    /// ed25519, no passphrase, NOT in `authorized_keys`.
    pub unauthorised_ed25519: ClientKey,
}

/// One of the server's host keys.
#[derive(Debug, Clone)]
pub struct HostKey {
    /// `ed25519`, `ecdsa` or `rsa`.
    pub kind: &'static str,
    /// The private key file the server reads.
    pub path: PathBuf,
    /// The public key line.
    pub public_key: String,
    /// `SHA256:…` as `ssh-keygen -lf -E sha256` prints it.
    pub fingerprint_sha256: String,
}

/// A running OpenSSH server; killed (with all its children) on drop.
#[derive(Debug)]
pub struct SshdFixture {
    dir: tempfile::TempDir,
    sshd: PathBuf,
    config_path: PathBuf,
    log_path: PathBuf,
    listen: Ipv4Addr,
    /// `listen` as text, for [`SshdFixture::host`].
    host: String,
    port: u16,
    child: Option<Child>,
    host_keys: Vec<HostKey>,
    client_keys: ClientKeys,
}

impl SshdFixture {
    /// Writes the config and keys, starts sshd on a free loopback port and waits until it
    /// sends its banner. Creates [`TEST_USER`] first when running as root.
    pub fn start(options: SshdOptions) -> anyhow::Result<SshdFixture> {
        let listen = options.listen.unwrap_or(Ipv4Addr::LOCALHOST);
        if !listen.is_loopback() {
            bail!("the sshd fixture listens on loopback only, not on {listen}");
        }
        let sshd = tools::SSHD.require()?;
        let keygen = tools::SSH_KEYGEN.require()?;
        ensure_test_user()?;
        // sshd refuses to start without its privilege-separation directory.
        if tools::is_root() {
            fs::create_dir_all("/run/sshd").context("creating /run/sshd for sshd")?;
        }

        let dir = tempfile::Builder::new()
            .prefix("sshdiag-sshd-")
            .tempdir()
            .context("creating the sshd fixture's temp dir")?;
        // The session side of sshd reads authorized_keys as the test user.
        set_mode(dir.path(), 0o755)?;

        let host_keys = write_host_keys(&keygen, dir.path())?;
        let client_keys = write_client_keys(&keygen, dir.path())?;
        let authorized = [
            &client_keys.ed25519,
            &client_keys.rsa_enc,
            &client_keys.ecdsa,
        ]
        .iter()
        .map(|key| format!("{}\n", key.public_key.trim_end()))
        .collect::<String>();
        let authorized_keys = dir.path().join("authorized_keys");
        write_file(&authorized_keys, &authorized, 0o644)?;

        let mut fixture = SshdFixture {
            config_path: dir.path().join("sshd_config"),
            log_path: dir.path().join("sshd.log"),
            sshd,
            listen,
            host: listen.to_string(),
            port: 0,
            child: None,
            host_keys,
            client_keys,
            dir,
        };

        let attempts = if options.port.is_some() {
            1
        } else {
            PORT_ATTEMPTS
        };
        let mut last_error = None;
        for _ in 0..attempts {
            let port = match options.port {
                Some(port) => port,
                None => free_loopback_port()?,
            };
            fixture.port = port;
            fixture.write_config(&options.extra_config, &authorized_keys)?;
            match fixture.spawn() {
                Ok(()) => return Ok(fixture),
                Err(error) => {
                    let collided = fixture.log().contains("Address already in use");
                    last_error = Some(error);
                    if !collided {
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("sshd did not start")))
    }

    /// The address sshd listens on: `127.0.0.1` unless [`SshdOptions::listen`] said otherwise.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `ADDRESS:port` (`127.0.0.1:port` by default).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.listen, self.port))
    }

    /// [`TEST_USER`].
    pub fn user(&self) -> &'static str {
        TEST_USER
    }

    /// [`TEST_PASSWORD`].
    pub fn password(&self) -> &'static str {
        TEST_PASSWORD
    }

    /// The fixture's dir: config, keys, log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `sshd_config` in use.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The client keys (three authorised, one not).
    pub fn client_keys(&self) -> &ClientKeys {
        &self.client_keys
    }

    /// The server's host keys: ed25519, ecdsa, rsa.
    pub fn host_keys(&self) -> &[HostKey] {
        &self.host_keys
    }

    /// The host key of this kind (`ed25519`, `ecdsa`, `rsa`).
    pub fn host_key(&self, kind: &str) -> Option<&HostKey> {
        self.host_keys.iter().find(|key| key.kind == kind)
    }

    /// The `SHA256:…` fingerprint of the host key of this kind.
    pub fn host_key_fingerprint(&self, kind: &str) -> Option<&str> {
        self.host_key(kind)
            .map(|key| key.fingerprint_sha256.as_str())
    }

    /// Everything sshd logged so far (DEBUG3), for assertions and failure messages.
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// Whether the sshd listener process is still alive.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills sshd and every process it forked (open sessions die mid-command, like a server
    /// that crashed or lost power). The port refuses connections afterwards.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        kill_tree(child.id());
        child.wait().context("waiting for the killed sshd")?;
        Ok(())
    }

    /// Stops sshd and every process it forked with SIGSTOP until the guard is dropped: a server
    /// that hangs (its connections stay open, nothing answers, not even keepalives).
    pub fn freeze(&self) -> anyhow::Result<FrozenSshd> {
        let root = self.child.as_ref().context("sshd is not running")?.id();
        let mut stopped = vec![root];
        stopped.extend(descendants(root));
        signal_all(&stopped, libc::SIGSTOP);
        Ok(FrozenSshd(stopped))
    }

    /// Starts sshd again with the same config, keys and port (after [`SshdFixture::kill`],
    /// or kills it first).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill()?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn() {
                Ok(()) => return Ok(()),
                // The old listener's port can take a moment to be free again.
                Err(error) if Instant::now() >= deadline => return Err(error),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn write_config(&self, extra: &[String], authorized_keys: &Path) -> anyhow::Result<()> {
        let dir = self.dir.path();
        let mut config = String::from(
            "# Written by sshdiag-tests. sshd uses the first occurrence of a keyword:\n\
             # the test's own lines come first, the defaults after.\n",
        );
        for line in extra {
            config.push_str(line.trim_end());
            config.push('\n');
        }
        config.push_str("\n# Defaults.\n");
        config.push_str(&format!("Port {}\n", self.port));
        config.push_str(&format!("ListenAddress {}\n", self.listen));
        for key in &self.host_keys {
            config.push_str(&format!("HostKey {}\n", key.path.display()));
        }
        config.push_str(&format!(
            "AuthorizedKeysFile {}\n",
            authorized_keys.display()
        ));
        config.push_str(&format!("PidFile {}\n", dir.join("sshd.pid").display()));
        config.push_str(&format!(
            "UsePAM no\n\
             PasswordAuthentication yes\n\
             KbdInteractiveAuthentication yes\n\
             PubkeyAuthentication yes\n\
             PermitRootLogin no\n\
             AllowUsers {TEST_USER}\n\
             StrictModes no\n\
             PrintMotd no\n\
             LogLevel DEBUG3\n"
        ));
        write_file(&self.config_path, &config, 0o644)
    }

    /// Starts the sshd process and waits until it serves its banner.
    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("opening {}", self.log_path.display()))?;
        let log_len_before = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut command = Command::new(&self.sshd);
        command
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group, so a Ctrl-C aimed at the test run does not race our kill.
            .process_group(0);
        let mut child = spawn_dying_with_this_process(command)
            .with_context(|| format!("starting {}", self.sshd.display()))?;

        let listening = format!("Server listening on {} port {}", self.listen, self.port);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().context("polling sshd")? {
                bail!(
                    "sshd exited at start ({status}); its log ends:\n{}",
                    self.log_tail(log_len_before)
                );
            }
            let logged = self.log_since(log_len_before).contains(&listening);
            if logged && read_banner(self.addr()).is_some_and(|b| b.starts_with("SSH-2.0-")) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                kill_tree(child.id());
                let _ = child.wait();
                bail!(
                    "sshd did not serve a banner on {} within {:?}; its log ends:\n{}",
                    self.addr(),
                    START_TIMEOUT,
                    self.log_tail(log_len_before)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_since(&self, offset: u64) -> String {
        let log = self.log();
        log.get(offset as usize..).unwrap_or(&log).to_string()
    }

    fn log_tail(&self, offset: u64) -> String {
        let since = self.log_since(offset);
        let lines: Vec<&str> = since.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for SshdFixture {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Reads the first line a server sends, if it sends one within a second.
pub fn read_banner(addr: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let mut received = Vec::new();
    let mut buf = [0u8; 256];
    while !received.contains(&b'\n') && received.len() < 1024 {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
    }
    // Say goodbye in the protocol's terms so sshd logs a clean disconnect, not an error.
    let _ = stream.write_all(b"SSH-2.0-sshdiag-tests-probe\r\n");
    let line = received.split(|&b| b == b'\n').next()?;
    Some(String::from_utf8_lossy(line).trim_end().to_string())
}

/// Creates [`TEST_USER`] with [`TEST_PASSWORD`] (once per process; as root), or checks that it
/// exists (not root).
pub fn ensure_test_user() -> anyhow::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    DONE.get_or_init(|| create_test_user().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn create_test_user() -> anyhow::Result<()> {
    if !tools::is_root() {
        if tools::user_exists(TEST_USER) {
            return Ok(());
        }
        bail!(
            "the sshd fixture needs the test user `{TEST_USER}`: run the tests as root once \
             (`cargo xtask test` creates it), or create it with \
             `useradd -m {TEST_USER} && echo '{TEST_USER}:{TEST_PASSWORD}' | chpasswd`"
        );
    }
    // Other test processes may create it at the same moment: retry while /etc/passwd is locked.
    for attempt in 0..50 {
        if !tools::user_exists(TEST_USER) {
            let _ = Command::new("useradd")
                .args(["-m", "-s", "/bin/sh", TEST_USER])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if tools::user_exists(TEST_USER) {
            let mut chpasswd = Command::new("chpasswd")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .context("running chpasswd (Debian package `passwd`)")?;
            if let Some(mut stdin) = chpasswd.stdin.take() {
                stdin.write_all(format!("{TEST_USER}:{TEST_PASSWORD}\n").as_bytes())?;
            }
            let output = chpasswd.wait_with_output()?;
            if output.status.success() {
                return Ok(());
            }
            if attempt == 49 {
                bail!(
                    "chpasswd for `{TEST_USER}` failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("could not create the test user `{TEST_USER}` with useradd")
}

/// sshd's processes, stopped by [`SshdFixture::freeze`]; they go on (SIGCONT) when this drops.
#[derive(Debug)]
pub struct FrozenSshd(Vec<u32>);

impl Drop for FrozenSshd {
    fn drop(&mut self) {
        signal_all(&self.0, libc::SIGCONT);
    }
}

// The process and port helpers live in their own modules; these names stay reachable here for
// the tests that import them from `sshd`.
pub use crate::ports::free_loopback_port;
pub use crate::procs::{descendants, kill_tree, parent_pid, spawn_dying_with_this_process};

fn write_file(path: &Path, contents: &str, mode: u32) -> anyhow::Result<()> {
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    set_mode(path, mode)
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting mode {mode:o} on {}", path.display()))
}

/// Runs `ssh-keygen -q -t KIND [-b BITS] -N PASSPHRASE -C COMMENT -f PATH`.
fn keygen(
    keygen: &Path,
    kind: &str,
    bits: Option<u32>,
    passphrase: &str,
    comment: &str,
    path: &Path,
) -> anyhow::Result<()> {
    let mut command = Command::new(keygen);
    command.args(["-q", "-t", kind]);
    if let Some(bits) = bits {
        command.arg("-b").arg(bits.to_string());
    }
    let output = command
        .arg("-N")
        .arg(passphrase)
        .arg("-C")
        .arg(comment)
        .arg("-f")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .context("running ssh-keygen")?;
    if !output.status.success() {
        bail!(
            "ssh-keygen -t {kind} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn fingerprint(keygen: &Path, public_key: &Path) -> anyhow::Result<String> {
    let output = Command::new(keygen)
        .args(["-l", "-E", "sha256", "-f"])
        .arg(public_key)
        .output()
        .context("running ssh-keygen -l")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .nth(1)
        .filter(|f| f.starts_with("SHA256:"))
        .map(str::to_string)
        .with_context(|| format!("no fingerprint in ssh-keygen output {text:?}"))
}

/// Key material generated once per process and copied into every fixture: RSA key generation
/// takes about a second each, and tests start many fixtures.
#[derive(Clone)]
struct KeyText {
    private_key: String,
    public_key: String,
}

fn cached_keys(keygen_path: &Path) -> anyhow::Result<&'static [(&'static str, KeyText)]> {
    static CACHE: OnceLock<Result<Vec<(&'static str, KeyText)>, String>> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let cache = CACHE.get_or_init(|| {
        let generate = || -> anyhow::Result<Vec<(&'static str, KeyText)>> {
            let scratch = tempfile::Builder::new().prefix("sshdiag-keys-").tempdir()?;
            let specs: [(&str, &str, Option<u32>, &str); 5] = [
                ("host_rsa", "rsa", Some(3072), ""),
                ("id_ed25519", "ed25519", None, ""),
                ("id_rsa_enc", "rsa", Some(3072), TEST_PASSPHRASE),
                ("id_ecdsa", "ecdsa", Some(256), ""),
                ("id_unauthorised_ed25519", "ed25519", None, ""),
            ];
            let mut keys = Vec::new();
            for (name, kind, bits, passphrase) in specs {
                let path = scratch.path().join(name);
                keygen(keygen_path, kind, bits, passphrase, name, &path)?;
                keys.push((
                    name,
                    KeyText {
                        private_key: fs::read_to_string(&path)?,
                        public_key: fs::read_to_string(path.with_extension("pub"))?,
                    },
                ));
            }
            Ok(keys)
        };
        generate().map_err(|e| format!("generating test keys: {e:#}"))
    });
    match cache {
        Ok(keys) => Ok(keys.as_slice()),
        Err(message) => Err(anyhow::Error::msg(message.clone())),
    }
}

fn cached_key(keygen_path: &Path, name: &str) -> anyhow::Result<KeyText> {
    cached_keys(keygen_path)?
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, key)| key.clone())
        .with_context(|| format!("no cached key {name}"))
}

fn write_key(dir: &Path, name: &str, key: &KeyText) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    write_file(&path, &key.private_key, 0o600)?;
    write_file(&path.with_extension("pub"), &key.public_key, 0o644)?;
    Ok(path)
}

/// ed25519 and ecdsa host keys are made fresh for each fixture (they take milliseconds); the
/// RSA host key comes from the per-process cache.
fn write_host_keys(keygen_path: &Path, dir: &Path) -> anyhow::Result<Vec<HostKey>> {
    let mut keys = Vec::new();
    for (kind, file) in [
        ("ed25519", "ssh_host_ed25519_key"),
        ("ecdsa", "ssh_host_ecdsa_key"),
        ("rsa", "ssh_host_rsa_key"),
    ] {
        let path = dir.join(file);
        if kind == "rsa" {
            write_key(dir, file, &cached_key(keygen_path, "host_rsa")?)?;
        } else {
            keygen(keygen_path, kind, None, "", file, &path)?;
        }
        let public_path = path.with_extension("pub");
        keys.push(HostKey {
            kind,
            public_key: fs::read_to_string(&public_path)?,
            fingerprint_sha256: fingerprint(keygen_path, &public_path)?,
            path,
        });
    }
    Ok(keys)
}

fn write_client_keys(keygen_path: &Path, dir: &Path) -> anyhow::Result<ClientKeys> {
    let client = |name: &str, passphrase: Option<&'static str>| -> anyhow::Result<ClientKey> {
        let key = cached_key(keygen_path, name)?;
        Ok(ClientKey {
            path: write_key(dir, name, &key)?,
            private_key: key.private_key,
            public_key: key.public_key,
            passphrase,
        })
    };
    Ok(ClientKeys {
        ed25519: client("id_ed25519", None)?,
        rsa_enc: client("id_rsa_enc", Some(TEST_PASSPHRASE))?,
        ecdsa: client("id_ecdsa", None)?,
        unauthorised_ed25519: client("id_unauthorised_ed25519", None)?,
    })
}
