//! The real relay binary in its own process, and a raw client: hand-written HTTP, the
//! WebSocket upgrade and frames byte by byte, so a test can send what no well-behaved
//! WebSocket library would.

#![allow(dead_code)]

use std::io::BufRead as _;
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A running `sshdiag-proxy` process; killed on drop.
pub struct Relay {
    pub addr: SocketAddr,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Relay {
    /// `sshdiag-proxy --listen 127.0.0.1:0` with these extra flags.
    pub async fn spawn(args: &[&str]) -> Relay {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sshdiag-proxy"));
        command.args(["--listen", "127.0.0.1:0"]).args(args);
        Relay::start(command).await
    }

    /// The same, under `ulimit -n nofile` (soft and hard), so the relay cannot raise it.
    pub async fn spawn_with_nofile(nofile: u32, args: &[&str]) -> Relay {
        let mut command = Command::new("sh");
        command
            .args(["-c", "ulimit -n \"$0\" && exec \"$@\""])
            .arg(nofile.to_string())
            .arg(env!("CARGO_BIN_EXE_sshdiag-proxy"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args);
        Relay::start(command).await
    }

    async fn start(mut command: Command) -> Relay {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the relay binary starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stdout);
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("sshdiag-proxy: listening on http://") {
                    let _ = tx.send(rest.trim_end_matches('/').to_string());
                }
            }
        });
        let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(20)))
            .await
            .expect("join")
            .expect("the relay says where it listens")
            .parse()
            .expect("an address");
        Relay {
            addr,
            child,
            stdout,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The relay's JSON log lines so far.
    pub fn log(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Every stdout line so far, JSON or not.
    pub fn raw_log(&self) -> Vec<String> {
        self.stdout
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits up to 10 s for a log line matching `pred`.
    pub async fn wait_log(&self, pred: impl Fn(&serde_json::Value) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.log().iter().any(&pred) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Resident memory of the relay process, KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS")
    }

    /// CPU time the relay used so far (user + system), in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("/proc/PID/stat");
        let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // Fields 14 and 15 of stat(5), counted after the name (field 2) as 12 and 13 here.
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0)
    }

    /// A plain GET from `source` (another loopback address, so per-IP limits of 127.0.0.1
    /// do not apply); status and body.
    pub async fn get(&self, path: &str, source: Option<&str>) -> (u16, String) {
        let mut stream = connect_from(self.addr, source).await;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut response))
            .await
            .expect("an answer in time")
            .expect("read");
        crate::util::parse_response(&String::from_utf8_lossy(&response))
    }

    /// Sends a signal to the relay process (`TERM`, `KILL`).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{name}");
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP connection to `addr` from the loopback address `source` (default 127.0.0.1).
pub async fn connect_from(addr: SocketAddr, source: Option<&str>) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    let ip: IpAddr = source.unwrap_or("127.0.0.1").parse().expect("an IP");
    socket.bind(SocketAddr::new(ip, 0)).expect("bind");
    socket.connect(addr).await.expect("connect")
}

/// Opens `/ws` with subprotocol `sshdiag.v1` by hand; returns the socket right after the
/// `101` response.
pub async fn upgrade(addr: SocketAddr, source: Option<&str>) -> TcpStream {
    let mut stream = connect_from(addr, source).await;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sshdiag.v1\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("the upgrade answer in time")
            .expect("read");
        assert_eq!(
            n,
            1,
            "the relay closed during the upgrade: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

/// One WebSocket frame with FIN set: `opcode`, `payload`, masked (as a client must) or not.
pub fn frame(opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![0x80 | (opcode & 0x0f)];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= u16::MAX as usize => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x12, 0x34, 0x56, 0x78];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}
