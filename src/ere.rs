//! POSIX extended regular expressions, as OpenRC's `mountinfo` compiles them (`regcomp` with
//! `REG_EXTENDED | REG_NOSUB`): whether a pattern matches anywhere in a string (pure).
//!
//! Matching simulates the automaton one byte at a time over the set of live states, so a
//! pattern costs at most (pattern size × input length): no backtracking blow-up. Beyond POSIX,
//! the GNU escapes scripts meet are understood (`\w \W \s \S \b \B \< \> \` \'`);
//! back-references are refused.

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Regex {
    prog: Vec<Inst>,
}

#[derive(Debug, Clone)]
enum Inst {
    Byte(u8),
    Any,
    Class(Box<[bool; 256]>),
    Assert(Anchor),
    Split(usize, usize),
    Jump(usize),
    Match,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    Start,
    End,
    WordBoundary,
    NotWordBoundary,
    WordStart,
    WordEnd,
}

#[derive(Debug, Clone)]
enum Node {
    Empty,
    Byte(u8),
    Any,
    Class(Box<[bool; 256]>),
    Assert(Anchor),
    Cat(Vec<Node>),
    Alt(Vec<Node>),
    Rep(Box<Node>, u32, Option<u32>),
}

/// glibc's RE_DUP_MAX.
const DUP_MAX: u32 = 0x7fff;
/// Past this many instructions a pattern is refused ("too big"), as regcomp refuses one that
/// outgrows its memory.
const MAX_PROG: usize = 100_000;
/// Nor may compiling take more steps than this: a repeated group that emits nothing (`(){9999}`)
/// costs steps, not instructions.
const MAX_WORK: usize = 1_000_000;
/// Operators stacked on one atom (`a*+?`): more is no pattern anyone writes.
const MAX_STACKED: usize = 64;

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Regex {
    /// Compiles `pattern`; the error is what makes it invalid.
    pub fn new(pattern: &str) -> Result<Regex, String> {
        let mut p = Parser {
            s: pattern.as_bytes(),
            i: 0,
        };
        let node = p.alt(0)?;
        let mut prog = Vec::new();
        let mut work = MAX_WORK;
        emit(&node, &mut prog, &mut work)?;
        prog.push(Inst::Match);
        Ok(Regex { prog })
    }

    /// Whether the pattern matches somewhere in `text`.
    pub fn is_match(&self, text: &[u8]) -> bool {
        let n = self.prog.len();
        let mut clist = Threads::new(n);
        let mut nlist = Threads::new(n);
        for pos in 0..=text.len() {
            // A new attempt starts at every position (the search is unanchored).
            if self.add(&mut clist, 0, text, pos) {
                return true;
            }
            let Some(&b) = text.get(pos) else {
                break;
            };
            nlist.clear();
            for k in 0..clist.list.len() {
                let pc = clist.list[k];
                let ok = match &self.prog[pc] {
                    Inst::Byte(c) => *c == b,
                    Inst::Any => true,
                    Inst::Class(set) => set[b as usize],
                    _ => false,
                };
                if ok && self.add(&mut nlist, pc + 1, text, pos + 1) {
                    return true;
                }
            }
            std::mem::swap(&mut clist, &mut nlist);
        }
        false
    }

    /// Adds the thread at `pc` and everything reachable from it without consuming a byte;
    /// true when that reaches Match.
    fn add(&self, t: &mut Threads, pc: usize, text: &[u8], pos: usize) -> bool {
        let mut stack = vec![pc];
        while let Some(pc) = stack.pop() {
            if !t.insert(pc) {
                continue;
            }
            match &self.prog[pc] {
                Inst::Match => return true,
                Inst::Jump(to) => stack.push(*to),
                Inst::Split(a, b) => {
                    stack.push(*b);
                    stack.push(*a);
                }
                Inst::Assert(a) => {
                    if holds(*a, text, pos) {
                        stack.push(pc + 1);
                    }
                }
                _ => t.list.push(pc),
            }
        }
        false
    }
}

struct Threads {
    seen: Vec<bool>,
    touched: Vec<usize>,
    list: Vec<usize>,
}

impl Threads {
    fn new(n: usize) -> Self {
        Self {
            seen: vec![false; n],
            touched: Vec::new(),
            list: Vec::new(),
        }
    }
    fn insert(&mut self, pc: usize) -> bool {
        if self.seen[pc] {
            return false;
        }
        self.seen[pc] = true;
        self.touched.push(pc);
        true
    }
    fn clear(&mut self) {
        for pc in self.touched.drain(..) {
            self.seen[pc] = false;
        }
        self.list.clear();
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn holds(a: Anchor, text: &[u8], pos: usize) -> bool {
    let before = pos
        .checked_sub(1)
        .and_then(|p| text.get(p))
        .is_some_and(|b| is_word(*b));
    let after = text.get(pos).is_some_and(|b| is_word(*b));
    match a {
        Anchor::Start => pos == 0,
        Anchor::End => pos == text.len(),
        Anchor::WordBoundary => before != after,
        Anchor::NotWordBoundary => before == after,
        Anchor::WordStart => !before && after,
        Anchor::WordEnd => before && !after,
    }
}

fn emit(node: &Node, prog: &mut Vec<Inst>, work: &mut usize) -> Result<(), String> {
    *work = work.checked_sub(1).ok_or("regular expression too big")?;
    if prog.len() > MAX_PROG {
        return Err("regular expression too big".into());
    }
    match node {
        Node::Empty => {}
        Node::Byte(b) => prog.push(Inst::Byte(*b)),
        Node::Any => prog.push(Inst::Any),
        Node::Class(set) => prog.push(Inst::Class(set.clone())),
        Node::Assert(a) => prog.push(Inst::Assert(*a)),
        Node::Cat(v) => {
            for n in v {
                emit(n, prog, work)?;
            }
        }
        Node::Alt(v) => {
            // split L1, next; L1: a; jump end; next: split ... ; last
            let mut jumps = Vec::new();
            for (k, n) in v.iter().enumerate() {
                if k + 1 < v.len() {
                    let split = prog.len();
                    prog.push(Inst::Split(split + 1, 0));
                    emit(n, prog, work)?;
                    jumps.push(prog.len());
                    prog.push(Inst::Jump(0));
                    let next = prog.len();
                    prog[split] = Inst::Split(split + 1, next);
                } else {
                    emit(n, prog, work)?;
                }
            }
            let end = prog.len();
            for j in jumps {
                prog[j] = Inst::Jump(end);
            }
        }
        Node::Rep(n, min, max) => {
            for _ in 0..*min {
                emit(n, prog, work)?;
            }
            match max {
                None => {
                    // L: split body, end; body; jump L
                    let l = prog.len();
                    prog.push(Inst::Split(l + 1, 0));
                    emit(n, prog, work)?;
                    prog.push(Inst::Jump(l));
                    let end = prog.len();
                    prog[l] = Inst::Split(l + 1, end);
                }
                Some(max) => {
                    let mut splits = Vec::new();
                    for _ in *min..*max {
                        splits.push(prog.len());
                        prog.push(Inst::Split(0, 0));
                        emit(n, prog, work)?;
                    }
                    let end = prog.len();
                    for s in splits {
                        prog[s] = Inst::Split(s + 1, end);
                    }
                }
            }
        }
    }
    Ok(())
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn alt(&mut self, depth: usize) -> Result<Node, String> {
        if depth > 256 {
            return Err("regular expression too big".into());
        }
        let mut branches = vec![self.cat(depth)?];
        while self.peek() == Some(b'|') {
            self.i += 1;
            branches.push(self.cat(depth)?);
        }
        Ok(if branches.len() == 1 {
            branches.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(branches)
        })
    }

    fn cat(&mut self, depth: usize) -> Result<Node, String> {
        let mut items: Vec<Node> = Vec::new();
        while let Some(c) = self.peek() {
            let atom = match c {
                b'|' => break,
                // An unmatched `)` is an ordinary character (RE_UNMATCHED_RIGHT_PAREN_ORD).
                b')' if depth > 0 => break,
                b'*' | b'+' | b'?' => {
                    return Err("invalid preceding regular expression".into());
                }
                b'{' if self.interval_ahead() => {
                    return Err("invalid preceding regular expression".into());
                }
                b'(' => {
                    self.i += 1;
                    let inner = self.alt(depth + 1)?;
                    if self.peek() != Some(b')') {
                        return Err("unmatched ( or \\(".into());
                    }
                    self.i += 1;
                    inner
                }
                b'.' => {
                    self.i += 1;
                    Node::Any
                }
                b'^' => {
                    self.i += 1;
                    Node::Assert(Anchor::Start)
                }
                b'$' => {
                    self.i += 1;
                    Node::Assert(Anchor::End)
                }
                b'[' => {
                    self.i += 1;
                    Node::Class(self.bracket()?)
                }
                b'\\' => {
                    self.i += 1;
                    let Some(e) = self.peek() else {
                        return Err("trailing backslash".into());
                    };
                    self.i += 1;
                    escape(e)?
                }
                _ => {
                    self.i += 1;
                    Node::Byte(c)
                }
            };
            let atom = self.repeats(atom)?;
            items.push(atom);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Cat(items),
        })
    }

    /// Whether a `{` here starts an interval (a digit follows).
    fn interval_ahead(&self) -> bool {
        self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit)
    }

    fn repeats(&mut self, mut atom: Node) -> Result<Node, String> {
        let mut stacked = 0;
        loop {
            if matches!(self.peek(), Some(b'*' | b'+' | b'?' | b'{')) {
                // glibc: REG_BADRPT after an anchor; and a bound on the stack of operators.
                if matches!(atom, Node::Assert(_)) {
                    return Err("invalid preceding regular expression".into());
                }
                stacked += 1;
                if stacked > MAX_STACKED {
                    return Err("regular expression too big".into());
                }
            }
            let (min, max) = match self.peek() {
                Some(b'*') => (0, None),
                Some(b'+') => (1, None),
                Some(b'?') => (0, Some(1)),
                Some(b'{') => {
                    self.i += 1;
                    // `{,n}` is `{0,n}` to glibc.
                    let min = match self.number()? {
                        Some(n) => n,
                        None if self.peek() == Some(b',') => 0,
                        None => return Err("invalid content of \\{\\}".into()),
                    };
                    let max = if self.peek() == Some(b',') {
                        self.i += 1;
                        self.number()?
                    } else {
                        Some(min)
                    };
                    if self.peek() != Some(b'}') {
                        return Err("unmatched \\{".into());
                    }
                    if max.is_some_and(|m| m < min) {
                        return Err("invalid content of \\{\\}".into());
                    }
                    (min, max)
                }
                _ => return Ok(atom),
            };
            self.i += 1;
            atom = Node::Rep(Box::new(atom), min, max);
        }
    }

    fn number(&mut self) -> Result<Option<u32>, String> {
        let start = self.i;
        let mut n: u32 = 0;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u32::from(d - b'0')))
                .filter(|n| *n <= DUP_MAX)
                .ok_or("regular expression too big")?;
            self.i += 1;
        }
        Ok((self.i > start).then_some(n))
    }

    fn bracket(&mut self) -> Result<Box<[bool; 256]>, String> {
        let mut set = Box::new([false; 256]);
        let negate = self.peek() == Some(b'^');
        if negate {
            self.i += 1;
        }
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return Err("unmatched [, [^, [:, [., or [=".into());
            };
            if c == b']' && !first {
                self.i += 1;
                break;
            }
            first = false;
            let lo = match self.bracket_item()? {
                Item::Set(class) => {
                    for (k, v) in class.iter().enumerate() {
                        set[k] |= *v;
                    }
                    continue;
                }
                Item::Byte(b) => b,
            };
            // A range, unless the `-` is the last thing before `]`.
            if self.peek() == Some(b'-') && self.s.get(self.i + 1).is_some_and(|c| *c != b']') {
                self.i += 1;
                let hi = match self.bracket_item()? {
                    Item::Byte(b) => b,
                    Item::Set(_) => return Err("invalid range end".into()),
                };
                if hi < lo {
                    return Err("invalid range end".into());
                }
                for b in lo..=hi {
                    set[b as usize] = true;
                }
            } else {
                set[lo as usize] = true;
            }
        }
        if negate {
            for v in set.iter_mut() {
                *v = !*v;
            }
        }
        Ok(set)
    }

    fn bracket_item(&mut self) -> Result<Item, String> {
        let c = self.peek().ok_or("unmatched [, [^, [:, [., or [=")?;
        self.i += 1;
        if c != b'[' {
            return Ok(Item::Byte(c));
        }
        let kind = match self.peek() {
            Some(k @ (b':' | b'.' | b'=')) => k,
            _ => return Ok(Item::Byte(b'[')),
        };
        self.i += 1;
        let start = self.i;
        while !(self.peek() == Some(kind) && self.s.get(self.i + 1) == Some(&b']')) {
            if self.peek().is_none() {
                return Err("unmatched [, [^, [:, [., or [=".into());
            }
            self.i += 1;
        }
        let name = &self.s[start..self.i];
        self.i += 2;
        if kind == b':' {
            return class(name).map(Item::Set);
        }
        match name {
            [b] => Ok(Item::Byte(*b)),
            _ => Err("invalid collation character".into()),
        }
    }
}

enum Item {
    Byte(u8),
    Set(Box<[bool; 256]>),
}

fn class(name: &[u8]) -> Result<Box<[bool; 256]>, String> {
    let test: fn(u8) -> bool = match name {
        b"alpha" => |b| b.is_ascii_alphabetic(),
        b"digit" => |b| b.is_ascii_digit(),
        b"alnum" => |b| b.is_ascii_alphanumeric(),
        b"upper" => |b| b.is_ascii_uppercase(),
        b"lower" => |b| b.is_ascii_lowercase(),
        b"space" => |b| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
        b"blank" => |b| b == b' ' || b == b'\t',
        b"punct" => |b| b.is_ascii_punctuation(),
        b"print" => |b| (0x20..0x7f).contains(&b),
        b"graph" => |b| b.is_ascii_graphic(),
        b"cntrl" => |b| b < 0x20 || b == 0x7f,
        b"xdigit" => |b| b.is_ascii_hexdigit(),
        _ => return Err("invalid character class name".into()),
    };
    let mut set = Box::new([false; 256]);
    for (k, v) in set.iter_mut().enumerate() {
        *v = u8::try_from(k).is_ok_and(test);
    }
    Ok(set)
}

fn escape(e: u8) -> Result<Node, String> {
    let word = |negate: bool| {
        let mut set = Box::new([false; 256]);
        for (k, v) in set.iter_mut().enumerate() {
            *v = u8::try_from(k).is_ok_and(is_word) != negate;
        }
        Node::Class(set)
    };
    let space = |negate: bool| {
        let mut set = Box::new([false; 256]);
        for (k, v) in set.iter_mut().enumerate() {
            *v = u8::try_from(k)
                .is_ok_and(|b| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
                != negate;
        }
        Node::Class(set)
    };
    Ok(match e {
        b'1'..=b'9' => return Err("back-references are not supported".into()),
        b'w' => word(false),
        b'W' => word(true),
        b's' => space(false),
        b'S' => space(true),
        b'b' => Node::Assert(Anchor::WordBoundary),
        b'B' => Node::Assert(Anchor::NotWordBoundary),
        b'<' => Node::Assert(Anchor::WordStart),
        b'>' => Node::Assert(Anchor::WordEnd),
        b'`' => Node::Assert(Anchor::Start),
        b'\'' => Node::Assert(Anchor::End),
        c => Node::Byte(c),
    })
}

#[cfg(test)]
mod tests {
    use super::Regex;

    fn m(p: &str, t: &str) -> bool {
        Regex::new(p).unwrap().is_match(t.as_bytes())
    }

    #[test]
    fn the_patterns_init_scripts_give_mountinfo() {
        assert!(m("^/(dev|proc|run|sys)$", "/proc"));
        assert!(!m("^/(dev|proc|run|sys)$", "/proc/sys"));
        assert!(m("^(cgroup|cgroup2)$", "cgroup2"));
        assert!(m("^/(dev|proc|sys|run)(/.*)?$", "/sys/fs/cgroup"));
        assert!(!m("^/(dev|proc|sys|run)(/.*)?$", "/srv"));
        assert!(m("nfs", "nfs4"));
        assert!(m("(^|,)_netdev(,|$)", "rw,_netdev"));
        assert!(!m("(^|,)_netdev(,|$)", "rw,x_netdev"));
        assert!(m("^/mnt/[a-z]+[0-9]{1,2}$", "/mnt/disk12"));
        assert!(!m("^/mnt/[a-z]+[0-9]{1,2}$", "/mnt/disk123"));
        assert!(m("[[:digit:]]", "a1"));
        assert!(m("^[^/]", "x/"));
        assert!(m("[]x]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("a|", "zzz"));
        assert!(m("a)", "xa)"));
        assert!(m("^ab{,2}c$", "ac") && m("^ab{,2}c$", "abbc") && !m("^ab{,2}c$", "abbbc"));
        assert!(m("\\.", "a.b") && !m("\\.", "ab"));
        assert!(m("\\<proc\\>", "/proc/x") && !m("\\<proc\\>", "/procx"));
    }

    #[test]
    fn invalid_patterns_are_errors_not_panics() {
        let long = [
            "a*".repeat(100_000),
            format!("a{}", "*".repeat(100_000)),
            format!("{}a{}", "(".repeat(300), ")".repeat(300)),
        ];
        let fixed = [
            "(",
            "[",
            "[a",
            "*a",
            "a{",
            "a{2,1}",
            "\\",
            "[[:nope:]]",
            "a\\1",
            "+",
            "[z-a]",
            "a{99999}",
            "^*",
            "(){32767}{32767}{32767}",
        ];
        for p in fixed.iter().copied().chain(long.iter().map(String::as_str)) {
            assert!(Regex::new(p).is_err(), "{p:?} compiled");
        }
    }

    #[test]
    fn a_pathological_pattern_stays_linear() {
        let r = Regex::new("(a*)*(a*)*(a*)*b").unwrap();
        let t = "a".repeat(20_000);
        assert!(!r.is_match(t.as_bytes()));
    }
}
