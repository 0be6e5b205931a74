//! The page's view of a session (`SessionView`): it is the bundle's derivation, live from the
//! events so far and in the viewer from a bundle, plus the few single-event details the page
//! shows. If these facts drift from the bundle's, the page shows something the bundle does not.

use sshdiag_events::bundle::{Bundle, SessionView, derive_from_events};
use sshdiag_events::codes::{ErrorType, Phase};
use sshdiag_events::event::*;

use crate::util::{self, Identity};

#[test]
fn a_finished_session_shows_exactly_what_its_bundle_derives() {
    let id = Identity::default();
    let events = util::ok_session(&id);
    let bundle = Bundle::from_session(util::session_info(&id), events.clone(), vec![]);
    for view in [
        SessionView::from_events(&events),
        SessionView::from_bundle(&bundle),
    ] {
        assert!(view.finished);
        assert_eq!(view.verdict, bundle.verdict);
        assert_eq!(view.algorithms, bundle.algorithms);
        assert_eq!(view.server, bundle.server);
        assert_eq!(view.timing, bundle.timing);
        assert_eq!(view.error_context, bundle.error_context);
        assert_eq!(view.connection_id.as_deref(), Some("c7f3a91e2b"));
        assert_eq!(
            view.client_version.as_deref(),
            Some("SSH-2.0-sshdiag_0.1.0")
        );
        assert_eq!(view.host_key_status, Some(HostkeyStatus::Trusted));
        assert_eq!(view.host_key_policy, Some(HostKeyPolicy::AcceptNew));
        assert_eq!(view.failed_phase, None, "a success failed nowhere");
        assert!(!view.kex_failed);
        assert_eq!(view.host_key_mismatch, None);
    }
    assert_eq!(
        bundle.server.software.as_deref(),
        Some("OpenSSH_9.2p1"),
        "the view's software is the bundle's, taken from the banner"
    );
}

#[test]
fn a_running_session_is_derived_from_the_events_so_far() {
    let id = Identity::default();
    let events = util::ok_session(&id);
    // Up to the key exchange: the banner and algorithms are known, the verdict is not.
    let so_far: Vec<Event> = events
        .iter()
        .take_while(|e| !matches!(e.data, EventData::Hostkey(_)))
        .cloned()
        .collect();
    let view = SessionView::from_events(&so_far);
    assert!(!view.finished, "no VERDICT yet");
    assert_eq!(view.headline, "", "no headline before the verdict");
    assert_eq!(view.server, derive_from_events(&so_far).server);
    assert_eq!(
        view.server.banner.as_deref(),
        Some("SSH-2.0-OpenSSH_9.2p1 Debian-2")
    );
    assert_eq!(view.algorithms.kex.as_deref(), Some("curve25519-sha256"));
    assert!(view.algorithms.server_proposal.is_some());
    assert_eq!(view.server.host_key, None, "no HOSTKEY event yet");
    assert!(
        view.timing.phases.is_empty(),
        "phases come with the verdict"
    );
    assert_eq!(
        view.phase_in_progress,
        Some(Phase::Hostkey),
        "after the key exchange, the host key is checked next"
    );
}

#[test]
fn the_phase_in_progress_follows_the_steps_and_ends_with_the_verdict() {
    let id = Identity::default();
    let events = util::ok_session(&id);
    let upto = |code: &str| {
        let end = events.iter().position(|e| e.code == code).unwrap() + 1;
        SessionView::from_events(&events[..end]).phase_in_progress
    };
    assert_eq!(upto("connect-initiating"), Some(Phase::Relay));
    assert_eq!(upto("proxy-ws-open"), Some(Phase::Dns));
    assert_eq!(upto("proxy-tcp-connected"), Some(Phase::Banner));
    assert_eq!(upto("version-received"), Some(Phase::Kex));
    assert_eq!(upto("auth-attempt"), Some(Phase::Auth));
    assert_eq!(upto("channel-opened"), Some(Phase::Exec));
    assert_eq!(SessionView::from_events(&events).phase_in_progress, None);
}

#[test]
fn a_failure_names_its_phase_and_a_mismatch_both_fingerprints() {
    let id = Identity::default();
    let view = SessionView::from_events(&util::failed_session(&id));
    assert_eq!(view.failed_phase, Some(Phase::Auth));
    // The plain headline, not the type name, made in one place for the page and the CLI.
    assert_eq!(view.headline, "The server rejected the login");
    assert_eq!(
        view.error_context.as_ref().map(|e| e.error_type.as_str()),
        Some("AuthFailed")
    );

    // The server's key changed: the HOSTKEY event reports it, the verdict says so.
    let mut events = util::ok_session(&id);
    events.retain(|e| !matches!(e.data, EventData::Verdict(_)));
    for event in &mut events {
        if let EventData::Hostkey(hostkey) = &mut event.data {
            hostkey.status = Some(HostkeyStatus::Mismatch);
            hostkey.expected_fingerprint = Some("SHA256:old".into());
        }
    }
    let mut verdict = util::failed_session(&id).pop().expect("a verdict");
    if let EventData::Verdict(v) = &mut verdict.data {
        v.error_type = Some(ErrorType::HostKeyMismatch);
        v.layer = Some(sshdiag_events::Layer::Hostkey);
    }
    events.push(verdict);
    let view = SessionView::from_events(&events);
    assert_eq!(view.failed_phase, Some(Phase::Hostkey));
    let mismatch = view.host_key_mismatch.expect("a mismatch is shown");
    assert_eq!(mismatch.expected.as_deref(), Some("SHA256:old"));
    assert_eq!(
        mismatch.presented.as_deref(),
        Some("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s")
    );
    assert_eq!(mismatch.algorithm.as_deref(), Some("ssh-ed25519"));
}

#[test]
fn the_audit_grade_keeps_its_wire_names() {
    for (grade, name) in [
        (AuditGrade::Broken, "broken"),
        (AuditGrade::Weak, "weak"),
        (AuditGrade::Note, "note"),
        (AuditGrade::Ok, "ok"),
        (AuditGrade::Good, "good"),
    ] {
        assert_eq!(grade.as_str(), name);
        assert_eq!(grade.to_string(), name);
        assert_eq!(
            serde_json::to_value(grade).ok(),
            Some(serde_json::Value::String(name.into()))
        );
        assert_eq!(
            serde_json::from_value::<AuditGrade>(serde_json::Value::String(name.into())).ok(),
            Some(grade)
        );
    }
    assert!(AuditGrade::Broken.needs_fix() && AuditGrade::Weak.needs_fix());
    assert!(!AuditGrade::Ok.needs_fix() && !AuditGrade::Good.needs_fix());
    assert!(!AuditGrade::Note.needs_fix());
    assert_eq!(AuditGrade::ALL.len(), 5);
}

#[test]
fn through_jump_hosts_the_view_lists_the_hops_and_names_the_failed_one() {
    let id = Identity::default();
    let hop = |index: u32, host: &str| sshdiag_events::Hop {
        index,
        host: host.to_string(),
        port: 22,
    };
    // A direct session has neither.
    let direct = SessionView::from_events(&util::failed_session(&id));
    assert!(direct.hops.is_empty() && direct.failed_hop.is_none());
    // The same events stamped as a chain: the bastion (0) first, then the target (1), where the
    // session fails; the hops come in chain order whatever order they are met in.
    let mut events = util::failed_session(&id);
    let half = events.len() / 2;
    for (i, e) in events.iter_mut().enumerate().skip(1) {
        e.hop = Some(if i < half {
            hop(0, "bastion")
        } else {
            hop(1, "db")
        });
    }
    let view = SessionView::from_events(&events);
    assert_eq!(view.hops, [hop(0, "bastion"), hop(1, "db")]);
    assert_eq!(view.failed_hop, Some(hop(1, "db")));
    let last_banner = events
        .iter()
        .rev()
        .find(|e| matches!(e.data, EventData::Version(_)))
        .and_then(|e| e.hop.clone());
    assert!(last_banner.is_some());
    assert_eq!(view.server_hop, last_banner, "the server facts' hop");
    assert!(direct.server_hop.is_none());
    // A success names no failed hop.
    let mut ok = util::ok_session(&id);
    for e in ok.iter_mut() {
        e.hop = Some(hop(0, "bastion"));
    }
    let view = SessionView::from_events(&ok);
    assert_eq!(view.hops, [hop(0, "bastion")]);
    assert_eq!(view.failed_hop, None);
}

/// A session that fails at its bastion, recorded with its chain: the bastion's user, the
/// target's and both hosts are the identities of the chain.
fn chain_bundle() -> Bundle {
    let id = Identity::default();
    let mut events = util::failed_session(&id);
    for e in events.iter_mut() {
        e.hop = Some(sshdiag_events::Hop {
            index: 0,
            host: "bastion.corp.example".into(),
            port: 2200,
        });
    }
    let mut info = util::session_info(&id);
    info.jump = vec![sshdiag_events::bundle::ChainEntry {
        host: "bastion.corp.example".into(),
        port: 2200,
        username: "jumper".into(),
    }];
    Bundle::from_session(info, events, util::transcript())
}

#[test]
fn a_bundle_records_its_chain_and_the_viewer_names_every_server_of_it() {
    let bundle = chain_bundle();
    let hops = bundle.hops.as_ref().expect("the chain is recorded");
    assert_eq!(hops.len(), 2);
    let (bastion, target) = (&hops[0], &hops[1]);
    assert_eq!(
        (
            bastion.index,
            bastion.target,
            bastion.host.as_str(),
            bastion.port
        ),
        (0, false, "bastion.corp.example", 2200)
    );
    assert_eq!(bastion.username, "jumper");
    // The bastion's own facts, derived from its own events as the target's would be.
    assert!(bastion.reached);
    assert!(bastion.server.banner.is_some() && bastion.server.host_key.is_some());
    assert!(bastion.algorithms.kex.is_some());
    assert_eq!(bastion.host_key_status, Some(HostkeyStatus::Trusted));
    // The target, never reached, is still named.
    assert!(target.target && !target.reached);
    assert_eq!(target.host, "example.com");
    assert!(target.server.banner.is_none());

    let view = SessionView::from_bundle(&Bundle::from_json(&bundle.to_json(false)).unwrap());
    assert_eq!(view.jump_hosts, Some(1));
    assert_eq!(view.hops.len(), 2, "the unreached target is listed too");
    assert_eq!(view.chain, *hops);

    // Redacted, every server's host and user are pseudonyms, the same in the chain and in the
    // events' `hop`.
    let redacted = bundle.to_json(true);
    for identity in ["bastion.corp.example", "jumper", "example.com", "alice"] {
        assert!(!redacted.contains(identity), "{identity} in {redacted}");
    }
    let read = Bundle::from_json(&redacted).unwrap();
    let chain = read.hops.as_ref().unwrap();
    assert!(chain[0].host.starts_with("host-") && chain[0].username.starts_with("user-"));
    assert_eq!(
        Some(&chain[0].host),
        read.events[1].hop.as_ref().map(|h| &h.host)
    );
    assert_eq!(chain[0].server.host_key, bastion.server.host_key, "kept");
}

#[test]
fn a_bundle_without_a_chain_still_opens_as_before() {
    let mut value: serde_json::Value =
        serde_json::from_str(&chain_bundle().to_json(false)).unwrap();
    let object = value.as_object_mut().unwrap();
    object.remove("hops");
    object.remove("integrity");
    object.insert("version".into(), "1.0".into());
    let old = Bundle::from_json(&value.to_string()).unwrap();
    assert!(old.hops.is_none());
    let view = SessionView::from_bundle(&old);
    assert_eq!(view.jump_hosts, None);
    assert!(view.chain.is_empty());
    assert_eq!(view.hops.len(), 1, "only the hops its events name");
    assert_eq!(
        Bundle::from_json(&chain_bundle().to_json(false))
            .unwrap()
            .version,
        "1.1"
    );
}
