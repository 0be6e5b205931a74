//! axe-core (Deque's accessibility engine, from npm) run inside the page as it is: no serious or
//! critical violation on the start page, after a good run, after a failed run and in the
//! viewer (the scenarios of `demo.rs` and `bundles.rs` call [`no_serious_violations`]).
//!
//! The npm packages the page tests use are pinned in `tests/js/package.json` and its
//! `package-lock.json`, and installed with `npm ci` into `tests/js/node_modules` the first time
//! a test needs them (or when the lock file is newer than the install), from the npm registry by
//! name. A missing `npm` fails with the command that installs it.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sshdiag_tests::tools;

use crate::{Page, workspace_root};

/// `tests/js/node_modules`, installed by `npm ci` from the lock file if it is missing or older.
pub(crate) fn node_modules() -> anyhow::Result<PathBuf> {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALLING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = workspace_root().join("tests/js");
    let modules = dir.join("node_modules");
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let installed = modified(modules.join(".package-lock.json"));
    let locked = modified(dir.join("package-lock.json"));
    if installed.is_some() && installed >= locked {
        return Ok(modules);
    }
    let npm = tools::NPM.require()?;
    eprintln!("page test: installing tests/js's npm packages (`npm ci`)");
    let status = Command::new(npm)
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .status()
        .context("running `npm ci` in tests/js")?;
    if !status.success() {
        bail!("`npm ci` in tests/js failed ({status}); the page tests need its packages");
    }
    Ok(modules)
}

/// axe-core's script, as the browser runs it.
fn axe_source() -> anyhow::Result<String> {
    let path = node_modules()?.join("axe-core/axe.min.js");
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// Runs axe-core on the page as it is now; fails listing every serious or critical violation
/// (rule, impact, help, the first elements) found `where_`.
pub(crate) async fn no_serious_violations(page: &Page<'_>, where_: &str) -> anyhow::Result<()> {
    let script = format!(
        "{}\n;return window.axe.run(document, {{ resultTypes: ['violations'] }}).then((r) => \
         r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')\
         .map((v) => ({{ id: v.id, impact: v.impact, help: v.help, \
                       nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ' ' + (n.failureSummary || '')) }})));",
        axe_source()?
    );
    let found = page.js(&script).await?;
    if found != json!([]) {
        let list = found.as_array().cloned().unwrap_or_default();
        let lines: Vec<String> = list.iter().map(Value::to_string).collect();
        bail!(
            "axe found {} serious or critical violations {where_}:\n{}",
            list.len(),
            lines.join("\n")
        );
    }
    Ok(())
}
