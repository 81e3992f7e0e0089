//! Server-side apply: field managers, conflicts (409), force, removal of fields a manager
//! stops applying, map-list conditions on /status, and apply to built-ins.

mod common;

use common::{Sim, api_error};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

fn cfg(spec: Value) -> Value {
    json!({"apiVersion": "fixtures.kubesim.dev/v1", "kind": "Cache", "metadata": {"name": "c"}, "spec": spec})
}

fn managers(obj: &kube::api::DynamicObject) -> Vec<(String, String)> {
    obj.metadata
        .managed_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn apply_creates_round_trips_conflicts_and_forces() {
    let sim = Sim::start().await;
    let api = sim.caches("default").await;
    let a = PatchParams::apply("manager-a");
    let created = api
        .patch("c", &a, &Patch::Apply(cfg(json!({"provider": "gcp", "instanceId": "c", "shardCount": 3, "labels": {"x": "1"}}))))
        .await
        .unwrap();
    assert_eq!(
        managers(&created),
        [("manager-a".to_string(), "Apply".to_string())]
    );
    let fields = created.metadata.managed_fields.as_ref().unwrap()[0]
        .fields_v1
        .clone()
        .unwrap()
        .0;
    assert_eq!(
        fields,
        json!({"f:spec": {"f:instanceId": {}, "f:labels": {"f:x": {}}, "f:provider": {}, "f:shardCount": {}}}),
        "defaults are not owned by the applier"
    );

    // Re-applying the same configuration changes nothing.
    let again = api
        .patch("c", &a, &Patch::Apply(cfg(json!({"provider": "gcp", "instanceId": "c", "shardCount": 3, "labels": {"x": "1"}}))))
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        created.metadata.resource_version
    );

    // Another manager setting the same field to another value conflicts.
    let b = PatchParams::apply("manager-b");
    let e = api_error(
        api.patch("c", &b, &Patch::Apply(cfg(json!({"shardCount": 5}))))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"manager-a\": .spec.shardCount"
    );
    let causes = e.details.unwrap().causes;
    assert_eq!(causes[0].reason, "FieldManagerConflict");
    assert_eq!(causes[0].field, ".spec.shardCount");
    assert_eq!(causes[0].message, "conflict with \"manager-a\"");

    // Forcing takes ownership.
    let forced = api
        .patch(
            "c",
            &b.clone().force(),
            &Patch::Apply(cfg(json!({"shardCount": 5}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["shardCount"], 5);
    assert_eq!(forced.metadata.generation, Some(2));

    // A merge patch by an updater conflicts with the applier at the next apply.
    api.patch(
        "c",
        &PatchParams {
            field_manager: Some("editor".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"spec": {"provider": "aws"}})),
    )
    .await
    .unwrap();
    let e = api_error(
        api.patch(
            "c",
            &a,
            &Patch::Apply(cfg(
                json!({"provider": "gcp", "instanceId": "c", "labels": {"x": "1"}}),
            )),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"editor\" using fixtures.kubesim.dev/v1: .spec.provider"
    );

    // Manager a stops applying labels.x (and shardCount, now b's): labels.x goes, shardCount stays.
    let after = api
        .patch(
            "c",
            &a.clone().force(),
            &Patch::Apply(cfg(json!({"provider": "gcp", "instanceId": "c"}))),
        )
        .await
        .unwrap();
    assert!(after.data["spec"].get("labels").is_none(), "{}", after.data);
    assert_eq!(after.data["spec"]["shardCount"], 5);
    let names: Vec<String> = managers(&after).into_iter().map(|(m, _)| m).collect();
    assert!(
        names.contains(&"manager-a".to_string()) && names.contains(&"manager-b".to_string()),
        "{names:?}"
    );
}

#[tokio::test]
async fn apply_on_status_merges_conditions_by_type() {
    let sim = Sim::start().await;
    let api = sim.caches("default").await;
    api.patch(
        "c",
        &PatchParams::apply("spec-owner"),
        &Patch::Apply(cfg(
            json!({"provider": "gcp", "instanceId": "c", "shardCount": 1}),
        )),
    )
    .await
    .unwrap();
    let status = |conds: Value| json!({"apiVersion": "fixtures.kubesim.dev/v1", "kind": "Cache", "metadata": {"name": "c"}, "status": {"conditions": conds}});
    let ready = json!([{"type": "Ready", "status": "False", "reason": "Creating"}]);
    let r = api
        .patch_status(
            "c",
            &PatchParams::apply("controller").force(),
            &Patch::Apply(status(ready)),
        )
        .await
        .unwrap();
    assert_eq!(
        r.metadata.generation,
        Some(1),
        "status writes do not bump the generation"
    );
    let other = json!([{"type": "Degraded", "status": "False"}]);
    api.patch_status(
        "c",
        &PatchParams::apply("checker"),
        &Patch::Apply(status(other)),
    )
    .await
    .unwrap();
    let ready2 = json!([{"type": "Ready", "status": "True", "reason": "Available"}]);
    let r = api
        .patch_status(
            "c",
            &PatchParams::apply("controller").force(),
            &Patch::Apply(status(ready2)),
        )
        .await
        .unwrap();
    let conds = r.data["status"]["conditions"].as_array().unwrap().clone();
    assert_eq!(conds.len(), 2, "{conds:?}");
    assert!(conds.contains(&json!({"type": "Ready", "status": "True", "reason": "Available"})));
    let entry = r
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("controller"))
        .unwrap();
    assert_eq!(entry.subresource.as_deref(), Some("status"));
    assert_eq!(
        entry.fields_v1.unwrap().0,
        json!({"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:reason": {}, "f:status": {}, "f:type": {}}}}})
    );
    // Apply on the main resource ignores status.
    let with_status = json!({"apiVersion": "fixtures.kubesim.dev/v1", "kind": "Cache", "metadata": {"name": "c"},
        "spec": {"provider": "gcp", "instanceId": "c", "shardCount": 1}, "status": {"phase": "Hacked"}});
    let r = api
        .patch(
            "c",
            &PatchParams::apply("spec-owner"),
            &Patch::Apply(with_status),
        )
        .await
        .unwrap();
    assert!(r.data["status"].get("phase").is_none());
}

#[tokio::test]
async fn apply_to_a_lease_for_leader_election() {
    let sim = Sim::start().await;
    let leases: Api<Lease> = Api::namespaced(sim.client.clone(), "default");
    let lease = |holder: &str| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "leader"},
               "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15}})
    };
    let l = leases
        .patch(
            "leader",
            &PatchParams::apply("pod-a"),
            &Patch::Apply(lease("pod-a")),
        )
        .await
        .unwrap();
    assert_eq!(l.spec.unwrap().holder_identity.as_deref(), Some("pod-a"));
    let e = api_error(
        leases
            .patch(
                "leader",
                &PatchParams::apply("pod-b"),
                &Patch::Apply(lease("pod-b")),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 409);
    let l = leases
        .patch(
            "leader",
            &PatchParams::apply("pod-b").force(),
            &Patch::Apply(lease("pod-b")),
        )
        .await
        .unwrap();
    assert_eq!(l.spec.unwrap().holder_identity.as_deref(), Some("pod-b"));
}

#[tokio::test]
async fn strict_field_validation_on_apply() {
    let sim = Sim::start().await;
    let api = sim.caches("default").await;
    let mut pp = PatchParams::apply("m");
    pp.field_validation = Some(kube::api::ValidationDirective::Strict);
    let e = api_error(
        api.patch(
            "c",
            &pp,
            &Patch::Apply(cfg(
                json!({"provider": "gcp", "instanceId": "c", "shardCount": 1, "bogus": 1}),
            )),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    assert_eq!(
        e.message,
        "Cache in version \"v1\" cannot be handled as a Cache: strict decoding error: unknown field \"spec.bogus\""
    );
    // Without Strict the unknown field is dropped.
    let ok = api
        .patch(
            "c",
            &PatchParams::apply("m"),
            &Patch::Apply(cfg(
                json!({"provider": "gcp", "instanceId": "c", "shardCount": 1, "bogus": 1}),
            )),
        )
        .await
        .unwrap();
    assert!(ok.data["spec"].get("bogus").is_none());
}

#[tokio::test]
async fn lease_claims_with_resource_version_preconditions_as_kubert_does() {
    let sim = Sim::start().await;
    let leases: Api<Lease> = Api::namespaced(sim.client.clone(), "default");
    let forced = |m: &str| PatchParams {
        field_manager: Some(m.into()),
        force: true,
        ..Default::default()
    };
    let smp = |m: &str| PatchParams {
        field_manager: Some(m.into()),
        ..Default::default()
    };
    let claim = |holder: &str, rv: Option<&str>| {
        let mut v = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "leaseTransitions": 1,
                     "acquireTime": "2024-01-01T00:00:00.000000Z", "renewTime": "2024-01-01T00:00:00.000000Z"}});
        if let Some(rv) = rv {
            v["metadata"]["resourceVersion"] = json!(rv);
        }
        v
    };
    // The applied configuration carries no name: it comes from the URL.
    leases
        .patch("l", &forced("a"), &Patch::Apply(claim("a", None)))
        .await
        .unwrap();
    let rv1 = leases
        .get("l")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let taken = leases
        .patch("l", &forced("b"), &Patch::Apply(claim("b", Some(&rv1))))
        .await
        .unwrap();
    let rv2 = taken.metadata.resource_version.unwrap();
    assert_eq!(taken.spec.unwrap().holder_identity.as_deref(), Some("b"));
    // A claim based on a stale read fails even when forced.
    let e = api_error(
        leases
            .patch("l", &forced("c"), &Patch::Apply(claim("c", Some(&rv1))))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 409);
    // Vacating with a strategic merge patch and the current version; stale versions conflict.
    let vacate = |rv: &str| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"resourceVersion": rv},
               "spec": {"acquireTime": null, "renewTime": null, "holderIdentity": null, "leaseDurationSeconds": null}})
    };
    let e = api_error(
        leases
            .patch("l", &smp("b"), &Patch::Strategic(vacate(&rv1)))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 409);
    let vacated = leases
        .patch("l", &smp("b"), &Patch::Strategic(vacate(&rv2)))
        .await
        .unwrap();
    let spec = vacated.spec.unwrap();
    assert!(spec.holder_identity.is_none() && spec.renew_time.is_none());
    assert_eq!(spec.lease_transitions, Some(1), "untouched fields stay");
    // Applying with a precondition to a missing object is NotFound.
    let e = api_error(
        leases
            .patch(
                "missing",
                &forced("a"),
                &Patch::Apply(claim("a", Some(&rv2))),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 404);
}

#[tokio::test]
async fn apply_configurations_of_built_ins_keep_their_shape() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let sim = Sim::start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(sim.client.clone());
    let crd: Value = serde_saphyr::from_str(common::CRD).unwrap();
    crds.patch(
        "caches.fixtures.kubesim.dev",
        &PatchParams::apply("kubectl"),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    // Only an annotation, as kubectl's last-applied migration sends: the typed CRD's required
    // `spec` must not be filled in and fight the other manager.
    let only_annotation = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "caches.fixtures.kubesim.dev", "annotations": {"note": "x"}}});
    let c = crds
        .patch(
            "caches.fixtures.kubesim.dev",
            &PatchParams::apply("kubectl-last-applied"),
            &Patch::Apply(only_annotation),
        )
        .await
        .unwrap();
    assert_eq!(c.metadata.annotations.unwrap()["note"], "x");
    assert_eq!(c.spec.group, "fixtures.kubesim.dev");
}
