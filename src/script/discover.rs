//! Which files are services, and which services a runlevel holds (openrc-compat.md E-01..E-05,
//! R-01..R-03). Paths are read below an image root, so `--root` works from outside the image.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// Script directories, highest priority first (E-01: the local prefix wins over /etc).
pub const SCRIPT_DIRS: &[&str] = &["/usr/local/etc/init.d", "/etc/init.d"];

/// A service script found in an init.d directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The file name: the service name (for `net.eth0 -> net`, `net.eth0`).
    pub name: String,
    /// The init.d directory it is in (inside the root).
    pub dir: String,
    /// Why OpenRC would not treat this file as a service, when it would not.
    pub skipped: Option<Skip>,
}

impl Script {
    /// The script's path inside the root.
    pub fn path(&self) -> String {
        format!("{}/{}", self.dir, self.name)
    }
}

/// Why a file in init.d is not a service script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Not an executable regular file (after symlinks).
    NotExecutable,
    /// The first line does not name openrc-run (or runscript); `crlf` when only a CR is in the way.
    Shebang { first_line: String, crlf: bool },
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::NotExecutable => write!(f, "not an executable regular file"),
            Skip::Shebang { crlf: true, .. } => {
                write!(
                    f,
                    "the file has CRLF line endings, so OpenRC does not see its #!/sbin/openrc-run line"
                )
            }
            Skip::Shebang { first_line, .. } => write!(
                f,
                "its first line {first_line:?} does not name openrc-run, so OpenRC ignores it"
            ),
        }
    }
}

/// Names OpenRC never treats as services (E-02), whatever the file is.
pub fn ignored_name(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".sh") || name.contains(".dpkg")
}

/// The shebang rule of E-03: the first line's words as the shell's `read one two three` splits them.
pub fn shebang_ok(first_line: &str) -> bool {
    let mut words = first_line.split([' ', '\t']).filter(|w| !w.is_empty());
    let one = words.next().unwrap_or("");
    let two = words.next().unwrap_or("");
    let names_openrc = |w: &str| w.ends_with("/openrc-run") || w.ends_with("/runscript");
    (one.starts_with('#') && names_openrc(one)) || (one == "#!" && names_openrc(two))
}

/// Resolves `path` (absolute, inside `root`) following symlinks as if `root` were `/`.
pub fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    let mut parts: Vec<String> = Vec::new();
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(str::to_owned)
        .collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                parts.pop();
                continue;
            }
            _ => {}
        }
        parts.push(c);
        let host = root.join(parts.join("/"));
        if let Ok(target) = std::fs::read_link(&host) {
            hops += 1;
            if hops > 40 {
                return None;
            }
            parts.pop();
            let t = target.to_string_lossy().into_owned();
            if t.starts_with('/') {
                parts.clear();
            }
            for comp in Path::new(&t).components().rev() {
                if let Component::Normal(s) = comp {
                    todo.push(s.to_string_lossy().into_owned());
                } else if comp == Component::ParentDir {
                    todo.push("..".into());
                }
            }
        }
    }
    Some(root.join(parts.join("/")))
}

/// Every file of the script directories under `root`, service or not, sorted by name within a
/// directory; a name in an earlier directory hides the same name in a later one.
pub fn scripts(root: &Path) -> Vec<Script> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for dir in SCRIPT_DIRS {
        let Some(host_dir) = resolve_in_root(root, dir) else {
            continue;
        };
        let Ok(rd) = std::fs::read_dir(&host_dir) else {
            continue;
        };
        let mut names: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !ignored_name(n))
            .collect();
        names.sort();
        for name in names {
            if seen.contains(&name) {
                continue;
            }
            let skipped = classify(root, &format!("{dir}/{name}"));
            // A service here hides the same name in later directories; a non-service does not.
            let is_service = skipped.is_none();
            if let Some(i) = out.iter().position(|s: &Script| s.name == name) {
                if is_service {
                    out.remove(i);
                } else {
                    continue;
                }
            }
            if is_service {
                seen.insert(name.clone());
            }
            out.push(Script {
                name,
                dir: (*dir).to_owned(),
                skipped,
            });
        }
    }
    out
}

fn classify(root: &Path, path: &str) -> Option<Skip> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    // `[ -x f -a -f f ]`: a dangling link or anything unreadable is not a service.
    let Some(meta) = resolve_in_root(root, path).and_then(|h| std::fs::metadata(h).ok()) else {
        return Some(Skip::NotExecutable);
    };
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Some(Skip::NotExecutable);
    }
    // Only the first line matters.
    let mut text = Vec::with_capacity(256);
    if let Some(h) = resolve_in_root(root, path)
        && let Ok(f) = std::fs::File::open(h)
    {
        let _ = f.take(4096).read_to_end(&mut text);
    }
    let first = text.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let first = String::from_utf8_lossy(first).into_owned();
    if shebang_ok(&first) {
        return None;
    }
    let crlf = first.ends_with('\r') && shebang_ok(first.trim_end_matches('\r'));
    Some(Skip::Shebang {
        first_line: first,
        crlf,
    })
}

/// A runlevel and the ones stacked into it, each with its own services sorted by name, deepest
/// stacked level first and `level` last: the order OpenRC starts them in, one pass each (R-10).
pub fn runlevel_stack(root: &Path, level: &str) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut out = Vec::new();
    let mut stack = Vec::new();
    walk_level(root, level, &mut out, &mut stack)?;
    Ok(out)
}

fn walk_level(
    root: &Path,
    level: &str,
    out: &mut Vec<(String, Vec<String>)>,
    stack: &mut Vec<String>,
) -> Result<(), String> {
    if stack.iter().any(|l| l == level) {
        return Err(format!(
            "loop detected in stacked runlevels: {} -> {level}",
            stack.join(" -> ")
        ));
    }
    if out.iter().any(|(l, _)| l == level) {
        return Ok(());
    }
    stack.push(level.to_owned());
    let dir = format!("/etc/runlevels/{level}");
    let mut own = Vec::new();
    if let Some(host) = resolve_in_root(root, &dir)
        && let Ok(rd) = std::fs::read_dir(&host)
    {
        let mut entries: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        entries.sort();
        for name in entries {
            if ignored_name(&name) {
                continue;
            }
            let entry = format!("{dir}/{name}");
            let Some(target) = resolve_in_root(root, &entry) else {
                continue;
            };
            match std::fs::metadata(&target) {
                Ok(m) if m.is_dir() => walk_level(root, &name, out, stack)?,
                Ok(_) => own.push(name),
                // R-02/E-02: an entry whose target cannot be stat()ed is skipped.
                Err(_) => {}
            }
        }
    }
    stack.pop();
    out.push((level.to_owned(), own));
    Ok(())
}

/// Whether a runlevel directory exists.
pub fn runlevel_exists(root: &Path, level: &str) -> bool {
    resolve_in_root(root, &format!("/etc/runlevels/{level}")).is_some_and(|p| p.is_dir())
}

/// The service scripts of this system's init.d directories, sorted (rc-service -l).
pub fn service_names() -> Vec<String> {
    let mut v: Vec<String> = scripts(Path::new("/"))
        .into_iter()
        .filter(|s| s.skipped.is_none())
        .map(|s| s.name)
        .collect();
    v.sort();
    v
}

/// The script of service `name` on this system, if there is one (rc-service -r).
pub fn resolve(name: &str) -> Option<String> {
    if name.contains('/') {
        return None;
    }
    scripts(Path::new("/"))
        .into_iter()
        .find(|s| s.name == name && s.skipped.is_none())
        .map(|s| s.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_rule_of_gendepends() {
        for ok in [
            "#!/sbin/openrc-run",
            "#!/usr/sbin/openrc-run",
            "#!/sbin/runscript",
            "#! /sbin/openrc-run",
            "#!/sbin/openrc-run -x",
            "#/sbin/openrc-run",
        ] {
            assert!(shebang_ok(ok), "{ok}");
        }
        for bad in [
            "#!/bin/sh",
            "#!/usr/bin/env openrc-run",
            "#!/sbin/openrc-run\r",
            "",
            "# comment",
            "#!/sbin/openrc-runx",
        ] {
            assert!(!shebang_ok(bad), "{bad}");
        }
    }

    #[test]
    fn a_dangling_link_is_not_a_service_and_local_services_win() {
        let dir = std::env::temp_dir().join(format!("rcinit-discover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["etc/init.d", "usr/local/etc/init.d"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let write = |p: &str, text: &str, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(dir.join(p), text).unwrap();
            std::fs::set_permissions(dir.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
        };
        std::os::unix::fs::symlink("/nowhere", dir.join("etc/init.d/dangling")).unwrap();
        write("etc/init.d/a", "#!/sbin/openrc-run\n", 0o755);
        write("usr/local/etc/init.d/a", "not a script\n", 0o644);
        write("etc/init.d/b", "#!/sbin/openrc-run\n", 0o755);
        write("usr/local/etc/init.d/b", "#!/sbin/openrc-run\n", 0o755);
        let found = scripts(&dir);
        let get = |n: &str| found.iter().find(|s| s.name == n).unwrap().clone();
        assert_eq!(get("dangling").skipped, Some(Skip::NotExecutable));
        assert_eq!(
            (get("a").dir.as_str(), get("a").skipped),
            ("/etc/init.d", None)
        );
        assert_eq!(get("b").dir, "/usr/local/etc/init.d");
        assert_eq!(
            found
                .iter()
                .filter(|s| s.name == "a" || s.name == "b")
                .count(),
            2
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_that_are_never_services() {
        assert!(ignored_name("functions.sh"));
        assert!(ignored_name(".hidden"));
        assert!(ignored_name("foo.dpkg-old"));
        assert!(!ignored_name("net.eth0"));
    }
}
