//! CustomResourceDefinitions: defaulting, validation, status, and turning a stored CRD into
//! the served resources (compiled schema, CEL rules, printer columns, subresources).
//! Also the CEL validation of custom resources.

use serde_json::{Value, json};
use std::sync::Arc;

use crate::error::{FieldError, FieldErrorKind};
use crate::registry::{Behaviour, GroupResource, PrinterColumn, ResourceDef, ScaleSubresource};
use crate::schema::{ListType, Schema};

pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

/// Server-side defaults of a CRD (as the apiextensions defaulting does).
pub fn apply_defaults(crd: &mut Value) {
    let kind = s(crd, "/spec/names/kind").to_string();
    if let Some(names) = crd
        .pointer_mut("/spec/names")
        .and_then(Value::as_object_mut)
    {
        if names
            .get("singular")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            names.insert("singular".into(), json!(kind.to_lowercase()));
        }
        if names
            .get("listKind")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            names.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
    if let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) {
        spec.entry("conversion")
            .or_insert_with(|| json!({"strategy": "None"}));
    }
}

/// The status a CRD gets once its names are accepted and it is established.
pub fn established_status(crd: &Value, old_status: Option<&Value>, now: &str) -> Value {
    let storage = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .find(|v| v.get("storage") == Some(&Value::Bool(true)))
        })
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut stored: Vec<String> = old_status
        .and_then(|s| s.get("storedVersions"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if !storage.is_empty() && !stored.contains(&storage) {
        stored.push(storage);
    }
    let old_time = |t: &str| {
        old_status
            .and_then(|s| s.get("conditions"))
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
            })
            .and_then(|c| c.get("lastTransitionTime"))
            .and_then(Value::as_str)
            .unwrap_or(now)
            .to_string()
    };
    let mut conditions = vec![
        json!({"type": "NamesAccepted", "status": "True", "lastTransitionTime": old_time("NamesAccepted"),
               "reason": "NoConflicts", "message": "no conflicts found"}),
        json!({"type": "Established", "status": "True", "lastTransitionTime": old_time("Established"),
               "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}),
    ];
    if crd.pointer("/metadata/deletionTimestamp").is_some() {
        conditions.push(json!({"type": "Terminating", "status": "True", "lastTransitionTime": old_time("Terminating"),
            "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress"}));
    }
    let mut accepted = crd
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(o) = accepted.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    json!({"conditions": conditions, "acceptedNames": accepted, "storedVersions": stored})
}

/// Validates a CRD (names, versions, schemas, rules); `old` on update.
pub fn validate(crd: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let group = s(crd, "/spec/group");
    let plural = s(crd, "/spec/names/plural");
    let kind = s(crd, "/spec/names/kind");
    let name = s(crd, "/metadata/name");
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else if !group.contains('.') {
        errs.push(FieldError::invalid(
            "spec.group",
            json!(group),
            "should be a domain with at least one dot",
        ));
    }
    if plural.is_empty() {
        errs.push(FieldError::required("spec.names.plural", ""));
    } else if !crate::meta::is_dns_label(plural) {
        errs.push(FieldError::invalid("spec.names.plural", json!(plural), "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"));
    }
    if kind.is_empty() {
        errs.push(FieldError::required("spec.names.kind", ""));
    }
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    let scope = s(crd, "/spec/scope");
    if scope != "Namespaced" && scope != "Cluster" {
        errs.push(FieldError::not_supported(
            "spec.scope",
            json!(scope),
            &["Cluster".into(), "Namespaced".into()],
        ));
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        errs.push(FieldError::invalid(
            "spec.versions",
            json!([]),
            "must have exactly one version marked as storage version",
        ));
    }
    let storage_count = versions
        .iter()
        .filter(|v| v.get("storage") == Some(&Value::Bool(true)))
        .count();
    if !versions.is_empty() && storage_count != 1 {
        errs.push(FieldError::invalid(
            "spec.versions",
            json!(
                versions
                    .iter()
                    .map(|v| v.get("name").cloned().unwrap_or(Value::Null))
                    .collect::<Vec<_>>()
            ),
            "must have exactly one version marked as storage version",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        let field = format!("spec.versions[{i}]");
        if v.get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            errs.push(FieldError::required(format!("{field}.name"), ""));
        }
        let Some(schema) = v.pointer("/schema/openAPIV3Schema") else {
            errs.push(FieldError::required(
                format!("{field}.schema.openAPIV3Schema"),
                "schemas are required",
            ));
            continue;
        };
        if let Err(e) = Schema::compile(schema, &format!("{field}.schema.openAPIV3Schema")) {
            errs.extend(e);
        }
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            errs.push(FieldError::invalid(
                format!("{field}.schema.openAPIV3Schema.type"),
                json!(
                    schema
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                ),
                "must be object at the root",
            ));
        }
        let compiled = kube_cel::compile_schema(schema);
        for e in compiled_errors(&compiled, &format!("{field}.schema.openAPIV3Schema")) {
            errs.push(e);
        }
        for (j, c) in v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let ty = c.get("type").and_then(Value::as_str).unwrap_or_default();
            if !["integer", "number", "string", "boolean", "date"].contains(&ty) {
                errs.push(FieldError::not_supported(
                    format!("{field}.additionalPrinterColumns[{j}].type"),
                    json!(ty),
                    &[
                        "boolean".into(),
                        "date".into(),
                        "integer".into(),
                        "number".into(),
                        "string".into(),
                    ],
                ));
            }
            if c.get("jsonPath")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                errs.push(FieldError::required(
                    format!("{field}.additionalPrinterColumns[{j}].jsonPath"),
                    "",
                ));
            }
        }
    }
    if let Some(old) = old {
        if s(old, "/spec/group") != group {
            errs.push(FieldError::invalid(
                "spec.group",
                json!(group),
                "field is immutable",
            ));
        }
        if s(old, "/spec/scope") != scope {
            errs.push(FieldError::invalid(
                "spec.scope",
                json!(scope),
                "field is immutable",
            ));
        }
    }
    errs
}

fn compiled_errors(c: &kube_cel::CompiledSchema, field: &str) -> Vec<FieldError> {
    c.compilation_errors()
        .into_iter()
        .map(|e| {
            FieldError::invalid(
                format!("{field}.x-kubernetes-validations"),
                json!(e.to_string()),
                "compilation failed",
            )
        })
        .collect()
}

fn printer_columns(v: &Value) -> Vec<PrinterColumn> {
    let Some(cols) = v.get("additionalPrinterColumns").and_then(Value::as_array) else {
        return vec![PrinterColumn {
            name: "Age".into(),
            ty: "date".into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        }];
    };
    cols.iter()
        .map(|c| PrinterColumn {
            name: c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            ty: c
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("string")
                .into(),
            format: c
                .get("format")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            description: c
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
            json_path: c
                .get("jsonPath")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
        })
        .collect()
}

/// Builds the served resources of a stored CRD, one per served version.
pub fn build_defs(crd: &Value) -> Vec<Arc<ResourceDef>> {
    let group = s(crd, "/spec/group").to_string();
    let plural = s(crd, "/spec/names/plural").to_string();
    let kind = s(crd, "/spec/names/kind").to_string();
    let singular = s(crd, "/spec/names/singular").to_string();
    let list_kind = s(crd, "/spec/names/listKind").to_string();
    let strings = |ptr: &str| -> Vec<String> {
        crd.pointer(ptr)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let short_names = strings("/spec/names/shortNames");
    let categories = strings("/spec/names/categories");
    let namespaced = s(crd, "/spec/scope") == "Namespaced";
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let storage_version = versions
        .iter()
        .find(|v| v.get("storage") == Some(&Value::Bool(true)))
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let meta_schema = crate::builtin::object_meta_schema();
    let mut out = Vec::new();
    for v in versions {
        if v.get("served") != Some(&Value::Bool(true)) {
            continue;
        }
        let version = v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let raw = v
            .pointer("/schema/openAPIV3Schema")
            .cloned()
            .unwrap_or_else(
                || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            );
        let schema = Schema::compile(&raw, "").unwrap_or_else(|_| Schema::any());
        let mut ssa = schema.clone();
        ssa.properties
            .insert("metadata".into(), (*meta_schema).clone());
        let has_rules = raw.to_string().contains("x-kubernetes-validations");
        let cel = has_rules.then(|| Arc::new(kube_cel::compile_schema(&raw)));
        let scale = v.pointer("/subresources/scale").map(|sc| ScaleSubresource {
            spec_replicas_path: s(sc, "/specReplicasPath").to_string(),
            status_replicas_path: s(sc, "/statusReplicasPath").to_string(),
            label_selector_path: sc
                .get("labelSelectorPath")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
        let selectable_fields = v
            .get("selectableFields")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
                    .map(|p| p.trim_start_matches('.').to_string())
                    .collect()
            })
            .unwrap_or_default();
        let mut openapi = raw.clone();
        if let Some(o) = openapi.as_object_mut() {
            let props = o.entry("properties").or_insert_with(|| json!({}));
            if let Some(p) = props.as_object_mut() {
                p.insert("metadata".into(), json!({"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}));
                p.entry("apiVersion").or_insert_with(|| json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
                p.entry("kind").or_insert_with(|| json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
            }
            o.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": group, "version": version, "kind": kind}]),
            );
        }
        out.push(Arc::new(ResourceDef {
            group: group.clone(),
            version: version.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            kind: kind.clone(),
            list_kind: list_kind.clone(),
            short_names: short_names.clone(),
            categories: categories.clone(),
            namespaced,
            storage: GroupResource::new(&group, &plural),
            storage_api_version: format!("{group}/{storage_version}"),
            behaviour: Behaviour::Custom,
            status_subresource: v.pointer("/subresources/status").is_some(),
            scale,
            schema: Arc::new(schema),
            ssa_schema: Arc::new(ssa),
            cel,
            cel_field_paths: rule_field_paths(&raw),
            cel_messages: rule_messages(&raw),
            printer_columns: printer_columns(&v),
            selectable_fields,
            openapi,
            crd_name: Some(s(crd, "/metadata/name").to_string()),
        }));
    }
    out
}

/// Each rule with its message (or, without one, its own text), for evaluation errors.
fn rule_messages(schema: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(o) => {
                if let Some(rules) = o.get("x-kubernetes-validations").and_then(Value::as_array) {
                    for r in rules {
                        if let Some(rule) = r.get("rule").and_then(Value::as_str) {
                            let message = r
                                .get("message")
                                .and_then(Value::as_str)
                                .map(str::trim)
                                .filter(|m| !m.is_empty())
                                .unwrap_or(rule.trim());
                            out.push((rule.to_string(), message.to_string()));
                        }
                    }
                }
                o.values().for_each(|c| walk(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    walk(schema, &mut out);
    out
}

fn rule_field_paths(schema: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(o) => {
                if let Some(rules) = o.get("x-kubernetes-validations").and_then(Value::as_array) {
                    for r in rules {
                        if let (Some(rule), Some(fp)) = (
                            r.get("rule").and_then(Value::as_str),
                            r.get("fieldPath").and_then(Value::as_str),
                        ) {
                            out.push((rule.to_string(), fp.trim_start_matches('.').to_string()));
                        }
                    }
                }
                o.values().for_each(|c| walk(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    walk(schema, &mut out);
    out
}

thread_local! {
    static VALIDATOR: kube_cel::Validator = kube_cel::Validator::new();
}

/// Re-orders the old object's associative lists to line up with the new object, so that CEL
/// transition rules compare an item with its own previous state (the real server correlates
/// map-lists by key and sets by value; kube-cel correlates by index). Items without a previous
/// state are paired with themselves, which makes transition rules pass, as skipping them would.
fn align_old(new: &Value, old: &Value, s: Option<&Schema>) -> Value {
    match (new, old) {
        (Value::Object(n), Value::Object(o)) => {
            let mut out = o.clone();
            for (k, nv) in n {
                if let Some(ov) = o.get(k) {
                    out.insert(k.clone(), align_old(nv, ov, s.and_then(|s| s.child(k))));
                }
            }
            Value::Object(out)
        }
        (Value::Array(n), Value::Array(o)) => {
            let list_type = s.map(|s| s.list_type.clone()).unwrap_or_default();
            let items = s.and_then(|s| s.items.as_deref());
            let find = |item: &Value| -> Option<&Value> {
                match &list_type {
                    ListType::Map(keys) => o
                        .iter()
                        .find(|x| keys.iter().all(|k| x.get(k) == item.get(k))),
                    ListType::Set => o.iter().find(|x| *x == item),
                    ListType::Atomic => None,
                }
            };
            if list_type == ListType::Atomic {
                return old.clone();
            }
            Value::Array(
                n.iter()
                    .map(|item| match find(item) {
                        Some(prev) => align_old(item, prev, items),
                        None => item.clone(),
                    })
                    .collect(),
            )
        }
        _ => old.clone(),
    }
}

/// Evaluates the CRD's `x-kubernetes-validations` against a custom resource.
pub fn validate_cel(def: &ResourceDef, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let Some(compiled) = &def.cel else {
        return Vec::new();
    };
    let aligned = old.map(|o| align_old(obj, o, Some(&def.schema)));
    let root = kube_cel::RootContext {
        api_version: def.api_version(),
        api_group: def.group.clone(),
        kind: def.kind.clone(),
    };
    let result = VALIDATOR
        .with(|v| v.validate_compiled_with_context(compiled, obj, aligned.as_ref(), Some(&root)));
    let Err(errors) = result else {
        return Vec::new();
    };
    errors
        .iter()
        .filter_map(|e| {
            let path = e.field_path.trim_start_matches('.').to_string();
            // The node holding the rule: the error's path without the rule's fieldPath.
            let node = def
                .cel_field_paths
                .iter()
                .filter(|(rule, _)| *rule == e.rule)
                .find_map(|(_, fp)| path.strip_suffix(fp.as_str()))
                .map(|p| p.trim_end_matches('.'))
                .unwrap_or(&path)
                .to_string();
            let ty = def
                .schema
                .at_path(&node)
                .map(|s| s.type_name().to_string())
                .unwrap_or_else(|| "object".into());
            // Ratcheting: a failed rule that does not use oldSelf is not held against an
            // update that leaves the node holding it unchanged.
            if let Some(old) = old
                && e.kind == kube_cel::ErrorKind::ValidationFailure
                && !e.rule.contains("oldSelf")
                && value_at(obj, &node) == value_at(old, &node)
            {
                return None;
            }
            // The API server names the root `<nil>` (a nil field.Path).
            let field = |p: &str| {
                if p.is_empty() {
                    "<nil>".to_string()
                } else {
                    p.to_string()
                }
            };
            if e.kind == kube_cel::ErrorKind::EvaluationError {
                // Reported at the rule's node with its type, as "<error> evaluating rule: <rule>".
                let message = def
                    .cel_messages
                    .iter()
                    .find(|(rule, _)| *rule == e.rule)
                    .map(|(_, m)| m.clone())
                    .unwrap_or_else(|| e.rule.trim().to_string());
                let cause = e.message.trim_start_matches("rule evaluation error: ");
                return Some(FieldError::new(
                    FieldErrorKind::Invalid,
                    field(&node),
                    Some(Value::String(ty)),
                    format!("{} evaluating rule: {message}", go_cel_error(cause)),
                ));
            }
            let kind = match e.reason.as_deref() {
                Some("FieldValueForbidden") => FieldErrorKind::Forbidden,
                Some("FieldValueRequired") => FieldErrorKind::Required,
                Some("FieldValueDuplicate") => FieldErrorKind::Duplicate,
                _ => FieldErrorKind::Invalid,
            };
            // A failed rule shows the node's value when it is a scalar; objects and arrays are
            // left out (field.OmitValueType).
            let value = match value_at(obj, &node) {
                Some(Value::Object(_) | Value::Array(_)) | None => None,
                Some(v) => Some(v.clone()),
            };
            Some(FieldError::new(
                kind,
                field(&path),
                value,
                e.message.clone(),
            ))
        })
        .collect()
}

/// cel-rust's runtime errors in cel-go's words, where they differ.
fn go_cel_error(e: &str) -> String {
    if let Some(key) = e.strip_prefix("No such key: ") {
        return format!("no such key: {key}");
    }
    let mut c = e.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The value at a `spec.items[2].name` path.
fn value_at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        for idx in rest.split('[').filter(|x| !x.is_empty()) {
            let i = idx.trim_end_matches(']');
            cur = match i.parse::<usize>() {
                Ok(n) => cur.get(n)?,
                Err(_) => cur.get(i)?,
            };
        }
    }
    Some(cur)
}

#[cfg(test)]
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ResourceDef>();
};

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {
                            "id": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "id is immutable"}]},
                            "size": {"type": "integer"}},
                            "x-kubernetes-validations": [{"rule": "self.size <= 10", "message": "too big"}]}}}}}]}
        })
    }

    #[test]
    fn defs_are_built_and_cel_runs_with_transitions() {
        let mut c = crd();
        apply_defaults(&mut c);
        assert!(validate(&c, None).is_empty());
        let defs = build_defs(&c);
        assert_eq!(defs.len(), 1);
        let d = &defs[0];
        assert_eq!(d.list_kind, "WidgetList");
        assert!(d.status_subresource);
        let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "a"}, "spec": {"id": "x", "size": 11}});
        let errs = validate_cel(d, &obj, None);
        assert_eq!(
            errs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["spec: Invalid value: too big"],
            "an object's value is left out of the message"
        );
        let old = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "a"}, "spec": {"id": "y", "size": 1}});
        let errs = validate_cel(d, &obj, Some(&old));
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            msgs.contains(&"spec.id: Invalid value: \"x\": id is immutable".to_string()),
            "{msgs:?}"
        );
    }

    #[test]
    fn the_api_servers_cel_libraries_are_available() {
        let mut c = crd();
        c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] = json!([
            {"rule": "quantity(self.memory).isLessThan(quantity('1Gi'))", "message": "too much memory"},
            {"rule": "isURL(self.endpoint) && url(self.endpoint).getScheme() == 'https'", "message": "https URL"},
            {"rule": "!format.dns1123Label().validate(self.id).hasValue()", "message": "id is a DNS label"}
        ]);
        let props = &mut c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            ["properties"];
        props["memory"] = json!({"type": "string", "maxLength": 16});
        props["endpoint"] = json!({"type": "string", "maxLength": 256});
        props["id"]["maxLength"] = json!(63);
        apply_defaults(&mut c);
        assert!(validate(&c, None).is_empty());
        let d = &build_defs(&c)[0];
        let ok = json!({"spec": {"id": "a", "size": 1, "memory": "512Mi", "endpoint": "https://x.example"}});
        assert!(validate_cel(d, &ok, None).is_empty());
        let bad = json!({"spec": {"id": "A_", "size": 1, "memory": "2Gi", "endpoint": "ftp://x"}});
        let msgs: Vec<String> = validate_cel(d, &bad, None)
            .iter()
            .map(|e| e.detail.clone())
            .collect();
        assert_eq!(msgs, ["too much memory", "https URL", "id is a DNS label"]);
    }

    #[test]
    fn invalid_crds_are_rejected_with_field_paths() {
        let mut c = crd();
        c["metadata"]["name"] = json!("wrong.example.com");
        c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            ["id"]["pattern"] = json!("(");
        let errs = validate(&c, None);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"metadata.name"));
        assert!(fields.iter().any(|f| f.ends_with(".pattern")), "{fields:?}");
    }
}
