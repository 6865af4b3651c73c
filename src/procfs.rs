//! The little of /proc rcinit reads: the process tree, for the sweep when it is not PID 1.

use std::collections::{HashMap, HashSet};

/// Parent pid of every process visible in `/proc`.
pub fn parents() -> HashMap<i32, i32> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // A process can vanish between readdir and read: skip it.
        if let Some(ppid) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| parse_ppid(&s))
        {
            out.insert(pid, ppid);
        }
    }
    out
}

/// Every pid visible in `/proc` now (names only: nothing is read).
pub fn pids() -> HashSet<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashSet::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect()
}

/// What rcinit reads of `/proc/PID/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub comm: String,
    /// Field 3: R, S, D, Z (a zombie: it ended), T...
    pub state: char,
    pub ppid: i32,
    pub session: i32,
    /// Start time, clock ticks since boot (field 22).
    pub start: u64,
}

/// `/proc/PID/stat` of `pid` (a kernel file: small, never blocking).
pub fn stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// [`Stat`] from the text (pure). The name may hold spaces and parentheses: fields are counted
/// from the last `)`.
pub fn parse_stat(stat: &str) -> Option<Stat> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().take(20).collect();
    // Field 3 is the first after the name: ppid is field 4, session 6, start time 22.
    Some(Stat {
        comm,
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        session: rest.get(3)?.parse().ok()?,
        start: rest.get(19)?.parse().ok()?,
    })
}

/// The session of `pid`.
pub fn session(pid: i32) -> Option<i32> {
    stat(pid).map(|s| s.session)
}

/// The ppid field of `/proc/PID/stat`. The command name (field 2) may hold spaces and parentheses,
/// so fields are counted from the last `)`.
pub fn parse_ppid(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Every descendant of `root` (not `root` itself).
pub fn descendants(root: i32) -> Vec<i32> {
    descendants_in(&parents(), root)
}

/// [`descendants`] over a given parent map (pure).
pub fn descendants_in(parents: &HashMap<i32, i32>, root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (&pid, &ppid) in parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut seen = HashSet::new();
    let mut stack = vec![root];
    let mut out = Vec::new();
    while let Some(p) = stack.pop() {
        for &c in children.get(&p).into_iter().flatten() {
            if c != root && seen.insert(c) {
                out.push(c);
                stack.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppid_survives_odd_command_names() {
        assert_eq!(parse_ppid("42 (a b) c) S 7 42 42 0"), Some(7));
        assert_eq!(parse_ppid("1 (rcinit) S 0 1 1 0"), Some(0));
        assert_eq!(parse_ppid("garbage"), None);
    }

    #[test]
    fn descendants_follow_the_whole_tree() {
        let map: HashMap<i32, i32> = [(10, 1), (11, 10), (12, 11), (20, 1), (30, 99)]
            .into_iter()
            .collect();
        let mut d = descendants_in(&map, 10);
        d.sort();
        assert_eq!(d, vec![11, 12]);
        let mut d = descendants_in(&map, 1);
        d.sort();
        assert_eq!(d, vec![10, 11, 12, 20]);
        assert!(descendants_in(&map, 12).is_empty());
    }
}
