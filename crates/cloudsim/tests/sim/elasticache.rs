//! The ElastiCache Query API through the official Rust SDK, plus raw HTTP checks of SigV4 and XML errors.

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::{
    AuthenticationMode, AuthenticationType, InputAuthenticationType, Tag,
};
use reqwest::StatusCode;

use crate::common::*;

#[tokio::test]
async fn cluster_mode_disabled_group_lifecycle() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    let out = aws
        .create_replication_group()
        .replication_group_id("Orders-Cache")
        .replication_group_description("orders")
        .engine("redis")
        .cache_node_type("cache.t3.small")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .snapshot_retention_limit(5)
        .send()
        .await
        .expect("create");
    let rg = out.replication_group().unwrap();
    assert_eq!(
        rg.replication_group_id(),
        Some("orders-cache"),
        "ids are stored lowercase"
    );
    assert_eq!(rg.status(), Some("creating"));
    assert_eq!(
        rg.member_clusters(),
        ["orders-cache-001", "orders-cache-002"]
    );
    assert!(
        rg.node_groups()[0].primary_endpoint().is_none(),
        "no endpoint while creating"
    );
    assert_eq!(
        rg.arn(),
        Some("arn:aws:elasticache:us-east-1:123456789012:replicationgroup:orders-cache")
    );

    let rg = t.wait_rg("orders-cache", "available").await;
    let ng = &rg.node_groups()[0];
    assert_eq!(ng.node_group_id(), Some("0001"));
    assert!(ng.primary_endpoint().is_some() && ng.reader_endpoint().is_some());
    assert!(rg.configuration_endpoint().is_none());
    assert_eq!(rg.cluster_enabled(), Some(false));
    assert_eq!(rg.snapshot_retention_limit(), Some(5));

    // Light changes apply at once; a node type change goes through `modifying`.
    let out = aws
        .modify_replication_group()
        .replication_group_id("orders-cache")
        .replication_group_description("orders v2")
        .send()
        .await
        .expect("modify description");
    assert_eq!(out.replication_group().unwrap().status(), Some("available"));
    t.set_delay(HOLD).await;
    let out = aws
        .modify_replication_group()
        .replication_group_id("orders-cache")
        .cache_node_type("cache.r7g.large")
        .apply_immediately(true)
        .send()
        .await
        .expect("modify node type");
    assert_eq!(out.replication_group().unwrap().status(), Some("modifying"));
    let busy = aws
        .modify_replication_group()
        .replication_group_id("orders-cache")
        .snapshot_retention_limit(1)
        .send()
        .await;
    assert!(
        busy.unwrap_err()
            .into_service_error()
            .is_invalid_replication_group_state_fault()
    );
    t.set_delay(0).await;
    let rg = t.wait_rg("orders-cache", "available").await;
    assert_eq!(rg.cache_node_type(), Some("cache.r7g.large"));
    assert_eq!(rg.description(), Some("orders v2"));

    let nothing = aws
        .modify_replication_group()
        .replication_group_id("orders-cache")
        .send()
        .await;
    assert!(
        nothing
            .unwrap_err()
            .into_service_error()
            .is_invalid_parameter_combination_exception()
    );

    aws.increase_replica_count()
        .replication_group_id("orders-cache")
        .new_replica_count(3)
        .apply_immediately(true)
        .send()
        .await
        .expect("increase");
    let rg = t.wait_rg("orders-cache", "available").await;
    assert_eq!(rg.member_clusters().len(), 4);
    let same = aws
        .increase_replica_count()
        .replication_group_id("orders-cache")
        .new_replica_count(3)
        .apply_immediately(true)
        .send()
        .await;
    assert!(
        same.unwrap_err()
            .into_service_error()
            .is_no_operation_fault()
    );
    aws.decrease_replica_count()
        .replication_group_id("orders-cache")
        .replicas_to_remove("orders-cache-004")
        .apply_immediately(true)
        .send()
        .await
        .expect("decrease");
    let rg = t.wait_rg("orders-cache", "available").await;
    assert_eq!(rg.member_clusters().len(), 3);

    let out = aws
        .delete_replication_group()
        .replication_group_id("ORDERS-CACHE")
        .send()
        .await
        .expect("delete");
    assert_eq!(out.replication_group().unwrap().status(), Some("deleting"));
    eventually("replication group gone", || async {
        let r = aws
            .describe_replication_groups()
            .replication_group_id("orders-cache")
            .send()
            .await;
        r.err().map(|e| {
            assert!(
                e.into_service_error()
                    .is_replication_group_not_found_fault()
            )
        })
    })
    .await;
}

#[tokio::test]
async fn cluster_mode_enabled_group_reshards() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    let refused = aws
        .create_replication_group()
        .replication_group_id("sharded")
        .replication_group_description("d")
        .num_node_groups(3)
        .send()
        .await;
    let e = refused.unwrap_err().into_service_error();
    assert!(
        e.is_invalid_parameter_combination_exception(),
        "cluster mode needs automatic failover: {e:?}"
    );

    aws.create_replication_group()
        .replication_group_id("sharded")
        .replication_group_description("d")
        .engine("valkey")
        .cache_node_type("cache.r7g.large")
        .num_node_groups(3)
        .replicas_per_node_group(1)
        .automatic_failover_enabled(true)
        .cache_parameter_group_name("default.valkey8.cluster.on")
        .send()
        .await
        .expect("create");
    let rg = t.wait_rg("sharded", "available").await;
    assert_eq!(rg.cluster_enabled(), Some(true));
    assert!(rg.configuration_endpoint().is_some());
    assert_eq!(rg.node_groups().len(), 3);
    assert_eq!(rg.node_groups()[0].slots(), Some("0-5460"));
    assert_eq!(rg.member_clusters().len(), 6);
    assert_eq!(
        rg.at_rest_encryption_enabled(),
        Some(true),
        "valkey encrypts at rest by default"
    );

    let out = aws
        .modify_replication_group_shard_configuration()
        .replication_group_id("sharded")
        .node_group_count(4)
        .apply_immediately(true)
        .send()
        .await
        .expect("scale out");
    let rg = out.replication_group().unwrap();
    assert_eq!(rg.status(), Some("modifying"));
    assert!(rg.pending_modified_values().unwrap().resharding().is_some());
    let rg = t.wait_rg("sharded", "available").await;
    assert_eq!(rg.node_groups().len(), 4);
    assert_eq!(rg.node_groups()[3].node_group_id(), Some("0004"));

    let missing_choice = aws
        .modify_replication_group_shard_configuration()
        .replication_group_id("sharded")
        .node_group_count(2)
        .apply_immediately(true)
        .send()
        .await;
    assert!(
        missing_choice
            .unwrap_err()
            .into_service_error()
            .is_invalid_parameter_combination_exception()
    );
    aws.modify_replication_group_shard_configuration()
        .replication_group_id("sharded")
        .node_group_count(2)
        .node_groups_to_remove("0001")
        .node_groups_to_remove("0003")
        .apply_immediately(true)
        .send()
        .await
        .expect("scale in");
    let rg = t.wait_rg("sharded", "available").await;
    let ids: Vec<_> = rg
        .node_groups()
        .iter()
        .map(|g| g.node_group_id().unwrap())
        .collect();
    assert_eq!(ids, ["0002", "0004"]);
}

#[tokio::test]
async fn describe_paginates_with_marker() {
    let t = start(Opts {
        delay_ms: 0,
        ..Opts::default()
    })
    .await;
    let aws = t.aws();
    for i in 0..25 {
        aws.create_replication_group()
            .replication_group_id(format!("rg-{i:02}"))
            .replication_group_description("d")
            .send()
            .await
            .expect("create");
    }
    let page = aws
        .describe_replication_groups()
        .max_records(20)
        .send()
        .await
        .expect("page 1");
    assert_eq!(page.replication_groups().len(), 20);
    let marker = page.marker().expect("a marker for the rest").to_owned();
    let page = aws
        .describe_replication_groups()
        .max_records(20)
        .marker(marker)
        .send()
        .await
        .expect("page 2");
    assert_eq!(page.replication_groups().len(), 5);
    assert!(page.marker().is_none());

    let all: Result<Vec<_>, _> = aws
        .describe_replication_groups()
        .max_records(20)
        .into_paginator()
        .items()
        .send()
        .collect()
        .await;
    assert_eq!(all.expect("paginator").len(), 25);

    let e = aws
        .describe_replication_groups()
        .max_records(10)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    assert!(
        e.into_service_error()
            .is_invalid_parameter_value_exception()
    );
}

#[tokio::test]
async fn replication_group_errors_map_to_typed_faults() {
    // A long provisioning delay keeps `dup` in `creating` for the whole test.
    let t = start(Opts {
        delay_ms: HOLD,
        ..Opts::default()
    })
    .await;
    let aws = t.aws();
    let create = |id: &str| {
        aws.create_replication_group()
            .replication_group_id(id)
            .replication_group_description("d")
            .cache_node_type("cache.t4g.micro")
    };
    create("dup").send().await.expect("create");
    let e = create("DUP").send().await.unwrap_err().into_service_error();
    assert!(e.is_replication_group_already_exists_fault(), "{e:?}");
    for bad in [
        "1starts-with-digit",
        "double--hyphen",
        "trailing-",
        "under_score",
    ] {
        let e = create(bad).send().await.unwrap_err();
        assert_eq!(e.code(), Some("InvalidParameterValue"), "{bad}");
    }
    let e = aws
        .create_replication_group()
        .replication_group_id("badnode")
        .replication_group_description("d")
        .cache_node_type("cache.x9.huge")
        .send()
        .await
        .unwrap_err();
    assert!(e.message().unwrap().contains("cache.x9.huge"));
    assert!(
        e.into_service_error()
            .is_invalid_parameter_value_exception()
    );
    let e = aws
        .describe_replication_groups()
        .replication_group_id("nope")
        .send()
        .await
        .unwrap_err();
    let raw = e.raw_response().map(|r| r.status().as_u16());
    assert_eq!(raw, Some(404));
    assert!(
        e.into_service_error()
            .is_replication_group_not_found_fault()
    );
    let e = aws
        .delete_replication_group()
        .replication_group_id("dup")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.into_service_error()
            .is_invalid_replication_group_state_fault(),
        "still creating"
    );
    let e = aws
        .create_replication_group()
        .replication_group_id("rbac-no-tls")
        .replication_group_description("d")
        .user_group_ids("g")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_user_group_not_found_fault());
}

#[tokio::test]
async fn users_and_user_groups() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    let out = aws
        .create_user()
        .user_id("App")
        .user_name("app")
        .engine("redis")
        .access_string("on ~app::* +@all")
        .passwords("first-password-123456")
        .passwords("second-password-12345")
        .send()
        .await
        .expect("create user");
    assert_eq!(out.user_id(), Some("app"));
    assert_eq!(out.status(), Some("active"));
    assert_eq!(out.authentication().unwrap().password_count(), Some(2));
    aws.create_user()
        .user_id("iam-user")
        .user_name("iam-user")
        .engine("redis")
        .access_string("on ~* +@all")
        .authentication_mode(
            AuthenticationMode::builder()
                .r#type(InputAuthenticationType::Iam)
                .build(),
        )
        .send()
        .await
        .expect("create iam user");
    let e = aws
        .create_user()
        .user_id("app")
        .user_name("x")
        .engine("redis")
        .access_string("on")
        .no_password_required(true)
        .send()
        .await;
    assert!(
        e.unwrap_err()
            .into_service_error()
            .is_user_already_exists_fault()
    );
    let e = aws
        .create_user()
        .user_id("short")
        .user_name("s")
        .engine("redis")
        .access_string("on")
        .passwords("short")
        .send()
        .await;
    assert!(
        e.unwrap_err()
            .into_service_error()
            .is_invalid_parameter_value_exception()
    );
    let e = aws
        .create_user()
        .user_id("iam2")
        .user_name("other-name")
        .engine("redis")
        .access_string("on")
        .authentication_mode(
            AuthenticationMode::builder()
                .r#type(InputAuthenticationType::Iam)
                .build(),
        )
        .send()
        .await;
    assert!(
        e.unwrap_err()
            .into_service_error()
            .is_invalid_parameter_value_exception(),
        "IAM users need UserName == UserId"
    );

    let users = aws.describe_users().send().await.expect("describe users");
    let ids: Vec<_> = users.users().iter().map(|u| u.user_id().unwrap()).collect();
    assert_eq!(ids, ["app", "default", "iam-user"]);
    let iam = aws
        .describe_users()
        .user_id("iam-user")
        .send()
        .await
        .unwrap();
    assert_eq!(
        iam.users()[0].authentication().unwrap().r#type(),
        Some(&AuthenticationType::Iam)
    );
    let e = aws
        .describe_users()
        .user_id("ghost")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_user_not_found_fault());

    let e = aws
        .create_user_group()
        .user_group_id("g")
        .engine("redis")
        .user_ids("app")
        .send()
        .await;
    assert!(
        e.unwrap_err()
            .into_service_error()
            .is_default_user_required()
    );
    t.set_delay(HOLD).await;
    let out = aws
        .create_user_group()
        .user_group_id("G")
        .engine("redis")
        .user_ids("default")
        .user_ids("app")
        .send()
        .await
        .unwrap();
    assert_eq!(out.user_group_id(), Some("g"));
    assert_eq!(out.status(), Some("creating"));
    let e = aws
        .modify_user_group()
        .user_group_id("g")
        .user_ids_to_add("iam-user")
        .send()
        .await;
    assert!(
        e.unwrap_err()
            .into_service_error()
            .is_invalid_user_group_state_fault(),
        "not active yet"
    );
    t.set_delay(0).await;
    t.wait_user_group("g", "active").await;
    let out = aws
        .modify_user_group()
        .user_group_id("g")
        .user_ids_to_add("iam-user")
        .send()
        .await
        .expect("modify group");
    assert_eq!(out.status(), Some("modifying"));
    assert_eq!(
        out.pending_changes().unwrap().user_ids_to_add(),
        ["iam-user"]
    );
    t.wait_user_group("g", "active").await;
    let g = aws
        .describe_user_groups()
        .user_group_id("g")
        .send()
        .await
        .unwrap();
    assert_eq!(
        g.user_groups()[0].user_ids(),
        ["default", "app", "iam-user"]
    );
    let u = aws.describe_users().user_id("app").send().await.unwrap();
    assert_eq!(u.users()[0].user_group_ids(), ["g"]);

    let e = aws
        .modify_user_group()
        .user_group_id("g")
        .user_ids_to_remove("default")
        .send()
        .await;
    assert!(
        e.unwrap_err()
            .into_service_error()
            .is_default_user_required()
    );
    let e = aws
        .delete_user()
        .user_id("default")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.into_service_error()
            .is_invalid_parameter_value_exception(),
        "the built-in default user stays"
    );
    let e = aws
        .modify_user()
        .user_id("default")
        .access_string("off")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.into_service_error()
            .is_invalid_parameter_value_exception()
    );

    // Attached groups cannot be deleted.
    aws.create_replication_group()
        .replication_group_id("rbac")
        .replication_group_description("d")
        .transit_encryption_enabled(true)
        .user_group_ids("g")
        .send()
        .await
        .expect("create with group");
    let g = aws
        .describe_user_groups()
        .user_group_id("g")
        .send()
        .await
        .unwrap();
    assert_eq!(g.user_groups()[0].replication_groups(), ["rbac"]);
    let e = aws
        .delete_user_group()
        .user_group_id("g")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_invalid_user_group_state_fault());

    let out = aws
        .delete_user()
        .user_id("app")
        .send()
        .await
        .expect("delete user");
    assert_eq!(out.status(), Some("deleting"));
    eventually("user deleted", || async {
        aws.describe_users()
            .user_id("app")
            .send()
            .await
            .err()
            .map(|e| assert!(e.into_service_error().is_user_not_found_fault()))
    })
    .await;
    let g = aws
        .describe_user_groups()
        .user_group_id("g")
        .send()
        .await
        .unwrap();
    assert_eq!(
        g.user_groups()[0].user_ids(),
        ["default", "iam-user"],
        "a deleted user leaves its groups"
    );

    // A group nobody uses can be deleted.
    aws.create_user_group()
        .user_group_id("spare")
        .engine("redis")
        .user_ids("default")
        .send()
        .await
        .expect("create spare group");
    t.wait_user_group("spare", "active").await;
    let out = aws
        .delete_user_group()
        .user_group_id("spare")
        .send()
        .await
        .expect("delete group");
    assert_eq!(out.status(), Some("deleting"));
    eventually("user group deleted", || async {
        let r = aws
            .describe_user_groups()
            .user_group_id("spare")
            .send()
            .await;
        r.err()
            .map(|e| assert!(e.into_service_error().is_user_group_not_found_fault()))
    })
    .await;
}

#[tokio::test]
async fn tags_by_arn() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    aws.create_user()
        .user_id("tagged")
        .user_name("tagged")
        .engine("redis")
        .access_string("on ~* +@all")
        .no_password_required(true)
        .tags(Tag::builder().key("owner").value("uid-1").build())
        .send()
        .await
        .unwrap();
    let arn = "arn:aws:elasticache:us-east-1:123456789012:user:tagged";
    let list = aws
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(list.tag_list()[0].key(), Some("owner"));
    let out = aws
        .add_tags_to_resource()
        .resource_name(arn)
        .tags(Tag::builder().key("team").value("pay").build())
        .tags(Tag::builder().key("owner").value("uid-2").build())
        .send()
        .await
        .unwrap();
    let tags: Vec<_> = out
        .tag_list()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(tags, [("owner", "uid-2"), ("team", "pay")]);
    let out = aws
        .remove_tags_from_resource()
        .resource_name(arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    assert_eq!(out.tag_list().len(), 1);
    let e = aws
        .remove_tags_from_resource()
        .resource_name(arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_tag_not_found_fault());
    let e = aws
        .list_tags_for_resource()
        .resource_name("not-an-arn")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_invalid_arn_fault());
    let e = aws
        .list_tags_for_resource()
        .resource_name("arn:aws:elasticache:us-east-1:123456789012:replicationgroup:ghost")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.into_service_error()
            .is_replication_group_not_found_fault()
    );

    aws.create_replication_group()
        .replication_group_id("tagged-rg")
        .replication_group_description("d")
        .tags(
            Tag::builder()
                .key("cache-operator/owner")
                .value("uid-3")
                .build(),
        )
        .send()
        .await
        .unwrap();
    t.wait_rg("tagged-rg", "available").await;
    let list = aws
        .list_tags_for_resource()
        .resource_name("arn:aws:elasticache:us-east-1:123456789012:replicationgroup:tagged-rg")
        .send()
        .await
        .unwrap();
    assert_eq!(list.tag_list()[0].value(), Some("uid-3"));
}

#[tokio::test]
async fn regions_are_separate() {
    let t = start(Opts::default()).await;
    t.aws()
        .create_replication_group()
        .replication_group_id("east")
        .replication_group_description("d")
        .send()
        .await
        .unwrap();
    let west = t.aws_in("eu-west-1");
    let e = west
        .describe_replication_groups()
        .replication_group_id("east")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.into_service_error()
            .is_replication_group_not_found_fault()
    );
    let users = west.describe_users().send().await.unwrap();
    assert_eq!(
        users.users().len(),
        1,
        "every region has its own built-in default user"
    );
    assert_eq!(
        users.users()[0].arn(),
        Some("arn:aws:elasticache:eu-west-1:123456789012:user:default")
    );
}

/// A form POST signed as the SDKs sign it (SigV4 over content-type, host and x-amz-date).
fn signed(
    t: &TestSim,
    region: &str,
    key: (&str, &str),
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    signed_for(t, "elasticache", region, key, None, form)
}

#[tokio::test]
async fn requests_need_a_valid_sigv4_signature() {
    let t = start(Opts::default()).await;
    let form = [("Action", "DescribeUsers"), ("Version", "2015-02-02")];
    let resp = t.http.post(&t.base).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().contains_key("x-amzn-requestid"));
    let body = resp.text().await.unwrap();
    assert!(
        body.starts_with(
            "<ErrorResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">"
        ),
        "{body}"
    );
    assert!(
        body.contains("<Code>MissingAuthenticationToken</Code>"),
        "{body}"
    );

    let forged = |akid: &str| {
        format!(
            "AWS4-HMAC-SHA256 Credential={akid}/20240401/ap-south-1/elasticache/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
            "0".repeat(64)
        )
    };
    let send = |auth: String| {
        t.http
            .post(&t.base)
            .header("authorization", auth)
            .header("x-amz-date", "20240401T000000Z")
            .form(&form)
            .send()
    };
    let resp = send("AWS4-HMAC-SHA256 Credential=AKID/20240401".into())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<Code>IncompleteSignature</Code>")
    );

    // A well-formed header is not enough: the key must be known and the signature right.
    let resp = send(forged("AKIDNOBODYKNOWS")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<Code>InvalidClientTokenId</Code>")
    );
    let resp = send(forged(cloudsim::DEFAULT_AWS_ACCESS_KEY_ID))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<Code>SignatureDoesNotMatch</Code>")
    );
    let wrong_secret = (
        cloudsim::DEFAULT_AWS_ACCESS_KEY_ID,
        "not-the-secret-access-key",
    );
    let resp = signed(&t, "ap-south-1", wrong_secret, &form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let key = (
        cloudsim::DEFAULT_AWS_ACCESS_KEY_ID,
        cloudsim::DEFAULT_AWS_SECRET_ACCESS_KEY,
    );
    let resp = signed(&t, "ap-south-1", key, &form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.text().await.unwrap();
    assert!(body.starts_with("<DescribeUsersResponse"), "{body}");
    assert!(
        body.contains("arn:aws:elasticache:ap-south-1:123456789012:user:default"),
        "region from the scope: {body}"
    );

    let resp = signed(
        &t,
        "ap-south-1",
        key,
        &[("Action", "LaunchRockets"), ("Version", "2015-02-02")],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<Code>InvalidAction</Code>")
    );
    let resp = signed(
        &t,
        "ap-south-1",
        key,
        &[("Action", "DescribeUsers"), ("Version", "2012-01-01")],
    )
    .send()
    .await
    .unwrap();
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<Code>NoSuchVersion</Code>")
    );
}

#[tokio::test]
async fn tags_of_a_group_that_is_not_available_are_refused() {
    let t = start(Opts {
        delay_ms: HOLD,
        ..Opts::default()
    })
    .await;
    let aws = t.aws();
    let arn = "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:busy";
    aws.create_replication_group()
        .replication_group_id("busy")
        .replication_group_description("d")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .send()
        .await
        .unwrap();
    let refused = |status: &'static str| {
        let aws = aws.clone();
        async move {
            let e = aws
                .list_tags_for_resource()
                .resource_name(arn)
                .send()
                .await
                .unwrap_err()
                .into_service_error();
            assert!(
                e.is_invalid_replication_group_state_fault(),
                "{status}: {e:?}"
            );
            let e = aws
                .add_tags_to_resource()
                .resource_name(arn)
                .tags(Tag::builder().key("k").value("v").build())
                .send()
                .await
                .unwrap_err()
                .into_service_error();
            assert!(
                e.is_invalid_replication_group_state_fault(),
                "{status}: {e:?}"
            );
            let e = aws
                .remove_tags_from_resource()
                .resource_name(arn)
                .tag_keys("k")
                .send()
                .await
                .unwrap_err()
                .into_service_error();
            assert!(
                e.is_invalid_replication_group_state_fault(),
                "{status}: {e:?}"
            );
        }
    };
    refused("creating").await;
    t.set_delay(0).await;
    t.wait_rg("busy", "available").await;
    aws.add_tags_to_resource()
        .resource_name(arn)
        .tags(Tag::builder().key("k").value("v").build())
        .send()
        .await
        .unwrap();

    t.set_delay(HOLD).await;
    aws.modify_replication_group()
        .replication_group_id("busy")
        .cache_node_type("cache.r7g.large")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.wait_rg("busy", "modifying").await.status(),
        Some("modifying")
    );
    refused("modifying").await;
}

/// Cluster mode disabled: Multi-AZ and automatic failover each need a replica; going to zero
/// replicas means turning them off first, and adding replicas back leaves them off.
#[tokio::test]
async fn replicas_to_zero_need_failover_and_multi_az_off_first() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    let e = aws
        .create_replication_group()
        .replication_group_id("single")
        .replication_group_description("d")
        .num_cache_clusters(1)
        .automatic_failover_enabled(true)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_parameter_combination_exception(), "{e:?}");
    assert_eq!(
        e.message(),
        Some(
            "When using automatic failover, there must be at least 2 cache clusters in the replication group."
        )
    );

    aws.create_replication_group()
        .replication_group_id("ha")
        .replication_group_description("d")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .send()
        .await
        .unwrap();
    t.wait_rg("ha", "available").await;
    let to_zero = || {
        aws.decrease_replica_count()
            .replication_group_id("ha")
            .new_replica_count(0)
            .apply_immediately(true)
            .send()
    };
    let e = to_zero().await.unwrap_err().into_service_error();
    assert!(e.is_invalid_parameter_value_exception(), "{e:?}");
    assert_eq!(
        e.message(),
        Some("Must have at least 1 replica for Multi-AZ enabled Replication Group")
    );
    // Failover cannot go while Multi-AZ stays.
    let e = aws
        .modify_replication_group()
        .replication_group_id("ha")
        .automatic_failover_enabled(false)
        .apply_immediately(true)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_parameter_combination_exception(), "{e:?}");

    aws.modify_replication_group()
        .replication_group_id("ha")
        .multi_az_enabled(false)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let rg = t.wait_rg("ha", "available").await;
    assert_eq!(rg.multi_az().map(|m| m.as_str()), Some("disabled"));
    let e = to_zero().await.unwrap_err().into_service_error();
    assert!(e.is_invalid_parameter_value_exception(), "{e:?}");
    assert_eq!(
        e.message(),
        Some(
            "Must have at least 1 replica when cluster mode is disabled with auto failover enabled."
        )
    );

    aws.modify_replication_group()
        .replication_group_id("ha")
        .automatic_failover_enabled(false)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    t.wait_rg("ha", "available").await;
    to_zero()
        .await
        .expect("no failover, no Multi-AZ: zero replicas are fine");
    let rg = t.wait_rg("ha", "available").await;
    assert_eq!(rg.member_clusters().len(), 1);

    // With no replica, failover (and so Multi-AZ) cannot be turned on.
    let e = aws
        .modify_replication_group()
        .replication_group_id("ha")
        .automatic_failover_enabled(true)
        .apply_immediately(true)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_parameter_combination_exception(), "{e:?}");
    let e = aws
        .modify_replication_group()
        .replication_group_id("ha")
        .multi_az_enabled(true)
        .apply_immediately(true)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_parameter_combination_exception(), "{e:?}");

    // 0 -> 2 replicas: failover and Multi-AZ stay off until asked for.
    aws.increase_replica_count()
        .replication_group_id("ha")
        .new_replica_count(2)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let rg = t.wait_rg("ha", "available").await;
    assert_eq!(rg.member_clusters().len(), 3);
    assert_eq!(
        rg.automatic_failover().map(|f| f.as_str()),
        Some("disabled")
    );
    assert_eq!(rg.multi_az().map(|m| m.as_str()), Some("disabled"));
    aws.modify_replication_group()
        .replication_group_id("ha")
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .apply_immediately(true)
        .send()
        .await
        .expect("with replicas, failover and Multi-AZ come back");
    let rg = t.wait_rg("ha", "available").await;
    assert_eq!(rg.automatic_failover().map(|f| f.as_str()), Some("enabled"));
    assert_eq!(rg.multi_az().map(|m| m.as_str()), Some("enabled"));
}

fn pending_node_types(clusters: &[aws_sdk_elasticache::types::CacheCluster]) -> Vec<Option<&str>> {
    clusters
        .iter()
        .map(|c| {
            c.pending_modified_values()
                .and_then(|p| p.cache_node_type())
        })
        .collect()
}

/// Without `ApplyImmediately` (its default is false) node changes wait for the maintenance
/// window: the group stays available with its old node type, and the members' pending values
/// say what is coming.
#[tokio::test]
async fn node_changes_without_apply_immediately_wait_for_the_maintenance_window() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    aws.create_replication_group()
        .replication_group_id("later")
        .replication_group_description("d")
        .engine("redis")
        .engine_version("7.0")
        .cache_node_type("cache.t4g.small")
        .num_cache_clusters(2)
        .send()
        .await
        .unwrap();
    t.wait_rg("later", "available").await;

    let out = aws
        .modify_replication_group()
        .replication_group_id("later")
        .cache_node_type("cache.r7g.large")
        .send()
        .await
        .expect("a deferred change is accepted");
    let rg = out.replication_group().unwrap();
    assert_eq!(rg.status(), Some("available"));
    assert_eq!(rg.cache_node_type(), Some("cache.t4g.small"));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let rg = t.wait_rg("later", "available").await;
    assert_eq!(
        rg.cache_node_type(),
        Some("cache.t4g.small"),
        "still waiting"
    );
    let clusters = aws.describe_cache_clusters().send().await.unwrap();
    assert_eq!(
        pending_node_types(clusters.cache_clusters()),
        [Some("cache.r7g.large"), Some("cache.r7g.large")]
    );
    assert_eq!(
        clusters.cache_clusters()[0].replication_group_id(),
        Some("later")
    );
    assert_eq!(
        clusters.cache_clusters()[0].cache_node_type(),
        Some("cache.t4g.small")
    );

    // A later deferred change replaces the pending one.
    aws.modify_replication_group()
        .replication_group_id("later")
        .cache_node_type("cache.r7g.xlarge")
        .apply_immediately(false)
        .send()
        .await
        .unwrap();
    let one = aws
        .describe_cache_clusters()
        .cache_cluster_id("later-002")
        .send()
        .await
        .unwrap();
    assert_eq!(
        pending_node_types(one.cache_clusters()),
        [Some("cache.r7g.xlarge")]
    );

    let (s, v) = t
        .post(
            "/_cloudsim/aws/maintenance",
            serde_json::json!({"replicationGroupId": "later"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["started"], serde_json::json!(["us-east-1/later"]));
    let rg = t.wait_rg("later", "available").await;
    assert_eq!(rg.cache_node_type(), Some("cache.r7g.xlarge"));
    let clusters = aws.describe_cache_clusters().send().await.unwrap();
    assert_eq!(pending_node_types(clusters.cache_clusters()), [None, None]);

    // ApplyImmediately applies the request and whatever was pending.
    aws.modify_replication_group()
        .replication_group_id("later")
        .engine_version("7.1")
        .send()
        .await
        .unwrap();
    let rg = t.wait_rg("later", "available").await;
    assert_eq!(rg.cache_node_type(), Some("cache.r7g.xlarge"));
    let clusters = aws.describe_cache_clusters().send().await.unwrap();
    assert_eq!(clusters.cache_clusters()[0].engine_version(), Some("7.0.7"));
    assert_eq!(
        clusters.cache_clusters()[0]
            .pending_modified_values()
            .and_then(|p| p.engine_version()),
        Some("7.1")
    );
    let out = aws
        .modify_replication_group()
        .replication_group_id("later")
        .cache_node_type("cache.r7g.large")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    assert_eq!(out.replication_group().unwrap().status(), Some("modifying"));
    t.wait_rg("later", "available").await;
    let clusters = aws.describe_cache_clusters().send().await.unwrap();
    let c = &clusters.cache_clusters()[0];
    assert_eq!(
        (c.cache_node_type(), c.engine_version()),
        (Some("cache.r7g.large"), Some("7.1.0"))
    );
    assert_eq!(pending_node_types(clusters.cache_clusters()), [None, None]);

    // The other modify calls that take the flag accept only true.
    let e = aws
        .increase_replica_count()
        .replication_group_id("later")
        .new_replica_count(2)
        .apply_immediately(false)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_parameter_value_exception(), "{e:?}");
    let e = aws
        .describe_cache_clusters()
        .cache_cluster_id("nope-001")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_cache_cluster_not_found_fault(), "{e:?}");
}

/// The maintenance window comes on the simulator's clock too.
#[tokio::test]
async fn deferred_changes_apply_when_the_clock_passes_the_window() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    aws.create_replication_group()
        .replication_group_id("weekly")
        .replication_group_description("d")
        .cache_node_type("cache.t4g.small")
        .preferred_maintenance_window("wed:02:00-wed:03:00")
        .send()
        .await
        .unwrap();
    t.wait_rg("weekly", "available").await;
    aws.modify_replication_group()
        .replication_group_id("weekly")
        .cache_node_type("cache.t4g.medium")
        .send()
        .await
        .unwrap();
    let clusters = aws.describe_cache_clusters().send().await.unwrap();
    assert_eq!(
        clusters.cache_clusters()[0].preferred_maintenance_window(),
        Some("wed:02:00-wed:03:00")
    );
    let (s, v) = t
        .post(
            "/_cloudsim/clock",
            serde_json::json!({"advanceSeconds": 7 * 24 * 3600}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["maintenanceStarted"],
        serde_json::json!(["us-east-1/weekly"])
    );
    let rg = t.wait_rg("weekly", "available").await;
    assert_eq!(rg.cache_node_type(), Some("cache.t4g.medium"));
}

async fn assume(t: &TestSim, token: &str) -> (StatusCode, String) {
    let resp = t
        .http
        .post(format!("{}/", t.base))
        .form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", "arn:aws:iam::123456789012:role/cache-operator"),
            ("RoleSessionName", "operator"),
            ("WebIdentityToken", token),
        ])
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// STS for the web identity credential chain: credentials for a JWT, InvalidIdentityToken for
/// anything else, and the injected faults for the transient failures of a real STS.
#[tokio::test]
async fn sts_web_identity_can_fail_for_good_or_transiently() {
    let t = start(Opts::default()).await;
    let jwt =
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6b3BzOm9wZXJhdG9yIn0.c2ln";
    let (s, xml) = assume(&t, jwt).await;
    assert_eq!(s, StatusCode::OK, "{xml}");
    assert!(xml.starts_with(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentityResult>"
    ), "{xml}");
    assert!(xml.contains("<SubjectFromWebIdentityToken>system:serviceaccount:ops:operator</SubjectFromWebIdentityToken>"));
    assert!(xml.contains("<AccessKeyId>ASIA"));
    let (s, xml) = assume(&t, "not-a-jwt").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(xml.contains("<Code>InvalidIdentityToken</Code>"), "{xml}");

    t.put(
        "/_cloudsim/faults",
        serde_json::json!({"errorRate": 1.0, "operations": ["AssumeRoleWithWebIdentity"]}),
    )
    .await;
    let (s, xml) = assume(&t, jwt).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{xml}");
    t.put(
        "/_cloudsim/faults",
        serde_json::json!({"throttleBurst": {"requests": 1}, "operations": ["AssumeRoleWithWebIdentity"]}),
    )
    .await;
    let (s, xml) = assume(&t, jwt).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(xml.contains("<Code>Throttling</Code>"), "{xml}");
    let (_, counters) = t.get("/_cloudsim/counters").await;
    assert_eq!(
        counters["sts"]["AssumeRoleWithWebIdentity"]["ok"], 1,
        "{counters}"
    );
}
