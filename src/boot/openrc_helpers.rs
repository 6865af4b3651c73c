//! OpenRC's own helpers in the image (start-stop-daemon, supervise-daemon, openrc-run): covered
//! by rcinit's while it runs, so OpenRC's tools reach rcinit instead of a second supervisor.

/// OpenRC's own openrc-run is in the image (not rcinit's applet of that name).
pub(super) fn openrc_installed() -> bool {
    let real = |p: &str| std::fs::canonicalize(p).ok();
    match real("/sbin/openrc-run") {
        Some(p) => {
            std::env::current_exe()
                .ok()
                .and_then(|e| std::fs::canonicalize(e).ok())
                != Some(p)
        }
        None => false,
    }
}

/// With OpenRC in the image, its start-stop-daemon and supervise-daemon are covered (in the
/// container's own mount namespace) by rcinit, so the real `rc-service NAME restart` (OpenRC's
/// openrc-run) stops and starts the daemon through PID 1 and the new daemon is supervised by
/// rcinit, not by a second supervisor. Without mount rights (Docker's default capabilities),
/// links in `RC_LIBEXECDIR/sbin`, the first directory of openrc-run's PATH, do the same for
/// openrc-run alone; they are returned, to be removed when rcinit stops.
pub(super) fn cover_openrc_helpers() -> Vec<std::path::PathBuf> {
    let mut links = Vec::new();
    for name in ["supervise-daemon", "start-stop-daemon"] {
        let Some(target) = ["/sbin", "/usr/sbin", "/bin", "/usr/bin"]
            .iter()
            .map(|d| std::path::Path::new(d).join(name))
            .find(|p| p.exists())
            .and_then(|p| std::fs::canonicalize(p).ok())
        else {
            continue;
        };
        // The real one stays reachable for calls that are not a service's (Debian's dpkg owns
        // start-stop-daemon, and package scripts call it): the applet hands those on.
        let real = std::path::Path::new(crate::supervisor::helper_call::REAL_HELPERS).join(name);
        let kept = std::fs::create_dir_all(crate::supervisor::helper_call::REAL_HELPERS)
            .and_then(|_| std::fs::write(&real, b""))
            .map_err(|e| e.to_string())
            .and_then(|_| bind(&target, &real).map_err(|e| e.to_string()));
        // /proc/self/exe reaches our binary even where its path is hidden (a tmpfs on /run).
        let covered = kept.and_then(|_| {
            bind(std::path::Path::new("/proc/self/exe"), &target).map_err(|e| e.to_string())
        });
        match covered {
            Ok(()) => tracing::debug!("{}: answered by rcinit", target.display()),
            Err(e) => {
                let _ = nix::mount::umount(&real);
                let _ = std::fs::remove_file(&real);
                match path_link(name) {
                    Some(l) => {
                        tracing::debug!("{}: openrc-run's {name} is rcinit", l.display());
                        links.push(l);
                    }
                    None => tracing::info!(
                        "{}: cannot be covered ({e}); OpenRC's own rc-service will start daemons outside rcinit",
                        target.display()
                    ),
                }
            }
        }
    }
    links
}

/// A link to rcinit named `name` first on openrc-run's PATH (RC_LIBEXECDIR/sbin), made only
/// where nothing of that name is.
pub(super) fn path_link(name: &str) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok().filter(|e| e.exists())?;
    let dir = ["/lib/rc/sbin", "/usr/lib/rc/sbin", "/usr/libexec/rc/sbin"]
        .iter()
        .map(std::path::Path::new)
        .find(|d| d.is_dir())?;
    let link = dir.join(name);
    if link.symlink_metadata().is_ok() {
        // Ours from a run that did not stop cleanly, or the image's own: left alone unless ours.
        let ours = std::fs::canonicalize(&link).ok() == std::fs::canonicalize(&exe).ok();
        return ours.then_some(link);
    }
    std::os::unix::fs::symlink(&exe, &link).ok()?;
    Some(link)
}

pub(super) fn bind(from: &std::path::Path, to: &std::path::Path) -> nix::Result<()> {
    nix::mount::mount(
        Some(from),
        to,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
}

/// start-stop-daemon and supervise-daemon as links to rcinit, for scripts that call them in an
/// image without OpenRC; returns the directory, or None when it cannot be made (read-only /run).
pub(super) fn helper_links() -> Option<&'static str> {
    const DIR: &str = "/run/rcinit/bin";
    let exe = std::env::current_exe().ok()?;
    std::fs::create_dir_all(DIR).ok()?;
    for name in ["start-stop-daemon", "supervise-daemon"] {
        let link = std::path::Path::new(DIR).join(name);
        let _ = std::fs::remove_file(&link);
        if let Err(e) = std::os::unix::fs::symlink(&exe, &link) {
            tracing::debug!("{}: {e}", link.display());
            return None;
        }
    }
    Some(DIR)
}
