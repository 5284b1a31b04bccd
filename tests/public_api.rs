//! The crate's public API as a snapshot, so that a change to it is a decision, not an
//! accident; and one public path per item.
//!
//! rustdoc's JSON (`cargo rustdoc -- -Z unstable-options --output-format json`, every feature,
//! stable toolchain with `RUSTC_BOOTSTRAP=1`) is walked from the crate root through public
//! modules and re-exports; each item reached is one line: its full path and signature (with
//! fields, variants, trait items, inherent items, trait impls, re-exported items of other
//! crates, `#[non_exhaustive]`, `#[must_use]`, `#[repr]`, `#[deprecated]`). The sorted lines
//! must equal `tests/data/public-api.txt`. To accept a change, run
//! `BLESS=1 cargo test --all-features --test public_api` (it rewrites the file), commit the
//! file and record the change in CHANGELOG.md.
//!
//! rustdoc runs in `<target dir>/public-api`, so it never waits on the lock of the `cargo
//! test` running it and `RUSTC_BOOTSTRAP` does not invalidate the normal build. The first run
//! checks the dependencies there (minutes); later runs document the crate only (seconds).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

const CRATE: &str = "tower_jwt_auth";

/// rustdoc's JSON of the crate, built once per test binary.
fn rustdoc_json() -> &'static Value {
    static JSON: OnceLock<Value> = OnceLock::new();
    JSON.get_or_init(|| {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from);
        let target = dir.unwrap_or(manifest.join("target")).join("public-api");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let output = Command::new(cargo)
            .current_dir(&manifest)
            .env("RUSTC_BOOTSTRAP", "1")
            // The same output whatever the caller's rustdoc flags (e.g. `--cfg docsrs`).
            .env_remove("RUSTDOCFLAGS")
            .env_remove("CARGO_ENCODED_RUSTDOCFLAGS")
            .args("rustdoc --lib --all-features --locked --target-dir".split(' '))
            .arg(&target)
            .args("-- -Z unstable-options --output-format json".split(' '))
            .output()
            .expect("run cargo rustdoc");
        assert!(
            output.status.success(),
            "cargo rustdoc --output-format json failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let file = target.join("doc").join(format!("{CRATE}.json"));
        let text = std::fs::read_to_string(&file).expect("read rustdoc's JSON");
        serde_json::from_str(&text).expect("parse rustdoc's JSON")
    })
}

/// The kind of an item (`"struct"`, `"function"`, ...) and what its `inner` holds.
fn inner(item: &Value) -> (&str, &Value) {
    let map = item["inner"].as_object().expect("an item's inner");
    let (kind, value) = map.iter().next().expect("an item's kind");
    (kind.as_str(), value)
}

/// The elements of a JSON list (none if it is missing).
fn list(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

/// A string of the JSON, or `?`.
fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("?")
}

/// `word` if the JSON flag is set.
fn flag(value: &Value, word: &'static str) -> &'static str {
    ["", word][usize::from(*value == true)]
}

/// `parts` joined by `sep` between `open` and `close`, or nothing if there are none.
fn wrap(parts: Vec<String>, open: &str, sep: &str, close: &str) -> String {
    if parts.is_empty() {
        return String::new();
    }
    format!("{open}{}{close}", parts.join(sep))
}

/// Strings joined by `sep`.
fn join(parts: impl Iterator<Item = String>, sep: &str) -> String {
    parts.collect::<Vec<_>>().join(sep)
}

/// `f` of a JSON value, or nothing if it is `null`.
fn some(value: &Value, f: impl FnOnce(&Value) -> String) -> String {
    value.as_null().map_or_else(|| f(value), |()| String::new())
}

/// Anything the printer has no words for, as compact JSON.
fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A path of the `paths` table, `a::b::C`.
fn joined(path: &Value) -> String {
    join(list(path).map(|part| text(part).to_owned()), "::")
}

/// What the walk from the crate root reaches.
struct Walk<'a> {
    index: &'a serde_json::Map<String, Value>,
    paths: &'a serde_json::Map<String, Value>,
    /// Every public path of each local item (enum variants, fields and methods are reached
    /// through their parent and are not listed).
    reached: BTreeMap<String, BTreeSet<String>>,
    /// Other crates' items re-exported: `(path here, line)`.
    external: Vec<(String, String)>,
    /// The modules being walked (a glob re-export may lead back to one).
    stack: Vec<String>,
}

impl<'a> Walk<'a> {
    fn new(json: &'a Value) -> Self {
        let mut walk = Walk {
            index: json["index"].as_object().expect("index"),
            paths: json["paths"].as_object().expect("paths"),
            reached: BTreeMap::new(),
            external: Vec::new(),
            stack: Vec::new(),
        };
        walk.item(&json["root"], CRATE.to_owned());
        walk
    }

    /// The item of an id, unless it is not in the index or is `#[doc(hidden)]`.
    fn get(&self, id: &Value) -> Option<&'a Value> {
        let hidden = |item: &&Value| item["attrs"].to_string().contains("doc(hidden)");
        self.index.get(&id.to_string()).filter(|item| !hidden(item))
    }

    /// The items of a list of ids, as `get` finds them.
    fn items<'b>(&'b self, ids: &'b Value) -> impl Iterator<Item = &'a Value> + 'b {
        list(ids).filter_map(|id| self.get(id))
    }

    /// The item `id`, public at `path`; a module's items under it (at each of its paths).
    fn item(&mut self, id: &Value, path: String) {
        if let Some(item) = self.get(id) {
            let paths = self.reached.entry(id.to_string()).or_default();
            paths.insert(path.clone());
            if let ("module", module) = inner(item) {
                self.children(id, module, &path);
            }
        }
    }

    /// The public items of a module, at `path`.
    fn children(&mut self, id: &Value, module: &Value, path: &str) {
        if self.stack.contains(&id.to_string()) {
            return;
        }
        self.stack.push(id.to_string());
        let public = |child: &&Value| child["visibility"] == "public";
        let children: Vec<_> = self.items(&module["items"]).filter(public).collect();
        for child in children {
            let (kind, value) = inner(child);
            if kind != "use" {
                self.item(&child["id"], format!("{path}::{}", text(&child["name"])));
                continue;
            }
            let (target, name) = (&value["id"], text(&value["name"]));
            let id = target.to_string();
            let local = self.index.get(&id).filter(|t| t["crate_id"] == 0);
            match (local, value["is_glob"] == true) {
                (Some(module), true) => self.children(target, inner(module).1, path),
                (Some(_), false) => self.item(target, format!("{path}::{name}")),
                (None, glob) => {
                    let source = self.paths.get(&id).map(|e| joined(&e["path"]));
                    let source = source.unwrap_or_else(|| text(&value["source"]).to_owned());
                    // The other crate's semver-compatible version: its major version
                    // (`0.y` before 1.0) is part of this crate's (see the re-exports' policy).
                    let krate = source.split("::").next().unwrap_or_default();
                    let version = required_version(krate);
                    let line = match glob {
                        true => format!("pub use {source}::* in {path} ({krate} {version})"),
                        false => format!("pub use {source} as {path}::{name} ({krate} {version})"),
                    };
                    self.external.push((format!("{path}::{name}"), line));
                }
            }
        }
        self.stack.pop();
    }
}

/// The semver-compatible part of the version requirement on `krate` in Cargo.toml's
/// `[dependencies]` (`12` for "12.1", `0.18` for "0.18"), or `?` when it has none.
fn required_version(krate: &str) -> String {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    let manifest = manifest.unwrap_or_default();
    let dependencies = manifest
        .split("\n[dependencies]\n")
        .nth(1)
        .unwrap_or_default();
    let dependencies = dependencies.split("\n[").next().unwrap_or_default();
    let name = format!("{} =", krate.replace('_', "-"));
    let requirement = dependencies
        .lines()
        .find_map(|line| line.strip_prefix(&name))
        .and_then(|rest| rest.split('"').nth(1));
    let mut parts = requirement
        .unwrap_or("?")
        .trim_start_matches(['^', '='])
        .split('.');
    match (parts.next(), parts.next()) {
        (Some("0"), Some(minor)) => format!("0.{minor}"),
        (Some(major), _) => major.to_owned(),
        _ => "?".to_owned(),
    }
}

/// Writes types, generics and signatures as Rust (close enough to read).
struct Printer<'a> {
    walk: &'a Walk<'a>,
    /// The public path chosen for each local item (its shortest).
    names: BTreeMap<String, String>,
    /// The item being written and the path it is reached at, which names it.
    this: (String, String),
}

impl Printer<'_> {
    /// A resolved path: local items by a public path, others by where they are defined.
    fn path(&self, p: &Value) -> String {
        let id = p["id"].to_string();
        let name = match (self.names.get(&id), self.walk.paths.get(&id)) {
            _ if self.this.0 == id => self.this.1.clone(),
            (Some(name), _) => name.clone(),
            (None, Some(entry)) => joined(&entry["path"]),
            (None, None) => text(&p["path"]).to_owned(),
        };
        format!("{name}{}", self.args(&p["args"]))
    }

    fn args(&self, args: &Value) -> String {
        if let Some(angle) = args.get("angle_bracketed") {
            let mut all: Vec<String> = list(&angle["args"]).map(|a| self.arg(a)).collect();
            for c in list(&angle["constraints"]) {
                let name = format!("{}{}", text(&c["name"]), self.args(&c["args"]));
                let binding = &c["binding"];
                all.push(match (binding.get("equality"), binding.get("constraint")) {
                    (Some(term), _) => format!("{name} = {}", self.arg(term)),
                    (_, Some(bounds)) => format!("{name}: {}", self.bounds(bounds)),
                    _ => format!("{name} {}", compact(binding)),
                });
            }
            return wrap(all, "<", ", ", ">");
        }
        if let Some(paren) = args.get("parenthesized") {
            let inputs = join(list(&paren["inputs"]).map(|t| self.ty(t)), ", ");
            let output = some(&paren["output"], |t| format!(" -> {}", self.ty(t)));
            return format!("({inputs}){output}");
        }
        some(args, compact)
    }

    /// A generic argument or a term (`'a`, a type, a constant).
    fn arg(&self, arg: &Value) -> String {
        let constant = arg.get("const").or(arg.get("constant"));
        match (arg.get("lifetime"), arg.get("type"), constant) {
            _ if arg == "infer" => "_".to_owned(),
            (Some(l), _, _) => text(l).to_owned(),
            (_, Some(t), _) => self.ty(t),
            (_, _, Some(c)) => text(&c["expr"]).to_owned(),
            _ => compact(arg),
        }
    }

    fn ty(&self, t: &Value) -> String {
        let Some((kind, v)) = t.as_object().and_then(|m| m.iter().next()) else {
            return compact(t);
        };
        match kind.as_str() {
            "resolved_path" => self.path(v),
            "generic" | "primitive" => text(v).to_owned(),
            "tuple" if list(v).count() == 1 => format!("({},)", self.ty(&v[0])),
            "tuple" => format!("({})", join(list(v).map(|t| self.ty(t)), ", ")),
            "slice" => format!("[{}]", self.ty(v)),
            "array" => format!("[{}; {}]", self.ty(&v["type"]), text(&v["len"])),
            "borrowed_ref" => {
                let lifetime = v["lifetime"].as_str().map(|l| format!("{l} "));
                let (mutable, t) = (flag(&v["is_mutable"], "mut "), self.ty(&v["type"]));
                format!("&{}{mutable}{t}", lifetime.unwrap_or_default())
            }
            "raw_pointer" => {
                let mutable = ["const", "mut"][usize::from(v["is_mutable"] == true)];
                format!("*{mutable} {}", self.ty(&v["type"]))
            }
            "impl_trait" => format!("impl {}", self.bounds(v)),
            "dyn_trait" => {
                let one = |p: &Value| self.hrtb(&p["generic_params"]) + &self.path(&p["trait"]);
                let lifetime = v["lifetime"].as_str().map(str::to_owned);
                let all = join(list(&v["traits"]).map(one).chain(lifetime), " + ");
                format!("dyn {all}")
            }
            "qualified_path" => {
                let (name, args) = (text(&v["name"]), self.args(&v["args"]));
                let this = self.ty(&v["self_type"]);
                let trait_ = some(&v["trait"], |t| format!(" as {}", self.path(t)));
                format!("<{this}{trait_}>::{name}{args}")
            }
            "function_pointer" => {
                let hrtb = self.hrtb(&v["generic_params"]) + &self.header(&v["header"]);
                format!("{hrtb}fn{}", self.sig(&v["sig"]))
            }
            _ => compact(t),
        }
    }

    /// `for<'a> ` of higher-ranked bounds.
    fn hrtb(&self, params: &Value) -> String {
        let names = list(params).map(|p| text(&p["name"]).to_owned()).collect();
        wrap(names, "for<", ", ", "> ")
    }

    /// `A + B + 'a`: bounds, or the lifetimes of an `outlives` list.
    fn bounds(&self, bounds: &Value) -> String {
        join(list(bounds).map(|b| self.bound(b)), " + ")
    }

    fn bound(&self, b: &Value) -> String {
        match (b.get("trait_bound"), b.get("outlives")) {
            (Some(t), _) => {
                let modifier = match t["modifier"].as_str() {
                    Some("maybe") => "?",
                    Some("maybe_const") => "~const ",
                    _ => "",
                };
                let hrtb = self.hrtb(&t["generic_params"]);
                format!("{hrtb}{modifier}{}", self.path(&t["trait"]))
            }
            (_, Some(lifetime)) => text(lifetime).to_owned(),
            _ => b.as_str().map_or_else(|| compact(b), str::to_owned),
        }
    }

    /// `: Bounds`, or nothing.
    fn colon(&self, bounds: &Value) -> String {
        let all = list(bounds).map(|b| self.bound(b)).collect();
        wrap(all, ": ", " + ", "")
    }

    /// `<'a, T: Bound = Default, const N: usize>`, not the `impl Trait` parameters.
    fn params(&self, generics: &Value) -> String {
        let mut all = Vec::new();
        for p in list(&generics["params"]) {
            let (name, kind) = (text(&p["name"]), &p["kind"]);
            if let Some(l) = kind.get("lifetime") {
                all.push(name.to_owned() + &self.colon(&l["outlives"]));
            } else if let Some(t) = kind.get("type").filter(|t| t["is_synthetic"] != true) {
                let default = some(&t["default"], |t| format!(" = {}", self.ty(t)));
                all.push(format!("{name}{}{default}", self.colon(&t["bounds"])));
            } else if let Some(c) = kind.get("const") {
                all.push(format!("const {name}: {}", self.ty(&c["type"])));
            }
        }
        wrap(all, "<", ", ", ">")
    }

    /// ` where T: Bound, 'a: 'b, A = B`.
    fn wheres(&self, generics: &Value) -> String {
        let mut all = Vec::new();
        for w in list(&generics["where_predicates"]) {
            if let Some(b) = w.get("bound_predicate") {
                let hrtb = self.hrtb(&b["generic_params"]) + &self.ty(&b["type"]);
                all.push(hrtb + &self.colon(&b["bounds"]));
            } else if let Some(l) = w.get("lifetime_predicate") {
                all.push(text(&l["lifetime"]).to_owned() + &self.colon(&l["outlives"]));
            } else if let Some(e) = w.get("eq_predicate") {
                all.push(format!("{} = {}", self.ty(&e["lhs"]), self.arg(&e["rhs"])));
            } else {
                all.push(compact(w));
            }
        }
        wrap(all, " where ", ", ", "")
    }

    /// `const async unsafe extern "C" `, as far as they apply.
    fn header(&self, h: &Value) -> String {
        let set = |word: &&&str| h[format!("is_{word}")] == true;
        let words = ["const", "async", "unsafe"];
        let s: String = words.iter().filter(set).map(|w| format!("{w} ")).collect();
        let abi = (h["abi"] != "Rust").then(|| format!("extern {} ", compact(&h["abi"])));
        s + &abi.unwrap_or_default()
    }

    /// `(&self, name: Type) -> Output`.
    fn sig(&self, sig: &Value) -> String {
        let is_self = |t: &Value| t.get("generic").is_some_and(|g| g == "Self");
        let inputs: Vec<String> = list(&sig["inputs"])
            .map(|input| match (text(&input[0]), &input[1]) {
                ("self", t) if is_self(t) => "self".to_owned(),
                ("self", t) if t.get("borrowed_ref").is_some_and(|r| is_self(&r["type"])) => {
                    self.ty(t).replace("Self", "self")
                }
                (name, t) => format!("{name}: {}", self.ty(t)),
            })
            .collect();
        let output = some(&sig["output"], |t| format!(" -> {}", self.ty(t)));
        format!("({}){output}", inputs.join(", "))
    }

    fn function(&self, path: &str, f: &Value) -> String {
        let (header, sig) = (self.header(&f["header"]), self.sig(&f["sig"]));
        let (params, wheres) = (self.params(&f["generics"]), self.wheres(&f["generics"]));
        format!("pub {header}fn {path}{params}{sig}{wheres}")
    }
}

/// The attributes that matter for semver, as they open the item's line.
fn attributes(item: &Value) -> String {
    let one = |a: &Value| match (a.as_str(), a.get("must_use"), a.get("repr")) {
        (Some("non_exhaustive"), _, _) => "#[non_exhaustive] ".to_owned(),
        (_, Some(_), _) => "#[must_use] ".to_owned(),
        (_, _, Some(repr)) => format!("#[repr({})] ", compact(repr)),
        _ => String::new(),
    };
    let s: String = list(&item["attrs"]).map(one).collect();
    let deprecated = !item["deprecation"].is_null();
    s + ["", "#[deprecated] "][usize::from(deprecated)]
}

/// The public API: one line per item, sorted by path.
fn public_api() -> Vec<String> {
    let walk = Walk::new(rustdoc_json());
    let depth = |p: &&String| (p.matches("::").count(), p.len());
    let shortest = |paths: &BTreeSet<String>| paths.iter().min_by_key(depth).cloned();
    let reached = &walk.reached;
    let names = reached.iter().map(|(id, ps)| (id.clone(), shortest(ps)));
    let names = names.filter_map(|(id, path)| Some((id, path?))).collect();
    let this = Default::default();
    let mut p = Printer {
        walk: &walk,
        names,
        this,
    };
    let mut lines: Vec<(String, String)> = walk.external.clone();
    for (id, paths) in &walk.reached {
        for path in paths {
            p.this = (id.clone(), path.clone());
            let mut push = |key, line| lines.push((key, line));
            render(&p, &walk.index[id], path, &mut push);
        }
    }
    lines.sort();
    lines.dedup();
    lines.into_iter().map(|(_, line)| line).collect()
}

/// Pushes the lines of `item` reached at `path` (its own, its fields, variants, trait items,
/// inherent items and trait impls), each with the path it sorts by.
fn render(p: &Printer<'_>, item: &Value, path: &str, push: &mut impl FnMut(String, String)) {
    let (kind, v) = inner(item);
    let (params, wheres) = (p.params(&v["generics"]), p.wheres(&v["generics"]));
    let field = |f: &Value, named: bool| match (p.walk.get(f), named) {
        (Some(f), true) => format!("{}: {}", text(&f["name"]), p.ty(inner(f).1)),
        (Some(f), false) => p.ty(inner(f).1),
        (None, _) => "_".to_owned(),
    };
    let tuple = |ids: &Value| format!("({})", join(list(ids).map(|f| field(f, false)), ", "));
    let at = |name: &Value| format!("{path}::{}", text(name));
    let ty = p.ty(&v["type"]);
    let line = match kind {
        "module" => format!("pub mod {path}"),
        "struct" | "union" => {
            let plain = v["kind"].get("plain").unwrap_or(v);
            let shape = match v["kind"].get("tuple") {
                Some(fields) => tuple(fields),
                None => flag(&plain["has_stripped_fields"], " { .. }").to_owned(),
            };
            for f in p.walk.items(&plain["fields"]) {
                let name = at(&f["name"]);
                push(name.clone(), format!("pub {name}: {}", p.ty(inner(f).1)));
            }
            impls(p, &v["impls"], path, push);
            format!("pub {kind} {path}{params}{shape}{wheres}")
        }
        "enum" => {
            for variant in p.walk.items(&v["variants"]) {
                let vv = inner(variant).1;
                let shape = if let Some(t) = vv["kind"].get("tuple") {
                    tuple(t)
                } else if let Some(s) = vv["kind"].get("struct") {
                    let fields = join(list(&s["fields"]).map(|f| field(f, true)), ", ");
                    format!(" {{ {fields}{} }}", flag(&s["has_stripped_fields"], ", .."))
                } else {
                    String::new()
                };
                let value = some(&vv["discriminant"], |d| format!(" = {}", text(&d["expr"])));
                let name = at(&variant["name"]);
                let attrs = attributes(variant);
                push(name.clone(), format!("{attrs}pub {name}{shape}{value}"));
            }
            impls(p, &v["impls"], path, push);
            let stripped = flag(&v["has_stripped_variants"], " { .. }");
            format!("pub enum {path}{params}{wheres}{stripped}")
        }
        "trait" => {
            for m in p.walk.items(&v["items"]) {
                push(at(&m["name"]), member(p, &at(&m["name"]), m, true));
            }
            // Its impls for other crates' types, and blanket ones (the impls for the crate's
            // own public types are listed with them).
            for imp in p.walk.items(&v["implementations"]) {
                let for_type = &imp["inner"]["impl"]["for"]["resolved_path"]["id"];
                if !p.walk.reached.contains_key(&for_type.to_string()) {
                    impl_line(p, imp, path, push);
                }
            }
            let unsafety = flag(&v["is_unsafe"], "unsafe ");
            let supertraits = p.colon(&v["bounds"]);
            format!("pub {unsafety}trait {path}{params}{supertraits}{wheres}")
        }
        "function" => p.function(path, v),
        "type_alias" => format!("pub type {path}{params}{wheres} = {ty}"),
        "constant" => format!("pub const {path}: {ty}"),
        "static" => format!("pub static {}{path}: {ty}", flag(&v["is_mutable"], "mut ")),
        "macro" => format!("macro_rules! {path}"),
        _ => format!("pub {kind} {path}"),
    };
    push(path.to_owned(), attributes(item) + &line);
}

/// The inherent items and trait impls of a type, not the auto-trait and blanket impls
/// rustdoc adds.
fn impls(p: &Printer<'_>, ids: &Value, path: &str, push: &mut impl FnMut(String, String)) {
    for imp in p.walk.items(ids) {
        let v = &imp["inner"]["impl"];
        // Of the impls rustdoc adds, `Send` and `Sync` (or their absence) are kept: losing
        // one is the most common accidental break.
        let auto = v["trait"]["path"].as_str();
        let send_or_sync = auto.is_some_and(|t| t.ends_with("Send") || t.ends_with("Sync"));
        if v["is_synthetic"] == true && send_or_sync {
            impl_line(p, imp, path, push);
            continue;
        } else if v["is_synthetic"] == true || !v["blanket_impl"].is_null() {
            continue;
        } else if !v["trait"].is_null() {
            impl_line(p, imp, path, push);
            continue;
        }
        // The generics and bounds of an inherent impl, on a line of their own.
        let (params, wheres) = (p.params(&v["generics"]), p.wheres(&v["generics"]));
        let line = format!("impl{params} {}{wheres}", p.ty(&v["for"]));
        if !(params.is_empty() && wheres.is_empty()) {
            push(path.to_owned(), line);
        }
        let public = |m: &&Value| m["visibility"] == "public";
        for m in p.walk.items(&v["items"]).filter(public) {
            let name = format!("{path}::{}", text(&m["name"]));
            push(name.clone(), member(p, &name, m, false));
        }
    }
}

/// An item of a trait or of an inherent impl, at `name`; in a trait, ` (provided)` marks
/// those with a default.
fn member(p: &Printer<'_>, name: &str, member: &Value, in_trait: bool) -> String {
    let (mk, mv) = inner(member);
    let typed = mk == "assoc_type" && !mv["type"].is_null();
    let default = mv["has_body"] == true || !mv["value"].is_null() || typed;
    let line = match mk {
        "function" => p.function(name, mv),
        "assoc_type" if in_trait => {
            let bounds = p.params(&mv["generics"]) + &p.colon(&mv["bounds"]);
            format!("pub type {name}{bounds}")
        }
        "assoc_type" => format!("pub type {name} = {}", p.ty(&mv["type"])),
        "assoc_const" => format!("pub const {name}: {}", p.ty(&mv["type"])),
        _ => format!("pub {mk} {name}"),
    };
    attributes(member) + &line + ["", " (provided)"][usize::from(in_trait && default)]
}

/// `impl<G> Trait for Type where ... { type Name = T; }`, sorted under `path`.
fn impl_line(p: &Printer<'_>, imp: &Value, path: &str, push: &mut impl FnMut(String, String)) {
    let v = &imp["inner"]["impl"];
    let unsafety = flag(&v["is_unsafe"], "unsafe ");
    let (params, wheres) = (p.params(&v["generics"]), p.wheres(&v["generics"]));
    let trait_ = flag(&v["is_negative"], "!").to_owned() + &p.path(&v["trait"]);
    let for_type = p.ty(&v["for"]);
    let assoc_type = |m: &Value| {
        let (mk, mv) = inner(m);
        let (name, ty) = (text(&m["name"]), p.ty(&mv["type"]));
        (mk == "assoc_type").then(|| format!("type {name} = {ty};"))
    };
    let types = p.walk.items(&v["items"]);
    let types = wrap(types.filter_map(assoc_type).collect(), " { ", " ", " }");
    let line = format!("{unsafety}impl{params} {trait_} for {for_type}{wheres}{types}");
    push(path.to_owned(), line);
}

#[test]
fn public_api_matches_the_snapshot() {
    let snapshot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/public-api.txt");
    let actual = public_api();
    // The rendering depends on rustdoc's JSON format and on where std defines its types,
    // so the snapshot names the toolchain that wrote it.
    let toolchain = format!(
        "# {}, rustdoc JSON format {}",
        rustc_version(),
        rustdoc_json()["format_version"]
    );
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        let text: String = std::iter::once(&toolchain)
            .chain(&actual)
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&snapshot, text).expect("write the snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&snapshot).unwrap_or_default();
    let written_by = expected.lines().next().unwrap_or_default();
    if written_by != toolchain {
        let why = format!(
            "the snapshot was written by another toolchain ({written_by:?}, this is \
             {toolchain:?}): run `BLESS=1 cargo test --all-features --test public_api` on the \
             toolchain CI uses"
        );
        assert!(
            std::env::var_os("CI").is_none_or(|ci| ci != "true"),
            "{why}"
        );
        eprintln!("skipped: {why}");
        return;
    }
    let expected: BTreeSet<&str> = expected
        .lines()
        .skip(1)
        .map(|l| l.trim_end_matches('\r'))
        .collect();
    let actual: BTreeSet<&str> = actual.iter().map(String::as_str).collect();
    let removed = expected.difference(&actual).map(|l| format!("- {l}\n"));
    let added = actual.difference(&expected).map(|l| format!("+ {l}\n"));
    let diff: String = removed.chain(added).collect();
    assert!(
        diff.is_empty(),
        "{diff}the public API changed: if that is intended, run \
         `BLESS=1 cargo test --all-features --test public_api` and record the change in CHANGELOG.md"
    );
}

/// `rustc --version` of the toolchain whose rustdoc wrote the JSON: the `rustc` beside
/// `$CARGO`, else `$RUSTC` or the one on `PATH`.
fn rustc_version() -> String {
    let beside_cargo = std::env::var_os("CARGO")
        .map(|cargo| PathBuf::from(cargo).with_file_name("rustc"))
        .filter(|rustc| rustc.exists());
    let rustc = beside_cargo
        .or_else(|| std::env::var_os("RUSTC").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("rustc"));
    let output = Command::new(rustc).arg("--version").output();
    let output = output.expect("rustc --version");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn every_public_item_has_one_path() {
    let walk = Walk::new(rustdoc_json());
    let mut failures = Vec::new();
    for (id, paths) in walk.reached.iter().filter(|(_, paths)| paths.len() > 1) {
        let (kind, name) = (inner(&walk.index[id]).0, text(&walk.index[id]["name"]));
        let all = join(paths.iter().cloned(), ", ");
        failures.push(format!("{kind} {name}: {all}"));
    }
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} public items have more than one public path (keep one):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
