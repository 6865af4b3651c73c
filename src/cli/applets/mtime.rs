//! `is_newer_than REF PATH...` and `is_older_than REF PATH...` (L-35), with OpenRC's rules:
//! a path is searched recursively (links followed, dot entries skipped), times compare in
//! whole seconds, a missing PATH counts as older, a missing REF as not newer. is_older_than is
//! the historical inverse: 0 when something under some PATH is newer than REF.

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// OpenRC builds paths in a PATH_MAX buffer: past it a name cannot be reached (and a loop of
/// links ends there).
const PATH_MAX: usize = 4095;

/// Whether nothing under `target` has a modification time (seconds) above `*rel`; `*rel`
/// rises to the newest time seen, as OpenRC's deep_mtime_check does. A directory reached again
/// (links back up the tree) is not searched again: its entries cannot change the answer, and
/// a few such links would otherwise make the walk exponential.
fn newer_than_all(target: &Path, rel: &mut i64, seen: &mut HashSet<(u64, u64)>) -> bool {
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
    if !md.is_dir() || !seen.insert((md.dev(), md.ino())) {
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
        if !newer_than_all(&target.join(name), rel, seen) {
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
    newer_than_all(Path::new(target), &mut rel, &mut HashSet::new())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_back_up_the_tree_are_searched_once_and_the_answer_holds() {
        let d = std::env::temp_dir().join(format!("rcinit-mtime-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let t = d.join("t");
        std::fs::create_dir_all(t.join("deep")).unwrap();
        // Eight links to the top in each of two directories: 2^(depth) paths without the rule,
        // until PATH_MAX.
        for k in 0..8 {
            std::os::unix::fs::symlink(&t, t.join(format!("up{k}"))).unwrap();
            std::os::unix::fs::symlink(&t, t.join("deep").join(format!("up{k}"))).unwrap();
        }
        std::fs::write(d.join("ref"), "r").unwrap();
        let r = d.join("ref").to_string_lossy().into_owned();
        let target = t.to_string_lossy().into_owned();
        let begin = std::time::Instant::now();
        let ref_time = std::fs::metadata(&r).unwrap().mtime();
        // Everything is at most as new as REF (same second or older): newer holds...
        let all_older = std::fs::metadata(&t).unwrap().mtime() <= ref_time;
        assert_eq!(is_newer_than(&[r.clone(), target.clone()]) == 0, all_older);
        // ...and a file far in the future, deep inside, turns both answers.
        let f = t.join("deep").join("late");
        std::fs::write(&f, "l").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
            .unwrap();
        assert_eq!(is_newer_than(&[r.clone(), target.clone()]), 1);
        assert_eq!(is_older_than(&[r, target]), 0);
        assert!(
            begin.elapsed() < std::time::Duration::from_secs(10),
            "the walk did not end"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
