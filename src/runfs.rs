//! The faked sysinit: a fresh `/run` when rcinit may mount one and nothing is
//! mounted beneath it; otherwise the last run's state is cleared. Then OpenRC's state
//! directory, the softlevel and `/run/lock`.

use std::path::Path;

/// What the boot found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// Not prepared (not PID 1, or another rcinit owns it): nothing removed.
    Untouched,
    /// A new tmpfs on /run.
    Mounted,
    /// /run as it was, its stale state removed.
    Cleared,
}

/// Mount points strictly beneath `/run` in a mountinfo text (Docker's and Compose's secrets
/// are in /run/secrets; a tmpfs over /run would hide them).
pub fn mounts_beneath(mountinfo: &str, dir: &str) -> Vec<String> {
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|m| m.starts_with(&prefix))
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = (i + 3 < b.len() && b[i] == b'\\')
            .then(|| &b[i + 1..i + 4])
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0')))
            .and_then(|v| u8::try_from(v).ok());
        if let Some(v) = octal {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// OpenRC's state directories.
pub const STATE_DIRS: &[&str] = &[
    "started",
    "starting",
    "stopping",
    "inactive",
    "wasinactive",
    "failed",
    "hotplugged",
    "scheduled",
    "exclusive",
    "options",
    "daemons",
    "tmp",
];

/// Prepares /run for the boot: a fresh tmpfs, or the last run's state removed.
pub fn prepare() -> Run {
    let run = Path::new("/run");
    let _ = std::fs::create_dir_all(run);
    let beneath = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| mounts_beneath(&m, "/run"))
        .unwrap_or_default();
    let mut how = Run::Cleared;
    if !beneath.is_empty() {
        tracing::info!(
            "/run: kept as it is ({} mounted beneath it); stale state cleared",
            beneath.join(", ")
        );
    } else if nix::unistd::geteuid().is_root() {
        match nix::mount::mount(
            Some("tmpfs"),
            run,
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
            Some("mode=0755,size=20%,nr_inodes=800k"),
        ) {
            Ok(()) => {
                tracing::debug!("/run: a fresh tmpfs");
                how = Run::Mounted;
            }
            Err(e) => tracing::debug!("/run: cannot mount a tmpfs ({e}); stale state cleared"),
        }
    }
    if how == Run::Cleared {
        for d in ["/run/openrc", "/run/rcinit"] {
            match std::fs::remove_dir_all(d) {
                Ok(()) => tracing::debug!("{d}: the last run's state removed"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::debug!("{d}: {e}"),
            }
        }
    }
    how
}

/// OpenRC's state directory with its softlevel.
pub fn state_dir(runlevel: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let base = Path::new("/run/openrc");
    std::fs::create_dir_all(base)?;
    for d in STATE_DIRS {
        std::fs::create_dir_all(base.join(d))?;
    }
    // Locks are root's alone (see Mirror::exclusive): a service user could hold an open one.
    if base.join("exclusive").is_dir() {
        std::fs::set_permissions(
            base.join("exclusive"),
            std::fs::Permissions::from_mode(0o700),
        )?;
    }
    std::fs::write(base.join("softlevel"), runlevel)?;
    if std::fs::create_dir_all("/run/lock").is_ok() {
        let _ = std::fs::set_permissions("/run/lock", std::fs::Permissions::from_mode(0o775));
    }
    Ok(())
}

/// OpenRC's dependency cache and the files whose change makes its tools build it again
/// replaced whole (a reader never sees half of it). Written after the scripts were
/// read, so it is newer than them and OpenRC's tools take it as it is.
pub fn write_deptree(text: &str, depconfig: &[String]) -> std::io::Result<()> {
    let base = Path::new("/run/openrc");
    let tmp = base.join(".deptree.rcinit");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, base.join("deptree"))?;
    let conf = base.join("depconfig");
    if depconfig.is_empty() {
        match std::fs::remove_file(&conf) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    } else {
        let mut lines = depconfig.join("\n");
        lines.push('\n');
        std::fs::write(&conf, lines)?;
    }
    Ok(())
}

/// Removes the pidfiles the services about to start name, left by the last run (no process of
/// this boot has written one yet).
pub fn remove_stale_pidfiles(paths: &[String]) {
    for p in paths {
        if std::fs::remove_file(p).is_ok() {
            tracing::debug!("{p}: stale pidfile removed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_secrets_beneath_run_and_nothing_else() {
        let mi = "\
22 1 0:20 / / rw - overlay overlay rw
30 22 0:25 / /run rw - tmpfs tmpfs rw
31 22 8:1 /secrets/db /run/secrets/db\\040pass ro - ext4 /dev/sda1 rw
32 22 0:26 / /running rw - tmpfs tmpfs rw
";
        assert_eq!(mounts_beneath(mi, "/run"), vec!["/run/secrets/db pass"]);
        assert!(mounts_beneath("30 22 0:25 / /run rw - tmpfs tmpfs rw\n", "/run").is_empty());
    }

    /// Regression (found by tests/fuzz.rs): `\777` overflowed a byte and panicked.
    #[test]
    fn an_escape_past_a_byte_is_kept_as_text() {
        let mi = "31 22 8:1 / /run/a\\777b ro - ext4 /dev/sda1 rw\n";
        assert_eq!(mounts_beneath(mi, "/run"), vec!["/run/a\\777b"]);
    }
}
