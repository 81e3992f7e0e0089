//! The RedisCluster cleanup plan: deletion with each policy, and what deleting leads to.

use cache_operator_api::cluster::{DeletionPolicy, Phase, RedisCluster, RedisClusterStatus};
use cache_operator_api::condition::reason;
use cache_operator_cloud::ErrorClass;
use cache_operator_cloud::provider::{Claim, ClusterState, GcpObserved};
use cache_operator_testkit::cluster;

use super::*;
use crate::controller::cluster::fixtures::*;
use crate::controller::cluster::observe::deletion_policy;
use crate::controller::cluster::plan::Ending;
use crate::controller::cluster::status::deleting;

#[test]
fn deletion_with_each_policy() {
    let obj = |m: cache_operator_testkit::Manifest| m.parse::<RedisCluster>();
    assert_eq!(
        deletion_policy(&obj(cluster::gcp("a"))),
        DeletionPolicy::Delete
    );
    let adopted = obj(cluster::gcp("a").status(serde_json::json!({"adopted": true})));
    assert_eq!(deletion_policy(&adopted), DeletionPolicy::Retain);
    let told = obj(cluster::gcp("a")
        .status(serde_json::json!({"adopted": true}))
        .deletion_policy("Delete"));
    assert_eq!(deletion_policy(&told), DeletionPolicy::Delete);

    let d = desired();
    // Retain lets go at once, whatever the spec.
    assert_eq!(
        retained(&ours(Phase::Ready)),
        format!("deletionPolicy Retain: {RES} is left in place")
    );
    // An invalid spec: nothing to delete when nothing was made, else stalled.
    assert_eq!(unparsable(&RedisClusterStatus::default(), "bad"), None);
    let Some(o) = unparsable(&ours(Phase::Ready), "bad") else {
        panic!()
    };
    assert_eq!(
        (o.phase, o.summary.reason()),
        (Phase::Deleting, reason::INVALID_SPEC)
    );

    let old = ours(Phase::Ready);
    let available = observed(ClusterState::Available);
    let deleting = observed(ClusterState::Deleting);
    let mut protected = observed(ClusterState::Available);
    protected.gcp = Some(Box::new(GcpObserved {
        deletion_protection: true,
        ..Default::default()
    }));
    let foreign = Claim::Foreign("not ours".into());
    let ours_ = Claim::Ours;
    assert_eq!(
        cleanup(&old, &d, None, false),
        CleanupPlan::LetGo(format!("{RES} is deleted"))
    );
    assert_eq!(
        cleanup(&old, &d, Some((&available, &foreign)), false),
        CleanupPlan::LetGo(format!("left {RES} alone: not ours"))
    );
    let CleanupPlan::Report(o) = cleanup(&old, &d, Some((&available, &ours_)), true) else {
        panic!()
    };
    assert_eq!(o.summary.reason(), reason::DELETION_PROTECTED);
    let CleanupPlan::Report(o) = cleanup(&old, &d, Some((&deleting, &ours_)), false) else {
        panic!()
    };
    assert_eq!((o.summary.reason(), o.next), (reason::DELETING, Next::Poll));
    assert_eq!(
        cleanup(&old, &d, Some((&protected, &ours_)), false),
        CleanupPlan::LiftProtection
    );
    assert_eq!(
        cleanup(&old, &d, Some((&available, &ours_)), false),
        CleanupPlan::Delete
    );
}

#[test]
fn delete_results() {
    let old = ours(Phase::Deleting);
    let msg = |r: Result<Ending, String>| match r {
        Ok(Ending::Report(o)) => o.summary.message().to_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        msg(deleting(Ok(()), false, RES, &old)),
        format!("deleting {RES}")
    );
    assert_eq!(
        msg(deleting(Ok(()), true, RES, &old)),
        format!("turning off the cloud's deletion protection on {RES}")
    );
    let gone = err(ErrorClass::NotFound, "gone");
    assert!(matches!(
        deleting(Err(&gone), false, RES, &old),
        Err(m) if m == format!("{RES} is deleted")
    ));
    let busy = err(ErrorClass::FailedPrecondition, "busy");
    assert_eq!(
        msg(deleting(Err(&busy), false, RES, &old)),
        format!("the cloud cannot delete {RES} yet: busy")
    );
    let down = err(ErrorClass::Unavailable, "down");
    assert!(matches!(
        deleting(Err(&down), false, RES, &old),
        Ok(Ending::Retry { .. })
    ));
}

#[test]
fn a_primary_waits_for_its_secondaries_and_a_secondary_goes_at_once() {
    use cache_operator_cloud::provider::{ObservedReplication, ReplicationRole};
    let d = desired();
    let old = ours(Phase::Ready);
    let with = |role, secondaries: &[&str]| {
        let mut o = observed(ClusterState::Available);
        o.replication = Some(ObservedReplication {
            role,
            primary: Some(RES.into()),
            secondaries: secondaries.iter().map(|s| (*s).to_owned()).collect(),
            update_time: None,
        });
        o
    };
    let eu = "projects/p/locations/europe-west1/clusters/eu";
    match cleanup(
        &old,
        &d,
        Some((&with(ReplicationRole::Primary, &[eu]), &Claim::Ours)),
        false,
    ) {
        CleanupPlan::Report(o) => {
            assert_eq!(o.summary.reason(), reason::SECONDARIES_ATTACHED);
            assert!(o.summary.message().contains(eu), "{o:?}");
        }
        other => panic!("{other:?}"),
    }
    for (case, role, list) in [
        (
            "a primary without secondaries",
            ReplicationRole::Primary,
            &[][..],
        ),
        ("a secondary", ReplicationRole::Secondary, &[eu][..]),
        ("a detached member", ReplicationRole::None, &[][..]),
    ] {
        assert_eq!(
            cleanup(&old, &d, Some((&with(role, list), &Claim::Ours)), false),
            CleanupPlan::Delete,
            "{case}"
        );
    }
}
