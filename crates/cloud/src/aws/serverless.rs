//! ElastiCache Serverless caches: the [`ServerlessCaches`] trait the controller uses, its SDK
//! implementation, and [`changes`] — what a spec asks to change, one field per modify, in a
//! stable order (the service refuses several fields in one `ModifyServerlessCache` with
//! `InvalidParameterCombination`).

use async_trait::async_trait;
use aws_sdk_elasticache::types::{
    CacheUsageLimits, DataStorage, DataStorageUnit, EcpuPerSecond, ServerlessCache, Tag,
};
use cache_operator_api::model::AwsEngine;
use cache_operator_api::model::serverless::{DesiredServerless, LimitRange, UsageLimits};

use super::AwsClients;
use super::provider::{OWNER_TAG, OWNER_UID_TAG};
use crate::error::{ErrorClass, Result};
use crate::provider::{Endpoint, Owner};

/// A serverless cache as DescribeServerlessCaches reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedServerless {
    pub name: String,
    pub arn: String,
    /// `creating`, `available`, `modifying`, `deleting`, `create-failed`.
    pub status: String,
    pub engine: String,
    pub major_engine_version: String,
    pub full_engine_version: String,
    pub description: Option<String>,
    pub usage_limits: Option<UsageLimits>,
    pub snapshot_retention_limit: Option<u32>,
    pub daily_snapshot_time: Option<String>,
    pub security_group_ids: Vec<String>,
    pub subnet_ids: Vec<String>,
    pub kms_key_id: Option<String>,
    pub user_group_id: Option<String>,
    pub endpoint: Option<Endpoint>,
    pub reader_endpoint: Option<Endpoint>,
}

/// One field of one `ModifyServerlessCache`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerlessChange {
    /// `Engine` and `MajorEngineVersion` (Redis OSS → Valkey in place, or a major upgrade).
    Engine {
        engine: AwsEngine,
        major: Option<String>,
    },
    UsageLimits(UsageLimits),
    SecurityGroups(Vec<String>),
    UserGroup(String),
    /// `RemoveUserGroup=true`: the only way the service detaches a user group.
    RemoveUserGroup,
    SnapshotRetention(u32),
    DailySnapshotTime(String),
    Description(String),
}

impl ServerlessChange {
    /// For people: `engine valkey 8`, `usage limits`, …
    pub fn describe(&self) -> String {
        match self {
            ServerlessChange::Engine { engine, major } => format!(
                "engine to {}{}",
                engine.as_str(),
                major
                    .as_deref()
                    .map(|m| format!(" {m}"))
                    .unwrap_or_default()
            ),
            ServerlessChange::UsageLimits(_) => "usage limits".into(),
            ServerlessChange::SecurityGroups(ids) => {
                format!("security groups to {}", ids.join(","))
            }
            ServerlessChange::UserGroup(g) => format!("user group to {g}"),
            ServerlessChange::RemoveUserGroup => "removing the user group".into(),
            ServerlessChange::SnapshotRetention(d) => format!("snapshot retention to {d} days"),
            ServerlessChange::DailySnapshotTime(t) => format!("daily snapshot time to {t}"),
            ServerlessChange::Description(_) => "description".into(),
        }
    }
}

/// What `desired` asks to change on `observed`, one field per entry, in the order they are
/// applied: the engine first (the other fields are then set on the engine that will run), then
/// usage limits, security groups, the user group, snapshot retention and time, description.
pub fn changes(
    desired: &DesiredServerless,
    observed: &ObservedServerless,
) -> Vec<ServerlessChange> {
    let mut out = Vec::new();
    let engine_differs = !desired
        .engine
        .as_str()
        .eq_ignore_ascii_case(&observed.engine);
    let major_differs = desired
        .major_engine_version
        .as_deref()
        .is_some_and(|m| m != observed.major_engine_version);
    if engine_differs || major_differs {
        out.push(ServerlessChange::Engine {
            engine: desired.engine,
            major: desired.major_engine_version.clone(),
        });
    }
    if let Some(limits) = desired.usage_limits
        && limits != observed.usage_limits.unwrap_or_default()
    {
        out.push(ServerlessChange::UsageLimits(limits));
    }
    if !desired.security_group_ids.is_empty() {
        let mut want = desired.security_group_ids.clone();
        let mut have = observed.security_group_ids.clone();
        want.sort();
        have.sort();
        if want != have {
            out.push(ServerlessChange::SecurityGroups(
                desired.security_group_ids.clone(),
            ));
        }
    }
    match (&desired.user_group_id, &observed.user_group_id) {
        (Some(want), have) if Some(want) != have.as_ref() => {
            out.push(ServerlessChange::UserGroup(want.clone()));
        }
        (None, Some(_)) if !desired.wants_user_group => {
            out.push(ServerlessChange::RemoveUserGroup);
        }
        _ => {}
    }
    if let Some(days) = desired.snapshot_retention_limit
        && Some(days) != observed.snapshot_retention_limit
    {
        out.push(ServerlessChange::SnapshotRetention(days));
    }
    if let Some(t) = &desired.daily_snapshot_time
        && Some(t) != observed.daily_snapshot_time.as_ref()
    {
        out.push(ServerlessChange::DailySnapshotTime(t.clone()));
    }
    if let Some(d) = &desired.description
        && d != observed.description.as_deref().unwrap_or_default()
    {
        out.push(ServerlessChange::Description(d.clone()));
    }
    out
}

/// ElastiCache Serverless for the controllers. Reads grow with regions: [`ServerlessCaches::list`]
/// is one paged DescribeServerlessCaches (`MaxResults`/`NextToken`) for all caches of a region.
#[async_trait]
pub trait ServerlessCaches: Send + Sync {
    /// Every serverless cache of the region.
    async fn list(&self, region: &str) -> Result<Vec<ObservedServerless>>;
    /// One cache, now.
    async fn get(&self, region: &str, name: &str) -> Result<Option<ObservedServerless>>;
    /// Create the cache, tagged with its owner; returns it as the service answered.
    async fn create(
        &self,
        desired: &DesiredServerless,
        owner: &Owner,
    ) -> Result<ObservedServerless>;
    /// The owner-uid tag of a cache (`None`: none).
    async fn owner_uid(&self, region: &str, arn: &str) -> Result<Option<String>>;
    /// One field.
    async fn modify(&self, region: &str, name: &str, change: &ServerlessChange) -> Result<()>;
    /// Delete, with a final snapshot of that name if given.
    async fn delete(&self, region: &str, name: &str, final_snapshot: Option<&str>) -> Result<()>;
}

fn range_of(maximum: Option<i32>, minimum: Option<i32>) -> Option<LimitRange> {
    (maximum.is_some() || minimum.is_some()).then(|| LimitRange {
        minimum: minimum.map(i64::from),
        maximum: maximum.map(i64::from),
    })
}

fn clamp(v: Option<i64>) -> Option<i32> {
    v.map(|v| i32::try_from(v).unwrap_or(i32::MAX))
}

/// The SDK shape of usage limits.
pub fn sdk_limits(l: &UsageLimits) -> CacheUsageLimits {
    let mut b = CacheUsageLimits::builder();
    if let Some(r) = &l.data_storage {
        b = b.data_storage(
            DataStorage::builder()
                .set_maximum(clamp(r.maximum))
                .set_minimum(clamp(r.minimum))
                .unit(DataStorageUnit::Gb)
                .build(),
        );
    }
    if let Some(r) = &l.ecpu_per_second {
        b = b.ecpu_per_second(
            EcpuPerSecond::builder()
                .set_maximum(clamp(r.maximum))
                .set_minimum(clamp(r.minimum))
                .build(),
        );
    }
    b.build()
}

pub fn observe(c: &ServerlessCache) -> ObservedServerless {
    let endpoint = |e: Option<&aws_sdk_elasticache::types::Endpoint>| {
        let e = e?;
        Some(Endpoint {
            host: e.address()?.to_owned(),
            port: u16::try_from(e.port().unwrap_or(6379)).unwrap_or(6379),
        })
    };
    let usage_limits = c.cache_usage_limits().map(|l| UsageLimits {
        data_storage: l
            .data_storage()
            .and_then(|d| range_of(d.maximum(), d.minimum())),
        ecpu_per_second: l
            .ecpu_per_second()
            .and_then(|d| range_of(d.maximum(), d.minimum())),
    });
    ObservedServerless {
        name: c.serverless_cache_name().unwrap_or_default().to_owned(),
        arn: c.arn().unwrap_or_default().to_owned(),
        status: c.status().unwrap_or_default().to_owned(),
        engine: c.engine().unwrap_or_default().to_owned(),
        major_engine_version: c.major_engine_version().unwrap_or_default().to_owned(),
        full_engine_version: c.full_engine_version().unwrap_or_default().to_owned(),
        description: c.description().map(str::to_owned),
        usage_limits: usage_limits.filter(|l| *l != UsageLimits::default()),
        snapshot_retention_limit: c
            .snapshot_retention_limit()
            .and_then(|n| u32::try_from(n).ok()),
        daily_snapshot_time: c.daily_snapshot_time().map(str::to_owned),
        security_group_ids: c.security_group_ids().to_vec(),
        subnet_ids: c.subnet_ids().to_vec(),
        kms_key_id: c.kms_key_id().map(str::to_owned),
        user_group_id: c.user_group_id().map(str::to_owned),
        endpoint: endpoint(c.endpoint()),
        reader_endpoint: endpoint(c.reader_endpoint()),
    }
}

/// [`ServerlessCaches`] through `aws-sdk-elasticache`.
#[derive(Clone)]
pub struct AwsServerless {
    clients: AwsClients,
    page_size: i32,
}

impl AwsServerless {
    pub fn new(clients: AwsClients) -> Self {
        AwsServerless {
            clients,
            page_size: 50,
        }
    }

    /// `MaxResults` of each DescribeServerlessCaches page (default 50, the service's default).
    pub fn with_page_size(mut self, page_size: i32) -> Self {
        self.page_size = page_size;
        self
    }
}

#[async_trait]
impl ServerlessCaches for AwsServerless {
    async fn list(&self, region: &str) -> Result<Vec<ObservedServerless>> {
        let client = self.clients.client(region);
        let pages = client
            .describe_serverless_caches()
            .into_paginator()
            .page_size(self.page_size)
            .send();
        Ok(self
            .clients
            .pages("DescribeServerlessCaches", pages)
            .await?
            .iter()
            .flat_map(|p| p.serverless_caches().iter().map(observe))
            .collect())
    }

    async fn get(&self, region: &str, name: &str) -> Result<Option<ObservedServerless>> {
        let client = self.clients.client(region);
        let out = self
            .clients
            .call(
                "DescribeServerlessCaches",
                client
                    .describe_serverless_caches()
                    .serverless_cache_name(name)
                    .send(),
            )
            .await;
        match out {
            Ok(out) => Ok(out.serverless_caches().first().map(observe)),
            Err(e) if e.is(ErrorClass::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create(&self, d: &DesiredServerless, owner: &Owner) -> Result<ObservedServerless> {
        let client = self.clients.client(&d.region);
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let mut tags = vec![
            tag(OWNER_UID_TAG, &owner.uid),
            tag(OWNER_TAG, &format!("{}/{}", owner.namespace, owner.name)),
        ];
        tags.extend(d.tags.iter().map(|(k, v)| tag(k, v)));
        let req = client
            .create_serverless_cache()
            .serverless_cache_name(&d.name)
            .engine(d.engine.as_str())
            .set_major_engine_version(d.major_engine_version.clone())
            .set_description(d.description.clone())
            .set_cache_usage_limits(
                d.usage_limits
                    .filter(|l| *l != UsageLimits::default())
                    .as_ref()
                    .map(sdk_limits),
            )
            .set_kms_key_id(d.kms_key_id.clone())
            .set_security_group_ids(
                (!d.security_group_ids.is_empty()).then(|| d.security_group_ids.clone()),
            )
            .set_subnet_ids((!d.subnet_ids.is_empty()).then(|| d.subnet_ids.clone()))
            .set_snapshot_arns_to_restore(
                (!d.restore_snapshot_arns.is_empty()).then(|| d.restore_snapshot_arns.clone()),
            )
            .set_snapshot_retention_limit(
                d.snapshot_retention_limit
                    .map(|n| i32::try_from(n).unwrap_or(35)),
            )
            .set_daily_snapshot_time(d.daily_snapshot_time.clone())
            .set_user_group_id(d.user_group_id.clone())
            .set_tags(Some(tags));
        let out = self
            .clients
            .call("CreateServerlessCache", req.send())
            .await?;
        Ok(out.serverless_cache().map(observe).unwrap_or_default())
    }

    async fn owner_uid(&self, region: &str, arn: &str) -> Result<Option<String>> {
        let client = self.clients.client(region);
        let out = self
            .clients
            .call(
                "ListTagsForResource",
                client.list_tags_for_resource().resource_name(arn).send(),
            )
            .await?;
        Ok(out
            .tag_list()
            .iter()
            .find(|t| t.key() == Some(OWNER_UID_TAG))
            .and_then(|t| t.value().map(str::to_owned)))
    }

    async fn modify(&self, region: &str, name: &str, change: &ServerlessChange) -> Result<()> {
        let client = self.clients.client(region);
        let req = client.modify_serverless_cache().serverless_cache_name(name);
        let req = match change {
            ServerlessChange::Engine { engine, major } => req
                .engine(engine.as_str())
                .set_major_engine_version(major.clone()),
            ServerlessChange::UsageLimits(l) => req.cache_usage_limits(sdk_limits(l)),
            ServerlessChange::SecurityGroups(ids) => req.set_security_group_ids(Some(ids.clone())),
            ServerlessChange::UserGroup(g) => req.user_group_id(g),
            ServerlessChange::RemoveUserGroup => req.remove_user_group(true),
            ServerlessChange::SnapshotRetention(d) => {
                req.snapshot_retention_limit(i32::try_from(*d).unwrap_or(35))
            }
            ServerlessChange::DailySnapshotTime(t) => req.daily_snapshot_time(t),
            ServerlessChange::Description(d) => req.description(d),
        };
        self.clients
            .call("ModifyServerlessCache", req.send())
            .await?;
        Ok(())
    }

    async fn delete(&self, region: &str, name: &str, final_snapshot: Option<&str>) -> Result<()> {
        let client = self.clients.client(region);
        self.clients
            .call(
                "DeleteServerlessCache",
                client
                    .delete_serverless_cache()
                    .serverless_cache_name(name)
                    .set_final_snapshot_name(final_snapshot.map(str::to_owned))
                    .send(),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> DesiredServerless {
        DesiredServerless {
            region: "us-east-1".into(),
            name: "web".into(),
            engine: AwsEngine::Valkey,
            major_engine_version: Some("8".into()),
            description: None,
            usage_limits: None,
            snapshot_retention_limit: None,
            daily_snapshot_time: None,
            security_group_ids: Vec::new(),
            subnet_ids: Vec::new(),
            kms_key_id: None,
            user_group_id: None,
            wants_user_group: false,
            restore_snapshot_arns: Vec::new(),
            tags: Default::default(),
            final_snapshot: true,
        }
    }

    fn observed() -> ObservedServerless {
        ObservedServerless {
            name: "web".into(),
            status: "available".into(),
            engine: "valkey".into(),
            major_engine_version: "8".into(),
            ..ObservedServerless::default()
        }
    }

    #[test]
    fn each_differing_field_is_one_change_in_a_stable_order() {
        let limits = UsageLimits {
            data_storage: Some(LimitRange {
                minimum: None,
                maximum: Some(10),
            }),
            ecpu_per_second: None,
        };
        let d = DesiredServerless {
            engine: AwsEngine::Valkey,
            usage_limits: Some(limits),
            security_group_ids: vec!["sg-12345678".into()],
            snapshot_retention_limit: Some(3),
            daily_snapshot_time: Some("04:00".into()),
            ..desired()
        };
        let mut o = observed();
        o.engine = "redis".into();
        o.major_engine_version = "7".into();
        o.user_group_id = Some("old".into());
        let got: Vec<String> = changes(&d, &o).iter().map(|c| c.describe()).collect();
        assert_eq!(
            got,
            [
                "engine to valkey 8",
                "usage limits",
                "security groups to sg-12345678",
                "removing the user group",
                "snapshot retention to 3 days",
                "daily snapshot time to 04:00",
            ]
        );
    }

    #[test]
    fn unset_fields_leave_the_cloud_alone_and_equal_ones_ask_nothing() {
        let mut o = observed();
        o.snapshot_retention_limit = Some(1);
        o.security_group_ids = vec!["sg-b".into(), "sg-a".into()];
        o.usage_limits = Some(UsageLimits::default());
        assert_eq!(changes(&desired(), &o), []);
        let d = DesiredServerless {
            security_group_ids: vec!["sg-a".into(), "sg-b".into()],
            usage_limits: Some(UsageLimits::default()),
            ..desired()
        };
        assert_eq!(
            changes(&d, &o),
            [],
            "order of security groups is not a change"
        );
        // A group the spec names but that is not resolved yet is not removed meanwhile.
        o.user_group_id = Some("g".into());
        let d = DesiredServerless {
            wants_user_group: true,
            ..desired()
        };
        assert_eq!(changes(&d, &o), []);
    }
}
