//! ServerlessCache rules, checked the three ways of `rules.rs` (the Rust rules, the OpenAPI
//! schema, the CEL rules), and the transition rules of its immutable fields; AccessBindings
//! that point at one.

mod support;

use cache_operator_api::manifest::{self, Checked};
use cache_operator_testkit::serverless;
use serde_json::{Value, json};
use support::*;

fn cache() -> Value {
    serverless::new("web", "us-east-1")
        .namespace("shop")
        .spec("majorEngineVersion", "8")
        .set("/spec/usageLimits/dataStorage/maximum", 10)
        .set("/spec/usageLimits/ecpuPerSecond/minimum", 1000)
        .set("/spec/usageLimits/ecpuPerSecond/maximum", 5000)
        .spec("snapshotRetentionLimit", 1)
        .spec("dailySnapshotTime", "04:00")
        .spec("securityGroupIds", ["sg-0123456789abcdef0"])
        .spec("subnetIds", ["subnet-01234567"])
        .set("/spec/userGroupRef/name", "web-users")
        .set("/spec/tags/team", "web")
        .into_json()
}

fn rust_errors(obj: &Value) -> Vec<String> {
    match manifest::check(obj) {
        Checked::Ours { errors, .. } => errors.into_iter().map(|e| e.to_string()).collect(),
        Checked::Other => panic!("not ours"),
    }
}

#[test]
fn every_rule_compiles_and_a_full_cache_is_valid() {
    let compiled = kube_cel::compile_schema(&schema_of("ServerlessCache"));
    assert!(compiled.compilation_errors().is_empty());
    let c = cache();
    assert_eq!(rust_errors(&c), Vec::<String>::new());
    assert_eq!(
        schema_errors("ServerlessCache", &c, None),
        Vec::<String>::new()
    );
    let b = serverless::binding("app", "web", "web-users")
        .namespace("shop")
        .binding_user("app")
        .into_json();
    assert_eq!(rust_errors(&b), Vec::<String>::new());
    assert_eq!(
        schema_errors("AccessBinding", &b, None),
        Vec::<String>::new()
    );
}

/// Values the service refuses are refused by both the rules and the schema, naming the field.
#[test]
fn values_out_of_the_services_ranges_are_refused_both_ways() {
    let cases: Vec<(&str, Option<Value>, &str)> = vec![
        (
            "/spec/usageLimits/dataStorage/maximum",
            Some(json!(5001)),
            "spec.usageLimits.dataStorage.maximum",
        ),
        (
            "/spec/usageLimits/ecpuPerSecond/minimum",
            Some(json!(999)),
            "spec.usageLimits.ecpuPerSecond.minimum",
        ),
        (
            "/spec/usageLimits/ecpuPerSecond/minimum",
            Some(json!(6000)),
            "spec.usageLimits.ecpuPerSecond.minimum",
        ),
        (
            "/spec/snapshotRetentionLimit",
            Some(json!(36)),
            "spec.snapshotRetentionLimit",
        ),
        (
            "/spec/dailySnapshotTime",
            Some(json!("24:00")),
            "spec.dailySnapshotTime",
        ),
        (
            "/spec/securityGroupIds/0",
            Some(json!("sg-xyz")),
            "spec.securityGroupIds[0]",
        ),
        (
            "/spec/subnetIds/0",
            Some(json!("subnet-1")),
            "spec.subnetIds[0]",
        ),
        (
            "/spec/majorEngineVersion",
            Some(json!("6")),
            "spec.majorEngineVersion",
        ),
        ("/spec/engine", Some(json!("memcached")), "spec.engine"),
        ("/spec/cacheName", Some(json!("a--b")), "spec.cacheName"),
        (
            "/spec/cacheName",
            Some(json!(format!("a{}", "b".repeat(40)))),
            "spec.cacheName",
        ),
        (
            "/spec/kmsKeyId",
            Some(json!(
                "arn:aws:kms:eu-west-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef"
            )),
            "spec.kmsKeyId",
        ),
        (
            "/spec/tags/aws:team",
            Some(json!("x")),
            "spec.tags.aws:team",
        ),
        (
            "/spec/restoreFromSnapshots",
            Some(json!(["not-an-arn"])),
            "spec.restoreFromSnapshots[0]",
        ),
        ("/spec/usageLimits", Some(json!({})), "spec.usageLimits"),
        (
            "/spec/usageLimits/dataStorage",
            Some(json!({})),
            "spec.usageLimits.dataStorage",
        ),
    ];
    for (pointer, value, field) in cases {
        let obj = with(cache(), pointer, value);
        let rust = rust_errors(&obj);
        assert!(
            rust.iter()
                .any(|e| e.starts_with(field) || (field == "spec.engine" && e.starts_with("spec"))),
            "{pointer}: expected {field}, got {rust:?}"
        );
        assert!(
            !schema_errors("ServerlessCache", &obj, None).is_empty(),
            "{pointer}: the CRD schema accepts what the rules refuse"
        );
    }
    // A redis cache runs major 7 only.
    let redis = with(
        with(cache(), "/spec/engine", Some(json!("redis"))),
        "/spec/majorEngineVersion",
        Some(json!("8")),
    );
    assert!(!rust_errors(&redis).is_empty());
    assert!(!schema_errors("ServerlessCache", &redis, None).is_empty());
    // A binding names exactly one target.
    let both = serverless::binding("app", "web", "g")
        .cluster_ref("orders")
        .into_json();
    assert!(
        rust_errors(&both)
            .iter()
            .any(|e| e.contains("exactly one of"))
    );
    assert!(!schema_errors("AccessBinding", &both, None).is_empty());
    let neither = with(both, "/spec/serverlessCacheRef", None);
    let neither = with(neither, "/spec/clusterRef", None);
    assert!(
        rust_errors(&neither)
            .iter()
            .any(|e| e.contains("exactly one of"))
    );
    assert!(!schema_errors("AccessBinding", &neither, None).is_empty());
}

fn update(pointer: &str, value: Option<Value>) -> Vec<String> {
    let old = cache();
    let new = with(old.clone(), pointer, value);
    schema_errors("ServerlessCache", &new, Some(&old))
}

#[test]
fn immutable_fields_are_refused_by_the_api_server_and_the_rest_may_change() {
    let refused: Vec<(&str, Option<Value>, &str)> = vec![
        (
            "/spec/region",
            Some(json!("eu-west-1")),
            "region is immutable",
        ),
        (
            "/spec/cacheName",
            Some(json!("other")),
            "cacheName is immutable",
        ),
        (
            "/spec/kmsKeyId",
            Some(json!("alias/web")),
            "kmsKeyId is immutable",
        ),
        (
            "/spec/subnetIds",
            Some(json!(["subnet-89abcdef"])),
            "subnetIds is immutable",
        ),
        (
            "/spec/restoreFromSnapshots",
            Some(json!([
                "arn:aws:elasticache:us-east-1:123456789012:serverlesscachesnapshot:s1"
            ])),
            "restoreFromSnapshots is immutable",
        ),
        (
            "/spec/tags/team",
            Some(json!("other")),
            "tags are set when the cache is created",
        ),
        (
            "/spec/engine",
            Some(json!("redis")),
            "only from redis to valkey",
        ),
        (
            "/spec/majorEngineVersion",
            Some(json!("7")),
            "cannot go down",
        ),
        ("/spec/majorEngineVersion", None, "cannot be removed"),
        (
            "/spec/securityGroupIds",
            Some(json!([])),
            "cannot be emptied",
        ),
    ];
    for (pointer, value, fragment) in refused {
        let errs = update(pointer, value);
        assert!(
            errs.iter().any(|e| e.contains(fragment)),
            "{pointer}: expected `{fragment}`, got {errs:?}"
        );
    }
    let allowed: Vec<(&str, Option<Value>)> = vec![
        ("/spec/usageLimits/dataStorage/maximum", Some(json!(20))),
        ("/spec/usageLimits", None),
        ("/spec/securityGroupIds", Some(json!(["sg-89abcdef"]))),
        ("/spec/userGroupRef", None),
        ("/spec/snapshotRetentionLimit", Some(json!(5))),
        ("/spec/dailySnapshotTime", Some(json!("05:30"))),
        ("/spec/majorEngineVersion", Some(json!("9"))),
        ("/spec/deletionProtection", Some(json!(true))),
    ];
    for (pointer, value) in allowed {
        assert_eq!(update(pointer, value), Vec::<String>::new(), "{pointer}");
    }
    // Redis OSS → Valkey in place, with the Valkey major.
    let old = with(
        with(cache(), "/spec/engine", Some(json!("redis"))),
        "/spec/majorEngineVersion",
        Some(json!("7")),
    );
    let new = with(
        with(old.clone(), "/spec/engine", Some(json!("valkey"))),
        "/spec/majorEngineVersion",
        Some(json!("8")),
    );
    assert_eq!(
        schema_errors("ServerlessCache", &new, Some(&old)),
        Vec::<String>::new()
    );
}
