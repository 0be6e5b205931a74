//! The built-in demo SSH server, driven by a real russh client.

use sshdiag_proxy::DemoServer;
use tokio::net::TcpStream;

use crate::ssh::exec_over;
use crate::util::{TestRelay, expect_connected};

async fn demo() -> DemoServer {
    DemoServer::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("demo server starts")
}

/// Logs in to `server` over a direct TCP connection and runs `command`; `None` when the login
/// was refused.
async fn exec_direct(
    server: &DemoServer,
    user: &str,
    password: &str,
    command: &str,
) -> Option<crate::ssh::Run> {
    let stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    exec_over(stream, user, password, command)
        .await
        .expect("ssh works")
}

#[tokio::test]
async fn demo_login_and_echo() {
    let server = demo().await;
    let run = exec_direct(&server, "demo", "demo", "echo hi")
        .await
        .expect("demo/demo is accepted");
    assert_eq!(run.stdout, b"hi\n");
    assert_eq!(run.exit, Some(0));
    assert_eq!(run.host_key.as_deref(), Some(server.host_key_fingerprint()));
    server.shutdown().await;
}

#[tokio::test]
async fn demo_rejects_a_wrong_password() {
    let server = demo().await;
    let run = exec_direct(&server, "demo", "wrong", "echo hi").await;
    assert!(run.is_none(), "a wrong password must be rejected");
    let run = exec_direct(&server, "root", "demo", "echo hi").await;
    assert!(run.is_none(), "another user must be rejected");
}

#[tokio::test]
async fn demo_commands_exit_codes_and_stderr() {
    let server = demo().await;
    for (command, stdout, exit) in [
        ("whoami", &b"demo\n"[..], 0),
        ("false", b"", 1),
        ("exit 42", b"", 42),
        ("cat /demo/blob", &sshdiag_proxy::demo::blob()[..], 0),
    ] {
        let run = exec_direct(&server, "demo", "demo", command)
            .await
            .expect("auth");
        assert_eq!(run.stdout, stdout, "{command}");
        assert_eq!(run.exit, Some(exit), "{command}");
    }
    let run = exec_direct(&server, "demo", "demo", "nosuch --flag")
        .await
        .expect("auth");
    assert_eq!(run.exit, Some(127));
    assert_eq!(run.stderr, b"sshdiag-demo: nosuch: command not found\n");
    let run = exec_direct(&server, "demo", "demo", "uname -a")
        .await
        .expect("auth");
    assert!(
        run.stdout.starts_with(b"sshdiag-demo 0.1.0"),
        "{:?}",
        String::from_utf8_lossy(&run.stdout)
    );
}

/// The whole product path: `--demo` allows the demo target and nothing else, and SSH works
/// end to end through the relay.
#[tokio::test]
async fn ssh_through_the_relay_to_the_demo_server() {
    let relay = TestRelay::start(&["--demo", "--demo-listen", "127.0.0.1:0"]).await;
    let demo = relay.relay.demo_addr().expect("demo address");
    let mut ws = relay.open("127.0.0.1", demo.port(), "demo-e2e", None).await;
    assert_eq!(expect_connected(&mut ws).await, demo.to_string());
    let run = exec_over(
        crate::ssh::ws_stream(ws),
        "demo",
        "demo",
        "echo through the relay",
    )
    .await
    .expect("ssh over the relay")
    .expect("auth");
    assert_eq!(run.stdout, b"through the relay\n");
    assert_eq!(run.exit, Some(0));
    let closed = relay.wait_line("demo-e2e", "relay-closed").await;
    assert!(closed["bytes_up"].as_u64().unwrap_or(0) > 0);
    assert!(closed["bytes_down"].as_u64().unwrap_or(0) > 0);
    relay.relay.shutdown().await;
}

/// Keyboard-interactive: one `Password: ` prompt; `demo` passes, anything else fails.
#[tokio::test]
async fn demo_keyboard_interactive() {
    use russh::client::KeyboardInteractiveAuthResponse as Kbd;
    let server = demo().await;
    for (answer, accepted) in [("demo", true), ("nope", false)] {
        let stream = TcpStream::connect(server.local_addr())
            .await
            .expect("connect");
        let config = std::sync::Arc::new(russh::client::Config::default());
        let handler = crate::ssh::AcceptAny {
            seen: Default::default(),
        };
        let mut session = russh::client::connect_stream(config, stream, handler)
            .await
            .expect("ssh");
        let start = session
            .authenticate_keyboard_interactive_start("demo", None)
            .await
            .expect("kbd start");
        let prompts = match start {
            Kbd::InfoRequest { prompts, .. } => prompts,
            other => panic!("expected a prompt, got {other:?}"),
        };
        assert_eq!(prompts.len(), 1);
        assert_eq!(prompts[0].prompt, "Password: ");
        assert!(!prompts[0].echo);
        let reply = session
            .authenticate_keyboard_interactive_respond(vec![answer.to_string()])
            .await
            .expect("kbd respond");
        assert_eq!(
            matches!(reply, Kbd::Success),
            accepted,
            "{answer}: {reply:?}"
        );
    }
    server.shutdown().await;
}
