//! The RedisCluster plan, decision by decision, from fixtures.

use std::time::Duration;

use cache_operator_api::cluster::{Phase, RedisClusterStatus};
use cache_operator_api::condition::reason;
use cache_operator_cloud::ErrorClass;
use cache_operator_cloud::provider::{Change, Claim, ClusterState, OperationState};

use super::*;
use crate::controller::cluster::fixtures::*;
use crate::controller::cluster::observe::Seen;
use crate::controller::cluster::observe::is_ours;
use crate::controller::cluster::status::{changed, created, failure, record};
use crate::controller::ending::Next;
use crate::controller::error::Step;
use crate::controller::status::poll;

fn report(plan: &Plan) -> &Outcome {
    match &plan.then {
        Then::Report(o) => o,
        other => panic!("expected a report, got {other:?}"),
    }
}

#[test]
fn each_cloud_state_has_one_plan() {
    use ClusterState as Cloud;
    let with_changes = Seen {
        changes: vec![Change::ShardCount(3)],
        ..seen(Cloud::Updating)
    };
    let foreign = Seen {
        claim: Claim::Foreign("created by someone else".into()),
        ..seen(Cloud::Available)
    };
    let none = RedisClusterStatus::default();
    // (case, old status, what was seen) → (phase, reason, message contains)
    #[rustfmt::skip]
    let table = [
        ("creating",                      ours(Phase::Creating), seen(Cloud::Creating),  Phase::Creating, reason::CREATING,                  "the cloud is creating"),
        ("updating says what is pending", ours(Phase::Updating), with_changes,           Phase::Updating, reason::UPDATING,                  "pending: shard count to 3"),
        ("deleting behind our back",      ours(Phase::Ready),    seen(Cloud::Deleting),  Phase::Pending,  reason::PENDING,                   "will be recreated once gone"),
        ("failed in the cloud",           ours(Phase::Ready),    seen(Cloud::Failed),    Phase::Failed,   reason::CLOUD_FAILED_PRECONDITION, "as FAILED"),
        ("a state we do not know",        ours(Phase::Ready),    seen(Cloud::Unknown),   Phase::Pending,  reason::PENDING,                   "as \"UNKNOWN\""),
        ("available and as specified",    ours(Phase::Creating), seen(Cloud::Available), Phase::Ready,    reason::AVAILABLE,                 "is available at 10.0.0.5:6379"),
        ("refuse a foreign cluster",      none,                  foreign,                Phase::Failed,   reason::ALREADY_EXISTS,            "set spec.adopt: true"),
    ];
    for (case, old, seen, phase, reason_, message) in table {
        let p = plan(&old, false, Some(&seen));
        let o = report(&p);
        assert_eq!(o.phase, phase, "{case}");
        assert_eq!(o.summary.reason(), reason_, "{case}");
        assert!(o.summary.message().contains(message), "{case}: {o:?}");
    }
}

#[test]
fn waiting_polls_steady_states_resync_and_stalls_wait_for_a_change() {
    let next = |old: RedisClusterStatus, s: Seen| report(&plan(&old, false, Some(&s))).next.clone();
    assert_eq!(
        next(ours(Phase::Creating), seen(ClusterState::Creating)),
        Next::Poll
    );
    assert_eq!(
        next(ours(Phase::Ready), seen(ClusterState::Available)),
        Next::Resync
    );
    assert_eq!(
        next(ours(Phase::Ready), seen(ClusterState::Failed)),
        Next::Resync
    );
}

#[test]
fn create_when_absent_and_say_so_when_a_ready_cluster_vanished() {
    let p = plan(&RedisClusterStatus::default(), false, None);
    assert_eq!(p.then, Then::Create { vanished: None });
    assert!(!p.record);
    let p = plan(&ours(Phase::Ready), false, None);
    assert_eq!(
        p.then,
        Then::Create {
            vanished: Some(RES.into())
        }
    );
    // Created, never seen (no uid recorded), no operation to ask: create on the same attempt.
    let unseen = RedisClusterStatus {
        cloud_uid: None,
        ..ours(Phase::Creating)
    };
    let p = plan(&unseen, false, None);
    assert_eq!(p.then, Then::Create { vanished: None });
    assert!(!p.next_attempt);
}

#[test]
fn a_new_attempt_only_when_the_last_one_ended_without_its_result() {
    let failed = OperationState::Failed {
        code: "INTERNAL".into(),
        message: "Internal error encountered.".into(),
    };
    let creating = RedisClusterStatus {
        cloud_uid: None,
        operation: Some("op-1".into()),
        ..ours(Phase::Creating)
    };
    // (case, old status, operation state, cluster seen) → (new attempt, what then)
    let gone = |old: &RedisClusterStatus, op: Option<&OperationState>| absent(old, op);
    // A create whose operation failed: reported, and the next create is a new request.
    let p = gone(&creating, Some(&failed));
    assert!(p.next_attempt && p.clear_operation, "{p:?}");
    let Then::Fail(e) = &p.then else {
        panic!("{p:?}")
    };
    assert_eq!(e.message, "Internal error encountered.");
    // A cluster we recorded disappeared: a new create, said out loud.
    let p = gone(&ours(Phase::Updating), None);
    assert!(p.next_attempt);
    assert_eq!(
        p.then,
        Then::Create {
            vanished: Some(RES.into())
        }
    );
    // Our create finished, or is forgotten, and no cluster is there: a new create.
    for over in [OperationState::Done, OperationState::Unknown] {
        let p = gone(&creating, Some(&over));
        assert!(p.next_attempt, "{over:?}");
        assert_eq!(p.then, Then::Create { vanished: None });
    }
    // Still running and not listed yet: wait, no write.
    let p = gone(&creating, Some(&OperationState::Running));
    assert!(!p.next_attempt && !p.clear_operation);
    assert_eq!(report(&p).phase, Phase::Creating);
    // Nothing known (a first create, or one whose answer was lost): the same attempt, so a
    // create that did happen is answered again instead of made twice.
    let p = gone(&RedisClusterStatus::default(), None);
    assert!(!p.next_attempt);

    let drift = Seen {
        changes: vec![Change::NodeType],
        ..seen(ClusterState::Available)
    };
    // An update whose operation failed: a new attempt for the retry.
    let p = plan(
        &following("op-2"),
        false,
        Some(&Seen {
            operation: Some(failed.clone()),
            ..drift.clone()
        }),
    );
    assert!(p.next_attempt && matches!(p.then, Then::Fail(_)), "{p:?}");
    // An update finished with the drift still there: a new attempt.
    let p = plan(
        &following("op-2"),
        false,
        Some(&Seen {
            operation: Some(OperationState::Done),
            ..drift.clone()
        }),
    );
    assert!(
        p.next_attempt && matches!(p.then, Then::Change { .. }),
        "{p:?}"
    );
    // Drift with no operation followed (a first write for it, or a retry of one whose answer
    // was lost): the same attempt.
    let p = plan(&ours(Phase::Ready), false, Some(&drift));
    assert!(
        !p.next_attempt && matches!(p.then, Then::Change { .. }),
        "{p:?}"
    );
    // Nothing to do: no new attempt.
    let p = plan(
        &following("op-2"),
        false,
        Some(&Seen {
            operation: Some(OperationState::Done),
            ..seen(ClusterState::Available)
        }),
    );
    assert!(!p.next_attempt, "{p:?}");
}

#[test]
fn adopt_or_refuse_a_cluster_someone_else_made() {
    let foreign = Seen {
        claim: Claim::Foreign("no owner tag".into()),
        ..seen(ClusterState::Available)
    };
    let refused = plan(&RedisClusterStatus::default(), false, Some(&foreign));
    assert_eq!(refused.adopt, None);
    assert!(!refused.record, "a foreign cluster is not recorded as ours");
    let adopted = plan(&RedisClusterStatus::default(), true, Some(&foreign));
    assert_eq!(adopted.adopt.as_deref(), Some("no owner tag"));
    assert!(adopted.record);
    assert_eq!(report(&adopted).phase, Phase::Ready);
    // Ours already: nothing to adopt.
    let p = plan(
        &ours(Phase::Ready),
        true,
        Some(&seen(ClusterState::Available)),
    );
    assert_eq!(p.adopt, None);
}

#[test]
fn every_field_is_changed_one_at_a_time() {
    let changes = [
        Change::ShardCount(3),
        Change::ReplicaCount(2),
        Change::NodeType,
        Change::DeletionProtection(true),
        Change::Persistence,
        Change::RedisConfigs,
        Change::SnapshotRetention,
        Change::UserGroups {
            add: vec!["g2".into()],
            remove: vec!["g1".into()],
        },
    ];
    for (i, change) in changes.iter().enumerate() {
        let rest: Vec<Change> = changes[i + 1..].to_vec();
        let mut all = vec![change.clone()];
        all.extend(rest.clone());
        let s = Seen {
            changes: all,
            ..seen(ClusterState::Available)
        };
        let p = plan(&ours(Phase::Ready), false, Some(&s));
        assert_eq!(
            p.then,
            Then::Change {
                change: change.clone(),
                pending: rest.clone()
            },
            "{change:?}"
        );
        let ending = changed(Ok(()), change, &rest, &ours(Phase::Ready));
        let Ending::Report(o) = ending else {
            panic!("{ending:?}")
        };
        assert_eq!(
            (o.phase, o.summary.reason()),
            (Phase::Updating, reason::UPDATING)
        );
        assert!(
            o.summary
                .message()
                .starts_with(&format!("changing {}", change.describe())),
            "{o:?}"
        );
    }
}

#[test]
fn a_followed_operation_holds_changes_until_it_is_over() {
    let s = Seen {
        changes: vec![Change::NodeType],
        operation: Some(OperationState::Running),
        ..seen(ClusterState::Available)
    };
    let p = plan(&following("op-1"), false, Some(&s));
    assert!(!p.clear_operation);
    assert!(
        report(&p)
            .summary
            .message()
            .starts_with("waiting for the cloud to finish the previous change")
    );
    for over in [OperationState::Done, OperationState::Unknown] {
        let s = Seen {
            operation: Some(over),
            ..s.clone()
        };
        let p = plan(&following("op-1"), false, Some(&s));
        assert!(p.clear_operation);
        assert!(matches!(p.then, Then::Change { .. }), "{p:?}");
    }
    let failed = Seen {
        operation: Some(OperationState::Failed {
            code: "INVALID_ARGUMENT".into(),
            message: "bad node type".into(),
        }),
        ..s
    };
    let p = plan(&following("op-1"), false, Some(&failed));
    assert!(p.clear_operation);
    let Then::Fail(e) = p.then else {
        panic!("{p:?}")
    };
    assert_eq!(e.class, ErrorClass::InvalidArgument);
    assert_eq!(e.call, "operation op-1");
}

#[test]
fn failed_calls_end_by_their_class() {
    let (ready, creating) = (ours(Phase::Ready), ours(Phase::Creating));
    let failed = |old: &RedisClusterStatus, class| failure(old, &err(class, "no"), Step::Apply);
    // Refused: stalled until the spec changes. Denied: stalled, looked at again after the
    // longest backoff. Busy: waits in the phase it was in.
    #[rustfmt::skip]
    let table = [
        (&ready,    ErrorClass::InvalidArgument,    Phase::Failed,   reason::CLOUD_INVALID_ARGUMENT,    Next::AwaitChange),
        (&ready,    ErrorClass::PermissionDenied,   Phase::Failed,   reason::PERMISSION_DENIED,         Next::MaxBackoff),
        (&creating, ErrorClass::FailedPrecondition, Phase::Creating, reason::CLOUD_FAILED_PRECONDITION, Next::Poll),
    ];
    for (old, class, phase, reason_, next) in table {
        let Ending::Report(o) = failed(old, class) else {
            panic!("{class:?}")
        };
        assert_eq!(
            (o.phase, o.summary.reason(), o.next),
            (phase, reason_, next)
        );
    }
    // Transient: retried with backoff; a Ready cluster stays Ready.
    let Ending::Retry { report, .. } = failed(&ready, ErrorClass::Unavailable) else {
        panic!()
    };
    assert_eq!(report, None);
    let Ending::Retry { report, .. } = failed(&creating, ErrorClass::Throttled) else {
        panic!()
    };
    let o = report.unwrap();
    assert_eq!(
        (o.phase, o.summary.reason()),
        (Phase::Creating, reason::CLOUD_UNAVAILABLE)
    );
}

#[test]
fn create_results() {
    let old = RedisClusterStatus::default();
    let Ending::Report(o) = created(Ok(RES), &desired(), &old) else {
        panic!()
    };
    assert_eq!(o.phase, Phase::Creating);
    assert_eq!(
        o.summary.message(),
        format!("creating {RES} in us-central1")
    );
    let taken = err(ErrorClass::AlreadyExists, "exists");
    assert!(matches!(
        created(Err(&taken), &desired(), &old),
        Ending::Quiet(Next::Now)
    ));
    let bad = err(ErrorClass::InvalidArgument, "bad");
    assert!(matches!(
        created(Err(&bad), &desired(), &old),
        Ending::Report(Outcome {
            phase: Phase::Failed,
            ..
        })
    ));
    // A busy cluster is retried at the poll interval, with the change named.
    let busy = err(
        ErrorClass::FailedPrecondition,
        "an operation is in progress",
    );
    let Ending::Report(o) = changed(Err(&busy), &Change::NodeType, &[], &ours(Phase::Ready)) else {
        panic!()
    };
    assert_eq!(
        o.summary.message(),
        "the cloud is busy (an operation is in progress); will retry changing node type"
    );
}

#[test]
fn polling_backs_off_from_the_transition_up_to_the_interval() {
    use cache_operator_api::condition::Summary;
    use cache_operator_testkit::at;
    let mut old = RedisClusterStatus::default();
    Summary::progressing(reason::CREATING, "x").apply(&mut old.conditions, Some(1), at(0));
    let interval = Duration::from_secs(10);
    assert_eq!(
        poll(&old.conditions, interval, at(0)),
        Duration::from_millis(200)
    );
    assert_eq!(
        poll(&old.conditions, interval, at(4)),
        Duration::from_secs(2)
    );
    assert_eq!(poll(&old.conditions, interval, at(600)), interval);
}

#[test]
fn recording_takes_the_cloud_facts_into_the_status() {
    let mut st = RedisClusterStatus::default();
    record(&mut st, &observed(ClusterState::Available));
    assert_eq!(st.cloud_resource.as_deref(), Some(RES));
    assert_eq!(st.cloud_uid.as_deref(), Some("uid-1"));
    assert_eq!(st.cloud_state.as_deref(), Some("AVAILABLE"));
    let endpoints = st.endpoints.unwrap();
    assert_eq!(endpoints.discovery[0].host, "10.0.0.5");
    let mut bare = observed(ClusterState::Creating);
    bare.discovery.clear();
    let mut st = RedisClusterStatus::default();
    record(&mut st, &bare);
    assert!(st.endpoints.is_none(), "no endpoints until there are some");
}

#[test]
fn ours_means_the_same_resource_and_uid() {
    let o = observed(ClusterState::Available);
    assert!(is_ours(&ours(Phase::Ready), &o));
    let mut other_uid = ours(Phase::Ready);
    other_uid.cloud_uid = Some("uid-2".into());
    assert!(!is_ours(&other_uid, &o), "recreated by someone else");
    assert!(!is_ours(&RedisClusterStatus::default(), &o));
}

#[test]
fn tags_of_a_group_that_is_not_available_are_waited_for() {
    // ElastiCache refuses ListTagsForResource/AddTagsToResource while a group is creating or
    // modifying; the claim (or the adoption) could not be asked, which says nothing about
    // whose the group is: wait, never Stalled, never AlreadyExists.
    let e = CloudError::new(
        ErrorClass::FailedPrecondition,
        "InvalidReplicationGroupState",
        "Replication group orders is not in available state.",
        "elasticache ListTagsForResource",
    );
    for old in [
        RedisClusterStatus::default(),
        ours(Phase::Creating),
        ours(Phase::Ready),
    ] {
        let Ending::Report(o) = failure(&old, &e, Step::Apply) else {
            panic!("a busy group is reported as waiting")
        };
        assert!(matches!(o.summary, Summary::Progressing { .. }), "{o:?}");
        assert_ne!(o.summary.reason(), reason::ALREADY_EXISTS);
        assert_ne!(o.phase, Phase::Failed);
        assert_eq!(o.next, Next::Poll);
        assert!(
            o.summary.message().contains("not in available state"),
            "the cloud's words: {o:?}"
        );
    }
}

#[test]
fn a_change_the_cloud_will_make_later_is_not_called_done() {
    let mut s = seen(ClusterState::Available);
    s.cluster.pending =
        vec!["ElastiCache will apply node type cache.r7g.xlarge in the maintenance window".into()];
    let p = plan(&ours(Phase::Ready), false, Some(&s));
    let o = report(&p);
    assert_eq!(o.phase, Phase::Updating);
    assert!(matches!(o.summary, Summary::Progressing { .. }), "{o:?}");
    assert_eq!(o.summary.reason(), reason::PENDING_IN_CLOUD);
    assert!(
        o.summary.message().contains(
            "ElastiCache will apply node type cache.r7g.xlarge in the maintenance window"
        ),
        "the cloud's own words: {o:?}"
    );
    // Once applied, Ready again.
    s.cluster.pending.clear();
    assert_eq!(
        report(&plan(&ours(Phase::Updating), false, Some(&s))).phase,
        Phase::Ready
    );
}

#[test]
fn a_cross_region_step_goes_before_the_specs_changes_and_waits_for_a_change_in_flight() {
    use crate::controller::cluster::cross_region::SetView;
    use cache_operator_cloud::provider::{ObservedReplication, ReplicationRole};
    let primary = "projects/p/locations/us-central1/clusters/us";
    let mut s = Seen {
        changes: vec![Change::ReplicaCount(2)],
        set: Some(SetView {
            me: "eu".into(),
            anchor: "us".into(),
            wanted: "eu".into(),
            wanted_resource: Some(RES.into()),
            detached: false,
        }),
        ..seen(ClusterState::Available)
    };
    s.cluster.replication = Some(ObservedReplication {
        role: ReplicationRole::Secondary,
        primary: Some(primary.into()),
        secondaries: vec![RES.into()],
        update_time: Some("t1".into()),
    });
    let p = plan(&ours(Phase::Ready), false, Some(&s));
    assert_eq!(
        p.then,
        Then::Change {
            change: Change::Switchover {
                secondaries: vec![primary.into()],
                since: Some("t1".into()),
            },
            pending: vec![Change::ReplicaCount(2)],
        }
    );
    // Sent, and the cloud not yet showing it (a crash after the write): wait, no second write.
    let p = plan(&following("operations/op-9"), false, Some(&s));
    assert!(matches!(p.then, Then::Report(_)), "{p:?}");
    // Done: the member reports PRIMARY; only the spec's own change is left.
    s.cluster.replication.as_mut().unwrap().role = ReplicationRole::Primary;
    let p = plan(&ours(Phase::Ready), false, Some(&s));
    assert!(
        matches!(
            p.then,
            Then::Change {
                change: Change::ReplicaCount(2),
                ..
            }
        ),
        "{p:?}"
    );
}
