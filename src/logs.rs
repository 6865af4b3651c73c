//! Line assembly for service output: `[service] line`, no line lost, reordered or altered (pure).
//!
//! Bytes are passed through as they are (non-UTF-8 included); a line longer than the limit is cut
//! into pieces of the limit, each its own prefixed line; a last line without a newline is flushed
//! when the stream ends. Output is appended to a caller's buffer so that a busy service costs no
//! allocation per line.

/// Longest line forwarded in one piece.
pub const MAX_LINE: usize = 64 * 1024;

/// Assembles one stream (stdout or stderr) of one service.
#[derive(Debug)]
pub struct Lines {
    prefix: Vec<u8>,
    partial: Vec<u8>,
    max: usize,
}

impl Lines {
    /// `name` is the service; lines come out as `[name] ...`.
    pub fn new(name: &str) -> Self {
        Self::with_max(name, MAX_LINE)
    }

    pub fn with_max(name: &str, max: usize) -> Self {
        let mut prefix = Vec::with_capacity(name.len() + 3);
        prefix.push(b'[');
        prefix.extend_from_slice(name.as_bytes());
        prefix.extend_from_slice(b"] ");
        Self {
            prefix,
            partial: Vec::new(),
            max: max.max(1),
        }
    }

    fn emit(&self, line: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(line);
        out.push(b'\n');
    }

    /// Adds what was read; appends every completed line to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            let room = self.max - self.partial.len();
            // One byte past the room: a newline right at the limit still ends the line there.
            let window = &input[..input.len().min(room + 1)];
            match memchr::memchr(b'\n', window) {
                Some(i) => {
                    if self.partial.is_empty() {
                        self.emit(&window[..i], out);
                    } else {
                        self.partial.extend_from_slice(&window[..i]);
                        let line = std::mem::take(&mut self.partial);
                        self.emit(&line, out);
                        self.partial = line;
                        self.partial.clear();
                    }
                    input = &input[i + 1..];
                }
                None if window.len() > room => {
                    // The line reached the limit: forward this piece as a line of its own.
                    self.partial.extend_from_slice(&window[..room]);
                    let line = std::mem::take(&mut self.partial);
                    self.emit(&line, out);
                    self.partial = line;
                    self.partial.clear();
                    input = &input[room..];
                }
                None => {
                    self.partial.extend_from_slice(window);
                    input = &[];
                }
            }
        }
    }

    /// The stream ended: flushes a last line that had no newline.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.emit(&line, out);
        }
    }

    /// Bytes held back waiting for a newline.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(name: &str, max: usize, chunks: &[&[u8]]) -> Vec<u8> {
        let mut l = Lines::with_max(name, max);
        let mut out = Vec::new();
        for c in chunks {
            l.feed(c, &mut out);
        }
        l.finish(&mut out);
        out
    }

    #[test]
    fn lines_get_the_prefix_across_any_split() {
        let input = b"one\ntwo\n\nthree";
        let want = b"[web] one\n[web] two\n[web] \n[web] three\n".to_vec();
        assert_eq!(all("web", 1024, &[input]), want);
        for i in 0..input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(all("web", 1024, &[a, b]), want, "split at {i}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(all("web", 1024, &bytes), want);
    }

    #[test]
    fn long_lines_are_split_not_dropped() {
        assert_eq!(
            all("s", 4, &[b"abcdefghij\nxy\n"]),
            b"[s] abcd\n[s] efgh\n[s] ij\n[s] xy\n".to_vec()
        );
        assert_eq!(
            all("s", 4, &[b"ab", b"cd", b"ef"]),
            b"[s] abcd\n[s] ef\n".to_vec()
        );
        // Exactly the limit, then its newline: one line; no empty one is invented.
        assert_eq!(all("s", 4, &[b"abcd\n"]), b"[s] abcd\n".to_vec());
        assert_eq!(all("s", 4, &[b"ab", b"cd", b"\n"]), b"[s] abcd\n".to_vec());
    }

    #[test]
    fn bytes_pass_unchanged() {
        let out = all("x", 1024, &[b"\xff\xfe caf\xc3\xa9 \r\t\0end\n"]);
        assert_eq!(out, b"[x] \xff\xfe caf\xc3\xa9 \r\t\0end\n".to_vec());
    }

    #[test]
    fn nothing_is_invented_for_an_empty_stream() {
        assert!(all("x", 16, &[]).is_empty());
        assert!(all("x", 16, &[b""]).is_empty());
    }

    #[test]
    fn a_million_numbered_lines_arrive_in_order_once() {
        let mut l = Lines::new("n");
        let mut input = Vec::new();
        for i in 0..1_000_000u32 {
            input.extend_from_slice(format!("{i}\n").as_bytes());
        }
        let mut out = Vec::new();
        for c in input.chunks(4093) {
            l.feed(c, &mut out);
        }
        l.finish(&mut out);
        let mut n = 0u32;
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            assert_eq!(line, format!("[n] {n}").as_bytes());
            n += 1;
        }
        assert_eq!(n, 1_000_000);
    }
}
