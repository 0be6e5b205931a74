//! The probe's stages run a second SSH session carried inside the first, as a jump-host
//! chain will: connect, handshake and authenticate to a real OpenSSH sshd, open a
//! `direct-tcpip` channel through it back to the same sshd, and run the same handshake, auth
//! and exec stages over that channel's stream, both sessions recording into one event stream.

use sshdiag_cli::native::{NativeEnv, TcpConnector};
use sshdiag_core::hostkey::NoTrustStore;
use sshdiag_core::probe::attempt::{Link, Session};
use sshdiag_core::probe::recorder::Recorder;
use sshdiag_core::{AuthPlan, Credential, ProbeOptions, Secret};
use sshdiag_events::{AuthStatus, EventData, Transport};
use sshdiag_tests::sshd::{SshdFixture, SshdOptions};

#[tokio::test(flavor = "multi_thread")]
async fn the_stages_run_a_second_session_through_a_channel_of_the_first() {
    let sshd = SshdFixture::start(SshdOptions::default()).expect("sshd");
    let opts = ProbeOptions::new(
        sshd.host(),
        sshd.port(),
        sshd.user(),
        AuthPlan::Credentials(vec![Credential::Password(Secret::new(sshd.password()))]),
    );
    let env = NativeEnv::shared();
    let mut rec = Recorder::new("jump0".into(), env.clone(), Box::new(|_| {}));
    let mut link = Link::new(None);
    assert_eq!(link.transport, Transport::Tcp);
    let mut outer = Session::new(&opts, env.clone(), &mut rec, &mut link);
    outer.at.lists = Some(opts.algorithms.resolve().expect("algorithms"));
    let stream = outer
        .connect_transport(&mut TcpConnector)
        .await
        .expect("connect");
    let mut first = outer
        .handshake(stream, &mut NoTrustStore)
        .await
        .expect("first handshake");
    outer.authenticate(&mut first).await.expect("first login");

    let channel = first
        .channel_open_direct_tcpip(sshd.host(), sshd.port() as u32, "127.0.0.1", 0)
        .await
        .expect("a direct-tcpip channel to the second hop");
    let mut hop_link = Link::new(None);
    let mut hop = Session::new(&opts, env.clone(), &mut *outer.rec, &mut hop_link);
    hop.at.lists = Some(opts.algorithms.resolve().expect("algorithms"));
    let mut second = hop
        .handshake(channel.into_stream(), &mut NoTrustStore)
        .await
        .expect("second handshake, inside the first session");
    hop.authenticate(&mut second).await.expect("second login");
    hop.exec(&second, "echo through-the-first")
        .await
        .expect("exec");
    assert_eq!(
        hop.at.commands[0].stdout.as_deref(),
        Some("through-the-first\n")
    );
    // The second session's own evidence: its banner and negotiated algorithms.
    assert!(
        hop.at
            .server_software
            .as_deref()
            .unwrap_or("")
            .starts_with("OpenSSH")
    );
    assert!(hop.at.negotiated.is_some());

    let versions = rec
        .events
        .iter()
        .filter(|e| matches!(e.data, EventData::Version(_)))
        .count();
    let logins = rec
        .events
        .iter()
        .filter(|e| matches!(&e.data, EventData::Auth(a) if a.status == Some(AuthStatus::Success)))
        .count();
    assert_eq!((versions, logins), (2, 2), "{:#?}", rec.events);
    let seqs: Vec<u64> = rec.events.iter().map(|e| e.seq).collect();
    assert!(
        seqs.iter().enumerate().all(|(i, s)| *s == i as u64),
        "one stream: {seqs:?}"
    );
}
