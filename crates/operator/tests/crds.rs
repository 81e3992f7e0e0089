//! `cache-operator crds`: three structural CRDs with status, printer columns, patterns, enums
//! and CEL rules, and the checked-in copy is what the code generates.

use std::path::PathBuf;

use serde_json::Value;

fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/crd/crds.yaml")
}

fn rendered() -> String {
    cache_operator::commands::crds::render().unwrap()
}

fn docs() -> Vec<Value> {
    serde_saphyr::from_multiple(&rendered()).unwrap()
}

#[test]
fn checked_in_crds_are_current() {
    let on_disk = std::fs::read_to_string(checked_in()).unwrap();
    assert!(
        on_disk == rendered(),
        "config/crd/crds.yaml is stale: run `cargo run -p cache-operator -- crds > config/crd/crds.yaml`"
    );
    let chart = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../charts/cache-operator/crds/crds.yaml");
    assert!(
        std::fs::read_to_string(chart).unwrap() == on_disk,
        "the Helm chart's CRDs differ: cp config/crd/crds.yaml charts/cache-operator/crds/crds.yaml"
    );
}

#[test]
fn yaml_round_trips_to_the_generated_crds() {
    let from_yaml = docs();
    let generated: Vec<Value> = cache_operator_api::crds::all()
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    assert_eq!(from_yaml, generated);
}

#[test]
fn namespaced_crds_with_status_columns_and_short_names() {
    let docs = docs();
    let kinds: Vec<&str> = docs
        .iter()
        .map(|d| d["spec"]["names"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "RedisCluster",
            "UserGroup",
            "AccessBinding",
            "ServerlessCache"
        ]
    );
    for d in &docs {
        assert_eq!(d["kind"], "CustomResourceDefinition");
        assert_eq!(d["spec"]["group"], "cache-operator.io");
        assert_eq!(d["spec"]["scope"], "Namespaced");
        let v = &d["spec"]["versions"][0];
        assert_eq!(v["name"], "v1alpha1");
        assert_eq!(v["served"], true);
        assert_eq!(v["storage"], true);
        assert!(
            v["subresources"]["status"].is_object(),
            "status subresource"
        );
        let columns = strings(&v["additionalPrinterColumns"], "name");
        assert!(
            columns.contains(&"Ready") && columns.contains(&"Age"),
            "{columns:?}"
        );
        assert!(
            !d["spec"]["names"]["shortNames"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        let schema = &v["schema"]["openAPIV3Schema"];
        assert_structural(schema, "");
        let conditions = &schema["properties"]["status"]["properties"]["conditions"];
        assert_eq!(conditions["x-kubernetes-list-type"], "map");
        assert_eq!(conditions["x-kubernetes-list-map-keys"][0], "type");
    }
    let cluster = &docs[0]["spec"]["versions"][0];
    let columns = strings(&cluster["additionalPrinterColumns"], "name");
    for c in [
        "Provider",
        "Region",
        "Node Type",
        "Shards",
        "Phase",
        "Endpoint",
    ] {
        assert!(columns.contains(&c), "missing column {c}: {columns:?}");
    }
}

/// Structural schemas (what the API server demands): every node has a type, no `$ref`, no
/// `anyOf`/`oneOf` without types underneath.
fn assert_structural(schema: &Value, path: &str) {
    let obj = schema.as_object().unwrap();
    assert!(!obj.contains_key("$ref"), "{path}: $ref in a CRD schema");
    let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    assert!(
        obj.contains_key("type") || preserve || int_or_string,
        "{path}: no type"
    );
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            assert_structural(v, &format!("{path}.{k}"));
        }
    }
    if let Some(items) = obj.get("items") {
        assert_structural(items, &format!("{path}[]"));
    }
    if let Some(ap) = obj.get("additionalProperties").filter(|v| v.is_object()) {
        assert_structural(ap, &format!("{path}{{}}"));
    }
}

/// The string `field` of every item of a list.
fn strings<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap())
        .collect()
}

fn spec_schema(docs: &[Value], kind_index: usize) -> &Value {
    &docs[kind_index]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
}

#[test]
fn rules_are_in_the_schema() {
    let docs = docs();
    let spec = spec_schema(&docs, 0);
    let p = &spec["properties"];
    assert_eq!(
        p["instanceId"]["pattern"],
        cache_operator_api::rules::GCP_CLUSTER_ID_PATTERN
    );
    assert_eq!(p["instanceId"]["maxLength"], 63);
    assert_eq!(p["provider"]["enum"], serde_json::json!(["gcp", "aws"]));
    let node_types = &p["nodeType"]["enum"];
    for node_type in ["redis-highmem-medium", "cache.r7g.large"] {
        assert!(
            node_types
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == node_type),
            "{node_type}"
        );
    }
    assert_eq!(p["shardCount"]["minimum"], 1.0);
    assert_eq!(p["shardCount"]["maximum"], 250.0);
    assert_eq!(
        p["gcp"]["properties"]["network"]["pattern"],
        cache_operator_api::rules::GCP_NETWORK_PATTERN
    );
    let rules = strings(&spec["x-kubernetes-validations"], "rule");
    assert!(
        rules.iter().any(|r| r.contains("has(self.gcp)")),
        "provider-specific blocks"
    );
    for field in ["provider", "instanceId", "region"] {
        let r = &p[field]["x-kubernetes-validations"][0];
        assert_eq!(r["rule"], "self == oldSelf", "{field} is immutable");
    }
    assert_eq!(
        p["gcp"]["properties"]["network"]["x-kubernetes-validations"][0]["rule"],
        "self == oldSelf"
    );
    assert!(
        p["gcp"]["x-kubernetes-validations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"]
                .as_str()
                .unwrap()
                .contains("self.network.startsWith('projects/'")),
        "gcp network must match the project"
    );
    let users = &spec_schema(&docs, 1)["properties"]["aws"]["properties"]["users"];
    assert_eq!(users["x-kubernetes-list-map-keys"][0], "userId");
    assert_eq!(
        users["items"]["properties"]["userId"]["pattern"],
        cache_operator_api::rules::AWS_USER_ID_PATTERN
    );
}
