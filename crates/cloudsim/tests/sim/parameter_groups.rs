//! Cache parameter groups through the Rust SDK: the default groups, a customer's group and its
//! parameters, the rules the service enforces, and how a replication group uses one.

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::{Parameter, ParameterNameValue};

use crate::common::*;

fn nv(name: &str, value: &str) -> ParameterNameValue {
    ParameterNameValue::builder()
        .parameter_name(name)
        .parameter_value(value)
        .build()
}

fn value<'a>(params: &'a [Parameter], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|p| p.parameter_name() == Some(name))?
        .parameter_value()
}

#[tokio::test]
async fn default_groups_are_listed_and_cannot_be_changed() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    let all = aws
        .describe_cache_parameter_groups()
        .send()
        .await
        .expect("describe");
    let names: Vec<&str> = all
        .cache_parameter_groups()
        .iter()
        .filter_map(|g| g.cache_parameter_group_name())
        .collect();
    for name in [
        "default.redis7",
        "default.redis7.cluster.on",
        "default.valkey8",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let d = aws
        .describe_cache_parameter_groups()
        .cache_parameter_group_name("default.redis7.cluster.on")
        .send()
        .await
        .expect("describe one");
    let g = &d.cache_parameter_groups()[0];
    assert_eq!(g.cache_parameter_group_family(), Some("redis7"));
    assert_eq!(
        g.arn(),
        Some("arn:aws:elasticache:us-east-1:123456789012:parametergroup:default.redis7.cluster.on")
    );
    let params = aws
        .describe_cache_parameters()
        .cache_parameter_group_name("default.redis7.cluster.on")
        .send()
        .await
        .expect("parameters");
    assert_eq!(value(params.parameters(), "cluster-enabled"), Some("yes"));
    assert_eq!(
        value(params.parameters(), "maxmemory-policy"),
        Some("volatile-lru")
    );

    let e = aws
        .modify_cache_parameter_group()
        .cache_parameter_group_name("default.redis7")
        .parameter_name_values(nv("timeout", "300"))
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_invalid_cache_parameter_group_state_fault(),
        "{e:?}"
    );
    let e = aws
        .delete_cache_parameter_group()
        .cache_parameter_group_name("default.redis7")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidCacheParameterGroupState"));
    let e = aws
        .describe_cache_parameter_groups()
        .cache_parameter_group_name("nothing-here")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_cache_parameter_group_not_found_fault(),
        "{e:?}"
    );
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 404);

    // Engine defaults, paged by at least 20.
    let first = aws
        .describe_engine_default_parameters()
        .cache_parameter_group_family("redis7")
        .max_records(20)
        .send()
        .await
        .expect("engine defaults");
    let defaults = first.engine_defaults().unwrap();
    assert_eq!(defaults.cache_parameter_group_family(), Some("redis7"));
    assert_eq!(defaults.parameters().len(), 20);
    let marker = defaults.marker().expect("a second page").to_owned();
    let second = aws
        .describe_engine_default_parameters()
        .cache_parameter_group_family("redis7")
        .max_records(20)
        .marker(marker)
        .send()
        .await
        .expect("second page");
    let rest = second.engine_defaults().unwrap().parameters();
    assert!(!rest.is_empty());
    assert!(rest[0].parameter_name() > defaults.parameters()[19].parameter_name());
    let e = aws
        .describe_engine_default_parameters()
        .cache_parameter_group_family("memcached1.6")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"));
}

#[tokio::test]
async fn a_customers_group_takes_checked_parameters_and_resets_them() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    let out = aws
        .create_cache_parameter_group()
        .cache_parameter_group_name("Orders-Params")
        .cache_parameter_group_family("redis7")
        .description("orders")
        .send()
        .await
        .expect("create");
    let g = out.cache_parameter_group().unwrap();
    assert_eq!(
        g.cache_parameter_group_name(),
        Some("orders-params"),
        "stored lowercase"
    );
    assert_eq!(g.is_global(), Some(false));
    let e = aws
        .create_cache_parameter_group()
        .cache_parameter_group_name("orders-params")
        .cache_parameter_group_family("redis7")
        .description("again")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_cache_parameter_group_already_exists_fault(),
        "{e:?}"
    );
    for (name, family) in [
        ("bad--name", "redis7"),
        ("1st", "redis7"),
        ("ok-name", "redis99"),
    ] {
        let e = aws
            .create_cache_parameter_group()
            .cache_parameter_group_name(name)
            .cache_parameter_group_family(family)
            .description("d")
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("InvalidParameterValue"), "{name} {family}");
    }

    // A fresh group has no user parameters.
    let user = aws
        .describe_cache_parameters()
        .cache_parameter_group_name("orders-params")
        .source("user")
        .send()
        .await
        .expect("user parameters");
    assert!(user.parameters().is_empty());

    let out = aws
        .modify_cache_parameter_group()
        .cache_parameter_group_name("orders-params")
        .parameter_name_values(nv("maxmemory-policy", "allkeys-lru"))
        .parameter_name_values(nv("timeout", "300"))
        .send()
        .await
        .expect("modify");
    assert_eq!(out.cache_parameter_group_name(), Some("orders-params"));
    let user = aws
        .describe_cache_parameters()
        .cache_parameter_group_name("orders-params")
        .source("user")
        .send()
        .await
        .expect("user parameters");
    assert_eq!(user.parameters().len(), 2);
    assert_eq!(
        value(user.parameters(), "maxmemory-policy"),
        Some("allkeys-lru")
    );
    let p = &user.parameters()[0];
    assert_eq!(p.source(), Some("user"));
    assert_eq!(p.data_type(), Some("string"));
    assert_eq!(p.is_modifiable(), Some(true));
    let all = aws
        .describe_cache_parameters()
        .cache_parameter_group_name("orders-params")
        .send()
        .await
        .expect("all parameters");
    assert!(all.parameters().len() > 2);
    assert_eq!(value(all.parameters(), "timeout"), Some("300"));
    assert_eq!(value(all.parameters(), "databases"), Some("16"));

    for (bad, why) in [
        (nv("timeout", "10"), "outside 0,20-"),
        (nv("databases", "many"), "not an integer"),
        (nv("maxmemory-policy", "lru"), "not an allowed value"),
        (nv("no-such-parameter", "1"), "unknown"),
        (nv("lua-time-limit", "6000"), "not modifiable"),
    ] {
        let e = aws
            .modify_cache_parameter_group()
            .cache_parameter_group_name("orders-params")
            .parameter_name_values(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("InvalidParameterValue"), "{why}");
    }
    let mut too_many = aws
        .modify_cache_parameter_group()
        .cache_parameter_group_name("orders-params");
    for i in 0..21 {
        too_many = too_many.parameter_name_values(nv("timeout", &format!("{}", 20 + i)));
    }
    assert_eq!(
        too_many.send().await.unwrap_err().code(),
        Some("InvalidParameterValue"),
        "at most 20 per call"
    );
    let e = aws
        .modify_cache_parameter_group()
        .cache_parameter_group_name("missing-params")
        .parameter_name_values(nv("timeout", "0"))
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_cache_parameter_group_not_found_fault()
    );

    // Reset one, then all; not both at once.
    aws.reset_cache_parameter_group()
        .cache_parameter_group_name("orders-params")
        .parameter_name_values(
            ParameterNameValue::builder()
                .parameter_name("timeout")
                .build(),
        )
        .send()
        .await
        .expect("reset one");
    let user = aws
        .describe_cache_parameters()
        .cache_parameter_group_name("orders-params")
        .source("user")
        .send()
        .await
        .unwrap();
    assert_eq!(user.parameters().len(), 1);
    let e = aws
        .reset_cache_parameter_group()
        .cache_parameter_group_name("orders-params")
        .reset_all_parameters(true)
        .parameter_name_values(nv("maxmemory-policy", ""))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterCombination"));
    aws.reset_cache_parameter_group()
        .cache_parameter_group_name("orders-params")
        .reset_all_parameters(true)
        .send()
        .await
        .expect("reset all");
    let user = aws
        .describe_cache_parameters()
        .cache_parameter_group_name("orders-params")
        .source("user")
        .send()
        .await
        .unwrap();
    assert!(user.parameters().is_empty());

    aws.delete_cache_parameter_group()
        .cache_parameter_group_name("orders-params")
        .send()
        .await
        .expect("delete");
    let e = aws
        .describe_cache_parameters()
        .cache_parameter_group_name("orders-params")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("CacheParameterGroupNotFound"));
}

#[tokio::test]
async fn replication_groups_use_existing_groups_of_their_family_and_mode() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    let e = aws
        .create_replication_group()
        .replication_group_id("orders")
        .replication_group_description("d")
        .cache_parameter_group_name("no-such-params")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_cache_parameter_group_not_found_fault(),
        "{e:?}"
    );
    aws.create_cache_parameter_group()
        .cache_parameter_group_name("sharded")
        .cache_parameter_group_family("redis7")
        .description("cluster mode")
        .send()
        .await
        .unwrap();
    aws.modify_cache_parameter_group()
        .cache_parameter_group_name("sharded")
        .parameter_name_values(nv("cluster-enabled", "yes"))
        .send()
        .await
        .unwrap();
    // The group's cluster-enabled makes the group cluster mode enabled, even with one shard.
    let out = aws
        .create_replication_group()
        .replication_group_id("orders")
        .replication_group_description("d")
        .engine("redis")
        .engine_version("7.1")
        .automatic_failover_enabled(true)
        .cache_parameter_group_name("Sharded")
        .send()
        .await
        .expect("create with a custom group");
    assert_eq!(
        out.replication_group().unwrap().cluster_enabled(),
        Some(true)
    );
    let e = aws
        .create_replication_group()
        .replication_group_id("other")
        .replication_group_description("d")
        .engine("valkey")
        .engine_version("8.0")
        .automatic_failover_enabled(true)
        .cache_parameter_group_name("sharded")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("InvalidParameterCombination"),
        "family redis7 for valkey8"
    );
    let e = aws
        .create_replication_group()
        .replication_group_id("other")
        .replication_group_description("d")
        .cluster_mode(aws_sdk_elasticache::types::ClusterMode::Disabled)
        .cache_parameter_group_name("sharded")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("InvalidParameterCombination"),
        "cluster mode disabled"
    );

    t.wait_rg("orders", "available").await;
    let e = aws
        .delete_cache_parameter_group()
        .cache_parameter_group_name("sharded")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_invalid_cache_parameter_group_state_fault(),
        "in use: {e:?}"
    );
    let e = aws
        .modify_replication_group()
        .replication_group_id("orders")
        .cache_parameter_group_name("missing")
        .apply_immediately(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("CacheParameterGroupNotFound"));
    aws.modify_replication_group()
        .replication_group_id("orders")
        .cache_parameter_group_name("default.redis7.cluster.on")
        .apply_immediately(true)
        .send()
        .await
        .expect("to the default group of the same family and mode");
    aws.delete_cache_parameter_group()
        .cache_parameter_group_name("sharded")
        .send()
        .await
        .expect("no longer in use");
}
