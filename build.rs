//! Compiles the Slint UI. Outside release builds the UI keeps debug info,
//! which Slint's testing backend needs to find elements.

fn main() {
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let config = slint_build::CompilerConfiguration::new().with_debug_info(!release);
    if let Err(e) = slint_build::compile_with_config("ui/index.slint", config) {
        eprintln!("ui/index.slint: {e}");
        std::process::exit(1);
    }
}
