//! Guards that keep the crate's shape (DESIGN.md §2). They read the source, not the compiled
//! crate:
//!
//! - every `crate::X` path in `src/` (in `use` items, grouped `use crate::{a::b, c}` and inline
//!   paths in code; `holdline::X` in `main.rs`, which is a crate of its own) is an import edge
//!   between top-level modules, and each edge must be in [`ALLOWED`], the module graph written
//!   out; an allowed edge nothing uses any more fails too, so the list stays the real graph;
//! - `queue` imports only `time`, and the other bottom modules (`sip`, `rtp`, `audio`, `store`)
//!   only `time` too, whatever [`ALLOWED`] says;
//! - `tokio` appears only at the IO edge (`runtime`, `api`, `main`);
//! - every `#[allow(...)]` in src, bench/src, testkit/src and tests says why, on its line or in a
//!   `//` comment right above it.
//!
//! Comments and string literals are blanked out before any of this is read, so prose and log
//! targets do not count. Not checked: `super::` paths that climb out of a top-level module are
//! reported as an error rather than resolved (write such a path as `crate::X`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// The import edges between top-level modules (`from → to`): the real graph, checked against
/// DESIGN.md §2 (`main → runtime → api → b2bua → { queue, sip, rtp, audio, number }`,
/// `runtime → store, config`, `config → { queue, number, sip }`, the bottom modules import only
/// `time`). Where the code differs: `api` and `b2bua` sit side by side under `runtime` (the
/// API talks to the call path through the runtime, never by import), `b2bua` reaches media
/// only through the runtime, and the edges §2 does not draw say why beside them.
const ALLOWED: &[(&str, &str)] = &[
    // The command line: `serve` starts the runtime; the rest call the library directly.
    ("main", "runtime"),
    ("main", "api"), // the admin commands (`queue`, `user`, …) are the API's client
    ("main", "config"), // `check-config` and `--listen` parsing
    ("main", "audio"), // `media probe|convert`
    // The IO edge drives every core below it, so it may import any of them.
    ("runtime", "api"),
    ("runtime", "b2bua"),
    ("runtime", "store"),
    ("runtime", "config"),
    ("runtime", "sip"),   // the SIP transports and the transaction layer's timers
    ("runtime", "rtp"),   // the pacer shards and relays run rtp's sans-IO state
    ("runtime", "audio"), // loads prompts from files into the cache
    ("runtime", "queue"), // turns the engine's events into the event log's rows
    ("runtime", "time"),
    // The admin API edits provisioning: it validates with config, stores with store, checks a
    // prompt file decodes before accepting it, and parses the numbers it is given.
    ("api", "config"),
    ("api", "store"),
    ("api", "audio"),
    ("api", "number"),
    ("api", "reports"), // the reports and wallboard routes render the reports' figures
    // Reports add up the event log's rows (the store's borrowed row type and event kinds).
    ("reports", "store"),
    ("api", "time"), // the console's sessions and sign-in limit run on virtual time
    // The call core. b2bua → config: `settings` is what b2bua derives from the configuration.
    ("b2bua", "queue"),
    ("b2bua", "sip"),
    ("b2bua", "number"),
    ("b2bua", "config"),
    ("b2bua", "time"),
    // The configuration converts into the engine's vocabulary and parses numbers and URIs.
    ("config", "queue"),
    ("config", "number"),
    ("config", "sip"),
    ("number", "sip"), // matching a Request-URI against a number reads the URI (sip::uri)
    // The bottom modules.
    ("sip", "time"),
    ("queue", "time"),
    ("rtp", "time"),
    // NOT in DESIGN.md §2 (rtp "imports only time"): rtp transcodes PCMU ⇄ PCMA with audio's
    // G.711 `Law` and re-exports it. Kept until G.711 moves to a leaf both use, or §2 draws it.
    ("rtp", "audio"),
];

/// Edges from a bottom module to another module than `time` that are known and not yet fixed
/// (each one is also in [`ALLOWED`] with its reason). Keep this list short; `queue` may never
/// appear in it.
const BOTTOM_EXCEPTIONS: &[(&str, &str)] = &[("rtp", "audio")];

/// Modules that sit at the bottom of the graph and import only `time`.
const BOTTOM: &[&str] = &["sip", "rtp", "audio", "queue", "store"];

/// Where `tokio` may be used: the IO edge. `runtime` owns sockets, tasks and the clock; `api` is
/// axum's HTTP edge (its listener, its handlers' `spawn_blocking` around SQLite, the watch and
/// broadcast channels it shares with the runtime); `main` may build a runtime. `store` does IO
/// too (its SQLite file) but synchronously, without tokio.
const TOKIO_ALLOWED: &[&str] = &["runtime", "api", "main"];

const WHAT_TO_DO_EDGE: &str = "\
What to do: a lower module must not import a higher one (DESIGN.md §2). Move the code that needs
the import up (into the importing side's caller), move the shared type down, or pass the value in.
If the edge is right after all, the architecture changed: add it to ALLOWED in tests/architecture.rs
with a one-line reason, and draw it in DESIGN.md §2, README.md (Architecture) and src/lib.rs (# Layout).";

#[test]
fn imports_follow_the_module_graph() {
    let (edges, errors) = crate_edges();
    let allowed: BTreeSet<(&str, &str)> = ALLOWED.iter().copied().collect();
    let mut report = String::new();
    for e in &edges {
        if !allowed.contains(&(e.from.as_str(), e.to.as_str())) {
            let _ = writeln!(
                report,
                "  {}:{}: {} → {} is not allowed",
                e.file, e.line, e.from, e.to
            );
        }
    }
    for e in &errors {
        let _ = writeln!(report, "  {e}");
    }
    let used: BTreeSet<(&str, &str)> = edges
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .collect();
    let mut stale = String::new();
    for &(from, to) in ALLOWED {
        if !used.contains(&(from, to)) {
            let _ = writeln!(stale, "  {from} → {to}");
        }
    }
    let graph = render(&edges);
    assert!(
        report.is_empty(),
        "imports outside the module graph:\n{report}\n{WHAT_TO_DO_EDGE}\n\nThe graph today:\n{graph}"
    );
    assert!(
        stale.is_empty(),
        "allowed edges that no import uses any more:\n{stale}\nWhat to do: remove them from ALLOWED \
         in tests/architecture.rs, and from README.md (Architecture) and src/lib.rs (# Layout), so \
         the list stays the real graph.\n\nThe graph today:\n{graph}"
    );
}

#[test]
fn queue_imports_only_time() {
    let (edges, _) = crate_edges();
    let bad: Vec<String> = edges
        .iter()
        .filter(|e| e.from == "queue" && e.to != "time")
        .map(|e| format!("  {}:{}: queue → {}", e.file, e.line, e.to))
        .collect();
    assert!(
        bad.is_empty(),
        "the queue engine owns its vocabulary and imports only `time`:\n{}\nWhat to do: define the \
         type in `queue` and convert into it where it comes from (config converts its settings \
         into queue's types; b2bua resolves contacts and files).",
        bad.join("\n")
    );
}

#[test]
fn bottom_modules_import_only_time() {
    let (edges, _) = crate_edges();
    let bad: Vec<String> = edges
        .iter()
        .filter(|e| BOTTOM.contains(&e.from.as_str()) && e.to != "time")
        .filter(|e| !BOTTOM_EXCEPTIONS.contains(&(e.from.as_str(), e.to.as_str())))
        .map(|e| format!("  {}:{}: {} → {}", e.file, e.line, e.from, e.to))
        .collect();
    assert!(
        bad.is_empty(),
        "{} import only `time`:\n{}\nWhat to do: these are the sans-IO bottom of the graph; keep \
         them independent of each other and of everything above (pass values in, or move the \
         shared type down).",
        BOTTOM.join(", "),
        bad.join("\n")
    );
    assert!(!BOTTOM_EXCEPTIONS.iter().any(|&(from, _)| from == "queue"));
}

#[test]
fn tokio_only_at_the_io_edge() {
    let mut bad = Vec::new();
    for file in rust_files(&root().join("src")) {
        let module = top_module(&file);
        if TOKIO_ALLOWED.contains(&module.as_str()) {
            continue;
        }
        let code = code_only(&read(&file));
        for (n, line) in code.lines().enumerate() {
            if has_word(line, "tokio") {
                bad.push(format!("  {}:{}: `tokio` in {module}", rel(&file), n + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "tokio outside the IO edge ({}):\n{}\nWhat to do: the cores below the runtime are sans-IO: \
         take `now` and inputs as values and return outputs and timeouts; let `runtime` own the \
         task, socket, channel or sleep.",
        TOKIO_ALLOWED.join(", "),
        bad.join("\n")
    );
}

#[test]
fn every_allow_says_why() {
    let mut bad = Vec::new();
    for dir in ["src", "bench/src", "testkit/src", "tests"] {
        for file in rust_files(&root().join(dir)) {
            let text = read(&file);
            let raw: Vec<&str> = text.lines().collect();
            let code_text = code_only(&text);
            let code: Vec<&str> = code_text.lines().collect();
            for (n, line) in code.iter().enumerate() {
                if (line.contains("#[allow(") || line.contains("#![allow("))
                    && !has_reason(&raw, &code, n)
                {
                    bad.push(format!("  {}:{}: {}", rel(&file), n + 1, raw[n].trim()));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "#[allow] without a reason (DESIGN.md §6):\n{}\nWhat to do: say why the lint is wrong here, \
         in a `//` comment at the end of the line or on the line above \
         (`#[allow(dead_code)] // each test binary uses a different subset`), or fix the code and \
         drop the allow.",
        bad.join("\n")
    );
}

/// Whether the attribute on line `n` has a reason: a `//` comment at the end of its line, or a
/// plain `//` comment (not a doc comment, which describes the item) right above it, possibly
/// above other attributes of the same item. `raw` and `code` are the file's lines before and
/// after [`code_only`].
fn has_reason(raw: &[&str], code: &[&str], n: usize) -> bool {
    let kept = code[n].trim_end().len();
    if raw[n]
        .get(kept..)
        .is_some_and(|rest| rest.trim_start().starts_with("//"))
    {
        return true;
    }
    let mut i = n;
    while i > 0 {
        i -= 1;
        let above = raw[i].trim();
        if above.starts_with("#[") || above.starts_with("#![") {
            continue;
        }
        return above.starts_with("//") && !above.starts_with("///") && !above.starts_with("//!");
    }
    false
}

/// One import of a top-level module by another.
struct Edge {
    file: String,
    line: usize,
    from: String,
    to: String,
}

/// Every import edge between different top-level modules in `src/`, and the paths that could
/// not be read as one (a `super::` path out of its top-level module).
fn crate_edges() -> (Vec<Edge>, Vec<String>) {
    let mut edges = Vec::new();
    let mut errors = Vec::new();
    for file in rust_files(&root().join("src")) {
        let from = top_module(&file);
        let code = code_only(&read(&file));
        let line_of = |offset: usize| code[..offset].matches('\n').count() + 1;
        // `main.rs` is the binary crate: it reaches the library as `holdline::`.
        let roots: &[&str] = if from == "main" {
            &["crate", "holdline"]
        } else {
            &["crate"]
        };
        let found = imports(&code, roots, module_depth(&file));
        for (to, offset) in found.names {
            if to != from {
                edges.push(Edge {
                    file: rel(&file),
                    line: line_of(offset),
                    from: from.clone(),
                    to,
                });
            }
        }
        for offset in found.climbs_out {
            errors.push(format!(
                "{}:{}: a `super::` path climbs out of `{from}`: write it as `crate::…` so this \
                 test sees the edge",
                rel(&file),
                line_of(offset)
            ));
        }
    }
    (edges, errors)
}

/// What [`imports`] found in one file.
struct Found {
    /// Top-level module names with their byte offsets.
    names: Vec<(String, usize)>,
    /// Offsets of `super::` paths that climb to the crate root.
    climbs_out: Vec<usize>,
}

/// The top-level modules a file's code names: `root::X`, `root::{X::…, Y}`, and `super::…` paths
/// that climb to the crate root from `depth` (the file's module depth; inline `mod x { … }`
/// blocks add one).
fn imports(code: &str, roots: &[&str], depth: usize) -> Found {
    let b = code.as_bytes();
    let mut found = Found {
        names: Vec::new(),
        climbs_out: Vec::new(),
    };
    let mut braces = 0usize;
    let mut inline_mods: Vec<usize> = Vec::new();
    let mut pending_mod = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' => {
                braces += 1;
                if pending_mod {
                    inline_mods.push(braces);
                    pending_mod = false;
                }
                i += 1;
                continue;
            }
            b'}' => {
                if inline_mods.last() == Some(&braces) {
                    inline_mods.pop();
                }
                braces = braces.saturating_sub(1);
                i += 1;
                continue;
            }
            b';' => pending_mod = false,
            _ => {}
        }
        let word_start = i == 0 || !is_ident(b[i - 1]);
        if !word_start || !is_ident(b[i]) {
            i += 1;
            continue;
        }
        let word_end = (i..b.len()).find(|&j| !is_ident(b[j])).unwrap_or(b.len());
        let word = &code[i..word_end];
        let after_path = i >= 2 && &b[i - 2..i] == b"::";
        if word == "mod" {
            pending_mod = true;
        } else if roots.contains(&word) && !after_path && b[word_end..].starts_with(b"::") {
            // `$crate::` counts the same as `crate::`; `pub(crate)` has no `::` after it.
            names_after(code, word_end + 2, &mut found.names);
        } else if word == "super" && !after_path {
            let mut j = i;
            let mut climbs = 0;
            while b[j..].starts_with(b"super::") {
                climbs += 1;
                j += "super::".len();
            }
            if climbs > 0 && climbs >= depth + inline_mods.len() {
                found.climbs_out.push(i);
            }
            i = j.max(word_end);
            continue;
        }
        i = word_end;
    }
    found
}

/// The first path segment at `at`, or each group member's first segment for `{a::b, c}`.
fn names_after(code: &str, at: usize, out: &mut Vec<(String, usize)>) {
    let b = code.as_bytes();
    let mut i = at;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    if i < b.len() && b[i] == b'{' {
        // A group: take the first segment of each top-level member.
        let mut depth = 0;
        let mut expect_name = true;
        i += 1;
        while i < b.len() {
            match b[i] {
                b'{' => depth += 1,
                b'}' if depth == 0 => return,
                b'}' => depth -= 1,
                b',' if depth == 0 => expect_name = true,
                c if expect_name && is_ident(c) => {
                    let end = (i..b.len()).find(|&j| !is_ident(b[j])).unwrap_or(b.len());
                    if &code[i..end] != "self" {
                        out.push((code[i..end].to_owned(), i));
                    }
                    expect_name = false;
                    i = end;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    } else {
        let end = (i..b.len()).find(|&j| !is_ident(b[j])).unwrap_or(b.len());
        if end > i {
            out.push((code[i..end].to_owned(), i));
        }
    }
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn has_word(line: &str, word: &str) -> bool {
    let b = line.as_bytes();
    line.match_indices(word).any(|(i, _)| {
        let end = i + word.len();
        (i == 0 || !is_ident(b[i - 1])) && (end == b.len() || !is_ident(b[end]))
    })
}

/// The source with comments and the contents of string and char literals replaced by spaces,
/// byte for byte (newlines kept), so offsets and line numbers still match the file.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let prev_ident = i > 0 && is_ident(b[i - 1]);
        if b[i..].starts_with(b"//") {
            let end = (i..b.len()).find(|&j| b[j] == b'\n').unwrap_or(b.len());
            blank(&mut out, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            let mut j = i;
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if !prev_ident && raw_string_start(&b[i..]).is_some() {
            let (open, hashes) = raw_string_start(&b[i..]).unwrap_or((0, 0));
            let body = i + open;
            let mut close = b"\"".to_vec();
            close.extend(std::iter::repeat_n(b'#', hashes));
            let end = (body..b.len())
                .find(|&j| b[j..].starts_with(&close))
                .unwrap_or(b.len());
            blank(&mut out, body, end);
            i = (end + close.len()).min(b.len());
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = j.min(b.len());
            blank(&mut out, i + 1, end);
            i = end + 1;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}', '"') or a lifetime ('a).
            if b.get(i + 1) == Some(&b'\\') {
                // The escape is at least two bytes (`\n`, `\'`), so the closing quote is after them.
                let end = (i + 3..b.len()).find(|&j| b[j] == b'\'').unwrap_or(b.len());
                blank(&mut out, i + 1, end);
                i = end + 1;
            } else if b.get(i + 2) == Some(&b'\'') {
                blank(&mut out, i + 1, i + 2);
                i += 3;
            } else if let Some(len) = multibyte_char_literal(&b[i + 1..]) {
                blank(&mut out, i + 1, i + 1 + len);
                i += len + 2;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("blanking keeps UTF-8: only ASCII bytes and whole characters")
}

/// `r"`, `r#"`, `br"`, `br#"` at the start of `b`: the length of the opening and the hashes.
fn raw_string_start(b: &[u8]) -> Option<(usize, usize)> {
    let r = match b {
        [b'r', ..] => 1,
        [b'b', b'r', ..] => 2,
        _ => return None,
    };
    let hashes = b[r..].iter().take_while(|&&c| c == b'#').count();
    (b.get(r + hashes) == Some(&b'"')).then_some((r + hashes + 1, hashes))
}

/// A char literal holding one non-ASCII character (`'—'`): its length in bytes.
fn multibyte_char_literal(b: &[u8]) -> Option<usize> {
    let len = match b.first()? {
        c if *c >= 0xF0 => 4,
        c if *c >= 0xE0 => 3,
        c if *c >= 0xC0 => 2,
        _ => return None,
    };
    (b.get(len) == Some(&b'\'')).then_some(len)
}

/// The top-level module a file belongs to: the first path component under `src/` (`main.rs`
/// and `lib.rs` are `main` and `lib`).
fn top_module(file: &Path) -> String {
    let under = file
        .strip_prefix(root().join("src"))
        .expect("a file under src/");
    let first = under
        .components()
        .next()
        .expect("a path")
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// How deep the file's module sits below the crate root (`lib.rs` 0, `sip.rs` and
/// `sip/mod.rs` 1, `sip/parse/mod.rs` and `sip/uri.rs` 2).
fn module_depth(file: &Path) -> usize {
    let under = file
        .strip_prefix(root().join("src"))
        .expect("a file under src/");
    let parts = under.components().count();
    let name = under.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match name {
        "lib.rs" | "main.rs" if parts == 1 => 0,
        "mod.rs" => parts - 1,
        _ => parts,
    }
}

/// The graph as `from → to, to, …` lines, for failure messages.
fn render(edges: &[Edge]) -> String {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in edges {
        graph.entry(&e.from).or_default().insert(&e.to);
    }
    graph
        .iter()
        .map(|(from, to)| {
            format!(
                "  {from} → {}",
                to.iter().copied().collect::<Vec<_>>().join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rel(file: &Path) -> String {
    file.strip_prefix(root())
        .unwrap_or(file)
        .display()
        .to_string()
}

fn read(file: &Path) -> String {
    fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()))
}

/// Every `.rs` file under `dir`, sorted, so failures come in a stable order.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = fs::read_dir(&d).unwrap_or_else(|e| panic!("reading {}: {e}", d.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

// The reader itself: a wrong reading would let edges through unseen.
#[test]
fn reader_sees_grouped_inline_and_nested_paths_but_not_comments() {
    let src = "use crate::{a::b, c, d::{e, f}};\n\
               // crate::commented\n\
               fn g() { let _ = crate::h::I; let s = \"crate::in_string\"; let c = '\"'; let q = '\\''; }\n\
               pub(crate) fn j() { let _ = x::crate::y; }\n\
               mod k { use super::super::escaped; use super::fine; }\n";
    let found = imports(&code_only(src), &["crate"], 1);
    let names: Vec<&str> = found.names.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a", "c", "d", "h"]);
    assert_eq!(found.climbs_out.len(), 1);

    let lines = |s: &'static str| s.lines().collect::<Vec<_>>();
    let reason = |s: &'static str| {
        let raw = lines(s);
        let code = code_only(s);
        let code: Vec<&str> = code.lines().collect();
        has_reason(&raw, &code, raw.len() - 1)
    };
    assert!(reason("#[allow(x)] // why"));
    assert!(reason("// why\n#[allow(x)]"));
    assert!(reason("// why\n#[cfg(test)]\n#[allow(x)]"));
    assert!(!reason("#[allow(x)]"));
    assert!(!reason("/// Docs.\n#[allow(x)]"));
    assert!(!reason("//! Module docs.\n#![allow(x)]"));
    assert!(!reason("\n#[allow(x)]"));
    assert!(!reason(
        "#[allow(x)] fn f() -> &'static str { \"http://x\" }"
    ));
}
