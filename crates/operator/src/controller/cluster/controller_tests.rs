//! The RedisCluster controller against a mock API and a cloud whose answers each test sets:
//! the status and events of a first pass, of a cluster becoming Ready, of a pass with nothing
//! to do, and of each class of cloud error.

use std::sync::Arc;
use std::time::Duration;

use cache_operator_api::RedisCluster;
use cache_operator_cloud::provider::ClusterState;
use cache_operator_cloud::{CloudError, ErrorClass};
use cache_operator_cloud_fakes::FakeClusters;
use cache_operator_testkit::cluster;
use kube::runtime::controller::Action;

use super::fixtures::{RES, observed};
use crate::controller::fixtures::{EVENT, FakeApi, Fakes, pass, said, serving, status_write};
use crate::controller::shared::fill::Fill;
use crate::controller::{Ctx, Error, FINALIZER, Step};

/// The cloud reports `state` of the cluster.
fn report(cloud: &FakeClusters, state: ClusterState) {
    cloud.report(Some(observed(state)));
}

/// Every later `call` fails with `class`, as Memorystore answers it.
fn fail(cloud: &FakeClusters, call: &str, class: ErrorClass) {
    let e = CloudError::new(class, "CODE", "no", format!("memorystore clusters.{call}"));
    cloud.fail(call, e);
}

/// A context on the mock API and fake clouds, and `orders` (gcp, generation 1, with our
/// finalizer) stored in the API.
async fn setup() -> (Arc<Ctx>, Arc<FakeClusters>, FakeApi, RedisCluster) {
    let fakes = Fakes::default();
    let obj: RedisCluster = cluster::gcp("orders")
        .namespace("shop")
        .uid("uid-1")
        .generation(1)
        .finalizer(FINALIZER)
        .parse();
    let (ctx, api) = serving(Fill::default().build(), &fakes, &obj).await;
    (ctx, fakes.clusters, api, obj)
}

#[tokio::test]
async fn a_first_pass_creates_the_cluster_and_says_so() {
    let (ctx, cloud, api, obj) = setup().await;
    let action = pass(&ctx, &obj).await.unwrap();
    // The pass wrote the status: that write's watch event brings the next pass; the poll
    // interval is only the fallback.
    assert_eq!(action, Action::requeue(ctx.timing.poll));
    assert_eq!(cloud.asked(), ["list", "create"]);
    assert_eq!(api.writes(), [status_write(&obj), EVENT.into()]);
    let (st, says) = api.status();
    assert_eq!(says, "Reconciling: Creating @1");
    assert_eq!(
        (&st["phase"], &st["observedGeneration"], &st["instanceId"]),
        (&"Creating".into(), &1.into(), &"orders".into())
    );
    assert_eq!(
        (&st["cloudResource"], &st["operation"]),
        (&RES.into(), &"operations/op-1".into())
    );
    let note = format!("creating {RES} in us-central1");
    assert_eq!(api.events(), [said("Normal", "Creating", &note)]);
}

#[tokio::test]
async fn an_available_cluster_is_reported_ready_once_and_then_left_alone() {
    let (ctx, cloud, api, obj) = setup().await;
    pass(&ctx, &obj).await.unwrap();
    cloud.asked();
    api.take();

    report(&cloud, ClusterState::Available);
    let created = api.get(&obj).unwrap();
    pass(&ctx, &created).await.unwrap();
    assert_eq!(cloud.asked(), ["get", "operation", "ca"]);
    assert_eq!(api.writes(), [status_write(&obj), EVENT.into()]);
    let (st, says) = api.status();
    assert_eq!(says, "Ready: Available @1");
    assert_eq!(st["phase"], "Ready");
    assert_eq!(st["endpoints"]["discovery"][0]["host"], "10.0.0.5");
    assert_eq!(st["caCertificate"], "-----BEGIN CERTIFICATE-----");
    assert!(st.get("operation").is_none(), "the operation is over: {st}");
    let note = format!("{RES} is available at 10.0.0.5:6379");
    assert_eq!(api.events(), [said("Normal", "Available", &note)]);

    // Nothing changed: the scope's list (taken by the first pass, younger than the resync)
    // answers, and nothing is written.
    api.take();
    let ready = api.get(&obj).unwrap();
    pass(&ctx, &ready).await.unwrap();
    assert_eq!(cloud.asked(), Vec::<String>::new());
    assert_eq!(api.writes(), Vec::<String>::new());
    // A resync later, one list.
    ctx.observer.expire();
    pass(&ctx, &ready).await.unwrap();
    assert_eq!(cloud.asked(), ["list"]);
    assert_eq!(api.writes(), Vec::<String>::new());
}

/// While the cloud creates the cluster, polls read neither the cluster on its own (after the one
/// read that follows the create) nor the operation: the scope's list answers, and the operation
/// is read once, when the cluster is no longer being created.
#[tokio::test]
async fn a_cluster_being_created_is_polled_through_the_scope_list() {
    let (ctx, cloud, api, obj) = setup().await;
    pass(&ctx, &obj).await.unwrap();
    assert_eq!(cloud.asked(), ["list", "create"]);

    report(&cloud, ClusterState::Creating);
    let creating = api.get(&obj).unwrap();
    pass(&ctx, &creating).await.unwrap();
    assert_eq!(cloud.asked(), ["get"], "one read after the create");
    for _ in 0..3 {
        pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    }
    assert_eq!(
        cloud.asked(),
        Vec::<String>::new(),
        "the look is young enough"
    );
    ctx.observer.expire();
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    assert_eq!(
        cloud.asked(),
        ["list"],
        "a poll tick later: the scope's list"
    );
    assert_eq!(api.status().0["phase"], "Creating");

    report(&cloud, ClusterState::Available);
    ctx.observer.expire();
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    assert_eq!(cloud.asked(), ["list", "operation", "ca"]);
    assert_eq!(api.status().0["phase"], "Ready");
}

#[tokio::test]
async fn each_class_of_cloud_error_ends_the_pass_as_it_should() {
    let max_backoff = Action::requeue(Duration::from_secs(300));
    // Every row writes the status, so the next pass comes from its watch event (the poll
    // interval as fallback).
    let poll = Action::requeue(crate::context::Timing::default().poll);
    // class → (what the pass returns, phase, conditions, event type)
    #[rustfmt::skip]
    let table = [
        (ErrorClass::InvalidArgument,    Ok(Action::await_change()), "Failed",  "Stalled: CloudInvalidArgument @1",   "Warning"),
        (ErrorClass::QuotaExceeded,      Ok(Action::await_change()), "Failed",  "Stalled: CloudInvalidArgument @1",   "Warning"),
        (ErrorClass::PermissionDenied,   Ok(max_backoff.clone()),    "Failed",  "Stalled: PermissionDenied @1",       "Warning"),
        (ErrorClass::FailedPrecondition, Ok(poll),                   "Pending", "Reconciling: CloudFailedPrecondition @1", "Normal"),
        (ErrorClass::Unavailable,        Err(Step::Apply),           "Pending", "Reconciling: CloudUnavailable @1",       "Warning"),
        (ErrorClass::Throttled,          Err(Step::Apply),           "Pending", "Reconciling: CloudUnavailable @1",       "Warning"),
    ];
    for (class, returns, phase, conditions, event) in table {
        let (ctx, cloud, api, obj) = setup().await;
        fail(&cloud, "create", class);
        let result = pass(&ctx, &obj).await;
        match (&result, &returns) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{class:?}"),
            (Err(Error::Cloud { step, source }), Err(want)) => {
                assert_eq!((step, source.class), (want, class));
            }
            _ => panic!("{class:?}: {result:?}"),
        }
        let (st, says) = api.status();
        let got = (st["phase"].as_str(), says.as_str());
        assert_eq!(got, (Some(phase), conditions), "{class:?}");
        let events = api.events();
        let (type_, reason, note) = &events[0];
        assert_eq!((type_.as_str(), events.len()), (event, 1), "{class:?}");
        assert_eq!(
            Some(reason.as_str()),
            conditions.split(' ').nth(1),
            "{class:?}"
        );
        assert!(
            note.contains("memorystore clusters.create"),
            "{class:?}: {note}"
        );
    }
}

#[tokio::test]
async fn a_refused_generation_is_not_sent_again() {
    let (ctx, cloud, api, obj) = setup().await;
    fail(&cloud, "create", ErrorClass::InvalidArgument);
    pass(&ctx, &obj).await.unwrap();
    cloud.asked();
    api.take();
    let refused = api.get(&obj).unwrap();
    let action = pass(&ctx, &refused).await.unwrap();
    assert_eq!(action, Action::await_change());
    assert_eq!(cloud.asked(), Vec::<String>::new());
    assert_eq!(api.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_ready_cluster_that_could_not_be_looked_at_stays_ready() {
    let (ctx, cloud, api, obj) = setup().await;
    pass(&ctx, &obj).await.unwrap();
    report(&cloud, ClusterState::Available);
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    cloud.asked();
    api.take();

    fail(&cloud, "list", ErrorClass::Unavailable);
    ctx.observer.expire();
    let result = pass(&ctx, &api.get(&obj).unwrap()).await;
    assert!(
        matches!(
            &result,
            Err(Error::Cloud {
                step: Step::Observe,
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(cloud.asked(), ["list"]);
    assert_eq!(api.writes(), Vec::<String>::new(), "Ready stays as it was");
}

#[tokio::test]
async fn a_valkey_cluster_is_created_through_the_instances_client_only() {
    let fakes = Fakes::default();
    let obj: RedisCluster = cluster::valkey("orders")
        .namespace("shop")
        .uid("uid-1")
        .generation(1)
        .finalizer(FINALIZER)
        .parse();
    let (ctx, api) = serving(Fill::default().build(), &fakes, &obj).await;
    pass(&ctx, &obj).await.unwrap();
    assert_eq!(fakes.instances.asked(), ["list", "create"]);
    assert!(
        fakes.clusters.asked().is_empty(),
        "nothing reaches Memorystore for Redis Cluster"
    );
    let (st, says) = api.status();
    assert_eq!(says, "Reconciling: Creating @1");
    assert_eq!(
        st["cloudResource"],
        "projects/shop-prod/locations/us-central1/instances/orders"
    );
}

/// `orders`, a created secondary of the set anchored on `orders-us`, whose `primary` is
/// `wanted`; the cloud reports `orders` SECONDARY in `state`.
async fn set_member(
    wanted: &str,
    state: ClusterState,
) -> (Arc<Ctx>, Arc<FakeClusters>, FakeApi, RedisCluster) {
    use cache_operator_cloud::provider::{ObservedReplication, ReplicationRole};
    let us = "projects/shop-prod/locations/us-central1/clusters/orders-us";
    let fakes = Fakes::default();
    let obj: RedisCluster = cluster::gcp("orders")
        .namespace("shop")
        .uid("uid-1")
        .generation(1)
        .finalizer(FINALIZER)
        .region("europe-west1")
        .secondary_of("orders-us")
        .status(
            serde_json::json!({"phase": "Ready", "observedGeneration": 1,
            "cloudResource": RES, "cloudUid": "uid-1", "cloudState": "ACTIVE",
            "caCertificate": "-----BEGIN CERTIFICATE-----"}),
        )
        .parse();
    let anchor: RedisCluster = cluster::gcp("orders-us")
        .namespace("shop")
        .cross_region_primary(wanted)
        .status(serde_json::json!({"phase": "Ready", "cloudResource": us, "cloudState": "ACTIVE"}))
        .parse();
    let stores = Fill::default().cluster(anchor).cluster(obj.clone()).build();
    let (ctx, api) = serving(stores, &fakes, &obj).await;
    let mut o = observed(state);
    o.replication = Some(ObservedReplication {
        role: ReplicationRole::Secondary,
        primary: Some(us.into()),
        secondaries: vec![RES.into()],
        update_time: Some("2026-12-08T01:00:00Z".into()),
    });
    fakes.clusters.report(Some(o));
    (ctx, fakes.clusters, api, obj)
}

#[tokio::test]
async fn the_member_the_anchor_names_switches_over_once() {
    let (ctx, cloud, api, obj) = set_member("orders", ClusterState::Available).await;
    pass(&ctx, &obj).await.unwrap();
    assert_eq!(
        cloud.asked(),
        ["list", "apply"],
        "one switchover, sent by this member"
    );
    let (st, _) = api.status();
    assert_eq!(st["phase"], "Updating", "{st}");
    assert!(
        st["message"]
            .as_str()
            .is_some_and(|m| m.contains("switchover")),
        "{st}"
    );
    assert_eq!(st["crossRegion"]["role"], "SECONDARY");
    assert_eq!(st["crossRegion"]["wantedPrimary"], "orders");
    let switching = st["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "SwitchingOver")
        .cloned()
        .unwrap_or_default();
    assert_eq!(switching["status"], "True", "{st}");
    assert!(
        api.events()
            .iter()
            .any(|(_, _, note)| note.contains("switchover")),
        "{:?}",
        api.events()
    );

    // The cloud carries it out (UPDATING): the next pass waits, it does not send it again.
    let (ctx, cloud, _api, obj) = set_member("orders", ClusterState::Updating).await;
    pass(&ctx, &obj).await.unwrap();
    assert!(!cloud.asked().contains(&"apply".to_owned()));
}

#[tokio::test]
async fn other_members_never_send_the_switchover() {
    let (ctx, cloud, _api, obj) = set_member("orders-us", ClusterState::Available).await;
    pass(&ctx, &obj).await.unwrap();
    assert_eq!(
        cloud.asked(),
        ["list"],
        "nothing to write while orders-us is wanted"
    );
}
