//! The AccessBinding controller against a mock API and scripted clouds: the Secret, status and
//! event of a first pass, a pass with nothing to do, the ways a binding stops, and each class
//! of failed token.

use std::collections::BTreeMap;

use cache_operator_api::AccessBinding;
use cache_operator_cloud::ErrorClass;
use cache_operator_cloud::gcp::grants::clusters_digest;
use cache_operator_cloud_fakes::error;
use cache_operator_testkit::{Manifest, binding, cluster, group};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Resource;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::plan::Source;
use super::secret::CREDENTIAL_ANNOTATION;
use crate::controller::fixtures::{EVENT, FakeApi, Fakes, pass, serving, status_write};
use crate::controller::shared::fill::Fill;
use crate::controller::{Error, FINALIZER, Step, Stores};

const SA: &str = "app@shop-prod.iam.gserviceaccount.com";
const GCP_CLUSTER: &str = "projects/shop-prod/locations/us-central1/clusters/orders";

/// What a Ready cluster reports.
fn ready_cluster(m: Manifest) -> Manifest {
    m.namespace("shop").generation(1).status(json!({
        "endpoints": {"discovery": [{"host": "10.0.0.5", "port": 6379}]},
        "conditions": [{"type": "Ready", "status": "True", "reason": "Available", "message": "",
                        "lastTransitionTime": "2023-11-14T22:13:20Z"}],
    }))
}

/// What a Ready group reports, with `extra` status fields.
fn ready_group(m: Manifest, extra: Value) -> Manifest {
    let mut status = json!({
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Available", "message": "",
                        "lastTransitionTime": "2023-11-14T22:13:20Z", "observedGeneration": 1}],
    });
    status
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    m.namespace("shop").generation(1).status(status)
}

/// The aws cluster `sessions` (IAM authentication) listing `users`, whose iam user is `app`.
fn aws_world() -> Stores {
    let sessions = cluster::aws("sessions")
        .auth("iam")
        .tls(true)
        .user_groups(&["users"]);
    let users = group::aws("users", "us-east-1").user("app", "iam");
    Fill::default()
        .cluster(ready_cluster(sessions).parse())
        .group(ready_group(users, json!({"userGroupId": "users"})).parse())
        .build()
}

/// The gcp cluster `orders` (IAM authentication) listing `readers`, which grants `SA` on it.
fn gcp_world() -> Stores {
    gcp_world_with(Fill::default())
}

/// [`gcp_world`] in caches that hold what `fill` holds besides.
fn gcp_world_with(fill: Fill) -> Stores {
    let orders = cluster::gcp("orders")
        .auth("iam")
        .tls(true)
        .user_groups(&["readers"]);
    let member = format!("serviceAccount:{SA}");
    let readers = group::gcp("readers", &[&member]);
    // Granted for generation 1 of the group on exactly the clusters listing it.
    let grants = json!({"granted": {"generation": 1, "clusters": clusters_digest([GCP_CLUSTER])}});
    fill.cluster(ready_cluster(orders).parse())
        .group(ready_group(readers, grants).parse())
        .build()
}

/// A binding in `shop` (generation 1, our finalizer) writing Secret `app-redis`.
fn app(cluster: &str, group: &str) -> Manifest {
    binding::new("app", cluster, group)
        .namespace("shop")
        .uid("uid-b")
        .generation(1)
        .finalizer(FINALIZER)
        .secret_name("app-redis")
}

const SECRET: &str = "/api/v1/namespaces/shop/secrets/app-redis";

/// The Secret as the API holds it, its values as text.
fn secret_data(api: &FakeApi) -> BTreeMap<String, String> {
    let like = secret_like();
    let s: Secret = api.get(&like).expect("the Secret exists");
    s.data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect()
}

fn secret_like() -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some("app-redis".into());
    s.metadata.namespace = Some("shop".into());
    s
}

#[tokio::test]
async fn a_first_pass_writes_the_secret_and_a_second_writes_nothing() {
    let obj: AccessBinding = app("sessions", "users").binding_user("app").parse();
    let (ctx, api) = serving(aws_world(), &Fakes::default(), &obj).await;
    pass(&ctx, &obj).await.unwrap();
    assert_eq!(
        api.writes(),
        [format!("PATCH {SECRET}"), status_write(&obj), EVENT.into()]
    );
    let data = secret_data(&api);
    assert_eq!(
        (data["username"].as_str(), data["host"].as_str()),
        ("app", "10.0.0.5")
    );
    assert!(!data["password"].is_empty() && data.contains_key("refresh-at"));
    let (st, says) = api.status();
    assert_eq!(says, "Ready: CredentialsIssued @1");
    assert_eq!(
        (&st["secretName"], &st["username"], &st["tokenExpiresAt"]),
        (
            &"app-redis".into(),
            &"app".into(),
            &data["expires-at"].clone().into()
        )
    );
    let events = api.events();
    let (type_, reason, note) = &events[0];
    assert_eq!(
        (type_.as_str(), reason.as_str()),
        ("Normal", "CredentialsIssued")
    );
    assert!(
        note.starts_with("Secret app-redis holds a token for app valid until"),
        "{note}"
    );
    assert!(!note.contains(&data["password"]), "no credential in events");

    // The token is reused until its refresh time: nothing is minted, nothing written.
    api.take();
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    assert_eq!(api.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_binding_stops_as_its_situation_says() {
    // (case, binding) → (conditions, event type, event note starts with)
    #[rustfmt::skip]
    let table = [
        ("the cluster is not there", app("nothing", "users").binding_user("app"),
            "Reconciling: ReferenceNotFound @1", "Normal", "RedisCluster shop/nothing does not exist"),
        ("an aws cluster needs a user", app("sessions", "users"),
            "Stalled: InvalidSpec @1", "Warning", "spec.user: the userId of a member of the group is required"),
        ("the user is not in the group", app("sessions", "users").binding_user("stranger"),
            "Stalled: NotAuthorized @1", "Warning", "user stranger is not a member of UserGroup shop/users; no Secret is written"),
    ];
    for (case, m, conditions, type_, note) in table {
        let obj: AccessBinding = m.parse();
        let (ctx, api) = serving(aws_world(), &Fakes::default(), &obj).await;
        let action = pass(&ctx, &obj).await.unwrap();
        let poll = Action::requeue(ctx.timing.poll);
        assert_eq!(
            action == poll,
            type_ == "Normal",
            "{case}: waiting polls, the rest resyncs"
        );
        assert_eq!(api.writes(), [status_write(&obj), EVENT.into()], "{case}");
        assert_eq!(api.status().1, conditions, "{case}");
        let (t, reason, n) = api.events().pop().unwrap();
        assert_eq!(
            (t.as_str(), Some(reason.as_str())),
            (type_, conditions.split(' ').nth(1)),
            "{case}"
        );
        assert!(n.starts_with(note), "{case}: {n}");
    }
}

#[tokio::test]
async fn access_withdrawn_deletes_the_secret_it_gave() {
    let granted: AccessBinding = app("sessions", "users").binding_user("app").parse();
    let (ctx, api) = serving(aws_world(), &Fakes::default(), &granted).await;
    pass(&ctx, &granted).await.unwrap();
    api.take();
    let mut stranger = api.get(&granted).unwrap();
    stranger.spec.user = Some("stranger".into());
    stranger.metadata.generation = Some(2);
    pass(&ctx, &stranger).await.unwrap();
    assert_eq!(
        api.writes(),
        [
            format!("DELETE {SECRET}"),
            status_write(&granted),
            EVENT.into()
        ]
    );
    let (st, says) = api.status();
    assert_eq!(says, "Stalled: NotAuthorized @2");
    assert!(st.get("tokenExpiresAt").is_none(), "{st}");
    let (_, _, note) = api.events().pop().unwrap();
    assert_eq!(
        note,
        "user stranger is not a member of UserGroup shop/users; Secret app-redis deleted"
    );
}

#[tokio::test]
async fn a_secret_someone_else_wrote_is_left_alone() {
    let obj: AccessBinding = app("sessions", "users").binding_user("app").parse();
    let (ctx, api) = serving(aws_world(), &Fakes::default(), &obj).await;
    api.put(&secret_like());
    pass(&ctx, &obj).await.unwrap();
    assert_eq!(api.writes(), [status_write(&obj), EVENT.into()]);
    let (_, says) = api.status();
    assert_eq!(says, "Stalled: AlreadyExists @1");
}

/// A Secret this binding wrote for `SA`'s token, valid for an hour more but due for refresh.
fn due_for_refresh(obj: &AccessBinding) -> Secret {
    let now = Timestamp::now();
    let text = |t: Timestamp| ByteString(t.to_string().into_bytes());
    let source = Source::GcpToken {
        service_account: Some(SA.into()),
    };
    let mut s = secret_like();
    s.metadata.owner_references = Some(vec![obj.controller_owner_ref(&()).unwrap()]);
    s.metadata.annotations = Some(BTreeMap::from([(
        CREDENTIAL_ANNOTATION.into(),
        source.fingerprint(GCP_CLUSTER),
    )]));
    s.data = Some(BTreeMap::from([
        ("password".into(), ByteString(b"ya29.still-valid".to_vec())),
        (
            "expires-at".into(),
            text(now + SignedDuration::from_hours(1)),
        ),
        (
            "refresh-at".into(),
            text(now - SignedDuration::from_mins(1)),
        ),
    ]));
    s
}

#[tokio::test]
async fn each_kind_of_failed_token_is_said_and_retried() {
    // The operator has no Google identity of its own, and IAM Credentials is down.
    let cloud = || {
        let fakes = Fakes::default();
        let denied = error(ErrorClass::Unauthenticated, "credentials", "gcp token");
        let down = error(
            ErrorClass::Unavailable,
            "UNAVAILABLE",
            "iamcredentials generateAccessToken",
        );
        fakes.access_tokens.fail("access_token operator", denied);
        (fakes, down)
    };
    let as_operator: AccessBinding = app("orders", "readers").parse();
    let as_sa: AccessBinding = app("orders", "readers").binding_user(SA).parse();
    // (case, binding, clouds, a Secret with a valid token) → (conditions, event reason)
    #[rustfmt::skip]
    let table = [
        ("denied: no identity of its own", &as_operator, false, None,
            "Reconciling: PermissionDenied @1", "PermissionDenied"),
        ("the cloud is down", &as_sa, true, None,
            "Reconciling: RefreshFailed @1", "RefreshFailed"),
        ("down, with a token still valid", &as_sa, true, Some(due_for_refresh(&as_sa)),
            "Ready+Reconciling: CredentialsIssued @1", "RefreshFailed"),
    ];
    for (case, obj, down, existing, conditions, reason) in table {
        let (fakes, outage) = cloud();
        if down {
            fakes.access_tokens.fail("access_token", outage);
        }
        // A Secret the binding wrote is in the cache of the operator's Secrets.
        let world = match &existing {
            Some(s) => gcp_world_with(Fill::default().secret(s.clone())),
            None => gcp_world(),
        };
        let (ctx, api) = serving(world, &fakes, obj).await;
        if let Some(s) = &existing {
            api.put(s);
        }
        let result = pass(&ctx, obj).await;
        assert!(
            matches!(
                &result,
                Err(Error::Cloud {
                    step: Step::Apply,
                    ..
                })
            ),
            "{case}: {result:?}"
        );
        assert_eq!(
            api.writes(),
            [status_write(obj), EVENT.into()],
            "{case}: the Secret is kept"
        );
        assert_eq!(api.status().1, conditions, "{case}");
        let (type_, r, note) = api.events().pop().unwrap();
        assert_eq!((type_.as_str(), r.as_str()), ("Warning", reason), "{case}");
        assert!(!note.contains("ya29"), "{case}: {note}");
    }
}
