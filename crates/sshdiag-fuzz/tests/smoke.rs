//! The fuzz targets' short smoke, run by `cargo xtask test` (issue 15, item 5): every target
//! on every committed seed (`fuzz/seeds/NAME/`), every committed crash (`fuzz/regressions/
//! NAME/`, where `cargo xtask fuzz` tells you to put what it finds), and a fixed number of
//! deterministic mutations of the seeds. The coverage-guided search is `cargo xtask fuzz`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test may unwrap: a panic is its failure.

use std::path::{Path, PathBuf};

use sshdiag_fuzz::TARGETS;
use sshdiag_fuzz::mutate::{Rng, mutate};

/// Mutations per target per run: a few seconds in all on a debug build.
const MUTATIONS: usize = 400;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `fuzz/KIND/NAME/`, sorted, as (file name, bytes).
fn inputs(kind: &str, name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let bytes = std::fs::read(e.path()).ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), bytes))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_has_seeds_and_a_cargo_fuzz_entry() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for target in TARGETS {
        assert!(
            !inputs("seeds", target.name).is_empty(),
            "fuzz/seeds/{}/ has no seed",
            target.name
        );
        assert!(
            manifest.contains(&format!("name = \"{}\"", target.name))
                && fuzz_dir()
                    .join(format!("fuzz_targets/{}.rs", target.name))
                    .is_file(),
            "fuzz/ has no cargo-fuzz target `{}`",
            target.name
        );
    }
}

#[test]
fn every_target_survives_its_seeds_regressions_and_mutations() {
    for target in TARGETS {
        let seeds = inputs("seeds", target.name);
        for (file, bytes) in seeds.iter().chain(&inputs("regressions", target.name)) {
            let result = std::panic::catch_unwind(|| (target.run)(bytes));
            assert!(result.is_ok(), "{}: {file} fails", target.name);
        }
        let mut rng = Rng::new(0x5eed ^ target.name.len() as u64);
        for case in 0..MUTATIONS {
            let (_, base) = &seeds[rng.below(seeds.len())];
            let (_, other) = &seeds[rng.below(seeds.len())];
            let input = mutate(&mut rng, base, other);
            let result = std::panic::catch_unwind(|| (target.run)(&input));
            assert!(
                result.is_ok(),
                "{}: mutation {case} fails; its input (hex) is {}",
                target.name,
                input.iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
        }
    }
}
