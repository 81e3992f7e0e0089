//! Custom resource validation: OpenAPI schema rules and CEL rules (including transition rules
//! with oldSelf), answered as `422 Invalid` with causes naming the fields.

mod common;

use common::{Sim, api_error, cache};
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn schema_violations_are_422_with_field_causes() {
    let sim = Sim::start().await;
    let api = sim.caches("default").await;
    let bad = cache(
        "bad",
        json!({"provider": "azure", "instanceId": "Bad_Id", "shardCount": 0, "replicas": "two", "tags": ["a", "a"]}),
    );
    let e = api_error(api.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    let d = e.details.unwrap();
    assert_eq!(
        (d.name.as_str(), d.group.as_str(), d.kind.as_str()),
        ("bad", "fixtures.kubesim.dev", "Cache")
    );
    let causes: Vec<(String, String, String)> = d
        .causes
        .into_iter()
        .map(|c| (c.reason, c.field, c.message))
        .collect();
    let expect = [
        (
            "FieldValueInvalid",
            "spec.instanceId",
            "Invalid value: \"Bad_Id\": spec.instanceId in body should match '^[a-z]([-a-z0-9]*[a-z0-9])?$'",
        ),
        (
            "FieldValueNotSupported",
            "spec.provider",
            "Unsupported value: \"azure\": supported values: \"gcp\", \"aws\"",
        ),
        (
            "FieldValueTypeInvalid",
            "spec.replicas",
            "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"",
        ),
        (
            "FieldValueInvalid",
            "spec.shardCount",
            "Invalid value: 0: spec.shardCount in body should be greater than or equal to 1",
        ),
        (
            "FieldValueDuplicate",
            "spec.tags[1]",
            "Duplicate value: \"a\"",
        ),
    ];
    for (reason, field, message) in expect {
        assert!(
            causes.contains(&(reason.to_string(), field.to_string(), message.to_string())),
            "missing {field}: {causes:#?}"
        );
    }
    assert!(
        e.message
            .starts_with("Cache.fixtures.kubesim.dev \"bad\" is invalid: ["),
        "{}",
        e.message
    );

    let missing = cache("missing", json!({"provider": "gcp"}));
    let e = api_error(
        api.create(&PostParams::default(), &missing)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        e.message,
        "Cache.fixtures.kubesim.dev \"missing\" is invalid: [spec.instanceId: Required value, spec.shardCount: Required value, \
         <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]",
        "missing fields block the CEL rules"
    );

    let long = cache(
        "long",
        json!({"provider": "gcp", "instanceId": "a".repeat(41), "shardCount": 1}),
    );
    let e = api_error(api.create(&PostParams::default(), &long).await.unwrap_err());
    assert_eq!(
        e.message,
        "Cache.fixtures.kubesim.dev \"long\" is invalid: [spec.instanceId: Too long: may not be more than 40 bytes, \
         <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]"
    );
}

#[tokio::test]
async fn cel_rules_and_transition_rules() {
    let sim = Sim::start().await;
    let api = sim.caches("default").await;
    // A rule on spec with a fieldPath.
    let e = api_error(
        api.create(
            &PostParams::default(),
            &cache(
                "aws",
                json!({"provider": "aws", "instanceId": "aws", "shardCount": 91}),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert_eq!(
        e.message,
        "Cache.fixtures.kubesim.dev \"aws\" is invalid: spec.shardCount: Invalid value: aws allows at most 90 shards",
        "a rule on an object does not print the object"
    );

    // Transition rules are skipped on create and enforced on update.
    api.create(
        &PostParams::default(),
        &cache(
            "imm",
            json!({"provider": "gcp", "instanceId": "first", "shardCount": 1}),
        ),
    )
    .await
    .unwrap();
    let e = api_error(
        api.patch(
            "imm",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"instanceId": "second"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert_eq!(
        e.message,
        "Cache.fixtures.kubesim.dev \"imm\" is invalid: spec.instanceId: Invalid value: \"second\": instanceId is immutable"
    );
    let cause = &e.details.unwrap().causes[0];
    assert_eq!(
        (cause.reason.as_str(), cause.field.as_str()),
        ("FieldValueInvalid", "spec.instanceId")
    );
    // Other changes are fine.
    api.patch(
        "imm",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"shardCount": 2}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn unknown_fields_are_pruned_or_rejected_per_field_validation() {
    let sim = Sim::start().await;
    let api = sim.caches("default").await;
    let mut obj = cache(
        "u",
        json!({"provider": "gcp", "instanceId": "u", "shardCount": 1, "extra": true}),
    );
    obj.data["topLevel"] = json!(1);
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert!(created.data["spec"].get("extra").is_none());
    assert!(created.data.get("topLevel").is_none());
    obj.metadata.name = Some("u2".into());
    let http = reqwest::Client::new();
    let url = sim.url("/apis/fixtures.kubesim.dev/v1/namespaces/default/caches");
    let strict = http
        .post(format!("{url}?fieldValidation=Strict"))
        .json(&obj)
        .send()
        .await
        .unwrap();
    assert_eq!(strict.status(), 400);
    let status: serde_json::Value = strict.json().await.unwrap();
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("unknown field \"spec.extra\""),
        "{message}"
    );
    assert!(message.contains("unknown field \"topLevel\""), "{message}");
    // Warn (the default) answers with warning headers.
    let warned = http.post(url).json(&obj).send().await.unwrap();
    assert_eq!(warned.status(), 201);
    let warnings: Vec<&str> = warned
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        warnings.contains(&"299 - \"unknown field \\\"spec.extra\\\"\""),
        "{warnings:?}"
    );
}
