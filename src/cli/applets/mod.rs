//! OpenRC's helper programs that scripts call (L-32, L-35), answered by this binary: the shim
//! defines each as a function running `rcinit NAME ARGS...`, at evaluation and at run time,
//! whether or not OpenRC is in the image. Each follows its OpenRC namesake's options, output
//! and exit codes (tests/helpers.rs compares them with Debian's real ones).

use std::io::Read;

pub mod crashed;
pub mod fstab;
pub mod fstabinfo;
pub mod getopt;
pub mod mountinfo;
pub mod mtime;

/// A helper's entry: its arguments (without its name) to its exit code.
type Applet = fn(&[String]) -> i32;

/// The helpers, by the name scripts call them.
const APPLETS: &[(&str, Applet)] = &[
    ("mountinfo", mountinfo::run),
    ("fstabinfo", fstabinfo::run),
    ("is_newer_than", mtime::is_newer_than),
    ("is_older_than", mtime::is_older_than),
    ("service_crashed", crashed::run),
];

/// Whether `name` is one of the helpers.
pub fn run_name(name: &str) -> bool {
    APPLETS.iter().any(|(n, _)| *n == name)
}

/// Runs the helper `name`; None when there is no such helper.
pub fn run(name: &str, args: &[String]) -> Option<i32> {
    APPLETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| f(args))
}

/// A regular file's text, at most `max` bytes of it, never waiting on a FIFO or a terminal
/// (a pidfile may sit where its service's user writes; links are followed, as OpenRC does,
/// which can change only what the helper answers).
pub fn read_bounded(path: impl AsRef<std::path::Path>, max: u64) -> std::io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// `sscanf("%d")`: blanks skipped, an optional sign, then digits; the value (saturated) and
/// the bytes used, or None without a digit.
pub fn scan_int(s: &str) -> Option<(i32, usize)> {
    let t = s.trim_start();
    let skipped = s.len() - t.len();
    let (neg, sign) = match t.as_bytes().first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let digits = &t[sign..];
    let n = digits.len()
        - digits
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .len();
    if n == 0 {
        return None;
    }
    let v: i64 = digits[..n].parse::<i64>().unwrap_or(i64::MAX);
    let v = if neg { v.saturating_neg() } else { v };
    let v = i32::try_from(v).unwrap_or(if neg { i32::MIN } else { i32::MAX });
    Some((v, skipped + sign + n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read_and_only_so_much() {
        let d = std::env::temp_dir().join(format!("rcinit-bounded-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let fifo = d.join("fifo");
        let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
        // SAFETY: mkfifo with a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(read_bounded(&fifo, 64).is_err(), "a FIFO is no file");
        assert!(read_bounded(&d, 64).is_err(), "nor a directory");
        assert!(read_bounded("/dev/zero", 64).is_err(), "nor a device");
        std::fs::write(d.join("big"), vec![b'7'; 100_000]).unwrap();
        assert_eq!(read_bounded(d.join("big"), 64).unwrap().len(), 64);
        // The kernel's files are regular ones.
        assert!(read_bounded("/proc/self/stat", 4096).is_ok());
        let _ = std::fs::remove_dir_all(&d);
    }
}
