//! Patch engines: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge
//! patch for the built-in kinds (with the directives kubectl sends).

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::registry::Behaviour;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml"
            | "application/apply-patch+json"
            | "application/apply-patch+cbor" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

pub fn merge_patch(doc: &Value, patch: &Value) -> Result<Value, ApiError> {
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "json: cannot unmarshal into Go value of type map[string]interface {}",
        ));
    }
    let mut out = doc.clone();
    json_patch::merge(&mut out, patch);
    Ok(out)
}

pub fn json_patch(doc: &Value, patch: &Value) -> Result<Value, ApiError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
    let mut out = doc.clone();
    for op in ops.0 {
        // As in the API server's json-patch: testing a missing member for null succeeds
        // (kube's finalizer helper relies on it).
        if let json_patch::PatchOperation::Test(t) = &op
            && t.value.is_null()
            && out.pointer(t.path.as_str()).is_none()
        {
            let parent = t.path.as_str().rsplit_once('/').map_or("", |(p, _)| p);
            if out.pointer(parent).is_some_and(Value::is_object) {
                continue;
            }
        }
        json_patch::patch(&mut out, &[op]).map_err(|e| {
            let mut err = ApiError::bad_request(e.to_string());
            err.code = 422;
            err.reason = "Invalid";
            err
        })?;
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum ListStrategy {
    Replace,
    MergePrimitive,
    MergeKey(&'static str),
}

fn strategy(behaviour: Behaviour, path: &str) -> ListStrategy {
    match (behaviour, path) {
        (_, "metadata.finalizers") => ListStrategy::MergePrimitive,
        (_, "metadata.ownerReferences") => ListStrategy::MergeKey("uid"),
        (Behaviour::ServiceAccount, "secrets") => ListStrategy::MergeKey("name"),
        (Behaviour::Namespace | Behaviour::Crd, "status.conditions") => {
            ListStrategy::MergeKey("type")
        }
        _ => ListStrategy::Replace,
    }
}

/// Applies a strategic merge patch to a built-in object.
pub fn strategic_merge_patch(
    behaviour: Behaviour,
    doc: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    let Some(p) = patch.as_object() else {
        return Err(ApiError::bad_request(
            "unable to find api field in struct for the patch",
        ));
    };
    let mut out = doc.as_object().cloned().unwrap_or_default();
    if smp_map(behaviour, &mut out, p, "")? {
        return Ok(Value::Object(Map::new()));
    }
    Ok(Value::Object(out))
}

fn join(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|x| x.get("$patch").is_none() || x.as_object().is_some_and(|o| o.len() > 1))
                .map(strip_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Returns true when the patch asks to delete this whole map.
fn smp_map(
    b: Behaviour,
    orig: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    path: &str,
) -> Result<bool, ApiError> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *orig = strip_directives(&Value::Object(patch.clone()))
                .as_object()
                .cloned()
                .unwrap_or_default();
            return Ok(false);
        }
        Some("delete") => return Ok(true),
        Some("merge") | None => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Unknown patch type: {other}"
            )));
        }
    }
    if let Some(retain) = patch.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        orig.retain(|k, _| keep.contains(&k.as_str()));
    }
    let mut orders: Vec<(String, Vec<Value>)> = Vec::new();
    for (k, pv) in patch {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(del)) = (orig.get_mut(field), pv.as_array()) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            orders.push((
                field.to_string(),
                pv.as_array().cloned().unwrap_or_default(),
            ));
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        let child_path = join(path, k);
        if pv.is_null() {
            orig.remove(k);
            continue;
        }
        match (orig.get_mut(k), pv) {
            (Some(Value::Object(o)), Value::Object(po)) => {
                if smp_map(b, o, po, &child_path)? {
                    orig.remove(k);
                }
            }
            (Some(Value::Array(list)), Value::Array(pl)) => {
                smp_list(b, list, pl, &child_path)?;
            }
            _ => {
                if let Value::Object(po) = pv
                    && po.get("$patch").and_then(Value::as_str) == Some("delete")
                {
                    orig.remove(k);
                    continue;
                }
                orig.insert(k.clone(), strip_directives(pv));
            }
        }
    }
    for (field, order) in orders {
        if let Some(Value::Array(list)) = orig.get_mut(&field) {
            let key = match strategy(b, &join(path, &field)) {
                ListStrategy::MergeKey(k) => Some(k),
                _ => None,
            };
            let rank = |item: &Value| {
                order.iter().position(|o| match key {
                    Some(k) => o.get(k).is_some() && o.get(k) == item.get(k),
                    None => o == item,
                })
            };
            let mut indexed: Vec<(usize, Value)> = list.drain(..).enumerate().collect();
            indexed.sort_by_key(|(i, item)| (rank(item).unwrap_or(usize::MAX), *i));
            list.extend(indexed.into_iter().map(|(_, v)| v));
        }
    }
    Ok(false)
}

fn smp_list(
    b: Behaviour,
    list: &mut Vec<Value>,
    patch: &[Value],
    path: &str,
) -> Result<(), ApiError> {
    if patch
        .iter()
        .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *list = patch
            .iter()
            .filter(|p| p.get("$patch").is_none())
            .map(strip_directives)
            .collect();
        return Ok(());
    }
    match strategy(b, path) {
        ListStrategy::Replace => *list = patch.iter().map(strip_directives).collect(),
        ListStrategy::MergePrimitive => {
            for p in patch {
                if !list.contains(p) {
                    list.push(p.clone());
                }
            }
        }
        ListStrategy::MergeKey(key) => {
            for p in patch {
                let Some(kv) = p.get(key) else {
                    return Err(ApiError::bad_request(format!(
                        "map: {p} does not contain declared merge key: {key}"
                    )));
                };
                let pos = list.iter().position(|x| x.get(key) == Some(kv));
                if p.get("$patch").and_then(Value::as_str) == Some("delete") {
                    if let Some(i) = pos {
                        list.remove(i);
                    }
                    continue;
                }
                match (pos, p.as_object()) {
                    (Some(i), Some(po)) => {
                        if let Value::Object(o) = &mut list[i] {
                            smp_map(b, o, po, path)?;
                        }
                    }
                    _ => list.push(strip_directives(p)),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_handles_maps_lists_and_directives() {
        let doc = json!({"metadata": {"name": "s", "labels": {"a": "1", "b": "2"}, "finalizers": ["x"],
                         "ownerReferences": [{"uid": "u1", "name": "o1"}, {"uid": "u2", "name": "o2"}]},
                         "data": {"k": "dg=="}});
        let patch = json!({"metadata": {"labels": {"b": null, "c": "3"}, "finalizers": ["y"],
                           "$deleteFromPrimitiveList/finalizers": ["x"],
                           "ownerReferences": [{"uid": "u1", "$patch": "delete"}, {"uid": "u3", "name": "o3"}]},
                           "data": {"$patch": "replace", "z": "eg=="}});
        let out = strategic_merge_patch(Behaviour::Secret, &doc, &patch).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"a": "1", "c": "3"}));
        assert_eq!(out["metadata"]["finalizers"], json!(["y"]));
        assert_eq!(
            out["metadata"]["ownerReferences"],
            json!([{"uid": "u2", "name": "o2"}, {"uid": "u3", "name": "o3"}])
        );
        assert_eq!(out["data"], json!({"z": "eg=="}));
    }

    #[test]
    fn json_patch_failures_are_invalid() {
        let doc = json!({"a": 1});
        let err = json_patch(&doc, &json!([{"op": "test", "path": "/a", "value": 2}])).unwrap_err();
        assert_eq!(err.code, 422);
        let ok = json_patch(&doc, &json!([{"op": "replace", "path": "/a", "value": 2}])).unwrap();
        assert_eq!(ok, json!({"a": 2}));
        // kube's finalizer helper: test that finalizers are absent, then add them.
        let m = json!({"metadata": {"name": "x"}});
        let added = json_patch(&m, &json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
                                          {"op": "add", "path": "/metadata/finalizers", "value": ["f"]}])).unwrap();
        assert_eq!(added["metadata"]["finalizers"], json!(["f"]));
        assert!(
            json_patch(
                &added,
                &json!([{"op": "test", "path": "/metadata/finalizers", "value": null}])
            )
            .is_err()
        );
    }
}
