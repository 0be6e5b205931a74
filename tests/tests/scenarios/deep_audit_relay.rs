//! The deep audit through the real relay: its one extra connection goes the same way in as the
//! run (a second relayed connection, logged under the run's connection id) and measures the
//! group the real sshd hands out.

use sshdiag_cli::native::WsRelayConnector;
use sshdiag_core::{AuthPlan, ProbeOptions};
use sshdiag_tests::sshd::TEST_USER;

#[tokio::test]
async fn the_deep_audit_measures_the_group_through_the_relay() {
    let (sshd, relay) = crate::sshd_behind_relay().await;
    let mut c = WsRelayConnector {
        url: relay.ws_url(),
        token: None,
    };
    let mut o = ProbeOptions::new("127.0.0.1", sshd.port(), TEST_USER, AuthPlan::Probe);
    o.connect_timeout_ms = 5_000;
    o.timeout_ms = Some(30_000);
    o.deep_audit = true;
    let r = crate::probe_untrusted(o, &mut c).await;
    let groups: Vec<_> = r
        .audit
        .iter()
        .filter(|f| f.category == "dh_group")
        .collect();
    assert_eq!(groups.len(), 1, "{:#?}", r.audit);
    let g = groups[0];
    assert_eq!(g.grade.as_str(), "ok", "{g:?}");
    assert!(g.reason.starts_with("the server handed out a "), "{g:?}");
    assert!(g.reason.contains("-bit group"), "{g:?}");
    // Two relayed connections, both under the run's id.
    let log = relay.log_json();
    let connected: Vec<_> = log
        .iter()
        .filter(|l| l["connection_id"] == r.connection_id.as_str())
        .filter(|l| l["code"] == "relay-tcp-connected")
        .collect();
    assert_eq!(connected.len(), 2, "{log:#?}");
}
