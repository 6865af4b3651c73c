//! A script's own call of `start-stop-daemon` or `supervise-daemon` (L-37), split into what it
//! asks for: the mode, the helper's options, the command and its arguments (pure).
//!
//! When OpenRC is not installed, rcinit answers these calls itself: the helper names lead to
//! rcinit's binary, which passes the command line to the supervisor of the running script.

use super::daemon_args::{Helper, takes_next};

/// Where the image's own helpers stay reachable once rcinit covers them.
pub const REAL_HELPERS: &str = "/run/rcinit/real";

/// What the call asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Start,
    Stop,
    /// `supervise-daemon SVC --signal SIG` (S-40).
    Signal(String),
}

/// One call, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub helper: Helper,
    pub mode: Mode,
    /// The helper's options, as words, for [`super::daemon_args::parse`].
    pub options: Vec<String>,
    pub command: Option<String>,
    pub args: Vec<String>,
}

/// Splits `argv` (argv[0] included: its base name says which helper).
pub fn split(argv: &[String]) -> Result<Call, String> {
    let name = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .unwrap_or("");
    let helper = match name {
        "start-stop-daemon" => Helper::StartStopDaemon,
        "supervise-daemon" => Helper::SuperviseDaemon,
        _ => return Err(format!("{name}: not a helper rcinit provides")),
    };
    let mut mode = None;
    let mut options = Vec::new();
    let mut command = None;
    let mut service_seen = false;
    let mut args = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let w = argv[i].as_str();
        i += 1;
        match w {
            "--" => {
                args = argv[i..].to_vec();
                break;
            }
            "-S" | "--start" => mode = Some(Mode::Start),
            "-K" | "--stop" => mode = Some(Mode::Stop),
            "-s" | "--signal" if helper == Helper::SuperviseDaemon => {
                let sig = argv.get(i).ok_or("--signal needs a signal")?;
                i += 1;
                mode = Some(Mode::Signal(sig.clone()));
            }
            "-x" | "--exec" => {
                command = Some(argv.get(i).ok_or("--exec needs a program")?.clone());
                i += 1;
            }
            _ if w.starts_with("--exec=") => command = Some(w["--exec=".len()..].to_owned()),
            _ if w.starts_with('-') && w.len() > 1 => {
                let next = takes_next(helper, w).ok_or_else(|| format!("unknown option {w}"))?;
                options.push(w.to_owned());
                if next {
                    let v = argv.get(i).ok_or_else(|| format!("{w} needs a value"))?;
                    options.push(v.clone());
                    i += 1;
                }
            }
            _ => {
                // supervise-daemon SVC ... COMMAND; start-stop-daemon takes the program by -x
                // or -a, but a bare one is taken too.
                if helper == Helper::SuperviseDaemon && !service_seen {
                    service_seen = true;
                } else if command.is_none() {
                    command = Some(w.to_owned());
                } else {
                    args.push(w.to_owned());
                }
            }
        }
    }
    // start-stop-daemon --signal HUP --pidfile ... alone sends the signal (reload idioms).
    if mode.is_none() && helper == Helper::StartStopDaemon {
        let sig = options
            .iter()
            .position(|o| o == "-s" || o == "--signal")
            .and_then(|i| options.get(i + 1).cloned())
            .or_else(|| {
                options
                    .iter()
                    .find_map(|o| o.strip_prefix("--signal=").map(str::to_owned))
            });
        mode = sig.map(Mode::Signal);
    }
    let mode = mode.ok_or("no --start, --stop or --signal: nothing to do")?;
    Ok(Call {
        helper,
        mode,
        options,
        command,
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        shell_words::split(s).unwrap()
    }

    #[test]
    fn start_stop_daemon_as_scripts_call_it() {
        let c = split(&words(
            "/sbin/start-stop-daemon --start --exec /usr/bin/app -b -m --pidfile /run/app.pid -u web -- -c '/etc/app conf'",
        ))
        .unwrap();
        assert_eq!(c.helper, Helper::StartStopDaemon);
        assert_eq!(c.mode, Mode::Start);
        assert_eq!(c.command.as_deref(), Some("/usr/bin/app"));
        assert_eq!(c.options, words("-b -m --pidfile /run/app.pid -u web"));
        assert_eq!(c.args, words("-c '/etc/app conf'"));
        let c = split(&words(
            "start-stop-daemon -K -p /run/app.pid --retry QUIT/30",
        ))
        .unwrap();
        assert_eq!(c.mode, Mode::Stop);
        assert_eq!(c.options, words("-p /run/app.pid --retry QUIT/30"));
        // The reload idiom: a signal alone.
        let c = split(&words(
            "start-stop-daemon --signal HUP --pidfile /run/app.pid",
        ))
        .unwrap();
        assert_eq!(c.mode, Mode::Signal("HUP".into()));
    }

    #[test]
    fn supervise_daemon_as_openrc_run_calls_it_v15_s40() {
        let c = split(&words(
            "supervise-daemon web --start --respawn-max 3 -u web /bin/httpd -- -f -p 80",
        ))
        .unwrap();
        assert_eq!(c.mode, Mode::Start);
        assert_eq!(c.command.as_deref(), Some("/bin/httpd"));
        assert_eq!(c.options, words("--respawn-max 3 -u web"));
        assert_eq!(c.args, words("-f -p 80"));
        let c = split(&words("supervise-daemon web --signal HUP")).unwrap();
        assert_eq!(c.mode, Mode::Signal("HUP".into()));
    }

    #[test]
    fn bad_calls_say_why() {
        assert!(
            split(&words("start-stop-daemon -x /bin/x"))
                .unwrap_err()
                .contains("nothing to do")
        );
        assert!(
            split(&words("start-stop-daemon --start --frob"))
                .unwrap_err()
                .contains("--frob")
        );
        assert!(
            split(&words("start-stop-daemon --start -p"))
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(split(&words("openrc-run x")).is_err());
    }
}
