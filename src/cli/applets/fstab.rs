//! /etc/fstab read as glibc's `getmntent` reads it, which is what OpenRC's `fstabinfo` and
//! `mountinfo` see: blank and `#` lines skipped, fields split on blanks, `\040 \011 \012 \134
//! \\` decoded, a missing field empty, freq and passno 0 unless given.

/// One entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub fsname: String,
    pub dir: String,
    pub fstype: String,
    pub opts: String,
    pub passno: i32,
}

pub const PATH: &str = "/etc/fstab";
const MAX: u64 = 4 << 20;

/// The entries of /etc/fstab; Err when it cannot be read.
pub fn read() -> std::io::Result<Vec<Entry>> {
    Ok(parse(&super::read_bounded(PATH, MAX)?))
}

pub fn parse(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches([' ', '\t']);
        let head = line.trim_start_matches([' ', '\t']);
        if head.is_empty() || head.starts_with('#') {
            continue;
        }
        let mut rest = Some(head);
        let mut field = || -> String {
            let Some(r) = rest else {
                return String::new();
            };
            let (f, tail) = match r.find([' ', '\t']) {
                Some(k) => (&r[..k], Some(r[k + 1..].trim_start_matches([' ', '\t']))),
                None => (r, None),
            };
            rest = tail;
            decode(f)
        };
        let fsname = field();
        let dir = field();
        let fstype = field();
        let opts = field();
        // sscanf(rest, " %d %d "): passno only when freq was read.
        let passno = rest
            .and_then(super::scan_int)
            .and_then(|(_, used)| rest.and_then(|r| super::scan_int(&r[used..])))
            .map_or(0, |(p, _)| p);
        out.push(Entry {
            fsname,
            dir,
            fstype,
            opts,
            passno,
        });
    }
    out
}

fn decode(f: &str) -> String {
    let b = f.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let (byte, used) = if rest.starts_with(b"\\040") {
            (b' ', 4)
        } else if rest.starts_with(b"\\011") {
            (b'\t', 4)
        } else if rest.starts_with(b"\\012") {
            (b'\n', 4)
        } else if rest.starts_with(b"\\\\") {
            (b'\\', 2)
        } else if rest.starts_with(b"\\134") {
            (b'\\', 4)
        } else {
            (b[i], 1)
        };
        out.push(byte);
        i += used;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fstab_lines_read_as_getmntent_reads_them() {
        let e = parse(
            "# comment\n\n  \t\n/dev/sda1 / ext4 defaults 0 1\n\
             //srv/share\\040x /mnt/my\\040share cifs _netdev,ro 0 2 # tail\n\
             tmpfs /tmp tmpfs\nlonely\n",
        );
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].passno, 1);
        assert_eq!(e[1].fsname, "//srv/share x");
        assert_eq!(e[1].dir, "/mnt/my share");
        assert_eq!(e[1].passno, 2);
        assert_eq!((e[2].opts.as_str(), e[2].passno), ("", 0));
        assert_eq!((e[3].dir.as_str(), e[3].fstype.as_str()), ("", ""));
        use super::super::scan_int;
        assert_eq!(scan_int(" 12x"), Some((12, 3)));
        assert_eq!(scan_int("x"), None);
        assert_eq!(scan_int("-3"), Some((-3, 2)));
        assert_eq!(scan_int("99999999999"), Some((i32::MAX, 11)));
        // "0x 2": freq 0, then "x" is no number: passno stays 0.
        assert_eq!(parse("a /b c d 0x 2\n")[0].passno, 0);
    }
}
