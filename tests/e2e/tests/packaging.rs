//! The packaging and the conditions as real clients see them, on the real API server: Helm (built
//! from helm.sh/helm/v3) lints, renders and installs the chart; kubectl applies the kustomize
//! bases; kstatus (sigs.k8s.io/cli-utils, what Flux and kpt read) and the Argo CD health scripts
//! (run in gopher-lua as Argo CD runs them) judge live objects of each kind and state.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use cache_operator_testkit::{binding, group};
use e2e::manifests::gcp_iam_cluster;
use e2e::{Env, KubeKind, Options, gcp_project, gcp_region, unique_id};
use serde_json::{Value, json};

const READY: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn on_real() -> bool {
    let real = KubeKind::from_env() == KubeKind::Real;
    if !real {
        eprintln!(
            "skipped: Helm, kubectl and kstatus are checked against the real API server (E2E_KUBE=real)"
        );
    }
    real
}

#[track_caller]
fn ok(out: Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn helm(env: &Env, args: &[&str]) -> Output {
    let bin = e2e::apiserver::binaries().unwrap();
    std::process::Command::new(bin.helm())
        .args(args)
        .env("KUBECONFIG", &env.kubeconfig)
        // Keep Helm's caches and config inside the test's folder.
        .env("HELM_CACHE_HOME", env.logs.join("helm/cache"))
        .env("HELM_CONFIG_HOME", env.logs.join("helm/config"))
        .env("HELM_DATA_HOME", env.logs.join("helm/data"))
        .current_dir(repo())
        .output()
        .unwrap()
}

fn kubectl(env: &Env, args: &[&str]) -> Output {
    e2e::apiserver::binaries()
        .unwrap()
        .kubectl(&env.kubeconfig, args)
        .unwrap()
}

/// The rules of a rendered ClusterRole or Role, as sets of (group, resource, verb).
fn rules(doc: &Value) -> std::collections::BTreeSet<(String, String, String)> {
    let mut out = std::collections::BTreeSet::new();
    for rule in doc["rules"].as_array().unwrap() {
        for g in rule["apiGroups"].as_array().unwrap() {
            for r in rule["resources"].as_array().unwrap() {
                for v in rule["verbs"].as_array().unwrap() {
                    out.insert((g.to_string(), r.to_string(), v.to_string()));
                }
            }
        }
    }
    out
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

#[tokio::test]
async fn helm_lints_renders_and_installs_the_chart_with_the_shipped_rbac() -> anyhow::Result<()> {
    if !on_real() {
        return Ok(());
    }
    let env = Env::start_with(
        "helm",
        Options {
            operator: false,
            ..Options::default()
        },
    )
    .await?;
    ok(helm(&env, &["lint", "--strict", "charts/cache-operator"]));

    // The chart grants what config/rbac grants, no more, no less.
    let rendered = ok(helm(
        &env,
        &["template", "co", "charts/cache-operator", "-n", "platform"],
    ));
    let chart: Vec<Value> = serde_saphyr::from_multiple(&rendered)?;
    let shipped = e2e::apiserver::shipped_rbac(None)?;
    assert_eq!(
        rules(find(&chart, "ClusterRole", "co-cache-operator")),
        rules(find(&shipped, "ClusterRole", "cache-operator")),
        "the chart's ClusterRole differs from config/rbac/role.yaml"
    );
    assert_eq!(
        rules(find(&chart, "Role", "co-leader-election")),
        rules(find(&shipped, "Role", "cache-operator-leader-election")),
        "the chart's leader-election Role differs from config/rbac/role.yaml"
    );

    // Installed on the real server: every object is accepted (no node runs the Deployment).
    ok(helm(
        &env,
        &[
            "install",
            "co",
            "charts/cache-operator",
            "-n",
            "platform",
            "--create-namespace",
        ],
    ));
    let deployment: Value = serde_json::from_str(&ok(kubectl(
        &env,
        &[
            "get",
            "deployment",
            "co-cache-operator",
            "-n",
            "platform",
            "-o",
            "json",
        ],
    )))?;
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        "cache-operator"
    );
    let binding: Value = serde_json::from_str(&ok(kubectl(
        &env,
        &[
            "get",
            "clusterrolebinding",
            "co-cache-operator",
            "-o",
            "json",
        ],
    )))?;
    assert_eq!(binding["subjects"][0]["namespace"], "platform");
    let status = ok(helm(&env, &["status", "co", "-n", "platform"]));
    assert!(status.contains("STATUS: deployed"), "{status}");
    Ok(())
}

#[tokio::test]
async fn kubectl_applies_the_kustomize_bases() -> anyhow::Result<()> {
    if !on_real() {
        return Ok(());
    }
    let env = Env::start_with(
        "kustomize",
        Options {
            operator: false,
            ..Options::default()
        },
    )
    .await?;
    // The harness made cache-operator-system (the operator's namespace) already: a server-side
    // dry run can only place objects in a namespace that exists.
    for dir in ["deploy/", "config/default"] {
        let dir = repo().join(dir);
        let out = ok(kubectl(
            &env,
            &["apply", "-k", dir.to_str().unwrap(), "--dry-run=server"],
        ));
        assert!(
            out.contains("deployment.apps/cache-operator created (server dry run)")
                || out.contains("deployment.apps/cache-operator configured (server dry run)"),
            "{out}"
        );
    }
    // And for real: CRDs, RBAC, the Deployment.
    let out = ok(kubectl(
        &env,
        &["apply", "-k", repo().join("deploy/").to_str().unwrap()],
    ));
    assert!(
        out.contains("deployment.apps/cache-operator created"),
        "{out}"
    );
    Ok(())
}

/// kstatus' verdict and Argo CD's health of a live object, as (status, health, message).
fn judge(env: &Env, kind: &str, name: &str) -> (String, String, String) {
    let plural = e2e::resource(kind).plural;
    let resource = format!("cache-operator.io/v1alpha1/{plural}");
    let common = [
        "--kubeconfig",
        env.kubeconfig.to_str().unwrap(),
        "--resource",
        &resource,
        "--namespace",
        &env.namespace,
    ];
    let bin = e2e::apiserver::binaries().unwrap();
    let mut args = vec!["kstatus"];
    args.extend(common);
    args.push(name);
    let kstatus: Value = serde_json::from_str(&ok(bin.run(&args).unwrap())).unwrap();

    // The script for this kind exactly as users install it, from the argocd-cm patch.
    let patch: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo().join("deploy/argocd/argocd-cm-patch.yaml")).unwrap(),
    )
    .unwrap();
    let script = patch["data"][format!("resource.customizations.health.cache-operator.io_{kind}")]
        .as_str()
        .unwrap_or_else(|| panic!("no Argo CD health script for {kind}"));
    let path = env.logs.join(format!("health-{kind}.lua"));
    std::fs::write(&path, script).unwrap();
    let mut args = vec!["lua-health", "--script", path.to_str().unwrap()];
    args.extend(common);
    args.push(name);
    let health: Value = serde_json::from_str(&ok(bin.run(&args).unwrap())).unwrap();
    (
        kstatus["status"].as_str().unwrap().to_owned(),
        health["status"].as_str().unwrap().to_owned(),
        format!("kstatus: {kstatus}, argo: {health}"),
    )
}

fn gcp_cluster(name: &str, id: &str) -> Value {
    gcp_iam_cluster(name, id, &["clients"])
}

/// The group `clients` of the service account `sa`.
fn clients(sa: &str) -> Value {
    group::gcp("clients", &[&format!("serviceAccount:{sa}")]).into_json()
}

/// A binding of `cluster` through `clients` for the service account `sa`.
fn binding_of(name: &str, cluster: &str, sa: &str) -> Value {
    binding::new(name, cluster, "clients")
        .binding_user(sa)
        .into_json()
}

#[tokio::test]
async fn kstatus_and_argo_cd_read_every_kind_in_every_state() -> anyhow::Result<()> {
    if !on_real() {
        return Ok(());
    }
    let mut env = Env::start("health").await?;

    // The health scripts users install are the one in deploy/argocd/health.lua.
    let script = std::fs::read_to_string(repo().join("deploy/argocd/health.lua"))?;
    let patch = std::fs::read_to_string(repo().join("deploy/argocd/argocd-cm-patch.yaml"))?;
    let patch: Value = serde_saphyr::from_str(&patch)?;
    for kind in [
        "RedisCluster",
        "ServerlessCache",
        "UserGroup",
        "AccessBinding",
    ] {
        let embedded = patch["data"]
            [format!("resource.customizations.health.cache-operator.io_{kind}")]
        .as_str()
        .unwrap_or_default();
        assert_eq!(embedded.trim(), script.trim(), "{kind}'s script differs");
    }

    // Not yet seen by the operator: the CRD defaults status.observedGeneration to 0, so both
    // see generation 1 unobserved rather than an object without conditions.
    env.stop_operators().await;
    env.apply(gcp_cluster("unseen", &unique_id("unseen")))
        .await?;
    let (status, health, why) = judge(&env, "RedisCluster", "unseen");
    assert_eq!(
        (status.as_str(), health.as_str()),
        ("InProgress", "Progressing"),
        "{why}"
    );
    env.delete("RedisCluster", "unseen").await?;
    env.start_operator("operator-2", &[]).await?;
    let sim = env.sim();

    // Ready: Current and Healthy, for each kind.
    let sa = format!("app@{}.iam.gserviceaccount.com", gcp_project());
    env.apply(clients(&sa)).await?;
    env.apply(gcp_cluster("ready", &unique_id("ready"))).await?;
    env.apply(binding_of("app", "ready", &sa)).await?;
    for (kind, name) in [
        ("RedisCluster", "ready"),
        ("UserGroup", "clients"),
        ("AccessBinding", "app"),
    ] {
        env.wait_ready(kind, name, READY).await?;
        let (status, health, why) = judge(&env, kind, name);
        assert_eq!(
            (status.as_str(), health.as_str()),
            ("Current", "Healthy"),
            "{kind}: {why}"
        );
    }

    // While the cloud works: InProgress and Progressing.
    sim.configure(json!({"provisioningDelayMs": 600_000}))
        .await?;
    env.apply(gcp_cluster("slow", &unique_id("slow"))).await?;
    env.wait_for("RedisCluster", "slow", READY, |o| {
        e2e::condition(o?, "Reconciling").filter(|c| c["status"] == "True")?;
        Some(())
    })
    .await?;
    let (status, health, why) = judge(&env, "RedisCluster", "slow");
    assert_eq!(
        (status.as_str(), health.as_str()),
        ("InProgress", "Progressing"),
        "{why}"
    );

    // A binding waiting for its cluster: InProgress and Progressing too.
    env.apply(binding_of("early", "slow", &sa)).await?;
    env.wait_for("AccessBinding", "early", READY, |o| {
        e2e::condition(o?, "Ready").filter(|c| c["status"] == "False")?;
        Some(())
    })
    .await?;
    let (status, health, why) = judge(&env, "AccessBinding", "early");
    assert_eq!(
        (status.as_str(), health.as_str()),
        ("InProgress", "Progressing"),
        "{why}"
    );

    // Stalled (a cluster of the same ID that is not ours): Failed and Degraded.
    sim.configure(json!({"provisioningDelayMs": 100})).await?;
    let id = unique_id("theirs");
    let parent = format!("projects/{}/locations/{}", gcp_project(), gcp_region());
    let made = reqwest::Client::new()
        .post(format!("{}/v1/{parent}/clusters?clusterId={id}", sim.base_url()))
        .json(&json!({"shardCount": 1, "nodeType": "REDIS_SHARED_CORE_NANO",
                      "pscConfigs": [{"network": format!("projects/{}/global/networks/default", gcp_project())}]}))
        .send()
        .await?;
    anyhow::ensure!(made.status().is_success(), "{}", made.text().await?);
    env.wait_for_value(READY, || async {
        sim.find_cluster(&id)
            .await
            .ok()
            .flatten()
            .filter(|c| c.to_string().contains("ACTIVE"))
    })
    .await?;
    env.apply(gcp_cluster("taken", &id)).await?;
    env.wait_reason("RedisCluster", "taken", "AlreadyExists", READY)
        .await?;
    let (status, health, why) = judge(&env, "RedisCluster", "taken");
    assert_eq!(
        (status.as_str(), health.as_str()),
        ("Failed", "Degraded"),
        "{why}"
    );
    Ok(())
}
