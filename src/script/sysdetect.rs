//! The system type OpenRC calls `rc_sys` (D-40): what kind of container this is.

use std::collections::BTreeMap;
use std::path::Path;

/// Whether rc.conf's rc_sys names a type OpenRC knows (D-40): the container types of
/// `-containers`, and Xen's two.
fn known(sys: &str) -> bool {
    super::spec::CONTAINERS.contains(&sys) || sys == "xen0" || sys == "xenu"
}

/// Where the answer came from, for `inspect` and `lint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct System {
    /// Lower-case type, or None for "no system type".
    pub sys: Option<String>,
    pub why: String,
}

/// Facts about the environment the detection reads.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub dockerenv: bool,
    pub containerenv: bool,
    /// `container=` in PID 1's environment (our own when we are PID 1).
    pub container_env: Option<String>,
    pub cpuinfo_uml: bool,
}

impl Facts {
    /// Reads the facts of the image at `root` and of this process's PID 1.
    pub fn read(root: &Path) -> Self {
        let environ = std::fs::read("/proc/1/environ").unwrap_or_default();
        let container_env = environ
            .split(|&b| b == 0)
            .filter_map(|kv| std::str::from_utf8(kv).ok())
            .find_map(|kv| kv.strip_prefix("container=").map(str::to_owned))
            .or_else(|| std::env::var("container").ok());
        Facts {
            dockerenv: root.join(".dockerenv").exists(),
            containerenv: root.join("run/.containerenv").exists(),
            container_env,
            cpuinfo_uml: std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| c.contains("UML")),
        }
    }
}

/// Decides the system type (pure). `forced` is `--sys`; `rc_conf` the parsed rc.conf.
pub fn detect(forced: Option<&str>, rc_conf: &BTreeMap<String, String>, facts: &Facts) -> System {
    if let Some(f) = forced {
        let f = f.to_ascii_lowercase();
        return System {
            sys: (!f.is_empty() && f != "none").then_some(f),
            why: "--sys".into(),
        };
    }
    match rc_conf.get("rc_sys").map(|v| v.to_ascii_lowercase()) {
        Some(v) if v.is_empty() => {
            return System {
                sys: None,
                why: "rc_sys=\"\" in rc.conf disables detection".into(),
            };
        }
        Some(v) if known(&v) => {
            return System {
                sys: Some(v),
                why: "rc_sys in rc.conf".into(),
            };
        }
        _ => {}
    }
    let found = |s: &str, why: &str| System {
        sys: Some(s.to_owned()),
        why: why.to_owned(),
    };
    if facts.cpuinfo_uml {
        return found("uml", "/proc/cpuinfo mentions UML");
    }
    match facts.container_env.as_deref() {
        Some("lxc") => return found("lxc", "container=lxc in PID 1's environment"),
        Some("rkt") => return found("rkt", "container=rkt in PID 1's environment"),
        Some("systemd-nspawn") => {
            return found(
                "systemd-nspawn",
                "container=systemd-nspawn in PID 1's environment",
            );
        }
        _ => {}
    }
    if facts.containerenv {
        return found("podman", "/run/.containerenv exists");
    }
    if facts.dockerenv {
        return found("docker", "/.dockerenv exists");
    }
    if facts.container_env.as_deref() == Some("docker") {
        return found("docker", "container=docker in PID 1's environment");
    }
    if facts.container_env.as_deref() == Some("podman") {
        return found("podman", "container=podman in PID 1's environment");
    }
    System {
        sys: None,
        why: "no container detected".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_order_and_overrides() {
        let none = BTreeMap::new();
        let docker = Facts {
            dockerenv: true,
            ..Facts::default()
        };
        assert_eq!(detect(None, &none, &docker).sys.as_deref(), Some("docker"));
        assert_eq!(
            detect(Some("lxc"), &none, &docker).sys.as_deref(),
            Some("lxc")
        );
        assert_eq!(detect(Some("none"), &none, &docker).sys, None);
        let conf: BTreeMap<_, _> = [("rc_sys".to_string(), "LXC".to_string())].into();
        assert_eq!(detect(None, &conf, &docker).sys.as_deref(), Some("lxc"));
        let off: BTreeMap<_, _> = [("rc_sys".to_string(), String::new())].into();
        assert_eq!(detect(None, &off, &docker).sys, None);
        let bogus: BTreeMap<_, _> = [("rc_sys".to_string(), "martian".to_string())].into();
        assert_eq!(
            detect(None, &bogus, &docker).sys.as_deref(),
            Some("docker"),
            "unknown value: autodetect"
        );
        let podman = Facts {
            dockerenv: true,
            containerenv: true,
            ..Facts::default()
        };
        assert_eq!(detect(None, &none, &podman).sys.as_deref(), Some("podman"));
        let lxc = Facts {
            container_env: Some("lxc".into()),
            dockerenv: true,
            ..Facts::default()
        };
        assert_eq!(detect(None, &none, &lxc).sys.as_deref(), Some("lxc"));
        assert_eq!(detect(None, &none, &Facts::default()).sys, None);
    }
}
