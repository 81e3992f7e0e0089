//! The UserGroup controller against a mock API and the cloud simulator in-process: the status
//! and events of a first pass, of a group becoming Ready, of a pass with nothing to do, and of
//! each class of cloud error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_operator_api::UserGroup;
use cache_operator_api::cluster::AwsEngine;
use cache_operator_testkit::{Manifest, cluster, group};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use serde_json::json;

use crate::controller::fixtures::{
    Clouds, FakeApi, context_in, faults, kstatus, pass, path_of, said, sim,
};
use crate::controller::shared::fill::Fill;
use crate::controller::{Ctx, Error, FINALIZER, Stores};

const REGION: &str = "us-east-1";
const EVENTS: &str = "POST /apis/events.k8s.io/v1/namespaces/shop/events";

/// `users`: an aws group with the iam user `app` (and so the stand-in `default` user).
fn users() -> UserGroup {
    stored(group::aws("users", REGION).user("app", "iam"))
}

const MEMBER: &str = "serviceAccount:app@shop-prod.iam.gserviceaccount.com";

/// `readers`: a gcp group of one service account.
fn readers() -> UserGroup {
    stored(group::gcp("readers", &[MEMBER]))
}

/// Caches holding the gcp cluster `orders`, which lists `readers`.
fn orders_listing_readers() -> Stores {
    let orders = cluster::gcp("orders")
        .namespace("shop")
        .user_groups(&["readers"]);
    Fill::default().cluster(orders.parse()).build()
}

fn stored(m: Manifest) -> UserGroup {
    m.namespace("shop")
        .uid("uid-g")
        .generation(1)
        .finalizer(FINALIZER)
        .parse()
}

/// A context on the mock API (holding `obj`) and `clouds`.
async fn setup(stores: Stores, clouds: Clouds, obj: &UserGroup) -> (Arc<Ctx>, FakeApi) {
    let (ctx, handle) = context_in(stores, clouds).await;
    let api = FakeApi::serve(handle);
    api.put(obj);
    (ctx, api)
}

fn status_path(obj: &UserGroup) -> String {
    format!("PATCH {}/status", path_of(obj))
}

async fn until_active(ctx: &Ctx, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let group = ctx.access.aws_users.describe_user_group(REGION, id).await;
        if group.unwrap().is_some_and(|g| g.status == "active") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "user group {id} never became active"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_aws_group_is_created_reported_ready_once_and_then_left_alone() {
    let cloud = sim(50).await;
    let obj = users();
    let (ctx, api) = setup(Fill::default().build(), Clouds::sim(&cloud), &obj).await;

    // First pass: the users it is about to create are recorded first, then made, then the group.
    let action = pass(&ctx, &obj).await.unwrap();
    assert_eq!(action, Action::requeue(ctx.timing.poll));
    let series = format!("PATCH {}/", EVENTS.replace("POST ", ""));
    let writes = api.writes();
    assert_eq!(writes.len(), 6, "{writes:#?}");
    assert_eq!(
        [&writes[0], &writes[1], &writes[3], &writes[4], &writes[5]],
        [
            &status_path(&obj),
            EVENTS,
            EVENTS,
            &status_path(&obj),
            EVENTS
        ]
    );
    // kube's recorder (as client-go's) makes a second event of the same type, reason and
    // action on the same object within minutes a series of the first, keeping its note.
    assert!(writes[2].starts_with(&series), "{}", writes[2]);
    let statuses = api.statuses();
    assert_eq!(statuses[0]["users"], json!(["app", "users-default"]));
    assert!(statuses[0].get("conditions").is_none(), "{}", statuses[0]);
    let st = &statuses[1];
    // The group's ID is recorded as soon as it is created, so its creation reads as an update.
    assert_eq!(
        kstatus(st),
        "Ready=False Reconciling=True Stalled=False Updating @1"
    );
    assert_eq!(
        (&st["userGroupId"], &st["observedGeneration"]),
        (&"users".into(), &1.into())
    );
    let created = said(
        "Normal",
        "UserCreated",
        "created user users-default (default)",
    );
    assert_eq!(
        api.events(),
        [
            created.clone(),
            created,
            said(
                "Normal",
                "Creating",
                "creating user group users with users users-default, app"
            ),
            said(
                "Normal",
                "Updating",
                "creating user group users in us-east-1"
            ),
        ]
    );

    // Once the cloud is done: Ready, said once.
    until_active(&ctx, "users").await;
    api.take();
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    assert_eq!(api.writes(), [status_path(&obj), EVENTS.into()]);
    let st = &api.statuses()[0];
    assert_eq!(
        kstatus(st),
        "Ready=True Reconciling=False Stalled=False Available @1"
    );
    let note = "user group users is active with 2 user(s)";
    assert_eq!(api.events(), [said("Normal", "Available", note)]);

    // Nothing changed: nothing is written.
    api.take();
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    assert_eq!(api.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_gcp_group_grants_each_cluster_that_lists_it_once() {
    let cloud = sim(50).await;
    let obj = readers();
    let (ctx, api) = setup(orders_listing_readers(), Clouds::sim(&cloud), &obj).await;

    pass(&ctx, &obj).await.unwrap();
    assert_eq!(
        api.writes(),
        [EVENTS.into(), status_path(&obj), EVENTS.into()]
    );
    let st = &api.statuses()[0];
    assert_eq!(
        kstatus(st),
        "Ready=True Reconciling=False Stalled=False Available @1"
    );
    assert_eq!(st["clusters"], json!(["shop/orders"]));
    assert_eq!(
        st["grants"],
        json!([{"project": "shop-prod", "cluster": "projects/shop-prod/locations/us-central1/clusters/orders", "members": [MEMBER]}])
    );
    let (_, reason, note) = &api.events()[0];
    assert_eq!(reason, "GrantsUpdated");
    assert!(note.contains("in project(s) shop-prod"), "{note}");

    api.take();
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    assert_eq!(api.writes(), Vec::<String>::new());
}

/// The conditions and event of a pass that failed, and what it returned.
async fn failed(
    ctx: &Arc<Ctx>,
    api: &FakeApi,
    obj: &UserGroup,
) -> (Result<Action, Error>, String, Vec<(String, String)>) {
    let result = pass(ctx, obj).await;
    let statuses = api.statuses();
    let conditions = kstatus(statuses.last().expect("a status"));
    let events = api
        .events()
        .into_iter()
        .filter(|(type_, ..)| type_ == "Warning")
        .map(|(type_, reason, _)| (type_, reason))
        .collect();
    (result, conditions, events)
}

#[tokio::test]
async fn a_transient_failure_is_said_and_retried_with_backoff() {
    let cloud = sim(50).await;
    faults(
        &cloud,
        json!({"errorRate": 1.0, "operations": ["DescribeUsers"]}),
    )
    .await;
    let obj = users();
    let (ctx, api) = setup(Fill::default().build(), Clouds::sim(&cloud), &obj).await;
    let (result, conditions, warnings) = failed(&ctx, &api, &obj).await;
    assert!(
        matches!(
            &result,
            Err(Error::Cloud {
                step: crate::controller::Step::Observe,
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(
        conditions,
        "Ready=False Reconciling=True Stalled=False CloudUnavailable @1"
    );
    assert_eq!(warnings, [("Warning".into(), "CloudUnavailable".into())]);
}

#[tokio::test]
async fn a_denied_identity_stalls_and_is_looked_at_again_after_the_longest_backoff() {
    let cloud = sim(50).await;
    let obj = readers();
    let clouds = Clouds::sim(&cloud).no_google_credentials();
    let (ctx, api) = setup(orders_listing_readers(), clouds, &obj).await;
    let (result, conditions, warnings) = failed(&ctx, &api, &obj).await;
    assert_eq!(result.unwrap(), Action::requeue(ctx.timing.max_backoff));
    assert_eq!(
        conditions,
        "Ready=False Reconciling=False Stalled=True PermissionDenied @1"
    );
    assert_eq!(warnings, [("Warning".into(), "PermissionDenied".into())]);
}

#[tokio::test]
async fn a_refusal_stalls_until_the_spec_changes() {
    let cloud = sim(50).await;
    let obj = users();
    let (ctx, api) = setup(Fill::default().build(), Clouds::sim(&cloud), &obj).await;
    // Someone else holds every user group the account may have.
    for i in 0.. {
        let taken = ctx
            .access
            .aws_users
            .create_user_group(REGION, &format!("other-{i}"), AwsEngine::Valkey, &[], &[])
            .await;
        if taken.is_err() {
            break;
        }
    }
    let (result, conditions, warnings) = failed(&ctx, &api, &obj).await;
    assert_eq!(result.unwrap(), Action::await_change());
    assert_eq!(
        conditions,
        "Ready=False Reconciling=False Stalled=True CloudInvalidArgument @1"
    );
    assert_eq!(
        warnings,
        [("Warning".into(), "CloudInvalidArgument".into())]
    );
    let (_, _, note) = api.events().pop().unwrap();
    assert!(note.contains("UserGroupQuotaExceeded"), "{note}");

    // The same generation is not sent again.
    api.take();
    let refused = api.get(&obj).unwrap();
    assert_eq!(pass(&ctx, &refused).await.unwrap(), Action::await_change());
    assert_eq!(api.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_busy_cloud_is_waited_for_while_deleting() {
    // The group stays `creating`, which the cloud will not delete.
    let cloud = sim(3_600_000).await;
    let obj = users();
    let (ctx, api) = setup(Fill::default().build(), Clouds::sim(&cloud), &obj).await;
    pass(&ctx, &obj).await.unwrap();
    api.take();
    let mut deleting = api.get(&obj).unwrap();
    deleting.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
    let action = pass(&ctx, &deleting).await.unwrap();
    assert_eq!(action, Action::requeue(ctx.timing.poll));
    let writes = api.writes();
    assert_eq!(writes[0], status_path(&obj), "the finalizer stays");
    assert_eq!(writes.len(), 2, "{writes:?}");
    let st = &api.statuses()[0];
    assert_eq!(
        kstatus(st),
        "Ready=False Reconciling=True Stalled=False Updating @1"
    );
    let ready = st["conditions"][0]["message"].as_str().unwrap();
    assert!(
        ready.starts_with("the cloud is busy: User group users is not in active state"),
        "{ready}"
    );
    // The first pass's Updating event (same type, reason and action) becomes a series: kube's
    // recorder keeps its note. See the report on event notes.
    let (type_, reason, _) = api.events().pop().unwrap();
    assert_eq!((type_.as_str(), reason.as_str()), ("Normal", "Updating"));
}
