//! The bundle records which `ssh_config` lines applied: a real run against a real sshd through
//! an alias in a configuration file keeps each keyword with its file and line (never the
//! value), and the redacted bundle hides the user name inside the file's path.

use std::process::Command;

use crate::common::{bundle_flags, sshd_and_dir, write_file};
use sshdiag_tests::sshd::TEST_USER;

#[test]
fn the_bundle_names_the_config_lines_that_applied_without_their_values() {
    let (sshd, dir) = sshd_and_dir();
    // The configuration lives under a directory named after the user, as ~/.ssh does.
    let home = dir.path().join(TEST_USER);
    std::fs::create_dir(&home).unwrap();
    let key = sshd.client_keys().ed25519.path.display().to_string();
    let text = format!(
        "# the database bastion\nHost db-alias\n  HostName 127.0.0.1\n  Port {}\n  User {TEST_USER}\n  IdentityFile {key}\n  StrictHostKeyChecking no\n",
        sshd.port()
    );
    let config = write_file(&home, "config", &text);
    let raw = dir.path().join("raw.json");
    let redacted = dir.path().join("redacted.json");
    let out = Command::new(env!("CARGO_BIN_EXE_sshdiag"))
        .arg("-F")
        .arg(&config)
        .args(bundle_flags(&redacted, &raw))
        .args(["db-alias", "echo", "alias-ok"])
        .env("HOME", dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alias-ok\n", "{err}");
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&raw).unwrap()).unwrap();
    let lines: Vec<(String, String, u64)> = raw["ssh_config"]
        .as_array()
        .expect("ssh_config in the bundle")
        .iter()
        .map(|l| {
            (
                l["keyword"].as_str().unwrap().to_string(),
                l["file"].as_str().unwrap().to_string(),
                l["line"].as_u64().unwrap(),
            )
        })
        .collect();
    let file = config.display().to_string();
    for (keyword, line) in [
        ("HostName", 3),
        ("Port", 4),
        ("User", 5),
        ("IdentityFile", 6),
        ("StrictHostKeyChecking", 7),
    ] {
        assert!(
            lines.contains(&(keyword.to_string(), file.clone(), line)),
            "{keyword} at {file}:{line} in {lines:?}"
        );
    }
    // Keyword and place only: the section holds no value.
    let section = raw["ssh_config"].to_string();
    assert!(
        !section.contains(&key) && !section.contains("127.0.0.1"),
        "{section}"
    );
    let redacted = std::fs::read_to_string(&redacted).unwrap();
    let r: serde_json::Value = serde_json::from_str(&redacted).unwrap();
    let section = r["ssh_config"].to_string();
    assert!(section.contains("HostName"), "{section}");
    assert!(!section.contains(TEST_USER), "{section}");
    assert!(
        !redacted.contains(TEST_USER),
        "the user name leaked:\n{redacted}"
    );
}
