//! `cargo xtask build-web`: the release wasm modules and their JS glue, into `web/pkg/`, and
//! every page file precompressed beside itself for the relay to serve. Three modules
//! ([`MODULES`]): the run's (`sshdiag-web`, what every visit loads), the viewer's
//! (`sshdiag-viewer`, which the first loads only when a bundle or event log is opened) and the
//! key formats' (`sshdiag-keys`, which the first loads only for a private key in a format other
//! than OpenSSH's own), built by one cargo invocation.
//!
//! cargo build (wasm32, the `wasm-release` profile of the root `Cargo.toml`: release, built for
//! size except the hot crates) → `wasm-opt` with [`WASM_OPT_FLAGS`] (binaryen, installed like
//! the other tools) → wasm-bindgen `--target web`, run as the pinned `wasm-bindgen-cli-support` library
//! (never a separately installed binary that could drift from the `wasm-bindgen` crate) →
//! `FILE.br` and `FILE.gz` beside each page file under `web/` → sizes, raw, gzip and brotli.
//!
//! wasm-opt runs BEFORE wasm-bindgen: Debian's binaryen 108 breaks the module when it runs on
//! wasm-bindgen's output. Its result is kept only if wasm-bindgen and the engine accept it;
//! otherwise the unoptimised module is used and the build says so loudly.
//!
//! The demo builds with [`WebProfile::Quick`]: the `demo` profile, no wasm-opt, no compression;
//! stale compressed files are removed, never left to be served instead of the new module.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use sshdiag_testkit::tools;

use crate::prereq;
use crate::util::{cargo_build, find_artifact, project_root};

/// Which build of the module.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum WebProfile {
    /// What a customer downloads: the `wasm-release` profile, wasm-opt, precompressed.
    Release,
    /// What a local demo needs: the fastest build ([`DEMO_PROFILE`]), served uncompressed over
    /// loopback.
    Quick,
}

/// The cargo profile of the shipped module (root `Cargo.toml`), also what the bench measures.
pub const WASM_PROFILE: &str = "wasm-release";

/// The cargo profile of `cargo xtask demo` (root `Cargo.toml`): the module and the relay built
/// for the shortest first build.
pub const DEMO_PROFILE: &str = "demo";

/// The wasm crates built into `web/pkg/`, each its own module: the run's first (what the page
/// loads; [`build_web`] returns its path), then the viewer's and the key formats', which the
/// run's fetches on first use.
pub const MODULES: [&str; 3] = ["sshdiag-web", "sshdiag-viewer", "sshdiag-keys"];

/// Page files worth compressing, by extension.
const COMPRESSED_EXTENSIONS: [&str; 5] = ["html", "js", "css", "wasm", "json"];

/// Builds `web/pkg/` (release) and returns the path of the final `sshdiag_web_bg.wasm`.
pub fn build_web() -> anyhow::Result<PathBuf> {
    build_web_with(WebProfile::Release)
}

/// Builds `web/pkg/` in `profile` and returns the path of the final `sshdiag_web_bg.wasm`.
pub fn build_web_with(profile: WebProfile) -> anyhow::Result<PathBuf> {
    let release = profile == WebProfile::Release;
    let mut outputs = Vec::new();
    for (crate_name, wasm) in build_modules(profile)? {
        outputs.push(module_to_pkg(&crate_name, &wasm, release)?);
    }
    let out_dir = project_root().join("web").join("pkg");
    write_package_json(&out_dir)?;

    let web = project_root().join("web");
    let compressed = match release {
        true => precompress(&web)?,
        false => remove_precompressed(&web)?,
    };
    for (output, used_optimised) in &outputs {
        report_size(output, release, *used_optimised)?;
    }
    println!("build-web: {compressed} page files precompressed");
    outputs
        .into_iter()
        .next()
        .map(|(output, _)| output)
        .context("build-web built no module")
}

/// Every crate of [`MODULES`], by one cargo invocation: `(crate, its .wasm)`.
fn build_modules(profile: WebProfile) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let release = profile == WebProfile::Release;
    let mut needed = vec![tools::CLANG];
    if release {
        needed.push(tools::WASM_OPT);
    }
    prereq::ensure_tools("build-web", &needed)?;
    prereq::ensure_wasm_target()?;
    let mut args = Vec::new();
    for name in MODULES {
        args.extend(["-p", name]);
    }
    args.extend(["--target", prereq::WASM_TARGET]);
    let cargo_profile = if release { WASM_PROFILE } else { DEMO_PROFILE };
    args.extend(["--profile", cargo_profile]);
    let files = cargo_build(&args)?;
    MODULES
        .iter()
        .map(|name| {
            let file = format!("{}.wasm", name.replace('-', "_"));
            Ok((name.to_string(), find_artifact(&files, &file)?))
        })
        .collect()
}

/// One module through wasm-opt (release) and wasm-bindgen into `web/pkg/`: the path of its
/// final `NAME_bg.wasm`, and whether that is the wasm-opt'd one.
fn module_to_pkg(crate_name: &str, wasm: &Path, release: bool) -> anyhow::Result<(PathBuf, bool)> {
    let name = crate_name.replace('-', "_");
    let out_dir = project_root().join("web").join("pkg");

    let scratch = tempfile::Builder::new()
        .prefix("sshdiag-build-web-")
        .tempdir()
        .context("creating a scratch dir")?;
    let optimised = match release {
        true => wasm_opt_before_bindgen(&tools::WASM_OPT.require()?, wasm, scratch.path()),
        false => None,
    };
    let used_optimised = match &optimised {
        Some(module) => match bindgen(module, &out_dir).and_then(|()| validate(&out_dir, &name)) {
            Ok(()) => true,
            Err(error) => {
                eprintln!(
                    "build-web: WARNING: the wasm-opt output did not survive ({error:#}); using the unoptimised module"
                );
                false
            }
        },
        None => false,
    };
    if !used_optimised {
        bindgen(wasm, &out_dir)?;
    }
    let output = out_dir.join(format!("{name}_bg.wasm"));
    if !output.exists() {
        bail!("wasm-bindgen wrote no {}", output.display());
    }
    Ok((output, used_optimised))
}

/// Prints one module's size: raw, gzip and (release) brotli.
fn report_size(output: &Path, release: bool, used_optimised: bool) -> anyhow::Result<()> {
    let bytes = std::fs::read(output).with_context(|| format!("reading {}", output.display()))?;
    let sizes = match release {
        true => format!(
            "{} gzip, {} brotli",
            human(file_len(&with_suffix(output, "gz"))?),
            human(file_len(&with_suffix(output, "br"))?)
        ),
        false => format!("{} gzip", human(gzip(&bytes)?.len())),
    };
    println!(
        "build-web: {} {} raw, {sizes}{}",
        output
            .strip_prefix(project_root())
            .unwrap_or(output)
            .display(),
        human(bytes.len()),
        match (release, used_optimised) {
            (true, true) => format!(" (wasm-opt {})", WASM_OPT_FLAGS.join(" ")),
            (true, false) => " (NOT wasm-opt'd)".to_string(),
            (false, _) => " (demo profile)".to_string(),
        },
    );
    Ok(())
}

/// Makes `web/pkg/` an npm package (docs/embed.md): the three modules, their glue and the
/// TypeScript declarations wasm-bindgen writes from the Rust types (tsify), at the workspace's
/// version.
fn write_package_json(out_dir: &Path) -> anyhow::Result<()> {
    let package = serde_json::json!({
        "name": "sshdiag-web",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "Diagnose an SSH connection from a web page: sshdiag's SSH client (WebAssembly) with its Diagnostics API.",
        "license": env!("CARGO_PKG_LICENSE"),
        "type": "module",
        "main": "./sshdiag_web.js",
        "types": "./sshdiag_web.d.ts",
        "exports": {
            ".": { "types": "./sshdiag_web.d.ts", "import": "./sshdiag_web.js" },
            "./sshdiag_web_bg.wasm": "./sshdiag_web_bg.wasm",
            "./viewer": { "types": "./sshdiag_viewer.d.ts", "import": "./sshdiag_viewer.js" },
            "./sshdiag_viewer_bg.wasm": "./sshdiag_viewer_bg.wasm",
        },
        // The run's module loads the viewer's and the key formats' through snippets of
        // wasm-bindgen's (`snippets/`); the key formats' is no entry point of its own.
        "files": [
            "sshdiag_web.js",
            "sshdiag_web.d.ts",
            "sshdiag_web_bg.wasm",
            "sshdiag_web_bg.wasm.d.ts",
            "sshdiag_viewer.js",
            "sshdiag_viewer.d.ts",
            "sshdiag_viewer_bg.wasm",
            "sshdiag_viewer_bg.wasm.d.ts",
            "sshdiag_keys.js",
            "sshdiag_keys.d.ts",
            "sshdiag_keys_bg.wasm",
            "sshdiag_keys_bg.wasm.d.ts",
            "snippets/",
        ],
        "sideEffects": false,
    });
    let text = serde_json::to_string_pretty(&package)? + "\n";
    write(&out_dir.join("package.json"), text.as_bytes())
}

/// Writes `FILE.gz` (gzip -9) and `FILE.br` (brotli quality 11) beside every page file under
/// `web` (and `web/pkg`); returns how many files it compressed.
fn precompress(web: &Path) -> anyhow::Result<usize> {
    let mut count = 0;
    for file in page_files(web)? {
        let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        write(&with_suffix(&file, "gz"), &gzip(&bytes)?)?;
        write(&with_suffix(&file, "br"), &brotli(&bytes)?)?;
        count += 1;
    }
    Ok(count)
}

/// Removes the `.gz` and `.br` beside every page file (a quick build does not make them, and
/// old ones must not stand in for the new module); returns 0, the number compressed.
fn remove_precompressed(web: &Path) -> anyhow::Result<usize> {
    for file in page_files(web)? {
        for suffix in ["gz", "br"] {
            let variant = with_suffix(&file, suffix);
            if variant.exists() {
                std::fs::remove_file(&variant)
                    .with_context(|| format!("removing {}", variant.display()))?;
            }
        }
    }
    Ok(0)
}

/// The files under `web`, `web/js` (the page's modules) and `web/pkg` (with wasm-bindgen's
/// `snippets/` folders below it) the relay serves and compression shrinks.
fn page_files(web: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![web.to_path_buf(), web.join("js"), web.join("pkg")];
    while let Some(dir) = dirs.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() && path.starts_with(web.join("pkg")) {
                dirs.push(path);
                continue;
            }
            let wanted = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| COMPRESSED_EXTENSIONS.contains(&e));
            if wanted && path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn file_len(path: &Path) -> anyhow::Result<usize> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(meta.len() as usize)
}

/// What wasm-opt runs. `-Os` rather than `-Oz`: a little larger raw, 0.5% smaller in brotli,
/// which is what is served. `--converge` repeats the passes while they still shrink the module,
/// and `--low-memory-unused` lets them fold constant offsets into loads and stores, true of
/// Rust's modules (the stack's far end is the lowest memory, and nothing addresses the first
/// kilobyte): 1.9 KB brotli of the run's module together, a few seconds of build (issue 17,
/// BENCHMARKS.md). `-Os --converge` alone was 1.1 KB; `-O3` and `-Oz --converge` were larger,
/// and binaryen 108 has no `--gufa`.
pub const WASM_OPT_FLAGS: [&str; 3] = ["-Os", "--converge", "--low-memory-unused"];

/// `wasm-opt` with [`WASM_OPT_FLAGS`]; None (with a warning) when it fails.
fn wasm_opt_before_bindgen(wasm_opt: &Path, wasm: &Path, scratch: &Path) -> Option<PathBuf> {
    let output = scratch.join(wasm.file_name()?);
    let result = Command::new(wasm_opt)
        .args(WASM_OPT_FLAGS)
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

/// wasm-bindgen `--target web` through the pinned library, with the settings its command line
/// uses by default (TypeScript declarations, the default module path kept), except that the
/// module leaves without its `name` section (only the names of wasm-bindgen's own shims once
/// wasm-opt has run; 481 bytes brotli of the run's module, issue 17) and `producers` section.
fn bindgen(wasm: &Path, out_dir: &Path) -> anyhow::Result<()> {
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(wasm)
        .web(true)?
        .typescript(true)
        .omit_default_module_path(false)
        .remove_name_section(true)
        .remove_producers_section(true)
        .generate(out_dir)
        .context("wasm-bindgen")?;
    Ok(())
}

/// When Node.js is installed, `WebAssembly.validate` the final module: the engine's own check,
/// which catches a module an optimiser broke. Without Node, wasm-bindgen's acceptance is the
/// check.
fn validate(out_dir: &Path, name: &str) -> anyhow::Result<()> {
    let module = out_dir.join(format!("{name}_bg.wasm"));
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

fn gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

fn brotli(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 24,
        size_hint: bytes.len(),
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).context("brotli")?;
    Ok(out)
}

fn human(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}
