//! Spawning the planned daemon: its process (identity, limits, files), its logger, and its
//! readiness (a descriptor, a socket).

use super::*;

/// How a daemon will say it is ready.
pub(super) enum Ready {
    Fd(OwnedFd),
    Socket(std::os::unix::net::UnixDatagram, String),
}

/// The daemon was not ready in time, or said it never would be.
#[derive(Debug)]
pub(super) struct NotReady(pub(super) String);

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotReady {}

pub(super) fn cstr(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

pub(super) fn in_chroot(l: &Launch, p: &str) -> String {
    match &l.chroot {
        Some(c) => format!("{}/{}", c.trim_end_matches('/'), p.trim_start_matches('/')),
        None => p.to_owned(),
    }
}

/// The V table's check: the command must exist (absolute, under the chroot, or on PATH).
pub(super) fn command_exists(l: &Launch) -> Result<(), String> {
    let cmd = &l.argv[0];
    let found = if cmd.contains('/') {
        std::path::Path::new(&in_chroot(l, cmd)).exists()
    } else {
        let path = l
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str())
            .unwrap_or("/usr/sbin:/usr/bin:/sbin:/bin");
        path.split(':')
            .any(|d| std::path::Path::new(&in_chroot(l, &format!("{d}/{cmd}"))).exists())
    };
    if found {
        Ok(())
    } else {
        Err(format!("{cmd} does not exist"))
    }
}

impl Svc {
    /// Spawns the planned daemon with its outputs and readiness.
    pub(super) async fn spawn_daemon(&mut self) -> Result<()> {
        let Some(l) = self.launch.clone() else {
            anyhow::bail!("nothing to start");
        };
        let (d, ready) = self.spawn_process(&l)?;
        self.orphan_rule = None;
        let pid = d.pid;
        self.take_daemon(d);
        tracing::debug!(
            "{}: spawned {} as pid {pid}",
            self.def.name,
            l.argv.join(" ")
        );
        if l.kind == Kind::Background
            && let Some(p) = &l.pidfile
        {
            // Its directory is often the service user's: never written through a link.
            let path = in_chroot(&l, p);
            if let Err(e) = crate::safepath::write_pidfile(&path, pid) {
                tracing::warn!("{}: writing pidfile {path}: {e}", self.def.name);
            }
        }
        let r = match ready {
            Some(Ready::Fd(r)) => self.wait_ready_fd(r).await,
            Some(Ready::Socket(sock, path)) => self.wait_ready_socket(sock, &path).await,
            None => Ok(()),
        };
        if r.is_err()
            && let Some(d) = &self.daemon
        {
            // Not ready: it goes, and its exit is counted like any other.
            signal_daemon(d, libc::SIGKILL);
        }
        r
    }

    pub(super) fn spawn_process(&self, l: &Launch) -> Result<(Daemon, Option<Ready>)> {
        let name = &self.def.name;
        let mut setup = setup_of(l);
        let env: Vec<(OsString, OsString)> =
            l.env.iter().map(|(k, v)| (k.into(), v.into())).collect();
        let mut keep: Vec<OwnedFd> = Vec::new();
        // The daemon a logger serves, once spawned.
        let served = Rc::new(std::cell::Cell::new(0));
        let mut stream = |sink: &Sink, which: Stream, target: i32| -> Result<Option<OwnedFd>> {
            Ok(match sink {
                Sink::Forward => Some(forward::start(name, which)?),
                Sink::File(p) => {
                    setup.files.push((
                        cstr(p),
                        libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND,
                        0o600,
                        target,
                    ));
                    None
                }
                Sink::Logger(cmd) => {
                    let (r, w) = forward::pipe()?;
                    self.spawn_logger(l, cmd, r, &env, Rc::clone(&served))?;
                    Some(w)
                }
            })
        };
        let out = stream(&l.stdout, Stream::Stdout, 1)?;
        let err = stream(&l.stderr, Stream::Stderr, 2)?;
        if let Some(p) = &l.stdin {
            setup.files.push((cstr(p), libc::O_RDONLY, 0, 0));
        }
        let mut fds = Vec::new();
        let mut env = env;
        let ready_r = readiness(l, name, &mut env, &mut fds, &mut keep)?;
        let chroot = l.chroot.as_deref().map(std::path::Path::new);
        let mut opts = Options::new(Grouping::Session, &env);
        // start-stop-daemon's shape for a command that forks: its parent is not PID 1.
        opts.intermediate = l.kind == Kind::Forking;
        opts.chroot = chroot;
        opts.fds = fds;
        opts.setup = Some(setup);
        opts.stdin = Some(spawn::Io::Null);
        opts.stdout = Some(match out {
            Some(fd) => fd.into(),
            None => spawn::Io::Null,
        });
        opts.stderr = Some(match err {
            Some(fd) => fd.into(),
            None => spawn::Io::Null,
        });
        let argv: Vec<OsString> = l.argv.iter().map(OsString::from).collect();
        let child = spawn::spawn_with(&argv, opts)?;
        served.set(child.pid);
        let exit = self.ctx.reaper.borrow_mut().watch(child.pid);
        drop(keep);
        let d = Daemon::new(child.pid, Some(child.group), exit);
        Ok((d, ready_r))
    }

    pub(super) fn spawn_logger(
        &self,
        l: &Launch,
        cmd: &str,
        input: OwnedFd,
        env: &[(OsString, OsString)],
        served: Rc<std::cell::Cell<i32>>,
    ) -> Result<i32> {
        let argv: Vec<OsString> = vec!["/bin/sh".into(), "-c".into(), cmd.into()];
        // OpenRC sends a logger's own output to /dev/null; rcinit forwards it like the daemon's,
        // so `tee -a FILE` keeps a file and the container's log (an extension, T-08).
        let out = forward::start(&self.def.name, Stream::Stdout)?;
        let err = forward::start(&self.def.name, Stream::Stderr)?;
        let setup = Setup {
            ids: l.user.as_ref().map(|u| (u.uid, u.gid, u.groups.clone())),
            umask: Some(l.umask),
            ..Setup::default()
        };
        let mut opts = Options::new(Grouping::Session, env);
        opts.chroot = l.chroot.as_deref().map(std::path::Path::new);
        opts.setup = Some(setup);
        opts.stdin = Some(input.into());
        opts.stdout = Some(out.into());
        opts.stderr = Some(err.into());
        let child = spawn::spawn_with(&argv, opts)
            .with_context(|| format!("starting its logger {cmd:?}"))?;
        let exit = self.ctx.reaper.borrow_mut().watch(child.pid);
        let name = self.def.name.clone();
        let cmd = cmd.to_owned();
        let mut status = self.status.subscribe();
        tokio::task::spawn_local(async move {
            // A logger ends when the daemon's end of its pipe closes (the daemon ended, a
            // respawn is coming): nothing was lost. Only one that ends under a daemon still
            // running leaves its output nowhere to go. The daemon closes its files before it
            // is a zombie: its end is awaited a moment (the task sees it as its pid changes).
            let Ok(e) = exit.await else {
                return;
            };
            // The daemon followed now (a forking one's, from its pidfile), else the one spawned.
            let pid = status.borrow().pid.unwrap_or(served.get());
            let ended = tokio::time::timeout(
                Duration::from_secs(1),
                status.wait_for(|s| s.pid != Some(pid)),
            )
            .await
            .is_ok_and(|r| r.is_ok());
            // Ended because the logger was gone (SIGPIPE on its next line): that was lost.
            let lost = match ended {
                true => matches!(
                    status.borrow().why,
                    Some(Why::Exited(Exit::Signal(libc::SIGPIPE)))
                ),
                false => {
                    pid > 1
                        && crate::procfs::stat(pid)
                            .is_some_and(|s| s.state != 'Z' && s.state != 'X')
                }
            };
            if lost {
                tracing::warn!(
                    "{name}: its logger {cmd:?} ended ({e}) before the daemon (pid {pid}); its output to it is lost"
                );
            }
        });
        Ok(child.pid)
    }

    pub(super) async fn wait_ready_fd(&mut self, r: OwnedFd) -> Result<()> {
        let rx = tokio::net::unix::pipe::Receiver::from_owned_fd(r)?;
        let mut lines = tokio::io::BufReader::new(rx);
        let mut line = String::new();
        let limit = self.ctx.ready_timeout;
        match tokio::time::timeout(limit, lines.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 && line.ends_with('\n') => Ok(()),
            Ok(_) => Err(NotReady("its readiness fd closed before it said ready".into()).into()),
            Err(_) => Err(NotReady(format!(
                "not ready after {} ms (RCINIT_READY_TIMEOUT)",
                limit.as_millis()
            ))
            .into()),
        }
    }

    pub(super) async fn wait_ready_socket(
        &mut self,
        sock: std::os::unix::net::UnixDatagram,
        path: &str,
    ) -> Result<()> {
        let sock = tokio::net::UnixDatagram::from_std(sock)?;
        let limit = later(self.ctx.ready_timeout);
        let mut buf = vec![0u8; 4096];
        let r = loop {
            match tokio::time::timeout_at(limit.into(), sock.recv(&mut buf)).await {
                Ok(Ok(n)) => {
                    let msg = String::from_utf8_lossy(&buf[..n]);
                    if msg.lines().any(|l| l.trim() == "READY=1") {
                        break Ok(());
                    }
                }
                Ok(Err(e)) => break Err(anyhow::Error::from(e)),
                Err(_) => {
                    break Err(NotReady(format!(
                        "not ready after {} ms (RCINIT_READY_TIMEOUT)",
                        self.ctx.ready_timeout.as_millis()
                    ))
                    .into());
                }
            }
        };
        let _ = std::fs::remove_file(path);
        r
    }
}

/// What the daemon's child sets up between clone and exec, from its plan (V-19).
fn setup_of(l: &Launch) -> Setup {
    Setup {
        nice: l.nice,
        ionice: l.ionice,
        oom_score_adj: l.oom_score_adj.map(|v| cstr(&v.to_string())),
        rlimits: l.rlimits.clone(),
        directory: l.directory.as_deref().map(cstr),
        umask: Some(l.umask),
        ids: l.user.as_ref().map(|u| (u.uid, u.gid, u.groups.clone())),
        no_new_privs: l.no_new_privs,
        caps: l.capabilities.map(|c| (c.inheritable, c.ambient, c.drop)),
        files: Vec::new(),
    }
}

/// How the daemon will say it is ready (`notify`): the pipe's write end placed in it (kept
/// open here until it is spawned), or the socket bound before the spawn (a daemon may say
/// READY=1 at once) and named in its environment.
fn readiness(
    l: &Launch,
    name: &str,
    env: &mut Vec<(OsString, OsString)>,
    fds: &mut Vec<(i32, i32)>,
    keep: &mut Vec<OwnedFd>,
) -> Result<Option<Ready>> {
    Ok(match l.notify {
        Some(Notify::Fd(n)) => {
            let (r, w) = forward::pipe()?;
            fds.push((w.as_raw_fd(), n));
            keep.push(w);
            Some(Ready::Fd(r))
        }
        Some(Notify::Socket) => {
            let path = format!("/run/openrc/supervise-{name}.sock");
            let _ = std::fs::create_dir_all("/run/openrc");
            let _ = std::fs::remove_file(&path);
            let sock = std::os::unix::net::UnixDatagram::bind(&path)
                .with_context(|| format!("creating the notify socket {path}"))?;
            sock.set_nonblocking(true)?;
            env.push(("NOTIFY_SOCKET".into(), path.clone().into()));
            Some(Ready::Socket(sock, path))
        }
        None => None,
    })
}
