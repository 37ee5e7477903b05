//! Compiles the Slint UI. Outside release builds the UI keeps debug info,
//! which Slint's testing backend needs to find elements. For Windows, also
//! gives `lanspread.exe` its icon and version information.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "windows") {
        let mut resource = winresource::WindowsResource::new();
        resource.set_icon("installer/windows/lanspread.ico").set("FileDescription", "LanSpread");
        if let Err(e) = resource.compile() {
            eprintln!("installer/windows/lanspread.ico: cannot compile the Windows resource: {e}");
            std::process::exit(1);
        }
    }
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let config = slint_build::CompilerConfiguration::new().with_debug_info(!release);
    if let Err(e) = slint_build::compile_with_config("ui/index.slint", config) {
        eprintln!("ui/index.slint: {e}");
        std::process::exit(1);
    }
}
