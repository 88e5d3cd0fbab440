//! No import cycle between the modules of `cli/src`: every arrow points one way.
//!
//! Reads the sources (no build of its own): the modules are found from `main.rs`
//! through `mod x;` (and inline `mod x { }`); an arrow goes from a module to every
//! module that a `use` or a path in its code names: `super::…`, `crate::…`,
//! `self::…`, or `child::…` for a child it declares. A path stops at the deepest
//! module it names, so `super::Item` (an item of the parent) is an arrow to the
//! parent. `mod x;` alone is no arrow, and comments and string literals are skipped.
//! The test fails on any strongly connected set of two or more modules, listing the
//! arrows inside it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The char at `j`, or NUL past the end.
fn ch(c: &[char], j: usize) -> char {
    c.get(j).copied().unwrap_or('\0')
}

/// The code of `src` with comments removed and string and char literals emptied.
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < c.len() {
        if c[i] == '/' && ch(&c, i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && ch(&c, i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && ch(&c, i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && ch(&c, i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c[i] == 'r'
            && (ch(&c, i + 1) == '"'
                || (ch(&c, i + 1) == '#' && matches!(ch(&c, i + 2), '"' | '#')))
            && (i == 0 || !is_ident(c[i - 1]))
        {
            // A raw string: r"…", r#"…"#, …
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (1..=hashes).all(|h| c.get(j + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c[i] == '\'' && (ch(&c, i + 1) == '\\' || ch(&c, i + 2) == '\'') {
            // A char literal ('x', '\n', '\u{..}'); otherwise a lifetime.
            i += 1;
            while i < c.len() && c[i] != '\'' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Whether `word` starts at byte `i` of `s` as a whole word.
fn word_at(s: &str, i: usize, word: &str) -> bool {
    s[i..].starts_with(word)
        && !s[..i].chars().next_back().is_some_and(is_ident)
        && !s[i + word.len()..].chars().next().is_some_and(is_ident)
}

/// The identifier at the start of `s`, after blanks.
fn ident(s: &str) -> &str {
    let s = s.trim_start();
    &s[..s.find(|c| !is_ident(c)).unwrap_or(s.len())]
}

struct Crate {
    /// Every module: its code (without inline child modules) and its children.
    modules: BTreeMap<Module, (String, Vec<String>)>,
}

impl Crate {
    fn load(root: &Path) -> Crate {
        let mut c = Crate {
            modules: BTreeMap::new(),
        };
        c.file(Vec::new(), &root.join("main.rs"), root.to_path_buf());
        c
    }

    /// Loads the module `m` from `file`, whose children live under `dir`.
    fn file(&mut self, m: Module, file: &Path, dir: PathBuf) {
        let src = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let code = code_only(&src);
        let mut outer = String::new();
        let mut files = Vec::new();
        let mut children = Vec::new();
        let mut rest = code.as_str();
        while let Some(at) = rest
            .match_indices("mod")
            .map(|(i, _)| i)
            .find(|&i| word_at(rest, i, "mod"))
        {
            let child = ident(&rest[at + 3..]).to_string();
            let after = rest[at + 3..].trim_start()[child.len()..].trim_start();
            let start = rest.len() - after.len();
            if after.starts_with(';') {
                outer.push_str(&rest[..start + 1]);
                rest = &rest[start + 1..];
                files.push(child.clone());
            } else if after.starts_with('{') {
                // An inline module: up to its matching brace.
                let mut depth = 0;
                let mut end = start;
                for (k, ch) in rest[start..].char_indices() {
                    depth += match ch {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    if depth == 0 {
                        end = start + k + 1;
                        break;
                    }
                }
                outer.push_str(&rest[..at]);
                let mut inner = m.clone();
                inner.push(child.clone());
                self.modules
                    .insert(inner, (rest[start..end].to_string(), Vec::new()));
                rest = &rest[end..];
            } else {
                outer.push_str(&rest[..start]);
                rest = &rest[start..];
                continue;
            }
            children.push(child);
        }
        outer.push_str(rest);
        self.modules.insert(m.clone(), (outer, children));
        for child in files {
            let (flat, nested) = (
                dir.join(format!("{child}.rs")),
                dir.join(&child).join("mod.rs"),
            );
            let mut cm = m.clone();
            cm.push(child.clone());
            if flat.exists() {
                self.file(cm, &flat, dir.join(&child));
            } else {
                self.file(cm, &nested, dir.join(&child));
            }
        }
    }

    /// The deepest module that `segs`, read from `base`, names.
    fn resolve(&self, mut base: Module, segs: &[&str]) -> Module {
        for s in segs {
            if *s == "self" {
                continue;
            }
            base.push(s.to_string());
            if !self.modules.contains_key(&base) {
                base.pop();
                break;
            }
        }
        base
    }

    /// The modules `m` uses.
    fn arrows(&self, m: &Module) -> BTreeSet<Module> {
        let (code, children) = &self.modules[m];
        let mut paths: Vec<String> = Vec::new();
        // `use` trees, expanded.
        for (i, _) in code.match_indices("use") {
            if !word_at(code, i, "use") {
                continue;
            }
            let body = &code[i + 3..code[i..].find(';').map_or(code.len(), |e| i + e)];
            let mut words: Vec<&str> = body.split_whitespace().collect();
            while let Some(k) = words.iter().position(|w| *w == "as") {
                words.drain(k..(k + 2).min(words.len()));
            }
            expand("", &words.concat(), &mut paths);
        }
        // Paths in the code.
        let roots: Vec<&str> = ["super", "crate", "self"]
            .into_iter()
            .chain(children.iter().map(String::as_str))
            .collect();
        for (i, _) in code.char_indices() {
            if code[..i].ends_with("::") {
                continue;
            }
            if let Some(r) = roots.iter().find(|r| word_at(code, i, r)) {
                let mut end = i + r.len();
                while code[end..].starts_with("::") {
                    let id = ident(&code[end + 2..]);
                    if id.is_empty() || code[end + 2..].starts_with(char::is_whitespace) {
                        break;
                    }
                    end += 2 + id.len();
                }
                if end > i + r.len() {
                    paths.push(code[i..end].to_string());
                }
            }
        }
        let mut out = BTreeSet::new();
        for p in &paths {
            let segs: Vec<&str> = p.split("::").filter(|s| !s.is_empty()).collect();
            let Some(first) = segs.first() else { continue };
            let mut base = m.clone();
            let rest = match *first {
                "crate" => {
                    base.clear();
                    &segs[1..]
                }
                "super" => {
                    let ups = segs.iter().take_while(|s| **s == "super").count();
                    base.truncate(base.len().saturating_sub(ups));
                    &segs[ups..]
                }
                "self" => &segs[1..],
                f if children.iter().any(|c| c == f) => &segs[..],
                _ => continue, // another crate (std, clap, sysvring, …)
            };
            let to = self.resolve(base, rest);
            if &to != m {
                out.insert(to);
            }
        }
        out
    }
}

/// The paths a `use` tree (blanks removed) names, e.g. `a::{b,c::{d,e}}`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let Some(open) = tree.find('{') else {
        out.push(format!("{prefix}{tree}"));
        return;
    };
    let head = format!("{prefix}{}", &tree[..open]);
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut depth, mut from) = (0, 0);
    for (k, ch) in inner.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&head, &inner[from..k], out);
                from = k + 1;
            }
            _ => {}
        }
    }
    if from < inner.len() {
        expand(&head, &inner[from..], out);
    }
}

#[test]
fn no_import_cycle_in_the_cli() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let krate = Crate::load(&src);
    let graph: BTreeMap<Module, BTreeSet<Module>> = krate
        .modules
        .keys()
        .map(|m| (m.clone(), krate.arrows(m)))
        .collect();
    let mut text = String::new();
    for (m, to) in &graph {
        if !to.is_empty() {
            let to: Vec<String> = to.iter().map(name).collect();
            text.push_str(&format!("  {} -> {}\n", name(m), to.join(", ")));
        }
    }
    eprintln!("{} modules under {}:\n{text}", graph.len(), src.display());

    // Reachability from every module; a cycle is a set of modules that reach one
    // another.
    let reach = |from: &Module| -> BTreeSet<Module> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for n in &graph[&m] {
                if seen.insert(n.clone()) {
                    todo.push(n.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&Module, BTreeSet<Module>> =
        graph.keys().map(|m| (m, reach(m))).collect();
    let mut cycles: BTreeSet<Vec<Module>> = BTreeSet::new();
    for (m, r) in &reached {
        if r.contains(*m) {
            let set: Vec<Module> = r
                .iter()
                .filter(|n| reached[n].contains(*m))
                .cloned()
                .collect();
            cycles.insert(set);
        }
    }
    let report: Vec<String> = cycles
        .iter()
        .map(|set| {
            let arrows: Vec<String> = set
                .iter()
                .flat_map(|a| {
                    graph[a]
                        .iter()
                        .filter(|b| set.contains(b))
                        .map(move |b| format!("{} -> {}", name(a), name(b)))
                })
                .collect();
            format!(
                "cycle among {}:\n    {}",
                set.iter().map(name).collect::<Vec<_>>().join(", "),
                arrows.join("\n    ")
            )
        })
        .collect();
    assert!(
        report.is_empty(),
        "cli/src has import cycles (move the shared item down, or into a leaf module):\n{}",
        report.join("\n")
    );

    // The reader found the modules and arrows it must (a parser that finds nothing
    // finds no cycle either).
    for (from, to) in [
        ("crate", "bench"),
        ("crate", "lifecycle"),
        ("bench::child", "bench::endpoints"),
        ("lifecycle", "lifecycle::address"),
        ("lifecycle::address", "lifecycle::text"),
    ] {
        let key = |s: &str| -> Module {
            if s == "crate" {
                Vec::new()
            } else {
                s.split("::").map(String::from).collect()
            }
        };
        assert!(
            graph.get(&key(from)).is_some_and(|t| t.contains(&key(to))),
            "the reader missed {from} -> {to}:\n{text}"
        );
    }
}
