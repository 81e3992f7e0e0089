//! The CRDs' CEL rules against the kube-apiserver's own cost estimator (`control-plane crd-lint`
//! runs `ValidateCustomResourceDefinition` and the CEL compiler of k8s.io/apiextensions-apiserver,
//! the code that refuses a CRD on create). The API server refuses a rule whose worst case, times
//! the number of times it can run, exceeds its limit; the worst case comes from the
//! maxLength/maxItems/maxProperties of what the rule reads. We keep every rule and every CRD
//! under a fifth of the limits, so that a new field or a longer pattern does not tip one over.

use std::process::Output;

use serde_json::Value;

/// The share of the API server's limits (per rule, per CRD) our CRDs may use.
const BUDGET_PERCENT: &str = "20";

fn lint(yaml: &str) -> Output {
    let bin = control_plane::Binaries::ensure().expect("the control plane's binaries");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crds.yaml");
    std::fs::write(&path, yaml).unwrap();
    bin.run(&[
        "crd-lint",
        "--max-percent",
        BUDGET_PERCENT,
        path.to_str().unwrap(),
    ])
    .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn rendered() -> Vec<Value> {
    serde_saphyr::from_multiple(&cache_operator::commands::crds::render().unwrap()).unwrap()
}

fn to_yaml(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| format!("---\n{}\n", serde_json::to_string(d).unwrap()))
        .collect()
}

#[test]
fn every_rule_and_every_crd_stays_within_a_fifth_of_the_api_servers_cel_budget() {
    let out = lint(&cache_operator::commands::crds::render().unwrap());
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    // The estimator saw every rule of the three CRDs.
    for crd in [
        "redisclusters.cache-operator.io",
        "usergroups.cache-operator.io",
        "accessbindings.cache-operator.io",
    ] {
        assert!(
            report.contains(&format!("   {crd}: ")),
            "{crd} not estimated:\n{report}"
        );
    }
}

/// The schema node at a JSON pointer under `spec.versions[0].schema.openAPIV3Schema`.
fn node<'a>(docs: &'a mut [Value], kind: &str, pointer: &str) -> &'a mut Value {
    let crd = docs
        .iter_mut()
        .find(|d| d["spec"]["names"]["kind"] == kind)
        .unwrap();
    crd.pointer_mut(&format!("/spec/versions/0/schema/openAPIV3Schema{pointer}"))
        .unwrap_or_else(|| panic!("{kind} has no schema node {pointer}"))
}

#[test]
fn an_unbounded_input_of_a_cel_rule_is_refused() {
    let spec = "/properties/spec/properties";
    let cases = [
        (
            "UserGroup",
            format!("{spec}/aws/properties/users/items/properties/accessString"),
            "maxLength",
            "spec.aws.users[].accessString",
        ),
        (
            "UserGroup",
            format!("{spec}/aws/properties/users"),
            "maxItems",
            "spec.aws",
        ),
        (
            "AccessBinding",
            format!("{spec}/secretTemplate/properties/labels"),
            "maxProperties",
            "spec.secretTemplate.labels",
        ),
        (
            "AccessBinding",
            format!("{spec}/secretTemplate/properties/labels/additionalProperties"),
            "maxLength",
            "spec.secretTemplate.labels",
        ),
        (
            "RedisCluster",
            format!("{spec}/gcp/properties/redisConfigs"),
            "maxProperties",
            "spec.gcp.redisConfigs",
        ),
    ];
    for (kind, pointer, bound, rule_at) in cases {
        let mut docs = rendered();
        let removed = node(&mut docs, kind, &pointer)
            .as_object_mut()
            .unwrap()
            .remove(bound);
        assert!(removed.is_some(), "{kind} {pointer} has no {bound}");
        let out = lint(&to_yaml(&docs));
        let report = text(&out);
        assert!(
            !out.status.success(),
            "without {bound} at {kind} {pointer} the estimator still passed:\n{report}"
        );
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("!!") && l.contains(&format!("v1alpha1.{rule_at}"))),
            "without {bound} at {kind} {pointer}, no rule at {rule_at} went over budget:\n{report}"
        );
    }
}
