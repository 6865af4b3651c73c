//! The benchmarks' yardstick: runs a command and reports, from outside, when the N-th distinct
//! process exec'ing a given command line was seen by the kernel, then how the command ended.
//!
//!   execwatch --count N (--exact CMDLINE | --match PART) [--timeout SECS] -- COMMAND...
//!
//! prints `started <ms>` (from just before COMMAND was spawned to the kernel's timestamp of the
//! N-th exec), then `exit <status>` when COMMAND ends (its exit code, or 128 + signal).
//! The kernel's process connector tells of every exec as it happens, so nothing is polled and
//! every supervisor is timed the same way. Needs root (CAP_NET_ADMIN) for the connector.
//! The connector reports the whole host: only descendants of COMMAND count, so another run
//! of the same benchmark on this machine cannot complete (or spoil) this one's count.
//! The command's own output goes to execwatch's stderr, so stdout carries only the two lines.

// Not PID 1: this helper waits on its own child, which the rule for src/ does not cover.
#![allow(clippy::disallowed_methods)]

use std::collections::HashSet;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

const NETLINK_CONNECTOR: libc::c_int = 11;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_EVENT_EXEC: u32 = 2;
const NLMSG_HDR: usize = 16;
const CN_MSG: usize = 20;

struct Args {
    count: usize,
    exact: Option<String>,
    part: Option<String>,
    timeout: Duration,
    command: Vec<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = std::env::args().skip(1);
    let (mut count, mut exact, mut part, mut timeout) = (None, None, None, 60u64);
    let mut command = Vec::new();
    while let Some(arg) = a.next() {
        let mut value = || a.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--count" => count = Some(value()?.parse().map_err(|e| format!("--count: {e}"))?),
            "--exact" => exact = Some(value()?),
            "--match" => part = Some(value()?),
            "--timeout" => timeout = value()?.parse().map_err(|e| format!("--timeout: {e}"))?,
            "--" => {
                command = a.by_ref().collect();
                break;
            }
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    if command.is_empty() || exact.is_none() == part.is_none() {
        return Err(
            "usage: execwatch --count N (--exact CMDLINE | --match PART) [--timeout SECS] -- COMMAND..."
                .into(),
        );
    }
    Ok(Args {
        count: count.ok_or("--count is needed")?,
        exact,
        part,
        timeout: Duration::from_secs(timeout),
        command,
    })
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn last_os_error(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// A connector socket subscribed to the kernel's process events.
fn listen() -> Result<OwnedFd, String> {
    // SAFETY: plain socket(2); the fd is owned right below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_CONNECTOR,
        )
    };
    if fd < 0 {
        return Err(last_os_error("netlink connector socket"));
    }
    // SAFETY: fd was just returned by socket(2) and nothing else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // A boot of 100 services under OpenRC execs thousands of processes in a burst: a lost event
    // would be a wrong figure, so the buffer is large and an overrun is an error (below).
    let size: libc::c_int = 32 << 20;
    // SAFETY: the option value is a c_int that lives across the call.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    // SAFETY: sockaddr_nl is plain data; zeroed is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = CN_IDX_PROC;
    // SAFETY: addr is a valid sockaddr_nl of the given length.
    let r = unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(last_os_error("bind to the process connector"));
    }
    let mut msg = Vec::with_capacity(NLMSG_HDR + CN_MSG + 4);
    let total = (NLMSG_HDR + CN_MSG + 4) as u32;
    msg.extend_from_slice(&total.to_ne_bytes());
    msg.extend_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
    msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
    msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
    msg.extend_from_slice(&std::process::id().to_ne_bytes());
    msg.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    msg.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
    msg.extend_from_slice(&0u32.to_ne_bytes()); // ack
    msg.extend_from_slice(&4u16.to_ne_bytes()); // len
    msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
    msg.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
    // SAFETY: msg is a valid buffer of msg.len() bytes.
    let n = unsafe { libc::send(fd, msg.as_ptr().cast(), msg.len(), 0) };
    if n < 0 {
        return Err(last_os_error("subscribe to process events"));
    }
    Ok(sock)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The exec events (kernel timestamp, tgid) in one datagram.
fn execs(buf: &[u8]) -> Vec<(u64, i32)> {
    let mut out = Vec::new();
    let mut off = 0;
    while let Some(len) = u32_at(buf, off) {
        let len = len as usize;
        if len < NLMSG_HDR || off + len > buf.len() {
            break;
        }
        let ev = off + NLMSG_HDR + CN_MSG;
        if u32_at(buf, ev) == Some(PROC_EVENT_EXEC) {
            let ts = buf
                .get(ev + 8..ev + 16)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_ne_bytes);
            if let (Some(ts), Some(tgid)) = (ts, u32_at(buf, ev + 20)) {
                out.push((ts, tgid as i32));
            }
        }
        off += (len + 3) & !3;
    }
    out
}

fn cmdline(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let s = String::from_utf8_lossy(&raw);
    Some(s.trim_end_matches('\0').replace('\0', " "))
}

/// The parent of `pid` from /proc/PID/stat (the field after the last `)`: comm may hold any byte).
fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` is below `root` (a process re-parented to a namespace's PID 1 still is, since
/// that PID 1 is below `root`). Bounded: a chain of processes cannot loop, but it can be long.
fn descends_from(pid: i32, root: i32) -> bool {
    let mut p = pid;
    for _ in 0..256 {
        match parent(p) {
            Some(pp) if pp == root => return true,
            Some(pp) if pp > 1 => p = pp,
            _ => return false,
        }
    }
    false
}

fn poll_in(fds: &mut [libc::pollfd], timeout: Duration) -> Result<(), String> {
    for p in fds.iter_mut() {
        p.revents = 0;
    }
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: fds is a valid, exclusively borrowed array of pollfd.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
        return Err(last_os_error("poll"));
    }
    Ok(())
}

#[expect(clippy::too_many_lines, reason = "to be split (issue 23)")]
fn run(args: Args) -> Result<bool, String> {
    let sock = listen()?;
    let t0 = monotonic_ns();
    let mut child = Command::new(&args.command[0])
        .args(&args.command[1..])
        .stdout(Stdio::from(std::io::stderr()))
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", args.command[0]))?;
    let root = child.id() as i32;
    // SAFETY: pidfd_open of our own child, which we have not reaped.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) };
    if pidfd < 0 {
        return Err(last_os_error("pidfd_open"));
    }
    // SAFETY: the fd was just returned and nothing else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    let mut fds = [
        libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let mut seen: HashSet<i32> = HashSet::new();
    let mut started = false;
    let mut buf = vec![0u8; 64 << 10];
    let mut out = std::io::stdout();
    let mut deadline = monotonic_ns() + args.timeout.as_nanos() as u64;
    loop {
        let now = monotonic_ns();
        if now >= deadline {
            eprintln!(
                "execwatch: {} of {} seen when the {} s ran out; killing the command",
                seen.len(),
                args.count,
                args.timeout.as_secs()
            );
            let _ = child.kill();
            let _ = child.wait();
            return Ok(false);
        }
        poll_in(&mut fds, Duration::from_nanos(deadline - now))?;
        if fds[0].revents & libc::POLLIN != 0 && !started {
            // SAFETY: buf is a valid, exclusively borrowed buffer of buf.len() bytes.
            let n = unsafe {
                libc::recv(
                    sock.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::ENOBUFS) {
                    return Err("process events were lost (socket buffer overrun)".into());
                }
                if e.kind() != std::io::ErrorKind::WouldBlock {
                    return Err(format!("recv: {e}"));
                }
                continue;
            }
            for (ts, tgid) in execs(&buf[..n as usize]) {
                let hit = cmdline(tgid).is_some_and(|c| match (&args.exact, &args.part) {
                    (Some(x), _) => c == *x,
                    (_, Some(p)) => c.contains(p.as_str()),
                    _ => false,
                }) && descends_from(tgid, root);
                if hit && seen.insert(tgid) && seen.len() == args.count {
                    let ms = ts.saturating_sub(t0) as f64 / 1e6;
                    writeln!(out, "started {ms:.1}").map_err(|e| e.to_string())?;
                    out.flush().map_err(|e| e.to_string())?;
                    started = true;
                    // From here only the command's end matters.
                    fds[0].events = 0;
                    deadline = monotonic_ns() + args.timeout.as_nanos() as u64;
                }
            }
        }
        if fds[1].revents & libc::POLLIN != 0 {
            let status = child.wait().map_err(|e| format!("wait: {e}"))?;
            let code = status
                .code()
                .or_else(|| status.signal().map(|s| 128 + s))
                .unwrap_or(-1);
            if !started {
                eprintln!(
                    "execwatch: the command ended ({code}) after {} of {}",
                    seen.len(),
                    args.count
                );
            }
            writeln!(out, "exit {code}").map_err(|e| e.to_string())?;
            return Ok(started);
        }
    }
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("execwatch: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("execwatch: {e}");
            ExitCode::from(2)
        }
    }
}
