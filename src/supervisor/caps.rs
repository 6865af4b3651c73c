//! `capabilities`: libcap's IAB text (cap_iab(3)), as OpenRC passes it to the helpers (pure).
//!
//! A comma- or space-separated list of capability names, each prefixed by any of `!` (drop from
//! the bounding set), `^` (ambient, which implies inheritable) and `%` (inheritable). With no
//! prefix a name means inheritable, as libcap reads it.

/// Capability names in kernel order (capability.h), index = number.
const NAMES: &[&str] = &[
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// The sets to apply, as bit masks over capability numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Iab {
    pub inheritable: u64,
    pub ambient: u64,
    /// Dropped from the bounding set.
    pub drop: u64,
}

fn number(name: &str) -> Option<u32> {
    let n = name.trim().to_ascii_lowercase();
    let n = n.strip_prefix("cap_").unwrap_or(&n);
    if let Ok(v) = n.parse::<u32>() {
        return (v < 64).then_some(v);
    }
    NAMES.iter().position(|x| *x == n).map(|i| i as u32)
}

/// Parses IAB text.
pub fn parse(text: &str) -> Result<Iab, String> {
    let mut iab = Iab::default();
    for item in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let name = item.trim_start_matches(['!', '^', '%']);
        let prefix = &item[..item.len() - name.len()];
        let bit = 1u64
            << number(name).ok_or_else(|| format!("capabilities: {name:?} is not a capability"))?;
        if prefix.contains('!') {
            iab.drop |= bit;
        }
        if prefix.contains('^') {
            iab.ambient |= bit;
            iab.inheritable |= bit;
        }
        if prefix.contains('%') || prefix.is_empty() {
            iab.inheritable |= bit;
        }
    }
    Ok(iab)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iab_text_as_libcap_reads_it() {
        let i = parse("^cap_net_bind_service,!cap_sys_admin %CAP_KILL").unwrap();
        assert_eq!(i.ambient, 1 << 10);
        assert_eq!(i.inheritable, (1 << 10) | (1 << 5));
        assert_eq!(i.drop, 1 << 21);
        assert_eq!(parse("cap_chown").unwrap().inheritable, 1);
        assert!(parse("^cap_fly").unwrap_err().contains("cap_fly"));
        assert_eq!(parse("").unwrap(), Iab::default());
    }
}
