//! What a new user does with kubectl: apply samples, get, describe, apply again what
//! `kubectl get -o yaml` printed (a `kind: List`), client-side apply of built-ins, create.

use crate::crds;
use crate::harness::*;

#[tokio::test]
async fn apply_get_and_apply_again_what_get_printed() {
    let b = Both::new("kubectl").await;
    crds::install_product(&b).await;
    let ns = b.ns.clone();
    let gcp = b.file(
        "gcp.yaml",
        include_str!("../../../../config/samples/gcp-rediscluster.yaml"),
    );
    let aws = b.file(
        "aws.yaml",
        include_str!("../../../../config/samples/aws-rediscluster.yaml"),
    );
    b.same_kubectl(&["-n", &ns, "apply", "-f", &gcp]).await;
    b.same_kubectl(&["-n", &ns, "apply", "-f", &aws]).await;
    b.same_kubectl(&["-n", &ns, "get", "redisclusters"]).await;
    b.same_kubectl(&["-n", &ns, "get", "rdc", "-o", "wide"])
        .await;
    b.same_kubectl(&[
        "-n",
        &ns,
        "get",
        "rediscluster",
        "orders-cache",
        "-o",
        "yaml",
    ])
    .await;
    b.same_kubectl(&["-n", &ns, "describe", "rediscluster", "orders-cache"])
        .await;
    // `kubectl get -o yaml` of several objects prints a List; applying it back must work
    // (kubectl validates a List's items against the OpenAPI v2 document, in protobuf).
    let [r, s] = b
        .kubectl(&["-n", &ns, "get", "redisclusters", "-o", "yaml"])
        .await;
    let real_list = b.file("real-list.yaml", &String::from_utf8_lossy(&r.stdout));
    let sim_list = b.file("sim-list.yaml", &String::from_utf8_lossy(&s.stdout));
    let [r, _] = b.kubectl(&["-n", &ns, "apply", "-f", &real_list]).await;
    let [_, s] = b.kubectl(&["-n", &ns, "apply", "-f", &sim_list]).await;
    b.expect_eq(
        "kubectl apply -f <the List kubectl get -o yaml printed>",
        (
            r.status.code(),
            normalize_text(&String::from_utf8_lossy(&r.stdout)),
            normalize_text(&String::from_utf8_lossy(&r.stderr)),
        ),
        (
            s.status.code(),
            normalize_text(&String::from_utf8_lossy(&s.stdout)),
            normalize_text(&String::from_utf8_lossy(&s.stderr)),
        ),
    );
    // A List with a bad item: kubectl refuses it client-side against the schema.
    let bad = b.file(
        "bad-list.yaml",
        &format!(
            "apiVersion: v1\nkind: List\nitems:\n- {}\n",
            include_str!("../../../../config/samples/gcp-rediscluster.yaml")
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| l
                    .replace("shardCount: 3", "shardCount: three")
                    .replace("replicasPerShard: 1", "replicasPerShard: 1\n  colour: blue"))
                .collect::<Vec<_>>()
                .join("\n  ")
        ),
    );
    b.same_kubectl(&["-n", &ns, "apply", "-f", &bad]).await;
    b.same_kubectl(&["-n", &ns, "apply", "--validate=false", "-f", &bad])
        .await;
    b.same_kubectl(&["-n", &ns, "delete", "-f", &gcp]).await;
    b.same_kubectl(&["-n", &ns, "get", "redisclusters"]).await;
    b.done();
}

#[tokio::test]
async fn built_ins_with_kubectl() {
    let b = Both::new("kubectl-builtins").await;
    let ns = b.ns.clone();
    b.same_kubectl(&[
        "-n",
        &ns,
        "create",
        "configmap",
        "settings",
        "--from-literal=a=1",
    ])
    .await;
    b.same_kubectl(&[
        "-n",
        &ns,
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=x",
    ])
    .await;
    let cm = b.file("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  labels: {app: x}\ndata:\n  a: '1'\n");
    b.same_kubectl(&["-n", &ns, "apply", "-f", &cm]).await;
    let cm2 = b.file(
        "cm2.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  b: '2'\n",
    );
    b.same_kubectl(&["-n", &ns, "apply", "-f", &cm2]).await;
    b.same_kubectl(&["-n", &ns, "get", "configmap", "applied", "-o", "yaml"])
        .await;
    b.same_kubectl(&["-n", &ns, "label", "configmap", "settings", "tier=a"])
        .await;
    b.same_kubectl(&["-n", &ns, "get", "configmaps,secrets", "-l", "tier=a"])
        .await;
    b.same_kubectl(&["-n", &ns, "get", "configmap", "missing"])
        .await;
    // A List of built-ins, validated by kubectl against the OpenAPI v2 document's models.
    let list = b.file(
        "builtins-list.yaml",
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: listed}\n  data: {a: '1'}\n\
         - apiVersion: v1\n  kind: Secret\n  metadata: {name: listed}\n  stringData: {b: '2'}\n\
         - apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: bad}\n  data: {a: 1}\n  colour: blue\n",
    );
    b.same_kubectl(&["-n", &ns, "apply", "-f", &list]).await;
    b.same_kubectl(&["-n", &ns, "delete", "configmap", "settings", "applied"])
        .await;
    // The version skew warning kubectl prints when the server is far from it.
    let [r, s] = b.kubectl(&["version"]).await;
    b.expect_eq(
        "kubectl version's warnings",
        String::from_utf8_lossy(&r.stderr).into_owned(),
        String::from_utf8_lossy(&s.stderr).into_owned(),
    );
    b.done();
}
