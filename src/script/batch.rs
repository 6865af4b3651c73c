//! What one evaluation shell says, attributed: its records (fd 9) and its stderr go to the
//! script and pass they belong to, each pass under the time limit.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use tokio::io::AsyncReadExt;

use super::channel::Channel;
use super::discover::Script;
use super::eval::Request;
use super::record::{Parser, Record};
use super::spec::{self, PassLog, Spec};

/// The pass the shell is in, and since when (its time limit runs from there).
struct Running {
    name: String,
    pass: String,
    pid: i32,
    since: Instant,
}

/// One shell's batch as far as it went: each (script, pass)'s log, and where it stopped.
pub(super) struct Batch<'r> {
    req: &'r Request,
    scripts: &'r [Script],
    logs: HashMap<(String, String), PassLog>,
    empty: PassLog,
    /// Without a dependency pass here, the boot's own said the script loaded.
    loaded: PassLog,
    current: Option<Running>,
    err_owner: Option<(String, String)>,
    err_buf: Vec<u8>,
    /// Scripts whose first pass began.
    begun: Vec<String>,
    /// Where a shell killed whole stopped: the scripts after the hung one.
    cut: Option<usize>,
    done: bool,
    finished: bool,
}

impl<'r> Batch<'r> {
    pub(super) fn new(req: &'r Request, scripts: &'r [Script]) -> Self {
        Self {
            req,
            scripts,
            logs: HashMap::default(),
            empty: PassLog::default(),
            loaded: PassLog {
                records: vec![Record::Sourced(0)],
                ..PassLog::default()
            },
            current: None,
            err_owner: None,
            err_buf: Vec::new(),
            begun: Vec::new(),
            cut: None,
            done: false,
            finished: false,
        }
    }

    /// Reads the shell's records and stderr until it is done or closes both, killing a pass
    /// that outlives the time limit; `shell` is the shell's pid (its session's).
    pub(super) async fn read(
        &mut self,
        recs: &mut Channel,
        errs: &mut tokio::net::unix::pipe::Receiver,
        shell: i32,
    ) {
        let mut parser = Parser::default();
        let (mut rbuf, mut ebuf) = (vec![0u8; 16384], vec![0u8; 8192]);
        let (mut recs_open, mut errs_open) = (true, true);
        while !self.done && (recs_open || errs_open) {
            let deadline = self.current.as_ref().map(|c| c.since + self.req.timeout);
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // Records first: a deadline must not win over an end record already waiting.
                biased;
                n = recs.read(&mut rbuf), if recs_open => match n {
                    Ok(0) | Err(_) => recs_open = false,
                    Ok(n) => self.take_records(parser.feed(&rbuf[..n])),
                },
                n = errs.read(&mut ebuf), if errs_open => match n {
                    Ok(0) | Err(_) => errs_open = false,
                    Ok(n) => {
                        self.err_buf.extend_from_slice(&ebuf[..n]);
                        split_stderr(&mut self.err_buf, &mut self.err_owner, &mut self.logs);
                    }
                },
                _ = sleep => self.time_out(shell),
            }
        }
        // What stderr still holds belongs to the last owner.
        if let Ok(n) = errs.try_read(&mut ebuf) {
            self.err_buf.extend_from_slice(&ebuf[..n]);
        }
        split_stderr(&mut self.err_buf, &mut self.err_owner, &mut self.logs);
        if let Some(owner) = self.err_owner.take() {
            self.logs
                .entry(owner)
                .or_default()
                .stderr
                .push_str(&String::from_utf8_lossy(&self.err_buf));
        }
    }

    /// Files records under the pass running; a script's spec is streamed as soon as its
    /// run-time pass succeeded.
    fn take_records(&mut self, records: Vec<Record>) {
        for r in records {
            match &r {
                Record::Begin { pass, name, pid } => {
                    // A script is reached when its first pass begins.
                    if pass == "dep" || !self.req.dep_pass {
                        self.begun.push(name.clone());
                    }
                    self.current = Some(Running {
                        name: name.clone(),
                        pass: pass.clone(),
                        pid: *pid,
                        since: Instant::now(),
                    });
                }
                Record::End { pass, status } => {
                    if let Some(c) = self.current.take() {
                        let log = self.logs.entry((c.name.clone(), c.pass)).or_default();
                        log.record(r.clone());
                        if let (Some(tx), "run", 0) = (&self.req.stream, pass.as_str(), *status)
                            && let Some(s) = self.scripts.iter().find(|s| s.name == c.name)
                        {
                            let dep = self.dep_log(&c.name);
                            let run = self.logs.get(&(c.name.clone(), "run".into()));
                            let _ = tx.send(spec::build(&s.name, &s.path(), dep, run));
                        }
                    }
                    continue;
                }
                Record::Done => {
                    self.done = true;
                    self.finished = true;
                }
                _ => {}
            }
            if let Some(c) = &self.current {
                self.logs
                    .entry((c.name.clone(), c.pass.clone()))
                    .or_default()
                    .record(r);
            }
        }
    }

    /// The pass running outlived the time limit: it is killed, and marked timed out.
    fn time_out(&mut self, shell: i32) {
        if let Some(c) = self.current.take() {
            if c.pid > 1 {
                kill_tree(c.pid);
            } else {
                // No /proc to find the subshell: stop the whole shell; the scripts after
                // this one go on in a new one.
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(shell),
                    nix::sys::signal::Signal::SIGKILL,
                );
                self.done = true;
                // Everything after the hung script goes to a new shell, whatever this
                // one may have begun.
                self.cut = self
                    .scripts
                    .iter()
                    .position(|s| s.name == c.name)
                    .map(|i| i + 1);
            }
            self.logs.entry((c.name, c.pass)).or_default().timed_out =
                Some(self.req.timeout.as_millis() as u64);
        }
    }

    /// The log of `name`'s dependency pass (the boot's verdict when this batch ran none).
    fn dep_log(&self, name: &str) -> &PassLog {
        if self.req.dep_pass {
            self.logs
                .get(&(name.to_owned(), "dep".into()))
                .unwrap_or(&self.empty)
        } else {
            &self.loaded
        }
    }

    /// How many scripts were reached. Scripts run in order: those up to the last one whose
    /// dependency pass began were reached (by its begin record, not by stderr markers).
    pub(super) fn reached(&self) -> usize {
        match (self.finished, self.cut) {
            (true, _) => self.scripts.len(),
            (false, Some(n)) => n,
            (false, None) => self
                .scripts
                .iter()
                .rposition(|s| self.begun.contains(&s.name))
                .map_or(0, |i| i + 1),
        }
    }

    /// The specs of the first `reached` scripts, from their passes' logs.
    pub(super) fn specs(&self, reached: usize) -> Vec<Spec> {
        self.scripts[..reached]
            .iter()
            .map(|s| {
                let dep = self.dep_log(&s.name);
                let run_key = (s.name.clone(), "run".to_string());
                // A merged script ran its run-time pass too.
                let run = (self.req.run_pass || self.logs.contains_key(&run_key))
                    .then(|| self.logs.get(&run_key).unwrap_or(&self.empty));
                spec::build(&s.name, &s.path(), dep, run)
            })
            .collect()
    }

    /// A merged script whose subshell ended before its dependency part began (its load failed
    /// in a way the shim could not see: a syntax error ends the subshell) gets its two passes
    /// again, separately, so what it says is what two passes say. A killed one does not: it
    /// would hang again.
    pub(super) fn scripts_to_redo(&self, reached: usize, merged: &HashSet<&str>) -> Vec<Script> {
        self.scripts[..reached]
            .iter()
            .filter(|s| merged.contains(s.name.as_str()))
            .filter(|s| !self.logs.contains_key(&(s.name.clone(), "dep".into())))
            .filter(|s| {
                self.logs
                    .get(&(s.name.clone(), "run".into()))
                    .is_none_or(|l| l.timed_out.is_none())
            })
            .cloned()
            .collect()
    }
}

/// Splits the batch's stderr at the shim's `\x1epass name\x1e` markers.
fn split_stderr(
    buf: &mut Vec<u8>,
    owner: &mut Option<(String, String)>,
    logs: &mut HashMap<(String, String), PassLog>,
) {
    loop {
        let Some(start) = buf.iter().position(|&b| b == 0x1e) else {
            // No marker in sight: all of it is the current owner's.
            if let Some(o) = owner.as_ref() {
                let text = String::from_utf8_lossy(buf).into_owned();
                logs.entry(o.clone()).or_default().stderr.push_str(&text);
                buf.clear();
            }
            return;
        };
        let Some(len) = buf[start + 1..].iter().position(|&b| b == 0x1e) else {
            // A marker is short: a lone \x1e with this much after it is a script's own byte.
            if buf.len() - start > 4096 {
                buf[start] = b'?';
                continue;
            }
            // A marker cut in half: keep it for the next read.
            if let Some(o) = owner.as_ref() {
                let text = String::from_utf8_lossy(&buf[..start]).into_owned();
                logs.entry(o.clone()).or_default().stderr.push_str(&text);
            }
            buf.drain(..start);
            return;
        };
        if let Some(o) = owner.as_ref() {
            let text = String::from_utf8_lossy(&buf[..start]).into_owned();
            logs.entry(o.clone()).or_default().stderr.push_str(&text);
        }
        let marker = String::from_utf8_lossy(&buf[start + 1..start + 1 + len]).into_owned();
        *owner = marker
            .split_once(' ')
            .map(|(p, n)| (n.to_owned(), p.to_owned()));
        buf.drain(..start + len + 2);
    }
}

/// SIGKILL to a process and everything below it (a hung depend() and what it started).
fn kill_tree(pid: i32) {
    if pid <= 1 {
        return;
    }
    let mut all = crate::procfs::descendants(pid);
    all.push(pid);
    for p in all {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_is_attributed_by_markers_across_reads() {
        let mut logs = Default::default();
        let mut owner = None;
        let mut buf = b"\x1edep a\x1eoops a\n\x1edep ".to_vec();
        split_stderr(&mut buf, &mut owner, &mut logs);
        buf.extend_from_slice(b"b\x1esyntax error b\n");
        split_stderr(&mut buf, &mut owner, &mut logs);
        assert_eq!(
            &*logs[&("a".to_string(), "dep".to_string())].stderr,
            "oops a\n"
        );
        assert_eq!(
            &*logs[&("b".to_string(), "dep".to_string())].stderr,
            "syntax error b\n"
        );
    }
}
