//! The resolver's rules that the `ssh -G` comparison does not reach: relative `Include`s,
//! nesting limits, `Match final`, unevaluated criteria, tokens, the command line winning, and
//! text that is not a configuration at all.

use std::path::{Path, PathBuf};

use super::*;

fn query(home: &Path, host: &str) -> Query {
    Query {
        host: host.into(),
        local_user: "me".into(),
        home: home.to_path_buf(),
    }
}

fn resolve_text(
    home: &Path,
    host: &str,
    cmdline: &[&str],
    text: &str,
) -> Result<Resolved, ConfigError> {
    let file = home.join("config");
    std::fs::write(&file, text).unwrap();
    let cmdline: Vec<String> = cmdline.iter().map(|s| s.to_string()).collect();
    resolve(
        query(home, host),
        &cmdline,
        &ConfigFiles::File(file),
        Path::new("/nonexistent"),
    )
}

#[test]
fn relative_includes_are_under_dot_ssh_and_nesting_is_limited() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    std::fs::create_dir_all(home.join(".ssh/conf.d")).unwrap();
    std::fs::write(home.join(".ssh/conf.d/a.conf"), "User from-include\n").unwrap();
    let r = resolve_text(home, "h", &[], "Include conf.d/*.conf\n").unwrap();
    assert_eq!(r.user(), "from-include");
    let origin = &r.settings.user.as_ref().unwrap().origin;
    assert!(
        origin.file.ends_with(".ssh/conf.d/a.conf") && origin.line == 1,
        "{origin}"
    );
    // A file that includes itself stops at the limit with its own file:line.
    let looped = home.join("loop.conf");
    std::fs::write(&looped, format!("Include {}\n", looped.display())).unwrap();
    let e = resolve_text(home, "h", &[], &format!("Include {}\n", looped.display())).unwrap_err();
    assert!(e.message.contains("nested deeper than 16"), "{e}");
    assert!(e.origin.file.ends_with("loop.conf"), "{e}");
}

#[test]
fn match_final_runs_a_second_pass_and_exec_is_not_evaluated() {
    let dir = tempfile::tempdir().unwrap();
    let text = "Match final host real.example\n  Port 2022\nHost alias\n  HostName real.example\nMatch exec \"true\"\n  User x\n";
    let r = resolve_text(dir.path(), "alias", &[], text).unwrap();
    assert_eq!((r.hostname().as_str(), r.port()), ("real.example", 2022));
    assert_eq!(r.user(), "me");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains(":5: Match exec is not evaluated")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn the_command_line_wins_and_tokens_expand_on_use() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let text = "Host *\n  Port 2200\n  User cfg\n  HostName %h.example.com\n  IdentityFile ~/.ssh/%r@%h:%p\n  UserKnownHostsFile %d/kh/%n %%x\n";
    let r = resolve_text(home, "web", &["Port=2300", "User cli"], text).unwrap();
    assert_eq!((r.port(), r.user().as_str()), (2300, "cli"));
    assert_eq!(
        r.settings.port.as_ref().unwrap().origin.file,
        "command line"
    );
    let id = &r.settings.identity_files[0];
    assert_eq!(
        r.expand_path(&id.value),
        home.join(".ssh/cli@web.example.com:2300")
    );
    let kh: Vec<PathBuf> = r.user_known_hosts_files();
    assert_eq!(kh, [home.join("kh/web"), PathBuf::from("%x")]);
    let applied: Vec<&str> = r.applied().iter().map(|(k, _)| *k).collect();
    assert_eq!(
        applied,
        [
            "HostName",
            "User",
            "Port",
            "IdentityFile",
            "UserKnownHostsFile"
        ]
    );
}

#[test]
fn bad_lines_name_file_and_line_and_garbage_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    for (text, needle) in [
        (
            "Host a\n  HostName %r.x\n",
            ":2: token %r is not supported in hostname",
        ),
        ("Match bogus x\n", ":1: Match: unsupported criterion"),
        ("Match host\n", ":1: Match host: missing argument"),
        ("Host\n", ":1: Host: missing pattern"),
        ("User \"unterminated\n", ":1: unterminated quote"),
        (
            "ConnectTimeout soon\n",
            ":1: ConnectTimeout: expected a time",
        ),
        ("StrictHostKeyChecking maybe\n", ":1: StrictHostKeyChecking"),
        (
            "Include ~other/x\n",
            ":1: Include ~other/x: only ~/ is supported",
        ),
    ] {
        let e = resolve_text(dir.path(), "h", &[], text).unwrap_err();
        assert!(e.to_string().contains(needle), "{text:?}: {e}");
    }
    let e = resolve_text(dir.path(), "h", &["Host=x"], "").unwrap_err();
    assert!(e.to_string().starts_with("command line:1:"), "{e}");
    // A comma in a Host word is not a list (OpenSSH 9.2: `Host a,b` does not match `a`).
    let r = resolve_text(
        dir.path(),
        "a",
        &[],
        "Host a,b\n  User comma\nHost a\n  User plain\n",
    );
    assert_eq!(r.unwrap().user(), "plain");
    // Keywords sshdiag does not use are skipped, whatever they say.
    let r = resolve_text(dir.path(), "h", &[], "SendEnv LANG\nForwardAgent maybe\n").unwrap();
    assert_eq!(r.port(), 22);
    // Arbitrary bytes: an error or a result, never a panic.
    let mut seed: u32 = 7;
    for _ in 0..300 {
        let text: String = (0..80)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                b"Host Match Include Port User %h*?!\"'\\=#\n \t\xc3\xa9x1"
                    [(seed >> 16) as usize % 40] as char
            })
            .collect();
        let _ = resolve_text(dir.path(), "h", &["Port 1"], &text);
    }
}
