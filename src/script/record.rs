//! The shim's output: NUL-terminated fields on fd 9, parsed incrementally (pure).
//!
//! A shell string cannot hold a NUL byte, so fields are unambiguous whatever a script's values
//! contain. Garbage (a script that writes to fd 9 itself) yields [`Record::Garbage`] and parsing
//! resumes at the next field; nothing panics on any input.

/// One record of the shim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A pass began: `pass` is `dep` or `run`; `pid` is the subshell's (0 when unknown).
    Begin {
        pass: String,
        name: String,
        pid: i32,
    },
    /// A depend() verb and its words as one string (`need`, `a b`).
    Dep { verb: String, words: String },
    /// The status of sourcing the script (0 = loaded).
    Sourced(i32),
    /// A variable that is set, and its value.
    Var { name: String, value: String },
    /// A command name and what `type` said of it.
    Type { name: String, output: String },
    /// The daemon's argv.
    Argv(Vec<String>),
    /// A pass ended with this status.
    End { pass: String, status: i32 },
    /// The batch is done.
    Done,
    /// Lifecycle mode: the script asks rcinit to act (`start` or `stop` its daemon) and waits
    /// for the answer on fd 8.
    Ask(String),
    /// Lifecycle mode: what `export -p` printed when the daemon was asked for.
    Exported(String),
    /// Lifecycle mode: the script marked its own state (`mark_service_inactive`, L-20, L-21).
    Mark(String),
    /// Lifecycle mode: what `export -p` printed after a start whose service reexports (0.64).
    Reexport(String),
    /// A field that starts no known record.
    Garbage(String),
}

/// Incremental parser: feed bytes, take records.
/// Words of one argv record at most (a kernel's ARG_MAX holds about 32,000 short ones).
pub const MAX_ARGV: usize = 65_536;
/// Bytes of one field at most: an `export -p` of a large environment fits many times over.
pub const MAX_FIELD: usize = 8 << 20;
/// Bytes held in fields of a record not yet complete.
pub const MAX_PENDING: usize = 32 << 20;

/// Incremental parser: feed bytes, take records. Everything is bounded: a field over
/// [`MAX_FIELD`] is dropped as it comes (one [`Record::Garbage`] says so), an argv count over
/// [`MAX_ARGV`] or a record whose fields pass [`MAX_PENDING`] is garbage, and no count can
/// overflow: whatever a script writes on fd 9 is that script's error, never PID 1's.
#[derive(Debug, Default)]
pub struct Parser {
    partial: Vec<u8>,
    /// The current field passed MAX_FIELD: its bytes are skipped up to its end.
    skipping: bool,
    fields: Vec<String>,
    pending: usize,
}

impl Parser {
    /// Adds bytes; returns the records they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Record> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (chunk, ends) = match memchr::memchr(0, rest) {
                Some(i) => (&rest[..i], Some(i)),
                None => (rest, None),
            };
            rest = ends.map_or(&[][..], |i| &rest[i + 1..]);
            if !self.skipping {
                if self.partial.len().saturating_add(chunk.len()) > MAX_FIELD {
                    self.skipping = true;
                    self.partial = Vec::new();
                } else {
                    self.partial.extend_from_slice(chunk);
                }
            }
            if ends.is_none() {
                break;
            }
            if std::mem::take(&mut self.skipping) {
                // The record it belonged to goes with it: its fields would misalign the next.
                self.fields.clear();
                self.pending = 0;
                out.push(Record::Garbage(format!(
                    "a field over {MAX_FIELD} bytes, dropped"
                )));
                continue;
            }
            let field = String::from_utf8_lossy(&self.partial).into_owned();
            self.partial.clear();
            self.pending = self.pending.saturating_add(field.len());
            self.fields.push(field);
            while let Some(r) = self.take_record() {
                out.push(r);
            }
            if self.pending > MAX_PENDING && !self.fields.is_empty() {
                out.push(self.garbage());
            }
        }
        out
    }

    fn take_record(&mut self) -> Option<Record> {
        let f = &self.fields;
        let tag = f.first()?.clone();
        let need = match tag.as_str() {
            "B" => 4,
            "D" | "V" | "T" | "E" => 3,
            "S" | "Q" | "X" | "M" | "R" => 2,
            "Z" => 1,
            "A" => match f.get(1)?.parse::<usize>() {
                Ok(n) if n <= MAX_ARGV => n.saturating_add(2),
                _ => return Some(self.garbage()),
            },
            _ => return Some(self.garbage()),
        };
        if f.len() < need {
            return None;
        }
        let f: Vec<String> = self.fields.drain(..need).collect();
        let taken: usize = f.iter().map(String::len).sum();
        self.pending = self.pending.saturating_sub(taken);
        let num = |s: &str| s.trim().parse::<i32>().unwrap_or(-1);
        Some(match tag.as_str() {
            "B" => Record::Begin {
                pass: f[1].clone(),
                name: f[2].clone(),
                pid: num(&f[3]).max(0),
            },
            "D" => Record::Dep {
                verb: f[1].clone(),
                words: f[2].clone(),
            },
            "V" => Record::Var {
                name: f[1].clone(),
                value: f[2].clone(),
            },
            "T" => Record::Type {
                name: f[1].clone(),
                output: f[2].clone(),
            },
            "E" => Record::End {
                pass: f[1].clone(),
                status: num(&f[2]),
            },
            "S" => Record::Sourced(num(&f[1])),
            "Q" => Record::Ask(f[1].clone()),
            "X" => Record::Exported(f[1].clone()),
            "M" => Record::Mark(f[1].clone()),
            "R" => Record::Reexport(f[1].clone()),
            "Z" => Record::Done,
            _ => Record::Argv(f[2..].to_vec()),
        })
    }

    fn garbage(&mut self) -> Record {
        let f = self.fields.remove(0);
        self.pending = self.pending.saturating_sub(f.len());
        Record::Garbage(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<Record> {
        let mut p = Parser::default();
        chunks.iter().flat_map(|c| p.feed(c)).collect()
    }

    #[test]
    fn records_across_arbitrary_chunk_boundaries() {
        let bytes: &[u8] = b"B\0dep\0web\x0042\0D\0need\0db cache\0S\x000\0A\x003\0/bin/x\0a b\0\0E\0dep\x000\0Z\0";
        let want = vec![
            Record::Begin {
                pass: "dep".into(),
                name: "web".into(),
                pid: 42,
            },
            Record::Dep {
                verb: "need".into(),
                words: "db cache".into(),
            },
            Record::Sourced(0),
            Record::Argv(vec!["/bin/x".into(), "a b".into(), "".into()]),
            Record::End {
                pass: "dep".into(),
                status: 0,
            },
            Record::Done,
        ];
        assert_eq!(parse_all(&[bytes]), want);
        for split in 1..bytes.len() {
            let (a, b) = bytes.split_at(split);
            assert_eq!(parse_all(&[a, b]), want, "split at {split}");
        }
    }

    /// Regression: an argv count near usize::MAX overflowed `2 + n` and a slice index
    /// panicked PID 1 (exit 70), from one printf in a start_pre.
    #[test]
    fn argv_counts_of_any_size_are_garbage_not_a_panic() {
        for n in [
            "18446744073709551614",
            "18446744073709551615",
            "65537",
            "99999999999999999999999",
            "-1",
            "",
        ] {
            let bytes = format!("A\0{n}\0x\0S\x000\0");
            let got = parse_all(&[bytes.as_bytes()]);
            assert_eq!(got.first(), Some(&Record::Garbage("A".into())), "{n}");
            assert_eq!(
                got.last(),
                Some(&Record::Sourced(0)),
                "{n}: parsing resumes"
            );
        }
        // The largest count allowed waits for its words without holding more than they are.
        let mut p = Parser::default();
        assert!(p.feed(format!("A\0{MAX_ARGV}\0").as_bytes()).is_empty());
    }

    #[test]
    fn a_huge_field_is_dropped_as_it_comes_and_parsing_resumes() {
        let mut p = Parser::default();
        let chunk = vec![b'x'; 1 << 20];
        let mut got = Vec::new();
        got.extend(p.feed(b"V\0name\0"));
        for _ in 0..(MAX_FIELD >> 20) + 4 {
            got.extend(p.feed(&chunk));
            assert!(p.partial.len() <= MAX_FIELD);
        }
        got.extend(p.feed(b"\0S\x000\0"));
        assert!(
            got.iter()
                .any(|r| matches!(r, Record::Garbage(g) if g.contains("dropped"))),
            "{got:?}"
        );
        assert_eq!(got.last(), Some(&Record::Sourced(0)));
    }

    #[test]
    fn fields_of_an_unfinished_record_are_bounded() {
        let mut p = Parser::default();
        let word = vec![b'w'; 1 << 20];
        p.feed(format!("A\0{MAX_ARGV}\0").as_bytes());
        let mut garbage = 0;
        for _ in 0..64 {
            let mut f = word.clone();
            f.push(0);
            garbage += p
                .feed(&f)
                .iter()
                .filter(|r| matches!(r, Record::Garbage(_)))
                .count();
            assert!(p.pending <= MAX_PENDING + (1 << 20));
        }
        assert!(garbage > 0);
    }

    #[test]
    fn garbage_is_reported_and_parsing_resumes() {
        let got = parse_all(&[b"hello\0A\0x\0S\x001\0"]);
        assert_eq!(
            got,
            vec![
                Record::Garbage("hello".into()),
                Record::Garbage("A".into()),
                Record::Garbage("x".into()),
                Record::Sourced(1),
            ]
        );
    }

    #[test]
    fn values_keep_newlines_and_non_utf8_is_lossy() {
        let got = parse_all(&[b"V\0command_args\0a\nb\0V\0x\0\xff\0"]);
        assert_eq!(
            got[0],
            Record::Var {
                name: "command_args".into(),
                value: "a\nb".into()
            }
        );
        assert_eq!(
            got[1],
            Record::Var {
                name: "x".into(),
                value: "\u{fffd}".into()
            }
        );
    }
}
