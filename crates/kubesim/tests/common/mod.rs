//! Shared helpers: an in-process kubesim with a kube client, and the test CRD.
#![allow(dead_code)]

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

pub const CRD: &str = include_str!("../fixtures/caches-crd.yaml");
pub const SAMPLE: &str = include_str!("../fixtures/cache-sample.yaml");

pub struct Sim {
    pub server: kubesim::Running,
    pub client: Client,
}

impl Sim {
    pub async fn start() -> Sim {
        Sim::start_with(kubesim::Config::default()).await
    }

    pub async fn start_with(config: kubesim::Config) -> Sim {
        let server = kubesim::Server::start(config)
            .await
            .expect("kubesim starts");
        let kubeconfig = Kubeconfig::from_yaml(&server.kubeconfig()).expect("kubeconfig parses");
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("config");
        let client = Client::try_from(config).expect("client");
        Sim { server, client }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    /// Installs the test CRD and returns an API for its custom resources in `ns`.
    pub async fn caches(&self, ns: &str) -> Api<DynamicObject> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let crd: CustomResourceDefinition = serde_saphyr::from_str(CRD).unwrap();
        match crds.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("creating the CRD: {e}"),
        }
        cache_api(&self.client, ns)
    }
}

pub fn cache_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("fixtures.kubesim.dev", "v1", "Cache"),
        "caches",
    )
}

pub fn cache_api(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &cache_resource())
}

/// A Cache object from JSON.
pub fn cache(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "fixtures.kubesim.dev/v1",
        "kind": "Cache",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

/// Polls `f` until it returns `Some`, for up to 10 seconds.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other}"),
    }
}
