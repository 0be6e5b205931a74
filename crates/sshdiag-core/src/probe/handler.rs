//! The russh client handler the handshake hands russh: it decides on the host key (or, for
//! the host key scan, only takes it) and reports what russh negotiated, as notes the stage
//! turns into events. Every connection gives russh this one handler type and one stream type,
//! [`BoxedStream`], so the wasm module carries one russh client. It never sees a secret.

use std::sync::{Arc, Mutex};

use russh::client;
use sshdiag_events::{HostKeyPolicy, Negotiated};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::hostkey::{
    HostKeyDecision, HostKeyInfo, TrustKind, decide_checked, decide_host_certificate,
};
use crate::runtime::Env;
use crate::tap::TapNote;

/// Messages from inside russh's session task (Send) to the stage.
#[derive(Debug)]
pub(crate) enum Note {
    Tap(TapNote),
    HostKey {
        info: HostKeyInfo,
        decision: HostKeyDecision,
        start_ms: f64,
        end_ms: f64,
    },
    KexDone(Negotiated),
    ServerDisconnect {
        code: u32,
        description: String,
    },
    /// The server answered a password with SSH_MSG_USERAUTH_PASSWD_CHANGEREQ: its prompt.
    PasswordChangeRequest(String),
    /// The server refused a channel: its reason code and its own words.
    ChannelOpenFailure {
        code: u32,
        description: String,
    },
    /// The server announced its host keys after login (`hostkeys-00@openssh.com`).
    HostKeysAnnounced(Vec<russh::keys::PublicKey>),
}

/// A stream russh's client runs over. Every connection is handed to russh as one type,
/// [`BoxedStream`], with one handler type, [`ProbeHandler`], so russh's client (its session
/// loop, packet reader and handler calls) is compiled once, not once per stream and handler
/// (the connector's stream, a jump host's channel, the host key scan): 7 KB of the wasm
/// module, brotli (issue 17, BENCHMARKS.md).
pub(crate) trait SshStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> SshStream for T {}

/// Any [`SshStream`], boxed.
pub(crate) type BoxedStream = Box<dyn SshStream>;

/// The russh client handler: decides on the host key and reports what russh negotiated.
pub struct ProbeHandler {
    pub(super) notes: UnboundedSender<Note>,
    pub(super) trusted: Vec<HostKeyInfo>,
    /// `@revoked` keys and `@cert-authority` CAs for this host, and its name as the
    /// certificate's principals must list it.
    pub(super) revoked: Vec<HostKeyInfo>,
    pub(super) cas: Vec<HostKeyInfo>,
    pub(super) trust_kind: TrustKind,
    pub(super) host: String,
    pub(super) policy: HostKeyPolicy,
    pub(super) env: Arc<dyn Env>,
    pub(super) kex_reported: bool,
    /// Set for the host key scan (`inventory.rs`): the key shown is put here and refused, so
    /// the connection ends before authentication; no trust decision is made.
    pub(super) taken: Option<Arc<Mutex<Option<HostKeyInfo>>>>,
}

impl ProbeHandler {
    /// The host key scan's handler: takes the key a server shows into `taken` and refuses it.
    /// Its notes go nowhere (the scan reads only the key).
    pub(super) fn key_taker(env: Arc<dyn Env>, taken: Arc<Mutex<Option<HostKeyInfo>>>) -> Self {
        ProbeHandler {
            notes: unbounded_channel().0,
            trusted: Vec::new(),
            revoked: Vec::new(),
            cas: Vec::new(),
            trust_kind: TrustKind::default(),
            host: String::new(),
            policy: HostKeyPolicy::No,
            env,
            kex_reported: false,
            taken: Some(taken),
        }
    }
}

fn is_aead(cipher: &str) -> bool {
    cipher.contains("poly1305") || cipher.contains("-gcm")
}

/// The wire name of a negotiated compression. sshdiag builds russh without `flate2`, so
/// `none` is the only method it offers and can negotiate; enabling `flate2` adds variants and
/// makes this match fail to compile, which is where their names belong.
fn compression_name(c: &russh::compression::Compression) -> &'static str {
    match c {
        russh::compression::Compression::None => "none",
    }
}

fn negotiated(names: &russh::Names) -> Negotiated {
    let cipher = names.cipher.as_ref().to_string();
    let mac = |m: &russh::mac::Name| {
        if is_aead(&cipher) {
            "implicit".to_string()
        } else {
            m.as_ref().to_string()
        }
    };
    Negotiated {
        kex: Some(names.kex.as_ref().to_string()),
        host_key: Some(names.key.as_str().to_string()),
        cipher_cs: Some(cipher.clone()),
        cipher_sc: Some(cipher.clone()),
        mac_cs: Some(mac(&names.client_mac)),
        mac_sc: Some(mac(&names.server_mac)),
        compression_cs: Some(compression_name(&names.client_compression).to_string()),
        compression_sc: Some(compression_name(&names.server_compression).to_string()),
        strict_kex: Some(names.strict_kex()),
        server_sig_algs: None,
    }
}

impl client::Handler for ProbeHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        if let Some(taken) = &self.taken {
            if let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = key
                && let Ok(mut seen) = taken.lock()
            {
                *seen = Some(HostKeyInfo::from_public_key(key));
            }
            return Ok(false);
        }
        let start_ms = self.env.monotonic_ms();
        let (public, cert) = match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => (key.clone(), None),
            russh::keys::PublicKeyOrCertificate::Certificate(cert) => (
                cert.public_key().clone().into(),
                Some(crate::certificate::facts(cert)),
            ),
        };
        let info = HostKeyInfo::from_public_key(&public);
        let mut decision = decide_checked(self.policy, &self.trusted, &self.revoked, &info);
        if let Some(facts) = cert
            && !decision.revoked
        {
            let now = (self.env.now_unix_ms() / 1000.0).max(0.0) as u64;
            decision = decide_host_certificate(
                self.policy,
                &facts,
                &self.host,
                &self.cas,
                &self.revoked,
                now,
            );
        }
        decision.trust = self.trust_kind;
        let accept = decision.accept;
        let _ = self.notes.send(Note::HostKey {
            info,
            decision,
            start_ms,
            end_ms: self.env.monotonic_ms(),
        });
        Ok(accept)
    }

    async fn kex_done(
        &mut self,
        _shared_secret: Option<&[u8]>,
        names: &russh::Names,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        if self.kex_reported {
            return Ok(());
        }
        self.kex_reported = true;
        let _ = self.notes.send(Note::KexDone(negotiated(names)));
        Ok(())
    }

    async fn disconnected(
        &mut self,
        reason: client::DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        match reason {
            client::DisconnectReason::ReceivedDisconnect(info) => {
                let _ = self.notes.send(Note::ServerDisconnect {
                    code: info.reason_code as u32,
                    description: info.message,
                });
                Ok(())
            }
            client::DisconnectReason::Error(e) => Err(e),
        }
    }

    async fn auth_password_change_request(
        &mut self,
        prompt: &str,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        let prompt = prompt.chars().take(200).collect();
        let _ = self.notes.send(Note::PasswordChangeRequest(prompt));
        Ok(())
    }

    async fn openssh_ext_host_keys_announced(
        &mut self,
        keys: Vec<russh::keys::PublicKey>,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        // Proven later, from the stage (awaiting a proof here would block russh's loop).
        let _ = self.notes.send(Note::HostKeysAnnounced(keys));
        Ok(())
    }

    async fn channel_open_failure(
        &mut self,
        _channel: russh::ChannelId,
        reason: russh::ChannelOpenFailure,
        description: &str,
        _language: &str,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        let _ = self.notes.send(Note::ChannelOpenFailure {
            code: reason.code(),
            description: description.chars().take(200).collect(),
        });
        Ok(())
    }
}
