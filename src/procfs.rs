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

/// The session of `pid` (field 6 of `/proc/PID/stat`).
pub fn session(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_session(&stat)
}

/// The session field of `/proc/PID/stat` (pure).
pub fn parse_session(stat: &str) -> Option<i32> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    rest.split_whitespace().nth(3)?.parse().ok()
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
