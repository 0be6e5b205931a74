//! What the tasks need from the machine, installed when possible: Debian packages through
//! apt-get and crates (geckodriver) through `cargo install` when running as root, the wasm32
//! target through rustup. Otherwise it stops with one line saying exactly what to install. It
//! never skips anything silently.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use sshdiag_testkit::tools::{self, Source, Tool};

/// The wasm target the page and the browser tests build for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Makes sure every tool is installed: as root, Debian packages with `apt-get install` and
/// crates with `cargo install --locked --root /usr/local`; otherwise one line says what to run.
pub fn ensure_tools(task: &str, needed: &[Tool]) -> anyhow::Result<()> {
    let missing = tools::missing(needed);
    if missing.is_empty() {
        return Ok(());
    }
    let names = missing
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ");
    let mut packages: Vec<&str> = Vec::new();
    let mut crates: Vec<(&str, &str)> = Vec::new();
    for tool in &missing {
        match tool.source {
            Source::Debian(package) | Source::DebianPython { package, .. } => {
                packages.push(package)
            }
            Source::Crate { name, version } => crates.push((name, version)),
        }
    }
    packages.sort_unstable();
    packages.dedup();
    crates.sort_unstable();
    crates.dedup();
    let mut commands: Vec<String> = Vec::new();
    if !packages.is_empty() {
        commands.push(format!("apt-get install -y {}", packages.join(" ")));
    }
    for (name, version) in &crates {
        commands.push(format!(
            "cargo install --locked --version ={version} {name}"
        ));
    }
    let apt = Path::new("/usr/bin/apt-get").exists();
    if !tools::is_root() || (!packages.is_empty() && !apt) {
        bail!(
            "missing {names}: install them with `{}` (or run `cargo xtask {task}` as root on Debian)",
            commands.join(" && ")
        );
    }
    if !packages.is_empty() {
        eprintln!("xtask {task}: installing {}", packages.join(" "));
        apt_get(&["update", "-q"])?;
        let mut install = vec!["install", "-y", "-q"];
        install.extend(&packages);
        apt_get(&install)?;
    }
    for (name, version) in &crates {
        eprintln!("xtask {task}: installing {name} {version} from crates.io into /usr/local");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["install", "--locked", "--root", "/usr/local", "--version"])
            .arg(format!("={version}"))
            .arg(name)
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("running cargo install {name}"))?;
        if !status.success() {
            bail!("`cargo install {name}` failed ({status})");
        }
    }
    let still = tools::missing(needed);
    if !still.is_empty() {
        bail!(
            "still missing after installing: {}",
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
