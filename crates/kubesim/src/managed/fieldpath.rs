//! Field paths and field sets, and their `FieldsV1` encoding (`f:`, `k:`, `v:`, `i:` and `.`),
//! as structured-merge-diff defines them.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One step of a path. The variant order is the sort order structured-merge-diff uses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    Field(String),
    /// An associative-list item, by its key fields (name, canonical JSON value), sorted by name.
    Key(Vec<(String, String)>),
    /// A set item, by its canonical JSON value.
    Value(String),
    Index(usize),
}

impl PathElement {
    pub fn key_from_item(item: &Value, keys: &[String]) -> Option<PathElement> {
        let mut kv = Vec::new();
        for k in keys {
            kv.push((k.clone(), item.get(k)?.to_string()));
        }
        kv.sort();
        Some(PathElement::Key(kv))
    }

    /// Whether a list item is the one this element names.
    pub fn matches_item(&self, item: &Value, index: usize) -> bool {
        match self {
            PathElement::Key(kv) => kv
                .iter()
                .all(|(k, v)| item.get(k).map(Value::to_string).as_deref() == Some(v)),
            PathElement::Value(v) => serde_json::from_str::<Value>(v).is_ok_and(|x| x == *item),
            PathElement::Index(i) => *i == index,
            PathElement::Field(_) => false,
        }
    }

    fn encode(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Key(kv) => {
                let m: Map<String, Value> = kv
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::from_str(v).unwrap_or(Value::Null)))
                    .collect();
                format!("k:{}", Value::Object(m))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(s: &str) -> Option<PathElement> {
        let (prefix, rest) = s.split_at_checked(2)?;
        match prefix {
            "f:" => Some(PathElement::Field(rest.to_string())),
            "k:" => {
                let m: Map<String, Value> = serde_json::from_str(rest).ok()?;
                let mut kv: Vec<(String, String)> =
                    m.into_iter().map(|(k, v)| (k, v.to_string())).collect();
                kv.sort();
                Some(PathElement::Key(kv))
            }
            "v:" => {
                let v: Value = serde_json::from_str(rest).ok()?;
                Some(PathElement::Value(v.to_string()))
            }
            "i:" => rest.parse().ok().map(PathElement::Index),
            _ => None,
        }
    }
}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(n) => write!(f, ".{n}"),
            PathElement::Key(kv) => {
                let parts: Vec<String> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

pub type Path = Vec<PathElement>;

pub fn path_string(p: &[PathElement]) -> String {
    p.iter().map(ToString::to_string).collect()
}

/// A set of field paths, stored as a tree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Set {
    pub members: BTreeSet<PathElement>,
    pub children: BTreeMap<PathElement, Set>,
}

impl Set {
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(Set::is_empty)
    }

    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// Whether the set has `path` itself or anything below it.
    pub fn has_at_or_below(&self, path: &[PathElement]) -> bool {
        match path {
            [] => !self.is_empty(),
            [last] => {
                self.members.contains(last)
                    || self.children.get(last).is_some_and(|c| !c.is_empty())
            }
            [first, rest @ ..] => self
                .children
                .get(first)
                .is_some_and(|c| c.has_at_or_below(rest)),
        }
    }

    pub fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (k, c) in &other.children {
            let merged = match out.children.get(k) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(k.clone(), merged);
        }
        out.prune_empty();
        out
    }

    pub fn difference(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            let d = match other.children.get(k) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(k.clone(), d);
            }
        }
        out
    }

    /// Like `difference`, but a member of `other` also removes everything below it.
    pub fn recursive_difference(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            if other.members.contains(k) {
                continue;
            }
            let d = match other.children.get(k) {
                Some(o) => c.recursive_difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(k.clone(), d);
            }
        }
        out
    }

    pub fn intersection(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.intersection(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            if let Some(o) = other.children.get(k) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    out.children.insert(k.clone(), i);
                }
            }
        }
        out
    }

    fn prune_empty(&mut self) {
        self.children.retain(|_, c| {
            c.prune_empty();
            !c.is_empty()
        });
    }

    /// Every member path, depth first.
    /// Every path in structured-merge-diff's iteration order: at each node its own members
    /// first, then each child's paths (the order apply conflicts are reported in).
    pub fn paths_members_first(&self) -> Vec<Path> {
        fn walk(s: &Set, prefix: &mut Path, out: &mut Vec<Path>) {
            for m in &s.members {
                prefix.push(m.clone());
                out.push(prefix.clone());
                prefix.pop();
            }
            for (k, c) in &s.children {
                prefix.push(k.clone());
                walk(c, prefix, out);
                prefix.pop();
            }
        }
        let mut out = Vec::new();
        walk(self, &mut Vec::new(), &mut out);
        out
    }

    pub fn leaves(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        let keys: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for k in keys {
            prefix.push(k.clone());
            if self.members.contains(k) {
                out.push(prefix.clone());
            }
            if let Some(c) = self.children.get(k) {
                c.collect(prefix, out);
            }
            prefix.pop();
        }
    }

    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        let keys: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for k in keys {
            let child = self.children.get(k).filter(|c| !c.is_empty());
            let mut v = match child {
                Some(c) => c.to_fields_v1(),
                None => Value::Object(Map::new()),
            };
            if child.is_some() && self.members.contains(k) {
                v.as_object_mut()
                    .unwrap()
                    .insert(".".into(), Value::Object(Map::new()));
            }
            m.insert(k.encode(), v);
        }
        Value::Object(m)
    }

    pub fn from_fields_v1(v: &Value) -> Set {
        let mut s = Set::default();
        if let Some(m) = v.as_object() {
            for (k, child) in m {
                if k == "." {
                    continue;
                }
                let Some(pe) = PathElement::decode(k) else {
                    continue;
                };
                let co = child.as_object();
                let is_leaf = co.is_none_or(|c| c.is_empty());
                let self_member = co.is_some_and(|c| c.contains_key("."));
                if is_leaf || self_member {
                    s.members.insert(pe.clone());
                }
                if !is_leaf {
                    let c = Set::from_fields_v1(child);
                    if !c.is_empty() {
                        s.children.insert(pe, c);
                    }
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trips() {
        let v = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:tags": {"v:\"a\"": {}}},
            "f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}, "f:type": {}}}}
        });
        let s = Set::from_fields_v1(&v);
        assert_eq!(s.to_fields_v1(), v);
        let ready =
            PathElement::key_from_item(&json!({"type": "Ready"}), &["type".into()]).unwrap();
        let p = vec![
            PathElement::Field("status".into()),
            PathElement::Field("conditions".into()),
            ready.clone(),
        ];
        assert!(s.has(&p));
        let mut q = p.clone();
        q.push(PathElement::Field("status".into()));
        assert_eq!(path_string(&q), ".status.conditions[type=\"Ready\"].status");
    }

    #[test]
    fn set_algebra() {
        let f = |n: &str| PathElement::Field(n.into());
        let mut a = Set::default();
        a.insert(&[f("spec"), f("a")]);
        a.insert(&[f("spec"), f("b")]);
        let mut b = Set::default();
        b.insert(&[f("spec"), f("b")]);
        b.insert(&[f("status")]);
        assert_eq!(a.intersection(&b).leaves(), vec![vec![f("spec"), f("b")]]);
        assert_eq!(a.difference(&b).leaves(), vec![vec![f("spec"), f("a")]]);
        let mut spec = Set::default();
        spec.insert(&[f("spec")]);
        assert!(a.recursive_difference(&spec).is_empty());
        assert_eq!(a.union(&b).leaves().len(), 3);
    }
}
