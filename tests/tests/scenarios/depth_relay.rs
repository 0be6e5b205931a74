//! Diagnostic depth through the real relay: a target that resets the connection after the
//! relay's TCP handshake is named as a reset before the banner, never as a refused connection.

use std::net::TcpListener;
use std::time::Duration;

use sshdiag_cli::native::WsRelayConnector;
use sshdiag_core::{AuthPlan, ProbeOptions};
use sshdiag_events::Layer;
use sshdiag_tests::relay::RelayFixture;
use sshdiag_tests::sshd::TEST_USER;

#[tokio::test]
async fn a_reset_behind_the_relay_is_a_reset_before_the_banner_not_a_refusal() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            sshdiag_tests::ports::reset_on_close(&s).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            drop(s);
        }
    });
    let relay = RelayFixture::start(vec![format!("127.0.0.1/32:{port}")])
        .await
        .unwrap();
    let mut c = WsRelayConnector {
        url: relay.ws_url(),
        token: None,
    };
    let mut o = ProbeOptions::new("127.0.0.1", port, TEST_USER, AuthPlan::Probe);
    o.connect_timeout_ms = 5_000;
    o.timeout_ms = Some(20_000);
    let r = crate::probe_untrusted(o, &mut c).await;
    assert!(!r.verdict.ok);
    assert_eq!(r.verdict.layer, Some(Layer::Banner), "{:#?}", r.events);
    assert_eq!(r.verdict.code, "reset-before-banner", "{:#?}", r.events);
    assert!(
        !r.verdict.summary.contains("refused"),
        "{}",
        r.verdict.summary
    );
    let err = crate::error_of(&r);
    assert_eq!(err.context["ending"], "reset");
}
