//! Rules for the names and short strings that enter from another process or
//! another PC: game ids, versions, display names and relative file paths.
//!
//! Each kind of value has one rule here, applied where it enters (the peer
//! client, the IPC bridge, the command line, a manifest, an archive), so a
//! value that passed is safe to use as a path component or to print. Paths
//! follow the strictest of the platforms LanSpread runs on: a name that
//! Windows would treat as a device (`nul`, `COM1.txt`), that ends in a dot
//! or a space (Windows drops those, so `local.` is `local`), or that holds a
//! character Windows forbids, is refused on every platform, so a game
//! downloads the same way everywhere.

/// Longest game id, in bytes.
pub const MAX_GAME_ID_LEN: usize = 64;
/// Longest version string, in bytes.
pub const MAX_VERSION_LEN: usize = 64;
/// Longest display name of a peer, in characters (longer ones are cut).
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// Longest relative path of a game file, in bytes.
pub const MAX_RELATIVE_PATH_LEN: usize = 1024;
/// Longest single component of a path, in bytes (NTFS and ext4 both allow 255).
pub const MAX_COMPONENT_LEN: usize = 255;
/// Deepest relative path.
pub const MAX_PATH_DEPTH: usize = 64;
/// Bytes of a `HOST:PORT` peer address (a DNS name is at most 253).
pub const MAX_PEER_ADDRESS_LEN: usize = 261;

/// Names Windows reserves for devices, with or without an extension.
const WINDOWS_DEVICES: [&str; 22] = [
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9", "lpt1", "lpt2",
    "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Whether `name` (one path component) is a Windows device name such as
/// `nul`, `CON` or `com1.txt`.
pub fn is_windows_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    WINDOWS_DEVICES.iter().any(|device| stem.eq_ignore_ascii_case(device))
}

/// Checks one path component under every platform's rules.
pub fn check_component(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a path component is empty");
    }
    if name == "." || name == ".." {
        return Err("a path component is `.` or `..`");
    }
    if name.len() > MAX_COMPONENT_LEN {
        return Err("a path component is too long");
    }
    if name.chars().any(|c| c.is_control() || matches!(c, '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*')) {
        return Err("a path component holds a character Windows forbids (control, <>:\"/\\|?*)");
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Err("a path component ends with a dot or a space");
    }
    if is_windows_device_name(name) {
        return Err("a path component is a Windows device name (con, nul, com1, …)");
    }
    Ok(())
}

/// Checks a relative path with `/` separators: not absolute, no empty, `.`
/// or `..` component, every component portable, bounded in length and depth.
/// Returns its components.
pub fn check_relative_path(path: &str) -> Result<Vec<&str>, &'static str> {
    if path.is_empty() {
        return Err("the path is empty");
    }
    if path.len() > MAX_RELATIVE_PATH_LEN {
        return Err("the path is too long");
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() > MAX_PATH_DEPTH {
        return Err("the path is nested too deep");
    }
    for part in &parts {
        check_component(part)?;
    }
    Ok(parts)
}

/// Whether `id` can be a catalog id. It names a directory, so it must be one
/// portable path component: lowercase ASCII letters, digits, `-`, `_` and
/// `.`, not starting or ending with `.`, not a Windows device name, at most
/// [`MAX_GAME_ID_LEN`] bytes. Anything else is never a game root.
pub fn is_valid_game_id(id: &str) -> bool {
    id.len() <= MAX_GAME_ID_LEN
        && !id.starts_with('.')
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && check_component(id).is_ok()
}

/// Whether `version` can be a game version: 1 to [`MAX_VERSION_LEN`] bytes
/// of printable characters (it is shown, compared and written to
/// `version.ini`).
pub fn is_valid_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= MAX_VERSION_LEN
        && version.trim() == version
        && version.chars().all(|c| !c.is_control())
}

/// A peer's display name made safe to show and log: control characters
/// (terminal escapes among them) become `?`, and it is cut to
/// [`MAX_DISPLAY_NAME_CHARS`] characters.
pub fn display_name(name: &str) -> String {
    printable(name, MAX_DISPLAY_NAME_CHARS)
}

/// `text` from another process or PC made safe for a terminal or a log
/// line: control characters become `?`, and it is cut to `max_chars`
/// characters (with `…` when cut).
pub fn printable(text: &str, max_chars: usize) -> String {
    let mut out: String = text.chars().take(max_chars).map(|c| if c.is_control() { '?' } else { c }).collect();
    if text.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out
}

/// A peer given by address (`--peer`, the settings' peer list): `HOST:PORT`
/// with a host and a port from 1 to 65535; the host is resolved later.
pub fn is_valid_peer_address(text: &str) -> bool {
    text.len() <= MAX_PEER_ADDRESS_LEN
        && text.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && !host.contains(char::is_whitespace) && port.parse::<u16>().is_ok_and(|p| p > 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_addresses_need_a_host_and_a_port() {
        for ok in ["10.0.0.2:47474", "lan-box:1", "[fe80::1]:47474"] {
            assert!(is_valid_peer_address(ok), "{ok}");
        }
        let long = format!("{}:1", "a".repeat(MAX_PEER_ADDRESS_LEN));
        for bad in ["10.0.0.2", ":47474", "host:0", "host:65536", "host:x", "a b:1", "", &long] {
            assert!(!is_valid_peer_address(bad), "{bad}");
        }
    }

    #[test]
    fn game_ids_are_portable_directory_names() {
        for good in ["openarena", "xonotic", "0ad", "quake3-arena", "a_b.c"] {
            assert!(is_valid_game_id(good), "{good}");
        }
        let long = "a".repeat(MAX_GAME_ID_LEN + 1);
        for bad in [
            "",
            ".",
            "..",
            "../outside",
            "/abs",
            "C:\\x",
            "c:x",
            "nul",
            "con",
            "com1",
            "lpt9.x",
            "aux.tar",
            "game.",
            ".hidden",
            "Upper",
            "a b",
            "a/b",
            "é",
            &long,
        ] {
            assert!(!is_valid_game_id(bad), "{bad:?} was accepted");
        }
    }

    #[test]
    fn paths_follow_windows_rules_on_every_platform() {
        assert_eq!(check_relative_path("data/maps/dm1.bsp").unwrap(), ["data", "maps", "dm1.bsp"]);
        assert!(check_relative_path("x..y").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a//b",
            "./a",
            "a/",
            "C:\\x",
            "c:x",
            "a\\b",
            "local./x",
            "NUL",
            "data/Con.txt",
            "a /b",
            "a\u{1b}[31m",
            "a|b",
            "a?b",
            "a*b",
        ] {
            assert!(check_relative_path(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(check_relative_path("a/".repeat(MAX_PATH_DEPTH).trim_end_matches('/')).is_ok());
        assert!(check_relative_path(&["a"; MAX_PATH_DEPTH + 1].join("/")).is_err());
        assert!(check_relative_path(&"a".repeat(MAX_COMPONENT_LEN + 1)).is_err());
    }

    #[test]
    fn versions_and_names_are_bounded_and_printable() {
        assert!(is_valid_version("0.8.9-beta (r2)"));
        for bad in ["", " 1", "1\n", "1\u{1b}]0;x\u{7}", &"9".repeat(MAX_VERSION_LEN + 1)] {
            assert!(!is_valid_version(bad), "{bad:?}");
        }
        assert_eq!(display_name("lan\u{1b}[2J"), "lan?[2J");
        assert_eq!(display_name(&"x".repeat(100)).chars().count(), MAX_DISPLAY_NAME_CHARS + 1);
        assert_eq!(printable("abc", 2), "ab…");
    }
}
