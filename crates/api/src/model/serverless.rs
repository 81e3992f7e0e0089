//! What a valid `ServerlessCacheSpec` asks of ElastiCache Serverless.

use std::collections::BTreeMap;

use super::AwsEngine;

/// A minimum and/or a maximum of one usage limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitRange {
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
}

/// `CacheUsageLimits`: a part left out has no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageLimits {
    /// GB.
    pub data_storage: Option<LimitRange>,
    pub ecpu_per_second: Option<LimitRange>,
}

/// A serverless cache as the spec asks for it. `None` and empty lists leave the cloud's value
/// alone, except the user group: no group is no group (removed with `RemoveUserGroup`).
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredServerless {
    pub region: String,
    /// `ServerlessCacheName`, lowercase (the service stores it so).
    pub name: String,
    pub engine: AwsEngine,
    /// `MajorEngineVersion` (`7`, `8`); the service's latest when unset.
    pub major_engine_version: Option<String>,
    pub description: Option<String>,
    pub usage_limits: Option<UsageLimits>,
    pub snapshot_retention_limit: Option<u32>,
    /// `HH:MM` UTC.
    pub daily_snapshot_time: Option<String>,
    pub security_group_ids: Vec<String>,
    pub subnet_ids: Vec<String>,
    pub kms_key_id: Option<String>,
    /// The ElastiCache user group ID of `spec.userGroupRef`, resolved by the controller from the
    /// UserGroup; `None` straight out of the spec.
    pub user_group_id: Option<String>,
    /// Whether the spec names a user group (resolved or not).
    pub wants_user_group: bool,
    pub restore_snapshot_arns: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// Take a final snapshot when the cache is deleted.
    pub final_snapshot: bool,
}
