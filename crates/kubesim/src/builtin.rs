//! The built-in resources: their registry entries, typed decoding (through `k8s-openapi`, which
//! also yields the unknown fields), OpenAPI definitions, kind-specific rules and the
//! core/v1 <-> events.k8s.io/v1 Event conversion.

use base64::Engine;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::sync::{Arc, OnceLock};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event as CoreEvent, Namespace, Secret, ServiceAccount,
};
use k8s_openapi::api::events::v1::Event as EventsV1;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::error::FieldError;
use crate::registry::{Behaviour, GroupResource, ResourceDef};
use crate::schema::{ListType, Schema};

struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    namespaced: bool,
    behaviour: Behaviour,
    status: bool,
    definition: &'static str,
    storage: (&'static str, &'static str),
    storage_api_version: &'static str,
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        group: "",
        version: "v1",
        plural: "configmaps",
        kind: "ConfigMap",
        short: &["cm"],
        categories: &[],
        namespaced: true,
        behaviour: Behaviour::ConfigMap,
        status: false,
        definition: "io.k8s.api.core.v1.ConfigMap",
        storage: ("", "configmaps"),
        storage_api_version: "v1",
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "events",
        kind: "Event",
        short: &["ev"],
        categories: &[],
        namespaced: true,
        behaviour: Behaviour::CoreEvent,
        status: false,
        definition: "io.k8s.api.core.v1.Event",
        storage: ("", "events"),
        storage_api_version: "v1",
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "namespaces",
        kind: "Namespace",
        short: &["ns"],
        categories: &[],
        namespaced: false,
        behaviour: Behaviour::Namespace,
        status: true,
        definition: "io.k8s.api.core.v1.Namespace",
        storage: ("", "namespaces"),
        storage_api_version: "v1",
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "secrets",
        kind: "Secret",
        short: &[],
        categories: &[],
        namespaced: true,
        behaviour: Behaviour::Secret,
        status: false,
        definition: "io.k8s.api.core.v1.Secret",
        storage: ("", "secrets"),
        storage_api_version: "v1",
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "serviceaccounts",
        kind: "ServiceAccount",
        short: &["sa"],
        categories: &[],
        namespaced: true,
        behaviour: Behaviour::ServiceAccount,
        status: false,
        definition: "io.k8s.api.core.v1.ServiceAccount",
        storage: ("", "serviceaccounts"),
        storage_api_version: "v1",
    },
    Builtin {
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        kind: "CustomResourceDefinition",
        short: &["crd", "crds"],
        categories: &["api-extensions"],
        namespaced: false,
        behaviour: Behaviour::Crd,
        status: true,
        definition: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        storage: ("apiextensions.k8s.io", "customresourcedefinitions"),
        storage_api_version: "apiextensions.k8s.io/v1",
    },
    Builtin {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        kind: "Lease",
        short: &[],
        categories: &[],
        namespaced: true,
        behaviour: Behaviour::Lease,
        status: false,
        definition: "io.k8s.api.coordination.v1.Lease",
        storage: ("coordination.k8s.io", "leases"),
        storage_api_version: "coordination.k8s.io/v1",
    },
    Builtin {
        group: "events.k8s.io",
        version: "v1",
        plural: "events",
        kind: "Event",
        short: &["ev"],
        categories: &[],
        namespaced: true,
        behaviour: Behaviour::EventsV1Event,
        status: false,
        definition: "io.k8s.api.events.v1.Event",
        storage: ("", "events"),
        storage_api_version: "v1",
    },
];

/// All built-in OpenAPI definitions (`components.schemas`), generated from the k8s-openapi types.
pub fn definitions() -> &'static Map<String, Value> {
    static DEFS: OnceLock<Map<String, Value>> = OnceLock::new();
    DEFS.get_or_init(|| {
        let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
        let _ = generator.subschema_for::<ConfigMap>();
        let _ = generator.subschema_for::<CoreEvent>();
        let _ = generator.subschema_for::<Namespace>();
        let _ = generator.subschema_for::<Secret>();
        let _ = generator.subschema_for::<ServiceAccount>();
        let _ = generator.subschema_for::<CustomResourceDefinition>();
        let _ = generator.subschema_for::<Lease>();
        let _ = generator.subschema_for::<EventsV1>();
        let _ = generator.subschema_for::<ObjectMeta>();
        let _ = generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>();
        let _ = generator
            .subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions>();
        let mut defs = generator.take_definitions(true);
        for b in BUILTINS {
            if let Some(Value::Object(d)) = defs.get_mut(b.definition) {
                d.insert(
                    "x-kubernetes-group-version-kind".into(),
                    json!([{"group": b.group, "version": b.version, "kind": b.kind}]),
                );
            }
        }
        // Structs the API marks `+structType=atomic`: server-side apply owns them whole.
        for atomic in [
            "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
            "io.k8s.api.core.v1.ObjectReference",
        ] {
            if let Some(Value::Object(d)) = defs.get_mut(atomic) {
                d.insert("x-kubernetes-map-type".into(), json!("atomic"));
            }
        }
        if let Some(props) = defs
            .get_mut("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
            .and_then(|d| d.get_mut("properties"))
            .and_then(Value::as_object_mut)
        {
            if let Some(Value::Object(f)) = props.get_mut("finalizers") {
                f.insert("x-kubernetes-list-type".into(), json!("set"));
                f.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
            }
            if let Some(Value::Object(o)) = props.get_mut("ownerReferences") {
                o.insert("x-kubernetes-list-type".into(), json!("map"));
                o.insert("x-kubernetes-list-map-keys".into(), json!(["uid"]));
                o.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
                o.insert("x-kubernetes-patch-merge-key".into(), json!("uid"));
            }
            if let Some(Value::Object(m)) = props.get_mut("managedFields") {
                m.insert("x-kubernetes-list-type".into(), json!("atomic"));
            }
        }
        defs
    })
}

/// The ObjectMeta schema with the list semantics server-side apply needs.
pub fn object_meta_schema() -> Arc<Schema> {
    static META: OnceLock<Arc<Schema>> = OnceLock::new();
    META.get_or_init(|| {
        let defs = definitions();
        let s = Schema::compile_with_defs(
            &json!({"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}),
            defs,
        );
        Arc::new(fix_meta(s))
    })
    .clone()
}

fn fix_meta(mut s: Schema) -> Schema {
    if let Some(o) = s.properties.get_mut("ownerReferences") {
        o.list_type = ListType::Map(vec!["uid".into()]);
        if let Some(item) = o.items.as_deref_mut() {
            item.map_atomic = true;
        }
    }
    if let Some(f) = s.properties.get_mut("finalizers") {
        f.list_type = ListType::Set;
    }
    // fieldsV1 is free-form JSON.
    if let Some(fv) = s
        .properties
        .get_mut("managedFields")
        .and_then(|m| m.items.as_deref_mut())
        .and_then(|i| i.properties.get_mut("fieldsV1"))
    {
        *fv = Schema::any();
    }
    s
}

fn kind_schema(definition: &str, behaviour: Behaviour) -> Schema {
    let defs = definitions();
    let mut s = Schema::compile_with_defs(
        &json!({"$ref": format!("#/components/schemas/{definition}")}),
        defs,
    );
    s.properties
        .insert("metadata".into(), (*object_meta_schema()).clone());
    let conditions_by_type = |s: &mut Schema| {
        if let Some(c) = s
            .properties
            .get_mut("status")
            .and_then(|st| st.properties.get_mut("conditions"))
        {
            c.list_type = ListType::Map(vec!["type".into()]);
        }
    };
    match behaviour {
        Behaviour::Namespace | Behaviour::Crd => conditions_by_type(&mut s),
        Behaviour::ServiceAccount => {
            if let Some(sec) = s.properties.get_mut("secrets") {
                sec.list_type = ListType::Map(vec!["name".into()]);
            }
        }
        _ => {}
    }
    // Built-in objects are validated by typed decoding, not by this schema; keep unknown
    // nested values (e.g. CRD schemas) intact.
    s
}

pub fn builtin_defs() -> Vec<Arc<ResourceDef>> {
    BUILTINS
        .iter()
        .map(|b| {
            let schema = Arc::new(kind_schema(b.definition, b.behaviour));
            let mut openapi = definitions()
                .get(b.definition)
                .cloned()
                .unwrap_or_else(|| json!({}));
            if let Value::Object(o) = &mut openapi {
                o.insert(
                    "x-kubernetes-group-version-kind".into(),
                    json!([{"group": b.group, "version": b.version, "kind": b.kind}]),
                );
            }
            Arc::new(ResourceDef {
                group: b.group.into(),
                version: b.version.into(),
                plural: b.plural.into(),
                singular: b.kind.to_lowercase(),
                kind: b.kind.into(),
                list_kind: format!("{}List", b.kind),
                short_names: b.short.iter().map(|s| s.to_string()).collect(),
                categories: b.categories.iter().map(|s| s.to_string()).collect(),
                namespaced: b.namespaced,
                storage: GroupResource::new(b.storage.0, b.storage.1),
                storage_api_version: b.storage_api_version.into(),
                behaviour: b.behaviour,
                status_subresource: b.status,
                scale: None,
                ssa_schema: schema.clone(),
                schema,
                cel: None,
                cel_field_paths: Vec::new(),
                cel_messages: Vec::new(),
                printer_columns: Vec::new(),
                selectable_fields: Vec::new(),
                openapi,
                crd_name: None,
            })
        })
        .collect()
}

pub fn definition_name(def: &ResourceDef) -> String {
    BUILTINS
        .iter()
        .find(|b| b.group == def.group && b.version == def.version && b.plural == def.plural)
        .map(|b| b.definition.to_string())
        .unwrap_or_else(|| format!("{}.{}", def.version, def.kind))
}

fn roundtrip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    let mut out = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    integral_floats_as_integers(&mut out);
    Ok(out)
}

/// Go encodes an integral float64 without a fraction (`250`, not `250.0`).
fn integral_floats_as_integers(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n
                .as_f64()
                .filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15)
            {
                *v = Value::from(f as i64);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(o) => o.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

/// Decodes a built-in object as the typed API would: wrong types are errors, unknown fields
/// are dropped and reported. `v` must already be in the storage form.
pub fn decode(behaviour: Behaviour, v: &Value) -> Result<(Value, Vec<String>), String> {
    let out = match behaviour {
        Behaviour::Namespace => roundtrip::<Namespace>(v)?,
        Behaviour::Secret => roundtrip::<Secret>(v)?,
        Behaviour::ConfigMap => roundtrip::<ConfigMap>(v)?,
        Behaviour::ServiceAccount => roundtrip::<ServiceAccount>(v)?,
        Behaviour::CoreEvent | Behaviour::EventsV1Event => roundtrip::<CoreEvent>(v)?,
        Behaviour::Lease => roundtrip::<Lease>(v)?,
        Behaviour::Crd => roundtrip::<CustomResourceDefinition>(v)?,
        Behaviour::Custom => return Ok((v.clone(), Vec::new())),
    };
    let mut unknown = Vec::new();
    unknown_fields(v, &out, "", &mut unknown);
    Ok((out, unknown))
}

/// Decodes an events.k8s.io/v1 Event (to check types and find unknown fields) before conversion.
pub fn decode_events_v1(v: &Value) -> Result<(Value, Vec<String>), String> {
    let out = roundtrip::<EventsV1>(v)?;
    let mut unknown = Vec::new();
    unknown_fields(v, &out, "", &mut unknown);
    Ok((out, unknown))
}

/// `orig` without the fields its typed decoding dropped, but without the zero values typed
/// decoding adds either (what an apply configuration must keep: only what was sent).
pub fn strip_unknown(orig: &Value, typed: &Value) -> Value {
    match (orig, typed) {
        (Value::Object(a), Value::Object(b)) => Value::Object(
            a.iter()
                .filter_map(|(k, v)| match b.get(k) {
                    Some(tv) => Some((k.clone(), strip_unknown(v, tv))),
                    None if v.is_null() => Some((k.clone(), Value::Null)),
                    None => None,
                })
                .collect(),
        ),
        (Value::Array(a), Value::Array(b)) => {
            Value::Array(a.iter().zip(b).map(|(x, y)| strip_unknown(x, y)).collect())
        }
        _ => orig.clone(),
    }
}

fn unknown_fields(orig: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (orig, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    None if !v.is_null() => out.push(p),
                    Some(tv) => unknown_fields(v, tv, &p, out),
                    None => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                unknown_fields(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Kind-specific normalisation on every write (create and update).
pub fn normalize(behaviour: Behaviour, obj: &mut Value) {
    match behaviour {
        Behaviour::Secret => {
            if let Some(Value::Object(sd)) =
                obj.as_object_mut().and_then(|o| o.remove("stringData"))
            {
                let data = obj
                    .as_object_mut()
                    .unwrap()
                    .entry("data")
                    .or_insert_with(|| json!({}));
                if !data.is_object() {
                    *data = json!({});
                }
                for (k, v) in sd {
                    let s = v.as_str().unwrap_or_default();
                    data[k] = Value::String(B64.encode(s.as_bytes()));
                }
            }
            if obj
                .get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                obj["type"] = json!("Opaque");
            }
        }
        Behaviour::Namespace => {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let labels = obj["metadata"]
                .as_object_mut()
                .unwrap()
                .entry("labels")
                .or_insert_with(|| json!({}));
            labels["kubernetes.io/metadata.name"] = Value::String(name);
        }
        _ => {}
    }
}

/// Kind-specific defaults on create.
pub fn prepare_create(behaviour: Behaviour, obj: &mut Value) {
    if behaviour == Behaviour::Namespace {
        if obj.pointer("/spec/finalizers").is_none() {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
        }
        obj["status"] = json!({"phase": "Active"});
    }
}

fn data_keys(obj: &Value, field: &str) -> Vec<String> {
    obj.get(field)
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn valid_config_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k != "."
        && k != ".."
        && !k.starts_with("..")
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn check_keys(obj: &Value, field: &str, errs: &mut Vec<FieldError>) {
    for k in data_keys(obj, field) {
        if !valid_config_key(&k) {
            errs.push(FieldError::invalid(
                format!("{field}[{k}]"),
                Value::String(k.clone()),
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  \
                 or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            ));
        }
    }
}

/// Kind-specific validation; `old` is the live object on update.
pub fn validate(behaviour: Behaviour, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match behaviour {
        Behaviour::Secret | Behaviour::ConfigMap => {
            if behaviour == Behaviour::Secret {
                check_keys(obj, "data", &mut errs);
                if let Some(old) = old
                    && old.get("type") != obj.get("type")
                {
                    errs.push(FieldError::invalid(
                        "type",
                        obj.get("type").cloned().unwrap_or(Value::Null),
                        "field is immutable",
                    ));
                }
                let ty = obj.get("type").and_then(Value::as_str).unwrap_or_default();
                if ty == "kubernetes.io/tls" {
                    for key in ["tls.crt", "tls.key"] {
                        if obj
                            .pointer(&format!("/data/{}", key.replace('/', "~1")))
                            .is_none()
                        {
                            errs.push(FieldError::required(format!("data[{key}]"), ""));
                        }
                    }
                }
            } else {
                check_keys(obj, "data", &mut errs);
                check_keys(obj, "binaryData", &mut errs);
            }
            if let Some(old) = old
                && old.get("immutable") == Some(&Value::Bool(true))
            {
                let fields: &[&str] = if behaviour == Behaviour::Secret {
                    &["data"]
                } else {
                    &["data", "binaryData"]
                };
                for f in fields {
                    if old.get(*f) != obj.get(*f) {
                        errs.push(FieldError::forbidden(
                            *f,
                            "field is immutable when `immutable` is set",
                        ));
                    }
                }
                if obj.get("immutable") != Some(&Value::Bool(true)) {
                    errs.push(FieldError::forbidden(
                        "immutable",
                        "field is immutable when `immutable` is set",
                    ));
                }
            }
        }
        Behaviour::Lease => {
            if let Some(d) = obj
                .pointer("/spec/leaseDurationSeconds")
                .and_then(Value::as_i64)
                && d <= 0
            {
                errs.push(FieldError::invalid(
                    "spec.leaseDurationSeconds",
                    json!(d),
                    "must be greater than 0",
                ));
            }
            if let Some(t) = obj
                .pointer("/spec/leaseTransitions")
                .and_then(Value::as_i64)
                && t < 0
            {
                errs.push(FieldError::invalid(
                    "spec.leaseTransitions",
                    json!(t),
                    "must be greater than or equal to 0",
                ));
            }
        }
        Behaviour::CoreEvent | Behaviour::EventsV1Event => {
            let ns = obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if let Some(ins) = obj
                .pointer("/involvedObject/namespace")
                .and_then(Value::as_str)
                && !ins.is_empty()
                && ins != ns
            {
                errs.push(FieldError::invalid(
                    "involvedObject.namespace",
                    json!(ins),
                    "does not match event.namespace",
                ));
            }
        }
        _ => {}
    }
    errs
}

const EVENT_FIELDS: &[(&str, &str)] = &[
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
    ("action", "action"),
    ("reason", "reason"),
    ("involvedObject", "regarding"),
    ("related", "related"),
    ("message", "note"),
    ("type", "type"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// core/v1 Event -> events.k8s.io/v1 Event.
pub fn core_event_to_v1(core: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    out.insert("kind".into(), json!("Event"));
    if let Some(m) = core.get("metadata") {
        out.insert("metadata".into(), m.clone());
    }
    for (c, v1) in EVENT_FIELDS {
        if let Some(v) = core.get(*c)
            && !v.is_null()
        {
            out.insert(v1.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// The fields the API server always writes because their Go types have no `omitempty` effect
/// (a struct, a `metav1.Time`): an Event shows `firstTimestamp: null` and `source: {}` even
/// when nobody set them (`deprecated…` in events.k8s.io/v1).
pub fn with_go_zero_fields(behaviour: Behaviour, mut v: Value) -> Value {
    let fields: &[(&str, Value)] = match behaviour {
        Behaviour::CoreEvent => &[
            ("firstTimestamp", Value::Null),
            ("lastTimestamp", Value::Null),
            ("source", Value::Object(Map::new())),
        ],
        Behaviour::EventsV1Event => &[
            ("deprecatedFirstTimestamp", Value::Null),
            ("deprecatedLastTimestamp", Value::Null),
            ("deprecatedSource", Value::Object(Map::new())),
        ],
        _ => &[],
    };
    if let Some(o) = v.as_object_mut() {
        for (k, zero) in fields {
            o.entry(*k).or_insert_with(|| zero.clone());
        }
    }
    v
}

/// events.k8s.io/v1 Event -> core/v1 Event.
pub fn v1_event_to_core(v1: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("v1"));
    out.insert("kind".into(), json!("Event"));
    if let Some(m) = v1.get("metadata") {
        out.insert("metadata".into(), m.clone());
    }
    for (c, v) in EVENT_FIELDS {
        if let Some(val) = v1.get(*v)
            && !val.is_null()
        {
            out.insert(c.to_string(), val.clone());
        }
    }
    out.entry("involvedObject").or_insert_with(|| json!({}));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_string_data_is_merged_into_data() {
        let mut s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"},
                           "data": {"x": "eA=="}, "stringData": {"y": "why"}});
        normalize(Behaviour::Secret, &mut s);
        assert_eq!(s["data"], json!({"x": "eA==", "y": "d2h5"}));
        assert_eq!(s["type"], "Opaque");
        assert!(s.get("stringData").is_none());
    }

    #[test]
    fn typed_decoding_reports_unknown_fields_and_type_errors() {
        let (out, unknown) = decode(
            Behaviour::ConfigMap,
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "bogus": 1},
                    "data": {"k": "v"}, "extra": {"x": 1}}),
        )
        .unwrap();
        assert_eq!(
            unknown,
            vec!["extra".to_string(), "metadata.bogus".to_string()]
        );
        assert!(out.get("extra").is_none());
        assert!(
            decode(
                Behaviour::ConfigMap,
                &json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": 5}})
            )
            .is_err()
        );
    }

    #[test]
    fn events_convert_both_ways() {
        let v1 = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "ns"},
                        "regarding": {"kind": "Secret", "name": "s"}, "note": "hello", "reason": "Made",
                        "reportingController": "ctl", "type": "Normal", "series": {"count": 2, "lastObservedTime": "2024-01-01T00:00:00.000000Z"}});
        let core = v1_event_to_core(&v1);
        assert_eq!(core["involvedObject"]["name"], "s");
        assert_eq!(core["message"], "hello");
        assert_eq!(core["reportingComponent"], "ctl");
        assert_eq!(core_event_to_v1(&core), v1);
    }

    #[test]
    fn object_meta_schema_knows_list_semantics() {
        let m = object_meta_schema();
        assert_eq!(
            m.properties["ownerReferences"].list_type,
            ListType::Map(vec!["uid".into()])
        );
        assert_eq!(m.properties["finalizers"].list_type, ListType::Set);
        assert!(m.properties["labels"].is_map());
    }
}
