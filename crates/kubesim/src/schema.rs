//! Structural OpenAPI v3 schemas: compiled once from a CRD (or from the built-in type
//! definitions), then used to validate, default and prune objects and to type
//! server-side apply (list and map semantics).

use regex::Regex;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};

use crate::error::{FieldError, FieldErrorKind};

/// How a list merges under server-side apply (`x-kubernetes-list-type`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ListType {
    #[default]
    Atomic,
    Set,
    Map(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub regex: Regex,
}

#[derive(Debug, Clone, Default)]
pub enum Additional {
    /// Not specified: unknown fields are pruned.
    #[default]
    Unspecified,
    /// `additionalProperties: true|false`.
    Bool(bool),
    /// `additionalProperties: {schema}`: a map.
    Schema(Box<Schema>),
}

/// A compiled structural schema node.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub ty: Option<String>,
    pub format: Option<String>,
    pub nullable: bool,
    pub properties: BTreeMap<String, Schema>,
    pub additional: Additional,
    pub items: Option<Box<Schema>>,
    pub required: Vec<String>,
    pub enum_values: Vec<Value>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: bool,
    pub exclusive_maximum: bool,
    pub multiple_of: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    pub pattern: Option<Pattern>,
    pub default: Option<Value>,
    pub preserve_unknown: bool,
    pub int_or_string: bool,
    pub embedded_resource: bool,
    pub list_type: ListType,
    pub map_atomic: bool,
    pub all_of: Vec<Schema>,
    pub any_of: Vec<Schema>,
    pub one_of: Vec<Schema>,
    pub not: Option<Box<Schema>>,
}

/// Compilation context: `$ref` resolution for the built-in definitions.
struct Compiler<'a> {
    defs: Option<&'a Map<String, Value>>,
    stack: Vec<String>,
    errors: Vec<FieldError>,
}

impl Schema {
    /// A schema that accepts anything and keeps unknown fields.
    pub fn any() -> Schema {
        Schema {
            preserve_unknown: true,
            ..Default::default()
        }
    }

    /// Compiles a CRD `openAPIV3Schema`; errors name the offending schema path under `field`.
    pub fn compile(v: &Value, field: &str) -> Result<Schema, Vec<FieldError>> {
        let mut c = Compiler {
            defs: None,
            stack: Vec::new(),
            errors: Vec::new(),
        };
        let s = c.compile(v, field);
        if c.errors.is_empty() {
            Ok(s)
        } else {
            Err(c.errors)
        }
    }

    /// Compiles a schema whose `$ref`s point into `defs` (`#/components/schemas/NAME` or `#/$defs/NAME`).
    /// Recursive references become permissive nodes.
    pub fn compile_with_defs(v: &Value, defs: &Map<String, Value>) -> Schema {
        let mut c = Compiler {
            defs: Some(defs),
            stack: Vec::new(),
            errors: Vec::new(),
        };
        c.compile(v, "")
    }

    /// The schema of a field or map value named `key`.
    pub fn child(&self, key: &str) -> Option<&Schema> {
        if let Some(p) = self.properties.get(key) {
            return Some(p);
        }
        match &self.additional {
            Additional::Schema(s) => Some(s),
            _ => None,
        }
    }

    /// Whether `key` is a declared field (a struct field) rather than a map entry.
    pub fn is_declared(&self, key: &str) -> bool {
        self.properties.contains_key(key)
    }

    pub fn is_map(&self) -> bool {
        matches!(self.additional, Additional::Schema(_)) && self.properties.is_empty()
    }

    /// The JSON type name used in messages ("object", "string", ...); "object" when untyped.
    pub fn type_name(&self) -> &str {
        self.ty.as_deref().unwrap_or(if self.int_or_string {
            "integer-or-string"
        } else {
            "object"
        })
    }

    /// Walks a dotted path (`spec.foo`, `status.conditions[0]`) through properties and items.
    pub fn at_path(&self, path: &str) -> Option<&Schema> {
        let mut cur = self;
        for seg in split_path(path) {
            match seg {
                PathSeg::Field(f) => cur = cur.child(&f)?,
                PathSeg::Index => cur = cur.items.as_deref()?,
            }
        }
        Some(cur)
    }
}

enum PathSeg {
    Field(String),
    Index,
}

fn split_path(path: &str) -> Vec<PathSeg> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(PathSeg::Field(rest[..i].to_string()));
            }
            rest = &rest[i..];
            while let Some(end) = rest.find(']') {
                out.push(PathSeg::Index);
                rest = &rest[end + 1..];
            }
        } else {
            out.push(PathSeg::Field(rest.to_string()));
        }
    }
    out
}

impl Compiler<'_> {
    fn compile(&mut self, v: &Value, field: &str) -> Schema {
        let Some(o) = v.as_object() else {
            return Schema::any();
        };
        if let Some(r) = o.get("$ref").and_then(Value::as_str) {
            return self.resolve_ref(r, o, field);
        }
        let mut s = Schema {
            ty: o.get("type").and_then(|t| match t {
                Value::String(s) => Some(s.clone()),
                // schemars emits ["string", "null"] for optional values.
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|t| *t != "null")
                    .map(str::to_string),
                _ => None,
            }),
            format: o.get("format").and_then(Value::as_str).map(str::to_string),
            nullable: o.get("nullable").and_then(Value::as_bool).unwrap_or(false),
            required: o
                .get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            enum_values: o
                .get("enum")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            minimum: o.get("minimum").and_then(Value::as_f64),
            maximum: o.get("maximum").and_then(Value::as_f64),
            exclusive_minimum: o
                .get("exclusiveMinimum")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            exclusive_maximum: o
                .get("exclusiveMaximum")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            multiple_of: o.get("multipleOf").and_then(Value::as_f64),
            min_length: o.get("minLength").and_then(Value::as_u64),
            max_length: o.get("maxLength").and_then(Value::as_u64),
            min_items: o.get("minItems").and_then(Value::as_u64),
            max_items: o.get("maxItems").and_then(Value::as_u64),
            min_properties: o.get("minProperties").and_then(Value::as_u64),
            max_properties: o.get("maxProperties").and_then(Value::as_u64),
            default: o.get("default").cloned(),
            preserve_unknown: o
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            int_or_string: o
                .get("x-kubernetes-int-or-string")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            embedded_resource: o
                .get("x-kubernetes-embedded-resource")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            map_atomic: o.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic"),
            ..Default::default()
        };
        s.list_type = match o.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(
                o.get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => ListType::Atomic,
        };
        if let Some(p) = o.get("pattern").and_then(Value::as_str) {
            match Regex::new(p) {
                Ok(regex) => {
                    s.pattern = Some(Pattern {
                        source: p.to_string(),
                        regex,
                    })
                }
                Err(e) => self.errors.push(FieldError::invalid(
                    join(field, "pattern"),
                    Value::String(p.to_string()),
                    format!("must be a valid regular expression, but isn't: {e}"),
                )),
            }
        }
        if let Some(props) = o.get("properties").and_then(Value::as_object) {
            for (k, pv) in props {
                let child = self.compile(pv, &format!("{}[{k}]", join(field, "properties")));
                s.properties.insert(k.clone(), child);
            }
        }
        match o.get("additionalProperties") {
            Some(Value::Bool(b)) => s.additional = Additional::Bool(*b),
            Some(a @ Value::Object(_)) => {
                s.additional = Additional::Schema(Box::new(
                    self.compile(a, &join(field, "additionalProperties")),
                ))
            }
            _ => {}
        }
        if let Some(items) = o.get("items") {
            s.items = Some(Box::new(self.compile(items, &join(field, "items"))));
        }
        for (key, target) in [
            ("allOf", &mut s.all_of),
            ("anyOf", &mut s.any_of),
            ("oneOf", &mut s.one_of),
        ] {
            if let Some(a) = o.get(key).and_then(Value::as_array) {
                for (i, sub) in a.iter().enumerate() {
                    target.push(self.compile(sub, &format!("{}[{i}]", join(field, key))));
                }
            }
        }
        if let Some(n) = o.get("not") {
            s.not = Some(Box::new(self.compile(n, &join(field, "not"))));
        }
        // schemars wraps a $ref with a description in allOf: fold single-element allOf refs.
        if s.ty.is_none() && s.properties.is_empty() && s.all_of.len() == 1 {
            let inner = s.all_of.remove(0);
            return inner;
        }
        s
    }

    fn resolve_ref(&mut self, r: &str, o: &Map<String, Value>, field: &str) -> Schema {
        let name = r.rsplit('/').next().unwrap_or(r).to_string();
        let Some(defs) = self.defs else {
            return Schema::any();
        };
        if self.stack.contains(&name) {
            return Schema::any();
        }
        let Some(target) = defs.get(&name) else {
            return Schema::any();
        };
        self.stack.push(name);
        let mut s = self.compile(target, field);
        self.stack.pop();
        if o.get("nullable").and_then(Value::as_bool) == Some(true) {
            s.nullable = true;
        }
        s
    }
}

fn join(path: &str, child: &str) -> String {
    if path.is_empty() {
        child.to_string()
    } else {
        format!("{path}.{child}")
    }
}

/// Renders a bound like Go's `%v` of a float64 (`1`, `1.5`).
fn num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "number" => v.is_number(),
        "integer" => match v {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        _ => true,
    }
}

fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Validates `v` against `s`, appending errors for `path` (e.g. `spec.shardCount`).
pub fn validate(v: &Value, s: &Schema, path: &str, errs: &mut Vec<FieldError>) {
    if v.is_null() {
        if s.nullable || (s.ty.is_none() && !s.int_or_string) {
            return;
        }
        let ty = s.ty.as_deref().unwrap_or("string");
        errs.push(FieldError::new(
            FieldErrorKind::TypeInvalid,
            path,
            Some(Value::String("null".into())),
            format!("{path} in body must be of type {ty}: \"null\""),
        ));
        return;
    }
    if s.int_or_string {
        if !(v.is_string() || type_matches("integer", v)) {
            errs.push(FieldError::new(
                FieldErrorKind::TypeInvalid,
                path,
                Some(Value::String(json_type(v).into())),
                format!(
                    "{path} in body must be of type integer,string: \"{}\"",
                    json_type(v)
                ),
            ));
            return;
        }
    } else if let Some(ty) = &s.ty
        && !type_matches(ty, v)
    {
        errs.push(FieldError::new(
            FieldErrorKind::TypeInvalid,
            path,
            Some(Value::String(json_type(v).into())),
            format!("{path} in body must be of type {ty}: \"{}\"", json_type(v)),
        ));
        return;
    }

    if !s.enum_values.is_empty() && !s.enum_values.iter().any(|e| json_equal(e, v)) {
        let supported: Vec<String> = s
            .enum_values
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        errs.push(FieldError::not_supported(path, v.clone(), &supported));
    }

    match v {
        Value::Number(n) => validate_number(n.as_f64().unwrap_or(0.0), v, s, path, errs),
        Value::String(st) => validate_string(st, s, path, errs),
        Value::Array(items) => validate_array(items, s, path, errs),
        Value::Object(o) => validate_object(o, s, path, errs),
        _ => {}
    }

    for sub in &s.all_of {
        validate(v, sub, path, errs);
    }
    if !s.any_of.is_empty() && !s.any_of.iter().any(|sub| passes(v, sub, path)) {
        errs.push(FieldError::invalid(
            path,
            v.clone(),
            format!("{path} in body must validate at least one schema (anyOf)"),
        ));
    }
    if !s.one_of.is_empty() {
        let n = s.one_of.iter().filter(|sub| passes(v, sub, path)).count();
        if n != 1 {
            let found = if n == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {n} valid alternatives")
            };
            errs.push(FieldError::invalid(
                path,
                v.clone(),
                format!("{path} in body must validate one and only one schema (oneOf). {found}"),
            ));
        }
    }
    if let Some(not) = &s.not
        && passes(v, not, path)
    {
        errs.push(FieldError::invalid(
            path,
            v.clone(),
            format!("{path} in body must not validate the schema (not)"),
        ));
    }
}

fn passes(v: &Value, s: &Schema, path: &str) -> bool {
    let mut e = Vec::new();
    validate(v, s, path, &mut e);
    e.is_empty()
}

fn validate_number(f: f64, v: &Value, s: &Schema, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(min) = s.minimum {
        let bad = if s.exclusive_minimum {
            f <= min
        } else {
            f < min
        };
        if bad {
            let rel = if s.exclusive_minimum {
                "greater than"
            } else {
                "greater than or equal to"
            };
            errs.push(FieldError::invalid(
                path,
                v.clone(),
                format!("{path} in body should be {rel} {}", num(min)),
            ));
        }
    }
    if let Some(max) = s.maximum {
        let bad = if s.exclusive_maximum {
            f >= max
        } else {
            f > max
        };
        if bad {
            let rel = if s.exclusive_maximum {
                "less than"
            } else {
                "less than or equal to"
            };
            errs.push(FieldError::invalid(
                path,
                v.clone(),
                format!("{path} in body should be {rel} {}", num(max)),
            ));
        }
    }
    if let Some(m) = s.multiple_of
        && m > 0.0
        && (f / m).fract() != 0.0
    {
        errs.push(FieldError::invalid(
            path,
            v.clone(),
            format!("{path} in body should be a multiple of {}", num(m)),
        ));
    }
    match s.format.as_deref() {
        Some("int32") if f < i32::MIN as f64 || f > i32::MAX as f64 => {
            errs.push(FieldError::invalid(
                path,
                v.clone(),
                format!("{path} in body must be of type int32: \"{v}\""),
            ));
        }
        _ => {}
    }
}

fn validate_string(st: &str, s: &Schema, path: &str, errs: &mut Vec<FieldError>) {
    let v = || Value::String(st.to_string());
    let len = st.chars().count() as u64;
    if let Some(max) = s.max_length
        && len > max
    {
        errs.push(FieldError::too_long(path, max as usize));
    }
    if let Some(min) = s.min_length
        && len < min
    {
        errs.push(FieldError::invalid(
            path,
            v(),
            format!("{path} in body should be at least {min} chars long"),
        ));
    }
    if let Some(p) = &s.pattern
        && !p.regex.is_match(st)
    {
        errs.push(FieldError::invalid(
            path,
            v(),
            format!("{path} in body should match '{}'", p.source),
        ));
    }
    if let Some(format) = s.format.as_deref()
        && !format_ok(format, st)
    {
        errs.push(FieldError::invalid(
            path,
            v(),
            format!("{path} in body must be of type {format}: \"{st}\""),
        ));
    }
}

fn format_ok(format: &str, st: &str) -> bool {
    use base64::Engine;
    match format {
        "date-time" | "datetime" => st.parse::<jiff::Timestamp>().is_ok(),
        "date" => st.parse::<jiff::civil::Date>().is_ok() && st.len() == 10,
        "byte" => base64::engine::general_purpose::STANDARD.decode(st).is_ok(),
        "uuid" => uuid::Uuid::try_parse(st).is_ok(),
        "int32" => st.parse::<i32>().is_ok(),
        "int64" => st.parse::<i64>().is_ok(),
        _ => true,
    }
}

fn validate_array(items: &[Value], s: &Schema, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(max) = s.max_items
        && items.len() as u64 > max
    {
        errs.push(FieldError::too_many(path, items.len(), max as usize));
    }
    if let Some(min) = s.min_items
        && (items.len() as u64) < min
    {
        errs.push(FieldError::invalid(
            path,
            Value::from(items.len()),
            format!("{path} in body should have at least {min} items"),
        ));
    }
    if let Some(item_schema) = &s.items {
        for (i, item) in items.iter().enumerate() {
            validate(item, item_schema, &format!("{path}[{i}]"), errs);
        }
    }
    match &s.list_type {
        ListType::Set => {
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                if !seen.insert(item.to_string()) {
                    errs.push(FieldError::new(
                        FieldErrorKind::Duplicate,
                        format!("{path}[{i}]"),
                        Some(item.clone()),
                        "",
                    ));
                }
            }
        }
        ListType::Map(keys) => {
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                let key: Vec<String> = keys
                    .iter()
                    .map(|k| item.get(k).map(Value::to_string).unwrap_or_default())
                    .collect();
                if !seen.insert(key) {
                    let shown: Map<String, Value> = keys
                        .iter()
                        .filter_map(|k| item.get(k).map(|v| (k.clone(), v.clone())))
                        .collect();
                    errs.push(FieldError::new(
                        FieldErrorKind::Duplicate,
                        format!("{path}[{i}]"),
                        Some(Value::Object(shown)),
                        "",
                    ));
                }
            }
        }
        ListType::Atomic => {}
    }
}

fn validate_object(o: &Map<String, Value>, s: &Schema, path: &str, errs: &mut Vec<FieldError>) {
    for r in &s.required {
        if !o.contains_key(r) {
            errs.push(FieldError::required(join(path, r), ""));
        }
    }
    if let Some(max) = s.max_properties
        && o.len() as u64 > max
    {
        errs.push(FieldError::too_many(path, o.len(), max as usize));
    }
    if let Some(min) = s.min_properties
        && (o.len() as u64) < min
    {
        errs.push(FieldError::invalid(
            path,
            Value::from(o.len()),
            format!("{path} in body should have at least {min} properties"),
        ));
    }
    for (k, child) in o {
        if let Some(cs) = s.properties.get(k) {
            validate(child, cs, &join(path, k), errs);
        } else if let Additional::Schema(cs) = &s.additional {
            validate(child, cs, &join(path, k), errs);
        }
    }
}

/// Applies structural defaults: missing fields (and non-nullable nulls) that have a default get it.
pub fn apply_defaults(v: &mut Value, s: &Schema) {
    match v {
        Value::Object(o) => {
            for (k, ps) in &s.properties {
                if let Some(d) = &ps.default {
                    let missing = match o.get(k) {
                        None => true,
                        Some(Value::Null) => !ps.nullable,
                        Some(_) => false,
                    };
                    if missing {
                        o.insert(k.clone(), d.clone());
                    }
                }
            }
            for (k, child) in o.iter_mut() {
                if let Some(cs) = s.properties.get(k) {
                    apply_defaults(child, cs);
                } else if let Additional::Schema(cs) = &s.additional {
                    apply_defaults(child, cs);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = &s.items {
                for item in items {
                    apply_defaults(item, is);
                }
            }
        }
        _ => {}
    }
}

/// Drops fields the schema does not declare; returns their paths (for `fieldValidation`).
/// `path` is the path of `v`; at the root pass `""` and `root = true` to keep apiVersion/kind/metadata.
pub fn prune(v: &mut Value, s: &Schema, path: &str, root: bool, pruned: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            let keep_meta = root || s.embedded_resource;
            let mut drop = Vec::new();
            for (k, child) in o.iter_mut() {
                if keep_meta && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let child_path = join(path, k);
                if let Some(cs) = s.properties.get(k) {
                    prune(child, cs, &child_path, false, pruned);
                } else if let Additional::Schema(cs) = &s.additional {
                    prune(child, cs, &child_path, false, pruned);
                } else if s.preserve_unknown || matches!(s.additional, Additional::Bool(true)) {
                    // kept as is
                } else {
                    drop.push(k.clone());
                    pruned.push(child_path);
                }
            }
            for k in drop {
                o.remove(&k);
            }
        }
        Value::Array(items) => {
            if let Some(is) = &s.items {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item, is, &format!("{path}[{i}]"), false, pruned);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::compile(
            &json!({
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "required": ["region"],
                        "properties": {
                            "region": {"type": "string"},
                            "shardCount": {"type": "integer", "minimum": 1, "maximum": 250, "default": 3},
                            "provider": {"type": "string", "enum": ["gcp", "aws"]},
                            "instanceId": {"type": "string", "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$", "maxLength": 5},
                            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2, "x-kubernetes-list-type": "set"}
                        }
                    }
                }
            }),
            "",
        )
        .unwrap()
    }

    fn errors(v: Value) -> Vec<String> {
        let mut e = Vec::new();
        validate(&v, &schema(), "", &mut e);
        e.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reports_each_rule_with_the_api_server_wording() {
        let e = errors(
            json!({"spec": {"shardCount": 0, "provider": "azure", "instanceId": "Bad_Idxx", "tags": ["a", "a", "b"]}}),
        );
        assert_eq!(
            e,
            vec![
                "spec.region: Required value",
                "spec.instanceId: Too long: may not be more than 5 bytes",
                "spec.instanceId: Invalid value: \"Bad_Idxx\": spec.instanceId in body should match '^[a-z]([-a-z0-9]*[a-z0-9])?$'",
                "spec.provider: Unsupported value: \"azure\": supported values: \"gcp\", \"aws\"",
                "spec.shardCount: Invalid value: 0: spec.shardCount in body should be greater than or equal to 1",
                "spec.tags: Too many: 3: must have at most 2 items",
                "spec.tags[1]: Duplicate value: \"a\"",
            ]
        );
    }

    #[test]
    fn wrong_types_name_the_actual_type() {
        let e = errors(json!({"spec": {"region": "x", "shardCount": "three"}}));
        assert_eq!(
            e,
            vec![
                "spec.shardCount: Invalid value: \"string\": spec.shardCount in body must be of type integer: \"string\""
            ]
        );
    }

    #[test]
    fn defaults_and_pruning() {
        let s = schema();
        let mut v = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"},
                           "spec": {"region": "r", "unknown": 1, "labels": {"a": "b"}}, "extra": true});
        let mut pruned = Vec::new();
        prune(&mut v, &s, "", true, &mut pruned);
        apply_defaults(&mut v, &s);
        assert_eq!(
            pruned,
            vec!["extra".to_string(), "spec.unknown".to_string()]
        );
        assert_eq!(v["spec"]["shardCount"], 3);
        assert_eq!(v["spec"]["labels"]["a"], "b");
        assert_eq!(v["metadata"]["name"], "a");
    }

    #[test]
    fn bad_patterns_are_reported_at_compile_time() {
        let err = Schema::compile(
            &json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}}),
            "spec.validation",
        )
        .unwrap_err();
        assert_eq!(err[0].field, "spec.validation.properties[a].pattern");
    }
}
