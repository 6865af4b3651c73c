//! The reaping benchmark's load: makes N orphans at once and times how long PID 1 takes to reap
//! them all.
//!
//!   orphans N
//!
//! Each orphan is a grandchild whose parent has already exited, so it belongs to PID 1 (rcinit,
//! tini...). All N block on one pipe; closing its write end releases them together, and they
//! exit. A process is reaped when kill(pid, 0) says ESRCH (a zombie still answers), so the figure
//! is release to the last reap. Prints `reaped N in <ms> ms`.

// Not PID 1: this helper waits on its own short-lived children, which the rule for src/ does not cover.
#![allow(clippy::disallowed_methods)]

use std::process::ExitCode;
use std::time::{Duration, Instant};

fn pipe() -> Result<[libc::c_int; 2], String> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two c_int for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    Ok(fds)
}

fn run(n: usize) -> Result<Duration, String> {
    let [hold_r, hold_w] = pipe()?;
    let [ready_r, ready_w] = pipe()?;
    for i in 0..n {
        // SAFETY: this program is single-threaded; the child only calls async-signal-safe
        // functions (fork, close, getpid, write, read, _exit) before it exits.
        match unsafe { libc::fork() } {
            -1 => return Err(format!("fork {i}: {}", std::io::Error::last_os_error())),
            0 => unsafe {
                // SAFETY: as above, async-signal-safe calls only, ending in _exit.
                if libc::fork() == 0 {
                    libc::close(hold_w);
                    libc::close(ready_r);
                    let pid = libc::getpid();
                    libc::write(ready_w, (&pid as *const libc::pid_t).cast(), 4);
                    libc::close(ready_w);
                    let mut b = 0u8;
                    libc::read(hold_r, (&mut b as *mut u8).cast(), 1);
                    libc::_exit(0);
                }
                libc::_exit(0);
            },
            child => {
                // SAFETY: waiting for our own child, which exits at once.
                unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
            }
        }
    }
    // SAFETY: closing our copies: the orphans hold their own.
    unsafe {
        libc::close(ready_w);
        libc::close(hold_r);
    }
    let mut pids = Vec::with_capacity(n);
    let mut b = [0u8; 4];
    while pids.len() < n {
        let mut got = 0;
        while got < 4 {
            // SAFETY: b[got..] is a valid buffer of 4 - got bytes.
            let r = unsafe { libc::read(ready_r, b[got..].as_mut_ptr().cast(), 4 - got) };
            if r <= 0 {
                return Err(format!("{} of {n} orphans reported", pids.len()));
            }
            got += r as usize;
        }
        pids.push(libc::pid_t::from_ne_bytes(b));
    }
    let t0 = Instant::now();
    // SAFETY: our last copy of the write end: every orphan's read returns now.
    unsafe { libc::close(hold_w) };
    for &pid in &pids {
        // SAFETY: kill with signal 0 only asks whether the process exists.
        while unsafe { libc::kill(pid, 0) } == 0 {
            std::thread::sleep(Duration::from_micros(100));
            if t0.elapsed() > Duration::from_secs(120) {
                return Err(format!("orphan {pid} was not reaped in 120 s"));
            }
        }
    }
    Ok(t0.elapsed())
}

fn main() -> ExitCode {
    let n = match std::env::args().nth(1).map(|a| a.parse::<usize>()) {
        Some(Ok(n)) if n > 0 => n,
        _ => {
            eprintln!("usage: orphans N");
            return ExitCode::from(2);
        }
    };
    match run(n) {
        Ok(d) => {
            println!("reaped {n} in {:.1} ms", d.as_secs_f64() * 1000.0);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("orphans: {e}");
            ExitCode::FAILURE
        }
    }
}
