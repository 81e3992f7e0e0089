//! Label selectors (full syntax) and field selectors (equality terms over a per-kind set of fields).

use serde_json::Value;

use crate::error::ApiError;
use crate::registry::{Behaviour, ResourceDef};

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq,
    NotEq,
    In,
    NotIn,
    Exists,
    NotExists,
    Gt,
    Lt,
}

#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    reqs: Vec<Requirement>,
}

#[derive(Debug, PartialEq, Clone)]
enum Tok {
    Ident(String),
    Comma,
    Open,
    Close,
    Not,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::NotEq);
                i += 2
            }
            '!' => {
                out.push(Tok::Not);
                i += 1
            }
            '=' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::DoubleEq);
                i += 2
            }
            '=' => {
                out.push(Tok::Eq);
                i += 1
            }
            '>' => {
                out.push(Tok::Gt);
                i += 1
            }
            '<' => {
                out.push(Tok::Lt);
                i += 1
            }
            _ => {
                let start = i;
                while i < chars.len() && !" \t,()!=<>".contains(chars[i]) {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// Whether `k` is a valid label key (optional DNS prefix, `/`, qualified name).
pub fn valid_label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || !crate::meta::is_dns_subdomain(p))
    {
        return false;
    }
    !name.is_empty() && valid_label_value(name)
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<LabelSelector, ApiError> {
        let bad = |m: String| ApiError::bad_request(format!("unable to parse requirement: {m}"));
        let toks = lex(s).map_err(bad)?;
        let mut reqs = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            let negated = toks[i] == Tok::Not;
            if negated {
                i += 1;
            }
            let Some(Tok::Ident(key)) = toks.get(i).cloned() else {
                return Err(bad(format!(
                    "found '{}', expected: identifier",
                    tok_str(toks.get(i))
                )));
            };
            if !valid_label_key(&key) {
                return Err(bad(format!(
                    "<nil>: Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or \
                     '.', and must start and end with an alphanumeric character"
                )));
            }
            i += 1;
            if negated {
                reqs.push(Requirement {
                    key,
                    op: Op::NotExists,
                    values: vec![],
                });
            } else {
                match toks.get(i) {
                    None | Some(Tok::Comma) => reqs.push(Requirement {
                        key,
                        op: Op::Exists,
                        values: vec![],
                    }),
                    Some(t @ (Tok::Eq | Tok::DoubleEq | Tok::NotEq | Tok::Gt | Tok::Lt)) => {
                        let op = match t {
                            Tok::NotEq => Op::NotEq,
                            Tok::Gt => Op::Gt,
                            Tok::Lt => Op::Lt,
                            _ => Op::Eq,
                        };
                        i += 1;
                        let value = match toks.get(i) {
                            Some(Tok::Ident(v)) => {
                                i += 1;
                                v.clone()
                            }
                            _ => String::new(),
                        };
                        if matches!(op, Op::Gt | Op::Lt) && value.parse::<i64>().is_err() {
                            return Err(bad(format!(
                                "for 'Gt', 'Lt' operators, the value must be an integer: {value}"
                            )));
                        }
                        if !valid_label_value(&value) {
                            return Err(bad(format!(
                                "<nil>: Invalid value: \"{value}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
                            )));
                        }
                        reqs.push(Requirement {
                            key,
                            op,
                            values: vec![value],
                        });
                    }
                    Some(Tok::Ident(w)) if w == "in" || w == "notin" => {
                        let op = if w == "in" { Op::In } else { Op::NotIn };
                        i += 1;
                        if toks.get(i) != Some(&Tok::Open) {
                            return Err(bad(format!(
                                "found '{}', expected: '('",
                                tok_str(toks.get(i))
                            )));
                        }
                        i += 1;
                        let mut values = Vec::new();
                        loop {
                            match toks.get(i) {
                                Some(Tok::Ident(v)) => {
                                    values.push(v.clone());
                                    i += 1;
                                }
                                Some(Tok::Comma) => i += 1,
                                Some(Tok::Close) => {
                                    i += 1;
                                    break;
                                }
                                other => {
                                    return Err(bad(format!(
                                        "found '{}', expected: ',', ')' or identifier",
                                        tok_str(other)
                                    )));
                                }
                            }
                        }
                        reqs.push(Requirement { key, op, values });
                    }
                    other => {
                        return Err(bad(format!(
                            "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                            tok_str(other)
                        )));
                    }
                }
            }
            match toks.get(i) {
                None => break,
                Some(Tok::Comma) => i += 1,
                other => {
                    return Err(bad(format!(
                        "found '{}', expected: ',' or 'end of string'",
                        tok_str(other)
                    )));
                }
            }
        }
        Ok(LabelSelector { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.reqs.iter().all(|r| match r.op {
            Op::Eq => get(&r.key) == Some(r.values[0].as_str()),
            Op::NotEq => get(&r.key) != Some(r.values[0].as_str()),
            Op::In => get(&r.key).is_some_and(|v| r.values.iter().any(|x| x == v)),
            Op::NotIn => get(&r.key).is_none_or(|v| !r.values.iter().any(|x| x == v)),
            Op::Exists => get(&r.key).is_some(),
            Op::NotExists => get(&r.key).is_none(),
            Op::Gt | Op::Lt => {
                let Some(v) = get(&r.key).and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let bound: i64 = r.values[0].parse().unwrap_or_default();
                if r.op == Op::Gt { v > bound } else { v < bound }
            }
        })
    }
}

fn tok_str(t: Option<&Tok>) -> String {
    match t {
        None => "".into(),
        Some(Tok::Ident(s)) => s.clone(),
        Some(Tok::Comma) => ",".into(),
        Some(Tok::Open) => "(".into(),
        Some(Tok::Close) => ")".into(),
        Some(Tok::Not) => "!".into(),
        Some(Tok::Eq) => "=".into(),
        Some(Tok::DoubleEq) => "==".into(),
        Some(Tok::NotEq) => "!=".into(),
        Some(Tok::Gt) => ">".into(),
        Some(Tok::Lt) => "<".into(),
    }
}

/// A parsed field selector: `field=value`, `field==value`, `field!=value`, comma-separated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

impl FieldSelector {
    pub fn parse(s: &str, def: &ResourceDef) -> Result<FieldSelector, ApiError> {
        let mut terms = Vec::new();
        for part in split_unescaped(s, ',') {
            if part.trim().is_empty() {
                continue;
            }
            let (field, eq, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let field = canonical_field(def, field.trim())?;
            terms.push((field, eq, unescape(value)));
        }
        Ok(FieldSelector { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value a `metadata.name=` term pins, for cheap lookups.
    pub fn name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|(f, eq, _)| f == "metadata.name" && *eq)
            .map(|(_, _, v)| v.as_str())
    }

    /// Matches a stored object (events are matched in their core/v1 storage form).
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|(field, eq, value)| {
            let actual = field_value(obj, field);
            (actual == *value) == *eq
        })
    }
}

fn canonical_field(def: &ResourceDef, field: &str) -> Result<String, ApiError> {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return Ok(field.to_string());
    }
    let supported: &[&str] = match def.behaviour {
        Behaviour::Secret => &["type"],
        Behaviour::Namespace => &["status.phase"],
        Behaviour::CoreEvent | Behaviour::EventsV1Event => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        _ => &[],
    };
    let mapped = if matches!(def.behaviour, Behaviour::EventsV1Event) {
        if let Some(rest) = field.strip_prefix("regarding.") {
            format!("involvedObject.{rest}")
        } else if field == "reportingController" {
            "reportingComponent".to_string()
        } else {
            field.to_string()
        }
    } else {
        field.to_string()
    };
    if supported.contains(&mapped.as_str()) || def.selectable_fields.iter().any(|f| f == &mapped) {
        return Ok(mapped);
    }
    Err(ApiError::bad_request(format!(
        "field label not supported: {field}"
    )))
}

fn field_value(obj: &Value, field: &str) -> String {
    let v = match field {
        "source" => obj.pointer("/source/component"),
        _ => {
            let ptr = format!("/{}", field.replace('.', "/"));
            obj.pointer(&ptr)
        }
    };
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "labels": labels}})
    }

    #[test]
    fn label_selector_syntax() {
        let o = obj(json!({"app": "web", "tier": "front", "n": "7"}));
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&o);
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(m("app in (web, api),tier notin (back)"));
        assert!(!m("app!=web"));
        assert!(m("!missing"));
        assert!(!m("!app"));
        assert!(m("n>5"));
        assert!(!m("n<5"));
        assert!(m(""));
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a b").is_err());
    }

    #[test]
    fn field_selectors_know_their_fields() {
        let defs = crate::builtin::builtin_defs();
        let events = defs
            .iter()
            .find(|d| d.plural == "events" && d.group.is_empty())
            .unwrap();
        let secrets = defs.iter().find(|d| d.plural == "secrets").unwrap();
        let ev = json!({"metadata": {"name": "e", "namespace": "ns"}, "involvedObject": {"name": "x", "uid": "u"},
                        "type": "Warning", "source": {"component": "c"}});
        let fs = FieldSelector::parse(
            "involvedObject.name=x,involvedObject.uid=u,type!=Normal,source=c",
            events,
        )
        .unwrap();
        assert!(fs.matches(&ev));
        assert!(FieldSelector::parse("spec.foo=1", secrets).is_err());
        let fs = FieldSelector::parse("metadata.name==e", events).unwrap();
        assert_eq!(fs.name(), Some("e"));
    }
}
