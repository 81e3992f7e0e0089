//! The UserGroup plan, decision by decision.

use cache_operator_api::cluster::{AwsEngine, RedisCluster};
use cache_operator_api::model::AwsUserModel;
use cache_operator_testkit::cluster;
use kube::core::DeserializeGuard;

use super::*;

fn group(engine: AwsEngine, users: &[(&str, &str)]) -> AwsUserGroup {
    AwsUserGroup {
        region: "us-east-1".into(),
        user_group_id: "sessions-users".into(),
        engine,
        users: users
            .iter()
            .map(|(id, name)| AwsUserModel {
                user_id: id.to_string(),
                user_name: name.to_string(),
                access_string: "on ~* +@all".into(),
                authentication: UserAuthentication::Password,
            })
            .collect(),
    }
}

#[test]
fn a_redis_group_without_a_default_user_gets_a_disabled_stand_in() {
    let w = wanted_users(&group(AwsEngine::Redis, &[("app", "app")]));
    assert_eq!(w.len(), 2);
    assert_eq!(w[0].user_id, "sessions-users-default");
    assert_eq!(w[0].user_name, "default");
    assert_eq!(w[0].access_string, STAND_IN_ACCESS);
    assert_eq!(w[0].kind, UserKind::StandIn);
    // A listed default user, or a valkey group, needs none.
    assert_eq!(
        wanted_users(&group(
            AwsEngine::Redis,
            &[("app", "app"), ("mine", "default")]
        ))
        .len(),
        2
    );
    assert_eq!(
        wanted_users(&group(AwsEngine::Valkey, &[("app", "app")])).len(),
        1
    );
}

#[test]
fn membership_changes_by_difference() {
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (add, remove) = membership_diff(
        &ids(&["g-default", "app", "new"]),
        &ids(&["default", "app", "old"]),
    );
    assert_eq!(add, ids(&["g-default", "new"]));
    assert_eq!(remove, ids(&["default", "old"]));
    let (add, remove) = membership_diff(&ids(&["a", "b"]), &ids(&["B", "a"]));
    assert!(add.is_empty() && remove.is_empty(), "IDs compare lowercase");
}

fn cluster(name: &str, provider: &str, project: &str) -> Arc<ClusterGuard> {
    let m = if provider == "gcp" {
        cluster::gcp(name)
            .auth("iam")
            .project(project)
            .user_groups(&["clients"])
    } else {
        cluster::aws(name).auth("iam").user_groups(&["clients"])
    };
    let c: RedisCluster = m.namespace("shop").parse();
    Arc::new(DeserializeGuard(Ok(c)))
}

#[test]
fn each_gcp_cluster_listing_the_group_gets_one_grant_in_its_project() {
    let members = GcpUserGroup {
        members: vec!["serviceAccount:a@p.iam.gserviceaccount.com".into()],
    };
    let grants = wanted_grants(
        &members,
        &[
            cluster("orders", "gcp", "shop-prod"),
            cluster("carts", "gcp", "shop-prod"),
            cluster("audit", "gcp", "shop-audit"),
            cluster("sessions", "aws", ""),
        ],
    );
    let clusters: Vec<(&str, Vec<&str>)> = grants
        .iter()
        .map(|(p, g)| (p.as_str(), g.iter().map(|g| g.cluster.as_str()).collect()))
        .collect();
    assert_eq!(
        clusters,
        vec![
            (
                "shop-audit",
                vec!["projects/shop-audit/locations/us-central1/clusters/audit"]
            ),
            (
                "shop-prod",
                vec![
                    "projects/shop-prod/locations/us-central1/clusters/carts",
                    "projects/shop-prod/locations/us-central1/clusters/orders",
                ]
            ),
        ]
    );
    assert!(
        grants
            .values()
            .flatten()
            .all(|g| g.members == members.members)
    );
}

fn wanted(kind: UserKind) -> WantedUser {
    WantedUser {
        user_id: "app".into(),
        user_name: "app".into(),
        access_string: "on ~* +@all".into(),
        kind,
    }
}

fn seen(status: &str, access: &str, auth: ObservedAuth) -> ObservedUser {
    ObservedUser {
        user_id: "app".into(),
        user_name: "app".into(),
        status: status.into(),
        access_string: access.into(),
        auth,
        user_group_ids: Vec::new(),
        arn: "arn:aws:elasticache:us-east-1:1:user:app".into(),
    }
}

#[test]
fn iam_and_stand_in_users_are_created_waited_for_updated_or_left() {
    let full = "on ~* +@all";
    let iam = ObservedAuth::Iam;
    let pw = ObservedAuth::Password { count: 1 };
    let table = [
        ("absent", UserKind::Iam, None, UserStep::Create),
        (
            "busy",
            UserKind::Iam,
            Some(seen("modifying", full, iam)),
            UserStep::Wait("user app is modifying".into()),
        ),
        (
            "as specified",
            UserKind::Iam,
            Some(seen("active", full, iam)),
            UserStep::Done,
        ),
        (
            "access string",
            UserKind::Iam,
            Some(seen("active", "on ~x -@all", iam)),
            UserStep::Modify(UserChange {
                access_string: Some(full.into()),
                auth: None,
            }),
        ),
        (
            "authentication",
            UserKind::Iam,
            Some(seen("active", full, pw)),
            UserStep::Modify(UserChange {
                access_string: None,
                auth: Some(UserAuth::Iam),
            }),
        ),
        (
            "a stand-in keeps its password",
            UserKind::StandIn,
            Some(seen("active", full, pw)),
            UserStep::Done,
        ),
    ];
    for (case, kind, observed, want) in table {
        assert_eq!(user_step(&wanted(kind), observed.as_ref()), want, "{case}");
    }
}

#[test]
fn a_user_name_taken_under_our_id_stalls() {
    let mut other = seen("active", "on ~* +@all", ObservedAuth::Iam);
    other.user_name = "someone".into();
    let (r, msg) = name_conflict(&wanted(UserKind::Iam), Some(&other)).unwrap();
    assert_eq!(r, reason::ALREADY_EXISTS);
    assert!(msg.contains("user names cannot change"), "{msg}");
    let same = seen("active", "on ~* +@all", ObservedAuth::Iam);
    assert!(name_conflict(&wanted(UserKind::Iam), Some(&same)).is_none());
    assert!(name_conflict(&wanted(UserKind::Iam), None).is_none());
}

#[test]
fn dropped_users_are_deleted_once_and_forgotten_when_gone() {
    let u = |status| seen(status, "", ObservedAuth::Iam);
    assert_eq!(dropped(Some(&u("active"))), Dropped::Delete);
    assert_eq!(dropped(Some(&u("deleting"))), Dropped::Deleting);
    assert_eq!(dropped(None), Dropped::Forget);
    assert_eq!(CloudStatus::of("creating"), CloudStatus::Busy);
    assert_eq!(CloudStatus::of("active"), CloudStatus::Active);
}

#[test]
fn durations_read_as_people_write_them() {
    use std::time::Duration;
    assert_eq!(humantime(Duration::from_secs(7200)), "2h");
    assert_eq!(humantime(Duration::from_secs(600)), "10m");
    assert_eq!(humantime(Duration::from_secs(90)), "90s");
}
