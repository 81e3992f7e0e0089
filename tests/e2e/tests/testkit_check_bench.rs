//! One-off: the scale bench's manifests from the test kit are the copies they replace.

use cache_operator_testkit::{binding, cluster, group};
use e2e::{gcp_project, gcp_region};
use serde_json::{Value, json};

// New (as in benches/scale.rs).
fn clients() -> Value {
    let operator = "serviceAccount:cache-operator@operator-proj.iam.gserviceaccount.com";
    group::gcp("clients", &[operator]).into_json()
}

fn cluster(i: usize, run: u16, project: &str) -> Value {
    cluster::gcp(&format!("c{i}"))
        .instance_id(&format!("b{run:x}-{i}"))
        .region(&gcp_region())
        .auth("iam")
        .tls(false)
        .user_groups(&["clients"])
        .project(project)
        .into_json()
}

fn binding(i: usize) -> Value {
    binding::new(&format!("b{i}"), &format!("c{i}"), "clients")
        .secret_name(&format!("s{i}"))
        .into_json()
}

#[test]
fn the_test_kit_builds_the_same_manifests() {
    // Old (the bench before, verbatim).
    let project = gcp_project();
    let network = format!("projects/{project}/global/networks/default");
    let run = 0xbeef_u16;
    let old_clients = json!({"apiVersion": "cache-operator.io/v1alpha1", "kind": "UserGroup", "metadata": {"name": "clients"},
                     "spec": {"provider": "gcp", "gcp": {"members": ["serviceAccount:cache-operator@operator-proj.iam.gserviceaccount.com"]}}});
    assert_eq!(clients(), old_clients);
    for i in [0, 7, 999] {
        let region = gcp_region();
        let old_cluster = json!({"apiVersion": "cache-operator.io/v1alpha1", "kind": "RedisCluster", "metadata": {"name": format!("c{i}")},
                             "spec": {"provider": "gcp", "instanceId": format!("b{run:x}-{i}"), "region": region,
                                      "nodeType": "redis-shared-core-nano", "shardCount": 1, "authMode": "iam",
                                      "transitEncryption": false, "userGroupRefs": [{"name": "clients"}],
                                      "gcp": {"project": project, "network": network}}});
        let old_binding = json!({"apiVersion": "cache-operator.io/v1alpha1", "kind": "AccessBinding", "metadata": {"name": format!("b{i}")},
                             "spec": {"clusterRef": {"name": format!("c{i}")}, "userGroupRef": {"name": "clients"},
                                      "secretName": format!("s{i}")}});
        assert_eq!(cluster(i, run, &project), old_cluster);
        assert_eq!(binding(i), old_binding);
    }
    eprintln!("benches/scale.rs: 3 fixtures, the same JSON");
}
