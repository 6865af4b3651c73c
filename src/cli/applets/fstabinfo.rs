//! `fstabinfo` (L-35): what /etc/fstab says of mount points (the point, its device, options,
//! mount arguments or pass number), or mounting them from it (`-M`, `-R`).

use super::fstab::{self, Entry};
use super::getopt::{self, Spec, eerror};
use super::scan_int;

const SPEC: Spec = Spec {
    applet: "fstabinfo",
    short: "MRbmop:t:",
    long: &[
        ("mount", false, 'M'),
        ("remount", false, 'R'),
        ("blockdevice", false, 'b'),
        ("mountargs", false, 'm'),
        ("options", false, 'o'),
        ("passno", true, 'p'),
        ("fstype", true, 't'),
    ],
    operands: "",
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    File,
    MountArgs,
    Options,
    Passno,
    BlockDev,
    Mount,
    Remount,
}

pub fn run(args: &[String]) -> i32 {
    if std::fs::metadata(fstab::PATH).is_err() {
        eerror("/etc/fstab does not exist");
        return 1;
    }
    let parsed = match getopt::parse(&SPEC, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let entries = match fstab::read() {
        Ok(e) => e,
        Err(e) => {
            eerror(&format!("fstabinfo: {}: {e}", fstab::PATH));
            return 1;
        }
    };
    let Some((output, files, filtered)) = read_options(&parsed.opts, &entries) else {
        return 1;
    };
    let Some(files) = select(files, &parsed.operands, filtered, &entries) else {
        return 1;
    };
    report(&entries, &files, output)
}

/// What to print, and the mount points `-p` and `-t` selected (`filtered` when either was
/// given); None when a passno does not parse (already said).
fn read_options(opts: &[(char, String)], entries: &[Entry]) -> Option<(Output, Vec<String>, bool)> {
    let mut output = Output::File;
    let mut files: Vec<String> = Vec::new();
    let mut filtered = false;
    for (c, v) in opts {
        match c {
            'M' => output = Output::Mount,
            'R' => output = Output::Remount,
            'b' => output = Output::BlockDev,
            'o' => output = Output::Options,
            'm' => output = Output::MountArgs,
            'p' => match v.as_bytes().first() {
                Some(op @ (b'=' | b'<' | b'>')) => {
                    let Some((i, _)) = scan_int(&v[1..]) else {
                        eerror(&format!("fstabinfo: invalid passno {}", &v[1..]));
                        return None;
                    };
                    filtered = true;
                    for e in entries.iter().filter(|e| e.dir != "none") {
                        let p = e.passno;
                        if (*op == b'=' && i == p)
                            || (*op == b'<' && i > p && p != 0)
                            || (*op == b'>' && i < p && p != 0)
                        {
                            files.push(e.dir.clone());
                        }
                    }
                }
                _ => {
                    files.push(v.clone());
                    output = Output::Passno;
                }
            },
            't' => {
                filtered = true;
                for t in v.split(',') {
                    files.extend(
                        entries
                            .iter()
                            .filter(|e| e.fstype == t)
                            .map(|e| e.dir.clone()),
                    );
                }
            }
            _ => {}
        }
    }
    Some((output, files, filtered))
}

/// The operands narrow what the options selected, or name the mount points themselves; with
/// neither, every entry. None when none is left (an empty fstab is said).
fn select(
    mut files: Vec<String>,
    operands: &[String],
    filtered: bool,
    entries: &[Entry],
) -> Option<Vec<String>> {
    if !operands.is_empty() {
        if files.is_empty() {
            files = operands.to_vec();
        } else {
            files.retain(|f| operands.contains(f));
        }
    } else if !filtered {
        // After what `-p FILE` named, as OpenRC appends them.
        files.extend(entries.iter().map(|e| e.dir.clone()));
        if files.is_empty() {
            eerror("fstabinfo: empty fstab");
            return None;
        }
    }
    if files.is_empty() {
        return None;
    }
    Some(files)
}

/// Prints what was asked of each mount point (or mounts it); 1 when one is not in fstab.
fn report(entries: &[Entry], files: &[String], output: Output) -> i32 {
    // Quiet only when told so on this command line.
    let quiet = getopt::quiet_here();
    let mut result: i32 = 0;
    let mut out = String::new();
    for file in files {
        let Some(e) = entries.iter().find(|e| e.dir == *file) else {
            result = 1;
            continue;
        };
        if matches!(output, Output::Mount | Output::Remount) {
            // Printed before a mount runs, as each line would be.
            print!("{out}");
            out.clear();
            result = result.saturating_add(mount(e, output == Output::Remount));
        }
        if quiet {
            continue;
        }
        match output {
            Output::BlockDev => out.push_str(&format!("{}\n", e.fsname)),
            Output::MountArgs => out.push_str(&format!(
                "-o {} -t {} {} {}\n",
                e.opts, e.fstype, e.fsname, file
            )),
            Output::Options => out.push_str(&format!("{}\n", e.opts)),
            Output::File => out.push_str(&format!("{file}\n")),
            Output::Passno => out.push_str(&format!("{}\n", e.passno)),
            Output::Mount | Output::Remount => {}
        }
    }
    print!("{out}");
    // exit() keeps the low byte.
    result & 0xff
}

/// `mount -o OPTS -t TYPE DEV DIR` (with `-o remount` to remount): its exit status, -1 when
/// it did not exit (as OpenRC counts it).
fn mount(e: &Entry, remount: bool) -> i32 {
    let mut cmd = std::process::Command::new("mount");
    cmd.args(["-o", &e.opts, "-t", &e.fstype]);
    if remount {
        cmd.args(["-o", "remount"]);
    }
    cmd.args([&e.fsname, &e.dir]);
    // A helper process of a script, not PID 1: waiting on its own child is right here.
    #[allow(clippy::disallowed_methods)]
    match cmd.status() {
        Ok(s) => s.code().unwrap_or(-1),
        Err(err) => {
            eerror(&format!("fstabinfo: execvp: {err}"));
            1
        }
    }
}
