//! Windows OS errors in words: the code's name and what it means.
//!
//! Rust prints an OS error as the system's own text and `(os error N)`.
//! Where Windows has no text for a code (Wine has none for the Winsock
//! codes) that text is `OS Error N (FormatMessageW() returned error 317)`,
//! which tells a user nothing. [`readable`] rewrites exactly that form, on
//! a message's way to the user, into the code's name and meaning from
//! [`WINDOWS_CODES`]. Every other text is left as it is: the system's own
//! words are good, and an `(os error N)` from elsewhere (a Linux peer's
//! message, an errno) must not be named as a Windows code. Only Rust on
//! Windows writes that form, so the rewrite applies on every platform (a
//! Linux PC reads a Windows peer's errors in words too), and a second pass
//! changes nothing.

use std::borrow::Cow;

/// Windows error codes (winerror.h), sorted: name, and what it means to
/// someone running a game launcher.
const WINDOWS_CODES: &[(i32, &str, &str)] = &[
    (1, "ERROR_INVALID_FUNCTION", "the function is not supported here"),
    (2, "ERROR_FILE_NOT_FOUND", "the file was not found"),
    (3, "ERROR_PATH_NOT_FOUND", "the path was not found"),
    (4, "ERROR_TOO_MANY_OPEN_FILES", "too many files are open"),
    (5, "ERROR_ACCESS_DENIED", "access is denied"),
    (6, "ERROR_INVALID_HANDLE", "the handle is invalid"),
    (8, "ERROR_NOT_ENOUGH_MEMORY", "not enough memory"),
    (14, "ERROR_OUTOFMEMORY", "not enough memory"),
    (15, "ERROR_INVALID_DRIVE", "the drive was not found"),
    (17, "ERROR_NOT_SAME_DEVICE", "a file cannot be moved to another drive"),
    (19, "ERROR_WRITE_PROTECT", "the disk is write-protected"),
    (21, "ERROR_NOT_READY", "the device is not ready"),
    (23, "ERROR_CRC", "the disk returned bad data"),
    (32, "ERROR_SHARING_VIOLATION", "the file is in use by another program"),
    (33, "ERROR_LOCK_VIOLATION", "part of the file is locked by another program"),
    (38, "ERROR_HANDLE_EOF", "the end of the file was reached"),
    (39, "ERROR_HANDLE_DISK_FULL", "the disk is full"),
    (50, "ERROR_NOT_SUPPORTED", "the request is not supported"),
    (53, "ERROR_BAD_NETPATH", "the network path was not found"),
    (80, "ERROR_FILE_EXISTS", "the file exists"),
    (87, "ERROR_INVALID_PARAMETER", "a parameter is not valid"),
    (109, "ERROR_BROKEN_PIPE", "the other end of the pipe has closed"),
    (112, "ERROR_DISK_FULL", "there is not enough space on the disk"),
    (123, "ERROR_INVALID_NAME", "the file or folder name is not valid on Windows"),
    (145, "ERROR_DIR_NOT_EMPTY", "the folder is not empty"),
    (183, "ERROR_ALREADY_EXISTS", "the file already exists"),
    (193, "ERROR_BAD_EXE_FORMAT", "not a valid Windows program"),
    (206, "ERROR_FILENAME_EXCED_RANGE", "the file name or path is too long"),
    (216, "ERROR_EXE_MACHINE_TYPE_MISMATCH", "the program is made for another kind of PC"),
    (225, "ERROR_VIRUS_INFECTED", "the antivirus blocked the file"),
    (231, "ERROR_PIPE_BUSY", "all pipe instances are busy"),
    (232, "ERROR_NO_DATA", "the pipe is being closed"),
    (233, "ERROR_PIPE_NOT_CONNECTED", "no process is on the other end of the pipe"),
    (267, "ERROR_DIRECTORY", "the folder name is not valid"),
    (740, "ERROR_ELEVATION_REQUIRED", "the program must be run as administrator"),
    (995, "ERROR_OPERATION_ABORTED", "the operation was aborted"),
    (1117, "ERROR_IO_DEVICE", "the disk reported an I/O error"),
    (1224, "ERROR_USER_MAPPED_FILE", "the file is mapped into memory by a running program"),
    (1260, "ERROR_ACCESS_DISABLED_BY_POLICY", "a group policy blocks the program"),
    (1314, "ERROR_PRIVILEGE_NOT_HELD", "a privilege this needs is not held"),
    (1392, "ERROR_FILE_CORRUPT", "the file or folder is corrupted and unreadable"),
    (1450, "ERROR_NO_SYSTEM_RESOURCES", "the system is out of resources"),
    (1455, "ERROR_COMMITMENT_LIMIT", "the paging file is too small"),
    (1920, "ERROR_CANT_ACCESS_FILE", "the system cannot access the file"),
    (1921, "ERROR_CANT_RESOLVE_FILENAME", "the file's name cannot be resolved"),
    (10004, "WSAEINTR", "the call was interrupted"),
    (10009, "WSAEBADF", "the socket handle is not valid"),
    (10013, "WSAEACCES", "permission denied (another program may hold the port, or a firewall refuses)"),
    (10014, "WSAEFAULT", "a bad address was passed"),
    (10022, "WSAEINVAL", "an argument is not valid"),
    (10024, "WSAEMFILE", "too many sockets are open"),
    (10035, "WSAEWOULDBLOCK", "the operation would block"),
    (10036, "WSAEINPROGRESS", "an operation is in progress"),
    (10037, "WSAEALREADY", "the operation is already in progress"),
    (10038, "WSAENOTSOCK", "not a socket"),
    (10039, "WSAEDESTADDRREQ", "a destination address is needed"),
    (10040, "WSAEMSGSIZE", "the message is too long"),
    (10041, "WSAEPROTOTYPE", "the protocol does not fit the socket type"),
    (10042, "WSAENOPROTOOPT", "the network stack does not support this socket option"),
    (10043, "WSAEPROTONOSUPPORT", "the protocol is not supported"),
    (10044, "WSAESOCKTNOSUPPORT", "the socket type is not supported"),
    (10045, "WSAEOPNOTSUPP", "the network stack does not support this operation"),
    (10046, "WSAEPFNOSUPPORT", "the protocol family is not supported"),
    (10047, "WSAEAFNOSUPPORT", "the address family is not supported"),
    (10048, "WSAEADDRINUSE", "the address is already in use (another program has this port)"),
    (10049, "WSAEADDRNOTAVAIL", "the address is not one of this PC's"),
    (10050, "WSAENETDOWN", "the network is down"),
    (10051, "WSAENETUNREACH", "the network is unreachable"),
    (10052, "WSAENETRESET", "the network dropped the connection"),
    (10053, "WSAECONNABORTED", "this PC aborted the connection"),
    (10054, "WSAECONNRESET", "the other PC reset the connection"),
    (10055, "WSAENOBUFS", "no buffer space is left"),
    (10056, "WSAEISCONN", "the socket is already connected"),
    (10057, "WSAENOTCONN", "the socket is not connected"),
    (10058, "WSAESHUTDOWN", "the socket was shut down"),
    (10060, "WSAETIMEDOUT", "the connection timed out"),
    (10061, "WSAECONNREFUSED", "the other PC refused the connection"),
    (10064, "WSAEHOSTDOWN", "the other PC is down"),
    (10065, "WSAEHOSTUNREACH", "no route to the other PC"),
    (10067, "WSAEPROCLIM", "too many programs use the network"),
    (10091, "WSASYSNOTREADY", "the network subsystem is not ready"),
    (10092, "WSAVERNOTSUPPORTED", "this Winsock version is not supported"),
    (10093, "WSANOTINITIALISED", "Winsock is not started"),
    (10101, "WSAEDISCON", "the other side is shutting down"),
    (10109, "WSATYPE_NOT_FOUND", "the class type was not found"),
    (11001, "WSAHOST_NOT_FOUND", "the host name was not found"),
    (11002, "WSATRY_AGAIN", "the host name could not be looked up now; try again"),
    (11003, "WSANO_RECOVERY", "the name lookup failed for good"),
    (11004, "WSANO_DATA", "the name has no address of the kind asked for"),
];

/// The name and meaning of Windows error `code`, if it is a known one.
pub fn windows_code(code: i32) -> Option<(&'static str, &'static str)> {
    WINDOWS_CODES.binary_search_by_key(&code, |&(c, _, _)| c).ok().map(|i| (WINDOWS_CODES[i].1, WINDOWS_CODES[i].2))
}

/// What Rust writes for a Windows code the system has no text for:
/// `OS Error {N}{UNTOLD}{M}) (os error {N})`.
const OS_ERROR: &str = "OS Error ";
const UNTOLD: &str = " (FormatMessageW() returned error ";

/// `message` with every Windows error the system had no text for put in
/// words (see the module docs).
pub fn readable(message: &str) -> Cow<'_, str> {
    if !message.contains(UNTOLD) {
        return Cow::Borrowed(message);
    }
    let mut out = String::with_capacity(message.len() + 64);
    let mut rest = message;
    while let Some(at) = rest.find(OS_ERROR) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        match untold(from) {
            Some((code, len)) => {
                let words = match windows_code(code) {
                    Some((name, meaning)) => format!("{name}: {meaning}"),
                    None => format!("Windows error {code}"),
                };
                out.push_str(&format!("{words} (os error {code})"));
                rest = &from[len..];
            }
            None => {
                out.push_str(OS_ERROR);
                rest = &from[OS_ERROR.len()..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The code of the untold error `text` starts with, and the length of
/// that text; `None` unless it is exactly Rust's form.
fn untold(text: &str) -> Option<(i32, usize)> {
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).filter(|&n| n > 0);
    let after = text.strip_prefix(OS_ERROR)?;
    let (code, after) = after.split_at(digits(after)?);
    let after = after.strip_prefix(UNTOLD)?;
    let tail = after[digits(after)?..].strip_prefix(&format!(") (os error {code})"))?;
    Some((code.parse().ok()?, text.len() - tail.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_so_every_code_is_found() {
        assert!(WINDOWS_CODES.windows(2).all(|w| w[0].0 < w[1].0));
        for &(code, name, _) in WINDOWS_CODES {
            assert_eq!(windows_code(code).map(|(n, _)| n), Some(name));
        }
        assert_eq!(windows_code(9999), None);
    }

    #[test]
    fn an_error_windows_has_no_text_for_gets_its_name_and_meaning() {
        let wine =
            "cannot listen on 127.0.0.1:0: OS Error 10045 (FormatMessageW() returned error 317) (os error 10045)";
        let words = "cannot listen on 127.0.0.1:0: WSAEOPNOTSUPP: the network stack does not support this operation (os error 10045)";
        assert_eq!(readable(wine), words);
        assert_eq!(readable(words), words, "a second pass changes nothing");
        let two = format!("{wine}; then {wine}");
        assert_eq!(readable(&two), format!("{words}; then {words}"));
        let unknown = "x: OS Error 4242 (FormatMessageW() returned error 317) (os error 4242)";
        assert_eq!(readable(unknown), "x: Windows error 4242 (os error 4242)");
    }

    #[test]
    fn every_other_text_is_kept() {
        for text in [
            "no error here",
            // The system's own words, on Windows or elsewhere (a Linux peer's errno is no Windows code).
            "C:\\g\\x.pak: The process cannot access the file because it is being used by another process. (os error 32)",
            "cannot read the chunk: Input/output error (os error 5)",
            // Only nearly Rust's form.
            "OS Error 5 (FormatMessageW() returned error 317) (os error 6)",
            "OS Error 5 (FormatMessageW() returned error ) (os error 5)",
            "OS Error (FormatMessageW() returned error 317) (os error 5)",
            "a path named OS Error 5 (FormatMessageW() returned error 317x) (os error 5)",
            "ends early: OS Error 5 (FormatMessageW() returned error 317",
        ] {
            assert_eq!(readable(text), text);
        }
    }
}
