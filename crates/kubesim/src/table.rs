//! Server-side printing: `meta.k8s.io/v1` Tables with the built-in columns kubectl shows and
//! the CRDs' `additionalPrinterColumns`.

use serde_json::{Value, json};

use crate::jsonpath::{self, JsonPath};
use crate::meta;
use crate::registry::{Behaviour, ResourceDef};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(s: &str) -> IncludeObject {
        match s {
            "None" => IncludeObject::None,
            "Object" => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some \
     resources may allow a client to request the generation of an appropriate name automatically. Name is primarily \
     intended for creation idempotence and configuration definition. Cannot be updated. More info: \
     https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. \
     It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this \
     value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. \
     More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

fn col(name: &str, ty: &str, format: &str, desc: &str, priority: i64) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": desc, "priority": priority})
}

/// Go's `duration.HumanDuration`, as kubectl shows ages.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn age_of(ts: Option<&str>) -> Value {
    let Some(ts) = ts.filter(|t| !t.is_empty()) else {
        return json!("<unknown>");
    };
    match ts.parse::<jiff::Timestamp>() {
        Ok(t) => json!(human_duration(
            jiff::Timestamp::now().as_second() - t.as_second()
        )),
        Err(_) => json!("<invalid>"),
    }
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn count(v: &Value, ptr: &str) -> i64 {
    match v.pointer(ptr) {
        Some(Value::Object(o)) => o.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}

fn columns(def: &ResourceDef) -> Vec<Value> {
    let name = col("Name", "string", "name", NAME_DESC, 0);
    let age = col("Age", "string", "", AGE_DESC, 0);
    match def.behaviour {
        Behaviour::Namespace => vec![
            name,
            col("Status", "string", "", "The status of the namespace", 0),
            age,
        ],
        Behaviour::Secret => vec![
            name,
            col(
                "Type",
                "string",
                "",
                "Used to facilitate programmatic handling of secret data.",
                0,
            ),
            col("Data", "string", "", "Data contains the secret data.", 0),
            age,
        ],
        Behaviour::ConfigMap => vec![
            name,
            col(
                "Data",
                "string",
                "",
                "Data contains the configuration data.",
                0,
            ),
            age,
        ],
        Behaviour::ServiceAccount => vec![
            name,
            col(
                "Secrets",
                "string",
                "",
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
                0,
            ),
            age,
        ],
        Behaviour::Lease => vec![
            name,
            col("Holder", "string", "", "The holder of the lease.", 0),
            age,
        ],
        Behaviour::Crd => vec![name, col("Created At", "date", "", AGE_DESC, 0)],
        Behaviour::CoreEvent | Behaviour::EventsV1Event => vec![
            col(
                "Last Seen",
                "string",
                "",
                "The time since the last event was observed.",
                0,
            ),
            col(
                "Type",
                "string",
                "",
                "Type of this event (Normal, Warning), new types could be added in the future.",
                0,
            ),
            col(
                "Reason",
                "string",
                "",
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
                0,
            ),
            col(
                "Object",
                "string",
                "",
                "The object that this event is about.",
                0,
            ),
            col(
                "Subobject",
                "string",
                "",
                "The subobject this event is about.",
                1,
            ),
            col(
                "Source",
                "string",
                "",
                "The component reporting this event.",
                1,
            ),
            col(
                "Message",
                "string",
                "",
                "A human-readable description of the status of this operation.",
                0,
            ),
            col(
                "First Seen",
                "string",
                "",
                "The time at which the event was first recorded.",
                1,
            ),
            col(
                "Count",
                "string",
                "",
                "The number of times this event has occurred.",
                1,
            ),
            col("Name", "string", "name", NAME_DESC, 1),
        ],
        Behaviour::Custom => {
            let mut c = vec![name];
            for pc in &def.printer_columns {
                c.push(col(
                    &pc.name,
                    &pc.ty,
                    &pc.format,
                    &pc.description,
                    pc.priority,
                ));
            }
            c
        }
    }
}

fn event_cells(o: &Value) -> Vec<Value> {
    // `o` is in the core/v1 form; the columns are the API server's (printEvent).
    let now = jiff::Timestamp::now().as_second();
    let since = |t: Option<&str>| {
        t.and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| human_duration(now - t.as_second()))
            .unwrap_or_else(|| "<unknown>".into())
    };
    let first = match str_at(o, "/firstTimestamp") {
        Some(t) => since(Some(t)),
        None => since(str_at(o, "/eventTime")),
    };
    let mut last = match str_at(o, "/lastTimestamp") {
        Some(t) => since(Some(t)),
        None => first.clone(),
    };
    let mut count = o.get("count").and_then(Value::as_i64).unwrap_or(0);
    if let Some(series) = o.get("series").filter(|s| s.is_object()) {
        last = since(series.get("lastObservedTime").and_then(Value::as_str));
        count = series.get("count").and_then(Value::as_i64).unwrap_or(0);
    } else if count == 0 {
        // Singleton events have no count in the new API.
        count = 1;
    }
    let kind = str_at(o, "/involvedObject/kind")
        .unwrap_or_default()
        .to_lowercase();
    let target = match str_at(o, "/involvedObject/name").filter(|n| !n.is_empty()) {
        Some(name) => format!("{kind}/{name}"),
        None => kind,
    };
    let non_empty = |p: &str| str_at(o, p).filter(|s| !s.is_empty());
    let component = non_empty("/source/component").or_else(|| non_empty("/reportingComponent"));
    let instance = non_empty("/source/host").or_else(|| non_empty("/reportingInstance"));
    let source = match (component, instance) {
        (c, Some(i)) => format!("{}, {i}", c.unwrap_or_default()),
        (c, None) => c.unwrap_or_default().to_string(),
    };
    vec![
        json!(last),
        json!(str_at(o, "/type").unwrap_or_default()),
        json!(str_at(o, "/reason").unwrap_or_default()),
        json!(target),
        json!(str_at(o, "/involvedObject/fieldPath").unwrap_or_default()),
        json!(source),
        json!(str_at(o, "/message").unwrap_or_default().trim()),
        json!(first),
        json!(count),
        json!(meta::name(o)),
    ]
}

fn custom_cell(ty: &str, path: &str, o: &Value) -> Value {
    let Ok(jp) = JsonPath::parse(path) else {
        return Value::Null;
    };
    let Some(v) = jp.find(o).into_iter().next() else {
        return Value::Null;
    };
    match ty {
        "string" => json!(jsonpath::print(v)),
        "integer" => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .map(Value::from)
            .unwrap_or(Value::Null),
        "number" => v.as_f64().map(Value::from).unwrap_or(Value::Null),
        "boolean" => v.as_bool().map(Value::from).unwrap_or(Value::Null),
        "date" => match v.as_str() {
            Some(s) => age_of(Some(s)),
            None => Value::Null,
        },
        _ => Value::Null,
    }
}

/// The cells of one row of an object in the request's version.
fn cells(def: &ResourceDef, shown: &Value) -> Vec<Value> {
    let name = json!(meta::name(shown));
    let age = age_of(str_at(shown, "/metadata/creationTimestamp"));
    match def.behaviour {
        Behaviour::Namespace => vec![
            name,
            json!(str_at(shown, "/status/phase").unwrap_or_default()),
            age,
        ],
        Behaviour::Secret => vec![
            name,
            json!(str_at(shown, "/type").unwrap_or_default()),
            json!(count(shown, "/data")),
            age,
        ],
        Behaviour::ConfigMap => vec![
            name,
            json!(count(shown, "/data") + count(shown, "/binaryData")),
            age,
        ],
        Behaviour::ServiceAccount => vec![name, json!(count(shown, "/secrets")), age],
        Behaviour::Lease => vec![
            name,
            json!(str_at(shown, "/spec/holderIdentity").unwrap_or_default()),
            age,
        ],
        Behaviour::Crd => vec![
            name,
            json!(str_at(shown, "/metadata/creationTimestamp").unwrap_or_default()),
        ],
        Behaviour::CoreEvent => event_cells(shown),
        Behaviour::EventsV1Event => event_cells(&crate::builtin::v1_event_to_core(shown)),
        Behaviour::Custom => {
            let mut c = vec![name];
            for pc in &def.printer_columns {
                c.push(custom_cell(&pc.ty, &pc.json_path, shown));
            }
            c
        }
    }
}

fn row(def: &ResourceDef, shown: &Value, include: IncludeObject) -> Value {
    let mut r = json!({"cells": cells(def, shown)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => r["object"] = partial_metadata(shown),
        IncludeObject::Object => r["object"] = shown.clone(),
    }
    r
}

/// `meta.k8s.io/v1` PartialObjectMetadata of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
           "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({}))})
}

/// A Table of objects (in the request's version).
pub fn table(
    def: &ResourceDef,
    objs: &[Value],
    include: IncludeObject,
    list_meta: Value,
    headers: bool,
) -> Value {
    let rows: Vec<Value> = objs.iter().map(|o| row(def, o, include)).collect();
    let mut t = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "rows": rows});
    if headers {
        t["columnDefinitions"] = Value::Array(columns(def));
    } else {
        t["columnDefinitions"] = json!([]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_match_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 120), "3h2m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d1h");
        assert_eq!(human_duration(100 * 86400), "100d");
    }

    #[test]
    fn custom_columns_use_json_paths() {
        let o = json!({"metadata": {"name": "a"}, "spec": {"shards": 3}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(
            custom_cell(
                "string",
                ".status.conditions[?(@.type==\"Ready\")].status",
                &o
            ),
            json!("True")
        );
        assert_eq!(custom_cell("integer", ".spec.shards", &o), json!(3));
        assert_eq!(custom_cell("integer", ".spec.missing", &o), Value::Null);
    }
}
