//! `/etc/rc.conf` as OpenRC's C side reads it (E-12): `KEY=VALUE` lines, an optional `export `,
//! text after `#` dropped, the first pair of quotes stripped, the last assignment winning,
//! `/etc/rc.conf.d/*.conf` merged in sorted order. No expansion: a value computed by shell code
//! is invisible here, as it is to OpenRC's programs.

use std::collections::BTreeMap;
use std::path::Path;

use super::discover::resolve_in_root;

/// Parses one file's text into `out` (pure).
pub fn parse_into(text: &str, out: &mut BTreeMap<String, String>) {
    for line in text.lines() {
        let line = line.trim_start();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let value = value.split('#').next().unwrap_or("").trim();
        out.insert(key.to_owned(), strip_quotes(value).to_owned());
    }
}

/// Removes the first pair of matching quotes.
fn strip_quotes(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q) {
            return match inner.find(q) {
                Some(end) => &inner[..end],
                None => inner,
            };
        }
    }
    v
}

/// rc.conf and rc.conf.d of the image at `root`.
pub fn load(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(p) = resolve_in_root(root, "/etc/rc.conf")
        && let Ok(text) = std::fs::read_to_string(p)
    {
        parse_into(&text, &mut out);
    }
    if let Some(dir) = resolve_in_root(root, "/etc/rc.conf.d")
        && let Ok(rd) = std::fs::read_dir(dir)
    {
        let mut files: Vec<_> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "conf"))
            .collect();
        files.sort();
        for f in files {
            if let Ok(text) = std::fs::read_to_string(f) {
                parse_into(&text, &mut out);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_side_rules() {
        let mut m = BTreeMap::new();
        parse_into(
            "# comment\nrc_sys=\"docker\" # trailing\nexport rc_parallel='YES'\nrc_depend_strict=NO\n\
             rc_sys=lxc\nrc_env_allow=\"A B\"\nnot a line\nrc_x=$(echo no)\n",
            &mut m,
        );
        assert_eq!(m["rc_sys"], "lxc", "last assignment wins");
        assert_eq!(m["rc_parallel"], "YES");
        assert_eq!(m["rc_depend_strict"], "NO");
        assert_eq!(m["rc_env_allow"], "A B");
        assert_eq!(m["rc_x"], "$(echo no)", "no expansion");
        let mut m = BTreeMap::new();
        parse_into("rc_sys=\"\"\n", &mut m);
        assert_eq!(
            m["rc_sys"], "",
            "an empty rc_sys is kept: it disables detection"
        );
    }
}
