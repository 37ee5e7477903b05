//! For Windows, gives `lanspread-worker.exe` its icon and version
//! information (the firewall prompt and Task Manager show them).

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "windows") {
        let mut resource = winresource::WindowsResource::new();
        resource.set_icon("../installer/windows/lanspread.ico").set("FileDescription", "LanSpread worker");
        if let Err(e) = resource.compile() {
            eprintln!("installer/windows/lanspread.ico: cannot compile the Windows resource: {e}");
            std::process::exit(1);
        }
    }
}
