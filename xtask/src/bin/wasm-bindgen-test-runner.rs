//! The wasm32 test runner, built from the pinned `wasm-bindgen-cli` library so it is always the
//! exact wasm-bindgen release the crates use. Cargo calls it (see `.cargo/config.toml`).

fn main() -> anyhow::Result<()> {
    wasm_bindgen_cli::wasm_bindgen_test_runner::run_cli_with_args(std::env::args_os())
}
