//! `ssh_config` as OpenSSH resolves it: `sshdiag -G` against OpenSSH's own `ssh -G` (which
//! makes no connection) over one configuration with aliases, wildcards, negation, `Match`,
//! `Include` and `ProxyJump`, for several hosts; bad lines refused with `file:line`; and a real
//! login through an alias against a real sshd.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use crate::common::sshd_and_dir;
use sshdiag_core::algorithms::{
    supported_ciphers, supported_host_key, supported_kex, supported_macs,
};
use sshdiag_tests::sshd::TEST_USER;
use sshdiag_tests::tools::SSH;

use crate::common::{assert_exit, write_file};
use sshdiag_tests::procs::stdout_of;

/// The keys sshdiag resolves, as `ssh -G` names them.
const SCALAR_KEYS: &[&str] = &[
    "host",
    "user",
    "hostname",
    "port",
    "identitiesonly",
    "proxyjump",
    "userknownhostsfile",
    "serveraliveinterval",
    "serveralivecountmax",
];

/// The account running the tests, as OpenSSH sees it (`pw_name`, `pw_dir`): `ssh` expands `~`
/// with the password database's home, so sshdiag is run with that `HOME` to compare.
fn account() -> (String, String) {
    let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.split(':').nth(2) == Some(uid.trim()))
        .expect("this uid in /etc/passwd");
    let f: Vec<&str> = line.split(':').collect();
    (f[0].to_string(), f[5].to_string())
}

fn parse_g(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(' ') {
            map.entry(k.to_string()).or_default().push(v.to_string());
        }
    }
    map
}

fn sshdiag(args: &[&str], home: &str, user: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sshdiag"))
        .args(args)
        .env("HOME", home)
        .env("USER", user)
        .output()
        .expect("run sshdiag")
}

fn ssh_g(config: &Path, host: &str) -> BTreeMap<String, Vec<String>> {
    let ssh = SSH.require().unwrap();
    let mut command = Command::new(ssh);
    command.args(["-F", config.to_str().unwrap(), "-G", host]);
    parse_g(&stdout_of(&mut command, &format!("ssh -G {host}")))
}

/// Algorithm lists agree once each side is limited to what the other implements: the same
/// algorithms in the same order. When OpenSSH's list holds only algorithms sshdiag
/// implements, they must be identical.
fn same_algorithms(key: &str, ssh: &str, ours: &str, supported: &[&str], host: &str) {
    let ssh: Vec<&str> = ssh.split(',').collect();
    let ours: Vec<&str> = ours.split(',').collect();
    if ssh.iter().all(|a| supported.contains(a)) {
        assert_eq!(ours, ssh, "{host}: {key}");
    }
    let ssh_common: Vec<&&str> = ssh.iter().filter(|a| supported.contains(a)).collect();
    let ours_common: Vec<&&str> = ours.iter().filter(|a| ssh.contains(a)).collect();
    assert_eq!(ours_common, ssh_common, "{host}: {key}");
}

const MAIN: &str = r#"
Include DIR/conf.d/*.conf
# Aliases first: OpenSSH keeps the first value of each keyword.
Host web-alias
  HostName web.internal
  User alice
  Port 2201
  IdentityFile ~/.ssh/id_web
  IdentityFile /keys/%h-%r-%p
  CertificateFile ~/.ssh/id_web-cert.pub
  IdentitiesOnly yes
  # Included from an active block only: never applies to other hosts.
  Include DIR/only-web.conf
Host *.prod !legacy.prod
  User deploy
  ProxyJump bastion.prod
  StrictHostKeyChecking yes
  KexAlgorithms curve25519-sha256,diffie-hellman-group14-sha256
Host legacy.prod
  KexAlgorithms +diffie-hellman-group14-sha1
  HostKeyAlgorithms ssh-ed25519,rsa-sha2-512
  StrictHostKeyChecking=no
Match originalhost db user root,alice
  Port 6000
Host db
  HostName %h.internal
  User dbuser
Match host db.internal
  ConnectTimeout 4
Match user deploy
  ServerAliveInterval 1m
  ServerAliveCountMax 5
Match !host *.internal
  Ciphers -aes128-ctr
Match all
  UserKnownHostsFile DIR/kh/%h_%p_%r ~/kh2
Host *
  MACs hmac-sha2-256-etm@openssh.com,hmac-sha2-512
  Ciphers ^aes256-gcm@openssh.com
  IdentityFile ~/.ssh/id_all
"#;

const INCLUDED: &str = r#"
Host ci??
  HostName ci.example.com
  User ci
  ProxyJump jump1,admin@jump2:2222
  ConnectTimeout none
Host *
  ServerAliveCountMax 9
"#;

#[test]
fn resolves_as_openssh_ssh_g_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    std::fs::create_dir_all(dir.path().join("conf.d")).unwrap();
    std::fs::write(dir.path().join("conf.d/10-ci.conf"), INCLUDED).unwrap();
    std::fs::write(
        dir.path().join("conf.d/ignored.txt"),
        "Host *\n  User nobody\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("only-web.conf"),
        "Host *\n  ConnectTimeout 33\n",
    )
    .unwrap();
    let config = write_file(dir.path(), "config", &MAIN.replace("DIR", d));
    let (user, home) = account();
    let mut compared = 0;
    for host in [
        "web-alias",
        "WEB-ALIAS",
        "api.prod",
        "legacy.prod",
        "db",
        "ci01",
        "ci001",
        "plain.example",
    ] {
        let theirs = ssh_g(&config, host);
        let out = sshdiag(&["-F", config.to_str().unwrap(), "-G", host], &home, &user);
        assert!(
            out.status.success(),
            "sshdiag -G {host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ours = parse_g(&String::from_utf8_lossy(&out.stdout));
        for key in SCALAR_KEYS
            .iter()
            .chain(&["identityfile", "certificatefile"])
        {
            assert_eq!(ours.get(*key), theirs.get(*key), "{host}: {key}");
            compared += 1;
        }
        // Where sshdiag's own default differs from OpenSSH's, the difference is the
        // documented one; a configured value is OpenSSH's.
        for (key, ssh_default, our_default) in [
            ("stricthostkeychecking", "ask", "accept-new"),
            ("connecttimeout", "none", "10"),
        ] {
            let (t, o) = (&theirs[key][0], &ours[key][0]);
            assert!(
                t == o || (t == ssh_default && o == our_default),
                "{host}: {key}: ssh {t}, sshdiag {o}"
            );
            compared += 1;
        }
        for (key, supported) in [
            ("kexalgorithms", supported_kex()),
            ("hostkeyalgorithms", supported_host_key()),
            ("ciphers", supported_ciphers()),
            ("macs", supported_macs()),
        ] {
            same_algorithms(key, &theirs[key][0], &ours[key][0], &supported, host);
            compared += 1;
        }
    }
    assert_eq!(compared, 8 * 17);
    // Command-line settings come before every file, for ssh as for sshdiag.
    // ssh drops an -i file that does not exist, so the key is a real file.
    let id_x = dir.path().join("id_x");
    std::fs::write(&id_x, "").unwrap();
    let id_x = id_x.to_str().unwrap();
    let flags = [
        "-i",
        id_x,
        "-p",
        "2999",
        "-l",
        "zed",
        "-o",
        "ConnectTimeout=8",
    ];
    let ssh = SSH.require().unwrap();
    let theirs = Command::new(ssh)
        .args(["-F", config.to_str().unwrap(), "-G"])
        .args(flags)
        .arg("web-alias")
        .output()
        .unwrap();
    let theirs = parse_g(&String::from_utf8_lossy(&theirs.stdout));
    let mut args = vec!["-F", config.to_str().unwrap(), "-G"];
    args.extend(flags);
    args.push("web-alias");
    let ours = parse_g(&String::from_utf8_lossy(
        &sshdiag(&args, &home, &user).stdout,
    ));
    for key in [
        "user",
        "port",
        "identityfile",
        "connecttimeout",
        "userknownhostsfile",
    ] {
        assert_eq!(ours.get(key), theirs.get(key), "flags: {key}");
    }
    assert_eq!(ours["identityfile"][0], id_x);
    // Spot checks that the configuration really exercised each rule.
    let g = |h: &str| {
        parse_g(&String::from_utf8_lossy(
            &sshdiag(&["-F", config.to_str().unwrap(), "-G", h], &home, &user).stdout,
        ))
    };
    assert_eq!(g("db")["hostname"], ["db.internal"]);
    assert_eq!(g("db")["connecttimeout"], ["4"]);
    assert_eq!(g("web-alias")["connecttimeout"], ["33"]);
    assert_eq!(g("plain.example")["connecttimeout"], ["10"]);
    assert_eq!(g("legacy.prod")["stricthostkeychecking"], ["false"]);
    assert_eq!(g("api.prod")["proxyjump"], ["bastion.prod"]);
    assert_eq!(g("ci01")["proxyjump"], ["jump1,admin@jump2:2222"]);
    assert_eq!(g("ci01")["serveralivecountmax"], ["9"]);
    assert_eq!(
        g("web-alias")["userknownhostsfile"],
        [format!("{d}/kh/web.internal_2201_alice {home}/kh2")]
    );
}

#[test]
fn a_bad_line_is_one_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "config", "Host x\n  User u\n  Port 99999\n");
    let (user, home) = account();
    let out = sshdiag(&["-F", config.to_str().unwrap(), "-G", "x"], &home, &user);
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("{}:3: Port", config.display())),
        "{err}"
    );
    // A missing -F file is named too; `-F none` reads nothing.
    let missing = dir.path().join("nope");
    let out = sshdiag(&["-F", missing.to_str().unwrap(), "-G", "x"], &home, &user);
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope:0: cannot read"));
    let out = sshdiag(&["-F", "none", "-G", "x"], &home, &user);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\nport 22\n"));
}

#[test]
fn an_alias_from_the_config_logs_in_to_a_real_sshd() {
    let (sshd, dir) = sshd_and_dir();
    let kh = dir.path().join("kh");
    let text = format!(
        "Host target\n  HostName 127.0.0.1\n  Port {}\n  User {TEST_USER}\n  IdentityFile {}\n  UserKnownHostsFile {}\n  StrictHostKeyChecking accept-new\n",
        sshd.port(),
        sshd.client_keys().ed25519.path.display(),
        kh.display()
    );
    let config = write_file(dir.path(), "config", &text);
    let (user, _) = account();
    let out = sshdiag(
        &[
            "-F",
            config.to_str().unwrap(),
            "target",
            "echo",
            "via-alias",
        ],
        dir.path().to_str().unwrap(),
        &user,
    );
    assert_exit(&out, Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "via-alias\n");
    // accept-new wrote where UserKnownHostsFile points.
    let known = std::fs::read_to_string(&kh).unwrap();
    assert!(
        known.starts_with(&format!("[127.0.0.1]:{} ", sshd.port())),
        "{known}"
    );
}
