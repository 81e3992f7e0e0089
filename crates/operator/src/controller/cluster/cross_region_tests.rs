//! The cross-region decisions, from fixtures: what a member reads of its set, which member
//! writes what, and the condition every member shows.

use cache_operator_api::condition::reason;
use cache_operator_cloud::provider::{ClusterState, ObservedReplication, ReplicationRole};
use cache_operator_testkit::cluster;
use serde_json::json;

use super::*;
use crate::controller::cluster::fixtures::observed;

const US: &str = "projects/shop-prod/locations/us-central1/clusters/orders-us";
const EU: &str = "projects/shop-prod/locations/europe-west1/clusters/orders-eu";
const AS: &str = "projects/shop-prod/locations/asia-east1/clusters/orders-as";

fn ready(resource: &str) -> serde_json::Value {
    json!({"phase": "Ready", "cloudState": "ACTIVE", "cloudResource": resource})
}

fn anchor() -> RedisCluster {
    cluster::gcp("orders-us")
        .namespace("shop")
        .set("/spec/crossRegion", json!({}))
        .status(ready(US))
        .parse()
}

fn secondary(name: &str, region: &str) -> cache_operator_testkit::Manifest {
    cluster::gcp(name)
        .namespace("shop")
        .region(region)
        .secondary_of("orders-us")
}

fn errors(r: &SetRead) -> String {
    match r {
        SetRead::Broken(e) => e.to_string(),
        other => panic!("expected a broken rule, got {other:?}"),
    }
}

#[test]
fn a_new_secondary_follows_the_current_primary_once_it_is_active() {
    let eu: RedisCluster = secondary("orders-eu", "europe-west1").parse();
    let ns = vec![anchor(), eu.clone()];
    match read(&eu, &ns) {
        SetRead::Member { view, follow } => {
            assert_eq!(follow.as_deref(), Some(US));
            assert_eq!(view.wanted, "orders-us");
            assert_eq!(view.wanted_resource.as_deref(), Some(US));
        }
        other => panic!("{other:?}"),
    }
    // The anchor not there, not created, not active: wait (no cloud call).
    for (case, ns) in [
        ("absent", vec![eu.clone()]),
        (
            "not created",
            vec![
                cluster::gcp("orders-us")
                    .namespace("shop")
                    .set("/spec/crossRegion", json!({}))
                    .parse(),
                eu.clone(),
            ],
        ),
        (
            "creating",
            vec![
                cluster::gcp("orders-us")
                    .namespace("shop")
                    .set("/spec/crossRegion", json!({}))
                    .status(
                        json!({"phase": "Creating", "cloudState": "CREATING", "cloudResource": US}),
                    )
                    .parse(),
                eu.clone(),
            ],
        ),
    ] {
        assert!(matches!(read(&eu, &ns), SetRead::Waiting(_)), "{case}");
    }
    // After a switchover the set's primary is another member: a new secondary follows it.
    let switched: RedisCluster = cluster::gcp("orders-us")
        .namespace("shop")
        .cross_region_primary("orders-eu")
        .status(
            json!({"phase": "Ready", "cloudState": "ACTIVE", "cloudResource": US,
                       "crossRegion": {"role": "SECONDARY", "primary": EU}}),
        )
        .parse();
    let eu_made: RedisCluster = secondary("orders-eu", "europe-west1")
        .status(ready(EU))
        .parse();
    let asia: RedisCluster = secondary("orders-as", "asia-east1").parse();
    match read(&asia, &[switched, eu_made, asia.clone()]) {
        SetRead::Member { follow, .. } => assert_eq!(follow.as_deref(), Some(EU)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_services_rules_are_checked_before_any_cloud_call() {
    let a = anchor();
    #[rustfmt::skip]
    let cases = [
        ("same region",     secondary("orders-eu", "us-central1"),                         "same region"),
        ("other project",   secondary("orders-eu", "europe-west1").project("other-proj"),  "project"),
        ("shard count",     secondary("orders-eu", "europe-west1").shards(3),             "same shard count and node type"),
        ("node type",       secondary("orders-eu", "europe-west1").node_type("redis-standard-small"), "same shard count and node type"),
    ];
    for (case, m, want) in cases {
        let s: RedisCluster = m.parse();
        let e = errors(&read(&s, &[a.clone(), s.clone()]));
        assert!(
            e.starts_with("spec.crossRegion.secondaryOf: "),
            "{case}: {e}"
        );
        assert!(e.contains(want), "{case}: {e}");
    }
    let aws: RedisCluster = cluster::aws("orders-us").namespace("shop").parse();
    let s: RedisCluster = secondary("orders-eu", "europe-west1").parse();
    assert!(errors(&read(&s, &[aws, s.clone()])).contains("not a Memorystore for Redis Cluster"));
}

#[test]
fn a_third_secondary_is_refused_naming_the_rule() {
    let made = |name: &str, region: &str, secs: i64| -> RedisCluster {
        secondary(name, region)
            .set(
                "/metadata/creationTimestamp",
                jiff::Timestamp::from_second(secs).unwrap().to_string(),
            )
            .parse()
    };
    let eu = made("orders-eu", "europe-west1", 10);
    let asia = made("orders-as", "asia-east1", 20);
    let third = made("orders-au", "australia-southeast1", 30);
    let ns = vec![anchor(), eu.clone(), asia.clone(), third.clone()];
    assert!(matches!(read(&asia, &ns), SetRead::Member { .. }));
    let e = errors(&read(&third, &ns));
    assert!(
        e.contains("already has 2 secondaries (orders-eu, orders-as)"),
        "{e}"
    );
    assert!(e.contains("at most 2 secondaries"), "{e}");
    // A detached one leaves room.
    let eu_gone: RedisCluster = secondary("orders-eu", "europe-west1")
        .detached(true)
        .status(ready(EU))
        .parse();
    let ns = vec![anchor(), eu_gone, asia, third.clone()];
    assert!(matches!(read(&third, &ns), SetRead::Member { .. }));
}

#[test]
fn the_wanted_primary_must_be_a_member() {
    let a: RedisCluster = cluster::gcp("orders-us")
        .namespace("shop")
        .cross_region_primary("orders-xx")
        .parse();
    let eu: RedisCluster = secondary("orders-eu", "europe-west1").parse();
    let e = errors(&read(&a, &[a.clone(), eu.clone()]));
    assert!(
        e.starts_with("spec.crossRegion.primary: names orders-xx, which is not a member"),
        "{e}"
    );
    assert!(e.contains("(orders-us, orders-eu)"), "{e}");
    let a: RedisCluster = cluster::gcp("orders-us")
        .namespace("shop")
        .cross_region_primary("orders-eu")
        .parse();
    assert!(matches!(read(&a, &[a.clone(), eu]), SetRead::Member { .. }));
    let alone: RedisCluster = cluster::gcp("plain").parse();
    assert_eq!(read(&alone, &[]), SetRead::Alone);
}

fn member(role: ReplicationRole, resource: &str, state: ClusterState) -> ObservedCluster {
    let mut o = observed(state);
    o.resource = resource.into();
    o.replication = Some(ObservedReplication {
        role,
        primary: Some(US.into()),
        secondaries: vec![EU.into(), AS.into()],
        update_time: Some("2026-12-08T01:00:00Z".into()),
    });
    o
}

fn view(me: &str, wanted: &str, detached: bool) -> SetView {
    SetView {
        me: me.into(),
        anchor: "orders-us".into(),
        wanted: wanted.into(),
        wanted_resource: Some(if wanted == "orders-us" { US } else { EU }.into()),
        detached,
    }
}

#[test]
fn only_the_member_to_promote_writes_and_only_while_the_cloud_says_it_is_secondary() {
    use ClusterState::*;
    use ReplicationRole::{Primary, Secondary};
    let switch = Some(Change::Switchover {
        secondaries: vec![US.into(), AS.into()],
        since: Some("2026-12-08T01:00:00Z".into()),
    });
    #[rustfmt::skip]
    let table = [
        ("promote eu",                      view("orders-eu", "orders-eu", false), member(Secondary, EU, Available), switch.clone()),
        ("eu is primary already (done)",    view("orders-eu", "orders-eu", false), member(Primary,   EU, Available), None),
        ("eu busy switching (after crash)", view("orders-eu", "orders-eu", false), member(Secondary, EU, Updating),  None),
        ("the anchor never writes it",      view("orders-us", "orders-eu", false), member(Primary,   US, Available), None),
        ("another secondary neither",       view("orders-as", "orders-eu", false), member(Secondary, AS, Available), None),
        ("a wanted primary in place",       view("orders-us", "orders-us", false), member(Primary,   US, Available), None),
        ("detach",                          view("orders-as", "orders-us", true),  member(Secondary, AS, Available), Some(Change::Detach { since: Some("2026-12-08T01:00:00Z".into()) })),
        ("detached already",                view("orders-as", "orders-us", true),  member(ReplicationRole::None, AS, Available), None),
    ];
    for (case, v, o, want) in table {
        assert_eq!(step(&v, &o), want, "{case}");
    }
    let mut plain = observed(Available);
    plain.replication = None;
    assert_eq!(step(&view("orders-us", "orders-us", false), &plain), None);
}

#[test]
fn every_member_shows_the_switchover_and_its_result() {
    let eu_wanted = view("orders-us", "orders-eu", false);
    let o = member(ReplicationRole::Primary, US, ClusterState::Available);
    let (status, reason_, message) = switchover(&eu_wanted, o.replication.as_ref()).unwrap();
    assert_eq!((status, reason_), ("True", reason::SWITCHOVER_IN_PROGRESS));
    assert!(
        message.contains(&format!("switching over to orders-eu ({EU}) from {US}")),
        "{message}"
    );
    let mut done = member(ReplicationRole::Secondary, US, ClusterState::Available);
    done.replication.as_mut().unwrap().primary = Some(EU.into());
    let (status, reason_, message) = switchover(&eu_wanted, done.replication.as_ref()).unwrap();
    assert_eq!((status, reason_), ("False", reason::PRIMARY_IN_PLACE));
    assert!(
        message.starts_with(&format!("orders-eu ({EU}) is the primary")),
        "{message}"
    );
    assert_eq!(
        switchover(
            &view("orders-as", "orders-us", true),
            o.replication.as_ref()
        ),
        None
    );
    let st = status_of(Some(&eu_wanted), done.replication.as_ref()).unwrap();
    assert_eq!(st.role, Some(ReplicationRole::Secondary));
    assert_eq!(st.primary.as_deref(), Some(EU));
    assert_eq!(st.wanted_primary.as_deref(), Some("orders-eu"));
}

#[test]
fn the_primary_hands_over_before_it_detaches() {
    let eu: RedisCluster = secondary("orders-eu", "europe-west1")
        .detached(true)
        .status(
            json!({"phase": "Ready", "cloudState": "ACTIVE", "cloudResource": EU,
                       "crossRegion": {"role": "PRIMARY", "primary": EU}}),
        )
        .parse();
    let a: RedisCluster = cluster::gcp("orders-us")
        .namespace("shop")
        .cross_region_primary("orders-us")
        .status(ready(US))
        .parse();
    let e = errors(&read(&eu, &[a.clone(), eu.clone()]));
    assert!(
        e.starts_with("spec.crossRegion.detached: orders-eu is the set's primary"),
        "{e}"
    );
    let as_secondary: RedisCluster = secondary("orders-eu", "europe-west1")
        .detached(true)
        .status(json!({"cloudResource": EU, "crossRegion": {"role": "SECONDARY"}}))
        .parse();
    assert!(matches!(
        read(&as_secondary, &[a, as_secondary.clone()]),
        SetRead::Member { .. }
    ));
}
