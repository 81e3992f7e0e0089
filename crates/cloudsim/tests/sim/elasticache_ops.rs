//! The other ElastiCache operations AWS's own controller (ACK) calls, through the Rust SDK:
//! DescribeEvents, ListAllowedNodeTypeModifications, CopySnapshot, tags of parameter groups,
//! subnet groups and snapshots, and a user's answer while it is being modified.

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::{SourceType, Tag};

use crate::common::*;

#[tokio::test]
async fn events_tell_what_happened_newest_first() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    aws.create_replication_group()
        .replication_group_id("orders")
        .replication_group_description("d")
        .num_cache_clusters(2)
        .send()
        .await
        .unwrap();
    t.wait_rg("orders", "available").await;
    let out = aws
        .describe_events()
        .source_type(SourceType::ReplicationGroup)
        .source_identifier("orders")
        .duration(20160)
        .max_records(20)
        .send()
        .await
        .expect("events");
    let messages: Vec<&str> = out.events().iter().filter_map(|e| e.message()).collect();
    assert_eq!(messages, ["Replication group orders created"]);
    assert!(out.events()[0].date().is_some());
    let all = aws.describe_events().send().await.expect("the last hour");
    let clusters: Vec<&str> = all
        .events()
        .iter()
        .filter(|e| e.source_type() == Some(&SourceType::CacheCluster))
        .filter_map(|e| e.source_identifier())
        .collect();
    assert!(
        clusters.contains(&"orders-001") && clusters.contains(&"orders-002"),
        "{clusters:?}"
    );
    let dates: Vec<_> = all.events().iter().filter_map(|e| e.date()).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let e = aws
        .describe_events()
        .source_identifier("orders")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterCombination"));
    let e = aws
        .describe_events()
        .max_records(10)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    // A window that ended before the group existed holds nothing of it.
    let out = aws
        .describe_events()
        .source_type(SourceType::ReplicationGroup)
        .source_identifier("orders")
        .end_time(aws_sdk_elasticache::primitives::DateTime::from_secs(
            1_600_000_000,
        ))
        .send()
        .await
        .unwrap();
    assert!(out.events().is_empty());
}

#[tokio::test]
async fn node_types_scale_up_and_down_by_memory() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    aws.create_replication_group()
        .replication_group_id("orders")
        .replication_group_description("d")
        .cache_node_type("cache.r7g.large")
        .send()
        .await
        .unwrap();
    t.wait_rg("orders", "available").await;
    let out = aws
        .list_allowed_node_type_modifications()
        .replication_group_id("orders")
        .send()
        .await
        .expect("allowed modifications");
    assert!(
        out.scale_up_modifications()
            .contains(&"cache.r7g.xlarge".to_owned())
    );
    assert!(
        !out.scale_up_modifications()
            .contains(&"cache.t4g.micro".to_owned())
    );
    assert!(
        out.scale_down_modifications()
            .contains(&"cache.t4g.micro".to_owned())
    );
    let by_member = aws
        .list_allowed_node_type_modifications()
        .cache_cluster_id("orders-001")
        .send()
        .await
        .expect("by a member cluster");
    assert_eq!(
        by_member.scale_up_modifications(),
        out.scale_up_modifications()
    );
    let e = aws
        .list_allowed_node_type_modifications()
        .replication_group_id("nothing")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_replication_group_not_found_fault()
    );
}

#[tokio::test]
async fn snapshots_are_copied_and_everything_ack_creates_takes_tags() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    aws.create_replication_group()
        .replication_group_id("orders")
        .replication_group_description("d")
        .send()
        .await
        .unwrap();
    t.wait_rg("orders", "available").await;
    let tag = Tag::builder().key("team").value("payments").build();
    aws.create_snapshot()
        .replication_group_id("orders")
        .snapshot_name("nightly")
        .tags(tag.clone())
        .send()
        .await
        .unwrap();
    let e = aws
        .copy_snapshot()
        .source_snapshot_name("nightly")
        .target_snapshot_name("nightly-copy")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_invalid_snapshot_state_fault(),
        "still creating: {e:?}"
    );
    let available = |name: &'static str| {
        let aws = aws.clone();
        async move {
            eventually(name, || async {
                let s = aws
                    .describe_snapshots()
                    .snapshot_name(name)
                    .send()
                    .await
                    .ok()?;
                (s.snapshots().first()?.snapshot_status() == Some("available")).then_some(())
            })
            .await
        }
    };
    available("nightly").await;
    let out = aws
        .copy_snapshot()
        .source_snapshot_name("nightly")
        .target_snapshot_name("Nightly-Copy")
        .send()
        .await
        .expect("copy");
    let copy = out.snapshot().unwrap();
    assert_eq!(copy.snapshot_name(), Some("nightly-copy"));
    assert_eq!(copy.snapshot_status(), Some("creating"));
    assert_eq!(copy.replication_group_id(), Some("orders"));
    available("nightly-copy").await;
    let e = aws
        .copy_snapshot()
        .source_snapshot_name("nightly")
        .target_snapshot_name("nightly-copy")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_snapshot_already_exists_fault()
    );
    let e = aws
        .copy_snapshot()
        .source_snapshot_name("nothing")
        .target_snapshot_name("other")
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_snapshot_not_found_fault());
    // A name that matches nothing is an empty list (AWS's own controller waits on that).
    let none = aws
        .describe_snapshots()
        .snapshot_name("nothing")
        .send()
        .await
        .expect("an empty answer");
    assert!(none.snapshots().is_empty());

    aws.create_cache_parameter_group()
        .cache_parameter_group_name("params")
        .cache_parameter_group_family("redis7")
        .description("d")
        .tags(tag.clone())
        .send()
        .await
        .unwrap();
    aws.create_cache_subnet_group()
        .cache_subnet_group_name("subnets")
        .cache_subnet_group_description("d")
        .subnet_ids("subnet-0a1b2c3d")
        .tags(tag.clone())
        .send()
        .await
        .unwrap();
    for kind in [
        "parametergroup:params",
        "subnetgroup:subnets",
        "snapshot:nightly",
    ] {
        let arn = format!("arn:aws:elasticache:us-east-1:123456789012:{kind}");
        let tags = aws
            .list_tags_for_resource()
            .resource_name(&arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{arn}: {e:?}"));
        assert_eq!(tags.tag_list(), std::slice::from_ref(&tag), "{arn}");
        aws.add_tags_to_resource()
            .resource_name(&arn)
            .tags(Tag::builder().key("env").value("prod").build())
            .send()
            .await
            .unwrap();
        let tags = aws
            .remove_tags_from_resource()
            .resource_name(&arn)
            .tag_keys("team")
            .send()
            .await
            .unwrap();
        assert_eq!(tags.tag_list().len(), 1, "{arn}");
    }
    let e = aws
        .list_tags_for_resource()
        .resource_name("arn:aws:elasticache:us-east-1:123456789012:parametergroup:nothing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("CacheParameterGroupNotFound"));
}

#[tokio::test]
async fn a_user_being_modified_shows_what_it_becomes() {
    let t = start(Opts::default()).await;
    t.set_delay(HOLD).await;
    let aws = t.aws();
    aws.create_user()
        .user_id("reader")
        .user_name("reader")
        .engine("redis")
        .access_string("on ~* +@read")
        .no_password_required(true)
        .send()
        .await
        .unwrap();
    t.set_delay(0).await;
    t.wait_user("reader", "active").await;
    t.set_delay(HOLD).await;
    let out = aws
        .modify_user()
        .user_id("reader")
        .access_string("on ~* +@read +@write")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), Some("modifying"));
    assert_eq!(out.access_string(), Some("on ~* +@read +@write"));
    let d = aws.describe_users().user_id("reader").send().await.unwrap();
    assert_eq!(d.users()[0].access_string(), Some("on ~* +@read +@write"));
    t.set_delay(0).await;
    t.wait_user("reader", "active").await;
}
