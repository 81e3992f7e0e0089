//! The UserGroup plan, branch by branch: which users and writes a group needs in each
//! situation, the rotation of its passwords, its grants, and its deletion.

use std::collections::BTreeMap;
use std::time::Duration;

use cache_operator_api::model::AwsUserModel;
use cache_operator_cloud::ErrorClass;
use cache_operator_testkit::at;

use super::*;
use crate::controller::refs::Listing;

const HOUR: Duration = Duration::from_secs(3600);
const OVERLAP: Duration = Duration::from_secs(600);

fn group(engine: AwsEngine, users: &[(&str, &str, UserAuthentication)]) -> AwsUserGroup {
    AwsUserGroup {
        region: "us-east-1".into(),
        user_group_id: "sessions-users".into(),
        engine,
        users: users
            .iter()
            .map(|(id, name, auth)| AwsUserModel {
                user_id: id.to_string(),
                user_name: name.to_string(),
                access_string: "on ~* +@all".into(),
                authentication: *auth,
            })
            .collect(),
    }
}

use UserAuthentication::{Iam, Password as Pw};

#[test]
fn a_redis_group_without_a_default_user_gets_a_disabled_stand_in() {
    let w = wanted_users(&group(AwsEngine::Redis, &[("app", "app", Pw)]));
    assert_eq!(w.len(), 2);
    assert_eq!(
        (w[0].user_id.as_str(), w[0].user_name.as_str()),
        ("sessions-users-default", "default")
    );
    assert_eq!(w[0].kind, UserKind::StandIn);
    assert_eq!(w[0].access_string, STAND_IN_ACCESS);
    let own = wanted_users(&group(
        AwsEngine::Redis,
        &[("my-default", "default", Iam), ("app", "app", Pw)],
    ));
    assert_eq!(own.len(), 2, "its own default user, no stand-in");
    let valkey = wanted_users(&group(AwsEngine::Valkey, &[("app", "app", Iam)]));
    assert_eq!(valkey.len(), 1, "valkey groups need no default user");
}

#[test]
fn membership_changes_by_difference() {
    let (add, remove) = membership_diff(&["a".into(), "b".into()], &["b".into(), "c".into()]);
    assert_eq!((add, remove), (vec!["a".into()], vec!["c".into()]));
    let (add, remove) = membership_diff(&["App".into()], &["app".into()]);
    assert!(add.is_empty() && remove.is_empty(), "IDs compare lowercase");
}

fn seen_user(id: &str, status: &str, access: &str, auth: ObservedAuth) -> ObservedUser {
    ObservedUser {
        user_id: id.into(),
        user_name: id.into(),
        status: status.into(),
        access_string: access.into(),
        auth,
        user_group_ids: Vec::new(),
        arn: format!("arn:aws:elasticache:us-east-1:1:user:{id}"),
    }
}

fn wanted(kind: UserKind) -> WantedUser {
    WantedUser {
        user_id: "app".into(),
        user_name: "app".into(),
        access_string: "on ~* +@all".into(),
        kind,
    }
}

#[test]
fn iam_and_stand_in_users_are_created_waited_for_updated_or_left() {
    let full = "on ~* +@all";
    let iam = ObservedAuth::Iam;
    let pw = ObservedAuth::Password { count: 1 };
    let u = |status, access, auth| Some(seen_user("app", status, access, auth));
    #[rustfmt::skip]
    let table = [
        ("absent", UserKind::Iam, None, UserStep::Create),
        ("busy", UserKind::Iam, u("modifying", full, iam), UserStep::Wait("user app is modifying".into())),
        ("as specified", UserKind::Iam, u("active", full, iam), UserStep::Done),
        ("access string", UserKind::Iam, u("active", "on ~x -@all", iam),
            UserStep::Modify(UserChange { access_string: Some(full.into()), auth: None })),
        ("authentication", UserKind::Iam, u("active", full, pw),
            UserStep::Modify(UserChange { access_string: None, auth: Some(UserAuth::Iam) })),
        ("a stand-in keeps its password", UserKind::StandIn, u("active", full, pw), UserStep::Done),
    ];
    for (case, kind, observed, want) in table {
        assert_eq!(user_step(&wanted(kind), observed.as_ref()), want, "{case}");
    }
}

#[test]
fn a_user_name_taken_under_our_id_is_named() {
    let mut other = seen_user("app", "active", "on ~* +@all", ObservedAuth::Iam);
    other.user_name = "someone".into();
    let msg = name_conflict(&wanted(UserKind::Iam), Some(&other)).unwrap();
    assert!(msg.contains("user names cannot change"), "{msg}");
    let same = seen_user("app", "active", "on ~* +@all", ObservedAuth::Iam);
    assert!(name_conflict(&wanted(UserKind::Iam), Some(&same)).is_none());
    assert!(name_conflict(&wanted(UserKind::Iam), None).is_none());
}

#[test]
fn dropped_users_are_deleted_once_and_forgotten_when_gone() {
    let u = |status| seen_user("old", status, "", ObservedAuth::Iam);
    assert_eq!(dropped(Some(&u("active"))), Dropped::Delete);
    assert_eq!(dropped(Some(&u("deleting"))), Dropped::Deleting);
    assert_eq!(dropped(None), Dropped::Forget);
    assert_eq!(CloudStatus::of("creating"), CloudStatus::Busy);
    assert_eq!(CloudStatus::of("active"), CloudStatus::Active);
}

#[test]
fn durations_read_as_people_write_them() {
    assert_eq!(humantime(Duration::from_secs(7200)), "2h");
    assert_eq!(humantime(Duration::from_secs(600)), "10m");
    assert_eq!(humantime(Duration::from_secs(90)), "90s");
}

fn listing(name: &str, gcp: Option<(&str, &str)>) -> Listing {
    Listing {
        name: format!("shop/{name}"),
        provider: if gcp.is_some() {
            Provider::Gcp
        } else {
            Provider::Aws
        },
        gcp: gcp.map(|(p, c)| (p.to_owned(), c.to_owned())),
    }
}

#[test]
fn each_gcp_cluster_listing_the_group_gets_one_grant_in_its_project() {
    let members = GcpUserGroup {
        members: vec!["serviceAccount:a@p.iam.gserviceaccount.com".into()],
    };
    let grants = wanted_grants(
        &members,
        &[
            listing(
                "orders",
                Some((
                    "shop-prod",
                    "projects/shop-prod/locations/r/clusters/orders",
                )),
            ),
            listing(
                "carts",
                Some(("shop-prod", "projects/shop-prod/locations/r/clusters/carts")),
            ),
            listing(
                "audit",
                Some((
                    "shop-audit",
                    "projects/shop-audit/locations/r/clusters/audit",
                )),
            ),
            listing("sessions", None),
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
                vec!["projects/shop-audit/locations/r/clusters/audit"]
            ),
            (
                "shop-prod",
                vec![
                    "projects/shop-prod/locations/r/clusters/carts",
                    "projects/shop-prod/locations/r/clusters/orders",
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

    // A pass writes the projects it grants in and those it granted in before.
    let status = UserGroupStatus {
        grants: vec![cache_operator_api::user_group::IamGrants {
            project: "old-project".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let seen = observed(vec![listing(
        "orders",
        Some((
            "shop-prod",
            "projects/shop-prod/locations/r/clusters/orders",
        )),
    )]);
    let Plan::Gcp(p) = plan(
        &Ok(DesiredUserGroup::Gcp(members)),
        &seen,
        facts(&status, 0),
    ) else {
        panic!("a gcp plan")
    };
    let projects: Vec<(&str, usize)> = p
        .projects
        .iter()
        .map(|(p, g)| (p.as_str(), g.len()))
        .collect();
    assert_eq!(projects, [("old-project", 0), ("shop-prod", 1)]);
    assert_eq!((p.covered, p.members, p.clusters.count), (1, 1, 1));
}

fn observed(clusters: Vec<Listing>) -> Observed {
    Observed {
        clusters,
        gcp_digest: "digest".into(),
        tags: vec![("owner".into(), "uid-g".into())],
        aws: None,
    }
}

fn facts(status: &UserGroupStatus, now: i64) -> Facts<'_> {
    Facts {
        status,
        now: at(now),
        overlap: OVERLAP,
    }
}

/// What an aws group sees: `users` in the cloud, the `group` (when it exists), the records.
fn aws_world(
    users: Vec<ObservedUser>,
    group: Option<ObservedUserGroup>,
    records: Option<BTreeMap<String, PasswordEntry>>,
) -> Observed {
    let mut seen = observed(vec![listing("sessions", None)]);
    seen.aws = Some(Ok(AwsSeen {
        records,
        users: users.into_iter().map(|u| (u.user_id.clone(), u)).collect(),
        group,
        intervals: BTreeMap::from([("app".to_owned(), HOUR)]),
        fresh: vec!["fresh-1".into(), "fresh-2".into(), "fresh-3".into()],
    }));
    seen
}

fn active_group(members: &[&str]) -> ObservedUserGroup {
    ObservedUserGroup {
        user_group_id: "sessions-users".into(),
        status: "active".into(),
        engine: "redis".into(),
        user_ids: members.iter().map(|m| m.to_string()).collect(),
        pending_add: Vec::new(),
        pending_remove: Vec::new(),
        replication_groups: Vec::new(),
        arn: "arn:aws:elasticache:us-east-1:1:usergroup:sessions-users".into(),
    }
}

fn aws_plan(g: &AwsUserGroup, seen: &Observed, status: &UserGroupStatus, now: i64) -> AwsPlan {
    match plan(
        &Ok(DesiredUserGroup::Aws(g.clone())),
        seen,
        facts(status, now),
    ) {
        Plan::Aws(p) => *p,
        other => panic!("expected an aws plan, got {other:?}"),
    }
}

/// A write in short: `CreateUser app`, `ModifyUser app`, …
fn short(w: &Write) -> String {
    match w {
        Write::CreateUser { user, .. } => format!("CreateUser {}", user.user_id),
        Write::ModifyUser { user_id, .. } => format!("ModifyUser {user_id}"),
        Write::CreateGroup { user_ids, .. } => format!("CreateGroup {}", user_ids.join(",")),
        Write::ModifyGroup { add, remove } => format!("ModifyGroup +{add:?} -{remove:?}"),
        Write::DeleteUser { user_id, gone } => format!("DeleteUser {user_id} gone={gone}"),
    }
}

fn writes(p: &AwsPlan) -> Vec<String> {
    p.writes.iter().map(short).collect()
}

fn says(p: &AwsPlan) -> (&str, &str, Next) {
    let kind = match p.outcome.summary {
        Summary::Ready { .. } => "ready",
        Summary::Progressing { .. } => "progressing",
        Summary::Stalled { .. } => "stalled",
        _ => "other",
    };
    (kind, p.outcome.summary.reason(), p.outcome.next.clone())
}

/// The group's own steps: users first, then the user group, membership, dropped users.
#[test]
fn an_aws_group_makes_its_users_then_itself_then_keeps_its_membership() {
    let g = group(AwsEngine::Redis, &[("app", "app", Iam)]);
    let full = "on ~* +@all";
    let none = UserGroupStatus::default();
    let made = UserGroupStatus {
        users: vec!["app".into(), "old".into(), "sessions-users-default".into()],
        user_group_id: Some("sessions-users".into()),
        ..Default::default()
    };
    let app = seen_user("app", "active", full, ObservedAuth::Iam);
    let mut stand_in = seen_user(
        "sessions-users-default",
        "active",
        STAND_IN_ACCESS,
        ObservedAuth::Password { count: 1 },
    );
    stand_in.user_name = "default".into();
    let both = || vec![app.clone(), stand_in.clone()];
    let creating = ObservedUserGroup {
        status: "creating".into(),
        ..active_group(&[])
    };
    let mut busy_app = app.clone();
    busy_app.status = "modifying".into();
    let old = seen_user("old", "active", full, ObservedAuth::Iam);
    let mut leaving = old.clone();
    leaving.status = "deleting".into();
    let mut taken = app.clone();
    taken.user_name = "someone".into();
    // (case, what it sees, status) → (writes, conditions, next)
    type Row<'a> = (
        &'a str,
        Observed,
        &'a UserGroupStatus,
        Vec<&'a str>,
        (&'a str, &'a str, Next),
    );
    #[rustfmt::skip]
    let table: Vec<Row> = vec![
        ("nothing yet: users, then the group", aws_world(vec![], None, None), &none,
            vec!["CreateUser sessions-users-default", "CreateUser app", "CreateGroup sessions-users-default,app"],
            ("progressing", reason::UPDATING, Next::Soon)),
        ("a user is busy and another absent: no group yet", aws_world(vec![busy_app.clone()], None, None), &none,
            vec!["CreateUser sessions-users-default"],
            ("progressing", reason::CREATING, Next::Soon)),
        ("the group is being created", aws_world(both(), Some(creating), None), &made,
            vec![], ("progressing", reason::UPDATING, Next::Soon)),
        ("a member is missing", aws_world(both(), Some(active_group(&["sessions-users-default"])), None), &made,
            vec!["ModifyGroup +[\"app\"] -[]"], ("progressing", reason::UPDATING, Next::Soon)),
        ("a dropped user is deleted, a gone one forgotten",
            aws_world(vec![app.clone(), stand_in.clone(), old.clone()], Some(active_group(&["app", "sessions-users-default"])), None), &made,
            vec!["DeleteUser old gone=false"], ("ready", reason::AVAILABLE, Next::Resync)),
        ("a dropped user being deleted is waited for",
            aws_world(vec![app.clone(), stand_in.clone(), leaving], Some(active_group(&["app", "sessions-users-default"])), None), &made,
            vec![], ("progressing", reason::UPDATING, Next::Soon)),
        ("a user name taken under our ID stalls", aws_world(vec![taken, stand_in.clone()], None, None), &none,
            vec![], ("stalled", reason::ALREADY_EXISTS, Next::Resync)),
        ("all as the spec says", aws_world(both(), Some(active_group(&["app", "sessions-users-default"])), None), &made,
            vec!["DeleteUser old gone=true"], ("ready", reason::AVAILABLE, Next::Resync)),
    ];
    for (case, seen, status, want, ends) in table {
        let p = aws_plan(&g, &seen, status, 0);
        assert_eq!(writes(&p), want, "{case}");
        assert_eq!(says(&p), ends, "{case}");
    }
    // The users about to be created are recorded first; the Ready message names the clusters.
    let p = aws_plan(&g, &aws_world(vec![], None, None), &none, 0);
    assert_eq!(p.users, ["app", "sessions-users-default"]);
    let p = aws_plan(
        &g,
        &aws_world(
            both(),
            Some(active_group(&["app", "sessions-users-default"])),
            None,
        ),
        &made,
        0,
    );
    assert_eq!(
        p.outcome.summary.message(),
        "user group sessions-users is active with 2 user(s); listed by shop/sessions"
    );
}

fn entry(current: &str, rotated_at: i64) -> PasswordEntry {
    PasswordEntry {
        rotate_at: Some(at(rotated_at) + HOUR),
        ..PasswordEntry::new(current.into(), at(rotated_at))
    }
}

/// A password user along its life: a first password, a rotation with its overlap, a cloud
/// that lost the record's passwords.
#[test]
fn a_password_user_is_given_a_password_and_rotated_with_an_overlap() {
    let g = group(AwsEngine::Valkey, &[("app", "app", Pw)]);
    let full = "on ~* +@all";
    let made = UserGroupStatus {
        users: vec!["app".into()],
        user_group_id: Some("sessions-users".into()),
        ..Default::default()
    };
    let active = |count| seen_user("app", "active", full, ObservedAuth::Password { count });
    let world = |user: Option<ObservedUser>, e: Option<PasswordEntry>| {
        aws_world(
            user.into_iter().collect(),
            Some(active_group(&["app"])),
            e.map(|e| BTreeMap::from([("app".to_owned(), e)])),
        )
    };
    let mut adding = entry("p1", 0);
    adding.pending = Some("p2".into());
    let mut overlapping = entry("p2", 3600);
    overlapping.previous = Some("p1".into());
    let mut modifying = active(1);
    modifying.status = "modifying".into();
    let mut other_access = active(1);
    other_access.access_string = "on ~x -@all".into();
    // (case, user, record, now) → (writes, what the records become, conditions, next)
    type Row<'a> = (
        &'a str,
        Option<ObservedUser>,
        Option<PasswordEntry>,
        i64,
        Vec<&'a str>,
        Option<(&'a str, Option<&'a str>, Option<&'a str>)>,
        (&'a str, Next),
    );
    #[rustfmt::skip]
    let table: Vec<Row> = vec![
        ("absent, nothing recorded: created with a first password", None, None, 0,
            vec!["CreateUser app"], None, ("ready", Next::Resync)),
        ("existing, nothing recorded: its passwords replaced", Some(active(2)), None, 0,
            vec!["ModifyUser app"], None, ("progressing", Next::Soon)),
        ("busy, nothing recorded: waited for", Some(modifying.clone()), None, 0,
            vec![], None, ("progressing", Next::Soon)),
        ("recorded but gone: made again", None, Some(entry("p1", 0)), 10,
            vec!["CreateUser app"], Some(("p1", None, None)), ("ready", Next::Resync)),
        ("steady, not due", Some(active(1)), Some(entry("p1", 0)), 10,
            vec![], Some(("p1", None, None)), ("ready", Next::ResyncBy(at(3600)))),
        ("due: a pending one recorded and added", Some(active(1)), Some(entry("p1", 0)), 3600,
            vec!["ModifyUser app"], Some(("p1", Some("fresh-1"), None)), ("ready", Next::Soon)),
        ("both in the cloud: promoted, the overlap runs", Some(active(2)), Some(adding.clone()), 3610,
            vec![], Some(("p2", None, Some("p1"))), ("ready", Next::ResyncBy(at(3610 + 600)))),
        ("the overlap is over: the previous one removed", Some(active(2)), Some(overlapping.clone()), 4200,
            vec!["ModifyUser app"], Some(("p2", None, Some("p1"))), ("ready", Next::Soon)),
        ("removed in the cloud: forgotten", Some(active(1)), Some(overlapping.clone()), 4201,
            vec![], Some(("p2", None, None)), ("ready", Next::ResyncBy(at(7200)))),
        ("the cloud lost one during the overlap: restored", Some(active(1)), Some(overlapping.clone()), 3700,
            vec!["ModifyUser app"], Some(("p2", None, Some("p1"))), ("progressing", Next::Soon)),
        ("a rotation under way, the cloud busy", Some(modifying), Some(adding), 3605,
            vec![], Some(("p1", Some("p2"), None)), ("ready", Next::Soon)),
        ("another access string, nothing due", Some(other_access), Some(entry("p1", 0)), 10,
            vec!["ModifyUser app"], Some(("p1", None, None)), ("progressing", Next::Soon)),
    ];
    for (case, user, e, now, want, record, ends) in table {
        let p = aws_plan(&g, &world(user, e), &made, now);
        assert_eq!(writes(&p), want, "{case}");
        let r = p.records.get("app").map(|e| {
            (
                e.current.as_str(),
                e.pending.as_deref(),
                e.previous.as_deref(),
            )
        });
        if let Some(record) = record {
            assert_eq!(r, Some(record), "{case}");
        }
        let (kind, _, next) = says(&p);
        assert_eq!((kind, next), ends, "{case}");
    }
    // A first password is recorded once the write that sets it is made.
    let p = aws_plan(&g, &world(None, None), &made, 0);
    let Write::CreateUser {
        record: Some(r),
        user,
    } = &p.writes[0]
    else {
        panic!("a create that records its password")
    };
    assert_eq!(r.current, "fresh-1");
    assert_eq!(r.rotate_at, Some(at(3600)));
    assert!(format!("{user:?}").contains("<redacted>"));
    // A promotion is said; the new record is saved before any call.
    let mut adding = entry("p1", 0);
    adding.pending = Some("p2".into());
    let p = aws_plan(&g, &world(Some(active(2)), Some(adding)), &made, 3610);
    assert!(p.save_records);
    assert_eq!(p.notes.len(), 1);
    assert_eq!(
        p.notes[0].text,
        "user app has a new password; the previous one works for 10m more"
    );
}

#[test]
fn a_cloud_that_could_not_be_read_or_an_invalid_spec_writes_nothing() {
    let status = UserGroupStatus::default();
    let mut seen = observed(vec![listing("sessions", None)]);
    let e = CloudError::new(
        ErrorClass::Unavailable,
        "503",
        "down",
        "elasticache DescribeUsers",
    );
    seen.aws = Some(Err(e));
    let g = group(AwsEngine::Redis, &[("app", "app", Iam)]);
    let Plan::Stop(Stopping::Unreadable(_, clusters)) =
        plan(&Ok(DesiredUserGroup::Aws(g)), &seen, facts(&status, 0))
    else {
        panic!("a stop")
    };
    assert_eq!(clusters.names, ["shop/sessions"]);
    let invalid = FieldErrors::default();
    let Plan::Stop(Stopping::Outcome(o)) = plan(&Err(invalid), &seen, facts(&status, 0)) else {
        panic!("a stop")
    };
    assert_eq!(
        (o.summary.reason(), o.next),
        (reason::INVALID_SPEC, Next::AwaitChange)
    );
}

/// A deletion, by what is left in the cloud.
#[test]
fn a_group_goes_in_dependency_order() {
    let aws_group: Result<DesiredUserGroup, FieldErrors> = Ok(DesiredUserGroup::Aws(group(
        AwsEngine::Redis,
        &[("app", "app", Iam)],
    )));
    let status = UserGroupStatus {
        users: vec!["app".into(), "sessions-users-default".into()],
        ..Default::default()
    };
    let leaving = |clusters: Vec<Listing>, group: Option<(ObservedUserGroup, bool)>| Leaving {
        clusters,
        region: "us-east-1".into(),
        group_id: "sessions-users".into(),
        group,
    };
    let attached = ObservedUserGroup {
        replication_groups: vec!["sessions".into()],
        ..active_group(&[])
    };
    let deleting = ObservedUserGroup {
        status: "deleting".into(),
        ..active_group(&[])
    };
    let l = |clusters, group| {
        leave(
            &aws_group,
            Provider::Aws,
            Some(&leaving(clusters, group)),
            &status,
        )
    };
    assert!(matches!(
        l(vec![listing("sessions", None)], None),
        Leave::InUse(_)
    ));
    assert!(
        matches!(l(vec![], Some((attached, true))), Leave::Attached(o) if o.next == Next::Slowly)
    );
    assert!(matches!(
        l(vec![], Some((active_group(&[]), false))),
        Leave::Release {
            forget_records: true,
            note: Some(_)
        }
    ));
    assert!(matches!(
        l(vec![], Some((active_group(&[]), true))),
        Leave::DeleteGroup { already: false, .. }
    ));
    assert!(matches!(
        l(vec![], Some((deleting, true))),
        Leave::DeleteGroup { already: true, .. }
    ));
    let Leave::DeleteUsers { users, .. } = l(vec![], None) else {
        panic!("the users go once the group is gone")
    };
    assert_eq!(users, status.users);
    // gcp: every project granted before, and those the spec would grant in.
    let gcp_status = UserGroupStatus {
        grants: vec![cache_operator_api::user_group::IamGrants {
            project: "old".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let members = Ok(DesiredUserGroup::Gcp(GcpUserGroup {
        members: vec!["user:a@example.com".into()],
    }));
    let here = leaving(
        vec![listing(
            "orders",
            Some((
                "shop-prod",
                "projects/shop-prod/locations/r/clusters/orders",
            )),
        )],
        None,
    );
    let Leave::Ungrant { projects } = leave(&members, Provider::Gcp, Some(&here), &gcp_status)
    else {
        panic!("ungrant")
    };
    assert_eq!(projects, ["old", "shop-prod"]);
}

#[test]
fn valkey_instances_refuse_group_and_domain_members_by_name() {
    let members = GcpUserGroup {
        members: vec![
            "serviceAccount:app@shop-prod.iam.gserviceaccount.com".into(),
            "group:devs@example.com".into(),
            "domain:example.com".into(),
        ],
    };
    let instance = listing(
        "orders",
        Some((
            "shop-prod",
            "projects/shop-prod/locations/r/instances/orders",
        )),
    );
    let cluster = listing(
        "sessions",
        Some((
            "shop-prod",
            "projects/shop-prod/locations/r/clusters/sessions",
        )),
    );
    let status = UserGroupStatus::default();
    let Plan::Stop(Stopping::Outcome(o)) = plan(
        &Ok(DesiredUserGroup::Gcp(members.clone())),
        &observed(vec![instance.clone(), cluster.clone()]),
        facts(&status, 0),
    ) else {
        panic!("refused")
    };
    let Summary::Stalled { reason, message } = &o.summary else {
        panic!("stalled: {o:?}")
    };
    assert_eq!(reason, reason::UNSUPPORTED_PRINCIPAL);
    assert!(
        message.contains("group:devs@example.com, domain:example.com"),
        "{message}"
    );
    assert!(message.contains("shop/orders"), "{message}");
    assert!(!message.contains("app@shop-prod"), "{message}");

    // Redis Cluster alone takes them; users and service accounts alone suit Valkey too.
    assert!(matches!(
        plan(
            &Ok(DesiredUserGroup::Gcp(members)),
            &observed(vec![cluster]),
            facts(&status, 0)
        ),
        Plan::Gcp(_)
    ));
    let accepted = GcpUserGroup {
        members: vec!["user:amy@example.com".into()],
    };
    let Plan::Gcp(p) = plan(
        &Ok(DesiredUserGroup::Gcp(accepted)),
        &observed(vec![instance]),
        facts(&status, 0),
    ) else {
        panic!("a gcp plan")
    };
    assert_eq!(
        p.projects[0].1[0].cluster,
        "projects/shop-prod/locations/r/instances/orders"
    );
}
