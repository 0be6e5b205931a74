//! What the tasks need from the machine, installed when possible: Debian packages through
//! apt-get when running as root, the wasm32 target through rustup. Otherwise it stops with one
//! line saying exactly what to install. It never skips anything silently.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::tools::{self, Tool};

/// The wasm target the page and the browser tests build for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Makes sure every tool is installed, with `apt-get install` as root on Debian.
pub fn ensure_tools(task: &str, needed: &[Tool]) -> anyhow::Result<()> {
    let missing = tools::missing(needed);
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().map(|t| t.debian_package).collect();
    packages.sort_unstable();
    packages.dedup();
    let names = missing
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ");
    let apt = Path::new("/usr/bin/apt-get").exists();
    if !apt {
        bail!(
            "missing {names}: install them (Debian packages: {})",
            packages.join(" ")
        );
    }
    if !tools::is_root() {
        bail!(
            "missing {names}: install them with `sudo apt-get install -y {}` (or run `cargo xtask {task}` as root)",
            packages.join(" ")
        );
    }
    eprintln!("xtask {task}: installing {}", packages.join(" "));
    apt_get(&["update", "-q"])?;
    let mut install = vec!["install", "-y", "-q"];
    install.extend(&packages);
    apt_get(&install)?;
    let still = tools::missing(needed);
    if !still.is_empty() {
        bail!(
            "still missing after apt-get install: {}",
            still.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

fn apt_get(args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .status()
        .context("running apt-get")?;
    if !status.success() {
        bail!("apt-get {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Makes sure the wasm32 target is installed (`rustup target add` when it is not).
pub fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(out)
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == WASM_TARGET) =>
        {
            Ok(())
        }
        Ok(_) => {
            eprintln!("xtask: adding the {WASM_TARGET} target");
            let status = Command::new("rustup")
                .args(["target", "add", WASM_TARGET])
                .status()
                .context("running rustup")?;
            if !status.success() {
                bail!("`rustup target add {WASM_TARGET}` failed: install that target and retry");
            }
            Ok(())
        }
        // No rustup: trust the toolchain; cargo says so if the target is missing.
        Err(_) => Ok(()),
    }
}
