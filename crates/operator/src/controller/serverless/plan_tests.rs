//! The serverless cache plan, row by row: what a pass does for each state of the spec, the
//! cloud and the status.

use cache_operator_api::condition::Summary;
use cache_operator_api::model::AwsEngine;
use cache_operator_api::validate::FieldErrors;
use cache_operator_cloud::aws::serverless::ObservedServerless;
use cache_operator_cloud::provider::Owner;
use cache_operator_cloud::{CloudError, ErrorClass};
use cache_operator_testkit::serverless;

use super::*;
use crate::controller::serverless::observe::Seen;

fn desired() -> Box<cache_operator_api::model::serverless::DesiredServerless> {
    let c: cache_operator_api::ServerlessCache = serverless::new("web", "us-east-1")
        .spec("majorEngineVersion", "8")
        .spec("snapshotRetentionLimit", 3)
        .parse();
    Box::new(c.desired().unwrap())
}

fn cache(status: &str) -> ObservedServerless {
    ObservedServerless {
        name: "web".into(),
        arn: "arn:aws:elasticache:us-east-1:123456789012:serverlesscache:web".into(),
        status: status.into(),
        engine: "valkey".into(),
        major_engine_version: "8".into(),
        snapshot_retention_limit: Some(3),
        ..ObservedServerless::default()
    }
}

fn owner() -> Owner {
    Owner {
        uid: "0b6c2a4e-1111".into(),
        namespace: "shop".into(),
        name: "web".into(),
        generation: 1,
        attempt: 0,
    }
}

fn seen(found: Option<(ObservedServerless, bool)>) -> Observed {
    Observed {
        owner: owner(),
        spec: Spec::Desired(desired()),
        refused: false,
        cloud: Some(Ok(found.map(|(cache, ours)| Seen {
            cache,
            ours: if ours {
                Ok(())
            } else {
                Err("someone else's".into())
            },
        }))),
    }
}

/// The status after a `create-failed` report at `generation`.
fn failed_at(generation: i64) -> ServerlessCacheStatus {
    let mut st = ServerlessCacheStatus::default();
    Summary::stalled(reason::CREATE_FAILED, "failed").apply(
        &mut st.conditions,
        Some(generation),
        jiff::Timestamp::now(),
    );
    st
}

/// A plan as one word, with the change or the reason.
fn word(p: &Plan) -> String {
    match &p.act {
        Act::Hold => "hold".into(),
        Act::Report(o) => format!("report {:?} {}", o.phase, o.summary.reason()),
        Act::Unseen(_) => "unseen".into(),
        Act::Create { vanished: None } => "create".into(),
        Act::Create { vanished: Some(_) } => "create again".into(),
        Act::Modify { change, pending } => {
            format!("modify {} (+{})", change.describe(), pending.len())
        }
        Act::Recreate => "recreate".into(),
    }
}

#[test]
fn a_pass_does_what_the_spec_the_cloud_and_the_status_say() {
    let mut engine_and_retention = cache("available");
    engine_and_retention.engine = "redis".into();
    engine_and_retention.major_engine_version = "7".into();
    engine_and_retention.snapshot_retention_limit = Some(1);
    let mut with_group = cache("available");
    with_group.user_group_id = Some("old-group".into());
    let ready = ServerlessCacheStatus {
        phase: Some(Phase::Ready),
        cloud_resource: Some(cache("available").arn),
        ..ServerlessCacheStatus::default()
    };
    let refused = Observed {
        refused: true,
        ..seen(None)
    };
    let unseen = Observed {
        cloud: Some(Err(CloudError::new(
            ErrorClass::Unavailable,
            "InternalFailure",
            "x",
            "elasticache DescribeServerlessCaches",
        ))),
        ..seen(None)
    };
    let invalid = Observed {
        spec: Spec::Invalid(FieldErrors::default()),
        refused: false,
        cloud: None,
        owner: owner(),
    };
    let waiting = Observed {
        spec: Spec::Waiting("waiting for UserGroup shop/g".into()),
        refused: false,
        cloud: None,
        owner: owner(),
    };
    let none = ServerlessCacheStatus::default;
    // (case, observed, status, generation) → plan
    #[rustfmt::skip]
    let table: Vec<(&str, Observed, ServerlessCacheStatus, i64, &str)> = vec![
        ("an invalid spec stalls", invalid, none(), 1, "report Failed InvalidSpec"),
        ("a group not resolved yet waits", waiting, none(), 1, "report Pending ReferenceNotReady"),
        ("a refusal holds for its generation", refused, none(), 1, "hold"),
        ("the cloud could not be read", unseen, none(), 1, "unseen"),
        ("no cache: create it", seen(None), none(), 1, "create"),
        ("a Ready cache vanished: create it again", seen(None), ready.clone(), 1, "create again"),
        ("someone else's cache", seen(Some((cache("available"), false))), none(), 1, "report Failed AlreadyExists"),
        ("creating", seen(Some((cache("creating"), true))), none(), 1, "report Creating Creating"),
        ("modifying: wait for available", seen(Some((engine_and_retention.clone(), true))).tap_status("modifying"), none(), 1, "report Updating Updating"),
        ("available and as asked", seen(Some((cache("available"), true))), none(), 1, "report Ready Available"),
        ("two fields differ: the engine first, one per pass", seen(Some((engine_and_retention, true))), none(), 1, "modify engine to valkey 8 (+1)"),
        ("a group the spec no longer names is removed", seen(Some((with_group, true))), none(), 1, "modify removing the user group (+0)"),
        ("create-failed, first seen: terminal", seen(Some((cache("create-failed"), true))), none(), 1, "report Failed CreateFailed"),
        ("create-failed, reported at this generation: still terminal", seen(Some((cache("create-failed"), true))), failed_at(1), 1, "report Failed CreateFailed"),
        ("create-failed, the spec changed since: re-create", seen(Some((cache("create-failed"), true))), failed_at(1), 2, "recreate"),
        ("being deleted: wait, then create", seen(Some((cache("deleting"), true))), none(), 1, "report Pending Pending"),
    ];
    for (case, observed, old, generation, want) in table {
        assert_eq!(
            word(&plan(&observed, &old, Some(generation))),
            want,
            "{case}"
        );
    }
}

trait TapStatus {
    fn tap_status(self, status: &str) -> Self;
}

impl TapStatus for Observed {
    fn tap_status(mut self, status: &str) -> Self {
        if let Some(Ok(Some(s))) = &mut self.cloud {
            s.cache.status = status.into();
        }
        self
    }
}

/// Three fields edited at once are applied one per pass, each after the cache is available
/// again, and a restart anywhere resumes with the ones left: the plan reads only the spec and
/// the cloud.
#[test]
fn three_changed_fields_are_three_modifies_in_order() {
    let mut d = desired();
    d.snapshot_retention_limit = Some(7);
    d.daily_snapshot_time = Some("05:00".into());
    d.description = Some("web sessions".into());
    let mut c = cache("available");
    let mut applied = Vec::new();
    for _ in 0..5 {
        let observed = Observed {
            owner: owner(),
            spec: Spec::Desired(d.clone()),
            refused: false,
            cloud: Some(Ok(Some(Seen {
                cache: c.clone(),
                ours: Ok(()),
            }))),
        };
        match plan(&observed, &ServerlessCacheStatus::default(), Some(2)).act {
            Act::Modify { change, .. } => {
                match &change {
                    ServerlessChange::SnapshotRetention(n) => c.snapshot_retention_limit = Some(*n),
                    ServerlessChange::DailySnapshotTime(t) => {
                        c.daily_snapshot_time = Some(t.clone())
                    }
                    ServerlessChange::Description(t) => c.description = Some(t.clone()),
                    other => panic!("unexpected {other:?}"),
                }
                applied.push(change.describe());
            }
            Act::Report(o) => {
                assert_eq!(o.phase, Phase::Ready);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        applied,
        [
            "snapshot retention to 7 days",
            "daily snapshot time to 05:00",
            "description"
        ]
    );
    assert_eq!(d.engine, AwsEngine::Valkey);
}

#[test]
fn a_deletion_takes_a_final_snapshot_unless_told_otherwise() {
    let desired = desired();
    let looked = |status: &str, ours: bool| Leaving::Cloud {
        desired: desired.clone(),
        found: Box::new(Ok(Some(Seen {
            cache: cache(status),
            ours: if ours { Ok(()) } else { Err("theirs".into()) },
        }))),
    };
    let old = ServerlessCacheStatus::default();
    let word = |l: Leave| match l {
        Leave::LetGo(_) => "let go".to_owned(),
        Leave::Report { outcome, .. } => format!("report {}", outcome.summary.reason()),
        Leave::Unseen(_) => "unseen".into(),
        Leave::Delete { final_snapshot, .. } => {
            format!("delete {}", final_snapshot.unwrap_or_else(|| "-".into()))
        }
    };
    #[rustfmt::skip]
    let table: Vec<(&str, Leaving, bool, &str)> = vec![
        ("Retain lets go", Leaving::Retained, false, "let go"),
        ("gone: let go", Leaving::Cloud { desired: desired.clone(), found: Box::new(Ok(None)) }, false, "let go"),
        ("someone else's: left alone", looked("available", false), false, "let go"),
        ("protected: held", looked("available", true), true, "report DeletionProtected"),
        ("available: deleted with a final snapshot", looked("available", true), false, "delete web-final-0b6c2a4e"),
        ("create-failed: deleted, nothing to snapshot", looked("create-failed", true), false, "delete -"),
        ("modifying: wait for available", looked("modifying", true), false, "report Deleting"),
        ("deleting: wait", looked("deleting", true), false, "report Deleting"),
    ];
    for (case, l, protection, want) in table {
        assert_eq!(
            word(leave(&l, &old, protection, "0b6c2a4e-1111")),
            want,
            "{case}"
        );
    }
    let mut no_snapshot = desired.clone();
    no_snapshot.final_snapshot = false;
    let l = Leaving::Cloud {
        desired: no_snapshot,
        found: Box::new(Ok(Some(Seen {
            cache: cache("available"),
            ours: Ok(()),
        }))),
    };
    assert_eq!(word(leave(&l, &old, false, "0b6c2a4e")), "delete -");
}
