//! The third wire form of an expired password: a server that answers the password request with
//! SSH_MSG_USERAUTH_PASSWD_CHANGEREQ (RFC 4252 section 8). OpenSSH never sends it, so the
//! server here is our own russh server scripted to (`patches/russh`: a password handler's
//! `Auth::Partial` becomes that message). Without the client side of the patch, the probe
//! waits for an answer that never comes and the run ends in a timeout.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::server::{Auth, Server as _};
use russh::{MethodKind, MethodSet};
use sshdiag_cli::native::TcpConnector;
use sshdiag_core::{AuthPlan, Credential, ProbeOptions, Secret};
use sshdiag_events::{ErrorType, Layer};

/// The prompt the scripted server sends with its change request.
const PROMPT: &str = "Your password has expired; choose a new one.";
/// The password the probe sends (it must reach no event).
const PASSWORD: &str = "old-secret-pw-Zq7";

struct Factory;

impl russh::server::Server for Factory {
    type Handler = Expired;

    fn new_client(&mut self, _peer: Option<SocketAddr>) -> Expired {
        Expired
    }
}

/// Every password is right, and expired.
struct Expired;

impl russh::server::Handler for Expired {
    type Error = russh::Error;

    async fn auth_password(&mut self, _user: &str, _password: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::Partial {
            name: Cow::Borrowed(""),
            instructions: Cow::Borrowed(PROMPT),
            prompts: Cow::Owned(Vec::new()),
        })
    }
}

#[tokio::test]
async fn a_password_change_request_is_named_as_an_expired_password_at_the_auth_layer() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut methods = MethodSet::empty();
    methods.push(MethodKind::Password);
    let config = Arc::new(russh::server::Config {
        methods,
        keys: vec![sshdiag_proxy::demo::generate_host_key().unwrap()],
        auth_rejection_time: Duration::from_millis(10),
        ..Default::default()
    });
    let server = tokio::spawn(async move {
        let _ = Factory.run_on_socket(config, &listener).await;
    });
    let auth = AuthPlan::Credentials(vec![Credential::Password(Secret::new(PASSWORD))]);
    let mut o = ProbeOptions::new("127.0.0.1", port, "alice", auth);
    o.timeout_ms = Some(20_000);
    let r = crate::probe_untrusted(o, &mut TcpConnector).await;
    server.abort();
    let v = &r.verdict;
    assert_eq!(v.error_type, Some(ErrorType::AuthFailed), "{v:#?}");
    assert_eq!(
        (v.code.as_str(), v.layer),
        ("password-expired", Some(Layer::Auth))
    );
    assert!(v.summary.contains("has expired"), "{}", v.summary);
    let error = crate::error_of(&r);
    assert!(error.message.contains(PROMPT), "{}", error.message);
    assert_eq!(error.methods_tried, vec!["password".to_string()]);
    let all = serde_json::to_string(&r.events).unwrap();
    assert!(!all.contains(PASSWORD), "the password reached an event");
}
