//! OpenSSH's own client as a test's reference: the one way tests build an `ssh` command that
//! logs in with exactly one key, never prompts, and trusts the loopback test server's host key.
//!
//! It must never read the user's `~/.ssh/config` or known hosts, and never reach anything but
//! the port given (tests use loopback only).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::tools::SSH;

/// `ssh -F /dev/null` in batch mode with only `key`, host-key checking off and no known-hosts
/// file, to `port`, stdin closed. The caller adds options, the destination and the command.
pub fn ssh_batch(key: &Path, port: u16) -> anyhow::Result<Command> {
    let mut cmd = ssh_alone()?;
    cmd.args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null"])
        .arg("-i")
        .arg(key)
        .args(["-p", &port.to_string()]);
    Ok(cmd)
}

/// `ssh -F /dev/null` in batch mode with only the keys given by `-i`, stdin closed: the caller
/// adds host-key options (OpenSSH keeps the first value of an option), the key, port, destination
/// and command.
pub fn ssh_alone() -> anyhow::Result<Command> {
    let mut cmd = Command::new(SSH.require()?);
    cmd.args([
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
    ])
    .stdin(Stdio::null());
    Ok(cmd)
}
