//! `rcinit graph`: the resolved graph and the plans.

use std::io::Write;

use anyhow::Result;
use clap::ValueEnum;
use serde::Serialize;

use super::image::ImageArgs;

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Dot,
    Json,
    /// OpenRC's dependency cache, as rcinit writes it to /run/openrc/deptree.
    Deptree,
}

#[derive(Serialize)]
struct Json<'a> {
    runlevel: &'a str,
    system: Option<&'a str>,
    #[serde(flatten)]
    graph: &'a crate::graph::Graph,
}

pub fn run(image: &ImageArgs, format: Format, out: &mut impl Write) -> Result<i32> {
    let l = image.load(false)?;
    let g = &l.graph;
    match format {
        Format::Deptree => write!(out, "{}", l.deptree())?,
        Format::Json => {
            let j = Json {
                runlevel: &l.runlevel,
                system: l.system.sys.as_deref(),
                graph: g,
            };
            serde_json::to_writer_pretty(&mut *out, &j)?;
            writeln!(out)?;
        }
        Format::Dot => {
            writeln!(out, "digraph rcinit {{")?;
            writeln!(out, "  rankdir=LR;")?;
            writeln!(out, "  node [shape=box];")?;
            for (i, wave) in g.start.iter().enumerate() {
                let names: Vec<String> = wave.iter().map(|s| format!("{s:?}")).collect();
                writeln!(
                    out,
                    "  {{ rank=same; {} }} // wave {}",
                    names.join("; "),
                    i + 1
                )?;
            }
            for (a, b) in &g.edges {
                writeln!(out, "  {a:?} -> {b:?};")?;
            }
            for (s, why) in &g.failed {
                writeln!(out, "  {s:?} [color=red, tooltip={why:?}];")?;
            }
            for (s, why) in &g.excluded {
                writeln!(out, "  {s:?} [style=dashed, tooltip={why:?}];")?;
            }
            writeln!(out, "}}")?;
        }
        Format::Text => {
            writeln!(
                out,
                "runlevel {} (system: {})",
                l.runlevel,
                l.system.sys.as_deref().unwrap_or("none")
            )?;
            writeln!(out, "start, wave by wave (a wave starts concurrently):")?;
            for (i, w) in g.start.iter().enumerate() {
                writeln!(out, "  {:>2}: {}", i + 1, w.join(" "))?;
            }
            writeln!(out, "stop:")?;
            for (i, w) in g.stop.iter().enumerate() {
                writeln!(out, "  {:>2}: {}", i + 1, w.join(" "))?;
            }
            for (s, why) in &g.failed {
                writeln!(out, "failed: {s}: {why}")?;
            }
            for (s, why) in &g.excluded {
                writeln!(out, "excluded: {s}: {why}")?;
            }
            for c in &g.cycles {
                writeln!(
                    out,
                    "ordering cycle: {} (broken at {} -> {}, as OpenRC's traversal does; all start)",
                    c.join(" -> "),
                    c[c.len() - 2],
                    c[c.len() - 1]
                )?;
            }
            if !g.assumed_provided.is_empty() {
                writeln!(
                    out,
                    "provided by the container: {}",
                    g.assumed_provided.join(" ")
                )?;
            }
            for w in &g.warnings {
                writeln!(out, "warning: {w}")?;
            }
        }
    }
    Ok(0)
}
