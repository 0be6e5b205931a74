//! `cargo xtask build-web`: the release wasm module and its JS glue, into `web/pkg/`.
//!
//! cargo build (wasm32, release) → `wasm-opt -Oz` when binaryen is installed → wasm-bindgen
//! `--target web`, run as the pinned `wasm-bindgen-cli` library (never a separately installed
//! binary that could drift from the `wasm-bindgen` crate) → sizes, raw and gzip.
//!
//! wasm-opt runs BEFORE wasm-bindgen: Debian's binaryen 108 breaks the module when it runs on
//! wasm-bindgen's output. Its result is kept only if wasm-bindgen accepts it; otherwise the
//! unoptimised module is used and the build says so.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use sshdiag_testkit::tools;

use crate::prereq;
use crate::util::{cargo_build, find_artifact, project_root};

/// Builds `web/pkg/` and returns the path of the final `sshdiag_web_bg.wasm`.
pub fn build_web() -> anyhow::Result<PathBuf> {
    prereq::ensure_tools("build-web", &[tools::CLANG])?;
    prereq::ensure_wasm_target()?;
    let files = cargo_build(&[
        "-p",
        "sshdiag-web",
        "--target",
        prereq::WASM_TARGET,
        "--release",
    ])?;
    let wasm = find_artifact(&files, "sshdiag_web.wasm")?;
    let out_dir = project_root().join("web").join("pkg");

    let scratch = tempfile::Builder::new()
        .prefix("sshdiag-build-web-")
        .tempdir()
        .context("creating a scratch dir")?;
    let optimised = match tools::WASM_OPT.find() {
        Some(wasm_opt) => wasm_opt_before_bindgen(&wasm_opt, &wasm, scratch.path()),
        None => {
            eprintln!(
                "build-web: wasm-opt not found, skipping it (Debian package `binaryen` makes the module smaller)"
            );
            None
        }
    };

    let used_optimised = match &optimised {
        Some(module) => match bindgen(module, &out_dir).and_then(|()| validate(&out_dir)) {
            Ok(()) => true,
            Err(error) => {
                eprintln!(
                    "build-web: the wasm-opt output did not survive ({error:#}); using the unoptimised module"
                );
                false
            }
        },
        None => false,
    };
    if !used_optimised {
        bindgen(&wasm, &out_dir)?;
    }

    let output = out_dir.join("sshdiag_web_bg.wasm");
    let bytes = std::fs::read(&output).with_context(|| format!("reading {}", output.display()))?;
    let gzip = gzip_len(&bytes)?;
    println!(
        "build-web: {} {} raw, {} gzip{}",
        output
            .strip_prefix(project_root())
            .unwrap_or(&output)
            .display(),
        human(bytes.len()),
        human(gzip),
        if used_optimised {
            " (wasm-opt -Oz)"
        } else {
            " (not wasm-opt'd)"
        },
    );
    Ok(output)
}

/// `wasm-opt -Oz`; None (with a warning) when it fails.
fn wasm_opt_before_bindgen(wasm_opt: &Path, wasm: &Path, scratch: &Path) -> Option<PathBuf> {
    let output = scratch.join("sshdiag_web.wasm");
    let result = Command::new(wasm_opt)
        .arg("-Oz")
        .arg(wasm)
        .arg("-o")
        .arg(&output)
        .output();
    match result {
        Ok(out) if out.status.success() => Some(output),
        Ok(out) => {
            eprintln!(
                "build-web: wasm-opt failed ({}), skipping it: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            );
            None
        }
        Err(error) => {
            eprintln!("build-web: could not run wasm-opt ({error}), skipping it");
            None
        }
    }
}

/// wasm-bindgen `--target web` through the pinned library.
fn bindgen(wasm: &Path, out_dir: &Path) -> anyhow::Result<()> {
    let args = [
        "wasm-bindgen".into(),
        "--target".into(),
        "web".into(),
        "--out-dir".into(),
        out_dir.as_os_str().to_owned(),
        wasm.as_os_str().to_owned(),
    ];
    wasm_bindgen_cli::wasm_bindgen::run_cli_with_args::<_, std::ffi::OsString>(args)
        .context("wasm-bindgen")?;
    if !out_dir.join("sshdiag_web_bg.wasm").exists() {
        bail!("wasm-bindgen wrote no sshdiag_web_bg.wasm");
    }
    Ok(())
}

/// When Node.js is installed, `WebAssembly.validate` the final module: the engine's own check,
/// which catches a module an optimiser broke. Without Node, wasm-bindgen's acceptance is the
/// check.
fn validate(out_dir: &Path) -> anyhow::Result<()> {
    let module = out_dir.join("sshdiag_web_bg.wasm");
    let script = "const b = require('fs').readFileSync(process.argv[1]); \
                  process.exit(WebAssembly.validate(b) ? 0 : 1)";
    match Command::new("node")
        .arg("-e")
        .arg(script)
        .arg(&module)
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(_) => bail!("WebAssembly.validate rejects {}", module.display()),
        Err(_) => Ok(()),
    }
}

fn gzip_len(bytes: &[u8]) -> anyhow::Result<usize> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len())
}

fn human(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}
