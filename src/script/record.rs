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
    /// A field that starts no known record.
    Garbage(String),
}

/// Incremental parser: feed bytes, take records.
#[derive(Debug, Default)]
pub struct Parser {
    partial: Vec<u8>,
    fields: Vec<String>,
}

impl Parser {
    /// Adds bytes; returns the records they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Record> {
        let mut out = Vec::new();
        for &b in bytes {
            if b != 0 {
                self.partial.push(b);
                continue;
            }
            let field = String::from_utf8_lossy(&self.partial).into_owned();
            self.partial.clear();
            self.fields.push(field);
            while let Some(r) = self.take_record() {
                out.push(r);
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
            "S" | "Q" | "X" => 2,
            "Z" => 1,
            "A" => {
                let n: usize = match f.get(1)?.parse() {
                    Ok(n) => n,
                    Err(_) => return Some(self.garbage()),
                };
                2 + n
            }
            _ => return Some(self.garbage()),
        };
        if f.len() < need {
            return None;
        }
        let f: Vec<String> = self.fields.drain(..need).collect();
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
            "Z" => Record::Done,
            _ => Record::Argv(f[2..].to_vec()),
        })
    }

    fn garbage(&mut self) -> Record {
        Record::Garbage(self.fields.remove(0))
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
