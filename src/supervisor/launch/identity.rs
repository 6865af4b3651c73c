//! Who the daemon runs as and where: its user and groups, capabilities, chroot, directory,
//! umask and no_new_privs, and the environment, whose HOME and USER follow the user (V-19).

use std::collections::BTreeMap;

use super::{Reported, nonempty, pick};
use crate::script::env;
use crate::supervisor::caps::{self, Iab};
use crate::supervisor::daemon_args::DaemonArgs;
use crate::supervisor::user::{self, Identity};

/// The identity settings checked before the environment, which needs the user.
pub(super) struct Who {
    pub(super) user: Option<Identity>,
    pub(super) chroot: Option<String>,
    pub(super) directory: Option<String>,
    pub(super) umask: u32,
    pub(super) no_new_privs: bool,
}

/// `command_user` (a `--group` replaces its group), then the rest; an unknown user is an error.
pub(super) fn who(r: &Reported<'_>, da: &DaemonArgs) -> Result<Who, String> {
    let vars = r.vars;
    let user_spec = match (&da.user, &da.group) {
        (Some(u), Some(g)) if !u.contains(':') => Some(format!("{u}:{g}")),
        (Some(u), _) => Some(u.clone()),
        (None, g) => nonempty(vars, "command_user").map(|u| match g {
            Some(g) => format!("{}:{g}", u.split(':').next().unwrap_or(u)),
            None => u.clone(),
        }),
    };
    let user = match user_spec {
        Some(spec) => Some(user::resolve(&spec, r.passwd, r.group)?),
        None => None,
    };
    Ok(Who {
        user,
        chroot: pick(&da.chroot, vars, "chroot"),
        directory: pick(&da.chdir, vars, "directory"),
        umask: umask(vars, da)?,
        no_new_privs: da.no_new_privs || nonempty(vars, "no_new_privs").is_some(),
    })
}

/// `umask` is octal, as the shell's; 022 when the script sets none.
fn umask(vars: &BTreeMap<String, String>, da: &DaemonArgs) -> Result<u32, String> {
    Ok(match da.umask {
        Some(m) => m,
        None => match nonempty(vars, "umask") {
            Some(m) => u32::from_str_radix(m.trim(), 8)
                .ok()
                .filter(|m| *m <= 0o777)
                .ok_or_else(|| format!("umask={m:?} is not an octal mask"))?,
            None => 0o022,
        },
    })
}

/// V-19: the daemon's environment is what the script exported, less OpenRC's own.
pub(super) fn environment(
    exported: &[(String, String)],
    da: &DaemonArgs,
    user: Option<&Identity>,
) -> Vec<(String, String)> {
    let mut envv: Vec<(String, String)> = exported
        .iter()
        .filter(|(k, _)| {
            !(k.starts_with("RC_")
                || k.starts_with("SSD_")
                || k.starts_with("EINFO_")
                || k == "SVCNAME"
                || k.starts_with("RCINIT_"))
        })
        .cloned()
        .collect();
    match user {
        Some(id) => {
            env::set(&mut envv, "HOME", &id.home);
            env::set(&mut envv, "USER", &id.name);
        }
        None => {
            if !envv.iter().any(|(k, _)| k == "HOME") {
                env::set(&mut envv, "HOME", "/root");
            }
            if !envv.iter().any(|(k, _)| k == "USER") {
                env::set(&mut envv, "USER", "root");
            }
        }
    }
    for (k, v) in &da.env {
        env::set(&mut envv, k, v);
    }
    envv
}

/// `capabilities`, parsed; secbits are read but not applied, so they only warn.
pub(super) fn capabilities(
    vars: &BTreeMap<String, String>,
    da: &DaemonArgs,
    warnings: &mut Vec<String>,
) -> Result<Option<Iab>, String> {
    let capabilities = match pick(&da.capabilities, vars, "capabilities") {
        Some(t) => Some(caps::parse(&t)?),
        None => None,
    };
    if nonempty(vars, "secbits").is_some() || da.secbits.is_some() {
        warnings.push("secbits are not applied by rcinit yet".into());
    }
    Ok(capabilities)
}
