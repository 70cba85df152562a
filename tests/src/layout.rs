//! The layering check: no import circles between a crate's modules.
//!
//! A module's edges are the modules it names through `crate::…` and `super::…` paths
//! (resolved to the deepest module file that exists). A parent's own relative uses of its
//! children (`mod.rs` declaring and assembling them) are not edges: a directory module is
//! its children's facade. Test modules (`#[cfg(test)]` to the end of a file) are ignored.
//! This is what rust-analyzer's layering and the issue's review mean by a circle: two
//! files that each need the other, so neither can be read or changed alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The module graph of the crate whose `src` directory is `src`: module path → the
/// modules it uses.
pub fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    collect(src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(src, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let text = match text.find("#[cfg(test)]") {
            Some(i) => &text[..i],
            None => &text[..],
        };
        let text = without_comments(text);
        let text = text.as_str();
        let edges = graph.entry(module.clone()).or_default();
        for path in paths(text, "crate::") {
            if let Some(target) = deepest(&modules, &path)
                && target != module
                && !module.starts_with(&format!("{target}::"))
            {
                edges.insert(target);
            }
        }
        let parent: Vec<&str> = module.split("::").collect();
        let parent = parent[..parent.len().saturating_sub(1)].join("::");
        for path in paths(text, "super::") {
            let full = if parent.is_empty() {
                path
            } else {
                format!("{parent}::{path}")
            };
            if let Some(target) = deepest(&modules, &full)
                && target != module
                && target != parent
            {
                edges.insert(target);
            }
        }
    }
    graph
}

/// The circles of `graph` (strongly connected components of more than one module).
pub fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's algorithm, iterative enough for a crate's few hundred modules.
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(edges) = s.graph.get(v) {
            for w in edges {
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
                s.found.push(component);
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
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found.sort();
    s.found
}

/// Fail with every circle of the crate at `manifest_dir` (its `CARGO_MANIFEST_DIR`).
pub fn assert_no_module_cycles(manifest_dir: &str) {
    let graph = module_graph(&Path::new(manifest_dir).join("src"));
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "import circles in {manifest_dir}/src (each line: modules that need each other):\n{}",
        found
            .iter()
            .map(|c| format!("  {}", c.join(" ↔ ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// `text` without line comments (doc comments name modules without using them). A `//`
/// inside a string literal cuts the rest of that line too, which only loses paths.
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `a/b.rs` and `a/b/mod.rs` → `a::b`; the crate roots and `bin/` are not modules.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.is_empty() || (parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main")) {
        return None;
    }
    Some(parts.join("::"))
}

/// Every path after `prefix` in `text` (`crate::a::b::C` → `a::b::C`), with grouped uses
/// expanded (`crate::{a::X, b}` → `a::X`, `b`). Stops at the first character that cannot
/// be part of a path.
fn paths(text: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        // `super::super::x`: only the first hop is resolved against the parent.
        let rest_trim = rest.trim_start_matches("super::");
        if let Some(group) = rest_trim.strip_prefix('{') {
            for item in split_group(group) {
                out.push(item);
            }
        } else {
            let path: String = rest_trim
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.push(path.trim_end_matches(':').to_owned());
        }
    }
    out
}

/// The top-level entries of a `{…}` group (the text after `{`), each as a path.
fn split_group(group: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in group.chars() {
        match c {
            '{' => {
                depth += 1;
                current.push(c);
            }
            '}' if depth == 0 => break,
            '}' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    items.push(current);
    items
        .into_iter()
        .map(|i| {
            i.trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect::<String>()
                .trim_end_matches(':')
                .to_owned()
        })
        .filter(|i| !i.is_empty() && i != "self")
        .collect()
}

/// The deepest module of `modules` that `path` names or is inside of.
fn deepest(modules: &BTreeSet<String>, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|m| modules.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        let p = dir.join(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn finds_a_circle_through_crate_and_super_paths() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path();
        write(src, "lib.rs", "pub mod a; pub mod b; pub mod p;");
        write(
            src,
            "a.rs",
            "use crate::b::Thing;\n/// Unlike [`crate::p`], this is a comment.",
        );
        write(
            src,
            "b.rs",
            "use crate::{a::Other, p};\n#[cfg(test)]\nuse crate::p::q;",
        );
        write(src, "p/mod.rs", "mod q; mod r; pub use q::X;");
        write(src, "p/q.rs", "use super::r::Y; use super::Z;");
        write(src, "p/r.rs", "use super::q::X;");
        let graph = module_graph(src);
        assert_eq!(graph["b"], BTreeSet::from(["a".into(), "p".into()]));
        // A child naming its parent is not an edge; siblings are.
        assert_eq!(graph["p::q"], BTreeSet::from(["p::r".into()]));
        let found = cycles(&graph);
        assert_eq!(
            found,
            vec![
                vec!["a".to_owned(), "b".to_owned()],
                vec!["p::q".to_owned(), "p::r".to_owned()],
            ]
        );
    }
}
