//! Cache subnet groups through the Rust SDK: subnets of the region's VPC with their zones, the
//! name and subnet rules, and the groups replication groups use.

use aws_sdk_elasticache::error::ProvideErrorMetadata;

use crate::common::*;

#[tokio::test]
async fn subnet_groups_hold_subnets_and_refuse_changes_in_use() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    let out = aws
        .create_cache_subnet_group()
        .cache_subnet_group_name("Private")
        .cache_subnet_group_description("private subnets")
        .subnet_ids("subnet-6f28c982")
        .subnet_ids("subnet-0123456789abcdef0")
        .send()
        .await
        .expect("create");
    let g = out.cache_subnet_group().unwrap();
    assert_eq!(
        g.cache_subnet_group_name(),
        Some("private"),
        "stored lowercase"
    );
    assert!(g.vpc_id().is_some_and(|v| v.starts_with("vpc-")));
    assert_eq!(g.subnets().len(), 2);
    let s = &g.subnets()[0];
    assert_eq!(s.subnet_identifier(), Some("subnet-6f28c982"));
    assert!(
        s.subnet_availability_zone()
            .and_then(|z| z.name())
            .is_some_and(|z| z.starts_with("us-east-1"))
    );
    assert_eq!(
        g.arn(),
        Some("arn:aws:elasticache:us-east-1:123456789012:subnetgroup:private")
    );

    let e = aws
        .create_cache_subnet_group()
        .cache_subnet_group_name("private")
        .cache_subnet_group_description("again")
        .subnet_ids("subnet-6f28c982")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_cache_subnet_group_already_exists_fault(),
        "{e:?}"
    );
    let e = aws
        .create_cache_subnet_group()
        .cache_subnet_group_name("odd")
        .cache_subnet_group_description("d")
        .subnet_ids("subnet-nothex!")
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_invalid_subnet(), "{e:?}");
    let e = aws
        .create_cache_subnet_group()
        .cache_subnet_group_name("under_score")
        .cache_subnet_group_description("d")
        .subnet_ids("subnet-6f28c982")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    let e = aws
        .describe_cache_subnet_groups()
        .cache_subnet_group_name("nothing")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_cache_subnet_group_not_found_fault(),
        "{e:?}"
    );

    let out = aws
        .modify_cache_subnet_group()
        .cache_subnet_group_name("private")
        .cache_subnet_group_description("three subnets")
        .subnet_ids("subnet-6f28c982")
        .subnet_ids("subnet-0123456789abcdef0")
        .subnet_ids("subnet-aaaabbbb")
        .send()
        .await
        .expect("modify");
    assert_eq!(out.cache_subnet_group().unwrap().subnets().len(), 3);

    // A replication group must name an existing group; one that uses it pins its subnets.
    let e = aws
        .create_replication_group()
        .replication_group_id("orders")
        .replication_group_description("d")
        .cache_subnet_group_name("public")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_cache_subnet_group_not_found_fault(),
        "{e:?}"
    );
    aws.create_replication_group()
        .replication_group_id("orders")
        .replication_group_description("d")
        .cache_subnet_group_name("Private")
        .send()
        .await
        .expect("create in the group");
    t.wait_rg("orders", "available").await;
    let members = aws.describe_cache_clusters().send().await.unwrap();
    assert_eq!(
        members.cache_clusters()[0].cache_subnet_group_name(),
        Some("private")
    );
    let e = aws
        .delete_cache_subnet_group()
        .cache_subnet_group_name("private")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error().unwrap().is_cache_subnet_group_in_use(),
        "{e:?}"
    );
    let e = aws
        .modify_cache_subnet_group()
        .cache_subnet_group_name("private")
        .subnet_ids("subnet-aaaabbbb")
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_subnet_in_use(), "{e:?}");

    aws.delete_replication_group()
        .replication_group_id("orders")
        .send()
        .await
        .unwrap();
    eventually("the group gone", || async {
        aws.describe_replication_groups()
            .replication_group_id("orders")
            .send()
            .await
            .err()
            .map(|_| ())
    })
    .await;
    aws.delete_cache_subnet_group()
        .cache_subnet_group_name("private")
        .send()
        .await
        .expect("no longer in use");
    let all = aws.describe_cache_subnet_groups().send().await.unwrap();
    assert!(all.cache_subnet_groups().is_empty());
}
