//! `cargo xtask modgraph`: the kernel's module import graph.
//!
//! Reads the sources of the kernel crate (`kernel/src`, or `--src DIR`)
//! and prints, for each module at depth `--depth` (1: `proc`, `syscall`,
//! `fs`...; 2: `proc::fork`, `syscall::fs`...), the modules it names with
//! a `crate::` path, then the import cycles (the strongly connected
//! components with more than one module). Paths of the `abi` crate count
//! as the module `abi` (except in a file that imports `elf::abi`). A
//! textual scan, not a compiler pass: a path in a `//` comment is skipped,
//! one in a string is not; a path is cut to the longest module that has a
//! file (`crate::proc::fork::fork1` is `proc::fork`), and one that names an item
//! of the crate root (a macro) is no edge; `super::` paths stay inside
//! their module at depth 1 and are resolved at depth 2. `--no-tests`
//! leaves out `*_ktests.rs` and `tests.rs` files and `tests/`
//! directories. `--dot` prints Graphviz instead.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::repo_root;

#[derive(Args)]
pub struct ModgraphArgs {
    /// The crate's source directory (default: kernel/src).
    #[arg(long)]
    src: Option<PathBuf>,
    /// Module depth: 1 for top-level modules, 2 for their children.
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Leave out test files (`*_ktests.rs`, `tests.rs`, `tests/`).
    #[arg(long)]
    no_tests: bool,
    /// Print a Graphviz digraph instead of the text listing.
    #[arg(long)]
    dot: bool,
}

/// The import graph: module -> modules it names.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

pub fn main(args: &ModgraphArgs) -> Result<()> {
    if args.depth == 0 || args.depth > 2 {
        bail!("--depth must be 1 or 2 (got {})", args.depth);
    }
    let src = args
        .src
        .clone()
        .unwrap_or_else(|| repo_root().join("kernel/src"));
    let graph = scan(&src, args.depth, args.no_tests)?;
    if args.dot {
        print!("{}", to_dot(&graph));
    } else {
        print!("{}", to_text(&graph));
    }
    Ok(())
}

/// Reads every `.rs` file under `src` into the graph.
pub fn scan(src: &Path, depth: usize, no_tests: bool) -> Result<Graph> {
    let mut files = Vec::new();
    collect(src, &mut files)?;
    files.sort();
    let modules: Vec<(PathBuf, Vec<String>)> = files
        .into_iter()
        .filter_map(|file| {
            let rel = file.strip_prefix(src).expect("collected under src");
            if no_tests && is_test_file(rel) {
                return None;
            }
            let module = module_path(rel)?;
            Some((file, module))
        })
        .collect();
    let known: BTreeSet<String> = modules.iter().map(|(_, m)| m.join("::")).collect();
    let mut graph = Graph::new();
    for (file, module) in &modules {
        let text =
            fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        add_file(&mut graph, &known, module, &text, depth);
    }
    Ok(graph)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

fn is_test_file(rel: &Path) -> bool {
    rel.components().any(|c| c.as_os_str() == "tests")
        || rel
            .file_stem()
            .and_then(|s| s.to_str())
            .is_some_and(|s| s == "tests" || s.ends_with("_ktests"))
}

/// The module path of a source file relative to the crate root:
/// `proc/fork.rs` is `["proc", "fork"]`, `proc/mod.rs` `["proc"]`,
/// `lib.rs` `[]`.
pub fn module_path(rel: &Path) -> Option<Vec<String>> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_str().map(str::to_owned))
        .collect::<Option<_>>()?;
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if !(parts.is_empty() && (stem == "lib" || stem == "main")) && stem != "mod" {
        parts.push(stem.to_owned());
    }
    Some(parts)
}

/// The name of `module` cut to `depth` parts, and further to a module
/// in `known` (`proc::fork::fork1` is `proc::fork`: a path names items
/// too);
/// the crate root is `lib`, the `abi` crate `abi`. `None` for an item of
/// the crate root (a macro, a static).
fn node(known: &BTreeSet<String>, module: &[String], depth: usize) -> Option<String> {
    if module.is_empty() {
        return Some("lib".to_owned());
    }
    if module[0] == "abi" {
        return Some("abi".to_owned());
    }
    let mut len = module.len().min(depth);
    while len > 0 && !known.contains(&module[..len].join("::")) {
        len -= 1;
    }
    (len > 0).then(|| module[..len].join("::"))
}

/// Adds the edges of one file, the module `module`; `known` holds the
/// crate's modules by path.
pub fn add_file(
    graph: &mut Graph,
    known: &BTreeSet<String>,
    module: &[String],
    text: &str,
    depth: usize,
) {
    let Some(from) = node(known, module, depth) else {
        return;
    };
    // The `elf` crate has an `abi` module too.
    let abi_is_elf = text.contains("elf::abi");
    let targets = graph.entry(from.clone()).or_default();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for target in paths_in(code, module, depth) {
            if abi_is_elf && target[0] == "abi" {
                continue;
            }
            if let Some(to) = node(known, &target, depth)
                && to != from
            {
                targets.insert(to);
            }
        }
    }
}

/// The module paths a line of code names: `crate::a::b...`, `abi::...`
/// and, at depth 2, `super::...` resolved against `module` (at depth 1 a
/// `super::` path stays in its top-level module, the kernel's `mod tests`
/// blocks included), each cut to two parts.
fn paths_in(code: &str, module: &[String], depth: usize) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if !ident(bytes[i])
            || (i > 0 && (ident(bytes[i - 1]) || bytes[i - 1] == b':' || bytes[i - 1] == b'.'))
        {
            i += 1;
            continue;
        }
        let rest = &code[i..];
        let words = words_of(rest);
        match words.first().map(String::as_str) {
            Some("crate") if words.len() > 1 => {
                out.push(words[1..].iter().take(2).cloned().collect());
            }
            Some("abi") if words.len() > 1 => out.push(vec!["abi".to_owned()]),
            Some("super") if depth > 1 => {
                let ups = words.iter().take_while(|w| *w == "super").count();
                if ups <= module.len() {
                    let mut path = module[..module.len() - ups].to_vec();
                    path.extend(words[ups..].iter().take(2).cloned());
                    if !path.is_empty() {
                        out.push(path);
                    }
                }
            }
            _ => {}
        }
        i += words.first().map_or(1, |w| w.len().max(1));
    }
    out
}

/// The `::`-separated identifiers at the start of `s` (`a::b::{c, d}` is
/// `[a, b]`).
fn words_of(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = s;
    loop {
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        words.push(rest[..len].to_owned());
        match rest[len..].strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    words
}

/// The strongly connected components of more than one node (Tarjan).
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

/// One line per module (`from -> a, b, c`), then the cycles.
pub fn to_text(graph: &Graph) -> String {
    let mut out = String::new();
    for (from, to) in graph {
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        out += &format!("{from} -> {}\n", to.join(", "));
    }
    let cycles = cycles(graph);
    if cycles.is_empty() {
        out += "cycles: none\n";
    } else {
        for c in cycles {
            out += &format!("cycle: {}\n", c.join(" <-> "));
        }
    }
    out
}

/// A Graphviz digraph of the same edges.
pub fn to_dot(graph: &Graph) -> String {
    let mut out = String::from("digraph kernel {\n");
    for (from, to) in graph {
        for t in to {
            out += &format!("  \"{from}\" -> \"{t}\";\n");
        }
    }
    out += "}\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> Vec<String> {
        s.split("::")
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn file_names_become_module_paths() {
        assert_eq!(module_path(Path::new("lib.rs")), Some(vec![]));
        assert_eq!(module_path(Path::new("proc/mod.rs")), Some(parts("proc")));
        assert_eq!(
            module_path(Path::new("proc/signal/imp.rs")),
            Some(parts("proc::signal::imp"))
        );
        assert_eq!(module_path(Path::new("README.md")), None);
    }

    fn known() -> BTreeSet<String> {
        [
            "proc",
            "proc::fork",
            "proc::pid",
            "syscall",
            "syscall::nr",
            "fs",
        ]
        .map(String::from)
        .into()
    }

    #[test]
    fn crate_super_and_abi_paths_are_edges_comments_are_not() {
        let known = known();
        let mut g = Graph::new();
        let text = "use crate::syscall::Errno;\n\
                    use super::pid::Pid; // crate::vm::x in a comment\n\
                    let x = crate::fs::{Files, OpenFile};\n\
                    use abi::nr;\n\
                    crate::syscall::nr::READ;\n\
                    // use crate::task::Event;\n";
        add_file(&mut g, &known, &parts("proc::fork"), text, 1);
        let to: Vec<&str> = g["proc"].iter().map(String::as_str).collect();
        assert_eq!(to, ["abi", "fs", "syscall"]);
        let mut g2 = Graph::new();
        add_file(&mut g2, &known, &parts("proc::fork"), text, 2);
        let to: Vec<&str> = g2["proc::fork"].iter().map(String::as_str).collect();
        assert_eq!(to, ["abi", "fs", "proc::pid", "syscall", "syscall::nr"]);
    }

    #[test]
    fn identifiers_ending_in_crate_are_not_paths() {
        let mut g = Graph::new();
        add_file(
            &mut g,
            &known(),
            &parts("fs"),
            "let mycrate::b = 1; x.abi::y;",
            1,
        );
        assert!(g["fs"].is_empty());
        add_file(
            &mut g,
            &known(),
            &parts("proc"),
            "use elf::abi; abi::PF_R",
            1,
        );
        assert!(g["proc"].is_empty(), "the elf crate's abi module");
    }

    #[test]
    fn cycles_are_the_components_of_two_or_more() {
        let mut g = Graph::new();
        let edge = |g: &mut Graph, a: &str, b: &str| {
            g.entry(a.into()).or_default().insert(b.into());
        };
        edge(&mut g, "proc", "syscall");
        edge(&mut g, "syscall", "fs");
        edge(&mut g, "fs", "proc");
        edge(&mut g, "fs", "task");
        edge(&mut g, "task", "task");
        assert_eq!(cycles(&g), vec![parts("fs::proc::syscall")]);
        assert!(to_text(&g).contains("cycle: fs <-> proc <-> syscall"));
    }
}
