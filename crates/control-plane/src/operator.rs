//! The operator's identity on a control plane: the shipped RBAC (`config/rbac`, the rules the
//! chart renders too) bound to its ServiceAccount, and a kubeconfig holding that ServiceAccount's
//! token — so that what runs here holds exactly the rights it holds in production.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use kube::{Api, Client};
use serde_json::{Value, json};

/// The namespace of the shipped RBAC's ServiceAccount and leader-election Role.
pub const OPERATOR_NAMESPACE: &str = "cache-operator-system";
const OPERATOR_SERVICE_ACCOUNT: &str = "cache-operator";

/// The shipped RBAC (`config/rbac`): the operator's ServiceAccount, its ClusterRole and Role,
/// and their bindings, as documents. `without` removes one verb from one resource of the
/// ClusterRole, to show that the tests notice a missing permission.
pub fn shipped_rbac(without: Option<(&str, &str)>) -> anyhow::Result<Vec<Value>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/rbac");
    let mut docs = Vec::new();
    for file in ["service_account.yaml", "role.yaml"] {
        let text = std::fs::read_to_string(dir.join(file))?;
        docs.extend(serde_saphyr::from_multiple::<Value>(&text)?);
    }
    if let Some((resource, verb)) = without {
        let mut removed = false;
        for doc in &mut docs {
            if doc["kind"] != "ClusterRole" || doc["metadata"]["name"] != OPERATOR_SERVICE_ACCOUNT {
                continue;
            }
            let rules = doc["rules"].as_array_mut().context("rules")?;
            let mut extra = Vec::new();
            for rule in rules.iter_mut() {
                let resources = rule["resources"].as_array().cloned().unwrap_or_default();
                if !resources.iter().any(|r| r == resource) {
                    continue;
                }
                // Split the rule: the named resource loses the verb, its neighbours keep it.
                let others: Vec<Value> = resources.into_iter().filter(|r| r != resource).collect();
                if !others.is_empty() {
                    let mut copy = rule.clone();
                    copy["resources"] = json!(others);
                    extra.push(copy);
                }
                rule["resources"] = json!([resource]);
                let verbs = rule["verbs"].as_array_mut().context("verbs")?;
                let before = verbs.len();
                verbs.retain(|v| v != verb);
                removed |= verbs.len() < before;
            }
            rules.extend(extra);
        }
        if !removed {
            bail!("the shipped ClusterRole grants no {verb} on {resource}");
        }
    }
    Ok(docs)
}

/// Server-side apply documents of any kind, as an admin would with `kubectl apply`.
pub async fn apply_all(client: &Client, docs: &[Value]) -> anyhow::Result<()> {
    let discovery = Discovery::new(client.clone()).run().await?;
    for doc in docs {
        let api_version = doc["apiVersion"].as_str().context("apiVersion")?;
        let kind = doc["kind"].as_str().context("kind")?;
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
        let (ar, caps): (ApiResource, ApiCapabilities) = discovery
            .resolve_gvk(&gvk)
            .with_context(|| format!("the server does not serve {api_version} {kind}"))?;
        let name = doc["metadata"]["name"].as_str().context("name")?;
        let api: Api<DynamicObject> = match (&caps.scope, doc["metadata"]["namespace"].as_str()) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
            (Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), &ar),
            (Scope::Cluster, _) => Api::all_with(client.clone(), &ar),
        };
        api.patch(
            name,
            &PatchParams::apply("control-plane").force(),
            &Patch::Apply(doc),
        )
        .await
        .with_context(|| format!("applying {kind}/{name}"))?;
    }
    Ok(())
}

/// Install the shipped RBAC and return a kubeconfig for the operator's ServiceAccount: the
/// operator then holds exactly the rights the chart and `config/rbac` grant, as in production.
pub async fn operator_identity(
    admin: &Client,
    admin_kubeconfig: &Path,
    out: &Path,
    without: Option<(&str, &str)>,
) -> anyhow::Result<PathBuf> {
    apply_all(
        admin,
        &[json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NAMESPACE}})],
    )
    .await?;
    apply_all(admin, &shipped_rbac(without)?).await?;
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), OPERATOR_NAMESPACE);
    let request: TokenRequest = serde_json::from_value(json!({
        "spec": {"audiences": [], "expirationSeconds": 24 * 3600}
    }))?;
    let token = accounts
        .create_token_request(OPERATOR_SERVICE_ACCOUNT, &PostParams::default(), &request)
        .await
        .context("requesting a token for the operator's ServiceAccount")?
        .status
        .context("TokenRequest without status")?
        .token;
    // The server and its CA from the admin's kubeconfig; the ServiceAccount's token as the user.
    let admin_config: Value = serde_saphyr::from_str(&std::fs::read_to_string(admin_kubeconfig)?)?;
    let cluster = admin_config["clusters"][0]["cluster"].clone();
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "control-plane", "cluster": cluster}],
        "users": [{"name": "cache-operator", "user": {"token": token}}],
        "contexts": [{"name": "cache-operator", "context": {"cluster": "control-plane", "user": "cache-operator", "namespace": OPERATOR_NAMESPACE}}],
        "current-context": "cache-operator",
    });
    std::fs::write(out, serde_json::to_string_pretty(&config)?)?;
    Ok(out.to_owned())
}
