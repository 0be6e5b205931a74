//! Loopback ports: one that is free now, and waiting until one accepts.
//!
//! Nothing here may bind or connect anywhere but 127.0.0.1.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A port on 127.0.0.1 that was free a moment ago (bind to 0, read, release).
pub fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until `127.0.0.1:port` accepts a TCP connection, for at most `limit`.
pub fn wait_for_port(port: u16, limit: Duration) -> anyhow::Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + limit;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nothing listens on 127.0.0.1:{port} after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sets SO_LINGER with a zero timeout on `s`, so that closing it resets the connection (an
/// RST, not a FIN): how a test listener plays a server that resets.
pub fn reset_on_close(s: &TcpStream) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a linger struct of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        bail!("setsockopt SO_LINGER: {}", std::io::Error::last_os_error());
    }
    Ok(())
}
