//! `start-stop-daemon` and `supervise-daemon` for images without OpenRC (L-37): invoked by a
//! script's own `start()` or `stop()` while rcinit runs it, they hand the command line to
//! rcinit (the shim's record channel, fd 9) and exit with its answer (fd 8).

use crate::script::channel;

/// Whether `argv0` names one of the helpers.
pub fn is_helper(argv0: &str) -> bool {
    matches!(
        argv0.rsplit('/').next(),
        Some("start-stop-daemon" | "supervise-daemon")
    )
}

fn fd_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Whether this helper call comes from a script rcinit itself runs (its pipes are there).
pub fn inside_shim() -> bool {
    std::env::var("RCINIT_SHIM").as_deref() == Ok("1") && fd_open(8) && fd_open(9)
}

/// Runs the helper; returns the exit code.
pub fn run(argv: Vec<String>) -> i32 {
    let name = argv[0].rsplit('/').next().unwrap_or("helper").to_owned();
    if std::env::var("RCINIT_SHIM").as_deref() != Ok("1") || !fd_open(8) || !fd_open(9) {
        eprintln!(
            "{name} (rcinit): this image has no OpenRC; rcinit answers {name} only inside an init script it runs"
        );
        return 1;
    }
    let mut rec = Vec::new();
    let mut field = |s: &str| {
        rec.extend_from_slice(s.as_bytes());
        rec.push(0);
    };
    field("A");
    field(&argv.len().to_string());
    for a in &argv {
        field(a);
    }
    let mut env = String::new();
    for (k, v) in std::env::vars() {
        env.push_str(&format!("export {k}={}\n", shell_words::quote(&v)));
    }
    field("X");
    field(&env);
    field("Q");
    field("helper");
    if let Err(e) = channel::may_speak(9) {
        eprintln!("{name} (rcinit): {e}");
        return 1;
    }
    if channel::send_record(9, &rec).is_err() {
        eprintln!("{name} (rcinit): cannot reach rcinit");
        return 1;
    }
    // The answer is one line; it is read a byte at a time so nothing after it is taken.
    match channel::read_answer(8) {
        Ok(line) if !line.is_empty() => line.trim().parse().unwrap_or(1),
        _ => 1,
    }
}
