//! The wasm32 test runner, built from the pinned `wasm-bindgen-cli` library so it is always the
//! exact wasm-bindgen release the crates use. Cargo calls it (see `.cargo/config.toml`).
//!
//! Its own package because the CLI crate is large (its test server's HTTP stack among it) and
//! only the wasm tests need it: `cargo xtask demo` and `build-web` must never compile it.

fn main() -> anyhow::Result<()> {
    wasm_bindgen_cli::wasm_bindgen_test_runner::run_cli_with_args(std::env::args_os())
}
