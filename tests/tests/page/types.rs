//! The npm package as a TypeScript portal sees it: `web/pkg/` (package.json written by
//! `cargo xtask build-web`, declarations generated from the Rust types) installed as
//! `node_modules/sshdiag-web` of a scratch project, and `tsc --noEmit` (typescript from npm,
//! pinned in `tests/js/`) over `tests/js/portal.ts`, which uses it the way docs/embed.md
//! shows (with the viewer's module, `sshdiag-web/viewer`, too) and expects errors where the
//! types must refuse a mistake.

use std::process::Command;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::axe::node_modules;
use crate::{ensure_web_pkg, workspace_root};

#[tokio::test]
async fn the_package_types_check_a_portal_with_tsc() -> anyhow::Result<()> {
    tokio::task::spawn_blocking(ensure_web_pkg).await??;
    let root = workspace_root();
    let modules = tokio::task::spawn_blocking(node_modules).await??;
    let pkg = root.join("web/pkg");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(pkg.join("package.json")).context("web/pkg/package.json")?,
    )?;
    anyhow::ensure!(
        manifest["name"] == json!("sshdiag-web")
            && manifest["exports"]["."]["types"] == json!("./sshdiag_web.d.ts")
            && manifest["files"].as_array().is_some_and(|f| f.len() >= 3),
        "web/pkg/package.json: {manifest}"
    );
    for file in manifest["files"].as_array().into_iter().flatten() {
        let file = file.as_str().unwrap_or("");
        // `snippets/` is a folder (the run's module loads the viewer's through it).
        let there = match file.strip_suffix('/') {
            Some(dir) => pkg.join(dir).is_dir(),
            None => pkg.join(file).is_file(),
        };
        anyhow::ensure!(there, "the package lists {file}, which is missing");
    }
    // Both modules ship: the viewer's has its own entry point.
    anyhow::ensure!(
        manifest["exports"]["./viewer"]["types"] == json!("./sshdiag_viewer.d.ts")
            && pkg.join("sshdiag_viewer_bg.wasm").is_file(),
        "the package does not ship the viewer's module: {manifest}"
    );

    let project = tempfile::tempdir()?;
    std::fs::create_dir_all(project.path().join("node_modules"))?;
    std::os::unix::fs::symlink(&pkg, project.path().join("node_modules/sshdiag-web"))?;
    std::fs::copy(
        root.join("tests/js/portal.ts"),
        project.path().join("portal.ts"),
    )?;
    std::fs::write(
        project.path().join("package.json"),
        r#"{ "name": "portal", "private": true, "type": "module" }"#,
    )?;
    std::fs::write(
        project.path().join("tsconfig.json"),
        json!({
            "compilerOptions": {
                "strict": true, "noEmit": true, "target": "es2022", "module": "node16",
                "moduleResolution": "node16", "lib": ["esnext", "dom"], "skipLibCheck": false,
                "types": []
            },
            "files": ["portal.ts"]
        })
        .to_string(),
    )?;
    let output = Command::new(sshdiag_tests::tools::NPM.require()?.with_file_name("node"))
        .arg(modules.join("typescript/bin/tsc"))
        .args(["-p", "."])
        .current_dir(project.path())
        .output()
        .context("running tsc")?;
    if !output.status.success() {
        bail!(
            "tsc refused tests/js/portal.ts against the package:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
