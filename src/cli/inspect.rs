//! `rcinit inspect`: what rcinit evaluated for each script.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Result, bail};
use serde::Serialize;

use super::image::ImageArgs;
use crate::graph::exclusion;
use crate::script::load::Loaded;
use crate::script::spec::Spec;

#[derive(Serialize)]
struct Item<'a> {
    name: &'a str,
    path: &'a str,
    need: &'a [String],
    #[serde(rename = "use")]
    use_: &'a [String],
    want: &'a [String],
    after: &'a [String],
    before: &'a [String],
    provide: &'a [String],
    keyword: &'a [String],
    config: &'a [String],
    excluded: Option<String>,
    error: Option<&'a str>,
    variables: &'a BTreeMap<String, String>,
    functions: &'a [String],
    argv: &'a [String],
    messages: &'a [String],
}

fn item<'a>(s: &'a Spec, sys: Option<&str>) -> Item<'a> {
    Item {
        name: &s.name,
        path: &s.path,
        need: &s.raw.need,
        use_: &s.raw.use_,
        want: &s.raw.want,
        after: &s.raw.after,
        before: &s.raw.before,
        provide: &s.raw.provide,
        keyword: &s.raw.keyword,
        config: &s.raw.config,
        excluded: if s.error.is_none() {
            exclusion(&s.raw.keyword, sys)
        } else {
            None
        },
        error: s.error.as_deref(),
        variables: &s.vars,
        functions: &s.functions,
        argv: &s.argv,
        messages: &s.messages,
    }
}

/// Runs `inspect`; returns the exit code.
pub fn run(image: &ImageArgs, names: &[String], json: bool, out: &mut impl Write) -> Result<i32> {
    let loaded = image.load(true)?;
    let mut picked: Vec<&Spec> = Vec::new();
    for n in names {
        match loaded.specs.iter().find(|s| &s.name == n) {
            Some(s) => picked.push(s),
            None => match loaded.files.iter().find(|f| &f.name == n) {
                Some(f) => bail!(
                    "{}: not a service script: {}",
                    f.path(),
                    f.skipped
                        .as_ref()
                        .map(|s| s.to_string())
                        .unwrap_or_default()
                ),
                None => bail!("no service {n} in /etc/init.d or /usr/local/etc/init.d"),
            },
        }
    }
    if names.is_empty() {
        picked = loaded.specs.iter().collect();
    }
    let sys = loaded.system.sys.as_deref();
    if json {
        let items: Vec<Item<'_>> = picked.iter().map(|s| item(s, sys)).collect();
        serde_json::to_writer_pretty(&mut *out, &items)?;
        writeln!(out)?;
    } else {
        header(&loaded, out)?;
        for s in picked {
            text(&item(s, sys), out)?;
        }
    }
    Ok(0)
}

/// The lines about the system that `inspect` and `lint` print first.
pub fn header(l: &Loaded, out: &mut impl Write) -> Result<()> {
    match &l.system.sys {
        Some(s) => writeln!(out, "system: {s} ({})", l.system.why)?,
        None => writeln!(out, "system: none ({})", l.system.why)?,
    }
    writeln!(out, "runlevel: {}", l.runlevel)?;
    if !l.assumed.is_empty() {
        writeln!(
            out,
            "taken as provided by the container when no service provides them: {}",
            l.assumed.join(" ")
        )?;
    }
    Ok(())
}

fn text(i: &Item<'_>, out: &mut impl Write) -> Result<()> {
    writeln!(out, "\n{} ({})", i.name, i.path)?;
    for (k, v) in [
        ("need", i.need),
        ("use", i.use_),
        ("want", i.want),
        ("after", i.after),
        ("before", i.before),
        ("provide", i.provide),
        ("keyword", i.keyword),
        ("config", i.config),
    ] {
        if !v.is_empty() {
            writeln!(out, "  {k}: {}", v.join(" "))?;
        }
    }
    if !i.argv.is_empty() {
        writeln!(out, "  argv: {}", shell_words::join(i.argv))?;
    }
    for (k, v) in i.variables {
        writeln!(out, "  {k}={}", shell_words::quote(v))?;
    }
    if !i.functions.is_empty() {
        writeln!(out, "  functions: {}", i.functions.join(" "))?;
    }
    if let Some(e) = &i.excluded {
        writeln!(out, "  excluded: {e}")?;
    }
    if let Some(e) = i.error {
        writeln!(out, "  error: {e}")?;
    }
    for m in i.messages {
        writeln!(out, "  says: {m}")?;
    }
    Ok(())
}
