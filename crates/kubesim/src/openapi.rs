//! OpenAPI documents built from the registry: v3 per group/version (what kubectl explain,
//! apply and the fieldValidation support check read) and a v2 document in JSON.

use serde_json::{Map, Value, json};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use crate::builtin;
use crate::registry::{Registry, ResourceDef};

const VERSION: &str = crate::server::VERSION;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn all_group_versions(reg: &Registry) -> Vec<(String, String)> {
    let mut out = vec![(String::new(), "v1".to_string())];
    for g in reg.api_groups() {
        for v in reg.versions(&g) {
            out.push((g.clone(), v));
        }
    }
    out
}

/// `/openapi/v3`: the index of group/version documents.
pub fn v3_index(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for (g, v) in all_group_versions(reg) {
        let doc = v3_document(reg, &g, &v);
        let mut h = DefaultHasher::new();
        doc.to_string().hash(&mut h);
        let p = gv_path(&g, &v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={:016X}", h.finish())}),
        );
    }
    json!({"paths": paths})
}

fn param(name: &str, desc: &str) -> Value {
    json!({"name": name, "in": "query", "description": desc, "schema": {"type": "string", "uniqueItems": true}})
}

fn write_params(patch: bool) -> Vec<Value> {
    let mut p = vec![
        param(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ),
        param(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        param(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.",
        ),
    ];
    if patch {
        p.push(json!({"name": "force", "in": "query", "description": "Force is going to \"force\" Apply requests.", "schema": {"type": "boolean", "uniqueItems": true}}));
    }
    p
}

fn list_params() -> Vec<Value> {
    [
        "allowWatchBookmarks",
        "continue",
        "fieldSelector",
        "labelSelector",
        "limit",
        "resourceVersion",
        "resourceVersionMatch",
        "sendInitialEvents",
        "timeoutSeconds",
        "watch",
    ]
    .iter()
    .map(|n| param(n, n))
    .collect()
}

fn op(
    def: &ResourceDef,
    action: &str,
    verb: &str,
    schema_ref: &str,
    params: Vec<Value>,
    body: bool,
) -> Value {
    let kind = json!({"group": def.group, "version": def.version, "kind": def.kind});
    let content = json!({"application/json": {"schema": {"$ref": schema_ref}}, "application/yaml": {"schema": {"$ref": schema_ref}}});
    let mut o = json!({
        "description": format!("{action} {}", def.kind),
        "operationId": format!("{verb}{}{}", def.version, def.kind),
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": content}, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": kind,
    });
    if body {
        let ct = if action == "patch" {
            let patch = json!({"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}});
            let mut types = json!({
                "application/apply-patch+yaml": patch,
                "application/json-patch+json": patch,
                "application/merge-patch+json": patch,
            });
            // kubectl computes a strategic merge patch only where the server lists it:
            // built-ins, not custom resources.
            if def.behaviour.is_builtin() {
                types["application/strategic-merge-patch+json"] = patch;
            }
            types
        } else {
            json!({"*/*": {"schema": {"$ref": schema_ref}}})
        };
        o["requestBody"] = json!({"content": ct, "required": true});
    }
    o
}

fn resource_paths(def: &ResourceDef, paths: &mut Map<String, Value>) {
    let base = format!("/{}", gv_path(&def.group, &def.version));
    let coll = if def.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", def.plural)
    } else {
        format!("{base}/{}", def.plural)
    };
    let kind_ref = format!("#/components/schemas/{}", def.definition_name());
    let list_ref = format!("#/components/schemas/{}List", def.definition_name());
    let ns_param = || json!({"name": "namespace", "in": "path", "required": true, "schema": {"type": "string"}});
    let name_param =
        json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}});
    let mut cparams: Vec<Value> = if def.namespaced {
        vec![ns_param()]
    } else {
        vec![]
    };
    cparams.push(param("pretty", "pretty"));
    paths.insert(
        coll.clone(),
        json!({
            "get": op(def, "list", "list", &list_ref, list_params(), false),
            "post": op(def, "post", "create", &kind_ref, write_params(false), true),
            "delete": op(def, "deletecollection", "deletecollection", "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status", list_params(), false),
            "parameters": cparams,
        }),
    );
    let mut iparams = vec![name_param];
    if def.namespaced {
        iparams.push(ns_param());
    }
    paths.insert(
        format!("{coll}/{{name}}"),
        json!({
            "get": op(def, "get", "read", &kind_ref, vec![], false),
            "put": op(def, "put", "replace", &kind_ref, write_params(false), true),
            "patch": op(def, "patch", "patch", &kind_ref, write_params(true), true),
            "delete": op(def, "delete", "delete", "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status", vec![param("dryRun", "dryRun"), param("propagationPolicy", "propagationPolicy"), param("gracePeriodSeconds", "gracePeriodSeconds")], false),
            "parameters": iparams.clone(),
        }),
    );
    if def.status_subresource {
        paths.insert(
            format!("{coll}/{{name}}/status"),
            json!({
                "get": op(def, "get", "read", &kind_ref, vec![], false),
                "put": op(def, "put", "replace", &kind_ref, write_params(false), true),
                "patch": op(def, "patch", "patch", &kind_ref, write_params(true), true),
                "parameters": iparams,
            }),
        );
    }
    if def.namespaced {
        paths.insert(
            format!("{base}/{}", def.plural),
            json!({"get": op(def, "list", "list", &list_ref, list_params(), false)}),
        );
    }
}

fn list_schema(def: &ResourceDef) -> Value {
    json!({
        "description": format!("{} is a list of {}", def.list_kind, def.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{}", def.definition_name())}},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"}
        },
        "x-kubernetes-group-version-kind": [{"group": def.group, "version": def.version, "kind": def.list_kind}]
    })
}

/// The OpenAPI v3 document of one group/version.
pub fn v3_document(reg: &Registry, group: &str, version: &str) -> Value {
    let mut schemas: Map<String, Value> = builtin::definitions().clone();
    schemas.entry("io.k8s.apimachinery.pkg.apis.meta.v1.Patch".to_string()).or_insert_with(|| {
        json!({"description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.", "type": "object"})
    });
    schemas.entry("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta".to_string()).or_insert_with(|| {
        json!({"type": "object", "properties": {"continue": {"type": "string"}, "remainingItemCount": {"type": "integer", "format": "int64"}, "resourceVersion": {"type": "string"}, "selfLink": {"type": "string"}}})
    });
    let mut paths = Map::new();
    for def in reg.resources(group, version) {
        resource_paths(&def, &mut paths);
        schemas.insert(def.definition_name(), def.openapi.clone());
        schemas.insert(format!("{}List", def.definition_name()), list_schema(&def));
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// Rewrites v3 `$ref`s to v2 (`#/definitions/`) and drops v3-only keywords.
fn to_v2(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, x) in o {
                if k == "$ref" {
                    if let Some(s) = x.as_str() {
                        out.insert(
                            k.clone(),
                            json!(s.replace("#/components/schemas/", "#/definitions/")),
                        );
                    }
                } else if k == "nullable" {
                    continue;
                } else {
                    out.insert(k.clone(), to_v2(x));
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(to_v2).collect()),
        other => other.clone(),
    }
}

/// A custom resource's schema as the API server publishes it in OpenAPI v2
/// (apiextensions-apiserver's `ToStructuralOpenAPIV2` and the builder around it): junctors
/// dropped, nullable nodes and nodes that keep unknown fields left untyped (kubectl cannot
/// validate them), defaults pruned, and the standard `apiVersion`/`kind`/`metadata`.
fn crd_v2(openapi: &Value) -> Value {
    fn convert(v: &mut Value) {
        let Some(o) = v.as_object_mut() else {
            return;
        };
        for k in ["allOf", "oneOf", "anyOf", "not", "default"] {
            o.remove(k);
        }
        if o.remove("nullable") == Some(Value::Bool(true)) {
            o.remove("type");
            o.remove("items");
            o.remove("properties");
        }
        let preserve = o.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        if preserve {
            o.remove("items");
            o.remove("properties");
        }
        let ty = o
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if (ty == "array" && !o.contains_key("items")) || (preserve && ty == "object") {
            o.remove("type");
        }
        // A nullable property cannot be required (a null would fail kubectl's check).
        let nullable: Vec<String> = o
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| {
                p.iter()
                    .filter(|(_, s)| s.get("nullable") == Some(&Value::Bool(true)))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        if o.get("additionalProperties")
            .and_then(|a| a.get("nullable"))
            == Some(&Value::Bool(true))
        {
            o.remove("required");
        } else if let Some(Value::Array(req)) = o.get_mut("required") {
            req.retain(|r| !r.as_str().is_some_and(|r| nullable.iter().any(|n| n == r)));
            if req.is_empty() {
                o.remove("required");
            }
        }
        if let Some(Value::Object(props)) = o.get_mut("properties") {
            props.values_mut().for_each(convert);
        }
        if let Some(items) = o.get_mut("items") {
            convert(items);
        }
        if let Some(add @ Value::Object(_)) = o.get_mut("additionalProperties") {
            convert(add);
        }
    }
    let gvk = openapi.get("x-kubernetes-group-version-kind").cloned();
    if openapi.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        let mut out = json!({"type": "object"});
        if let Some(g) = gvk {
            out["x-kubernetes-group-version-kind"] = g;
        }
        return out;
    }
    let mut out = openapi.clone();
    convert(&mut out);
    if let Some(Value::Object(p)) = out.get_mut("properties") {
        p.insert("apiVersion".into(), json!({"description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources", "type": "string"}));
        p.insert("kind".into(), json!({"description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", "type": "string"}));
        p.insert("metadata".into(), json!({"description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", "$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}));
    }
    out
}

/// The Swagger 2.0 document (JSON) of everything served.
pub fn v2_document(reg: &Registry) -> Value {
    let mut defs: Map<String, Value> = builtin::definitions()
        .iter()
        .map(|(k, v)| (k.clone(), to_v2(v)))
        .collect();
    let mut paths = Map::new();
    for (g, v) in all_group_versions(reg) {
        for def in reg.resources(&g, &v) {
            let schema = if def.behaviour == crate::registry::Behaviour::Custom {
                crd_v2(&def.openapi)
            } else {
                def.openapi.clone()
            };
            defs.insert(def.definition_name(), to_v2(&schema));
            defs.insert(
                format!("{}List", def.definition_name()),
                to_v2(&list_schema(&def)),
            );
            let mut p = Map::new();
            resource_paths(&def, &mut p);
            for (path, item) in p {
                let mut item2 = Map::new();
                for (method, o) in item.as_object().into_iter().flatten() {
                    if method == "parameters" {
                        continue;
                    }
                    let mut o2 = Map::new();
                    for k in [
                        "description",
                        "operationId",
                        "x-kubernetes-action",
                        "x-kubernetes-group-version-kind",
                    ] {
                        if let Some(x) = o.get(k) {
                            o2.insert(k.into(), x.clone());
                        }
                    }
                    let params: Vec<Value> = o
                        .get("parameters")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|p| json!({"name": p["name"], "in": p["in"], "type": "string", "uniqueItems": true}))
                        .collect();
                    o2.insert("parameters".into(), Value::Array(params));
                    o2.insert("responses".into(), json!({"200": {"description": "OK"}}));
                    item2.insert(method.clone(), Value::Object(o2));
                }
                paths.insert(path, Value::Object(item2));
            }
        }
    }
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": VERSION}, "paths": paths, "definitions": defs})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_documents_advertise_field_validation_on_patch() {
        let reg = Registry::new(builtin::builtin_defs());
        let doc = v3_document(&reg, "", "v1");
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/secrets/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Secret");
        assert!(
            patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object()
        );
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert!(doc["components"]["schemas"]["io.k8s.api.core.v1.Secret"]["x-kubernetes-group-version-kind"].is_array());
        let idx = v3_index(&reg);
        assert!(
            idx["paths"]["apis/coordination.k8s.io/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .contains("hash=")
        );
        let v2 = v2_document(&reg);
        assert!(!v2.to_string().contains("#/components/schemas/"));
    }
}
