//! The crate's layout, as ARCHITECTURE.md draws it: the module graph read from the
//! `crate::` paths of `src/` (code, not doc links) follows the table of what each top-level
//! module may use, and has no cycle; no source file is over 600 lines; every file opens
//! with a doc comment saying what it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each top-level module may use (ARCHITECTURE.md, "Modules").
const MAY_USE: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("clock", &[]),
    ("config", &["clock", "error", "respond"]),
    ("claims", &["config", "clock", "error"]),
    ("authorization", &["claims", "config", "error"]),
    (
        "denylist",
        &["clock", "error", "redis_connection", "telemetry"],
    ),
    ("respond", &["error"]),
    ("redis_connection", &["error"]),
    ("throttle", &["clock", "audit", "error", "redis_connection"]),
    ("audit", &[]),
    ("telemetry", &["error", "throttle"]),
    (
        "verify",
        &[
            "config",
            "claims",
            "clock",
            "denylist",
            "error",
            "authorization",
            "telemetry",
        ],
    ),
    ("issue", &["config", "clock", "error"]),
    ("keys", &["config"]),
    (
        "manager",
        &[
            "config",
            "claims",
            "clock",
            "denylist",
            "error",
            "issue",
            "respond",
            "verify",
            "audit",
            "telemetry",
        ],
    ),
    ("cookies", &["manager", "config", "error"]),
    (
        "jwks",
        &[
            "manager",
            "config",
            "respond",
            "error",
            "clock",
            "telemetry",
        ],
    ),
    ("metadata", &["manager", "config", "respond"]),
    (
        "guard",
        &[
            "cookies",
            "manager",
            "verify",
            "issue",
            "config",
            "claims",
            "respond",
            "error",
            "audit",
            "telemetry",
        ],
    ),
    ("password", &["telemetry"]),
    ("sessions", &["claims", "error", "redis_connection"]),
    (
        "service",
        &[
            "guard",
            "cookies",
            "manager",
            "password",
            "sessions",
            "issue",
            "config",
            "claims",
            "respond",
            "error",
            "throttle",
            "audit",
            "telemetry",
        ],
    ),
    (
        "axum",
        &[
            "guard", "manager", "verify", "config", "claims", "respond", "error",
        ],
    ),
    (
        "tonic",
        &[
            "guard", "manager", "verify", "config", "claims", "respond", "error",
        ],
    ),
    (
        "testing",
        &[
            "service", "guard", "manager", "issue", "config", "claims", "clock", "denylist",
            "password", "respond", "error",
        ],
    ),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`None` for `lib.rs`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "lib").then(|| name.to_owned())
}

/// The modules named by `crate::<name>` and `crate::{<name>, ...}` in `code`.
fn referenced(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                names.insert(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
    names
}

/// The root re-exports of `lib.rs` (`pub use <module>::{A, B as C};`): the name at the
/// root, and the module that holds it, so that `crate::A` counts as a use of `<module>`.
fn root_reexports(lib: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    let code: String = lib
        .lines()
        .filter(|line| !line.trim_start().starts_with("//") && !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ");
    for statement in code.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = path.split_once("::") else {
            continue;
        };
        let module = module.trim();
        if !modules.contains(module) {
            continue; // another crate's item (e.g. `cookie::SameSite`)
        }
        // The last path segment or each item of a `{...}` group, under its root name.
        let items = match (items.find('{'), items.rfind('}')) {
            (Some(open), Some(close)) => items[open + 1..close].to_owned(),
            _ => items.rsplit("::").next().unwrap_or_default().to_owned(),
        };
        for item in items.split(',') {
            let name = item.rsplit(" as ").next().unwrap_or_default();
            let name = name.rsplit("::").next().unwrap_or_default().trim();
            if !name.is_empty() {
                names.insert(name.to_owned(), module.to_owned());
            }
        }
    }
    names
}

#[test]
fn root_reexports_are_read() {
    let modules: BTreeSet<String> = ["claims", "guard", "manager"].map(String::from).into();
    let lib = "pub use claims::{Freshness, VerifiedToken};\n\
               #[cfg(feature = \"x\")]\n\
               pub use guard::{\n    JwtRequired,\n    layer::GuardLayer as Layer,\n};\n\
               pub use manager::JwtManager;\npub use cookie::SameSite;\n";
    let names = root_reexports(lib, &modules);
    assert_eq!(names["VerifiedToken"], "claims");
    assert_eq!(names["JwtRequired"], "guard");
    assert_eq!(names["Layer"], "guard");
    assert_eq!(names["JwtManager"], "manager");
    assert!(!names.contains_key("SameSite"));
}

#[test]
fn the_module_graph_follows_the_layers_and_has_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let allowed: BTreeMap<&str, &[&str]> = MAY_USE.iter().copied().collect();
    let reexported = root_reexports(
        &std::fs::read_to_string(src.join("lib.rs")).unwrap(),
        &modules,
    );

    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        // Unit tests may use anything: in a file of their own (`tests.rs`, a `#[cfg(test)]`
        // module) or at the end of a file (`#[cfg(test)] mod tests`).
        if file.file_name().is_some_and(|name| name == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let text = match text.find("#[cfg(test)]\nmod tests") {
            Some(at) => &text[..at],
            None => &text[..],
        };
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let uses = graph.entry(module.clone()).or_default();
        for name in referenced(&code) {
            // `crate::JwtManager` is a use of `manager`, through the root's re-export.
            let name = reexported.get(&name).cloned().unwrap_or(name);
            if name != module && modules.contains(&name) {
                uses.insert(name);
            }
        }
    }
    println!("module graph (what each module uses):");
    for (module, uses) in &graph {
        println!("  {module} -> {uses:?}");
    }

    for (module, uses) in &graph {
        let may = allowed
            .get(module.as_str())
            .unwrap_or_else(|| panic!("module `{module}` is not in the layout table"));
        for used in uses {
            assert!(
                may.contains(&used.as_str()),
                "`{module}` uses `{used}`, which ARCHITECTURE.md does not allow"
            );
        }
    }

    // No cycle: repeatedly remove modules that use nothing left.
    let mut left = graph.clone();
    while !left.is_empty() {
        let leaves: Vec<String> = left
            .iter()
            .filter(|(_, uses)| uses.iter().all(|u| !left.contains_key(u)))
            .map(|(m, _)| m.clone())
            .collect();
        assert!(
            !leaves.is_empty(),
            "the module graph has a cycle among {:?}",
            left.keys()
        );
        for leaf in leaves {
            left.remove(&leaf);
        }
    }
}

#[test]
fn source_files_are_small_and_say_what_they_hold() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text.lines().count();
        let name = file.strip_prefix(root).unwrap().display();
        assert!(lines <= 600, "{name} has {lines} lines (at most ~600)");
        assert!(
            text.starts_with("//!"),
            "{name} does not open with a doc comment saying what it holds"
        );
    }
}
