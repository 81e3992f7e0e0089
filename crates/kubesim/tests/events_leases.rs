//! Events through kube's Recorder (events.k8s.io/v1: create, then merge patches of `series`),
//! visible through core/v1 as kubectl describe lists them; Leases with get/replace.

mod common;

use common::{Sim, api_error, cache};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;
use kube::Resource;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::events::{Event as Ev, EventType, Recorder, Reporter};
use serde_json::json;

#[tokio::test]
async fn recorder_events_aggregate_into_a_series_and_show_in_core_v1() {
    let sim = Sim::start().await;
    let caches = sim.caches("default").await;
    let obj = caches
        .create(
            &PostParams::default(),
            &cache(
                "evented",
                json!({"provider": "gcp", "instanceId": "e", "shardCount": 1}),
            ),
        )
        .await
        .unwrap();
    let reference = obj.object_ref(&common::cache_resource());
    let recorder = Recorder::new(
        sim.client.clone(),
        Reporter {
            controller: "cache-controller".into(),
            instance: Some("pod-1".into()),
        },
    );
    let ev = Ev {
        type_: EventType::Warning,
        reason: "ProvisioningFailed".into(),
        note: Some("quota exceeded".into()),
        action: "Provision".into(),
        secondary: None,
    };
    recorder.publish(&ev, &reference).await.unwrap();
    recorder.publish(&ev, &reference).await.unwrap();

    let events: Api<Event> = Api::namespaced(sim.client.clone(), "default");
    let list = events.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1, "repeats aggregate into one Event");
    let e = &list.items[0];
    assert_eq!(e.series.as_ref().unwrap().count, 2);
    assert_eq!(e.reporting_controller.as_deref(), Some("cache-controller"));

    // kubectl describe lists core/v1 Events by the involved object.
    let core: Api<CoreEvent> = Api::namespaced(sim.client.clone(), "default");
    let fields = format!(
        "involvedObject.name=evented,involvedObject.namespace=default,involvedObject.kind=Cache,involvedObject.uid={}",
        obj.metadata.uid.unwrap()
    );
    let found = core
        .list(&ListParams::default().fields(&fields))
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
    let c = &found.items[0];
    assert_eq!(c.message.as_deref(), Some("quota exceeded"));
    assert_eq!(c.reason.as_deref(), Some("ProvisioningFailed"));
    assert_eq!(c.type_.as_deref(), Some("Warning"));
    assert_eq!(c.series.as_ref().unwrap().count, Some(2));
    let none = core
        .list(&ListParams::default().fields("involvedObject.name=other"))
        .await
        .unwrap();
    assert!(none.items.is_empty());
}

#[tokio::test]
async fn lease_get_replace_with_optimistic_concurrency() {
    let sim = Sim::start().await;
    let leases: Api<Lease> = Api::namespaced(sim.client.clone(), "kube-system");
    let l: Lease = serde_json::from_value(json!({"metadata": {"name": "leader"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15, "acquireTime": "2024-01-01T00:00:00.000000Z",
                 "renewTime": "2024-01-01T00:00:00.000000Z", "leaseTransitions": 0}})).unwrap();
    leases.create(&PostParams::default(), &l).await.unwrap();
    let mut a = leases.get("leader").await.unwrap();
    let mut b = a.clone();
    a.spec.as_mut().unwrap().renew_time = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(jiff::Timestamp::now()),
    );
    let renewed = leases
        .replace("leader", &PostParams::default(), &a)
        .await
        .unwrap();
    assert_ne!(
        renewed.metadata.resource_version,
        a.metadata.resource_version
    );
    // The other candidate's takeover with the stale version fails.
    b.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let e = api_error(
        leases
            .replace("leader", &PostParams::default(), &b)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        e.message,
        "Operation cannot be fulfilled on leases.coordination.k8s.io \"leader\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let bad: Lease = serde_json::from_value(
        json!({"metadata": {"name": "bad"}, "spec": {"leaseDurationSeconds": 0}}),
    )
    .unwrap();
    let e = api_error(
        leases
            .create(&PostParams::default(), &bad)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
}
