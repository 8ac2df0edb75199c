//! The JSON output contract of docs/cli-json.md: the page parsed into
//! shapes, and a runner that checks a command's output against its shape.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Cli;

/// The shapes of docs/cli-json.md, by heading (`bank status`,
/// `demo event withdrawal`, `errors`).
pub fn documented() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli-json.md")).unwrap();
    let mut shapes = BTreeMap::new();
    let mut heading: Option<String> = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(h) = line.strip_prefix("### ") {
            heading = Some(h.replace('`', ""));
        } else if line.trim() == "```json" {
            let mut block = String::new();
            for b in lines.by_ref() {
                if b.trim() == "```" {
                    break;
                }
                block.push_str(b);
                block.push('\n');
            }
            if let Some(h) = heading.take() {
                let shape = serde_json::from_str(&block).unwrap_or_else(|e| panic!("docs: {h}: {e}"));
                assert!(shapes.insert(h.clone(), shape).is_none(), "docs: {h} twice");
            }
        }
    }
    shapes
}

pub fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.len().is_multiple_of(2)
        && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYY-MM-DD`.
pub fn is_date(s: &str) -> bool {
    let p: Vec<&str> = s.split('-').collect();
    p.len() == 3 && digits(p[0], 4) && digits(p[1], 2) && digits(p[2], 2)
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn is_time(s: &str) -> bool {
    let Some((d, t)) = s.split_once('T') else { return false };
    let Some(t) = t.strip_suffix('Z') else { return false };
    let p: Vec<&str> = t.split(':').collect();
    is_date(d) && p.len() == 3 && p.iter().all(|x| digits(x, 2))
}

pub fn is_snake(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks `v` against `shape`; names the first difference.
pub fn conforms(at: &str, shape: &Value, v: &Value) -> Result<(), String> {
    match shape {
        Value::String(t) => {
            let (t, nullable) = t.strip_suffix('?').map_or((t.as_str(), false), |x| (x, true));
            if v.is_null() {
                return if nullable { Ok(()) } else { Err(format!("{at}: null, expected {t}")) };
            }
            let s = v.as_str().unwrap_or("");
            let ok = match t {
                "integer" => v.is_u64() || v.is_i64(),
                "number" => v.is_number(),
                "bool" => v.is_boolean(),
                "string" => v.is_string(),
                "hex" => is_hex(s),
                "date" => is_date(s),
                "time" => is_time(s),
                other => panic!("docs: unknown type {other:?} at {at}"),
            };
            if ok {
                Ok(())
            } else {
                Err(format!("{at}: {v}, expected {t}"))
            }
        }
        Value::Array(a) => {
            let items = v.as_array().ok_or_else(|| format!("{at}: {v}, expected an array"))?;
            items.iter().enumerate().try_for_each(|(i, x)| conforms(&format!("{at}[{i}]"), &a[0], x))
        }
        Value::Object(m) => {
            let o = v.as_object().ok_or_else(|| format!("{at}: {v}, expected an object"))?;
            let want: BTreeSet<&String> = m.keys().collect();
            let have: BTreeSet<&String> = o.keys().collect();
            if want != have {
                return Err(format!("{at}: fields {have:?}, documented {want:?}"));
            }
            m.iter().try_for_each(|(k, s)| conforms(&format!("{at}.{k}"), s, &o[k]))
        }
        _ => panic!("docs: bad shape at {at}"),
    }
}

/// Every field name, and every value of an enum-like field, is snake_case.
pub fn snake_case_everywhere(at: &str, v: &Value) -> Result<(), String> {
    match v {
        Value::Object(o) => o.iter().try_for_each(|(k, x)| {
            if !is_snake(k) {
                return Err(format!("{at}: field {k:?} is not snake_case"));
            }
            if ["kind", "outcome", "event", "stores"].contains(&k.as_str()) {
                if let Some(s) = x.as_str() {
                    if !is_snake(s) {
                        return Err(format!("{at}.{k}: value {s:?} is not snake_case"));
                    }
                }
            }
            snake_case_everywhere(&format!("{at}.{k}"), x)
        }),
        Value::Array(a) => a.iter().try_for_each(|x| snake_case_everywhere(at, x)),
        _ => Ok(()),
    }
}

pub struct Contract {
    pub shapes: BTreeMap<String, Value>,
    pub seen: BTreeSet<String>,
}

impl Contract {
    /// A contract over the documented shapes.
    pub fn new() -> Self {
        Contract { shapes: documented(), seen: BTreeSet::new() }
    }

    /// The trustees' commands (`trustee …`, `ttp combine`): run by
    /// tests/trustee_cli.rs.
    pub fn trustees(name: &str) -> bool {
        name.starts_with("trustee ") || name == "ttp combine"
    }

    pub fn check(&mut self, name: &str, v: &Value) {
        let shape = self.shapes.get(name).unwrap_or_else(|| panic!("{name}: not in docs/cli-json.md"));
        if let Err(e) = conforms(name, shape, v).and_then(|_| snake_case_everywhere(name, v)) {
            panic!("{e}\noutput: {v:#}");
        }
        self.seen.insert(name.to_string());
    }

    /// Runs `args` with `--json`; checks the exit code and the output
    /// against the shape of `args[..words]` (the command's name).
    pub fn run(&mut self, c: &Cli, words: usize, code: i32, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let o = c.run(&a);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{args:?}\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!("{args:?}: not one JSON document ({e}): {}", String::from_utf8_lossy(&o.stdout))
        });
        let name = if v.get("error").is_some() { "errors".to_string() } else { args[..words].join(" ") };
        self.check(&name, &v);
        v
    }

    pub fn ok(&mut self, c: &Cli, words: usize, args: &[&str]) -> Value {
        self.run(c, words, 0, args)
    }
}

pub fn text(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}
