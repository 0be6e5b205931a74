//! The auth stage: `none` first (it costs nothing and lists the methods), then each credential
//! in the order given, one function per kind, each returning what the server said as a typed
//! [`AuthOutcome`].
//!
//! Secrets go from [`Secret`](crate::options::Secret) to russh and nowhere else: no event,
//! message or hint here is formatted from one (key fingerprints are of the public part).

use std::net::SocketAddr;
use std::sync::Arc;

use russh::client::{self, AuthResult, KeyboardInteractiveAuthResponse};
use russh::keys::{Certificate, PrivateKey, PrivateKeyWithHashAlg};
use serde_json::json;
use sshdiag_events::codes::Phase;
use sshdiag_events::{
    AuthData, AuthMethod, AuthStatus, Code, DisconnectReason, ErrorType, EventData, Layer, Level,
};
use tokio::sync::Mutex;

use super::attempt::Session;
use super::handshake::ProbeHandler;
use super::recorder::round3;
use crate::certificate::{CertificateFacts, Clock, Seen, parse, refusal_hint_seen};
use crate::failure::Failure;
use crate::hints;
use crate::options::{AgentConnection, AgentSource, AuthPlan, Credential, Secret};
use crate::shell_output::{password_expired_hints, quote, says_password_expired};

type Handle = client::Handle<ProbeHandler>;

/// Seconds the server's clock may differ from ours when a certificate's validity is judged.
pub const CLOCK_SKEW_SECS: u64 = 60;

/// What the server answered to one credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    Accepted,
    /// Accepted, but the server wants another method as well.
    Partial,
    Rejected,
}

/// One credential tried: how, with which public key, and the answer.
struct Tried {
    method: AuthMethod,
    key_fp: Option<String>,
    outcome: AuthOutcome,
}

/// Why one `AUTH` event was made (for the rejected and error cases, with the error's type).
struct AuthNote {
    status: AuthStatus,
    method: AuthMethod,
    duration: Option<f64>,
    key_fp: Option<String>,
    err: Option<(ErrorType, String)>,
    certificate: Option<sshdiag_events::CertificateInfo>,
    /// The certificate's description before connecting, not an attempt.
    describes: bool,
}

impl AuthNote {
    fn new(status: AuthStatus, method: AuthMethod) -> Self {
        AuthNote {
            status,
            method,
            duration: None,
            key_fp: None,
            err: None,
            certificate: None,
            describes: false,
        }
    }
    fn took(mut self, ms: f64) -> Self {
        self.duration = Some(ms);
        self
    }
    fn key(mut self, fp: Option<String>) -> Self {
        self.key_fp = fp;
        self
    }
    fn cert(mut self, facts: Option<&CertificateFacts>) -> Self {
        self.certificate = facts.map(CertificateFacts::info);
        self
    }
    fn error(mut self, error_type: ErrorType, message: String) -> Self {
        self.err = Some((error_type, message));
        self
    }
}

/// The signature hash for a key: for RSA what the server's `server-sig-algs` prefers
/// (rsa-sha2-256 when it says nothing), for other keys none.
async fn rsa_hash(
    handle: &Handle,
    algorithm: russh::keys::Algorithm,
) -> Option<russh::keys::HashAlg> {
    if !algorithm.is_rsa() {
        return None;
    }
    match handle.best_supported_rsa_hash().await {
        Ok(Some(h)) => h,
        _ => Some(russh::keys::HashAlg::Sha256),
    }
}

impl Session<'_> {
    /// Authenticate as the configured user; in probe mode, only list the methods.
    pub async fn authenticate(&mut self, handle: &mut Handle) -> Result<(), Failure> {
        self.start_phase(Phase::Auth);
        self.at.reached = Layer::Auth;
        let result = self.authenticate_with(handle).await;
        self.end_phase();
        if result.is_ok() {
            self.emit_authenticated();
        }
        result
    }

    fn auth_event(&mut self, note: AuthNote) {
        if let (AuthStatus::Attempt, Some(fp)) = (note.status, &note.key_fp) {
            self.at.keys_offered.push(fp.clone());
        }
        let (level, code) = match note.status {
            AuthStatus::Attempt if note.describes => (Level::Info, Code::AuthCertificate),
            AuthStatus::Attempt => (Level::Debug, Code::AuthAttempt),
            AuthStatus::Success => (Level::Info, Code::AuthSuccess),
            AuthStatus::Partial => (Level::Info, Code::AuthPartial),
            AuthStatus::Failed if note.method == AuthMethod::None => {
                (Level::Info, Code::AuthMethodsListed)
            }
            AuthStatus::Failed => (Level::Warn, Code::AuthRejected),
        };
        let data = AuthData {
            status: Some(note.status),
            method: Some(note.method),
            username: Some(self.opts.username.clone()),
            duration_ms: note.duration.map(round3),
            methods_available: if note.status == AuthStatus::Attempt {
                None
            } else {
                self.at.methods_available.clone()
            },
            key_fingerprint: note.key_fp,
            error_type: note.err.as_ref().map(|(t, _)| t.as_str().to_string()),
            error_message: note.err.map(|(_, m)| m),
            certificate: note.certificate,
        };
        self.rec.emit(level, code, EventData::Auth(data));
    }

    fn record_result(&mut self, r: &AuthResult) -> AuthOutcome {
        match r {
            AuthResult::Success => AuthOutcome::Accepted,
            AuthResult::Failure {
                remaining_methods,
                partial_success,
            } => self.record_failure(remaining_methods, *partial_success),
        }
    }

    fn record_failure(
        &mut self,
        remaining: &russh::MethodSet,
        partial_success: bool,
    ) -> AuthOutcome {
        self.at.methods_available = Some(remaining.iter().map(String::from).collect());
        if partial_success {
            AuthOutcome::Partial
        } else {
            AuthOutcome::Rejected
        }
    }

    async fn authenticate_with(&mut self, handle: &mut Handle) -> Result<(), Failure> {
        let opts = self.opts;
        let user = opts.username.as_str();
        let t = self.now();
        self.auth_event(AuthNote::new(AuthStatus::Attempt, AuthMethod::None));
        let r = handle
            .authenticate_none(user)
            .await
            .map_err(|e| self.transport_failure(e))?;
        let outcome = self.record_result(&r);
        let d = self.now() - t;
        if outcome == AuthOutcome::Accepted {
            self.auth_event(AuthNote::new(AuthStatus::Success, AuthMethod::None).took(d));
            self.at.auth_method = Some(AuthMethod::None);
            return Ok(());
        }
        self.auth_event(AuthNote::new(AuthStatus::Failed, AuthMethod::None).took(d));
        let creds = match &opts.auth {
            AuthPlan::Probe => return Ok(()),
            AuthPlan::Credentials(c) => c,
        };
        let mut partial = false;
        let mut accepted = Vec::new();
        let mut cert_hints = Vec::new();
        for (i, cred) in creds.iter().enumerate() {
            let t = self.now();
            let tried = match cred {
                Credential::Password(pw) => Some(self.auth_password(handle, pw).await?),
                Credential::PrivateKey { certificate, .. } => {
                    let Some(Some(key)) = self.at.keys.get(i).cloned() else {
                        return Err(Failure::new(
                            ErrorType::Internal,
                            "a decoded key went missing",
                        ));
                    };
                    let cert = certificate.as_deref().and_then(|t| parse(t).ok());
                    let tried = self.auth_key(handle, key, cert.clone()).await?;
                    if let (AuthOutcome::Rejected, Some((_, facts))) = (tried.outcome, &cert) {
                        cert_hints.push(self.certificate_refused(facts));
                    }
                    Some(tried)
                }
                Credential::Agent(AgentSource::Unavailable(why)) => {
                    return Err(Failure::new(ErrorType::AgentError, why.clone()));
                }
                Credential::Agent(AgentSource::Connected(agent)) => {
                    self.auth_agent(handle, agent).await?
                }
                Credential::KeyboardInteractive { answers } => {
                    Some(self.auth_keyboard(handle, answers).await?)
                }
            };
            let Some(Tried {
                method,
                key_fp,
                outcome,
            }) = tried
            else {
                // Each agent key's rejection is already reported.
                self.at
                    .methods_tried
                    .push(AuthMethod::SshAgent.as_str().to_string());
                continue;
            };
            self.at.methods_tried.push(method.as_str().to_string());
            let d = self.now() - t;
            let note = |status| AuthNote::new(status, method).took(d);
            match outcome {
                AuthOutcome::Accepted => {
                    self.auth_event(note(AuthStatus::Success).key(key_fp));
                    self.at.auth_method = Some(method);
                    return Ok(());
                }
                AuthOutcome::Partial => {
                    partial = true;
                    accepted.push(method.as_str().to_string());
                    self.auth_event(note(AuthStatus::Partial).key(key_fp));
                }
                AuthOutcome::Rejected => {
                    let msg = hints::auth_rejected_message(method, user);
                    let n = note(AuthStatus::Failed).key(key_fp);
                    self.auth_event(n.error(ErrorType::AuthFailed, msg));
                }
            }
        }
        if partial {
            return Err(self.auth_incomplete(&accepted));
        }
        // A refused certificate's own evidence comes before the generic key hints.
        let mut failure = self.auth_failed(partial);
        cert_hints.append(&mut failure.hints);
        failure.hints = cert_hints;
        Err(failure)
    }

    /// Before connecting: check that the certificate certifies this key and say what it is
    /// (an `AUTH` event with its public facts). A certificate that cannot be read, or is for
    /// another key, is refused here, as OpenSSH would not offer it.
    pub fn describe_certificate(
        &mut self,
        text: &str,
        key: &PrivateKey,
        label: &str,
    ) -> Result<(), Failure> {
        let bad = |m: String| Failure::new(ErrorType::InvalidInput, m).ctx("key", json!(label));
        let (_, facts) =
            parse(text).map_err(|e| bad(format!("the certificate for {label}: {e}")))?;
        let fp = key
            .public_key()
            .fingerprint(russh::keys::HashAlg::Sha256)
            .to_string();
        if facts.key_fingerprint != fp {
            return Err(bad(format!(
                "the certificate certifies key {}, not {label} ({fp})",
                facts.key_fingerprint
            ))
            .hint("Give the certificate signed for this key (KEY-cert.pub next to KEY, or CertificateFile)."));
        }
        let note = AuthNote::new(AuthStatus::Attempt, AuthMethod::PrivateKey).key(Some(fp));
        let mut note = note.cert(Some(&facts));
        note.describes = true;
        self.auth_event(note);
        Ok(())
    }

    /// The hint for a refused certificate: what in it explains the refusal (expired, not yet
    /// valid, the user not a principal), else the CA the server must trust.
    fn certificate_refused(&self, facts: &CertificateFacts) -> String {
        let clock = Clock {
            now: (self.env.now_unix_ms() / 1000.0).max(0.0) as u64,
            skew: CLOCK_SKEW_SECS,
        };
        let source = self
            .at
            .source
            .as_deref()
            .and_then(|s| s.parse::<SocketAddr>().ok());
        let seen = match (source, self.via_relay()) {
            (Some(a), false) => Seen::Direct(a.ip()),
            (Some(a), true) => Seen::Relay(a.ip()),
            // Reached through a jump host's channel: the server saw that jump host connect.
            (None, _) if self.rec.hop.as_ref().is_some_and(|h| h.index > 0) => Seen::Unknown(
                "behind a jump host it is that jump host's own address as the server sees it; on the jump host, `ip route get SERVER` shows it",
            ),
            (None, true) => Seen::Unknown("the relay did not report its own address"),
            (None, false) => Seen::Unknown(""),
        };
        format!(
            "The server refused the certificate {}: {}",
            facts.key_id,
            refusal_hint_seen(facts, &self.opts.username, clock, &seen)
        )
    }

    /// Partial success: a first step was accepted and the server wants another.
    fn auth_incomplete(&self, accepted: &[String]) -> Failure {
        let user = &self.opts.username;
        let tried = &self.at.methods_tried;
        let available = self.at.methods_available.clone().unwrap_or_default();
        let rejected: Vec<String> = tried
            .iter()
            .filter(|m| !accepted.contains(m))
            .cloned()
            .collect();
        Failure::new(
            ErrorType::AuthFailed,
            format!(
                "the first step ({}) was accepted for user {user}; the server now wants {}",
                accepted.join(", "),
                if available.is_empty() {
                    "another method".to_string()
                } else {
                    available.join(" or ")
                }
            ),
        )
        .code(Code::AuthIncomplete)
        .ctx("methods_tried", json!(tried))
        .ctx("methods_accepted", json!(accepted))
        .ctx("methods_available", json!(available))
        .ctx("partial_success", json!(true))
        .hints(hints::auth_partial(accepted, &rejected, &available, user))
        .disconnect(DisconnectReason::AuthFailure)
    }

    /// The server answered a login with a demand to change the password (a
    /// keyboard-interactive prompt saying so, or SSH_MSG_USERAUTH_PASSWD_CHANGEREQ): an `AUTH`
    /// event and the failure, quoting the server's words.
    fn password_expired_in_auth(&mut self, method: AuthMethod, said: &str) -> Failure {
        let user = self.opts.username.clone();
        let said = quote(said.as_bytes());
        let message = format!(
            "the server wants a new password for {user} before it lets the login through: {said}"
        );
        let note = AuthNote::new(AuthStatus::Failed, method);
        self.auth_event(note.error(ErrorType::AuthFailed, message.clone()));
        self.at.methods_tried.push(method.as_str().to_string());
        Failure::new(ErrorType::AuthFailed, message)
            .code(Code::PasswordExpired)
            .summary(format!("The password of {user} has expired: the server demands a new one before the login can finish."))
            .ctx("methods_tried", json!(self.at.methods_tried))
            .hints(password_expired_hints(&user))
            .disconnect(DisconnectReason::AuthFailure)
    }

    fn auth_failed(&self, partial: bool) -> Failure {
        let user = &self.opts.username;
        let tried = &self.at.methods_tried;
        let available = self.at.methods_available.clone().unwrap_or_default();
        Failure::new(
            ErrorType::AuthFailed,
            format!(
                "the server rejected every method tried for user {user} ({})",
                tried.join(", ")
            ),
        )
        .ctx("methods_tried", json!(tried))
        .ctx("methods_available", json!(available))
        .ctx("partial_success", json!(partial))
        .hints(hints::auth_failed(tried, &available, user, partial))
        .hints(self.rsa_note(true).into_iter().collect())
        .disconnect(DisconnectReason::AuthFailure)
    }

    /// Remember how an RSA key was offered: `rsa-sha2-512`, `rsa-sha2-256`, or `ssh-rsa`
    /// (SHA-1) when the server's `server-sig-algs` named no SHA-2 form.
    fn note_rsa_offer(&mut self, is_rsa: bool, hash: Option<russh::keys::HashAlg>) {
        if is_rsa {
            let name = match hash {
                Some(russh::keys::HashAlg::Sha512) => "rsa-sha2-512",
                Some(_) => "rsa-sha2-256",
                None => "ssh-rsa",
            };
            self.at.rsa_offered_as = Some(name.to_string());
        }
    }

    /// What the server's user-key algorithms and version say about the RSA key offered, if
    /// one was (`refused`: the login failed).
    pub(super) fn rsa_note(&self, refused: bool) -> Option<String> {
        let offered = self.at.rsa_offered_as.as_deref()?;
        let accepted = (self.at.negotiated.as_ref()).and_then(|n| n.server_sig_algs.as_deref());
        let software = self.at.server_software.as_deref().unwrap_or_default();
        hints::rsa_key(offered, accepted, software, refused)
    }

    async fn auth_password(&mut self, handle: &mut Handle, pw: &Secret) -> Result<Tried, Failure> {
        let user = self.opts.username.as_str();
        self.auth_event(AuthNote::new(AuthStatus::Attempt, AuthMethod::Password));
        let r = handle
            .authenticate_password(user, pw.expose())
            .await
            .map_err(|e| self.transport_failure(e))?;
        // The password-change request (RFC 4252 section 8) reaches us as a handler note.
        self.drain_notes();
        if let Some(prompt) = self.at.password_change.take() {
            let said = if prompt.is_empty() {
                "SSH_MSG_USERAUTH_PASSWD_CHANGEREQ".to_string()
            } else {
                prompt
            };
            return Err(self.password_expired_in_auth(AuthMethod::Password, &said));
        }
        Ok(Tried {
            method: AuthMethod::Password,
            key_fp: None,
            outcome: self.record_result(&r),
        })
    }

    async fn auth_key(
        &mut self,
        handle: &mut Handle,
        key: Arc<PrivateKey>,
        cert: Option<(Certificate, CertificateFacts)>,
    ) -> Result<Tried, Failure> {
        let user = self.opts.username.as_str();
        let fp = key
            .public_key()
            .fingerprint(russh::keys::HashAlg::Sha256)
            .to_string();
        let attempt = AuthNote::new(AuthStatus::Attempt, AuthMethod::PrivateKey);
        let attempt = attempt.cert(cert.as_ref().map(|(_, f)| f));
        self.auth_event(attempt.key(Some(fp.clone())));
        let r = match cert {
            Some((cert, _)) => handle.authenticate_openssh_cert(user, key, cert).await,
            None => {
                let hash = rsa_hash(handle, key.algorithm()).await;
                self.note_rsa_offer(key.algorithm().is_rsa(), hash);
                self.note_rsa_offer(key.algorithm().is_rsa(), hash);
                let key = PrivateKeyWithHashAlg::new(key, hash);
                handle.authenticate_publickey(user, key).await
            }
        }
        .map_err(|e| self.transport_failure(e))?;
        Ok(Tried {
            method: AuthMethod::PrivateKey,
            key_fp: Some(fp),
            outcome: self.record_result(&r),
        })
    }

    /// Every key the agent holds, in its order. `None` when none was accepted (each
    /// rejection is reported as it happens).
    async fn auth_agent(
        &mut self,
        handle: &mut Handle,
        agent: &Mutex<AgentConnection>,
    ) -> Result<Option<Tried>, Failure> {
        let user = self.opts.username.as_str();
        let agent_failure = |what: String| {
            Failure::new(ErrorType::AgentError, what).hints(hints::agent_unavailable())
        };
        let mut agent = agent.lock().await;
        let identities = agent
            .request_identities()
            .await
            .map_err(|e| agent_failure(format!("the agent did not list its keys: {e}")))?;
        let keys: Vec<russh::keys::PublicKey> = identities
            .into_iter()
            .filter_map(|id| match id {
                russh::keys::agent::AgentIdentity::PublicKey { key, .. } => Some(key),
                _ => None,
            })
            .collect();
        if keys.is_empty() {
            let note = AuthNote::new(AuthStatus::Failed, AuthMethod::SshAgent);
            let msg = "the agent holds no keys (ssh-add -l)".to_string();
            self.auth_event(note.error(ErrorType::AgentError, msg));
        }
        for key in keys {
            let fp = key.fingerprint(russh::keys::HashAlg::Sha256).to_string();
            let note = |status| AuthNote::new(status, AuthMethod::SshAgent).key(Some(fp.clone()));
            self.auth_event(note(AuthStatus::Attempt));
            let hash = rsa_hash(handle, key.algorithm()).await;
            let r = handle
                .authenticate_publickey_with(user, key, hash, &mut *agent)
                .await
                .map_err(|e| agent_failure(format!("the agent could not sign: {e}")))?;
            let outcome = self.record_result(&r);
            if outcome != AuthOutcome::Rejected {
                return Ok(Some(Tried {
                    method: AuthMethod::SshAgent,
                    key_fp: Some(fp),
                    outcome,
                }));
            }
            let msg = format!("agent key not accepted for {user}");
            self.auth_event(note(AuthStatus::Failed).error(ErrorType::AuthFailed, msg));
        }
        Ok(None)
    }

    async fn auth_keyboard(
        &mut self,
        handle: &mut Handle,
        answers: &[Secret],
    ) -> Result<Tried, Failure> {
        let user = self.opts.username.as_str();
        let attempt = AuthNote::new(AuthStatus::Attempt, AuthMethod::KeyboardInteractive);
        self.auth_event(attempt);
        let mut r = handle
            .authenticate_keyboard_interactive_start(user, None::<String>)
            .await
            .map_err(|e| self.transport_failure(e))?;
        let mut answers = answers.iter();
        let mut rounds = 0;
        let outcome = loop {
            match r {
                KeyboardInteractiveAuthResponse::Success => break AuthOutcome::Accepted,
                KeyboardInteractiveAuthResponse::Failure {
                    remaining_methods,
                    partial_success,
                } => break self.record_failure(&remaining_methods, partial_success),
                KeyboardInteractiveAuthResponse::InfoRequest {
                    name,
                    instructions,
                    prompts,
                } => {
                    let asked: Vec<&str> = [name.as_str(), instructions.as_str()]
                        .into_iter()
                        .chain(prompts.iter().map(|p| p.prompt.as_str()))
                        .collect();
                    let asked = asked.join("\n");
                    // Never answer a password-change dialogue: report it instead.
                    if says_password_expired(&asked) {
                        return Err(
                            self.password_expired_in_auth(AuthMethod::KeyboardInteractive, &asked)
                        );
                    }
                    rounds += 1;
                    if rounds > 8 {
                        break AuthOutcome::Rejected;
                    }
                    // Prompts beyond the answers given get empty answers.
                    let replies: Vec<String> = prompts
                        .iter()
                        .map(|_| {
                            answers
                                .next()
                                .map(|s| s.expose().to_string())
                                .unwrap_or_default()
                        })
                        .collect();
                    r = handle
                        .authenticate_keyboard_interactive_respond(replies)
                        .await
                        .map_err(|e| self.transport_failure(e))?;
                }
            }
        };
        Ok(Tried {
            method: AuthMethod::KeyboardInteractive,
            key_fp: None,
            outcome,
        })
    }
}
