//! The skeleton against a mock API: finalizer first, cleanup releases then the finalizer goes,
//! an unreadable object gets a status and nothing else; a binding has no finalizer.

use std::sync::Arc;

use cache_operator_api::{AccessBinding, RedisCluster};
use cache_operator_testkit::{binding, cluster};
use kube::core::DeserializeGuard;
use kube::core::error_boundary::InvalidObject;
use kube::runtime::controller::Action;
use serde_json::json;

use super::FINALIZER;
use super::fixtures::{empty_context, expect};
use super::skeleton::reconcile;

const PATH: &str = "/apis/cache-operator.io/v1alpha1/namespaces/shop/redisclusters/orders";

fn orders() -> cache_operator_testkit::Manifest {
    cluster::gcp("orders")
        .namespace("shop")
        .uid("uid-1")
        .generation(1)
}

#[tokio::test]
async fn a_new_object_first_gets_the_finalizer_and_nothing_else() {
    let (ctx, mut api) = empty_context().await;
    let obj: RedisCluster = orders().parse();
    let server = tokio::spawn(async move {
        let patch = expect(
            &mut api,
            "PATCH",
            PATH,
            orders().finalizer(FINALIZER).json(),
        )
        .await;
        assert_eq!(
            patch,
            json!([
                {"op": "test", "path": "/metadata/finalizers", "value": null},
                {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
            ])
        );
        api
    });
    let action = reconcile(Arc::new(DeserializeGuard(Ok(obj))), ctx)
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
    let mut api = server.await.unwrap();
    tokio::task::yield_now().await;
    let next = futures::FutureExt::now_or_never(api.next_request());
    assert!(!matches!(next, Some(Some(_))), "no other call");
}

#[tokio::test]
async fn a_retained_cluster_is_released_then_its_finalizer_removed() {
    let (ctx, mut api) = empty_context().await;
    let deleting = orders()
        .finalizer(FINALIZER)
        .deleting()
        .deletion_policy("Retain");
    let obj: RedisCluster = deleting.parse();
    let server = tokio::spawn(async move {
        let event = expect(
            &mut api,
            "POST",
            "/apis/events.k8s.io/v1/namespaces/shop/events",
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
                   "metadata": {"name": "e", "namespace": "shop"}, "eventTime": null}),
        )
        .await;
        assert_eq!(event["reason"], "Released");
        assert_eq!(
            event["note"],
            "deletionPolicy Retain: the cloud resource is left in place"
        );
        let patch = expect(&mut api, "PATCH", PATH, orders().deleting().json()).await;
        assert_eq!(
            patch,
            json!([
                {"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
                {"op": "remove", "path": "/metadata/finalizers/0"},
            ])
        );
    });
    let action = reconcile(Arc::new(DeserializeGuard(Ok(obj))), ctx)
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
    server.await.unwrap();
}

#[tokio::test]
async fn an_object_that_does_not_parse_is_told_so_in_its_status() {
    let (ctx, mut api) = empty_context().await;
    let meta = kube::api::ObjectMeta {
        name: Some("orders".into()),
        namespace: Some("shop".into()),
        generation: Some(4),
        ..Default::default()
    };
    let invalid = InvalidObject {
        error: "unknown variant `azure`".into(),
        metadata: meta,
    };
    let server = tokio::spawn(async move {
        let patch = expect(
            &mut api,
            "PATCH",
            &format!("{PATH}/status"),
            orders().json(),
        )
        .await;
        assert_eq!(patch["status"]["phase"], "Failed");
        assert_eq!(patch["status"]["observedGeneration"], 4);
        let ready = &patch["status"]["conditions"][0];
        assert_eq!(
            (ready["type"].as_str(), ready["reason"].as_str()),
            (Some("Ready"), Some("InvalidSpec"))
        );
        assert!(
            ready["message"]
                .as_str()
                .unwrap()
                .contains("unknown variant `azure`")
        );
    });
    let guard: DeserializeGuard<RedisCluster> = DeserializeGuard(Err(invalid));
    let action = reconcile(Arc::new(guard), ctx).await.unwrap();
    assert_eq!(action, Action::await_change());
    server.await.unwrap();
}

const BINDING: &str = "/apis/cache-operator.io/v1alpha1/namespaces/shop/accessbindings/app";

fn app() -> cache_operator_testkit::Manifest {
    binding::new("app", "orders", "users")
        .namespace("shop")
        .uid("uid-b")
        .generation(1)
}

#[tokio::test]
async fn a_new_binding_gets_no_finalizer_its_first_write_is_its_status() {
    let (ctx, mut api) = empty_context().await;
    let obj: AccessBinding = app().parse();
    let server = tokio::spawn(async move {
        let patch = expect(
            &mut api,
            "PATCH",
            &format!("{BINDING}/status"),
            app().json(),
        )
        .await;
        let ready = &patch["status"]["conditions"][0];
        assert_eq!(ready["reason"], "ReferenceNotFound");
        let event = expect(
            &mut api,
            "POST",
            "/apis/events.k8s.io/v1/namespaces/shop/events",
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
                   "metadata": {"name": "e", "namespace": "shop"}, "eventTime": null}),
        )
        .await;
        assert_eq!(event["reason"], "ReferenceNotFound");
        api
    });
    reconcile(Arc::new(DeserializeGuard(Ok(obj))), ctx)
        .await
        .unwrap();
    let mut api = server.await.unwrap();
    tokio::task::yield_now().await;
    let next = futures::FutureExt::now_or_never(api.next_request());
    assert!(
        !matches!(next, Some(Some(_))),
        "no finalizer patch, no other call"
    );
}

#[tokio::test]
async fn a_deleted_binding_is_left_to_the_garbage_collector() {
    let (ctx, mut api) = empty_context().await;
    let obj: AccessBinding = app().deleting().parse();
    let action = reconcile(Arc::new(DeserializeGuard(Ok(obj))), ctx)
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
    tokio::task::yield_now().await;
    let next = futures::FutureExt::now_or_never(api.next_request());
    assert!(!matches!(next, Some(Some(_))), "no call at all");
}
