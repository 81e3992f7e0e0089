//! The access clients (ElastiCache users and user groups, IAM policy grants) against the cloud
//! simulator in-process, over the real wire protocols.

mod common;

use std::sync::Arc;

use cache_operator_api::model::AwsEngine;
use cache_operator_cloud::ErrorClass;
use cache_operator_cloud::aws::users::{
    AwsUsers, NewUser, ObservedAuth, ObservedUser, Password, UserAuth, UserChange,
};
use cache_operator_cloud::aws::{AwsClients, Users};
use cache_operator_cloud::error::NoObserver;
use cache_operator_cloud::gcp::grants::{CONNECTION_ROLE, Grant, GrantOwner, Grants, PolicyEditor};
use cache_operator_cloud::gcp::iam::{Policy, ResourceManager};
use cache_operator_cloud::gcp::{GcpAuth, GoogleRest};
use serde_json::json;

use common::{eventually, sim};

const REGION: &str = "eu-west-1";

async fn aws_users(base: &str) -> AwsUsers {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDCLOUDSIM",
            "cloudsim-secret-access-key",
            None,
            None,
            "test",
        ))
        .load()
        .await;
    AwsUsers::new(AwsClients::from_config(
        conf,
        Some(base.to_owned()),
        Arc::new(NoObserver),
    ))
}

fn user(id: &str, name: &str, auth: UserAuth) -> NewUser {
    NewUser {
        user_id: id.into(),
        user_name: name.into(),
        engine: AwsEngine::Redis,
        access_string: "on ~* +@all".into(),
        auth,
        tags: vec![("cache-operator.io/owner-uid".into(), "uid-1".into())],
    }
}

/// One user, `None` when it does not exist.
async fn describe_user(users: &AwsUsers, id: &str) -> Option<ObservedUser> {
    let ids = [id.to_owned()];
    users.describe_users(REGION, &ids).await.unwrap().remove(id)
}

fn pw(s: &str) -> Password {
    Password::new(format!("{s}-0123456789abcdef"))
}

#[tokio::test]
async fn users_and_groups_round_trip_through_elasticache() {
    let sim = sim(false).await;
    let users = aws_users(sim.base_url()).await;

    assert_eq!(describe_user(&users, "app").await, None);
    let ids = vec![
        "app".to_owned(),
        "app-iam".to_owned(),
        "g-default".to_owned(),
    ];
    assert!(users.describe_users(REGION, &ids).await.unwrap().is_empty());

    users
        .create_user(
            REGION,
            &user("app", "app", UserAuth::Passwords(vec![pw("one")])),
        )
        .await
        .unwrap();
    users
        .create_user(REGION, &user("app-iam", "app-iam", UserAuth::Iam))
        .await
        .unwrap();
    users
        .create_user(
            REGION,
            &user("g-default", "default", UserAuth::Passwords(vec![pw("x")])),
        )
        .await
        .unwrap();
    let again = users
        .create_user(
            REGION,
            &user("app", "app", UserAuth::Passwords(vec![pw("one")])),
        )
        .await
        .unwrap_err();
    assert_eq!(again.class, ErrorClass::AlreadyExists, "{again}");

    let seen = users.describe_users(REGION, &ids).await.unwrap();
    assert_eq!(seen.len(), 3, "one filtered call finds all three");
    assert_eq!(seen["app"].auth, ObservedAuth::Password { count: 1 });
    assert_eq!(seen["app-iam"].auth, ObservedAuth::Iam);
    assert_eq!(seen["g-default"].user_name, "default");

    // Two passwords while a rotation overlaps; the user is busy meanwhile.
    let both = UserChange {
        access_string: Some("on ~app:* +@all".into()),
        auth: Some(UserAuth::Passwords(vec![pw("one"), pw("two")])),
    };
    users.modify_user(REGION, "app", &both).await.unwrap();
    let busy = users.modify_user(REGION, "app", &both).await.unwrap_err();
    assert_eq!(busy.class, ErrorClass::FailedPrecondition, "{busy}");
    let app = eventually("the user to be active", || async {
        describe_user(&users, "app").await.filter(|u| u.is_active())
    })
    .await;
    assert_eq!(app.auth, ObservedAuth::Password { count: 2 });
    assert_eq!(app.access_string, "on ~app:* +@all");

    // A redis group needs its default user; membership changes by difference.
    let group = users
        .create_user_group(
            REGION,
            "g",
            AwsEngine::Redis,
            &["g-default".to_owned(), "app".to_owned()],
            &[("cache-operator.io/owner-uid".into(), "uid-1".into())],
        )
        .await
        .unwrap();
    assert_eq!(group.status, "creating");
    let no_default = users
        .create_user_group(REGION, "h", AwsEngine::Redis, &["app".to_owned()], &[])
        .await
        .unwrap_err();
    assert_eq!(no_default.code, "DefaultUserRequired");
    eventually("the group to be active", || async {
        users
            .describe_user_group(REGION, "g")
            .await
            .unwrap()
            .filter(|g| g.is_active())
    })
    .await;
    users
        .modify_user_group(REGION, "g", &["app-iam".to_owned()], &["app".to_owned()])
        .await
        .unwrap();
    let g = eventually("the membership change", || async {
        users
            .describe_user_group(REGION, "g")
            .await
            .unwrap()
            .filter(|g| g.is_active())
    })
    .await;
    let mut members = g.user_ids.clone();
    members.sort();
    assert_eq!(members, vec!["app-iam".to_owned(), "g-default".to_owned()]);
    let tags = users.tags(REGION, &g.arn).await.unwrap();
    assert!(tags.contains(&("cache-operator.io/owner-uid".into(), "uid-1".into())));

    users.delete_user_group(REGION, "g").await.unwrap();
    eventually("the group to be gone", || async {
        users
            .describe_user_group(REGION, "g")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    users
        .delete_user_group(REGION, "g")
        .await
        .expect("already gone is fine");
    for id in &ids {
        users.delete_user(REGION, id).await.unwrap();
    }
    eventually("the users to be gone", || async {
        users
            .describe_users(REGION, &ids)
            .await
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
    users
        .delete_user(REGION, "app")
        .await
        .expect("already gone is fine");
    sim.shutdown().await;
}

fn owner() -> GrantOwner {
    GrantOwner {
        uid: "0b5f-uid".into(),
        namespace: "shop".into(),
        name: "orders-clients".into(),
    }
}

#[tokio::test]
async fn grants_survive_concurrent_writers_and_leave_others_alone() {
    let sim = sim(false).await;
    let rest = GoogleRest::new(GcpAuth::Anonymous, Arc::new(NoObserver));
    let rm = ResourceManager::new(rest, sim.base_url());
    let editor = PolicyEditor::new(rm.clone());
    let http = reqwest::Client::new();
    let faults = |n: u32| {
        let http = http.clone();
        let url = format!("{}/_cloudsim/faults", sim.base_url());
        async move {
            http.put(url)
                .json(&json!({"iamConflicts": n}))
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap();
        }
    };

    let seed: Policy = serde_json::from_value(json!({
        "version": 3, "etag": "ACAB",
        "bindings": [
            {"role": "roles/viewer", "members": ["user:alice@example.com"]},
            {"role": CONNECTION_ROLE, "members": ["user:bob@example.com"],
             "condition": {"title": "bob", "expression": "resource.name.startsWith(\"projects/p/locations/r/clusters/x\")"}}
        ]
    }))
    .unwrap();
    rm.set_iam_policy("p", &seed).await.unwrap();
    let before = rm.get_iam_policy("p").await.unwrap();

    let grants = [Grant {
        cluster: "projects/p/locations/r/clusters/orders".into(),
        members: vec!["serviceAccount:app@p.iam.gserviceaccount.com".into()],
    }];
    faults(3).await;
    let applied = editor.apply("p", &owner(), &grants).await.unwrap();
    assert!(applied.changed);
    assert_eq!(
        applied.conflicts, 3,
        "each conflict was re-read and retried"
    );
    let during = rm.get_iam_policy("p").await.unwrap();
    assert_eq!(during.bindings.len(), 3);
    for b in &before.bindings {
        assert!(during.bindings.contains(b), "kept: {b:?}");
    }
    assert!(
        !editor.apply("p", &owner(), &grants).await.unwrap().changed,
        "nothing to write the second time"
    );

    // Someone else keeps writing: the editor gives up after a few rounds, saying why.
    faults(50).await;
    let e = editor.apply("p", &owner(), &[]).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Conflict, "{e}");
    faults(0).await;

    editor.apply("p", &owner(), &[]).await.unwrap();
    let after = rm.get_iam_policy("p").await.unwrap();
    assert_eq!(
        serde_json::to_string(&after.bindings).unwrap(),
        serde_json::to_string(&before.bindings).unwrap(),
        "exactly the bindings that were there before"
    );
    sim.shutdown().await;
}

fn group_owner(name: &str) -> GrantOwner {
    GrantOwner {
        uid: format!("{name}-uid"),
        namespace: "shop".into(),
        name: name.into(),
    }
}

fn sa(name: &str) -> String {
    format!("serviceAccount:{name}@p.iam.gserviceaccount.com")
}

/// The grants of a group share one binding per few clusters, so a group of 1,000 on three
/// clusters is 1,000 principal occurrences and fits the policy (one binding per (group,
/// cluster) made it 3,000, over IAM's 1,500). A group that cannot fit is refused before
/// anything is written, with the numbers, and the other groups' bindings are untouched.
#[tokio::test]
async fn a_large_group_fits_or_says_why_not() {
    let sim = sim(false).await;
    let rest = GoogleRest::new(GcpAuth::Anonymous, Arc::new(NoObserver));
    let rm = ResourceManager::new(rest, sim.base_url());
    let editor = PolicyEditor::new(rm.clone());
    editor
        .apply(
            "p",
            &group_owner("small"),
            &[Grant {
                cluster: "projects/p/locations/r/clusters/a".into(),
                members: vec![sa("one")],
            }],
        )
        .await
        .unwrap();
    let members: Vec<String> = (0..1000).map(|i| sa(&format!("m{i}"))).collect();
    let on = |clusters: &[&str]| -> Vec<Grant> {
        clusters
            .iter()
            .map(|c| Grant {
                cluster: format!("projects/p/locations/r/clusters/{c}"),
                members: members.clone(),
            })
            .collect()
    };
    let applied = editor
        .apply("p", &group_owner("large"), &on(&["a", "b", "c"]))
        .await
        .expect("1,000 members on 3 clusters fit");
    assert!(applied.changed);
    assert_eq!(applied.bindings, 1);
    let policy = rm.get_iam_policy("p").await.unwrap();
    let occurrences: usize = policy.bindings.iter().map(|b| b.members.len()).sum();
    assert_eq!(occurrences, 1001);

    // Seven clusters need two bindings: 2,000 occurrences, over the limit.
    let before = rm.get_iam_policy("p").await.unwrap();
    let e = editor
        .apply(
            "p",
            &group_owner("large"),
            &on(&["a", "b", "c", "d", "e", "f", "g"]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::QuotaExceeded, "{e}");
    assert!(
        e.message.contains("2000 principal occurrences")
            && e.message.contains("2001 in all")
            && e.message.contains("limit of 1500"),
        "{e}"
    );
    let after = rm.get_iam_policy("p").await.unwrap();
    assert_eq!(
        serde_json::to_string(&after.bindings).unwrap(),
        serde_json::to_string(&before.bindings).unwrap(),
        "nothing written"
    );
    sim.shutdown().await;
}

/// A deleted service account in one group's grants: IAM refuses it as a member, so that group
/// writes its grants without it and says which member is missing, while other groups keep
/// writing theirs (the deleted member is written back as the `deleted:` form the policy shows).
#[tokio::test]
async fn a_deleted_member_is_left_out_of_its_own_group_only() {
    let sim = sim(false).await;
    let rest = GoogleRest::new(GcpAuth::Anonymous, Arc::new(NoObserver));
    let rm = ResourceManager::new(rest, sim.base_url());
    let editor = PolicyEditor::new(rm.clone());
    let cluster = "projects/p/locations/r/clusters/orders".to_owned();
    let a = [Grant {
        cluster: cluster.clone(),
        members: vec![sa("gone"), sa("stays")],
    }];
    editor.apply("p", &group_owner("a"), &a).await.unwrap();
    editor
        .apply(
            "p",
            &group_owner("b"),
            &[Grant {
                cluster: cluster.clone(),
                members: vec![sa("b1")],
            }],
        )
        .await
        .unwrap();
    let resp = reqwest::Client::new()
        .delete(format!(
            "{}/_cloudsim/gcp/service-accounts/gone@p.iam.gserviceaccount.com",
            sim.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());

    editor
        .apply(
            "p",
            &group_owner("b"),
            &[Grant {
                cluster,
                members: vec![sa("b1"), sa("b2")],
            }],
        )
        .await
        .expect("another group's grants still work");
    let a2 = [Grant {
        cluster: a[0].cluster.clone(),
        members: vec![sa("gone"), sa("stays"), sa("new")],
    }];
    let applied = editor.apply("p", &group_owner("a"), &a2).await.unwrap();
    assert_eq!(applied.missing, vec![sa("gone")]);
    assert!(applied.changed);
    let policy = rm.get_iam_policy("p").await.unwrap();
    let members: Vec<&String> = policy.bindings.iter().flat_map(|b| &b.members).collect();
    assert!(members.contains(&&sa("b2")));
    assert!(
        members.contains(&&sa("new")),
        "the group's other members are granted"
    );
    assert!(!members.contains(&&sa("gone")));
    sim.shutdown().await;
}
