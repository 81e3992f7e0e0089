//! Controller-level tests: the skeleton driven against a mock Kubernetes API (tower-test) that
//! asserts each call the operator makes — finalizer patches, status writes, events — in order.

use std::sync::Arc;

use cache_operator_cloud::aws::users::AwsUsers;
use cache_operator_cloud::aws::{AwsClients, AwsClusters};
use cache_operator_cloud::gcp::grants::PolicyEditor;
use cache_operator_cloud::gcp::iam::{IamCredentials, ResourceManager};
use cache_operator_cloud::gcp::memorystore::Memorystore;
use cache_operator_cloud::gcp::{GcpAuth, GcpClusters, GoogleRest};
use http::{Request, Response};
use kube::client::Body;
use crate::events::{Recorder, Reporter};
use serde_json::Value;
use tower_test::mock::{self, Handle};

use super::shared::fill::Fill;
use super::{Ctx, Stores};
use crate::context::{Access, AccessSettings, Context, Providers, Timing};
use crate::metrics::Metrics;

/// Clouds nobody answers at: a controller test that reaches a cloud fails.
const NOWHERE: &str = "http://127.0.0.1:9";

pub type ApiHandle = Handle<Request<Body>, Response<Body>>;

/// A context whose Kubernetes client is the mock, with `stores` as the shared caches.
pub async fn context(stores: Stores) -> (Arc<Ctx>, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let metrics = Arc::new(Metrics::default());
    let rest = GoogleRest::new(GcpAuth::Anonymous, metrics.clone());
    let aws = AwsClients::from_env(Some(NOWHERE.into()), metrics.clone()).await;
    let providers = Providers {
        gcp: Arc::new(GcpClusters::new(Memorystore::new(rest.clone(), NOWHERE))),
        aws: Arc::new(AwsClusters::new(aws.clone())),
    };
    let access = Access {
        aws_users: AwsUsers::new(aws),
        gcp_auth: GcpAuth::Anonymous,
        gcp_iam: IamCredentials::new(rest.clone(), NOWHERE),
        policies: PolicyEditor::new(ResourceManager::new(rest, NOWHERE)),
        settings: AccessSettings::default(),
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "cache-operator".into(),
            instance: Some("test".into()),
        },
    );
    let base = Context::new(
        client,
        providers,
        recorder,
        metrics,
        Timing::default(),
        access,
    );
    let ctx = Ctx {
        base: Arc::new(base),
        stores,
    };
    (Arc::new(ctx), handle)
}

pub async fn empty_context() -> (Arc<Ctx>, ApiHandle) {
    context(Fill::default().build()).await
}

/// One expected call: method, path, and what the body must contain; answered with `reply`.
pub async fn expect(handle: &mut ApiHandle, method: &str, path: &str, reply: Value) -> Value {
    let (request, send) = handle
        .next_request()
        .await
        .expect("the operator made another call");
    assert_eq!(request.method().as_str(), method, "{}", request.uri());
    assert_eq!(request.uri().path(), path);
    let bytes = request
        .into_body()
        .collect_bytes()
        .await
        .expect("a request body");
    let body: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON body")
    };
    let response = Response::builder()
        .status(200)
        .body(Body::from(serde_json::to_vec(&reply).unwrap()))
        .unwrap();
    send.send_response(response);
    body
}
