//! Loading a configuration file: parse it, splice in `include`d files (relative to the file that
//! includes them), and resolve `$variables` against the keys defined so far in the enclosing
//! maps, then the environment — nats-server's rules. The result is a tree of values that know
//! their file, line and column, so later errors can point at them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::proto::conf::{self as syntax, Entry, Syn};

/// Where a value or key was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct At {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // nats-server counts columns from 0 on the first line and from 1 after it.
        let col = if self.line == 1 {
            self.col.saturating_sub(1)
        } else {
            self.col
        };
        write!(f, "{}:{}:{}", self.file, self.line, col)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Value>),
    Map(Map),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub kind: Kind,
    pub at: At,
}

impl Value {
    /// The kind of value, in words, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Str(_) => "a string",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a float",
            Kind::Bool(_) => "a boolean",
            Kind::Datetime(_) => "a datetime",
            Kind::Array(_) => "an array",
            Kind::Map(_) => "a map",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct MapEntry {
    pub key: String,
    pub at: At,
    pub value: Value,
    /// The key was referenced as a `$variable`; such keys are exempt from unknown-field checks.
    pub used_as_variable: bool,
}

/// A map in file order; a repeated key replaces the earlier one.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Map {
    pub entries: Vec<MapEntry>,
}

impl Map {
    fn insert(&mut self, e: MapEntry) {
        self.entries.retain(|x| x.key != e.key);
        self.entries.push(e);
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }
}

/// A loading error, already formatted with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const MAX_INCLUDE_DEPTH: usize = 16;

/// Load and resolve the configuration file at `path`.
pub fn load(path: &Path) -> Result<Map, Error> {
    let mut stack: Vec<Map> = vec![Map::default()];
    include_file(path, &mut stack, 0)?;
    Ok(stack.pop().unwrap_or_default())
}

/// Resolve configuration text as if it were a file named `name` in `dir` (for tests and for
/// values taken from the environment).
pub fn load_str(text: &str, name: &str, dir: &Path) -> Result<Map, Error> {
    let mut stack: Vec<Map> = vec![Map::default()];
    let entries = syntax::parse(text.as_bytes()).map_err(|e| Error(format!("{name}:{e}")))?;
    let file: Arc<str> = Arc::from(name);
    resolve_entries(entries, &file, dir, &mut stack, 0)?;
    Ok(stack.pop().unwrap_or_default())
}

fn include_file(path: &Path, stack: &mut Vec<Map>, depth: usize) -> Result<(), Error> {
    if depth > MAX_INCLUDE_DEPTH {
        return Err(Error(format!(
            "{}: includes nested too deeply (a cycle?)",
            path.display()
        )));
    }
    let text = std::fs::read(path).map_err(|e| {
        Error(format!(
            "error opening config file: {}: {e}",
            path.display()
        ))
    })?;
    let name: Arc<str> = Arc::from(path.display().to_string().as_str());
    let entries = syntax::parse(&text).map_err(|e| Error(format!("{name}:{e}")))?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    resolve_entries(entries, &name, &dir, stack, depth)
}

fn at(file: &Arc<str>, pos: syntax::Pos) -> At {
    At {
        file: file.clone(),
        line: pos.line,
        col: pos.col,
    }
}

/// Resolve entries into the innermost map of `stack`.
fn resolve_entries(
    entries: Vec<Entry>,
    file: &Arc<str>,
    dir: &Path,
    stack: &mut Vec<Map>,
    depth: usize,
) -> Result<(), Error> {
    for e in entries {
        match e {
            Entry::Include { path, .. } => {
                let p = dir.join(&path);
                include_file(&p, stack, depth + 1)?;
            }
            Entry::KeyValue { key, pos, value } => {
                let value = resolve(value, file, dir, stack, depth)?;
                let entry = MapEntry {
                    key,
                    at: at(file, pos),
                    value,
                    used_as_variable: false,
                };
                stack.last_mut().expect("a map is open").insert(entry);
            }
        }
    }
    Ok(())
}

fn resolve(
    item: syntax::Item,
    file: &Arc<str>,
    dir: &Path,
    stack: &mut Vec<Map>,
    depth: usize,
) -> Result<Value, Error> {
    let here = at(file, item.pos);
    let kind = match item.value {
        Syn::Str(s) => Kind::Str(s),
        Syn::Int(n) => Kind::Int(n),
        Syn::Float(f) => Kind::Float(f),
        Syn::Bool(b) => Kind::Bool(b),
        Syn::Datetime(d) => Kind::Datetime(d),
        Syn::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.push(resolve(i, file, dir, stack, depth)?);
            }
            Kind::Array(out)
        }
        Syn::Map(entries) => {
            stack.push(Map::default());
            let r = resolve_entries(entries, file, dir, stack, depth);
            let m = stack.pop().unwrap_or_default();
            r?;
            Kind::Map(m)
        }
        Syn::Var(name) => return lookup_variable(&name, &here, stack),
    };
    Ok(Value { kind, at: here })
}

/// `$name`: the innermost enclosing map that already defines it, else the environment (whose
/// value is read as a configuration value, so `$PORT` can be a number).
fn lookup_variable(name: &str, here: &At, stack: &mut [Map]) -> Result<Value, Error> {
    for map in stack.iter_mut().rev() {
        if let Some(e) = map.entries.iter_mut().find(|e| e.key == name) {
            e.used_as_variable = true;
            let mut v = e.value.clone();
            v.at = here.clone();
            return Ok(v);
        }
    }
    if let Ok(env) = std::env::var(name) {
        let parsed = syntax::parse(format!("v={env}").as_bytes());
        if let Ok(mut entries) = parsed {
            if let (1, Some(Entry::KeyValue { value, .. })) = (entries.len(), entries.pop()) {
                if !matches!(value.value, Syn::Var(_)) {
                    let file: Arc<str> = here.file.clone();
                    let mut scratch = vec![Map::default()];
                    let mut v = resolve(
                        value,
                        &file,
                        Path::new("."),
                        &mut scratch,
                        MAX_INCLUDE_DEPTH,
                    )?;
                    v.at = here.clone();
                    return Ok(v);
                }
            }
        }
        return Ok(Value {
            kind: Kind::Str(env),
            at: here.clone(),
        });
    }
    Err(Error(format!(
        "{here}: variable reference for '{name}' can not be found"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Map, Error> {
        load_str(text, "test.conf", Path::new("."))
    }

    #[test]
    fn variables_resolve_from_enclosing_maps_then_env() {
        let m =
            load_text("PORT: 4333\nport: $PORT\nouter: 1\nblock { inner: $outer, x: 2, y: $x }")
                .unwrap();
        assert_eq!(m.get("port").unwrap().kind, Kind::Int(4333));
        assert!(m.entries[0].used_as_variable);
        let Kind::Map(b) = &m.get("block").unwrap().kind else {
            panic!()
        };
        assert_eq!(b.get("inner").unwrap().kind, Kind::Int(1));
        assert_eq!(b.get("y").unwrap().kind, Kind::Int(2));
        // Keys inside another map are not visible.
        let e = load_text("m { a: 1 }\nport: $a").unwrap_err();
        assert!(
            e.0.contains("variable reference for 'a' can not be found"),
            "{e}"
        );
        std::env::set_var("RNATSD_TEST_ENV_PORT", "5222");
        let m = load_text("port: $RNATSD_TEST_ENV_PORT").unwrap();
        assert_eq!(m.get("port").unwrap().kind, Kind::Int(5222));
        std::env::set_var("RNATSD_TEST_ENV_STR", "hello world");
        let m = load_text("name: $RNATSD_TEST_ENV_STR").unwrap();
        assert_eq!(m.get("name").unwrap().kind, Kind::Str("hello world".into()));
    }

    #[test]
    fn later_keys_replace_earlier_ones() {
        let m = load_text("port: 1\nport: 2").unwrap();
        assert_eq!(m.entries.len(), 1);
        assert_eq!(m.get("port").unwrap().kind, Kind::Int(2));
    }

    #[test]
    fn includes_are_relative_to_the_including_file() {
        let dir = std::env::temp_dir().join(format!("rnatsd-conf-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("main.conf"), "include sub/a.conf\nport: $P\n").unwrap();
        std::fs::write(dir.join("sub/a.conf"), "P: 7000\ninclude 'b.conf'\n").unwrap();
        std::fs::write(dir.join("sub/b.conf"), "max_payload: 1KB\n").unwrap();
        let m = load(&dir.join("main.conf")).unwrap();
        assert_eq!(m.get("port").unwrap().kind, Kind::Int(7000));
        assert_eq!(m.get("max_payload").unwrap().kind, Kind::Int(1024));
        let b = m.entries.iter().find(|e| e.key == "max_payload").unwrap();
        assert!(b.at.file.ends_with("b.conf"), "{}", b.at);
        std::fs::write(dir.join("loop.conf"), "include loop.conf\n").unwrap();
        assert!(load(&dir.join("loop.conf")).is_err());
        assert!(load(&dir.join("missing.conf"))
            .unwrap_err()
            .0
            .contains("missing.conf"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn positions_print_as_nats_server_does() {
        let m = load_text("a: 1\n  b: 2").unwrap();
        assert_eq!(m.entries[0].at.to_string(), "test.conf:1:0");
        assert_eq!(m.entries[1].at.to_string(), "test.conf:2:3");
    }
}
