//! `command_user` (`user[:group]`, names or numbers) resolved before fork from the image's
//! /etc/passwd and /etc/group: uid, gid, supplementary groups, HOME (V table, V-19) (pure parsing).

/// The most of /etc/passwd or /etc/group read: far above any real one, bounded for PID 1.
pub const MAX_DB: u64 = 4 << 20;

/// The image's /etc/passwd and /etc/group as text (empty when absent or unusable). Opened
/// without blocking (a FIFO put there answers nothing), regular files only, at most [`MAX_DB`]
/// bytes each: PID 1 reads them at every start. Root owns /etc, so a link there is root's and
/// is followed.
pub fn databases() -> (String, String) {
    (read_db("/etc/passwd"), read_db("/etc/group"))
}

fn read_db(path: &str) -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    else {
        return String::new();
    };
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return String::new();
    }
    let mut text = String::new();
    let _ = f.take(MAX_DB).read_to_string(&mut text);
    text
}

/// Who a daemon runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: every group listing the user by name, plus the primary group.
    pub groups: Vec<u32>,
    pub name: String,
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7).then_some(())?;
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4).then_some(())?;
        let members = f[3].split(',').filter(|m| !m.is_empty()).collect();
        Some((f[0], f[2].parse().ok()?, members))
    })
}

/// Resolves `spec` (`user`, `user:group`, numbers allowed) against the files' text.
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<Identity, String> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() {
        return Err(format!("command_user={spec:?}: no user"));
    }
    let entry = passwd_entries(passwd).find(|e| e.name == user || user.parse() == Ok(e.uid));
    // The helpers look numbers up too (getpwuid/getgrgid) and refuse unknown ones.
    let Some(e) = entry else {
        return Err(format!(
            "command_user={spec:?}: no user {user} in /etc/passwd"
        ));
    };
    let (uid, mut gid, name, home) = (e.uid, e.gid, e.name.to_owned(), e.home.to_owned());
    if let Some(g) = grp.filter(|g| !g.is_empty()) {
        gid = match group_entries(group).find(|(n, id, _)| *n == g || g.parse() == Ok(*id)) {
            Some((_, id, _)) => id,
            None => return Err(format!("command_user={spec:?}: no group {g} in /etc/group")),
        };
    }
    let mut groups: Vec<u32> = group_entries(group)
        .filter(|(_, _, members)| members.contains(&name.as_str()))
        .map(|(_, id, _)| id)
        .collect();
    if !groups.contains(&gid) {
        groups.insert(0, gid);
    }
    Ok(Identity {
        uid,
        gid,
        groups,
        name,
        home,
    })
}

/// The uid `spec` (`user`, `user:group`) names, against this system's databases.
pub fn uid_of(spec: &str) -> Result<u32, String> {
    let (passwd, group) = databases();
    resolve(spec, &passwd, &group).map(|i| i.uid)
}

/// A group's id by name or number; a number must name a group that exists (getgrgid).
pub fn group_id(g: &str, group: &str) -> Option<u32> {
    group_entries(group)
        .find(|(n, id, _)| *n == g || g.parse() == Ok(*id))
        .map(|(_, id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_databases_are_read_without_blocking_and_bounded() {
        let dir = std::env::temp_dir().join(format!("rcinit-userdb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A FIFO with no writer would block a plain open for ever.
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path of our own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(read_db(fifo.to_str().unwrap()), "");
        let big = dir.join("big");
        std::fs::write(&big, vec![b'x'; MAX_DB as usize + 10]).unwrap();
        assert_eq!(read_db(big.to_str().unwrap()).len() as u64, MAX_DB);
        assert_eq!(read_db(dir.join("none").to_str().unwrap()), "");
        let _ = std::fs::remove_dir_all(&dir);
    }

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/home/web:/bin/sh\nbroken line\n";
    const GROUP: &str = "root:x:0:\nweb:x:1000:\nwww-data:x:33:web,other\nlog:x:4:web\n";

    #[test]
    fn names_numbers_groups_and_home() {
        let id = resolve("web", PASSWD, GROUP).unwrap();
        assert_eq!(
            (id.uid, id.gid, id.home.as_str()),
            (1000, 1000, "/home/web")
        );
        assert_eq!(id.groups, vec![1000, 33, 4]);
        let id = resolve("web:www-data", PASSWD, GROUP).unwrap();
        assert_eq!(id.gid, 33);
        assert_eq!(id.groups, vec![33, 4]);
        let id = resolve("1000:4", PASSWD, GROUP).unwrap();
        assert_eq!((id.uid, id.gid, id.name.as_str()), (1000, 4, "web"));
        assert!(
            resolve("4242", PASSWD, GROUP)
                .unwrap_err()
                .contains("no user 4242")
        );
        assert!(
            resolve("web:4243", PASSWD, GROUP)
                .unwrap_err()
                .contains("no group 4243")
        );
    }

    #[test]
    fn unknown_names_say_which() {
        assert!(
            resolve("nobody-here", PASSWD, GROUP)
                .unwrap_err()
                .contains("no user nobody-here")
        );
        assert!(
            resolve("web:nogroup", PASSWD, GROUP)
                .unwrap_err()
                .contains("no group nogroup")
        );
        assert!(resolve(":web", PASSWD, GROUP).is_err());
    }
}
