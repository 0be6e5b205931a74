//! A russh client for tests: log in with a password and run one command, over TCP or over any
//! stream (a WebSocket through the relay, bridged by [`ws_stream`]).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use russh::ChannelMsg;
use russh::client;
use russh::keys::PublicKeyOrCertificate;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::tungstenite::Message;

use crate::util::Ws;

pub struct AcceptAny {
    pub seen: Arc<std::sync::Mutex<Option<String>>>,
}

impl client::Handler for AcceptAny {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = key.public_key();
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(key.fingerprint(russh::keys::HashAlg::Sha256).to_string());
        }
        Ok(true)
    }
}

#[derive(Debug, Default)]
pub struct Run {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit: Option<u32>,
    pub host_key: Option<String>,
}

/// Logs in over `stream` and runs `command`. `Ok(None)` when the password was rejected.
pub async fn exec_over<S>(
    stream: S,
    user: &str,
    password: &str,
    command: &str,
) -> anyhow::Result<Option<Run>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let config = Arc::new(client::Config {
        inactivity_timeout: Some(Duration::from_secs(30)),
        ..Default::default()
    });
    let seen = Arc::new(std::sync::Mutex::new(None));
    let handler = AcceptAny {
        seen: Arc::clone(&seen),
    };
    let mut session = client::connect_stream(config, stream, handler).await?;
    let auth = session.authenticate_password(user, password).await?;
    if !auth.success() {
        return Ok(None);
    }
    let mut channel = session.channel_open_session().await?;
    channel.exec(true, command).await?;
    let mut run = Run::default();
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => run.stdout.extend_from_slice(&data),
            ChannelMsg::ExtendedData { data, ext: 1 } => run.stderr.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => run.exit = Some(exit_status),
            _ => {}
        }
    }
    run.host_key = seen.lock().ok().and_then(|s| s.clone());
    let _ = session
        .disconnect(russh::Disconnect::ByApplication, "done", "en")
        .await;
    Ok(Some(run))
}

/// Bridges a WebSocket that is already `connected` to a byte stream, the way the browser
/// transport does: binary frames both ways; ends at `closed` or close.
pub fn ws_stream(ws: Ws) -> DuplexStream {
    let (near, far) = tokio::io::duplex(256 * 1024);
    tokio::spawn(async move {
        let (mut ws_tx, mut ws_rx) = ws.split();
        let (mut far_rx, mut far_tx) = tokio::io::split(far);
        let up = async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match far_rx.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if ws_tx
                            .send(Message::binary(buf[..n].to_vec()))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
            let _ = ws_tx.close().await;
        };
        let down = async move {
            while let Some(Ok(message)) = ws_rx.next().await {
                let stop = match message {
                    Message::Binary(data) => far_tx.write_all(&data).await.is_err(),
                    Message::Close(_) => true,
                    _ => false,
                };
                if stop {
                    break;
                }
            }
            let _ = far_tx.shutdown().await;
        };
        tokio::join!(up, down);
    });
    near
}
