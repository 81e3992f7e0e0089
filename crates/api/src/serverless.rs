//! `ServerlessCache`: one ElastiCache Serverless cache (Valkey or Redis OSS) — no nodes, shards or
//! replicas to size; usage limits instead.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
// Used inside the derive attributes, which rustc does not count as a use.
#[allow(unused_imports)]
use kube::core::{ListMerge, Rule};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::cluster::{ClusterAccess, DeletionPolicy, Phase};
use crate::common::{HostPort, LocalRef};
use crate::model::AwsEngine;
use crate::model::serverless::{DesiredServerless, LimitRange, UsageLimits};
use crate::rules::{self, Broken};
use crate::validate::FieldErrors;

/// ElastiCache Serverless ranges.
pub const DATA_STORAGE_GB_MIN: i64 = 1;
pub const DATA_STORAGE_GB_MAX: i64 = 5_000;
pub const ECPU_MIN: i64 = 1_000;
pub const ECPU_MAX: i64 = 15_000_000;
pub const MAX_TAGS: usize = 50;
pub const TAG_KEY_MAX: usize = 128;
pub const TAG_VALUE_MAX: usize = 256;
pub const MAX_SUBNETS: usize = 20;
pub const MAX_RESTORE_SNAPSHOTS: usize = 10;
pub const SNAPSHOT_ARN_MAX: usize = 1024;
pub const DESCRIPTION_MAX: usize = 255;

pub const CACHE_NAME_PATTERN: &str = "^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$";
pub const SUBNET_PATTERN: &str = "^subnet-([0-9a-f]{8}|[0-9a-f]{17})$";
pub const SNAPSHOT_ARN_PATTERN: &str = "^arn:aws[a-z-]*:(elasticache:[a-z0-9-]+:[0-9]{12}:serverlesscachesnapshot:[A-Za-z][A-Za-z0-9-]*|s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+)$";
pub const MAJOR_VERSION_PATTERN: &str = "^[0-9]{1,2}$";
/// Tag keys the operator writes itself, or AWS reserves.
pub const TAG_KEY_RESERVED: [&str; 2] = ["aws:", "cache-operator.io/"];

/// A managed ElastiCache Serverless cache.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "cache-operator.io",
    version = "v1alpha1",
    kind = "ServerlessCache",
    namespaced,
    status = "ServerlessCacheStatus",
    shortname = "slc",
    category = "cache-operator",
    printcolumn = r#"{"name":"Region","type":"string","jsonPath":".spec.region"}"#,
    printcolumn = r#"{"name":"Engine","type":"string","jsonPath":".spec.engine"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.majorEngineVersion"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Endpoint","type":"string","jsonPath":".status.endpoint.host"}"#,
    printcolumn = r#"{"name":"Port","type":"integer","jsonPath":".status.endpoint.port","priority":1}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason","priority":1}"#,
    printcolumn = r#"{"name":"Cloud Resource","type":"string","jsonPath":".status.cloudResource","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new(
        "has(self.spec.cacheName) || (self.metadata.name.matches('^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$') && !self.metadata.name.contains('--'))"
    ).message(
        "metadata.name is the serverless cache name when spec.cacheName is unset, so it must be 1-40 lowercase letters, digits or hyphens, start with a letter, end with a letter or digit and not contain '--'; set spec.cacheName otherwise"
    ),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.cacheName) == has(oldSelf.cacheName)").message("cacheName is immutable").field_path(".cacheName"),
    validation = Rule::new("!has(oldSelf.majorEngineVersion) || has(self.majorEngineVersion)")
        .message("majorEngineVersion cannot be removed once set")
        .field_path(".majorEngineVersion"),
    validation = Rule::new("self.engine == oldSelf.engine || (oldSelf.engine == 'redis' && self.engine == 'valkey')")
        .message("engine can change only from redis to valkey: ElastiCache upgrades Redis OSS to Valkey in place, never back")
        .field_path(".engine"),
    validation = Rule::new("self.engine == oldSelf.engine || has(self.majorEngineVersion)")
        .message("an upgrade from redis to valkey needs majorEngineVersion (the Valkey major version, e.g. 8)")
        .field_path(".majorEngineVersion"),
    validation = Rule::new("!has(self.majorEngineVersion) || !has(oldSelf.majorEngineVersion) || int(self.majorEngineVersion) >= int(oldSelf.majorEngineVersion)")
        .message("majorEngineVersion cannot go down: ElastiCache only upgrades")
        .field_path(".majorEngineVersion"),
    validation = Rule::new("!has(self.majorEngineVersion) || (self.engine == 'redis' ? self.majorEngineVersion == '7' : int(self.majorEngineVersion) >= 7)")
        .message("serverless Redis OSS runs major version 7; Valkey 7 or later")
        .field_path(".majorEngineVersion"),
    validation = Rule::new("!has(oldSelf.securityGroupIds) || size(oldSelf.securityGroupIds) == 0 || (has(self.securityGroupIds) && size(self.securityGroupIds) > 0)")
        .message("securityGroupIds cannot be emptied once set: ModifyServerlessCache replaces the list and does not unset it")
        .field_path(".securityGroupIds"),
    validation = Rule::new("(has(self.subnetIds) ? self.subnetIds : []) == (has(oldSelf.subnetIds) ? oldSelf.subnetIds : [])").message("subnetIds is immutable").field_path(".subnetIds"),
    validation = Rule::new("has(self.kmsKeyId) == has(oldSelf.kmsKeyId)").message("kmsKeyId is immutable").field_path(".kmsKeyId"),
    validation = Rule::new("(has(self.restoreFromSnapshots) ? self.restoreFromSnapshots : []) == (has(oldSelf.restoreFromSnapshots) ? oldSelf.restoreFromSnapshots : [])")
        .message("restoreFromSnapshots is immutable: it is used only when the cache is created")
        .field_path(".restoreFromSnapshots"),
    validation = Rule::new("(has(self.tags) ? self.tags : {}) == (has(oldSelf.tags) ? oldSelf.tags : {})").message("tags are set when the cache is created and are immutable").field_path(".tags"),
    validation = Rule::new("!has(self.kmsKeyId) || !self.kmsKeyId.startsWith('arn:') || self.kmsKeyId.split(':')[3] == self.region")
        .message("kmsKeyId must be a KMS key of the cache's region")
        .field_path(".kmsKeyId"),
)]
pub struct ServerlessCacheSpec {
    /// AWS region, e.g. `eu-west-1`. Immutable.
    #[schemars(length(min = 1, max = 40), pattern(rules::REGION_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("region is immutable"))]
    pub region: String,

    /// The `ServerlessCacheName`; defaults to `metadata.name`. 1-40 lowercase letters, digits and
    /// hyphens, starting with a letter, without `--` or a trailing hyphen. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 40), pattern(CACHE_NAME_PATTERN))]
    #[x_kube(
        validation = Rule::new("self == oldSelf").message("cacheName is immutable"),
        validation = Rule::new("!self.contains('--')").message("cacheName must not contain '--'"),
    )]
    pub cache_name: Option<String>,

    /// `valkey` (the default) or `redis` (Redis OSS). May change from redis to valkey, in place
    /// (with `majorEngineVersion`), never back.
    #[serde(default = "valkey")]
    pub engine: AwsEngine,

    /// The major engine version: `7` for redis; `7`, `8`, … for valkey. The service's latest
    /// when unset. May go up, never down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2), pattern(MAJOR_VERSION_PATTERN))]
    pub major_engine_version: Option<String>,

    /// Up to 255 characters; the cloud's is left alone when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub description: Option<String>,

    /// Bounds of data storage (GB) and ECPU per second; the cloud's are left alone when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_limits: Option<ServerlessUsageLimits>,

    /// Days of daily snapshots to keep (0 turns them off); the cloud's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 35))]
    pub snapshot_retention_limit: Option<i32>,

    /// When the daily snapshot starts, `HH:MM` UTC; the cloud chooses when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 5, max = 5), pattern(rules::TIME_OF_DAY_PATTERN))]
    pub daily_snapshot_time: Option<String>,

    /// VPC security groups (`sg-…`, at most 5); the VPC's default group when empty. May be
    /// replaced, not emptied once set.
    #[serde(default)]
    #[schemars(length(max = 5), inner(pattern(rules::AWS_SECURITY_GROUP_PATTERN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub security_group_ids: Vec<String>,

    /// Subnets of one VPC (`subnet-…`); the default VPC's when empty. Immutable.
    #[serde(default)]
    #[schemars(length(max = 20), inner(pattern(SUBNET_PATTERN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub subnet_ids: Vec<String>,

    /// Customer-managed KMS key for data at rest (key ID, key ARN, alias name or alias ARN, of
    /// the cache's region); AWS-owned when unset. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 400), pattern(rules::AWS_KMS_KEY_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("kmsKeyId is immutable"))]
    pub kms_key_id: Option<String>,

    /// The UserGroup (in this namespace, provider aws) whose users may connect; without one
    /// the cache's `default` user connects without a password. Removing it detaches the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_group_ref: Option<LocalRef>,

    /// Create the cache with the data of serverless cache snapshots (ARNs) or of RDB files in
    /// S3 (`arn:aws:s3:::bucket/key`). Immutable.
    #[serde(default)]
    #[schemars(
        length(max = 10),
        inner(length(max = 1024), pattern(SNAPSHOT_ARN_PATTERN))
    )]
    pub restore_from_snapshots: Vec<String>,

    /// Tags of the cache, set when it is created (at most 50; keys up to 128 characters, not
    /// starting with `aws:` or `cache-operator.io/`). Immutable.
    #[serde(default)]
    #[schemars(transform = rules::bounded_map::<MAX_TAGS, TAG_VALUE_MAX>)]
    #[x_kube(validation = Rule::new("self.all(k, size(k) >= 1 && size(k) <= 128 && !k.startsWith('aws:') && !k.startsWith('cache-operator.io/'))")
        .message("tag keys must be 1-128 characters and must not start with aws: or cache-operator.io/"))]
    pub tags: BTreeMap<String, String>,

    /// What deleting this object does to the cache. Default `Delete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// While true the cache is never deleted.
    #[serde(default)]
    pub deletion_protection: bool,

    /// With `deletionPolicy: Delete`, take a final snapshot when the cache is deleted; its name
    /// is kept in status and in an Event. Default true.
    #[serde(default = "default_true")]
    pub final_snapshot: bool,

    /// Who may bind to this cache from other namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<ClusterAccess>,
}

fn valkey() -> AwsEngine {
    AwsEngine::Valkey
}

fn default_true() -> bool {
    true
}

/// `CacheUsageLimits`: what is given replaces the cache's limits as a whole (a part left out
/// is unlimited).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.dataStorage) || has(self.ecpuPerSecond)")
    .message("usageLimits needs dataStorage or ecpuPerSecond; remove usageLimits to leave the cache's limits as they are"))]
pub struct ServerlessUsageLimits {
    /// GB, each bound 1-5000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_storage: Option<DataStorageLimit>,
    /// ECPU per second, each bound 1000-15000000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecpu_per_second: Option<EcpuLimit>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.minimum) || !has(self.maximum) || self.minimum <= self.maximum")
        .message("usageLimits.dataStorage.minimum must not exceed maximum"),
    validation = Rule::new("has(self.minimum) || has(self.maximum)")
        .message("usageLimits.dataStorage needs a minimum or a maximum"),
)]
pub struct DataStorageLimit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5000))]
    pub minimum: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5000))]
    pub maximum: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.minimum) || !has(self.maximum) || self.minimum <= self.maximum")
        .message("usageLimits.ecpuPerSecond.minimum must not exceed maximum"),
    validation = Rule::new("has(self.minimum) || has(self.maximum)")
        .message("usageLimits.ecpuPerSecond needs a minimum or a maximum"),
)]
pub struct EcpuLimit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1000, max = 15000000))]
    pub minimum: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1000, max = 15000000))]
    pub maximum: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerlessCacheStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// `Ready`, `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The `ServerlessCacheName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_name: Option<String>,

    /// The cache's ARN, once the operator made or recognised it as its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_resource: Option<String>,

    /// The cloud's state word (`creating`, `available`, `modifying`, `create-failed`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_state: Option<String>,

    /// Where clients connect (TLS, cluster protocol).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<HostPort>,

    /// Where clients read from replicas (`READONLY` connections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader_endpoint: Option<HostPort>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major_engine_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_engine_version: Option<String>,

    /// The final snapshot asked for when the cache was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_snapshot: Option<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ServerlessCache {
    /// The cloud's name: `spec.cacheName`, else `metadata.name`.
    pub fn cache_name(&self) -> &str {
        self.spec
            .cache_name
            .as_deref()
            .or(self.metadata.name.as_deref())
            .unwrap_or_default()
    }

    /// Check every rule of the spec and say what it asks of the cloud (the user group ID left
    /// unresolved).
    pub fn desired(&self) -> Result<DesiredServerless, FieldErrors> {
        self.spec
            .desired(self.metadata.name.as_deref().unwrap_or_default())
    }

    /// [`ServerlessCache::desired`] with the ElastiCache ID `spec.userGroupRef` resolved to.
    pub fn desired_with_user_group(
        &self,
        user_group_id: Option<String>,
    ) -> Result<DesiredServerless, FieldErrors> {
        let mut d = self.desired()?;
        d.user_group_id = user_group_id;
        Ok(d)
    }
}

/// `1-40 lowercase letters, digits, hyphens; starts with a letter; no "--"; no trailing hyphen`.
pub fn cache_name(name: &str) -> Result<(), Broken> {
    rules::aws_replication_group_id(name)
}

impl ServerlessCacheSpec {
    /// The rules of the CRD schema and its CEL rules, with messages that name the field.
    pub fn desired(&self, name: &str) -> Result<DesiredServerless, FieldErrors> {
        let mut errs = FieldErrors::default();
        let cache = match &self.cache_name {
            Some(n) => {
                errs.check("spec.cacheName", cache_name(n));
                n.as_str()
            }
            None => {
                errs.check(
                    "metadata.name",
                    cache_name(name).map_err(|Broken(m)| {
                        Broken(format!(
                            "is the serverless cache name when spec.cacheName is unset and {m}; set spec.cacheName otherwise"
                        ))
                    }),
                );
                name
            }
        };
        errs.check("spec.region", rules::region(&self.region));
        if let Some(v) = &self.major_engine_version {
            match v.parse::<u32>() {
                Ok(n) if v.len() <= 2 => match self.engine {
                    AwsEngine::Redis if n != 7 => errs.broken(
                        "spec.majorEngineVersion",
                        format!("serverless Redis OSS runs major version 7 (got {v})"),
                    ),
                    AwsEngine::Valkey if n < 7 => errs.broken(
                        "spec.majorEngineVersion",
                        format!("Valkey major versions start at 7 (got {v})"),
                    ),
                    _ => {}
                },
                _ => errs.broken(
                    "spec.majorEngineVersion",
                    "must be a major version number such as 7 or 8",
                ),
            }
        }
        if let Some(d) = &self.description
            && d.chars().count() > DESCRIPTION_MAX
        {
            errs.broken(
                "spec.description",
                format!("must be at most {DESCRIPTION_MAX} characters"),
            );
        }
        if let Some(l) = &self.usage_limits
            && l.data_storage.is_none()
            && l.ecpu_per_second.is_none()
        {
            errs.broken(
                "spec.usageLimits",
                "needs dataStorage or ecpuPerSecond; remove usageLimits to leave the cache's limits as they are",
            );
        }
        let usage_limits = self.usage_limits.as_ref().map(|l| {
            let storage = l.data_storage.as_ref().map(|r| {
                limit(
                    "spec.usageLimits.dataStorage",
                    r.minimum,
                    r.maximum,
                    (DATA_STORAGE_GB_MIN, DATA_STORAGE_GB_MAX),
                    &mut errs,
                )
            });
            let ecpu = l.ecpu_per_second.as_ref().map(|r| {
                limit(
                    "spec.usageLimits.ecpuPerSecond",
                    r.minimum,
                    r.maximum,
                    (ECPU_MIN, ECPU_MAX),
                    &mut errs,
                )
            });
            UsageLimits {
                data_storage: storage.filter(|r| r.minimum.is_some() || r.maximum.is_some()),
                ecpu_per_second: ecpu.filter(|r| r.minimum.is_some() || r.maximum.is_some()),
            }
        });
        let retention = match self.snapshot_retention_limit {
            Some(n) if !(0..=35).contains(&n) => {
                errs.broken(
                    "spec.snapshotRetentionLimit",
                    format!("must be between 0 and 35 days (got {n})"),
                );
                None
            }
            other => other.map(i32::unsigned_abs),
        };
        if let Some(t) = &self.daily_snapshot_time {
            errs.check("spec.dailySnapshotTime", rules::time_of_day(t));
        }
        if self.security_group_ids.len() > 5 {
            errs.broken(
                "spec.securityGroupIds",
                "must list at most 5 security groups",
            );
        }
        for (i, sg) in self.security_group_ids.iter().enumerate() {
            if !hex_id(sg, "sg-") {
                errs.broken(
                    format!("spec.securityGroupIds[{i}]"),
                    "must be a security group ID such as sg-0123456789abcdef0",
                );
            }
        }
        if self.subnet_ids.len() > MAX_SUBNETS {
            errs.broken(
                "spec.subnetIds",
                format!("must list at most {MAX_SUBNETS} subnets"),
            );
        }
        for (i, s) in self.subnet_ids.iter().enumerate() {
            if !hex_id(s, "subnet-") {
                errs.broken(
                    format!("spec.subnetIds[{i}]"),
                    "must be a subnet ID such as subnet-0123456789abcdef0",
                );
            }
        }
        if let Some(key) = &self.kms_key_id
            && let Some(Some(region)) = errs.check("spec.kmsKeyId", rules::aws_kms_key(key))
            && region != self.region
        {
            errs.broken(
                "spec.kmsKeyId",
                format!(
                    "is a key of region {region:?}; KMS keys are regional and the cache is in {:?}",
                    self.region
                ),
            );
        }
        if let Some(g) = &self.user_group_ref {
            errs.check("spec.userGroupRef.name", rules::object_name(&g.name));
        }
        if self.restore_from_snapshots.len() > MAX_RESTORE_SNAPSHOTS {
            errs.broken(
                "spec.restoreFromSnapshots",
                format!("must list at most {MAX_RESTORE_SNAPSHOTS} snapshots"),
            );
        }
        for (i, arn) in self.restore_from_snapshots.iter().enumerate() {
            if arn.len() > SNAPSHOT_ARN_MAX || !snapshot_arn(arn) {
                errs.broken(
                    format!("spec.restoreFromSnapshots[{i}]"),
                    "must be a serverless cache snapshot ARN (arn:aws:elasticache:REGION:ACCOUNT:serverlesscachesnapshot:NAME) or an RDB file in S3 (arn:aws:s3:::BUCKET/KEY)",
                );
            }
        }
        if self.tags.len() > MAX_TAGS {
            errs.broken("spec.tags", format!("must have at most {MAX_TAGS} tags"));
        }
        for (k, v) in &self.tags {
            if k.is_empty()
                || k.chars().count() > TAG_KEY_MAX
                || TAG_KEY_RESERVED.iter().any(|p| k.starts_with(p))
            {
                errs.broken(
                    format!("spec.tags.{k}"),
                    "tag keys must be 1-128 characters and must not start with aws: or cache-operator.io/",
                );
            }
            if v.chars().count() > TAG_VALUE_MAX {
                errs.broken(
                    format!("spec.tags.{k}"),
                    format!("tag values must be at most {TAG_VALUE_MAX} characters"),
                );
            }
        }
        if let Some(access) = &self.access {
            for (i, ns) in access.allowed_namespaces.iter().enumerate() {
                errs.check(
                    format!("spec.access.allowedNamespaces[{i}]"),
                    rules::namespace_or_star(ns),
                );
            }
        }
        errs.finish(|| DesiredServerless {
            region: self.region.clone(),
            name: cache.to_ascii_lowercase(),
            engine: self.engine,
            major_engine_version: self.major_engine_version.clone(),
            description: self.description.clone(),
            usage_limits,
            snapshot_retention_limit: retention,
            daily_snapshot_time: self.daily_snapshot_time.clone(),
            security_group_ids: self.security_group_ids.clone(),
            subnet_ids: self.subnet_ids.clone(),
            kms_key_id: self.kms_key_id.clone(),
            user_group_id: None,
            wants_user_group: self.user_group_ref.is_some(),
            restore_snapshot_arns: self.restore_from_snapshots.clone(),
            tags: self.tags.clone(),
            final_snapshot: self.final_snapshot,
        })
    }
}

fn limit(
    field: &str,
    minimum: Option<i64>,
    maximum: Option<i64>,
    (lo, hi): (i64, i64),
    errs: &mut FieldErrors,
) -> LimitRange {
    for (bound, v) in [("minimum", minimum), ("maximum", maximum)] {
        if let Some(v) = v
            && !(lo..=hi).contains(&v)
        {
            errs.broken(
                format!("{field}.{bound}"),
                format!("must be between {lo} and {hi} (got {v})"),
            );
        }
    }
    if minimum.is_none() && maximum.is_none() {
        errs.broken(field, "needs a minimum or a maximum");
    }
    if let (Some(min), Some(max)) = (minimum, maximum)
        && min > max
    {
        errs.broken(
            format!("{field}.minimum"),
            format!("must not exceed maximum ({min} > {max})"),
        );
    }
    LimitRange { minimum, maximum }
}

/// `prefix` and 8 or 17 lowercase hex digits.
fn hex_id(id: &str, prefix: &str) -> bool {
    let hex = id.strip_prefix(prefix).unwrap_or_default();
    (hex.len() == 8 || hex.len() == 17)
        && hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fn snapshot_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "elasticache", region, account, resource] => {
            partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && resource
                    .strip_prefix("serverlesscachesnapshot:")
                    .is_some_and(|n| {
                        n.starts_with(|c: char| c.is_ascii_alphabetic())
                            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    })
        }
        ["arn", partition, "s3", "", "", path] => {
            partition.starts_with("aws")
                && path
                    .split_once('/')
                    .is_some_and(|(b, k)| b.len() >= 3 && !k.is_empty())
        }
        _ => false,
    }
}
