//! `is_newer_than REF PATH...` and `is_older_than REF PATH...` (L-35), with OpenRC's rules:
//! a path is searched recursively (links followed, dot entries skipped), times compare in
//! whole seconds, a missing PATH counts as older, a missing REF as not newer. is_older_than is
//! the historical inverse: 0 when something under some PATH is newer than REF.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// OpenRC builds paths in a PATH_MAX buffer: past it a name cannot be reached (and a loop of
/// links ends there).
const PATH_MAX: usize = 4095;

/// Whether nothing under `target` has a modification time (seconds) above `*rel`; `*rel`
/// rises to the newest time seen, as OpenRC's deep_mtime_check does.
fn newer_than_all(target: &Path, rel: &mut i64) -> bool {
    if target.as_os_str().len() > PATH_MAX {
        return true;
    }
    let Ok(md) = std::fs::metadata(target) else {
        return true;
    };
    let mut ok = true;
    if *rel < md.mtime() {
        ok = false;
        *rel = md.mtime();
    }
    if !md.is_dir() {
        return ok;
    }
    let Ok(rd) = std::fs::read_dir(target) else {
        return ok;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        if name.as_bytes().first() == Some(&b'.') {
            continue;
        }
        if !newer_than_all(&target.join(name), rel) {
            ok = false;
        }
    }
    ok
}

/// rc_newer_than: REF exists and nothing under TARGET is newer.
fn newer(reference: &str, target: &str) -> bool {
    let Ok(md) = std::fs::metadata(reference) else {
        return false;
    };
    let mut rel = md.mtime();
    newer_than_all(Path::new(target), &mut rel)
}

pub fn is_newer_than(args: &[String]) -> i32 {
    let [reference, paths @ ..] = args else {
        return 1;
    };
    if paths.is_empty() || !paths.iter().all(|p| newer(reference, p)) {
        return 1;
    }
    0
}

pub fn is_older_than(args: &[String]) -> i32 {
    let [reference, paths @ ..] = args else {
        return 1;
    };
    if paths.iter().any(|p| !newer(reference, p)) {
        return 0;
    }
    1
}
