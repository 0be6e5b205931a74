//! `relay-bench`: the load side of `cargo xtask bench`'s relay measurements.
//!
//! It runs the TCP target behind the relays itself (so every relay forwards to the same
//! server), then, for each relay given, measures over loopback:
//! - download and upload throughput (the target sends / swallows N bytes, timed from the
//!   request to the last byte or the target's acknowledgement);
//! - round-trip time of a small message through an echo, against the same echo over plain TCP,
//!   so the relay's added latency is the difference;
//! - with `--idle N`, the relay's RSS before and after N idle relayed WebSockets are open.
//!
//! Runs are interleaved (run 1 of every relay, then run 2 …) so machine noise spreads over all
//! of them. Every result is one JSON line on stdout; progress goes to stderr.
//!
//! Usage:
//! `relay-bench --target-port PORT [--bytes N] [--runs R] [--pings P] [--idle N]
//!  --relay NAME,KIND,URL,PID,IDLE ...` where KIND is `sshdiag` (speaks `sshdiag.v1`: a connect
//! frame first) or `plain` (bytes from the first frame), and IDLE is `idle` or `-`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const CHUNK: usize = 64 * 1024;

#[derive(Clone)]
struct Relay {
    name: String,
    sshdiag: bool,
    url: String,
    pid: u32,
    idle: bool,
}

struct Args {
    target_port: u16,
    bytes: u64,
    runs: usize,
    pings: usize,
    idle: usize,
    relays: Vec<Relay>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        target_port: 0,
        bytes: 256 << 20,
        runs: 3,
        pings: 2000,
        idle: 0,
        relays: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--target-port" => args.target_port = value()?.parse()?,
            "--bytes" => args.bytes = value()?.parse()?,
            "--runs" => args.runs = value()?.parse()?,
            "--pings" => args.pings = value()?.parse()?,
            "--idle" => args.idle = value()?.parse()?,
            "--relay" => {
                let spec = value()?;
                let parts: Vec<&str> = spec.split(',').collect();
                let [name, kind, url, pid, idle] = parts[..] else {
                    bail!("--relay wants NAME,KIND,URL,PID,IDLE, got {spec:?}");
                };
                args.relays.push(Relay {
                    name: name.to_string(),
                    sshdiag: match kind {
                        "sshdiag" => true,
                        "plain" => false,
                        other => bail!("unknown relay kind {other:?}"),
                    },
                    url: url.to_string(),
                    pid: pid.parse()?,
                    idle: idle == "idle",
                });
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    if args.target_port == 0 {
        bail!("--target-port is required");
    }
    Ok(args)
}

#[tokio::main(worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    // Thousands of sockets on both ends.
    sshdiag_testkit::procs::raise_nofile();
    let idle_open = Arc::new(AtomicUsize::new(0));
    let target: SocketAddr = ([127, 0, 0, 1], args.target_port).into();
    let listener = TcpListener::bind(target)
        .await
        .with_context(|| format!("binding the target on {target}"))?;
    tokio::spawn(serve(listener, idle_open.clone()));

    for relay in &args.relays {
        wait_ready(relay, target).await?;
    }

    // Throughput, interleaved.
    for run in 0..args.runs {
        for direction in ["down", "up"] {
            for relay in std::iter::once(None).chain(args.relays.iter().map(Some)) {
                let name = relay.map_or("direct-tcp", |r| r.name.as_str());
                let mut conn = Conn::open(relay, target).await?;
                let started = Instant::now();
                if direction == "down" {
                    conn.download(args.bytes).await?;
                } else {
                    conn.upload(args.bytes).await?;
                }
                let secs = started.elapsed().as_secs_f64();
                conn.close().await;
                let mb_s = args.bytes as f64 / secs / 1e6;
                eprintln!("relay-bench: {name} {direction} run {run}: {mb_s:.0} MB/s");
                println!(
                    "{}",
                    json!({"case": "relay-throughput", "relay": name, "direction": direction,
                           "run": run, "bytes": args.bytes, "ms": secs * 1e3, "mb_s": mb_s})
                );
            }
        }
    }

    // Round trips through the echo.
    for run in 0..args.runs {
        for relay in std::iter::once(None).chain(args.relays.iter().map(Some)) {
            let name = relay.map_or("direct-tcp", |r| r.name.as_str());
            let mut conn = Conn::open(relay, target).await?;
            conn.send(&echo_request()).await?;
            let payload = [b'x'; 32];
            let mut rtts = Vec::with_capacity(args.pings);
            for _ in 0..args.pings {
                let started = Instant::now();
                conn.send(&payload).await?;
                conn.expect(payload.len()).await?;
                rtts.push(started.elapsed().as_secs_f64() * 1e6);
            }
            conn.close().await;
            rtts.sort_by(f64::total_cmp);
            let median = rtts[rtts.len() / 2];
            let p99 = rtts[rtts.len() * 99 / 100];
            eprintln!("relay-bench: {name} rtt run {run}: median {median:.0} µs");
            println!(
                "{}",
                json!({"case": "relay-rtt", "relay": name, "run": run, "pings": args.pings,
                       "median_us": median, "p99_us": p99})
            );
        }
    }

    // Idle connections: RSS of the relay process before and after.
    if args.idle > 0 {
        for relay in args.relays.iter().filter(|r| r.idle) {
            idle(relay, target, args.idle, &idle_open).await?;
        }
    }
    Ok(())
}

fn echo_request() -> Vec<u8> {
    let mut request = vec![b'E'];
    request.extend_from_slice(&0u64.to_be_bytes());
    request
}

/// The target: the first 9 bytes of a connection are a command and a big-endian count.
/// `D n`: send n zero bytes, then close. `U n`: read n bytes, then answer `k`. `E`: echo.
/// `I`: hold the connection open until the peer closes it (counted in `idle_open`).
async fn serve(listener: TcpListener, idle_open: Arc<AtomicUsize>) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let idle_open = idle_open.clone();
        tokio::spawn(async move {
            let _ = handle(socket, idle_open).await;
        });
    }
}

async fn handle(mut socket: TcpStream, idle_open: Arc<AtomicUsize>) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let mut command = [0u8; 9];
    socket.read_exact(&mut command).await?;
    let mut count = [0u8; 8];
    count.copy_from_slice(&command[1..]);
    let n = u64::from_be_bytes(count);
    match command[0] {
        b'D' => {
            let zeros = vec![0u8; CHUNK];
            let mut left = n;
            while left > 0 {
                let take = left.min(CHUNK as u64) as usize;
                socket.write_all(&zeros[..take]).await?;
                left -= take as u64;
            }
            socket.shutdown().await?;
            // Let the peer close first, so nothing is reset.
            let mut sink = [0u8; 1024];
            while socket.read(&mut sink).await? > 0 {}
        }
        b'U' => {
            let mut buf = vec![0u8; CHUNK];
            let mut left = n;
            while left > 0 {
                let got = socket.read(&mut buf).await?;
                if got == 0 {
                    return Ok(());
                }
                left = left.saturating_sub(got as u64);
            }
            socket.write_all(b"k").await?;
            while socket.read(&mut buf).await? > 0 {}
        }
        b'E' => {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let got = socket.read(&mut buf).await?;
                if got == 0 {
                    return Ok(());
                }
                socket.write_all(&buf[..got]).await?;
            }
        }
        b'I' => {
            idle_open.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 64];
            while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            idle_open.fetch_sub(1, Ordering::SeqCst);
        }
        _ => {}
    }
    Ok(())
}

/// One connection to the target: straight over TCP, or through a relay's WebSocket.
enum Conn {
    Tcp(TcpStream),
    Ws(Box<Ws>),
}

impl Conn {
    async fn open(relay: Option<&Relay>, target: SocketAddr) -> anyhow::Result<Conn> {
        let Some(relay) = relay else {
            let stream = TcpStream::connect(target).await?;
            stream.set_nodelay(true)?;
            return Ok(Conn::Tcp(stream));
        };
        let mut request = relay.url.as_str().into_client_request()?;
        if relay.sshdiag {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", "sshdiag.v1".parse()?);
        }
        let (mut ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .with_context(|| format!("opening {} ({})", relay.name, relay.url))?;
        if relay.sshdiag {
            let connect = json!({"type": "connect", "host": target.ip().to_string(),
                                 "port": target.port(), "connection_id": "relay-bench"});
            ws.send(Message::text(connect.to_string())).await?;
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let frame: serde_json::Value = serde_json::from_str(text.as_str())?;
                        match frame["type"].as_str() {
                            Some("connected") => break,
                            Some("resolved") => continue,
                            _ => bail!("{} answered the connect with {text}", relay.name),
                        }
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(error)) => bail!("{}: {error}", relay.name),
                    None => bail!("{} closed before connecting", relay.name),
                }
            }
        }
        Ok(Conn::Ws(Box::new(ws)))
    }

    async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Conn::Tcp(s) => s.write_all(bytes).await?,
            Conn::Ws(ws) => ws.send(Message::binary(bytes.to_vec())).await?,
        }
        Ok(())
    }

    /// Reads until `n` bytes arrived; returns how many arrived (more when they overshoot).
    async fn read_at_least(&mut self, n: u64) -> anyhow::Result<u64> {
        let mut got = 0u64;
        match self {
            Conn::Tcp(s) => {
                let mut buf = vec![0u8; 256 * 1024];
                while got < n {
                    let k = s.read(&mut buf).await?;
                    if k == 0 {
                        bail!("the target closed after {got} of {n} bytes");
                    }
                    got += k as u64;
                }
            }
            Conn::Ws(ws) => {
                while got < n {
                    match ws.next().await {
                        Some(Ok(Message::Binary(data))) => got += data.len() as u64,
                        Some(Ok(Message::Text(text))) => {
                            if text.as_str().contains("\"error\"") {
                                bail!("relay error: {text}");
                            }
                        }
                        Some(Ok(Message::Close(_))) | None => {
                            bail!("the relay closed after {got} of {n} bytes")
                        }
                        Some(Ok(_)) => {}
                        Some(Err(error)) => bail!("after {got} of {n} bytes: {error}"),
                    }
                }
            }
        }
        Ok(got)
    }

    async fn expect(&mut self, n: usize) -> anyhow::Result<()> {
        self.read_at_least(n as u64).await.map(|_| ())
    }

    async fn download(&mut self, n: u64) -> anyhow::Result<()> {
        let mut request = vec![b'D'];
        request.extend_from_slice(&n.to_be_bytes());
        self.send(&request).await?;
        self.read_at_least(n).await.map(|_| ())
    }

    async fn upload(&mut self, n: u64) -> anyhow::Result<()> {
        let mut request = vec![b'U'];
        request.extend_from_slice(&n.to_be_bytes());
        self.send(&request).await?;
        let chunk = vec![0u8; CHUNK];
        let mut left = n;
        match self {
            Conn::Tcp(s) => {
                while left > 0 {
                    let take = left.min(CHUNK as u64) as usize;
                    s.write_all(&chunk[..take]).await?;
                    left -= take as u64;
                }
            }
            Conn::Ws(ws) => {
                let frame = tokio_tungstenite::tungstenite::Bytes::from(chunk);
                while left > 0 {
                    let take = left.min(CHUNK as u64) as usize;
                    ws.feed(Message::Binary(frame.slice(..take))).await?;
                    left -= take as u64;
                }
                ws.flush().await?;
            }
        }
        self.expect(1).await
    }

    async fn close(self) {
        match self {
            Conn::Tcp(mut s) => {
                let _ = s.shutdown().await;
            }
            Conn::Ws(mut ws) => {
                let _ = ws.close(None).await;
                // Drain until the close handshake finishes (bounded).
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
            }
        }
    }
}

/// Waits until a relay accepts WebSockets (it was just started).
async fn wait_ready(relay: &Relay, target: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Conn::open(Some(relay), target).await {
            Ok(mut conn) => {
                conn.send(&echo_request()).await?;
                conn.send(b"ready").await?;
                conn.expect(5).await?;
                conn.close().await;
                return Ok(());
            }
            Err(error) if Instant::now() > deadline => {
                return Err(error.context(format!("{} never became ready", relay.name)));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn idle(
    relay: &Relay,
    target: SocketAddr,
    n: usize,
    idle_open: &Arc<AtomicUsize>,
) -> anyhow::Result<()> {
    let settle = Duration::from_secs(2);
    tokio::time::sleep(settle).await;
    let before = rss_kib(relay.pid)?;
    // Two cycles of open-all / close-all: if the second cycle does not grow RSS past the
    // first, what stays after closing is memory the allocator kept, not a leak.
    let mut cycles = Vec::new();
    for _ in 0..2 {
        let started = Instant::now();
        let conns = open_idle(relay, target, n).await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while idle_open.load(Ordering::SeqCst) < n {
            if Instant::now() > deadline {
                bail!(
                    "{}: only {} of {n} idle connections reached the target",
                    relay.name,
                    idle_open.load(Ordering::SeqCst)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let open_ms = started.elapsed().as_secs_f64() * 1e3;
        tokio::time::sleep(settle).await;
        let during = rss_kib(relay.pid)?;
        drop(conns);
        let deadline = Instant::now() + Duration::from_secs(60);
        while idle_open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(settle).await;
        let after = rss_kib(relay.pid)?;
        cycles.push((open_ms, during, after));
    }
    let (open_ms, during, after) = cycles[0];
    let (_, during2, after2) = cycles[1];
    let per_conn = (during.saturating_sub(before)) as f64 / n as f64;
    eprintln!(
        "relay-bench: {} idle ×{n}: RSS {before} → {during} KiB ({per_conn:.1} KiB each), {after} KiB after closing; second cycle {during2} / {after2} KiB",
        relay.name
    );
    println!(
        "{}",
        json!({"case": "relay-idle", "relay": relay.name, "connections": n,
               "rss_before_kib": before, "rss_open_kib": during, "rss_after_close_kib": after,
               "rss_open_again_kib": during2, "rss_after_close_again_kib": after2,
               "kib_per_connection": per_conn, "open_ms": open_ms})
    );
    Ok(())
}

/// Opens `n` relayed WebSockets to the target's idle service, in batches of 100.
async fn open_idle(relay: &Relay, target: SocketAddr, n: usize) -> anyhow::Result<Vec<Conn>> {
    let mut conns: Vec<Conn> = Vec::with_capacity(n);
    let mut idle_request = vec![b'I'];
    idle_request.extend_from_slice(&0u64.to_be_bytes());
    let batch = 100;
    let mut opened = 0;
    while opened < n {
        let k = batch.min(n - opened);
        let mut tasks = Vec::with_capacity(k);
        for _ in 0..k {
            let relay = relay.clone();
            let request = idle_request.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = Conn::open(Some(&relay), target).await?;
                conn.send(&request).await?;
                anyhow::Ok(conn)
            }));
        }
        for task in tasks {
            conns.push(task.await??);
        }
        opened += k;
    }
    Ok(conns)
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmRSS for pid {pid}"))
}
