//! [`Clusters`] for ElastiCache replication groups.

use async_trait::async_trait;
use std::collections::HashMap;

use aws_sdk_elasticache::types::{
    AuthTokenUpdateStrategyType, AutomaticFailoverStatus, CacheCluster, ClusterMode, MultiAzStatus,
    ReplicationGroup, Tag,
};
use cache_operator_api::model::{AuthMode, AwsCluster, AwsRestore, EngineVersion, WeeklyWindow};

use super::AwsClients;
use crate::error::{CloudError, ErrorClass, Result};
use crate::provider::{
    AwsObserved, Change, Claim, ClusterState, Clusters, Created, Endpoint, FinalBackup,
    ObservedBackup, ObservedCluster, ObservedMaintenance, OperationState, Owner, Progress,
    TokenStrategy,
};

/// Tag keys that record which object a cloud resource belongs to.
pub const OWNER_UID_TAG: &str = "cache-operator.io/owner-uid";
pub const OWNER_TAG: &str = "cache-operator.io/owner";

#[derive(Clone)]
pub struct AwsClusters {
    clients: AwsClients,
}

impl AwsClusters {
    pub fn new(clients: AwsClients) -> Self {
        AwsClusters { clients }
    }

    /// Replication groups with what only their member clusters report (engine version,
    /// parameter group, maintenance window, pending node changes): one DescribeCacheClusters
    /// for the region when listing, one member cluster for a single group.
    async fn describe(&self, region: &str, id: Option<&str>) -> Result<Vec<ObservedCluster>> {
        let client = self.clients.client(region);
        let pages = client
            .describe_replication_groups()
            .set_replication_group_id(id.map(str::to_owned))
            .into_paginator()
            .page_size(100)
            .send();
        let groups: Vec<ReplicationGroup> = self
            .clients
            .pages("DescribeReplicationGroups", pages)
            .await?
            .iter()
            .flat_map(|page| page.replication_groups().iter().cloned())
            .collect();
        let first_member = match (id, groups.first()) {
            (Some(_), Some(rg)) => rg.member_clusters().first().cloned(),
            _ => None,
        };
        if id.is_some() && first_member.is_none() {
            return Ok(groups.iter().map(|rg| observe(rg, None)).collect());
        }
        let members = self.cache_clusters(region, first_member).await?;
        Ok(groups
            .iter()
            .map(|rg| {
                observe(
                    rg,
                    members.get(rg.replication_group_id().unwrap_or_default()),
                )
            })
            .collect())
    }

    /// The first member cluster of each replication group, by group ID.
    async fn cache_clusters(
        &self,
        region: &str,
        id: Option<String>,
    ) -> Result<HashMap<String, CacheCluster>> {
        let client = self.clients.client(region);
        let pages = client
            .describe_cache_clusters()
            .set_cache_cluster_id(id.clone())
            .into_paginator()
            .page_size(100)
            .send();
        let pages = match self.clients.pages("DescribeCacheClusters", pages).await {
            Err(e) if id.is_some() && e.is(ErrorClass::NotFound) => Vec::new(),
            other => other?,
        };
        let mut out: HashMap<String, CacheCluster> = HashMap::new();
        for c in pages.iter().flat_map(|page| page.cache_clusters()) {
            if let Some(rg) = c.replication_group_id() {
                out.entry(rg.to_owned()).or_insert_with(|| c.clone());
            }
        }
        Ok(out)
    }

    async fn owner_tags(&self, region: &str, arn: &str) -> Result<Vec<(String, String)>> {
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
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }
}

fn endpoint(e: Option<&aws_sdk_elasticache::types::Endpoint>) -> Option<Endpoint> {
    let e = e?;
    Some(Endpoint {
        host: e.address()?.to_owned(),
        port: u16::try_from(e.port().unwrap_or(6379)).unwrap_or(6379),
    })
}

/// The changes waiting for the maintenance window, as `Field value`.
fn pending(member: Option<&CacheCluster>) -> Vec<String> {
    let Some(p) = member.and_then(|c| c.pending_modified_values()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(v) = p.engine_version() {
        out.push(format!("EngineVersion {v}"));
    }
    if let Some(t) = p.cache_node_type() {
        out.push(format!("CacheNodeType {t}"));
    }
    out
}

/// A member cluster's pending values as the service means them: applied in the maintenance
/// window.
pub fn pending_words(c: &CacheCluster) -> Vec<String> {
    let Some(p) = c.pending_modified_values() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(t) = p.cache_node_type() {
        out.push(format!(
            "ElastiCache will apply node type {t} in the maintenance window"
        ));
    }
    if let Some(v) = p.engine_version() {
        out.push(format!(
            "ElastiCache will apply engine version {v} in the maintenance window"
        ));
    }
    out
}

/// When `window` (`ddd:hh24:mi-ddd:hh24:mi`) next opens after `now`, and closes (RFC 3339).
pub fn next_window(window: &str, now: jiff::Timestamp) -> Option<(String, String)> {
    let w = WeeklyWindow::parse_aws(window)?;
    let weekday = match w.day.aws() {
        "mon" => jiff::civil::Weekday::Monday,
        "tue" => jiff::civil::Weekday::Tuesday,
        "wed" => jiff::civil::Weekday::Wednesday,
        "thu" => jiff::civil::Weekday::Thursday,
        "fri" => jiff::civil::Weekday::Friday,
        "sat" => jiff::civil::Weekday::Saturday,
        _ => jiff::civil::Weekday::Sunday,
    };
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    (0..=7).find_map(|k| {
        let date = today.checked_add(jiff::Span::new().days(k)).ok()?;
        let start = date
            .at(
                i8::try_from(w.start / 60).ok()?,
                i8::try_from(w.start % 60).ok()?,
                0,
                0,
            )
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp();
        if date.weekday() != weekday || start <= now {
            return None;
        }
        let end = start + std::time::Duration::from_secs(u64::from(w.minutes) * 60);
        Some((start.to_string(), end.to_string()))
    })
}

pub fn observe(rg: &ReplicationGroup, member: Option<&CacheCluster>) -> ObservedCluster {
    let raw_state = rg.status().unwrap_or_default().to_owned();
    let state = match raw_state.as_str() {
        "creating" => ClusterState::Creating,
        "available" => ClusterState::Available,
        "modifying" | "snapshotting" => ClusterState::Updating,
        "deleting" => ClusterState::Deleting,
        "create-failed" => ClusterState::Failed,
        _ => ClusterState::Unknown,
    };
    let cluster_mode_enabled = rg.cluster_enabled().unwrap_or(false);
    let groups = rg.node_groups();
    let replicas = groups
        .iter()
        .map(|g| g.node_group_members().len().saturating_sub(1))
        .max()
        .unwrap_or_else(|| rg.member_clusters().len().saturating_sub(1));
    let first = groups.first();
    let configuration = endpoint(rg.configuration_endpoint());
    let primary = first.and_then(|g| endpoint(g.primary_endpoint()));
    let reader = first.and_then(|g| endpoint(g.reader_endpoint()));
    let discovery = match (&configuration, &primary) {
        (Some(c), _) => vec![c.clone()],
        (None, Some(p)) => vec![p.clone()],
        _ => Vec::new(),
    };
    let pending_user_groups = rg
        .pending_modified_values()
        .and_then(|p| p.user_groups())
        .is_some();
    let automatic_failover = matches!(
        rg.automatic_failover(),
        Some(AutomaticFailoverStatus::Enabled | AutomaticFailoverStatus::Enabling)
    );
    let multi_az = rg.multi_az() == Some(&MultiAzStatus::Enabled);
    ObservedCluster {
        id: rg.replication_group_id().unwrap_or_default().to_owned(),
        resource: rg.arn().unwrap_or_default().to_owned(),
        uid: None,
        created: None,
        state,
        raw_state,
        node_type: rg.cache_node_type().unwrap_or_default().to_owned(),
        shard_count: groups.len() as u32,
        replicas_per_shard: replicas as u32,
        discovery,
        primary: if cluster_mode_enabled { None } else { primary },
        reader: if cluster_mode_enabled { None } else { reader },
        transit_encryption: rg.transit_encryption_enabled().unwrap_or(false),
        pending: member.map(pending_words).unwrap_or_default(),
        gcp: None,
        aws: Some(Box::new(AwsObserved {
            engine: rg.engine().unwrap_or_default().to_owned(),
            cluster_mode_enabled,
            user_group_ids: rg.user_group_ids().to_vec(),
            pending_user_groups,
            snapshot_retention_limit: rg.snapshot_retention_limit().map(|n| n.max(0) as u32),
            node_group_ids: groups
                .iter()
                .filter_map(|g| g.node_group_id().map(str::to_owned))
                .collect(),
            automatic_failover,
            multi_az,
            engine_version: member.and_then(|c| c.engine_version()).map(str::to_owned),
            parameter_group: member
                .and_then(|c| c.cache_parameter_group())
                .and_then(|g| g.cache_parameter_group_name())
                .map(str::to_owned),
            maintenance: {
                let window = member
                    .and_then(|c| c.preferred_maintenance_window())
                    .map(str::to_owned);
                let pending = pending(member);
                let next = window
                    .as_deref()
                    .filter(|_| !pending.is_empty())
                    .and_then(|w| next_window(w, jiff::Timestamp::now()));
                ObservedMaintenance {
                    window,
                    scheduled_start: next.as_ref().map(|(s, _)| s.clone()),
                    scheduled_end: next.map(|(_, e)| e),
                    pending,
                }
            },
            snapshot_window: rg.snapshot_window().map(str::to_owned),
            at_rest_encryption: rg.at_rest_encryption_enabled().unwrap_or(false),
            kms_key_id: rg.kms_key_id().map(str::to_owned),
            auth_token_enabled: rg.auth_token_enabled().unwrap_or(false),
            auth_token_status: rg
                .pending_modified_values()
                .and_then(|p| p.auth_token_status())
                .map(|s| s.as_str().to_owned()),
            auth_token_last_modified: rg.auth_token_last_modified_date().map(|d| d.to_string()),
        })),
        replication: None,
    }
}

/// The version the cloud reports (`7.1.0`), compared at the precision the spec names (`7.1`
/// means any 7.1.x; `5.0.6` means exactly that).
fn below(observed: &str, desired: EngineVersion) -> Option<bool> {
    let o = EngineVersion::parse(observed)?;
    let o = match desired.patch {
        Some(_) => o,
        None => EngineVersion::new(o.major, o.minor),
    };
    Some(o < desired)
}

/// What must change, in the order it is applied.
pub fn changes(c: &AwsCluster, o: &ObservedCluster) -> Vec<Change> {
    let mut out = Vec::new();
    let a = o.aws.clone().unwrap_or_default();
    if o.node_type != c.node_type.name() {
        out.push(Change::NodeType);
    }
    if c.cluster_mode_enabled && o.shard_count != c.shard_count {
        out.push(Change::ShardCount(c.shard_count));
    }
    // Multi-AZ, and automatic failover with cluster mode disabled, need a replica: the service
    // refuses zero replicas while they are on, and adding replicas leaves them off.
    let ha_on = a.multi_az || (!c.cluster_mode_enabled && a.automatic_failover);
    if o.replicas_per_shard != c.replicas_per_shard {
        if c.replicas_per_shard == 0 && ha_on {
            out.push(Change::Failover { enabled: false });
        }
        out.push(Change::ReplicaCount(c.replicas_per_shard));
    } else if c.replicas_per_shard > 0 && !(a.multi_az && a.automatic_failover) {
        out.push(Change::Failover { enabled: true });
    }
    if let Some(limit) = c.snapshot_retention_limit
        && a.snapshot_retention_limit.unwrap_or(0) != limit
    {
        out.push(Change::SnapshotRetention);
    }
    let upgrade = match c.version() {
        Some(v) => {
            c.engine.as_str() != a.engine
                || a.engine_version.as_deref().and_then(|o| below(o, v)) == Some(true)
        }
        None => false,
    };
    if upgrade {
        out.push(Change::EngineVersion);
    } else if let (Some(want), Some(have)) = (c.parameter_group(), &a.parameter_group)
        && &want != have
    {
        out.push(Change::ParameterGroup);
    }
    if let Some(w) = &c.maintenance_window
        && a.maintenance.window.as_deref() != Some(w.aws().as_str())
    {
        out.push(Change::MaintenanceWindow);
    }
    if let Some(w) = &c.snapshot_window
        && a.snapshot_window.as_ref() != Some(w)
    {
        out.push(Change::SnapshotWindow);
    }
    if !a.pending_user_groups {
        let add: Vec<String> = c
            .user_group_ids
            .iter()
            .filter(|g| !a.user_group_ids.contains(g))
            .cloned()
            .collect();
        let remove: Vec<String> = a
            .user_group_ids
            .iter()
            .filter(|g| !c.user_group_ids.contains(g))
            .cloned()
            .collect();
        if !add.is_empty() || !remove.is_empty() {
            out.push(Change::UserGroups { add, remove });
        }
    }
    out
}

/// The AUTH token of an `authMode: token` cluster, which the caller must have set.
fn token(c: &AwsCluster) -> Result<String> {
    c.auth_token
        .as_ref()
        .map(|t| t.expose().to_owned())
        .ok_or_else(|| {
            CloudError::new(
                ErrorClass::InvalidArgument,
                "AuthTokenMissing",
                format!(
                    "replication group {} uses authMode token but no AUTH token was given",
                    c.replication_group_id
                ),
                "elasticache",
            )
        })
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

#[async_trait]
impl Clusters<AwsCluster> for AwsClusters {
    fn changes(&self, desired: &AwsCluster, observed: &ObservedCluster) -> Vec<Change> {
        changes(desired, observed)
    }

    async fn list(&self, like: &AwsCluster) -> Result<Vec<ObservedCluster>> {
        self.describe(&like.region, None).await
    }

    async fn get(&self, c: &AwsCluster) -> Result<Option<ObservedCluster>> {
        match self
            .describe(&c.region, Some(&c.replication_group_id))
            .await
        {
            Ok(mut found) => Ok(found.pop()),
            Err(e) if e.is(ErrorClass::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create(&self, c: &AwsCluster, owner: &Owner) -> Result<Created> {
        let client = self.clients.client(&c.region);
        let replicated = c.replicas_per_shard > 0;
        let mut req = client
            .create_replication_group()
            .replication_group_id(&c.replication_group_id)
            .replication_group_description(format!(
                "Managed by cache-operator for {}/{}",
                owner.namespace, owner.name
            ))
            .engine(c.engine.as_str())
            .set_engine_version(c.engine_version.clone())
            .cache_node_type(c.node_type.name())
            .transit_encryption_enabled(c.transit_encryption)
            .at_rest_encryption_enabled(c.at_rest_encryption)
            .set_kms_key_id(c.kms_key_id.clone())
            .set_cache_subnet_group_name(c.cache_subnet_group_name.clone())
            .set_security_group_ids(
                (!c.security_group_ids.is_empty()).then(|| c.security_group_ids.clone()),
            )
            .set_cache_parameter_group_name(c.parameter_group())
            .set_snapshot_retention_limit(c.snapshot_retention_limit.map(|n| n as i32))
            .set_snapshot_window(c.snapshot_window.clone())
            .set_preferred_maintenance_window(c.maintenance_window.as_ref().map(WeeklyWindow::aws))
            .set_user_group_ids((!c.user_group_ids.is_empty()).then(|| c.user_group_ids.clone()))
            .tags(tag(OWNER_UID_TAG, &owner.uid))
            .tags(tag(
                OWNER_TAG,
                &format!("{}/{}", owner.namespace, owner.name),
            ));
        req = match &c.restore {
            Some(AwsRestore::Snapshot(name)) => req.snapshot_name(name),
            Some(AwsRestore::S3(arns)) => req.set_snapshot_arns(Some(arns.clone())),
            None => req,
        };
        if c.auth == AuthMode::Token {
            req = req.auth_token(token(c)?);
        }
        req = if c.cluster_mode_enabled {
            req.cluster_mode(ClusterMode::Enabled)
                .num_node_groups(c.shard_count as i32)
                .replicas_per_node_group(c.replicas_per_shard as i32)
                .automatic_failover_enabled(true)
                .multi_az_enabled(replicated)
        } else {
            req.cluster_mode(ClusterMode::Disabled)
                .num_cache_clusters(c.replicas_per_shard as i32 + 1)
                .automatic_failover_enabled(replicated)
                .multi_az_enabled(replicated)
        };
        let out = self
            .clients
            .call("CreateReplicationGroup", req.send())
            .await?;
        let resource = out
            .replication_group()
            .and_then(|rg| rg.arn())
            .unwrap_or_default()
            .to_owned();
        Ok(Created {
            progress: Progress::Started,
            resource,
        })
    }

    async fn claim(
        &self,
        c: &AwsCluster,
        owner: &Owner,
        observed: &ObservedCluster,
    ) -> Result<Claim> {
        let tags = self.owner_tags(&c.region, &observed.resource).await?;
        Ok(match tags.iter().find(|(k, _)| k == OWNER_UID_TAG) {
            Some((_, uid)) if uid == &owner.uid => Claim::Ours,
            Some((_, uid)) => Claim::Foreign(format!(
                "replication group {} belongs to another object (tag {OWNER_UID_TAG}={uid})",
                c.replication_group_id
            )),
            None => Claim::Foreign(format!(
                "replication group {} exists and was not created by cache-operator (no {OWNER_UID_TAG} tag)",
                c.replication_group_id
            )),
        })
    }

    async fn adopt(&self, c: &AwsCluster, owner: &Owner, observed: &ObservedCluster) -> Result<()> {
        let client = self.clients.client(&c.region);
        self.clients
            .call(
                "AddTagsToResource",
                client
                    .add_tags_to_resource()
                    .resource_name(&observed.resource)
                    .tags(tag(OWNER_UID_TAG, &owner.uid))
                    .tags(tag(
                        OWNER_TAG,
                        &format!("{}/{}", owner.namespace, owner.name),
                    ))
                    .send(),
            )
            .await?;
        Ok(())
    }

    async fn apply(&self, c: &AwsCluster, change: &Change, _owner: &Owner) -> Result<Progress> {
        let client = self.clients.client(&c.region);
        let id = &c.replication_group_id;
        match change {
            Change::NodeType => {
                let req = client
                    .modify_replication_group()
                    .replication_group_id(id)
                    .cache_node_type(c.node_type.name())
                    .apply_immediately(true);
                self.clients
                    .call("ModifyReplicationGroup", req.send())
                    .await?;
            }
            Change::ShardCount(n) => {
                let observed = self.get(c).await?.ok_or_else(|| {
                    CloudError::new(
                        ErrorClass::NotFound,
                        "ReplicationGroupNotFoundFault",
                        format!("{id} is gone"),
                        "aws",
                    )
                })?;
                let ids = observed.aws.map(|a| a.node_group_ids).unwrap_or_default();
                let mut req = client
                    .modify_replication_group_shard_configuration()
                    .replication_group_id(id)
                    .node_group_count(*n as i32)
                    .apply_immediately(true);
                if (*n as usize) < ids.len() {
                    // Scale in by removing the highest-numbered shards.
                    let mut sorted = ids.clone();
                    sorted.sort();
                    for g in sorted.iter().skip(*n as usize) {
                        req = req.node_groups_to_remove(g);
                    }
                }
                self.clients
                    .call("ModifyReplicationGroupShardConfiguration", req.send())
                    .await?;
            }
            Change::ReplicaCount(n) => {
                let current = self
                    .get(c)
                    .await?
                    .map(|o| o.replicas_per_shard)
                    .unwrap_or(0);
                if *n > current {
                    let req = client
                        .increase_replica_count()
                        .replication_group_id(id)
                        .new_replica_count(*n as i32)
                        .apply_immediately(true);
                    self.clients
                        .call("IncreaseReplicaCount", req.send())
                        .await?;
                } else {
                    let req = client
                        .decrease_replica_count()
                        .replication_group_id(id)
                        .new_replica_count(*n as i32)
                        .apply_immediately(true);
                    self.clients
                        .call("DecreaseReplicaCount", req.send())
                        .await?;
                }
            }
            Change::SnapshotRetention => {
                let req = client
                    .modify_replication_group()
                    .replication_group_id(id)
                    .set_snapshot_retention_limit(c.snapshot_retention_limit.map(|n| n as i32))
                    .apply_immediately(true);
                self.clients
                    .call("ModifyReplicationGroup", req.send())
                    .await?;
            }
            Change::Failover { enabled } => {
                let mut req = client
                    .modify_replication_group()
                    .replication_group_id(id)
                    .multi_az_enabled(*enabled)
                    .apply_immediately(true);
                // With cluster mode enabled failover is always on.
                if !c.cluster_mode_enabled {
                    req = req.automatic_failover_enabled(*enabled);
                }
                self.clients
                    .call("ModifyReplicationGroup", req.send())
                    .await?;
            }
            Change::UserGroups { add, remove } => {
                let req = client
                    .modify_replication_group()
                    .replication_group_id(id)
                    .set_user_group_ids_to_add((!add.is_empty()).then(|| add.clone()))
                    .set_user_group_ids_to_remove((!remove.is_empty()).then(|| remove.clone()))
                    .apply_immediately(true);
                self.clients
                    .call("ModifyReplicationGroup", req.send())
                    .await?;
            }
            Change::EngineVersion => {
                let req = client
                    .modify_replication_group()
                    .replication_group_id(id)
                    .engine(c.engine.as_str())
                    .set_engine_version(c.engine_version.clone())
                    .set_cache_parameter_group_name(c.parameter_group())
                    .apply_immediately(true);
                self.clients
                    .call("ModifyReplicationGroup", req.send())
                    .await?;
            }
            Change::ParameterGroup => {
                let req = client
                    .modify_replication_group()
                    .replication_group_id(id)
                    .set_cache_parameter_group_name(c.parameter_group())
                    .apply_immediately(true);
                self.clients
                    .call("ModifyReplicationGroup", req.send())
                    .await?;
            }
            Change::MaintenanceWindow => {
                let req = client
                    .modify_replication_group()
                    .replication_group_id(id)
                    .set_preferred_maintenance_window(
                        c.maintenance_window.as_ref().map(WeeklyWindow::aws),
                    )
                    .apply_immediately(true);
                self.clients
                    .call("ModifyReplicationGroup", req.send())
                    .await?;
            }
            Change::SnapshotWindow => {
                let req = client
                    .modify_replication_group()
                    .replication_group_id(id)
                    .set_snapshot_window(c.snapshot_window.clone())
                    .apply_immediately(true);
                self.clients
                    .call("ModifyReplicationGroup", req.send())
                    .await?;
            }
            Change::AuthToken(strategy) => {
                let req = client
                    .modify_replication_group()
                    .replication_group_id(id)
                    .auth_token(token(c)?)
                    .auth_token_update_strategy(match strategy {
                        TokenStrategy::Rotate => AuthTokenUpdateStrategyType::Rotate,
                        TokenStrategy::Set => AuthTokenUpdateStrategyType::Set,
                    })
                    .apply_immediately(true);
                self.clients
                    .call("ModifyReplicationGroup", req.send())
                    .await?;
            }
            other => {
                return Err(CloudError::new(
                    ErrorClass::InvalidArgument,
                    "unsupported",
                    format!("ElastiCache cannot change {}", other.describe()),
                    "elasticache",
                ));
            }
        }
        Ok(Progress::Started)
    }

    async fn delete(&self, c: &AwsCluster, _owner: &Owner) -> Result<Progress> {
        let client = self.clients.client(&c.region);
        self.clients
            .call(
                "DeleteReplicationGroup",
                client
                    .delete_replication_group()
                    .replication_group_id(&c.replication_group_id)
                    .send(),
            )
            .await?;
        Ok(Progress::Started)
    }

    async fn operation(&self, _name: &str) -> Result<OperationState> {
        // ElastiCache has no operations: the replication group's status is the progress.
        Ok(OperationState::Unknown)
    }

    async fn ca_certificates(&self, _: &AwsCluster) -> Result<Vec<String>> {
        // ElastiCache TLS certificates chain to public Amazon roots.
        Ok(Vec::new())
    }

    async fn backup(&self, c: &AwsCluster, name: &str) -> Result<Progress> {
        let client = self.clients.client(&c.region);
        self.clients
            .call(
                "CreateSnapshot",
                client
                    .create_snapshot()
                    .replication_group_id(&c.replication_group_id)
                    .snapshot_name(name)
                    .send(),
            )
            .await?;
        Ok(Progress::Started)
    }

    async fn backups(&self, c: &AwsCluster) -> Result<Vec<ObservedBackup>> {
        let client = self.clients.client(&c.region);
        let pages = client
            .describe_snapshots()
            .replication_group_id(&c.replication_group_id)
            .into_paginator()
            .page_size(50)
            .send();
        let pages = self.clients.pages("DescribeSnapshots", pages).await?;
        Ok(pages
            .iter()
            .flat_map(|page| page.snapshots())
            .map(|s| {
                let state = s.snapshot_status().unwrap_or_default().to_owned();
                ObservedBackup {
                    name: s.snapshot_name().unwrap_or_default().to_owned(),
                    resource: s.arn().unwrap_or_default().to_owned(),
                    // A snapshot being restored from still holds its data.
                    ready: matches!(state.as_str(), "available" | "restoring"),
                    automated: s.snapshot_source() == Some("automated"),
                    created: s
                        .node_snapshots()
                        .first()
                        .and_then(|n| n.snapshot_create_time())
                        .map(|t| t.to_string()),
                    state,
                }
            })
            .collect())
    }

    async fn final_backup(
        &self,
        c: &AwsCluster,
        _owner: &Owner,
        name: &str,
    ) -> Result<FinalBackup> {
        let client = self.clients.client(&c.region);
        self.clients
            .call(
                "DeleteReplicationGroup",
                client
                    .delete_replication_group()
                    .replication_group_id(&c.replication_group_id)
                    .final_snapshot_identifier(name)
                    .send(),
            )
            .await?;
        Ok(FinalBackup::WithDelete(Progress::Started))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticache::types::{Endpoint as AwsEndpoint, NodeGroup, NodeGroupMember};
    use cache_operator_api::cluster::RedisClusterSpec;
    use cache_operator_api::model::DesiredCluster;
    use serde_json::json;

    fn desired(shards: u32, replicas: u32) -> AwsCluster {
        let spec: RedisClusterSpec = serde_json::from_value(json!({
            "provider": "aws", "region": "us-east-1", "nodeType": "cache.r7g.large",
            "shardCount": shards, "replicasPerShard": replicas, "authMode": "disabled",
            "aws": {"engine": "valkey", "snapshotRetentionLimit": 7}
        }))
        .unwrap();
        match spec.desired("sessions").unwrap() {
            DesiredCluster::Aws(c) => c,
            DesiredCluster::Gcp(_) => unreachable!(),
        }
    }

    fn group(id: &str, members: usize) -> NodeGroup {
        let mut g = NodeGroup::builder().node_group_id(id).status("available");
        for i in 0..members {
            g = g.node_group_members(
                NodeGroupMember::builder()
                    .cache_cluster_id(format!("sessions-{id}-00{i}"))
                    .build(),
            );
        }
        g.build()
    }

    fn replication_group(groups: Vec<NodeGroup>) -> ReplicationGroup {
        ReplicationGroup::builder()
            .replication_group_id("sessions")
            .status("available")
            .cluster_enabled(true)
            .cache_node_type("cache.r7g.large")
            .snapshot_retention_limit(7)
            .transit_encryption_enabled(true)
            .arn("arn:aws:elasticache:us-east-1:123456789012:replicationgroup:sessions")
            .automatic_failover(AutomaticFailoverStatus::Enabled)
            .multi_az(MultiAzStatus::Enabled)
            .configuration_endpoint(
                AwsEndpoint::builder()
                    .address("clustercfg.sessions.example")
                    .port(6379)
                    .build(),
            )
            .set_node_groups(Some(groups))
            .build()
    }

    #[test]
    fn observes_shards_replicas_and_the_configuration_endpoint() {
        let o = observe(
            &replication_group(vec![group("0001", 3), group("0002", 3)]),
            None,
        );
        assert_eq!((o.shard_count, o.replicas_per_shard), (2, 2));
        assert_eq!(o.state, ClusterState::Available);
        assert_eq!(
            o.discovery,
            vec![Endpoint {
                host: "clustercfg.sessions.example".into(),
                port: 6379
            }]
        );
        assert_eq!(
            o.primary, None,
            "cluster mode enabled clients use the configuration endpoint"
        );
        assert_eq!(o.aws.unwrap().node_group_ids, vec!["0001", "0002"]);
    }

    #[test]
    fn replicas_go_to_zero_after_failover_and_come_back_before_it() {
        let mut disabled = desired(1, 0);
        disabled.cluster_mode_enabled = false;
        let mut rg = replication_group(vec![group("0001", 2)]);
        rg.cluster_enabled = Some(false);
        let one = observe(&rg, None);
        assert_eq!(
            changes(&disabled, &one),
            vec![Change::Failover { enabled: false }, Change::ReplicaCount(0)]
        );
        rg.automatic_failover = Some(AutomaticFailoverStatus::Disabled);
        rg.multi_az = Some(MultiAzStatus::Disabled);
        assert_eq!(
            changes(&disabled, &observe(&rg, None)),
            vec![Change::ReplicaCount(0)]
        );
        let mut two = disabled.clone();
        two.replicas_per_shard = 2;
        let zero = observe(&replication_group(vec![group("0001", 1)]), None);
        let mut zero = zero;
        zero.aws.as_mut().unwrap().automatic_failover = false;
        zero.aws.as_mut().unwrap().multi_az = false;
        assert_eq!(changes(&two, &zero), vec![Change::ReplicaCount(2)]);
        rg.node_groups = Some(vec![group("0001", 3)]);
        assert_eq!(
            changes(&two, &observe(&rg, None)),
            vec![Change::Failover { enabled: true }],
            "replicas back: failover and Multi-AZ on again"
        );
    }

    #[test]
    fn versions_compare_at_the_precision_the_spec_names() {
        let v = |s: &str| EngineVersion::parse(s).unwrap();
        assert_eq!(
            below("7.1.0", v("7.1")),
            Some(false),
            "7.1.0 is the 7.1 asked for"
        );
        assert_eq!(below("7.0.7", v("7.1")), Some(true));
        assert_eq!(below("5.0.6", v("5.0.6")), Some(false));
        assert_eq!(below("5.0.5", v("5.0.6")), Some(true));
        assert_eq!(below("8.0.1", v("7.2")), Some(false), "never a downgrade");
    }

    #[test]
    fn the_next_window_opens_on_its_weekday() {
        let now: jiff::Timestamp = "2026-11-25T10:00:00Z".parse().unwrap(); // a Wednesday
        assert_eq!(
            next_window("sun:23:00-mon:01:30", now),
            Some((
                "2026-11-29T23:00:00Z".to_owned(),
                "2026-11-30T01:30:00Z".to_owned()
            ))
        );
        assert_eq!(
            next_window("wed:09:00-wed:10:00", now).unwrap().0,
            "2026-12-02T09:00:00Z",
            "this week's window has passed"
        );
        assert_eq!(next_window("someday", now), None);
    }

    #[test]
    fn an_older_engine_is_upgraded_and_the_default_group_follows() {
        let mut d = desired(2, 2);
        d.engine_version = Some("8.0".into());
        let mut o = observe(
            &replication_group(vec![group("0001", 3), group("0002", 3)]),
            None,
        );
        let a = o.aws.as_mut().unwrap();
        a.engine = "valkey".into();
        a.engine_version = Some("8.0.1".into());
        a.parameter_group = Some("default.valkey8.cluster.on".into());
        assert_eq!(changes(&d, &o), vec![]);
        o.aws.as_mut().unwrap().parameter_group = Some("orders-custom".into());
        assert_eq!(changes(&d, &o), vec![Change::ParameterGroup]);
        let a = o.aws.as_mut().unwrap();
        a.engine = "redis".into();
        a.engine_version = Some("7.1.0".into());
        assert_eq!(
            changes(&d, &o),
            vec![Change::EngineVersion],
            "redis to valkey, with the group of the new family"
        );
    }

    #[test]
    fn changes_only_what_differs() {
        let o = observe(
            &replication_group(vec![group("0001", 3), group("0002", 3)]),
            None,
        );
        assert_eq!(changes(&desired(2, 2), &o), vec![]);
        assert_eq!(
            changes(&desired(3, 1), &o),
            vec![Change::ShardCount(3), Change::ReplicaCount(1)]
        );
        let mut with_group = desired(2, 2);
        with_group.user_group_ids = vec!["sessions-users".into()];
        assert_eq!(
            changes(&with_group, &o),
            vec![Change::UserGroups {
                add: vec!["sessions-users".into()],
                remove: vec![]
            }]
        );
    }
}
