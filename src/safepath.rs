//! Paths that root acts on inside directories a service user may own (SECURITY.md): the
//! directory part is walked one component at a time without following symlinks, except a
//! symlink root owns (so `/var/run -> /run` still works), as OpenRC's checkpath does; the last
//! component is the caller's to open with `O_NOFOLLOW`. A user who owns `/var/log/app` can
//! replace `/var/log/app/x` with a link, but root then acts on nothing at all, never on the
//! link's target.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Symlinks followed in one walk: a loop of root-owned links ends here.
const MAX_LINKS: usize = 40;

/// `path` with repeated slashes collapsed and trailing ones removed (OpenRC's clean_path).
pub fn clean(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    while out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    out
}

/// The last component of a cleaned absolute path, and the components before it.
pub fn split(path: &str) -> Option<(Vec<&str>, &str)> {
    let rest = path.strip_prefix('/')?;
    let mut parts: Vec<&str> = rest.split('/').collect();
    let last = parts.pop().filter(|l| !l.is_empty())?;
    Some((parts, last))
}

fn cstr(s: &[u8]) -> std::io::Result<CString> {
    CString::new(s).map_err(|_| std::io::Error::other("a path holds a NUL byte"))
}

fn open_at(dir: &OwnedFd, name: &CStr, flags: i32) -> std::io::Result<OwnedFd> {
    open_at_mode(dir, name, flags, 0)
}

/// openat(2) in `dir` (close-on-exec), `mode` for what O_CREAT makes.
pub fn open_at_mode(dir: &OwnedFd, name: &CStr, flags: i32, mode: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: openat with a valid directory fd and a NUL-terminated name; the result is owned.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by openat and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn fstat(fd: &OwnedFd) -> std::io::Result<libc::stat> {
    // SAFETY: zeroed is a valid stat value for the kernel to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid, exclusively borrowed stat buffer; fd is open.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st)
}

fn read_link(fd: &OwnedFd, size: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; size.clamp(1, 4096) + 1];
    // SAFETY: readlinkat of an O_PATH fd on the link itself ("" path), into buf's length.
    let n = unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).map_err(|_| std::io::Error::last_os_error())?;
    if n == 0 || n >= buf.len() {
        return Err(std::io::Error::other(
            "the symbolic link changed while it was read",
        ));
    }
    buf.truncate(n);
    Ok(buf)
}

/// Why a walk stopped.
#[derive(Debug)]
pub enum WalkError {
    Relative,
    /// A symlink on the way that root does not own: (the link's text as met, its owner).
    NotRootsLink(String, u32),
    TooManyLinks,
    Io(String, std::io::Error),
}

impl std::error::Error for WalkError {}

impl std::fmt::Display for WalkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalkError::Relative => write!(f, "empty or relative path"),
            WalkError::NotRootsLink(l, uid) => {
                write!(
                    f,
                    "symbolic link {l} is owned by uid {uid}, not root: not followed"
                )
            }
            WalkError::TooManyLinks => write!(f, "more than {MAX_LINKS} symbolic links"),
            WalkError::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

/// Opens (O_PATH) the directory that holds the last component of `path` (cleaned, absolute),
/// following only root's symlinks on the way; returns it and the last component's name.
pub fn open_parent(path: &str) -> Result<(OwnedFd, CString), WalkError> {
    let (dirs, last) = split(path).ok_or(WalkError::Relative)?;
    // SAFETY: open of a constant path; the result is owned right below.
    let fd = unsafe {
        libc::open(
            c"/".as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(WalkError::Io("/".into(), std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just returned by open and nothing else owns it.
    let mut dir = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut links = 0usize;
    for item in dirs {
        // A component, or the text of a root-owned link met at it, opened from `dir` without
        // following a final link; the kernel resolves the rest of a link's text, as OpenRC does.
        let mut name = item.as_bytes().to_vec();
        loop {
            let c = cstr(&name).map_err(|e| WalkError::Io(item.into(), e))?;
            let next = open_at(&dir, &c, libc::O_PATH | libc::O_NOFOLLOW)
                .map_err(|e| WalkError::Io(String::from_utf8_lossy(&name).into_owned(), e))?;
            let st = fstat(&next).map_err(|e| WalkError::Io(item.into(), e))?;
            if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
                dir = next;
                break;
            }
            if st.st_uid != 0 {
                return Err(WalkError::NotRootsLink(
                    String::from_utf8_lossy(&name).into_owned(),
                    st.st_uid,
                ));
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(WalkError::TooManyLinks);
            }
            let size = usize::try_from(st.st_size).unwrap_or(4096);
            name = read_link(&next, size).map_err(|e| WalkError::Io(item.into(), e))?;
        }
    }
    let last = cstr(last.as_bytes()).map_err(|e| WalkError::Io(last.into(), e))?;
    Ok((dir, last))
}

/// Opens `path` for reading with `flags` (O_NOFOLLOW is added) through the walk above.
pub fn open_read(path: &str, flags: i32) -> std::io::Result<OwnedFd> {
    let (dir, name) = open_parent(&clean(path)).map_err(std::io::Error::other)?;
    open_at(&dir, &name, flags | libc::O_NOFOLLOW)
}

/// Removes `path` (never what a link in it points to) through the walk above.
pub fn unlink(path: &str) -> std::io::Result<()> {
    let (dir, name) = open_parent(&clean(path)).map_err(std::io::Error::other)?;
    // SAFETY: unlinkat with a valid directory fd and a NUL-terminated name.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Writes a pidfile as root where its directory may belong to the service's user: the old file
/// (or whatever the user put there) is unlinked, never followed, and a new one created with
/// O_EXCL|O_NOFOLLOW; a link that reappears in between makes the write fail, not land elsewhere.
pub fn write_pidfile(path: &str, pid: i32) -> Result<(), String> {
    let path = clean(path);
    // An O_PATH descriptor serves as the directory of unlinkat and openat.
    let (dir, name) = open_parent(&path).map_err(|e| e.to_string())?;
    let text = format!("{pid}\n");
    for _ in 0..3 {
        // SAFETY: unlinkat with a valid directory fd and a NUL-terminated name.
        unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) };
        match open_at(
            &dir,
            &name,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_NOCTTY,
        ) {
            Ok(fd) => {
                // SAFETY: fchmod of the file just created.
                unsafe { libc::fchmod(fd.as_raw_fd(), 0o644) };
                let mut f = std::fs::File::from(fd);
                return std::io::Write::write_all(&mut f, text.as_bytes())
                    .map_err(|e| e.to_string());
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("something keeps re-creating it; not written".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_as_openrc_does() {
        assert_eq!(clean("//var//log///app/"), "/var/log/app");
        assert_eq!(clean("/"), "/");
        assert_eq!(clean("/a"), "/a");
        assert_eq!(split("/var/log/app"), Some((vec!["var", "log"], "app")));
        assert_eq!(split("/a"), Some((vec![], "a")));
        assert_eq!(split("/"), None);
        assert_eq!(split("relative/x"), None);
        assert_eq!(split(""), None);
    }
}
