//! The built-in demo SSH server (`--demo`): a real SSH server (russh) so sshdiag works on a
//! fresh machine with nothing else installed, and a target tests and benchmarks can start in
//! process.
//!
//! - user `demo`, password `demo`, by `password` or `keyboard-interactive` (one prompt,
//!   `Password: `); every other method and user is rejected;
//! - an ed25519 host key: [`DemoServer::start`] with no key file generates one in memory;
//!   the relay binary passes a file (default `sshdiag-demo-host-ed25519` in the system temp
//!   directory) that is created on first start (mode 0600, OpenSSH format) and reused after,
//!   so a returning user sees the same fingerprint;
//! - `exec` commands only (no shell, no subsystem such as sftp): `echo [-n] …`, `uname [-a]`, `whoami`, `id`, `hostname`,
//!   `date`, `true`, `false`, `exit N`, `sleep N` (capped at [`SLEEP_CAP`]), `cat /demo/blob`
//!   ([`blob`], 8 KiB of numbered text lines), `head -c N /dev/zero` (capped at 1 GiB, for bulk
//!   transfer measurements); anything else writes `sshdiag-demo: NAME: command not found` to
//!   stderr and exits 127.
//!
//! Architecture invariant: the demo server listens only on loopback when started by the relay
//! (the relay checks `--demo-listen`); it is a diagnosis target, not a shell.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{HashAlg, PrivateKey};
use russh::server::{Auth, Msg, Response, Server as _, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The demo account.
pub const USER: &str = "demo";
/// The demo account's password.
pub const PASSWORD: &str = "demo";
/// Longest `sleep` the demo server performs.
pub const SLEEP_CAP: Duration = Duration::from_secs(30);
/// Largest `head -c N /dev/zero`.
const ZERO_CAP: u64 = 1 << 30;
/// The identification string the demo server sends.
pub const SERVER_ID: &str = concat!("SSH-2.0-sshdiag_demo_", env!("CARGO_PKG_VERSION"));

/// The content of `/demo/blob`: 128 numbered lines of 64 bytes (8 KiB), the same every time.
pub fn blob() -> Vec<u8> {
    let mut out = Vec::with_capacity(128 * 64);
    for line in 0..128u32 {
        // 5 + 1 + 57 + 1 = 64 bytes per line.
        let mut text = format!("{line:05} ");
        let mut state = line.wrapping_mul(2_654_435_761).wrapping_add(12_345);
        while text.len() < 63 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
            text.push(alphabet[(state % alphabet.len() as u32) as usize] as char);
        }
        text.push('\n');
        out.extend_from_slice(text.as_bytes());
    }
    out
}

/// The default host key file of the relay binary's demo server.
pub fn default_host_key_file() -> PathBuf {
    std::env::temp_dir().join("sshdiag-demo-host-ed25519")
}

/// A fresh ed25519 key from the OS random source.
pub fn generate_host_key() -> anyhow::Result<PrivateKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    Ok(PrivateKey::from(Ed25519Keypair::from_seed(&seed)))
}

/// Loads the host key from `path`, or creates it there (mode 0600) when the file is missing.
pub fn load_or_create_host_key(path: &Path) -> anyhow::Result<PrivateKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key = PrivateKey::from_openssh(text.as_bytes())
                .with_context(|| format!("{} is not an OpenSSH private key", path.display()))?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = generate_host_key()?;
            let text = key
                .to_openssh(LineEnding::LF)
                .map_err(|e| anyhow::anyhow!("cannot encode the host key: {e}"))?;
            write_private_file(path, text.as_bytes())
                .with_context(|| format!("cannot write the demo host key to {}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// A running demo server. Dropping it leaves the server running until the runtime ends; call
/// [`DemoServer::shutdown`] to stop it.
pub struct DemoServer {
    addr: SocketAddr,
    fingerprint: String,
    public_key: String,
    handle: russh::server::RunningServerHandle,
    task: JoinHandle<()>,
}

impl DemoServer {
    /// Starts the demo server on `listen` (port 0 picks one) with a host key generated in
    /// memory.
    pub async fn start(listen: SocketAddr) -> anyhow::Result<DemoServer> {
        Self::start_with_key(listen, generate_host_key()?).await
    }

    /// Starts the demo server on `listen` with the given host key.
    pub async fn start_with_key(listen: SocketAddr, key: PrivateKey) -> anyhow::Result<DemoServer> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen} for the demo SSH server"))?;
        let addr = listener.local_addr()?;
        let fingerprint = key.public_key().fingerprint(HashAlg::Sha256).to_string();
        let public_key = key
            .public_key()
            .to_openssh()
            .map_err(|e| anyhow::anyhow!("cannot encode the host key: {e}"))?;
        let mut methods = MethodSet::empty();
        methods.push(MethodKind::Password);
        methods.push(MethodKind::KeyboardInteractive);
        let config = russh::server::Config {
            server_id: russh::SshId::Standard(Cow::Borrowed(SERVER_ID)),
            methods,
            keys: vec![key],
            auth_rejection_time: Duration::from_millis(300),
            auth_rejection_time_initial: Some(Duration::ZERO),
            inactivity_timeout: Some(Duration::from_secs(600)),
            nodelay: true,
            ..Default::default()
        };
        let config = Arc::new(config);
        let (handle_tx, handle_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut server = DemoFactory;
            let running = server.run_on_socket(config, &listener);
            let _ = handle_tx.send(running.handle());
            let _ = running.await;
        });
        let handle = handle_rx
            .await
            .map_err(|_| anyhow::anyhow!("the demo SSH server task ended at start"))?;
        Ok(DemoServer {
            addr,
            fingerprint,
            public_key,
            handle,
            task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The host key's SHA-256 fingerprint, `SHA256:…`.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The host public key in OpenSSH one-line format.
    pub fn host_public_key(&self) -> &str {
        &self.public_key
    }

    /// Stops accepting, disconnects sessions and waits for the server task.
    pub async fn shutdown(self) {
        self.handle.shutdown("demo server shutting down".into());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

struct DemoFactory;

impl russh::server::Server for DemoFactory {
    type Handler = DemoSession;

    fn new_client(&mut self, _peer: Option<SocketAddr>) -> DemoSession {
        DemoSession
    }
}

struct DemoSession;

impl russh::server::Handler for DemoSession {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if user == USER && password == PASSWORD {
            Ok(Auth::Accept)
        } else {
            Ok(reject())
        }
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        match response {
            None => Ok(Auth::Partial {
                name: Cow::Borrowed("sshdiag demo"),
                instructions: Cow::Borrowed("The password is demo."),
                prompts: Cow::Owned(vec![(Cow::Borrowed("Password: "), false)]),
            }),
            Some(mut answers) => {
                let answer = answers.next();
                let ok = user == USER
                    && answer.as_deref() == Some(PASSWORD.as_bytes())
                    && answers.next().is_none();
                Ok(if ok { Auth::Accept } else { reject() })
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    /// No subsystem (sftp) here: refuse it, rather than leave the request unanswered.
    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let command = String::from_utf8_lossy(data).into_owned();
        session.channel_success(channel)?;
        let handle = session.handle();
        // Run outside the session loop, so `sleep` and bulk output never stall it.
        tokio::spawn(async move {
            let output = run(&command);
            if let Some(pause) = output.sleep {
                tokio::time::sleep(pause).await;
            }
            if !output.stdout.is_empty() && handle.data(channel, output.stdout).await.is_err() {
                return;
            }
            let mut zeros = output.zeros;
            let chunk = vec![0u8; 32 * 1024];
            while zeros > 0 {
                let n = zeros.min(chunk.len() as u64) as usize;
                if handle.data(channel, chunk[..n].to_vec()).await.is_err() {
                    return;
                }
                zeros -= n as u64;
            }
            if !output.stderr.is_empty()
                && handle
                    .extended_data(channel, 1, output.stderr)
                    .await
                    .is_err()
            {
                return;
            }
            let _ = handle.exit_status_request(channel, output.exit).await;
            let _ = handle.eof(channel).await;
            let _ = handle.close(channel).await;
        });
        Ok(())
    }
}

/// What a command produces.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit: u32,
    pub sleep: Option<Duration>,
    pub zeros: u64,
}

fn out(text: impl Into<String>) -> Output {
    Output {
        stdout: text.into().into_bytes(),
        ..Output::default()
    }
}

fn fail(text: impl Into<String>, exit: u32) -> Output {
    Output {
        stderr: text.into().into_bytes(),
        exit,
        ..Output::default()
    }
}

/// Splits a command line into words: whitespace-separated, with '…' and "…" quoting.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            None => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

/// Runs one demo command.
pub(crate) fn run(line: &str) -> Output {
    let words = words(line);
    let Some((name, args)) = words.split_first() else {
        return Output::default();
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match (name.as_str(), args.as_slice()) {
        ("echo", ["-n", rest @ ..]) => out(rest.join(" ")),
        ("echo", rest) => out(format!("{}\n", rest.join(" "))),
        ("uname", []) | ("uname", ["-s"]) => out("sshdiag-demo\n"),
        ("uname", ["-a"]) => out(format!(
            "sshdiag-demo {} russh-0.65.1 sshdiag-demo built-in demo SSH server of sshdiag-proxy\n",
            env!("CARGO_PKG_VERSION")
        )),
        ("whoami", []) => out(format!("{USER}\n")),
        ("id", []) => out("uid=1000(demo) gid=1000(demo) groups=1000(demo)\n"),
        ("hostname", []) => out("sshdiag-demo\n"),
        ("date", []) => out(format!("{}\n", date_now())),
        ("true", _) => Output::default(),
        ("false", _) => Output {
            exit: 1,
            ..Output::default()
        },
        ("exit", []) => Output::default(),
        ("exit", [code]) => match code.parse::<i64>() {
            Ok(code) => Output {
                exit: (code & 0xff) as u32,
                ..Output::default()
            },
            Err(_) => fail(
                format!("sshdiag-demo: exit: {code}: numeric argument required\n"),
                2,
            ),
        },
        ("sleep", [seconds]) => match seconds.parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => Output {
                sleep: Some(Duration::from_secs_f64(s.min(SLEEP_CAP.as_secs_f64()))),
                ..Output::default()
            },
            _ => fail(format!("sleep: invalid time interval '{seconds}'\n"), 1),
        },
        ("cat", ["/demo/blob"]) => Output {
            stdout: blob(),
            ..Output::default()
        },
        ("cat", [path]) => fail(format!("cat: {path}: No such file or directory\n"), 1),
        ("head", ["-c", count, "/dev/zero"]) => match parse_size(count) {
            Some(n) => Output {
                zeros: n.min(ZERO_CAP),
                ..Output::default()
            },
            None => fail(format!("head: invalid number of bytes: '{count}'\n"), 1),
        },
        (name, _) => fail(format!("sshdiag-demo: {name}: command not found\n"), 127),
    }
}

/// `256M`, `4K`, `1G`, `100`.
fn parse_size(text: &str) -> Option<u64> {
    let (digits, multiplier) = match text.chars().last()? {
        'K' | 'k' => (&text[..text.len() - 1], 1u64 << 10),
        'M' | 'm' => (&text[..text.len() - 1], 1 << 20),
        'G' | 'g' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

/// `date`'s default output in UTC: `Fri Nov 21 06:03:00 UTC 2025`.
fn date_now() -> String {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (year, month, day, hour, minute, second) = crate::log::civil_from_unix(unix);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = DAYS[((unix / 86_400) % 7) as usize];
    let month = MONTHS[(month as usize).saturating_sub(1) % 12];
    format!("{weekday} {month} {day:2} {hour:02}:{minute:02}:{second:02} UTC {year}")
}

/// A rejection that names what can continue, as OpenSSH does, so a client can tell a wrong
/// password from a method the server does not offer.
fn reject() -> Auth {
    let mut methods = MethodSet::empty();
    methods.push(MethodKind::Password);
    methods.push(MethodKind::KeyboardInteractive);
    Auth::Reject {
        proceed_with_methods: Some(methods),
        partial_success: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(run("echo hi").stdout, b"hi\n");
        assert_eq!(run("echo 'a  b' c").stdout, b"a  b c\n");
        assert_eq!(run("echo -n x").stdout, b"x");
        assert_eq!(run("whoami").stdout, b"demo\n");
        assert!(
            String::from_utf8(run("uname -a").stdout)
                .unwrap()
                .starts_with("sshdiag-demo ")
        );
        assert_eq!(run("false").exit, 1);
        assert_eq!(run("exit 3").exit, 3);
        assert_eq!(run("exit 256").exit, 0);
        assert_eq!(run("sleep 1000").sleep, Some(SLEEP_CAP));
        assert_eq!(run("cat /demo/blob").stdout, blob());
        assert_eq!(run("head -c 1M /dev/zero").zeros, 1 << 20);
        let unknown = run("rm -rf /");
        assert_eq!(unknown.exit, 127);
        assert_eq!(unknown.stderr, b"sshdiag-demo: rm: command not found\n");
        assert_eq!(
            run("date").stdout.len(),
            "Fri Nov 21 06:03:00 UTC 2025\n".len()
        );
    }

    #[test]
    fn the_blob_is_stable() {
        let blob = blob();
        assert_eq!(blob.len(), 8192);
        assert_eq!(blob, super::blob());
        assert!(blob.starts_with(b"00000 "));
    }
}
