//! `cargo xtask codegen`: files generated from the code, so they can never drift from it.
//!
//! - `docs/codes.md`, the error-code catalog, from `sshdiag_events::codes::codes_markdown()`.
//!
//! `--check` fails instead of writing when a file is stale. `cargo test` catches a stale
//! catalog too (`crates/sshdiag-events/tests/codes.rs`).

use std::path::PathBuf;

use anyhow::Context;

use crate::util::project_root;

#[derive(clap::Args)]
pub struct CodegenArgs {
    /// Fail if a generated file is stale instead of writing it.
    #[arg(long)]
    check: bool,
}

/// Every generated file: where it goes and what it must contain.
fn generated() -> anyhow::Result<Vec<(PathBuf, String)>> {
    Ok(vec![(
        project_root().join("docs").join("codes.md"),
        sshdiag_events::codes::codes_markdown(),
    )])
}

pub fn codegen(args: CodegenArgs) -> anyhow::Result<()> {
    let mut stale = Vec::new();
    for (path, contents) in generated()? {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == contents {
            continue;
        }
        if args.check {
            stale.push(path.display().to_string());
        } else {
            std::fs::write(&path, contents)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("codegen: wrote {}", path.display());
        }
    }
    if !stale.is_empty() {
        anyhow::bail!(
            "stale generated files: {} (run `cargo xtask codegen`)",
            stale.join(", ")
        );
    }
    Ok(())
}
