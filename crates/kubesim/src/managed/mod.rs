//! Field management: `metadata.managedFields` and server-side apply, following
//! structured-merge-diff (apply = merge + ownership + pruning of fields the manager
//! stopped applying + conflict detection; update = ownership of what changed).

pub mod fieldpath;

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

use crate::error::{ApiError, Cause};
use crate::schema::{ListType, Schema};
use fieldpath::{Path, PathElement, Set, path_string};

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagerEntry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: String,
    pub fields: Set,
}

impl ManagerEntry {
    /// The identity structured-merge-diff keys managers by (apply ignores the apiVersion).
    fn same_identity(&self, other: &ManagerEntry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == "Apply" || self.api_version == other.api_version)
    }

    /// How a conflicting manager is named in messages (`"kubectl" using v1`, as the server prints it).
    fn printable(&self) -> String {
        let mut s = format!("\"{}\"", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource \"{}\"", self.subresource));
        }
        if self.operation == "Update" {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

pub fn parse_managed_fields(obj: &Value) -> Vec<ManagerEntry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| ManagerEntry {
                    manager: e
                        .get("manager")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    operation: e
                        .get("operation")
                        .and_then(Value::as_str)
                        .unwrap_or("Update")
                        .to_string(),
                    api_version: e
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    time: e.get("time").and_then(Value::as_str).map(str::to_string),
                    subresource: e
                        .get("subresource")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    fields: e
                        .get("fieldsV1")
                        .map(Set::from_fields_v1)
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Writes entries into `metadata.managedFields`, sorted as the API server sorts them.
pub fn set_managed_fields(obj: &mut Value, mut entries: Vec<ManagerEntry>) {
    entries.retain(|e| !e.fields.is_empty());
    entries.sort_by(|a, b| {
        a.operation
            .cmp(&b.operation)
            .then_with(|| a.time.cmp(&b.time))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| a.api_version.cmp(&b.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    let meta = crate::meta::meta_mut(obj);
    if entries.is_empty() {
        meta.remove("managedFields");
        return;
    }
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("manager".into(), json!(e.manager));
            m.insert("operation".into(), json!(e.operation));
            m.insert("apiVersion".into(), json!(e.api_version));
            if let Some(t) = &e.time {
                m.insert("time".into(), json!(t));
            }
            m.insert("fieldsType".into(), json!("FieldsV1"));
            m.insert("fieldsV1".into(), e.fields.to_fields_v1());
            if !e.subresource.is_empty() {
                m.insert("subresource".into(), json!(e.subresource));
            }
            Value::Object(m)
        })
        .collect();
    meta.insert("managedFields".into(), Value::Array(list));
}

/// Fields the server owns and that never appear in managed fields.
fn stripped() -> Set {
    let f = |n: &str| PathElement::Field(n.into());
    let mut s = Set::default();
    s.insert(&[f("apiVersion")]);
    s.insert(&[f("kind")]);
    for m in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "generation",
        "managedFields",
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        s.insert(&[f("metadata"), f(m)]);
    }
    s
}

enum Node<'a> {
    Leaf,
    Map,
    Set,
    AssocList(&'a [String]),
}

fn node<'a>(v: &Value, s: Option<&'a Schema>) -> Node<'a> {
    match v {
        Value::Object(_) => {
            if s.is_some_and(|s| s.map_atomic) {
                Node::Leaf
            } else {
                Node::Map
            }
        }
        Value::Array(_) => match s.map(|s| &s.list_type) {
            Some(ListType::Set) => Node::Set,
            Some(ListType::Map(keys)) if !keys.is_empty() => Node::AssocList(keys),
            _ => Node::Leaf,
        },
        _ => Node::Leaf,
    }
}

fn same_shape(a: &Value, b: &Value) -> bool {
    matches!(
        (a, b),
        (Value::Object(_), Value::Object(_)) | (Value::Array(_), Value::Array(_))
    )
}

fn item_pe(item: &Value, index: usize, n: &Node) -> PathElement {
    match n {
        Node::Set => PathElement::Value(item.to_string()),
        Node::AssocList(keys) => {
            PathElement::key_from_item(item, keys).unwrap_or(PathElement::Index(index))
        }
        _ => PathElement::Index(index),
    }
}

fn item_schema(s: Option<&Schema>) -> Option<&Schema> {
    s.and_then(|s| s.items.as_deref())
}

fn child_schema<'a>(s: Option<&'a Schema>, k: &str) -> Option<&'a Schema> {
    s.and_then(|s| s.child(k))
}

/// The set of fields an applied configuration specifies.
pub fn to_field_set(v: &Value, s: Option<&Schema>) -> Set {
    let mut set = Set::default();
    walk_fs(v, s, &mut Vec::new(), &mut set);
    set.recursive_difference(&stripped())
}

fn walk_fs(v: &Value, s: Option<&Schema>, path: &mut Path, set: &mut Set) {
    let n = node(v, s);
    match (&n, v) {
        (Node::Map, Value::Object(o)) => {
            for (k, child) in o {
                let cs = child_schema(s, k);
                path.push(PathElement::Field(k.clone()));
                walk_fs(child, cs, path, set);
                let empty_map = child.as_object().is_some_and(Map::is_empty);
                if child.is_null() || empty_map || !s.is_some_and(|s| s.is_declared(k)) {
                    set.insert(path);
                }
                path.pop();
            }
        }
        (Node::Set | Node::AssocList(_), Value::Array(items)) => {
            let is = item_schema(s);
            for (i, item) in items.iter().enumerate() {
                path.push(item_pe(item, i, &n));
                walk_fs(item, is, path, set);
                set.insert(path);
                path.pop();
            }
        }
        _ => set.insert(path),
    }
}

/// Merges an applied configuration into the live object.
pub fn merge(live: Option<&Value>, config: &Value, s: Option<&Schema>) -> Value {
    let Some(live) = live else {
        return config.clone();
    };
    if !same_shape(live, config) {
        return config.clone();
    }
    let n = node(config, s);
    match (&n, live, config) {
        (Node::Map, Value::Object(l), Value::Object(r)) => {
            let mut out = l.clone();
            for (k, rv) in r {
                let merged = merge(l.get(k), rv, child_schema(s, k));
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Node::Set | Node::AssocList(_), Value::Array(l), Value::Array(r)) => {
            let is = item_schema(s);
            let lpes: Vec<PathElement> = l
                .iter()
                .enumerate()
                .map(|(i, x)| item_pe(x, i, &n))
                .collect();
            let rpes: Vec<PathElement> = r
                .iter()
                .enumerate()
                .map(|(i, x)| item_pe(x, i, &n))
                .collect();
            let mut out = Vec::new();
            let mut next_r = 0;
            let emit = |j: usize, out: &mut Vec<Value>| {
                let lv = lpes.iter().position(|p| *p == rpes[j]).map(|i| &l[i]);
                out.push(merge(lv, &r[j], is));
            };
            for (i, lpe) in lpes.iter().enumerate() {
                match rpes.iter().position(|p| p == lpe) {
                    Some(j) if j >= next_r => {
                        for k in next_r..=j {
                            emit(k, &mut out);
                        }
                        next_r = j + 1;
                    }
                    Some(_) => {}
                    None => out.push(l[i].clone()),
                }
            }
            for k in next_r..r.len() {
                emit(k, &mut out);
            }
            Value::Array(out)
        }
        _ => config.clone(),
    }
}

/// Removes every member of `set` from `v`.
fn remove_items(v: &mut Value, set: &Set, s: Option<&Schema>) {
    match v {
        Value::Object(o) => {
            for (pe, cs) in &set.children {
                if let PathElement::Field(k) = pe
                    && let Some(child) = o.get_mut(k)
                {
                    remove_items(child, cs, child_schema(s, k));
                }
            }
            for pe in &set.members {
                if let PathElement::Field(k) = pe {
                    o.remove(k);
                }
            }
        }
        Value::Array(items) => {
            let is = item_schema(s);
            for (pe, cs) in &set.children {
                for (i, item) in items.iter_mut().enumerate() {
                    if pe.matches_item(item, i) {
                        remove_items(item, cs, is);
                    }
                }
            }
            let mut i = 0;
            items.retain(|item| {
                let keep = !set.members.iter().any(|pe| pe.matches_item(item, i));
                i += 1;
                keep
            });
        }
        _ => {}
    }
}

#[derive(Default)]
struct Comparison {
    added: Set,
    modified: Set,
    removed: Set,
}

fn compare(
    l: Option<&Value>,
    r: Option<&Value>,
    s: Option<&Schema>,
    path: &mut Path,
    c: &mut Comparison,
) {
    let basis = r.or(l).unwrap();
    let n = node(basis, s);
    let structural = !matches!(n, Node::Leaf)
        && l.is_none_or(|l| same_shape(l, basis))
        && r.is_none_or(|r| same_shape(r, basis));
    if !structural {
        match (l, r) {
            (None, Some(_)) => c.added.insert(path),
            (Some(_), None) => c.removed.insert(path),
            (Some(a), Some(b)) if a != b => c.modified.insert(path),
            _ => {}
        }
        return;
    }
    match n {
        Node::Map => {
            let empty = Map::new();
            let lo = l.and_then(Value::as_object).unwrap_or(&empty);
            let ro = r.and_then(Value::as_object).unwrap_or(&empty);
            let keys: BTreeSet<&String> = lo.keys().chain(ro.keys()).collect();
            for k in keys {
                path.push(PathElement::Field(k.clone()));
                compare(lo.get(k), ro.get(k), child_schema(s, k), path, c);
                path.pop();
            }
        }
        Node::Set | Node::AssocList(_) => {
            let empty = Vec::new();
            let la = l.and_then(Value::as_array).unwrap_or(&empty);
            let ra = r.and_then(Value::as_array).unwrap_or(&empty);
            let is = item_schema(s);
            let lpes: Vec<PathElement> = la
                .iter()
                .enumerate()
                .map(|(i, x)| item_pe(x, i, &n))
                .collect();
            let rpes: Vec<PathElement> = ra
                .iter()
                .enumerate()
                .map(|(i, x)| item_pe(x, i, &n))
                .collect();
            let all: BTreeSet<&PathElement> = lpes.iter().chain(rpes.iter()).collect();
            for pe in all {
                let li = lpes.iter().position(|p| p == pe).map(|i| &la[i]);
                let ri = rpes.iter().position(|p| p == pe).map(|i| &ra[i]);
                path.push(pe.clone());
                compare(li, ri, is, path, c);
                path.pop();
            }
        }
        Node::Leaf => unreachable!(),
    }
    if !path.is_empty() {
        if l.is_none() {
            c.added.insert(path);
        } else if r.is_none() {
            c.removed.insert(path);
        }
    }
}

fn compare_objects(l: &Value, r: &Value, s: &Schema) -> Comparison {
    let mut c = Comparison::default();
    compare(Some(l), Some(r), Some(s), &mut Vec::new(), &mut c);
    let strip = stripped();
    c.added = c.added.recursive_difference(&strip);
    c.modified = c.modified.recursive_difference(&strip);
    c.removed = c.removed.recursive_difference(&strip);
    c
}

fn without_managed_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

/// Who is doing the write.
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub subresource: &'a str,
    pub now: &'a str,
}

/// Records an update (create, replace, patch): the manager takes ownership of what changed,
/// others lose it. `managers` are the entries to start from (normally the live object's).
pub fn update(
    live: &Value,
    new: &Value,
    s: &Schema,
    managers: Vec<ManagerEntry>,
    actor: &Actor,
) -> Vec<ManagerEntry> {
    let live = without_managed_fields(live);
    let new_c = without_managed_fields(new);
    let c = compare_objects(&live, &new_c, s);
    let me = ManagerEntry {
        manager: actor.manager.into(),
        operation: "Update".into(),
        api_version: actor.api_version.into(),
        time: None,
        subresource: actor.subresource.into(),
        fields: Set::default(),
    };
    let changed = c.modified.union(&c.added);
    let mut out = Vec::new();
    let mut mine: Option<ManagerEntry> = None;
    for mut e in managers {
        if e.same_identity(&me) {
            mine = Some(e);
            continue;
        }
        e.fields = e.fields.difference(&changed).difference(&c.removed);
        out.push(e);
    }
    let mut entry = mine.unwrap_or(me);
    let before = entry.fields.clone();
    entry.fields = entry
        .fields
        .difference(&c.removed)
        .union(&c.modified)
        .union(&c.added);
    entry.api_version = actor.api_version.into();
    if entry.fields != before || entry.time.is_none() {
        entry.time = Some(actor.now.to_string());
    }
    out.push(entry);
    out.retain(|e| !e.fields.is_empty());
    out
}

/// Server-side apply of `config` onto `live` (an empty object when creating).
/// Returns the new object (without managedFields) and the new managers.
pub fn apply(
    live: &Value,
    config: &Value,
    s: &Schema,
    force: bool,
    actor: &Actor,
) -> Result<(Value, Vec<ManagerEntry>), ApiError> {
    let mut managers = parse_managed_fields(live);
    let live = without_managed_fields(live);
    let merged = merge(Some(&live), config, Some(s));
    let me = ManagerEntry {
        manager: actor.manager.into(),
        operation: "Apply".into(),
        api_version: actor.api_version.into(),
        time: Some(actor.now.to_string()),
        subresource: actor.subresource.into(),
        fields: to_field_set(config, Some(s)),
    };
    let last = managers
        .iter()
        .position(|e| e.same_identity(&me))
        .map(|i| managers.remove(i));

    // Fields this manager applied last time but not now, that nobody else owns, go away.
    let mut pruned = merged;
    if let Some(last) = &last {
        let mut owned = me.fields.clone();
        for e in &managers {
            owned = owned.union(&e.fields);
        }
        let mut to_remove = Set::default();
        for p in last.fields.leaves() {
            if !owned.has_at_or_below(&p) {
                // A list item nobody applies any more goes as a whole: removing its fields one by
                // one would strip its key fields and leave an empty item behind.
                to_remove.insert(orphaned_item(&p, &owned).unwrap_or(&p));
            }
        }
        remove_items(&mut pruned, &to_remove, Some(s));
        remove_emptied_parents(&mut pruned, &live, &to_remove, &owned, s);
    }

    let c = compare_objects(&live, &pruned, s);
    let changed = c.modified.union(&c.added);
    let mut conflicts: Vec<(Path, String)> = Vec::new();
    for e in &managers {
        let overlap = e.fields.intersection(&changed);
        if !overlap.is_empty() {
            for p in overlap.paths_members_first() {
                conflicts.push((p, e.printable()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&conflicts));
    }
    for e in &mut managers {
        e.fields = e.fields.difference(&changed).difference(&c.removed);
    }
    let mut me = me;
    if let Some(last) = last
        && live == pruned
        && last.fields == me.fields
    {
        // A no-op apply keeps the previous timestamp.
        me.time = last.time;
    }
    managers.push(me);
    managers.retain(|e| !e.fields.is_empty());
    Ok((pruned, managers))
}

/// The shortest prefix of `p` that ends at a list item no manager owns anything under.
fn orphaned_item<'a>(p: &'a [PathElement], owned: &Set) -> Option<&'a [PathElement]> {
    (1..=p.len()).map(|len| &p[..len]).find(|prefix| {
        !matches!(prefix.last(), Some(PathElement::Field(_))) && !owned.has_at_or_below(prefix)
    })
}

/// After removing fields, struct fields the manager had applied that became empty and that
/// nobody owns are removed too (they were only there because of this manager).
fn remove_emptied_parents(v: &mut Value, live: &Value, removed: &Set, owned: &Set, s: &Schema) {
    for p in removed.leaves() {
        for len in (1..p.len()).rev() {
            let parent = &p[..len];
            if owned.has_at_or_below(parent) {
                break;
            }
            let Some(target) = get_path(v, parent, Some(s)) else {
                break;
            };
            let is_empty = target.as_object().is_some_and(Map::is_empty);
            let was_empty_live = get_path(live, parent, Some(s))
                .is_some_and(|x| x.as_object().is_some_and(Map::is_empty));
            if is_empty && !was_empty_live {
                let mut single = Set::default();
                single.insert(parent);
                remove_items(v, &single, Some(s));
            } else {
                break;
            }
        }
    }
}

fn get_path<'a>(v: &'a Value, p: &[PathElement], s: Option<&Schema>) -> Option<&'a Value> {
    let mut cur = v;
    let mut sch = s;
    for pe in p {
        match (pe, cur) {
            (PathElement::Field(k), Value::Object(o)) => {
                cur = o.get(k)?;
                sch = child_schema(sch, k);
            }
            (_, Value::Array(items)) => {
                cur = items
                    .iter()
                    .enumerate()
                    .find(|(i, it)| pe.matches_item(it, *i))?
                    .1;
                sch = item_schema(sch);
            }
            _ => return None,
        }
    }
    Some(cur)
}

fn conflict_error(conflicts: &[(Path, String)]) -> ApiError {
    let causes: Vec<Cause> = conflicts
        .iter()
        .map(|(p, m)| Cause {
            reason: "FieldManagerConflict".into(),
            message: format!("conflict with {m}"),
            field: path_string(p),
        })
        .collect();
    let message = if conflicts.len() == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            conflicts[0].1,
            path_string(&conflicts[0].0)
        )
    } else {
        let mut managers: Vec<&String> = conflicts.iter().map(|(_, m)| m).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for m in managers {
            lines.push(format!("conflicts with {m}:"));
            for (p, _) in conflicts.iter().filter(|(_, x)| x == m) {
                lines.push(format!("- {}", path_string(p)));
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    ApiError::apply_conflict(message, causes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        let mut s = Schema::compile(
            &json!({"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "replicas": {"type": "integer"},
                    "image": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                    "args": {"type": "array", "items": {"type": "string"}}
                }},
                "status": {"type": "object", "properties": {
                    "conditions": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                        "items": {"type": "object", "properties": {"type": {"type": "string"}, "status": {"type": "string"}}}}
                }}
            }}),
            "",
        )
        .unwrap();
        s.properties.insert(
            "metadata".into(),
            (*crate::builtin::object_meta_schema()).clone(),
        );
        s
    }

    fn actor(m: &str) -> Actor<'_> {
        Actor {
            manager: m,
            api_version: "x/v1",
            subresource: "",
            now: "2024-01-01T00:00:00Z",
        }
    }

    fn with_managers(mut v: Value, m: Vec<ManagerEntry>) -> Value {
        set_managed_fields(&mut v, m);
        v
    }

    #[test]
    fn field_sets_follow_list_and_map_semantics() {
        let cfg = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a", "labels": {"app": "x"}},
            "spec": {"replicas": 1, "tags": ["a"], "args": ["x", "y"]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let fs = to_field_set(&cfg, Some(&schema()));
        assert_eq!(
            fs.to_fields_v1(),
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:args": {}, "f:replicas": {}, "f:tags": {"v:\"a\"": {}}},
                "f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}, "f:type": {}}}}
            })
        );
    }

    #[test]
    fn apply_conflicts_force_and_removal() {
        let s = schema();
        let base = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"}});
        let cfg_a = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"}, "spec": {"replicas": 1, "image": "i"}});
        let (obj, m) = apply(&base, &cfg_a, &s, false, &actor("a")).unwrap();
        let obj = with_managers(obj, m);

        // Same value from another manager: shared ownership, no conflict.
        let cfg_b = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"}, "spec": {"replicas": 1}});
        let (obj2, m2) = apply(&obj, &cfg_b, &s, false, &actor("b")).unwrap();
        assert_eq!(m2.len(), 2);
        let obj2 = with_managers(obj2, m2);

        // A different value conflicts.
        let cfg_b2 = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"}, "spec": {"replicas": 3}});
        let err = apply(&obj2, &cfg_b2, &s, false, &actor("b")).unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas"
        );
        assert_eq!(err.causes()[0].field, ".spec.replicas");

        // Forcing moves ownership.
        let (obj3, m3) = apply(&obj2, &cfg_b2, &s, true, &actor("b")).unwrap();
        assert_eq!(obj3["spec"]["replicas"], 3);
        let a = m3.iter().find(|e| e.manager == "a").unwrap();
        assert!(!a.fields.has(&[
            PathElement::Field("spec".into()),
            PathElement::Field("replicas".into())
        ]));
        let obj3 = with_managers(obj3, m3);

        // "a" stops applying image: it is removed because nobody else owns it.
        let cfg_a2 =
            json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"}, "spec": {}});
        let (obj4, _) = apply(&obj3, &cfg_a2, &s, false, &actor("a")).unwrap();
        assert!(obj4["spec"].get("image").is_none());
        assert_eq!(obj4["spec"]["replicas"], 3);
    }

    #[test]
    fn update_takes_ownership_of_changes() {
        let s = schema();
        let live = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"}, "spec": {"replicas": 1}});
        let (obj, m) = apply(&live, &live, &s, false, &actor("applier")).unwrap();
        let obj = with_managers(obj, m);
        let mut new = obj.clone();
        new["spec"]["replicas"] = json!(2);
        new["metadata"]["labels"] = json!({"x": "y"});
        let m = update(&obj, &new, &s, parse_managed_fields(&obj), &actor("editor"));
        let editor = m.iter().find(|e| e.manager == "editor").unwrap();
        assert_eq!(
            editor.fields.to_fields_v1(),
            json!({"f:metadata": {"f:labels": {".": {}, "f:x": {}}}, "f:spec": {"f:replicas": {}}})
        );
        assert!(
            m.iter().all(|e| e.manager != "applier"),
            "applier lost its only field"
        );
    }

    #[test]
    fn an_item_dropped_from_a_map_list_is_removed_whole() {
        let s = schema();
        let first = json!({"status": {"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "False"}]}});
        let (live, managers) = apply(&json!({}), &first, &s, false, &actor("gitops")).unwrap();
        let live = with_managers(live, managers);
        let second = json!({"status": {"conditions": [{"type": "B", "status": "False"}]}});
        let (after, _) = apply(&live, &second, &s, false, &actor("gitops")).unwrap();
        assert_eq!(
            after["status"]["conditions"],
            json!([{"type": "B", "status": "False"}])
        );
    }

    #[test]
    fn map_lists_merge_by_key() {
        let s = schema();
        let live = json!({"status": {"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "False"}]}});
        let cfg = json!({"status": {"conditions": [{"type": "B", "status": "True"}, {"type": "C", "status": "True"}]}});
        let merged = merge(Some(&live), &cfg, Some(&s));
        assert_eq!(
            merged["status"]["conditions"],
            json!([{"type": "A", "status": "True"}, {"type": "B", "status": "True"}, {"type": "C", "status": "True"}])
        );
    }
}
