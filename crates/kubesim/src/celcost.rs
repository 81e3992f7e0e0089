//! The CEL cost estimate the API server makes when a CRD is created or updated, and the
//! refusals that follow from it: a rule whose worst case, times the number of times it can run,
//! exceeds 10,000,000, or rules that together exceed 100,000,000.
//!
//! A port of what the API server runs, for the part of CEL that CRD rules use:
//! - types: apiserver's `SchemaDeclType` (the CEL type of each schema node, with the
//!   `MaxElements` a string, list or map can have — from `maxLength` (×4: bytes per rune),
//!   `maxItems`, `maxProperties`, enums and formats, or else what fits in a 3 MiB request) and
//!   `WithTypeAndObjectMeta` at resource roots;
//! - cardinality: apiextensions' `CELSchemaContext` (how often a rule can run: the product of the
//!   `maxItems`/`maxProperties` above it, or, unbounded, what fits in a request);
//! - cost: cel-go's static estimator (`checker/cost.go`) over the parsed rule with the macros
//!   expanded as cel-go expands them, with Kubernetes' function estimator (`library/cost.go`)
//!   and the ext `sets`/`lists` estimators; sizes of `self`-reachable nodes come from their
//!   declared types (`@items`, `@keys`, `@values` paths), presence tests cost nothing.
//!
//! It needs each expression's type; the small checker here knows the standard functions and
//! operators and the Kubernetes libraries by name and result type. Limits: unknown functions
//! cost what cel-go charges any O(1) function (1 plus their arguments); expressions it cannot
//! type are `dyn` (a select on them adds no cost and their sizes are unknown, as in cel-go);
//! the CEL parser kubesim uses does not expand two-variable comprehensions (`all(k, v, …)`),
//! `cel.bind` or `sortBy`, so they are costed as plain calls, below what the API server
//! estimates (kubesim cannot evaluate them either: objects under such rules are refused);
//! rules that do not parse are not estimated. The conformance
//! suite holds the estimates of the project's CRDs and of its test CRDs to the API server's
//! own estimator (`control-plane crd-lint`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cel::common::ast::{Expr, IdedExpr, LiteralValue};
use serde_json::Value;

/// Per rule (`StaticEstimatedCostLimit`).
pub const RULE_LIMIT: u64 = 10_000_000;
/// All rules of one schema together (`StaticEstimatedCRDCostLimit`).
pub const CRD_LIMIT: u64 = 100_000_000;
const MAX_REQUEST_BYTES: i64 = 3 * 1024 * 1024;
const STRING_TRAVERSAL: f64 = 0.1;
const REGEX_LENGTH: f64 = 0.25;
const LIST_CREATE: u64 = 10;
const MAP_CREATE: u64 = 30;
const STRUCT_CREATE: u64 = 40;

// ---------------------------------------------------------------------------------------------
// Estimates: ranges that saturate instead of overflowing.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Est {
    min: u64,
    max: u64,
}

const UNKNOWN: Est = Est {
    min: 0,
    max: u64::MAX,
};

fn fixed(v: u64) -> Est {
    Est { min: v, max: v }
}

impl Est {
    fn add(self, o: Est) -> Est {
        Est {
            min: self.min.saturating_add(o.min),
            max: self.max.saturating_add(o.max),
        }
    }
    fn mul(self, o: Est) -> Est {
        Est {
            min: self.min.saturating_mul(o.min),
            max: self.max.saturating_mul(o.max),
        }
    }
    /// × a factor, rounded up (cel-go's multiplyByCostFactor).
    fn factor(self, f: f64) -> Est {
        let m = |x: u64| {
            let xf = x as f64;
            if xf > 0.0 && f > 0.0 && xf > u64::MAX as f64 / f {
                return u64::MAX;
            }
            let c = (xf * f).ceil();
            if c >= 18446744073709551616.0 {
                u64::MAX
            } else {
                c as u64
            }
        };
        Est {
            min: m(self.min),
            max: m(self.max),
        }
    }
    fn union(self, o: Est) -> Est {
        Est {
            min: self.min.min(o.min),
            max: self.max.max(o.max),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Declared types of schema nodes (apiserver's DeclType).

#[derive(Debug)]
pub struct Decl {
    kind: DeclKind,
    max_elements: i64,
    min_size: i64,
}

#[derive(Debug)]
enum DeclKind {
    Scalar(Ty),
    List(Arc<Decl>),
    Map(Arc<Decl>, Arc<Decl>),
    /// Fields by their CEL (escaped) names.
    Object(BTreeMap<String, Arc<Decl>>),
}

fn string_decl(max: i64) -> Decl {
    Decl {
        kind: DeclKind::Scalar(Ty::String),
        max_elements: max,
        min_size: 2,
    }
}

/// A CEL identifier for a property name (apiserver's `Escape`), or none when it has none.
pub fn escape(ident: &str) -> Option<String> {
    const RESERVED: &[&str] = &[
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    ];
    if ident.is_empty() || ident.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if RESERVED.contains(&ident) {
        return Some(format!("__{ident}__"));
    }
    let mut out = String::new();
    let mut chars = ident.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '_' if chars.peek() == Some(&'_') => {
                chars.next();
                out.push_str("__underscores__");
            }
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

fn int_of(s: &Value, k: &str) -> Option<i64> {
    s.get(k).and_then(Value::as_i64).map(|v| v.max(0))
}

fn str_of<'a>(s: &'a Value, k: &str) -> &'a str {
    s.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn flag(s: &Value, k: &str) -> bool {
    s.get(k).and_then(Value::as_bool).unwrap_or_default()
}

/// The CEL type of a schema node (apiserver's `SchemaDeclType`); `None` for nodes CEL does not
/// see (untyped, or a list/map of such).
pub fn decl_type(s: &Value, resource_root: bool) -> Option<Arc<Decl>> {
    if flag(s, "x-kubernetes-int-or-string") {
        let max = match int_of(s, "maxLength") {
            Some(m) => m * 4,
            None => MAX_REQUEST_BYTES - 2,
        };
        return Some(Arc::new(Decl {
            kind: DeclKind::Scalar(Ty::Dyn),
            max_elements: max,
            min_size: 1,
        }));
    }
    match str_of(s, "type") {
        "array" => {
            let items = s.get("items").filter(|i| i.is_object())?;
            let elem = decl_type(items, flag(items, "x-kubernetes-embedded-resource"))?;
            let max = int_of(s, "maxItems")
                .unwrap_or_else(|| (MAX_REQUEST_BYTES - 2) / (elem.min_size + 1));
            Some(Arc::new(Decl {
                kind: DeclKind::List(elem),
                max_elements: max,
                min_size: 2,
            }))
        }
        "object" => {
            if let Some(add) = s.get("additionalProperties").filter(|a| a.is_object()) {
                let value = decl_type(add, flag(add, "x-kubernetes-embedded-resource"))?;
                let max = int_of(s, "maxProperties")
                    .unwrap_or_else(|| (MAX_REQUEST_BYTES - 2) / (value.min_size + 6));
                return Some(Arc::new(Decl {
                    kind: DeclKind::Map(Arc::new(string_decl(0)), value),
                    max_elements: max,
                    min_size: 2,
                }));
            }
            let mut props: BTreeMap<String, Value> = s
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            if resource_root {
                with_type_and_object_meta(&mut props);
            }
            let required: Vec<&str> = s
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut fields = BTreeMap::new();
            let mut min_size = 2;
            for (name, prop) in &props {
                let Some(t) = decl_type(prop, flag(prop, "x-kubernetes-embedded-resource")) else {
                    continue;
                };
                if required.contains(&name.as_str()) && prop.get("default").is_none() {
                    min_size += name.len() as i64 + t.min_size + 4;
                }
                if let Some(escaped) = escape(name) {
                    fields.insert(escaped, t);
                }
            }
            Some(Arc::new(Decl {
                kind: DeclKind::Object(fields),
                max_elements: 0,
                min_size,
            }))
        }
        "string" => {
            let simple = |ty: Ty, max: i64, min: i64| {
                Some(Arc::new(Decl {
                    kind: DeclKind::Scalar(ty),
                    max_elements: max,
                    min_size: min,
                }))
            };
            match str_of(s, "format") {
                "byte" => simple(
                    Ty::Bytes,
                    int_of(s, "maxLength").unwrap_or(MAX_REQUEST_BYTES - 2),
                    2,
                ),
                "duration" => simple(Ty::Duration, 32, 3),
                "date" => simple(Ty::Timestamp, 12, 12),
                "date-time" => simple(Ty::Timestamp, 32, 21),
                _ => {
                    let max = match int_of(s, "maxLength") {
                        Some(m) => m * 4,
                        None => match s.get("enum").and_then(Value::as_array) {
                            Some(e) if !e.is_empty() => e
                                .iter()
                                .filter_map(Value::as_str)
                                .map(|v| v.len() as i64)
                                .max()
                                .unwrap_or(0),
                            _ => MAX_REQUEST_BYTES - 2,
                        },
                    };
                    simple(Ty::String, max, 2)
                }
            }
        }
        "boolean" => Some(Arc::new(Decl {
            kind: DeclKind::Scalar(Ty::Bool),
            max_elements: 0,
            min_size: 4,
        })),
        "number" => Some(Arc::new(Decl {
            kind: DeclKind::Scalar(Ty::Double),
            max_elements: 0,
            min_size: 1,
        })),
        "integer" => Some(Arc::new(Decl {
            kind: DeclKind::Scalar(Ty::Int),
            max_elements: 0,
            min_size: 1,
        })),
        _ => None,
    }
}

/// At the root of a resource `apiVersion`, `kind` and `metadata.name`/`generateName` are always
/// there for rules (the name capped at 253 bytes, the generated prefix at 252).
fn with_type_and_object_meta(props: &mut BTreeMap<String, Value>) {
    let is = |p: Option<&Value>, t: &str| p.is_some_and(|p| str_of(p, "type") == t);
    let meta = props.get("metadata");
    let complete = is(props.get("kind"), "string")
        && is(props.get("apiVersion"), "string")
        && is(meta, "object")
        && is(meta.and_then(|m| m.pointer("/properties/name")), "string")
        && is(
            meta.and_then(|m| m.pointer("/properties/generateName")),
            "string",
        );
    if complete {
        return;
    }
    let capped = |existing: Option<&Value>, cap: i64| {
        let max = existing
            .and_then(|e| int_of(e, "maxLength"))
            .filter(|m| *m < cap)
            .unwrap_or(cap);
        serde_json::json!({"type": "string", "maxLength": max})
    };
    let name = capped(meta.and_then(|m| m.pointer("/properties/name")), 253);
    let generate = capped(
        meta.and_then(|m| m.pointer("/properties/generateName")),
        252,
    );
    props.insert("kind".into(), serde_json::json!({"type": "string"}));
    props.insert("apiVersion".into(), serde_json::json!({"type": "string"}));
    props.insert(
        "metadata".into(),
        serde_json::json!({"type": "object", "properties": {"name": name, "generateName": generate}}),
    );
}

// ---------------------------------------------------------------------------------------------
// CEL types, as far as costs depend on them.

#[derive(Clone, Debug)]
enum Ty {
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Null,
    Duration,
    Timestamp,
    Dyn,
    Type,
    List(Box<Ty>),
    Map(Box<Ty>, Box<Ty>),
    Object(Arc<Decl>),
    /// Kubernetes and optional types, by name: costs treat them as opaque.
    Opaque(&'static str, Vec<Ty>),
}

impl Ty {
    fn of(d: &Arc<Decl>) -> Ty {
        match &d.kind {
            DeclKind::Scalar(t) => t.clone(),
            DeclKind::List(e) => Ty::List(Box::new(Ty::of(e))),
            DeclKind::Map(k, v) => Ty::Map(Box::new(Ty::of(k)), Box::new(Ty::of(v))),
            DeclKind::Object(_) => Ty::Object(d.clone()),
        }
    }

    fn is_dyn(&self) -> bool {
        matches!(self, Ty::Dyn)
    }

    /// Constant-size values (cel-go's isScalar).
    fn is_scalar(&self) -> bool {
        match self {
            Ty::Bool | Ty::Double | Ty::Duration | Ty::Int | Ty::Timestamp | Ty::Uint => true,
            Ty::Opaque("optional_type", p) => p.first().is_some_and(Ty::is_scalar),
            _ => false,
        }
    }

    fn elem(&self) -> Ty {
        match self {
            Ty::List(e) => (**e).clone(),
            Ty::Map(k, _) => (**k).clone(),
            _ => Ty::Dyn,
        }
    }

    fn value(&self) -> Ty {
        match self {
            Ty::List(e) | Ty::Map(_, e) => (**e).clone(),
            _ => Ty::Dyn,
        }
    }
}

fn opaque(name: &'static str) -> Ty {
    Ty::Opaque(name, Vec::new())
}

// ---------------------------------------------------------------------------------------------
// The checker: every expression's type and, for calls, the overloads cel-go would pick.

struct Checked {
    types: HashMap<u64, Ty>,
    overloads: HashMap<u64, Vec<&'static str>>,
}

struct Checker<'a> {
    root: &'a Arc<Decl>,
    out: Checked,
    locals: Vec<(String, Ty)>,
}

/// A call on an identifier that is no variable is a namespaced function (`sets.contains(a,
/// b)`, `strings.quote(s)`): cel-go's checker makes it a global call without a target.
fn effective(
    c: &cel::common::ast::CallExpr,
    is_var: impl Fn(&str) -> bool,
) -> (String, Option<&IdedExpr>) {
    match c.target.as_deref() {
        Some(IdedExpr {
            expr: Expr::Ident(ns),
            ..
        }) if !is_var(ns) => (format!("{ns}.{}", c.func_name), None),
        t => (c.func_name.clone(), t),
    }
}

impl Checker<'_> {
    fn is_var(&self, name: &str) -> bool {
        matches!(name, "self" | "oldSelf") || self.locals.iter().any(|(n, _)| n == name)
    }

    fn var(&self, name: &str) -> Ty {
        if let Some((_, t)) = self.locals.iter().rev().find(|(n, _)| n == name) {
            return t.clone();
        }
        match name {
            "self" | "oldSelf" => Ty::of(self.root),
            _ => Ty::Dyn,
        }
    }

    fn check(&mut self, e: &IdedExpr) -> Ty {
        let t = match &e.expr {
            Expr::Literal(l) => match l {
                LiteralValue::Boolean(_) => Ty::Bool,
                LiteralValue::Bytes(_) => Ty::Bytes,
                LiteralValue::Double(_) => Ty::Double,
                LiteralValue::Int(_) => Ty::Int,
                LiteralValue::Null => Ty::Null,
                LiteralValue::String(_) => Ty::String,
                LiteralValue::UInt(_) => Ty::Uint,
            },
            Expr::Ident(name) => self.var(name),
            Expr::Select(s) => {
                let operand = self.check(&s.operand);
                if s.test {
                    Ty::Bool
                } else {
                    match operand {
                        Ty::Object(d) => match &d.kind {
                            DeclKind::Object(fields) => {
                                fields.get(&s.field).map(Ty::of).unwrap_or(Ty::Dyn)
                            }
                            _ => Ty::Dyn,
                        },
                        Ty::Map(_, v) => *v,
                        _ => Ty::Dyn,
                    }
                }
            }
            Expr::List(l) => {
                let mut elem: Option<Ty> = None;
                for x in &l.elements {
                    let t = self.check(x);
                    elem = Some(match elem {
                        None => t,
                        Some(prev) if same_kind(&prev, &t) => prev,
                        Some(_) => Ty::Dyn,
                    });
                }
                Ty::List(Box::new(elem.unwrap_or(Ty::Dyn)))
            }
            Expr::Map(m) => {
                let mut kv: Option<(Ty, Ty)> = None;
                for entry in &m.entries {
                    if let cel::common::ast::EntryExpr::MapEntry(me) = &entry.expr {
                        let k = self.check(&me.key);
                        let v = self.check(&me.value);
                        kv = Some(match kv {
                            None => (k, v),
                            Some((pk, pv)) => (
                                if same_kind(&pk, &k) { pk } else { Ty::Dyn },
                                if same_kind(&pv, &v) { pv } else { Ty::Dyn },
                            ),
                        });
                    }
                }
                let (k, v) = kv.unwrap_or((Ty::Dyn, Ty::Dyn));
                Ty::Map(Box::new(k), Box::new(v))
            }
            Expr::Struct(st) => {
                for entry in &st.entries {
                    if let cel::common::ast::EntryExpr::StructField(f) = &entry.expr {
                        self.check(&f.value);
                    }
                }
                Ty::Dyn
            }
            Expr::Comprehension(c) => {
                let range = self.check(&c.iter_range);
                let init = self.check(&c.accu_init);
                let iter = match (&range, &c.iter_var2) {
                    (Ty::Map(k, _), _) => (**k).clone(),
                    (Ty::List(e), None) => (**e).clone(),
                    (Ty::List(_), Some(_)) => Ty::Int,
                    _ => Ty::Dyn,
                };
                self.locals.push((c.accu_var.clone(), init.clone()));
                self.locals.push((c.iter_var.clone(), iter));
                if let Some(v2) = &c.iter_var2 {
                    self.locals.push((v2.clone(), range.value()));
                }
                self.check(&c.loop_cond);
                let step = self.check(&c.loop_step);
                let n = if c.iter_var2.is_some() { 3 } else { 2 };
                self.locals.truncate(self.locals.len() - n);
                // map/filter build a list of what the step adds.
                let accu = match (&init, &step) {
                    (Ty::List(e), Ty::List(s)) if e.is_dyn() => Ty::List(s.clone()),
                    _ => init,
                };
                self.locals.push((c.accu_var.clone(), accu));
                let result = self.check(&c.result);
                self.locals.pop();
                result
            }
            Expr::Call(call) => {
                let (name, target) = effective(call, |n| self.is_var(n));
                let args: Vec<Ty> = target
                    .into_iter()
                    .chain(call.args.iter())
                    .map(|a| self.check(a))
                    .collect();
                let (result, overloads) = resolve(&name, target.is_some(), &args);
                self.out.overloads.insert(e.id, overloads);
                result
            }
            Expr::Unspecified => Ty::Dyn,
        };
        self.out.types.insert(e.id, t.clone());
        t
    }
}

fn same_kind(a: &Ty, b: &Ty) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// The result type of a call and the overload IDs cel-go's checker would record for it (only
/// the IDs whose cost differs matter; others are named `o1`).
fn resolve(name: &str, member: bool, args: &[Ty]) -> (Ty, Vec<&'static str>) {
    let a0 = args.first().cloned().unwrap_or(Ty::Dyn);
    let a1 = args.get(1).cloned().unwrap_or(Ty::Dyn);
    let o1 = vec!["o1"];
    let numeric = |t: &Ty| matches!(t, Ty::Int | Ty::Uint | Ty::Double | Ty::Dyn);
    match name {
        "_&&_" => (Ty::Bool, vec!["logical_and"]),
        "_||_" => (Ty::Bool, vec!["logical_or"]),
        "_?_:_" => {
            let t = if same_kind(&a1, &args[2]) {
                a1
            } else {
                Ty::Dyn
            };
            (t, vec!["conditional"])
        }
        "_==_" => (Ty::Bool, vec!["equals"]),
        "_!=_" => (Ty::Bool, vec!["not_equals"]),
        "!_" | "@not_strictly_false" => (Ty::Bool, o1),
        "-_" => (a0, o1),
        "_<_" | "_<=_" | "_>_" | "_>=_" => {
            let base = match name {
                "_<_" => ("less_string", "less_bytes"),
                "_<=_" => ("less_equals_string", "less_equals_bytes"),
                "_>_" => ("greater_string", "greater_bytes"),
                _ => ("greater_equals_string", "greater_equals_bytes"),
            };
            let ids = match (&a0, &a1) {
                (Ty::String, _) | (_, Ty::String) => vec![base.0],
                (Ty::Bytes, _) | (_, Ty::Bytes) => vec![base.1],
                (Ty::Dyn, _) | (_, Ty::Dyn) => vec![base.0, base.1, "o1"],
                _ => o1,
            };
            (Ty::Bool, ids)
        }
        "_+_" => match (&a0, &a1) {
            (Ty::String, _) | (_, Ty::String) => (Ty::String, vec!["add_string"]),
            (Ty::Bytes, _) | (_, Ty::Bytes) => (Ty::Bytes, vec!["add_bytes"]),
            (Ty::List(e), Ty::List(f)) => {
                let t = if e.is_dyn() { f.clone() } else { e.clone() };
                (Ty::List(t), vec!["add_list"])
            }
            (Ty::List(e), _) | (_, Ty::List(e)) => (Ty::List(e.clone()), vec!["add_list"]),
            (Ty::Timestamp, _) | (_, Ty::Timestamp) => (Ty::Timestamp, o1),
            (Ty::Duration, Ty::Duration) => (Ty::Duration, o1),
            (Ty::Dyn, _) | (_, Ty::Dyn) => {
                (Ty::Dyn, vec!["add_string", "add_bytes", "add_list", "o1"])
            }
            _ => (a0, o1),
        },
        "_-_" => match (&a0, &a1) {
            (Ty::Timestamp, Ty::Timestamp) => (Ty::Duration, o1),
            _ => (a0, o1),
        },
        "_*_" | "_/_" | "_%_" => (a0, o1),
        "@in" => match &a1 {
            Ty::List(_) => (Ty::Bool, vec!["in_list"]),
            Ty::Map(..) => (Ty::Bool, vec!["in_map"]),
            _ => (Ty::Bool, vec!["in_list", "in_map"]),
        },
        "_[_]" => match &a0 {
            Ty::List(e) => ((**e).clone(), vec!["index_list"]),
            Ty::Map(_, v) => ((**v).clone(), vec!["index_map"]),
            _ => (Ty::Dyn, vec!["index_list", "index_map"]),
        },
        "_[?_]" => (Ty::Opaque("optional_type", vec![a0.value()]), o1),
        "size" => (Ty::Int, o1),
        "matches" if member => (Ty::Bool, vec!["matches_string"]),
        "matches" => (Ty::Bool, vec!["matches"]),
        "contains" => (Ty::Bool, vec!["contains_string"]),
        "startsWith" => (Ty::Bool, vec!["starts_with_string"]),
        "endsWith" => (Ty::Bool, vec!["ends_with_string"]),
        "string" => match a0 {
            Ty::Bytes => (Ty::String, vec!["bytes_to_string"]),
            _ => (Ty::String, o1),
        },
        "bytes" => match a0 {
            Ty::String => (Ty::Bytes, vec!["string_to_bytes"]),
            _ => (Ty::Bytes, o1),
        },
        "strings.quote" => (Ty::String, vec!["strings_quote"]),
        "format" if member => (Ty::String, vec!["string_format"]),
        "int" | "getFullYear" | "getMonth" | "getDayOfYear" | "getDayOfMonth" | "getDate"
        | "getDayOfWeek" | "getHours" | "getMinutes" | "getSeconds" | "getMilliseconds"
        | "indexOf" | "lastIndexOf" | "compareTo" | "sign" | "asInteger" | "major" | "minor"
        | "patch" | "prefixLength" | "family" => (Ty::Int, o1),
        "uint" => (Ty::Uint, o1),
        "double" | "asApproximateFloat" => (Ty::Double, o1),
        "bool"
        | "isSorted"
        | "isURL"
        | "isIP"
        | "isCIDR"
        | "isQuantity"
        | "isSemver"
        | "isInteger"
        | "isGreaterThan"
        | "isLessThan"
        | "ip.isCanonical"
        | "isUnspecified"
        | "isLoopback"
        | "isLinkLocalMulticast"
        | "isLinkLocalUnicast"
        | "isGlobalUnicast"
        | "containsIP"
        | "containsCIDR"
        | "hasValue"
        | "allowed"
        | "errored" => (Ty::Bool, o1),
        "sets.contains" => (Ty::Bool, vec!["list_sets_contains_list"]),
        "sets.intersects" => (Ty::Bool, vec!["list_sets_intersects_list"]),
        "sets.equivalent" => (Ty::Bool, vec!["list_sets_equivalent_list"]),
        "duration" => (Ty::Duration, o1),
        "timestamp" => (Ty::Timestamp, o1),
        "dyn" => (a0, o1),
        "type" => (Ty::Type, o1),
        "lowerAscii" | "upperAscii" | "trim" | "replace" | "substring" | "charAt" | "reverse"
            if matches!(a0, Ty::String | Ty::Dyn) =>
        {
            (Ty::String, o1)
        }
        "join"
        | "getScheme"
        | "getHostname"
        | "getHost"
        | "getPort"
        | "getEscapedPath"
        | "find"
        | "base64.encode"
        | "jsonpatch.escapeKey"
        | "reason"
        | "error" => (Ty::String, o1),
        "split" | "findAll" => (Ty::List(Box::new(Ty::String)), o1),
        "getQuery" => (
            Ty::Map(
                Box::new(Ty::String),
                Box::new(Ty::List(Box::new(Ty::String))),
            ),
            o1,
        ),
        "base64.decode" => (Ty::Bytes, o1),
        "url" => (opaque("net.URL"), o1),
        "ip" if member => (opaque("net.IP"), vec!["cidr_ip"]),
        "ip" => (opaque("net.IP"), o1),
        "cidr" => (opaque("net.CIDR"), o1),
        "masked" => (opaque("net.CIDR"), o1),
        "quantity" | "add" | "sub" => (opaque("kubernetes.Quantity"), o1),
        "semver" => (opaque("kubernetes.Semver"), o1),
        "sum" | "max" | "min" => (a0.elem(), o1),
        "math.greatest" | "math.least" if numeric(&a0) => (a0, o1),
        "slice" | "flatten" | "distinct" | "sort" | "sortBy" if member => {
            let id = match name {
                "slice" => "list_slice",
                "flatten" => "list_flatten",
                "distinct" => "list_distinct",
                "sort" => "list_sort",
                _ => "list_sortBy",
            };
            (a0, vec![id])
        }
        "reverse" if member => (a0, vec!["list_reverse"]),
        "lists.range" => (Ty::List(Box::new(Ty::Int)), vec!["lists_range"]),
        "value" => (a0.value(), o1),
        "optional.of" | "optional.ofNonZeroValue" => (Ty::Opaque("optional_type", vec![a0]), o1),
        "orValue" => (
            match a0 {
                Ty::Opaque("optional_type", p) => p.into_iter().next().unwrap_or(Ty::Dyn),
                _ => Ty::Dyn,
            },
            o1,
        ),
        _ => (Ty::Dyn, o1),
    }
}

// ---------------------------------------------------------------------------------------------
// The coster: cel-go's checker/cost.go.

#[derive(Clone, Copy, Default)]
struct Entry {
    list: bool,
    key: Est,
    val: Est,
}

struct Local {
    path: Option<Vec<String>>,
    size: Option<Est>,
    entry: Option<Entry>,
}

struct Coster<'a> {
    root: &'a Arc<Decl>,
    checked: &'a Checked,
    paths: HashMap<u64, Vec<String>>,
    locals: HashMap<String, Vec<Local>>,
    sizes: HashMap<u64, Est>,
    entries: HashMap<u64, Entry>,
}

/// An AST node as function estimators see it.
struct Node<'e> {
    expr: Option<&'e IdedExpr>,
    path: Vec<String>,
    ty: Ty,
    computed: Option<Est>,
}

const ACCU: [&str; 2] = ["__result__", "@result"];

impl<'a> Coster<'a> {
    fn ty(&self, e: &IdedExpr) -> Ty {
        self.checked.types.get(&e.id).cloned().unwrap_or(Ty::Dyn)
    }

    fn path(&self, e: &IdedExpr) -> Vec<String> {
        if let Expr::Ident(name) = &e.expr
            && let Some(l) = self.locals.get(name).and_then(|v| v.last())
        {
            return l.path.clone().unwrap_or_default();
        }
        self.paths.get(&e.id).cloned().unwrap_or_default()
    }

    /// The Kubernetes size estimator: the declared `MaxElements` of the node a path reaches.
    fn estimate_size(&self, path: &[String]) -> Option<Est> {
        if path.is_empty() {
            return None;
        }
        let mut cur = self.root.clone();
        for name in &path[1..] {
            cur = match (name.as_str(), &cur.kind) {
                ("@items" | "@values", DeclKind::List(e) | DeclKind::Map(_, e)) => e.clone(),
                ("@keys", DeclKind::Map(k, _)) => k.clone(),
                (_, DeclKind::Object(fields)) => fields.get(name)?.clone(),
                _ => return None,
            };
        }
        Some(Est {
            min: 0,
            max: cur.max_elements.max(0) as u64,
        })
    }

    fn compute_size(&mut self, e: &IdedExpr) -> Option<Est> {
        if let Some(s) = self.sizes.get(&e.id) {
            return Some(*s);
        }
        if let Some(s) = expr_size(e) {
            return Some(s);
        }
        let path = self.path(e);
        if let Some(s) = self.estimate_size(&path) {
            self.sizes.insert(e.id, s);
            return Some(s);
        }
        if self.ty(e).is_scalar() {
            return Some(fixed(1));
        }
        if let Expr::Ident(name) = &e.expr
            && let Some(l) = self.locals.get(name).and_then(|v| v.last())
        {
            return l.size;
        }
        None
    }

    fn size_or_unknown(&mut self, e: &IdedExpr) -> Est {
        self.compute_size(e).unwrap_or(UNKNOWN)
    }

    fn entry_size(&self, e: &IdedExpr) -> Option<Entry> {
        if let Some(s) = self.entries.get(&e.id) {
            return Some(*s);
        }
        if let Expr::Ident(name) = &e.expr
            && let Some(l) = self.locals.get(name).and_then(|v| v.last())
        {
            return l.entry;
        }
        None
    }

    fn node<'e>(&mut self, e: &'e IdedExpr) -> Node<'e> {
        let mut path = self.path(e);
        if path.first().is_some_and(|p| ACCU.contains(&p.as_str())) {
            path.clear();
        }
        let computed = self.compute_size(e);
        Node {
            expr: Some(e),
            path,
            ty: self.ty(e),
            computed,
        }
    }

    /// A function estimator's view of a node's size.
    fn node_size(&self, n: &Node) -> Est {
        n.computed
            .or_else(|| self.estimate_size(&n.path))
            .unwrap_or(UNKNOWN)
    }

    fn push_local(&mut self, name: &str, l: Local) {
        self.locals.entry(name.to_owned()).or_default().push(l);
    }

    fn pop_local(&mut self, name: &str) {
        if let Some(v) = self.locals.get_mut(name) {
            v.pop();
        }
    }

    fn cost(&mut self, e: &IdedExpr) -> Est {
        match &e.expr {
            Expr::Literal(_) => fixed(0),
            Expr::Ident(name) => {
                let path = match self.locals.get(name).and_then(|v| v.last()) {
                    Some(l) => l.path.clone().unwrap_or_default(),
                    None => vec![name.clone()],
                };
                self.paths.insert(e.id, path);
                fixed(1)
            }
            Expr::Select(s) => {
                if s.test {
                    // Presence tests cost nothing in Kubernetes (PresenceTestHasCost(false)).
                    return self.cost(&s.operand);
                }
                let mut sum = self.cost(&s.operand);
                if matches!(self.ty(&s.operand), Ty::Map(..) | Ty::Object(_)) {
                    sum = sum.add(fixed(1));
                }
                let mut path = self.path(&s.operand);
                path.push(s.field.clone());
                self.paths.insert(e.id, path);
                sum
            }
            Expr::Call(call) => self.cost_call(e, call),
            Expr::List(l) => {
                let mut sum = fixed(0);
                let mut item = Est {
                    min: if l.elements.is_empty() { 0 } else { u64::MAX },
                    max: 0,
                };
                for x in &l.elements {
                    sum = sum.add(self.cost(x));
                    item = item.union(self.size_or_unknown(x));
                }
                self.entries.insert(
                    e.id,
                    Entry {
                        list: true,
                        key: fixed(1),
                        val: item,
                    },
                );
                sum.add(fixed(LIST_CREATE))
            }
            Expr::Map(m) => {
                let mut sum = fixed(0);
                let empty = m.entries.is_empty();
                let mut key = Est {
                    min: if empty { 0 } else { u64::MAX },
                    max: 0,
                };
                let mut val = key;
                for entry in &m.entries {
                    if let cel::common::ast::EntryExpr::MapEntry(me) = &entry.expr {
                        sum = sum.add(self.cost(&me.key)).add(self.cost(&me.value));
                        key = key.union(self.size_or_unknown(&me.key));
                        val = val.union(self.size_or_unknown(&me.value));
                    }
                }
                self.entries.insert(
                    e.id,
                    Entry {
                        list: false,
                        key,
                        val,
                    },
                );
                sum.add(fixed(MAP_CREATE))
            }
            Expr::Struct(st) => {
                let mut sum = fixed(0);
                for entry in &st.entries {
                    if let cel::common::ast::EntryExpr::StructField(f) = &entry.expr {
                        sum = sum.add(self.cost(&f.value));
                    }
                }
                sum.add(fixed(STRUCT_CREATE))
            }
            Expr::Comprehension(c) => self.cost_comprehension(e, c),
            Expr::Unspecified => fixed(0),
        }
    }

    fn cost_comprehension(&mut self, e: &IdedExpr, c: &cel::common::ast::ComprehensionExpr) -> Est {
        let mut sum = self.cost(&c.iter_range);
        sum = sum.add(self.cost(&c.accu_init));
        let accu = Local {
            path: Some(self.path(&c.accu_init)),
            size: self.compute_size(&c.accu_init),
            entry: self.entry_size(&c.accu_init),
        };
        self.push_local(&c.accu_var, accu);
        let entry = self.entry_size(&c.iter_range);
        let list = match entry {
            Some(en) => en.list,
            None => matches!(self.ty(&c.iter_range), Ty::List(_)),
        };
        let mut range_path = self.path(&c.iter_range);
        if let Some(v2) = &c.iter_var2 {
            let mut kp = range_path.clone();
            kp.push(if list { "@indices" } else { "@keys" }.into());
            let mut vp = range_path.clone();
            vp.push(if list { "@items" } else { "@values" }.into());
            self.push_local(
                &c.iter_var,
                Local {
                    path: Some(kp),
                    size: entry.map(|e| e.key),
                    entry: None,
                },
            );
            self.push_local(
                v2,
                Local {
                    path: Some(vp),
                    size: entry.map(|e| e.val),
                    entry: None,
                },
            );
        } else {
            range_path.push(if list { "@items" } else { "@keys" }.into());
            let size = entry.map(|e| if list { e.val } else { e.key });
            self.push_local(
                &c.iter_var,
                Local {
                    path: Some(range_path),
                    size,
                    entry: None,
                },
            );
        }
        let loop_cost = self.cost(&c.loop_cond);
        let step_cost = self.cost(&c.loop_step);
        self.pop_local(&c.iter_var);
        if let Some(v2) = &c.iter_var2 {
            self.pop_local(v2);
        }
        sum = sum.add(self.cost(&c.result));
        self.pop_local(&c.accu_var);
        let range = self.size_or_unknown(&c.iter_range);
        sum = sum.add(range.mul(step_cost.add(loop_cost)));
        match &c.accu_init.expr {
            Expr::Literal(_) => {
                if let Some(s) = self.compute_size(&c.accu_init) {
                    self.sizes.insert(e.id, s);
                }
            }
            Expr::List(_) | Expr::Map(_) => {
                self.sizes.insert(e.id, range);
                if let Some(en) = self.entry_size(&c.loop_step) {
                    self.entries.insert(e.id, en);
                }
            }
            _ => {}
        }
        sum
    }

    fn cost_call(&mut self, e: &IdedExpr, call: &cel::common::ast::CallExpr) -> Est {
        let (name, target) = effective(call, |n| {
            matches!(n, "self" | "oldSelf") || self.locals.get(n).is_some_and(|v| !v.is_empty())
        });
        if name == "dyn" && call.args.len() == 1 {
            let arg = &call.args[0];
            let c = self.cost(arg);
            if let Some(s) = self.compute_size(arg) {
                self.sizes.insert(e.id, s);
            }
            if let Some(en) = self.entry_size(arg) {
                self.entries.insert(e.id, en);
            }
            return fixed(1).add(c);
        }
        let arg_costs: Vec<Est> = call.args.iter().map(|a| self.cost(a)).collect();
        let args: Vec<Node> = call.args.iter().map(|a| self.node(a)).collect();
        let Some(overloads) = self.checked.overloads.get(&e.id).cloned() else {
            return fixed(0);
        };
        let mut sum = fixed(0);
        let target = target.map(|t| {
            sum = sum.add(self.cost(t));
            self.node(t)
        });
        let mut fn_cost = Est {
            min: u64::MAX,
            max: 0,
        };
        let mut result: Option<Est> = None;
        for id in overloads {
            let (c, size) = self.function_cost(e, &name, id, target.as_ref(), &args, &arg_costs);
            fn_cost = fn_cost.union(c);
            if let Some(s) = size {
                result = Some(result.map_or(s, |r| r.union(s)));
            }
            match id {
                "index_list" | "index_map" if !call.args.is_empty() => {
                    let a = &call.args[0];
                    result = self.entry_size(a).map(|en| en.val);
                    let mut p = self.path(a);
                    p.push(
                        if id == "index_list" {
                            "@items"
                        } else {
                            "@values"
                        }
                        .into(),
                    );
                    self.paths.insert(e.id, p);
                }
                _ => {}
            }
            if result.is_none() {
                result = self.compute_size(e);
            }
        }
        if let Some(r) = result {
            self.sizes.insert(e.id, r);
        }
        sum.add(fn_cost)
    }

    fn function_cost(
        &mut self,
        e: &IdedExpr,
        function: &str,
        id: &str,
        target: Option<&Node>,
        args: &[Node],
        arg_costs: &[Est],
    ) -> (Est, Option<Est>) {
        let arg_sum = arg_costs.iter().fold(fixed(0), |s, c| s.add(*c));
        // The ext library estimators (sets, lists).
        if let Some((c, size)) = self.ext_cost(id, target, args) {
            return (c.add(arg_sum), size);
        }
        // Kubernetes' estimator.
        if let Some((c, size)) = self.kubernetes_cost(function, id, target, args) {
            return (c.add(arg_sum), size);
        }
        let size = |n: &Node| self.node_size(n);
        match id {
            "string_format" if target.is_some() => {
                return (
                    size(target.unwrap()).factor(STRING_TRAVERSAL).add(arg_sum),
                    None,
                );
            }
            "string_to_bytes" if args.len() == 1 => {
                let sz = size(&args[0]);
                return (
                    sz.factor(STRING_TRAVERSAL).add(arg_sum),
                    Some(Est {
                        min: sz.min,
                        max: sz.max.saturating_mul(4),
                    }),
                );
            }
            "bytes_to_string" if args.len() == 1 => {
                let sz = size(&args[0]);
                return (
                    sz.factor(STRING_TRAVERSAL).add(arg_sum),
                    Some(Est {
                        min: sz.min / 4,
                        max: sz.max,
                    }),
                );
            }
            "strings_quote" if args.len() == 1 => {
                let sz = size(&args[0]);
                return (
                    sz.factor(STRING_TRAVERSAL).add(arg_sum),
                    Some(Est {
                        min: sz.min + 2,
                        max: sz.max.saturating_mul(2).saturating_add(2),
                    }),
                );
            }
            "starts_with_string" | "ends_with_string" if args.len() == 1 => {
                return (size(&args[0]).factor(STRING_TRAVERSAL).add(arg_sum), None);
            }
            "in_list" if args.len() == 2 => {
                return (size(&args[1]).factor(1.0).add(arg_sum), None);
            }
            "matches" | "matches_string" => {
                let (s, r) = match (id, target) {
                    ("matches_string", Some(t)) if args.len() == 1 => (size(t), size(&args[0])),
                    ("matches", None) if args.len() == 2 => (size(&args[0]), size(&args[1])),
                    _ => return (fixed(1).add(arg_sum), None),
                };
                let str_cost = s.add(fixed(1)).factor(STRING_TRAVERSAL);
                let regex_cost = r.factor(REGEX_LENGTH);
                return (str_cost.mul(regex_cost).add(arg_sum), None);
            }
            "contains_string" if target.is_some() && args.len() == 1 => {
                let s = size(target.unwrap()).factor(STRING_TRAVERSAL);
                let sub = size(&args[0]).factor(STRING_TRAVERSAL);
                return (s.mul(sub).add(arg_sum), None);
            }
            "logical_or" | "logical_and" => {
                let (l, r) = (arg_costs[0], arg_costs[1]);
                return (
                    Est {
                        min: l.min,
                        max: l.add(r).max,
                    },
                    None,
                );
            }
            "conditional" => {
                let a1 = args[1].expr.unwrap();
                let a2 = args[2].expr.unwrap();
                let sz = size(&args[1]).union(size(&args[2]));
                let en = match (self.entry_size(a1), self.entry_size(a2)) {
                    (Some(x), Some(y)) => Some(Entry {
                        list: x.list,
                        key: x.key.union(y.key),
                        val: x.val.union(y.val),
                    }),
                    _ => None,
                };
                if let Some(en) = en {
                    self.entries.insert(e.id, en);
                }
                let c = arg_costs[0].add(arg_costs[1].union(arg_costs[2]));
                return (c, Some(sz));
            }
            "add_string" | "add_bytes" | "add_list" if args.len() == 2 => {
                let result = size(&args[0]).add(size(&args[1]));
                let a0 = args[0].expr.unwrap();
                let a1 = args[1].expr.unwrap();
                if let (Some(x), Some(y)) = (self.entry_size(a0), self.entry_size(a1)) {
                    self.entries.insert(
                        e.id,
                        Entry {
                            list: x.list,
                            key: x.key.union(y.key),
                            val: x.val.union(y.val),
                        },
                    );
                }
                if id == "add_list" {
                    return (fixed(1).add(arg_sum), Some(result));
                }
                return (result.factor(STRING_TRAVERSAL).add(arg_sum), Some(result));
            }
            "less_string"
            | "greater_string"
            | "less_equals_string"
            | "greater_equals_string"
            | "less_bytes"
            | "greater_bytes"
            | "less_equals_bytes"
            | "greater_equals_bytes"
            | "equals"
            | "not_equals" => {
                let (l, r) = (size(&args[0]), size(&args[1]));
                let smallest = l.max.min(r.max);
                let min = u64::from(smallest > 0);
                return (
                    Est { min, max: smallest }
                        .factor(STRING_TRAVERSAL)
                        .add(arg_sum),
                    None,
                );
            }
            _ => {}
        }
        (fixed(1).add(arg_sum), None)
    }

    /// cel-go's ext `sets` and `lists` estimators (what Kubernetes' environment enables).
    fn ext_cost(
        &self,
        id: &str,
        target: Option<&Node>,
        args: &[Node],
    ) -> Option<(Est, Option<Est>)> {
        let size = |n: &Node| self.node_size(n);
        let alloc = |factor: f64, list: Est| {
            let c = list.factor(factor).add(fixed(1)).add(fixed(LIST_CREATE));
            Some((c, Some(list)))
        };
        let literal_uint = |n: &Node, default: u64| match n.expr.map(|e| &e.expr) {
            Some(Expr::Literal(LiteralValue::Int(i))) => u64::try_from(*i.inner()).unwrap_or(0),
            _ => default,
        };
        match id {
            "list_sets_contains_list"
            | "list_sets_intersects_list"
            | "list_sets_equivalent_list"
                if args.len() == 2 =>
            {
                let f = if id == "list_sets_equivalent_list" {
                    2.0
                } else {
                    1.0
                };
                let c = size(&args[0]).mul(size(&args[1])).factor(f).add(fixed(1));
                Some((c, None))
            }
            "list_slice" if args.len() == 2 => {
                let sz = size(target?);
                let start = literal_uint(&args[0], 0);
                let end = literal_uint(&args[1], sz.max);
                alloc(1.0, fixed(end.saturating_sub(start)))
            }
            "lists_range" if target.is_none() && args.len() == 1 => {
                alloc(1.0, fixed(literal_uint(&args[0], u64::MAX)))
            }
            "list_reverse" => alloc(1.0, size(target?)),
            "list_flatten" => {
                let depth = args.first().map_or(1, |a| literal_uint(a, u64::MAX));
                alloc(depth as f64, size(target?))
            }
            "list_distinct" => {
                let sz = size(target?);
                alloc(2.0, sz.mul(sz))
            }
            "list_sort" | "list_sortBy" => {
                let n = if id == "list_sort" {
                    target?
                } else {
                    args.first()?
                };
                let sz = size(n);
                let elem = n.ty.elem();
                let f = if matches!(elem, Ty::String | Ty::Bytes) {
                    2.0 + STRING_TRAVERSAL
                } else {
                    2.0
                };
                alloc(f, sz.mul(sz))
            }
            _ => None,
        }
    }

    /// Kubernetes' `library.CostEstimator.EstimateCallCost`.
    fn kubernetes_cost(
        &self,
        function: &str,
        id: &str,
        target: Option<&Node>,
        args: &[Node],
    ) -> Option<(Est, Option<Est>)> {
        let size = |n: &Node| self.node_size(n);
        let one = || Some((fixed(1), None));
        match function {
            "check" => Some((fixed(350_000), None)),
            "serviceAccount" | "path" | "group" | "resource" | "subresource" | "namespace"
            | "name" | "allowed" | "reason" | "error" | "errored" => one(),
            "fieldSelector" | "labelSelector" if args.len() == 1 => {
                let l = size(&args[0]);
                let parse = l.factor(STRING_TRAVERSAL);
                let reqs = l.factor(0.5).factor((LIST_CREATE + STRUCT_CREATE) as f64);
                Some((fixed(LIST_CREATE).add(parse).add(reqs), None))
            }
            "isSorted" | "sum" | "max" | "min" | "indexOf" | "lastIndexOf" | "includes" => {
                let t = target?;
                let mut el = fixed(1);
                if let Ty::List(e) = &t.ty {
                    if matches!(**e, Ty::String | Ty::Bytes) {
                        let mut path = t.path.clone();
                        if !path.is_empty() {
                            path.push("@items".into());
                        }
                        let es = self.estimate_size(&path).unwrap_or(UNKNOWN);
                        el = el.add(es.factor(STRING_TRAVERSAL));
                    }
                    Some((size(t).mul(el), None))
                } else if function == "includes" {
                    Some((size(t).mul(el), None))
                } else {
                    Some((size(t).factor(STRING_TRAVERSAL), None))
                }
            }
            "url" | "jsonpatch.escapeKey" if args.len() == 1 => {
                let sz = size(&args[0]);
                Some((sz.factor(STRING_TRAVERSAL), Some(sz)))
            }
            "lowerAscii" | "upperAscii" | "substring" | "trim" => {
                let sz = size(target?);
                Some((sz.factor(STRING_TRAVERSAL), Some(sz)))
            }
            "replace" if target.is_some() && args.len() >= 2 => {
                let sz = size(target?);
                let from = size(&args[0]);
                let with = size(&args[1]);
                let (mut count, mut kept) = (Est::default(), Est::default());
                if from.min == 0 {
                    count.max = if sz.max < u64::MAX {
                        sz.max + 1
                    } else {
                        sz.max
                    };
                    kept.max = sz.max;
                } else if with.max <= from.min {
                    kept.max = sz.max;
                } else {
                    count.max = (sz.max as f64 / from.min as f64).ceil() as u64;
                }
                if from.max == 0 {
                    count.min = if sz.min < u64::MAX {
                        sz.min + 1
                    } else {
                        sz.min
                    };
                    kept.min = sz.min;
                } else if from.max <= with.min {
                    kept.min = sz.min;
                } else {
                    count.min = (sz.min as f64 / from.max as f64).ceil() as u64;
                }
                let result = count.mul(with).add(kept);
                Some((sz.factor(2.0 * STRING_TRAVERSAL), Some(result)))
            }
            "split" => {
                let sz = size(target?);
                let max = match args.get(1).and_then(|a| a.expr).map(|e| &e.expr) {
                    Some(Expr::Literal(LiteralValue::Int(i))) => (*i.inner()).max(0) as u64,
                    _ => sz.max,
                };
                Some((sz.factor(2.0 * STRING_TRAVERSAL), Some(Est { min: 0, max })))
            }
            "join" => {
                let t = target?;
                let list = size(t);
                let mut sz = Est::default();
                if let Ty::List(_) = &t.ty {
                    let mut path = t.path.clone();
                    if !path.is_empty() {
                        path.push("@items".into());
                    }
                    let elem = self.estimate_size(&path).unwrap_or(UNKNOWN);
                    sz = list.mul(elem);
                }
                if let Some(sep) = args.first() {
                    let seps = Est {
                        min: list.min.saturating_sub(1),
                        max: list.max.saturating_sub(1),
                    };
                    sz = sz.add(size(sep).mul(seps));
                }
                Some((sz.factor(STRING_TRAVERSAL), Some(sz)))
            }
            "find" | "findAll" if target.is_some() && !args.is_empty() => {
                let sz = size(target?);
                let s = sz.add(fixed(1)).factor(STRING_TRAVERSAL);
                let r = size(&args[0]).factor(REGEX_LENGTH);
                Some((
                    s.mul(r),
                    Some(Est {
                        min: 0,
                        max: sz.max,
                    }),
                ))
            }
            "cidr" | "isIP" | "isCIDR" if !args.is_empty() => {
                Some((size(&args[0]).factor(STRING_TRAVERSAL), None))
            }
            "ip" => {
                if id == "cidr_ip" {
                    return one();
                }
                Some((size(args.first()?).factor(STRING_TRAVERSAL), None))
            }
            "ip.isCanonical" if !args.is_empty() => {
                Some((size(&args[0]).factor(2.0 * STRING_TRAVERSAL), None))
            }
            "masked"
            | "prefixLength"
            | "family"
            | "isUnspecified"
            | "isLoopback"
            | "isLinkLocalMulticast"
            | "isLinkLocalUnicast"
            | "isGlobalUnicast" => one(),
            "containsIP" | "containsCIDR" if !args.is_empty() => {
                let sz = Est { min: 4, max: 16 };
                let mut c = sz.add(sz).factor(STRING_TRAVERSAL);
                if function == "containsCIDR" {
                    c = c.add(sz.factor(STRING_TRAVERSAL)).add(fixed(1));
                }
                if matches!(args[0].ty, Ty::String) {
                    c = c.add(size(&args[0]).factor(STRING_TRAVERSAL));
                }
                Some((c, None))
            }
            "quantity" | "isQuantity" | "semver" | "isSemver" if !args.is_empty() => {
                Some((size(&args[0]).factor(STRING_TRAVERSAL), None))
            }
            "validate" if !args.is_empty() => {
                // The longest name-format regex is 253 long.
                let c = size(&args[0])
                    .factor(STRING_TRAVERSAL)
                    .factor(253.0 * REGEX_LENGTH);
                Some((c, None))
            }
            "format.named" | "sign" | "asInteger" | "isInteger" | "asApproximateFloat"
            | "isGreaterThan" | "isLessThan" | "compareTo" | "add" | "sub" | "major" | "minor"
            | "patch" | "getScheme" | "getHostname" | "getHost" | "getPort" | "getEscapedPath"
            | "getQuery" => one(),
            "_==_" if args.len() == 2 => match &args[0].ty {
                Ty::Opaque(name, _) if same_kind(&args[0].ty, &args[1].ty) => match *name {
                    "net.IP" | "net.CIDR" | "kubernetes.Quantity" | "kubernetes.Semver" => one(),
                    "net.URL" => Some((Est { min: 1, max: 1 }.factor(STRING_TRAVERSAL), None)),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        }
    }
}

/// The size cel-go knows from the expression itself: literals, list and map literals.
fn expr_size(e: &IdedExpr) -> Option<Est> {
    let v = match &e.expr {
        Expr::Literal(l) => match l {
            LiteralValue::String(s) => s.inner().chars().count() as u64,
            LiteralValue::Bytes(b) => b.inner().len() as u64,
            _ => 1,
        },
        Expr::List(l) => l.elements.len() as u64,
        Expr::Map(m) => m.entries.len() as u64,
        _ => return None,
    };
    Some(fixed(v))
}

/// The worst-case cost of one rule (or messageExpression) on a node of type `root`, or `None`
/// when the expression does not parse here.
pub fn expression_cost(expr: &str, root: &Arc<Decl>) -> Option<u64> {
    let ast = cel::parser::Parser::new().parse(expr).ok()?;
    let mut checker = Checker {
        root,
        out: Checked {
            types: HashMap::new(),
            overloads: HashMap::new(),
        },
        locals: Vec::new(),
    };
    checker.check(&ast);
    let checked = checker.out;
    let mut coster = Coster {
        root,
        checked: &checked,
        paths: HashMap::new(),
        locals: HashMap::new(),
        sizes: HashMap::new(),
        entries: HashMap::new(),
    };
    Some(coster.cost(&ast).max)
}

// ---------------------------------------------------------------------------------------------
// A CRD's rules: cardinality, per-rule and total limits (apiextensions' validation).

/// One rule's (or messageExpression's) estimate, times the times it can run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleCost {
    /// The field path the API server reports, e.g.
    /// `spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule`.
    pub field: String,
    pub expression: String,
    pub cost: u64,
}

/// Every rule of a schema with its cost, in the API server's walk order.
pub fn schema_costs(schema: &Value, field: &str) -> Vec<RuleCost> {
    let mut out = Vec::new();
    let Some(root) = decl_type(schema, true) else {
        return out;
    };
    walk(schema, &root, Some(1), field, &mut out);
    out
}

fn max_elements(s: &Value) -> Option<u64> {
    match str_of(s, "type") {
        "object" if s.get("additionalProperties").is_some() => {
            int_of(s, "maxProperties").map(|m| m as u64)
        }
        "array" => int_of(s, "maxItems").map(|m| m as u64),
        _ => Some(1),
    }
}

fn walk(
    s: &Value,
    decl: &Arc<Decl>,
    cardinality: Option<u64>,
    field: &str,
    out: &mut Vec<RuleCost>,
) {
    // Deeper nodes first: the API server checks a node's rules after its children.
    let child_card = match (cardinality, max_elements(s)) {
        (Some(c), Some(m)) => Some(c.saturating_mul(m)),
        _ => None,
    };
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        let fields = match &decl.kind {
            DeclKind::Object(f) => Some(f),
            _ => None,
        };
        for (name, prop) in props {
            let Some(d) = escape(name).and_then(|n| fields.and_then(|f| f.get(&n)).cloned()) else {
                continue;
            };
            walk(
                prop,
                &d,
                child_card,
                &format!("{field}.properties[{name}]"),
                out,
            );
        }
    }
    if let Some(items) = s.get("items").filter(|i| i.is_object())
        && let DeclKind::List(e) = &decl.kind
    {
        walk(items, e, child_card, &format!("{field}.items"), out);
    }
    if let Some(add) = s.get("additionalProperties").filter(|a| a.is_object())
        && let DeclKind::Map(_, v) = &decl.kind
    {
        walk(
            add,
            v,
            child_card,
            &format!("{field}.additionalProperties"),
            out,
        );
    }
    let Some(rules) = s.get("x-kubernetes-validations").and_then(Value::as_array) else {
        return;
    };
    // Unbounded above: as many times as the smallest instance fits in a request.
    let times = cardinality.unwrap_or_else(|| (MAX_REQUEST_BYTES / (decl.min_size + 1)) as u64);
    for (i, r) in rules.iter().enumerate() {
        for key in ["rule", "messageExpression"] {
            let Some(expr) = r
                .get(key)
                .and_then(Value::as_str)
                .filter(|x| !x.trim().is_empty())
            else {
                continue;
            };
            if let Some(cost) = expression_cost(expr, decl) {
                // messageExpression costs are not multiplied by the cardinality.
                let cost = if key == "rule" {
                    cost.saturating_mul(times)
                } else {
                    cost
                };
                out.push(RuleCost {
                    field: format!("{field}.x-kubernetes-validations[{i}].{key}"),
                    expression: expr.to_string(),
                    cost,
                });
            }
        }
    }
}

/// How far over its budget a cost is, as the API server words it.
pub fn over_budget(name: &str, cost: u64, limit: u64) -> String {
    let f = cost as f64 / limit as f64;
    let factor = if f > 100.0 {
        "more than 100x".to_string()
    } else if f < 1.5 {
        format!("{f:.6}x")
    } else {
        format!("{f:.1}x")
    };
    format!(
        "{name} exceeds budget by factor of {factor} (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)"
    )
}

/// The refusals for one schema at `field` (`…openAPIV3Schema`): each rule over the per-rule
/// limit, and, when all of them together exceed the CRD limit, the (up to four) most expensive
/// rules and the total.
pub fn refusals(schema: &Value, field: &str) -> Vec<crate::error::FieldError> {
    use crate::error::FieldError;
    let costs = schema_costs(schema, field);
    let mut errs = Vec::new();
    let mut total: u64 = 0;
    let mut expensive: Vec<&RuleCost> = Vec::new();
    for c in &costs {
        if c.cost > RULE_LIMIT {
            let what = if c.field.ends_with(".rule") {
                "estimated rule cost"
            } else {
                "estimated messageExpression cost"
            };
            errs.push(FieldError::forbidden(
                &c.field,
                over_budget(what, c.cost, RULE_LIMIT),
            ));
        }
        total = total.saturating_add(c.cost);
        if c.cost >= CRD_LIMIT / 100 {
            expensive.push(c);
            expensive.sort_by_key(|c| std::cmp::Reverse(c.cost));
            expensive.truncate(4);
        }
    }
    if total > CRD_LIMIT {
        for c in expensive {
            errs.push(FieldError::forbidden(
                &c.field,
                "contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema",
            ));
        }
        errs.push(FieldError::forbidden(
            field,
            over_budget(
                "x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema",
                total,
                CRD_LIMIT,
            ),
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The costs below are the API server's own (`control-plane crd-lint` on these schemas);
    /// the conformance suite compares every rule of the project's CRDs the same way.
    fn cost_of(schema: Value) -> Vec<u64> {
        schema_costs(&schema, "")
            .into_iter()
            .map(|c| c.cost)
            .collect()
    }

    #[test]
    fn a_bounded_map_of_keys_matched_by_a_regex() {
        let labels = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "labels": {"type": "object", "maxProperties": 64,
                "additionalProperties": {"type": "string", "maxLength": 63},
                "x-kubernetes-validations": [{"rule": "self.all(k, k.matches('^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))"}]}}}}});
        assert_eq!(cost_of(labels), vec![1666]);
    }

    #[test]
    fn a_nested_loop_over_a_list() {
        let users = json!({"type": "object", "properties": {"aws": {"type": "object",
            "x-kubernetes-validations": [{"rule": "self.users.all(u, self.users.exists_one(v, v.userName == u.userName))"}],
            "properties": {"users": {"type": "array", "maxItems": 99, "items": {"type": "object",
                "properties": {"userName": {"type": "string", "maxLength": 120}}}}}}}});
        assert_eq!(cost_of(users), vec![529950]);
    }

    #[test]
    fn an_unbounded_map_is_refused_with_the_api_servers_words() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"},
                "x-kubernetes-validations": [{"rule": "self.all(k, self[k].matches('^[a-z]+$'))"}]}}}}});
        let errs = refusals(&schema, "spec.validation.openAPIV3Schema");
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(text, vec![
            "spec.validation.openAPIV3Schema.properties[spec].properties[labels].x-kubernetes-validations[0].rule: Forbidden: estimated rule cost exceeds budget by factor of more than 100x (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)".to_string(),
            "spec.validation.openAPIV3Schema.properties[spec].properties[labels].x-kubernetes-validations[0].rule: Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema".to_string(),
            "spec.validation.openAPIV3Schema: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of more than 100x (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)".to_string(),
        ]);
    }

    #[test]
    fn property_names_are_escaped_as_cel_sees_them() {
        assert_eq!(
            escape("a-b.c/d").as_deref(),
            Some("a__dash__b__dot__c__slash__d")
        );
        assert_eq!(escape("namespace").as_deref(), Some("__namespace__"));
        assert_eq!(escape("x__y").as_deref(), Some("x__underscores__y"));
        assert_eq!(escape("1x"), None);
        assert_eq!(escape("a b"), None);
    }
}
