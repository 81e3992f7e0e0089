//! The UserGroup controller against a mock API and scripted clouds: the status and events of a
//! first pass, of a group becoming Ready, of a pass with nothing to do, and of each class of
//! cloud error.

use std::sync::Arc;

use cache_operator_api::UserGroup;
use cache_operator_cloud::ErrorClass;
use cache_operator_cloud_fakes::error;
use cache_operator_testkit::{Manifest, cluster, group};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use serde_json::json;

use crate::context::Timing;
use crate::controller::fixtures::{EVENT, FakeApi, Fakes, pass, said, serving, status_write};
use crate::controller::shared::fill::Fill;
use crate::controller::{Ctx, Error, FINALIZER, Step, Stores};

const REGION: &str = "us-east-1";

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

#[tokio::test]
async fn an_aws_group_is_created_reported_ready_once_and_then_left_alone() {
    let cloud = Fakes::default();
    let obj = users();
    let (ctx, api) = serving(Fill::default().build(), &cloud, &obj).await;

    // First pass: the users it is about to create are recorded first, then made, then the group.
    let action = pass(&ctx, &obj).await.unwrap();
    assert_eq!(action, Action::requeue(ctx.timing.poll));
    let series = format!("PATCH {}/", EVENT.replace("POST ", ""));
    let writes = api.writes();
    assert_eq!(writes.len(), 6, "{writes:#?}");
    assert_eq!(
        [&writes[0], &writes[1], &writes[3], &writes[4], &writes[5]],
        [
            &status_write(&obj),
            EVENT,
            EVENT,
            &status_write(&obj),
            EVENT
        ]
    );
    // The recorder (as kube's and client-go's) makes a second event of the same type, reason
    // and action on the same object within minutes a series of the first, keeping its note:
    // the patch carries no note.
    assert!(writes[2].starts_with(&series), "{}", writes[2]);
    let statuses = api.statuses();
    assert_eq!(statuses[0]["users"], json!(["app", "users-default"]));
    assert!(statuses[0].get("conditions").is_none(), "{}", statuses[0]);
    let (st, says) = api.status();
    // The group's ID is recorded as soon as it is created, so its creation reads as an update.
    assert_eq!(says, "Reconciling: Updating @1");
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
            created,
            said("Normal", "UserCreated", ""),
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

    assert_eq!(
        cloud.users.asked(),
        [
            "DescribeUsers",
            "DescribeUserGroups users",
            "CreateUser users-default",
            "CreateUser app",
            "CreateUserGroup users"
        ]
    );

    // Once the cloud is done: Ready, said once.
    cloud.users.settle();
    api.take();
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    assert_eq!(api.writes(), [status_write(&obj), EVENT.into()]);
    let (_, says) = api.status();
    assert_eq!(says, "Ready: Available @1");
    let note = "user group users is active with 2 user(s)";
    assert_eq!(api.events(), [said("Normal", "Available", note)]);

    // Nothing changed: nothing is written.
    api.take();
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    assert_eq!(api.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_gcp_group_grants_each_cluster_that_lists_it_once() {
    let cloud = Fakes::default();
    let obj = readers();
    let (ctx, api) = serving(orders_listing_readers(), &cloud, &obj).await;

    pass(&ctx, &obj).await.unwrap();
    assert_eq!(
        api.writes(),
        [EVENT.into(), status_write(&obj), EVENT.into()]
    );
    let (st, says) = api.status();
    assert_eq!(says, "Ready: Available @1");
    assert_eq!(st["clusters"], json!(["shop/orders"]));
    assert_eq!(
        st["grants"],
        json!([{"project": "shop-prod", "clusters": 1, "bindings": 1, "members": 1}])
    );
    let (_, reason, note) = &api.events()[0];
    assert_eq!(reason, "GrantsUpdated");
    assert!(note.contains("in project(s) shop-prod"), "{note}");

    api.take();
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    assert_eq!(api.writes(), Vec::<String>::new());
}

/// What a failed pass returned, its conditions and its warnings' reasons.
async fn failed(
    ctx: &Arc<Ctx>,
    api: &FakeApi,
    obj: &UserGroup,
) -> (Result<Action, Error>, String, Vec<String>) {
    let result = pass(ctx, obj).await;
    let (_, says) = api.status();
    let warnings = api
        .events()
        .into_iter()
        .filter(|(type_, ..)| type_ == "Warning");
    (
        result,
        says,
        warnings.map(|(_, reason, _)| reason).collect(),
    )
}

#[tokio::test]
async fn transient_failures_are_retried_and_denials_stall_until_the_longest_backoff() {
    let aws_down = Fakes::default();
    let down = error(
        ErrorClass::Unavailable,
        "ServiceUnavailable",
        "elasticache DescribeUsers",
    );
    aws_down.users.fail("DescribeUsers", down);
    let without_google = Fakes::default();
    let no_identity = error(ErrorClass::Unauthenticated, "credentials", "google token");
    without_google.grants.fail(no_identity);
    let none = || Fill::default().build();
    // (case, group, caches, clouds) → (the pass's end, conditions)
    #[rustfmt::skip]
    let table = [
        ("aws is down", users(), none(), aws_down,
            Err(Step::Observe), "Reconciling: CloudUnavailable @1"),
        ("no Google credentials", readers(), orders_listing_readers(), without_google,
            Ok(Action::requeue(Timing::default().max_backoff)), "Stalled: PermissionDenied @1"),
    ];
    for (case, obj, stores, clouds, ends, conditions) in table {
        let (ctx, api) = serving(stores, &clouds, &obj).await;
        let (result, says, warnings) = failed(&ctx, &api, &obj).await;
        match (&result, &ends) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{case}"),
            (Err(Error::Cloud { step, .. }), Err(want)) => assert_eq!(step, want, "{case}"),
            _ => panic!("{case}: {result:?}"),
        }
        assert_eq!(says, conditions, "{case}");
        assert_eq!(
            Some(warnings[0].as_str()),
            conditions.split(' ').nth(1),
            "{case}"
        );
    }
}

#[tokio::test]
async fn a_refusal_stalls_until_the_spec_changes() {
    let cloud = Fakes::default();
    let obj = users();
    let (ctx, api) = serving(Fill::default().build(), &cloud, &obj).await;
    // Someone else holds every user group the account may have.
    let quota = error(
        ErrorClass::QuotaExceeded,
        "UserGroupQuotaExceeded",
        "elasticache CreateUserGroup",
    );
    cloud.users.fail("CreateUserGroup", quota);
    let (result, conditions, warnings) = failed(&ctx, &api, &obj).await;
    assert_eq!(result.unwrap(), Action::await_change());
    assert_eq!(conditions, "Stalled: CloudInvalidArgument @1");
    assert_eq!(warnings, ["CloudInvalidArgument"]);
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
    let cloud = Fakes::default();
    let obj = users();
    let (ctx, api) = serving(Fill::default().build(), &cloud, &obj).await;
    pass(&ctx, &obj).await.unwrap();
    api.take();
    let mut deleting = api.get(&obj).unwrap();
    deleting.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
    let action = pass(&ctx, &deleting).await.unwrap();
    assert_eq!(action, Action::requeue(ctx.timing.poll));
    let writes = api.writes();
    assert_eq!(writes[0], status_write(&obj), "the finalizer stays");
    assert_eq!(writes.len(), 2, "{writes:?}");
    let (st, says) = api.status();
    assert_eq!(says, "Reconciling: Updating @1");
    let ready = st["conditions"][0]["message"].as_str().unwrap();
    assert!(
        ready.starts_with("the cloud is busy: ") && ready.contains("InvalidUserGroupState"),
        "{ready}"
    );
    // The first pass's Updating event (same type, reason and action) becomes a series: kube's
    // recorder keeps its note. See the report on event notes.
    let (type_, reason, _) = api.events().pop().unwrap();
    assert_eq!((type_.as_str(), reason.as_str()), ("Normal", "Updating"));
}
