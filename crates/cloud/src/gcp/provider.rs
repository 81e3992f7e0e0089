//! [`Clusters`] for Memorystore for Redis Cluster.

use async_trait::async_trait;
use cache_operator_api::model::{
    AofAppendFsync, GcpAutomatedBackup, GcpCluster, GcpNodeType, GcpRestore, Persistence,
    RdbSnapshotPeriod, Weekday, WeeklyWindow, ZoneDistribution,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::memorystore::{
    AutomatedBackupConfig, Cluster, CrossClusterReplicationConfig, DiscoveryEndpoint,
    FixedFrequencySchedule, GcsSource, MaintenancePolicy, MaintenanceSchedule, ManagedBackupSource,
    Memorystore, Operation, PscConfig, RemoteCluster, TimeOfDay, WeeklyMaintenanceWindow,
    rpc_code_name,
};
use crate::error::{CloudError, ErrorClass, Result};
use crate::provider::{
    Change, Claim, ClusterState, Clusters, Created, Endpoint, FinalBackup, GcpObserved,
    ObservedBackup, ObservedCluster, ObservedMaintenance, ObservedReplication, OperationState,
    Owner, Progress, ReplicationRole,
};

/// Memorystore clusters. Ownership lives in `requestId`s: the create request of an object has
/// an ID derived from its UID, and replaying it answers with the original operation only for
/// the object that made it (the v1 Cluster resource has no labels).
#[derive(Clone)]
pub struct GcpClusters {
    api: Memorystore,
}

const REQUEST_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6361_6368_652d_6f70_6572_6174_6f72_0001);

/// A request ID that is the same for every retry of the same write and attempt, and differs
/// for any other write or attempt. Attempt 0 keeps the IDs earlier versions sent, so an upgrade
/// does not turn a write in flight into a new one.
pub fn request_id(owner: &Owner, what: &str) -> String {
    let name = match owner.attempt {
        0 => format!("{}/{what}", owner.uid),
        n => format!("{}/attempt-{n}/{what}", owner.uid),
    };
    Uuid::new_v5(&REQUEST_ID_NAMESPACE, name.as_bytes()).to_string()
}

/// The request ID of a one-field patch: it names this exact write, so a retry cannot apply it
/// twice and a later, different write is never mistaken for it.
pub fn patch_request_id(owner: &Owner, mask: &str, body: &impl serde::Serialize) -> String {
    let what = format!(
        "patch/{}/{mask}/{}",
        owner.generation,
        serde_json::to_string(body).unwrap_or_default()
    );
    request_id(owner, &what)
}

impl GcpClusters {
    pub fn new(api: Memorystore) -> Self {
        GcpClusters { api }
    }
}

/// The create body for a desired cluster.
pub fn create_body(c: &GcpCluster) -> Cluster {
    Cluster {
        node_type: Some(c.node_type.api_value().into()),
        shard_count: Some(c.shard_count as i32),
        replica_count: Some(c.replica_count as i32),
        authorization_mode: Some(
            if c.iam_auth {
                "AUTH_MODE_IAM_AUTH"
            } else {
                "AUTH_MODE_DISABLED"
            }
            .into(),
        ),
        transit_encryption_mode: Some(
            if c.transit_encryption {
                "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"
            } else {
                "TRANSIT_ENCRYPTION_MODE_DISABLED"
            }
            .into(),
        ),
        deletion_protection_enabled: Some(c.deletion_protection),
        psc_configs: vec![PscConfig {
            network: c.network.clone(),
        }],
        persistence_config: c.persistence.as_ref().map(persistence_json),
        redis_configs: (!c.redis_configs.is_empty()).then(|| c.redis_configs.clone()),
        zone_distribution_config: c.zone_distribution.as_ref().map(zone_json),
        maintenance_policy: c.maintenance_window.as_ref().map(maintenance_policy),
        automated_backup_config: c.automated_backup.as_ref().map(automated_backup_config),
        kms_key: c.kms_key.clone(),
        gcs_source: match &c.restore {
            Some(GcpRestore::Gcs(uris)) => Some(GcsSource { uris: uris.clone() }),
            _ => None,
        },
        managed_backup_source: match &c.restore {
            Some(GcpRestore::Backup(backup)) => Some(ManagedBackupSource {
                backup: backup.clone(),
            }),
            _ => None,
        },
        // A secondary is created naming its primary; the settings it shares are the primary's
        // (the body's must match them).
        cross_cluster_replication_config: c.secondary_of.as_ref().map(|primary| {
            CrossClusterReplicationConfig {
                cluster_role: Some("SECONDARY".into()),
                primary_cluster: Some(RemoteCluster {
                    cluster: primary.clone(),
                    uid: None,
                }),
                ..CrossClusterReplicationConfig::default()
            }
        }),
        ..Cluster::default()
    }
}

/// `crossClusterReplicationConfig` in common terms; `None` for a cluster that never took part.
pub fn observed_replication(
    name: &str,
    c: Option<&CrossClusterReplicationConfig>,
) -> Option<ObservedReplication> {
    let c = c?;
    let role = match c.cluster_role.as_deref() {
        Some("PRIMARY") => ReplicationRole::Primary,
        Some("SECONDARY") => ReplicationRole::Secondary,
        Some("NONE") => ReplicationRole::None,
        _ => return None,
    };
    let names = |l: &[RemoteCluster]| l.iter().map(|r| r.cluster.clone()).collect::<Vec<_>>();
    // Every member reports the whole set in `membership`; the links are the fallback.
    let (primary, secondaries) = match (role, &c.membership) {
        (ReplicationRole::None, _) => (None, Vec::new()),
        (_, Some(m)) if m.primary_cluster.is_some() => (
            m.primary_cluster.as_ref().map(|p| p.cluster.clone()),
            names(&m.secondary_clusters),
        ),
        (ReplicationRole::Primary, _) => (Some(name.to_owned()), names(&c.secondary_clusters)),
        (ReplicationRole::Secondary, _) => (
            c.primary_cluster.as_ref().map(|p| p.cluster.clone()),
            vec![name.to_owned()],
        ),
    };
    Some(ObservedReplication {
        role,
        primary,
        secondaries,
        update_time: c.update_time.clone(),
    })
}

/// The body of a cross-region change (`updateMask=cross_cluster_replication_config`), sent to
/// the member whose role changes.
pub fn replication_body(change: &Change) -> Option<Cluster> {
    let config = match change {
        Change::Switchover { secondaries, .. } => CrossClusterReplicationConfig {
            cluster_role: Some("PRIMARY".into()),
            secondary_clusters: secondaries
                .iter()
                .map(|s| RemoteCluster {
                    cluster: s.clone(),
                    uid: None,
                })
                .collect(),
            ..CrossClusterReplicationConfig::default()
        },
        Change::Detach { .. } => CrossClusterReplicationConfig {
            cluster_role: Some("NONE".into()),
            ..CrossClusterReplicationConfig::default()
        },
        _ => return None,
    };
    Some(Cluster {
        cross_cluster_replication_config: Some(config),
        ..Cluster::default()
    })
}

/// `maintenancePolicy` with one weekly window.
pub fn maintenance_policy(w: &WeeklyWindow) -> MaintenancePolicy {
    MaintenancePolicy {
        weekly_maintenance_window: vec![WeeklyMaintenanceWindow {
            day: w.gcp_day().into(),
            start_time: TimeOfDay {
                hours: w.gcp_hour() as i32,
                minutes: 0,
            },
        }],
        ..MaintenancePolicy::default()
    }
}

/// `automatedBackupConfig`: daily at the start hour, kept `retention_days`.
pub fn automated_backup_config(b: &GcpAutomatedBackup) -> AutomatedBackupConfig {
    if !b.enabled {
        return AutomatedBackupConfig {
            automated_backup_mode: Some("DISABLED".into()),
            ..AutomatedBackupConfig::default()
        };
    }
    AutomatedBackupConfig {
        automated_backup_mode: Some("ENABLED".into()),
        fixed_frequency_schedule: Some(FixedFrequencySchedule {
            start_time: TimeOfDay {
                hours: b.start_hour as i32,
                minutes: 0,
            },
        }),
        retention: Some(format!("{}s", u64::from(b.retention_days) * 24 * 3600)),
    }
}

pub fn weekly_window(p: &MaintenancePolicy) -> Option<WeeklyWindow> {
    let w = p.weekly_maintenance_window.first()?;
    let day = Weekday::ALL.into_iter().find(|d| d.gcp() == w.day)?;
    Some(WeeklyWindow {
        day,
        start: u16::try_from(w.start_time.hours * 60 + w.start_time.minutes).ok()?,
        minutes: 60,
    })
}

pub fn observed_backup_config(c: &AutomatedBackupConfig) -> GcpAutomatedBackup {
    let retention_days = c
        .retention
        .as_deref()
        .and_then(|r| r.strip_suffix('s'))
        .and_then(|r| r.parse::<f64>().ok())
        .map_or(35, |secs| (secs / 86400.0).round() as u32);
    GcpAutomatedBackup {
        enabled: c.automated_backup_mode.as_deref() == Some("ENABLED"),
        start_hour: c
            .fixed_frequency_schedule
            .as_ref()
            .map_or(0, |s| s.start_time.hours.max(0) as u32),
        retention_days,
    }
}

/// `persistenceConfig` in Redis Cluster's words; [`valkey_persistence_json`] for Valkey.
pub fn persistence_json(p: &Persistence) -> Value {
    match p {
        Persistence::Disabled => json!({"mode": "DISABLED"}),
        Persistence::Rdb(period) => {
            let mut v = json!({"mode": "RDB"});
            if let Some(period) = period {
                let period = match period {
                    RdbSnapshotPeriod::OneHour => "ONE_HOUR",
                    RdbSnapshotPeriod::SixHours => "SIX_HOURS",
                    RdbSnapshotPeriod::TwelveHours => "TWELVE_HOURS",
                    RdbSnapshotPeriod::TwentyFourHours => "TWENTY_FOUR_HOURS",
                };
                v["rdbConfig"] = json!({"rdbSnapshotPeriod": period});
            }
            v
        }
        Persistence::Aof(fsync) => {
            let mut v = json!({"mode": "AOF"});
            if let Some(fsync) = fsync {
                let fsync = match fsync {
                    AofAppendFsync::No => "NO",
                    AofAppendFsync::Everysec => "EVERYSEC",
                    AofAppendFsync::Always => "ALWAYS",
                };
                v["aofConfig"] = json!({"appendFsync": fsync});
            }
            v
        }
    }
}

/// `persistenceConfig` in Memorystore for Valkey's words (its AOF fsync enum differs).
pub fn valkey_persistence_json(p: &Persistence) -> Value {
    let mut v = persistence_json(p);
    if let Some(fsync) = v.pointer_mut("/aofConfig/appendFsync") {
        *fsync = match fsync.as_str() {
            Some("NO") => json!("NEVER"),
            Some("EVERYSEC") => json!("EVERY_SEC"),
            _ => fsync.clone(),
        };
    }
    v
}

pub fn zone_json(z: &ZoneDistribution) -> Value {
    match z {
        ZoneDistribution::SingleZone(Some(zone)) => {
            json!({"mode": "SINGLE_ZONE", "zone": zone})
        }
        ZoneDistribution::SingleZone(None) => json!({"mode": "SINGLE_ZONE"}),
        ZoneDistribution::MultiZone => json!({"mode": "MULTI_ZONE"}),
    }
}

/// Every field the desired value sets holds in the observed one (the cloud adds defaults).
fn subset(desired: &Value, observed: &Value) -> bool {
    match (desired, observed) {
        (Value::Object(d), Value::Object(o)) => d
            .iter()
            .all(|(k, v)| o.get(k).is_some_and(|ov| subset(v, ov))),
        _ => desired == observed,
    }
}

/// `maintenancePolicy` and `maintenanceSchedule` (both Memorystore products), in common terms.
pub fn observed_maintenance(
    policy: Option<&MaintenancePolicy>,
    schedule: Option<&MaintenanceSchedule>,
) -> ObservedMaintenance {
    ObservedMaintenance {
        window: policy.and_then(|p| {
            let w = p.weekly_maintenance_window.first()?;
            Some(format!(
                "{} {:02}:{:02} UTC",
                w.day, w.start_time.hours, w.start_time.minutes
            ))
        }),
        scheduled_start: schedule.and_then(|s| s.start_time.clone()),
        scheduled_end: schedule.and_then(|s| s.end_time.clone()),
        pending: Vec::new(),
    }
}

pub fn observe(c: Cluster) -> ObservedCluster {
    let raw_state = c.state.clone().unwrap_or_default();
    let state = match raw_state.as_str() {
        "CREATING" => ClusterState::Creating,
        "ACTIVE" => ClusterState::Available,
        "UPDATING" => ClusterState::Updating,
        "DELETING" => ClusterState::Deleting,
        _ => ClusterState::Unknown,
    };
    let name = c.name.clone().unwrap_or_default();
    let replication = observed_replication(&name, c.cross_cluster_replication_config.as_ref());
    let id = name.rsplit('/').next().unwrap_or_default().to_owned();
    let node_type = c
        .node_type
        .as_deref()
        .map(|t| {
            GcpNodeType::from_api_value(t)
                .map(|n| n.name().to_owned())
                .unwrap_or_else(|| t.to_owned())
        })
        .unwrap_or_default();
    let discovery = c
        .discovery_endpoints
        .iter()
        .filter(|e| !e.address.is_empty())
        .map(|DiscoveryEndpoint { address, port }| Endpoint {
            host: address.clone(),
            port: u16::try_from(*port).unwrap_or(6379),
        })
        .collect();
    ObservedCluster {
        id,
        resource: name,
        uid: c.uid.clone(),
        created: c.create_time.clone(),
        state,
        raw_state,
        node_type,
        shard_count: c.shard_count.unwrap_or(0).max(0) as u32,
        replicas_per_shard: c.replica_count.unwrap_or(0).max(0) as u32,
        discovery,
        primary: None,
        reader: None,
        transit_encryption: c.transit_encryption_mode.as_deref()
            == Some("TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"),
        pending: Vec::new(),
        gcp: Some(Box::new(GcpObserved {
            iam_auth: c.authorization_mode.as_deref() == Some("AUTH_MODE_IAM_AUTH"),
            deletion_protection: c.deletion_protection_enabled.unwrap_or(false),
            persistence: c.persistence_config.clone(),
            redis_configs: c.redis_configs.clone().unwrap_or_default(),
            engine_version: None,
            labels: Default::default(),
            maintenance_window: c.maintenance_policy.as_ref().and_then(weekly_window),
            maintenance: observed_maintenance(
                c.maintenance_policy.as_ref(),
                c.maintenance_schedule.as_ref(),
            ),
            automated_backup: c
                .automated_backup_config
                .as_ref()
                .map(observed_backup_config),
            kms_key: c.kms_key.clone(),
            encryption: c
                .encryption_info
                .as_ref()
                .and_then(|e| e.encryption_type.clone()),
            backup_collection: c.backup_collection.clone(),
        })),
        aws: None,
        replication,
    }
}

/// What must change, in the order it is applied: node type, shards, replicas, then settings;
/// for both Memorystore products (Valkey adds its engine version).
pub fn changes(c: &GcpCluster, o: &ObservedCluster) -> Vec<Change> {
    let mut out = Vec::new();
    // A secondary's shape, persistence and configs are its primary's, propagated by the
    // service (which refuses them on a secondary): never asked of it.
    let secondary = o
        .replication
        .as_ref()
        .is_some_and(|r| r.role == ReplicationRole::Secondary);
    if o.node_type != c.node_type_name() && !secondary {
        out.push(Change::NodeType);
    }
    if o.shard_count != c.shard_count && !secondary {
        out.push(Change::ShardCount(c.shard_count));
    }
    if o.replicas_per_shard != c.replica_count {
        out.push(Change::ReplicaCount(c.replica_count));
    }
    let g = o.gcp.clone().unwrap_or_default();
    if g.deletion_protection != c.deletion_protection {
        out.push(Change::DeletionProtection(c.deletion_protection));
    }
    // Upgrades only: an older version in the spec (refused at admission) is never sent.
    if let Some(wanted) = c.valkey.as_ref().and_then(|v| v.version) {
        let running = g
            .engine_version
            .as_deref()
            .and_then(cache_operator_api::model::ValkeyVersion::parse);
        if running.is_some_and(|r| r < wanted) {
            out.push(Change::EngineVersion);
        }
    }
    if let Some(p) = c.persistence.as_ref().filter(|_| !secondary) {
        let observed = g
            .persistence
            .clone()
            .unwrap_or_else(|| json!({"mode": "DISABLED"}));
        let wanted = match c.valkey {
            Some(_) => valkey_persistence_json(p),
            None => persistence_json(p),
        };
        if !subset(&wanted, &observed) {
            out.push(Change::Persistence);
        }
    }
    // The spec's map is the whole set: a key removed from it is removed in the cloud (the
    // patch sends the map whole, and an absent map clears it).
    let configs = match &c.valkey {
        Some(v) => &v.engine_configs,
        None => &c.redis_configs,
    };
    if *configs != g.redis_configs && !secondary {
        out.push(Change::RedisConfigs);
    }
    // Unset in the spec: the cloud's setting is left as it is.
    if let Some(w) = &c.maintenance_window
        && g.maintenance_window.as_ref() != Some(w)
    {
        out.push(Change::MaintenanceWindow);
    }
    if let Some(b) = &c.automated_backup {
        let same = match &g.automated_backup {
            Some(o) if !b.enabled => !o.enabled,
            Some(o) => o == b,
            None => !b.enabled,
        };
        if !same {
            out.push(Change::AutomatedBackup);
        }
    }
    out
}

/// `Memorystore cluster NAME (uid U, created T)`: what a user needs to tell clusters apart.
pub fn who(o: &ObservedCluster) -> String {
    let mut facts = Vec::new();
    if let Some(uid) = &o.uid {
        facts.push(format!("uid {uid}"));
    }
    if let Some(t) = &o.created {
        facts.push(format!("created {t}"));
    }
    if facts.is_empty() {
        format!("Memorystore cluster {}", o.resource)
    } else {
        format!("Memorystore cluster {} ({})", o.resource, facts.join(", "))
    }
}

/// Whose the observed cluster is, from the replayed operation of our create: ours while that
/// create is running, or when it made this very cluster (same uid). A create that failed, or
/// made a cluster that has since been replaced by another of the same ID, proves nothing.
pub fn claim_of_replay(op: &Operation, observed: &ObservedCluster) -> Claim {
    if op.error.as_ref().is_some_and(|e| e.code != 0) {
        return Claim::Foreign(format!(
            "{} exists, and this object's create request for it failed",
            who(observed)
        ));
    }
    let made = op
        .response
        .as_ref()
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str);
    match (made, observed.uid.as_deref()) {
        (Some(made), Some(seen)) if made != seen => Claim::Foreign(format!(
            "{} exists, but the cluster this object created had uid {made}",
            who(observed)
        )),
        _ => Claim::Ours,
    }
}

#[async_trait]
impl Clusters<GcpCluster> for GcpClusters {
    fn changes(&self, desired: &GcpCluster, observed: &ObservedCluster) -> Vec<Change> {
        changes(desired, observed)
    }

    async fn list(&self, like: &GcpCluster) -> Result<Vec<ObservedCluster>> {
        let clusters = self.api.list_clusters(&like.parent()).await?;
        Ok(clusters.into_iter().map(observe).collect())
    }

    async fn get(&self, c: &GcpCluster) -> Result<Option<ObservedCluster>> {
        Ok(self.api.get_cluster(&c.name()).await?.map(observe))
    }

    async fn create(&self, c: &GcpCluster, owner: &Owner) -> Result<Created> {
        let op = self
            .api
            .create_cluster(
                &c.parent(),
                &c.cluster_id,
                &request_id(owner, "create"),
                &create_body(c),
            )
            .await?;
        Ok(Created {
            progress: Progress::Operation(op.name),
            resource: c.name(),
        })
    }

    async fn claim(
        &self,
        c: &GcpCluster,
        owner: &Owner,
        observed: &ObservedCluster,
    ) -> Result<Claim> {
        // Replaying our create is answered with our original operation while the service
        // remembers the request (at least an hour); a cluster someone else made, or one made
        // after that, answers ALREADY_EXISTS. The operator records the cluster's uid in the
        // object's status at the first look, which is the proof once the window has passed.
        let reply = self
            .api
            .create_cluster(
                &c.parent(),
                &c.cluster_id,
                &request_id(owner, "create"),
                &create_body(c),
            )
            .await;
        match reply {
            Ok(op) => Ok(claim_of_replay(&op, observed)),
            Err(e) if e.is(ErrorClass::AlreadyExists) => Ok(Claim::Foreign(format!(
                "{} exists and this object has no record of creating it (no uid in its status, \
                 and the service no longer remembers its create request)",
                who(observed)
            ))),
            Err(e) => Err(e),
        }
    }

    async fn adopt(&self, _: &GcpCluster, _: &Owner, _: &ObservedCluster) -> Result<()> {
        // Nothing to write: the object's status records the adopted cluster's uid.
        Ok(())
    }

    async fn apply(&self, c: &GcpCluster, change: &Change, owner: &Owner) -> Result<Progress> {
        if let Some(body) = replication_body(change) {
            // Named by the member's last replication change, not the generation: the same
            // switchover asked again (a crash before the status write) replays, a later one
            // (back and forth within the hour the service remembers IDs) is new.
            let since = match change {
                Change::Switchover { since, .. } | Change::Detach { since } => since.clone(),
                _ => None,
            };
            let what = format!(
                "replication/{}/{}",
                since.unwrap_or_default(),
                serde_json::to_string(&body).unwrap_or_default()
            );
            let mask = "cross_cluster_replication_config";
            let op = self
                .api
                .patch_cluster(&c.name(), mask, &request_id(owner, &what), &body)
                .await?;
            return Ok(Progress::Operation(op.name));
        }
        let full = create_body(c);
        let (mask, body) = match change {
            Change::NodeType => (
                "nodeType",
                Cluster {
                    node_type: full.node_type,
                    ..Cluster::default()
                },
            ),
            Change::ShardCount(n) => (
                "shardCount",
                Cluster {
                    shard_count: Some(*n as i32),
                    ..Cluster::default()
                },
            ),
            Change::ReplicaCount(n) => (
                "replicaCount",
                Cluster {
                    replica_count: Some(*n as i32),
                    ..Cluster::default()
                },
            ),
            Change::DeletionProtection(on) => (
                "deletionProtectionEnabled",
                Cluster {
                    deletion_protection_enabled: Some(*on),
                    ..Cluster::default()
                },
            ),
            Change::Persistence => (
                "persistenceConfig",
                Cluster {
                    persistence_config: full.persistence_config,
                    ..Cluster::default()
                },
            ),
            Change::RedisConfigs => (
                "redisConfigs",
                Cluster {
                    redis_configs: full.redis_configs,
                    ..Cluster::default()
                },
            ),
            // The path gcloud sends for `--maintenance-window-day/-hour`.
            Change::MaintenanceWindow => (
                "maintenance_window",
                Cluster {
                    maintenance_policy: full.maintenance_policy,
                    ..Cluster::default()
                },
            ),
            Change::AutomatedBackup => (
                "automatedBackupConfig",
                Cluster {
                    automated_backup_config: full.automated_backup_config,
                    ..Cluster::default()
                },
            ),
            other => {
                return Err(CloudError::new(
                    ErrorClass::InvalidArgument,
                    "unsupported",
                    format!("Memorystore cannot change {}", other.describe()),
                    "memorystore clusters.patch",
                ));
            }
        };
        let op = self
            .api
            .patch_cluster(
                &c.name(),
                mask,
                &patch_request_id(owner, mask, &body),
                &body,
            )
            .await?;
        Ok(Progress::Operation(op.name))
    }

    async fn delete(&self, c: &GcpCluster, owner: &Owner) -> Result<Progress> {
        let op = self
            .api
            .delete_cluster(&c.name(), &request_id(owner, "delete"))
            .await?;
        Ok(Progress::Operation(op.name))
    }

    async fn operation(&self, name: &str) -> Result<OperationState> {
        match self.api.get_operation(name).await {
            Ok(op) if !op.done => Ok(OperationState::Running),
            Ok(op) => Ok(match op.error {
                Some(e) if e.code != 0 => OperationState::Failed {
                    code: rpc_code_name(e.code).into(),
                    message: e.message,
                },
                _ => OperationState::Done,
            }),
            Err(e) if e.is(ErrorClass::NotFound) => Ok(OperationState::Unknown),
            Err(e) => Err(e),
        }
    }

    async fn ca_certificates(&self, c: &GcpCluster) -> Result<Vec<String>> {
        if !c.transit_encryption {
            return Ok(Vec::new());
        }
        self.api.certificate_authority(&c.name()).await
    }

    async fn backup(&self, c: &GcpCluster, name: &str) -> Result<Progress> {
        let op = self.api.backup_cluster(&c.name(), name).await?;
        Ok(Progress::Operation(op.name))
    }

    async fn backups(&self, c: &GcpCluster) -> Result<Vec<ObservedBackup>> {
        // Through the collections of the location, so that backups are found after their
        // cluster is gone (they outlive it).
        let name = c.name();
        let mut out = Vec::new();
        for col in self.api.list_backup_collections(&c.parent()).await? {
            // `cluster` on Redis Cluster, `instance` on Valkey.
            if col.cluster.as_deref() != Some(name.as_str())
                && col.instance.as_deref() != Some(name.as_str())
            {
                continue;
            }
            for b in self.api.list_backups(&col.name).await? {
                let state = b.state.unwrap_or_default();
                out.push(ObservedBackup {
                    name: b.name.rsplit('/').next().unwrap_or_default().to_owned(),
                    ready: state == "ACTIVE",
                    automated: b.backup_type.as_deref() == Some("AUTOMATED"),
                    created: b.create_time,
                    resource: b.name,
                    state,
                });
            }
        }
        Ok(out)
    }

    async fn final_backup(
        &self,
        c: &GcpCluster,
        _owner: &Owner,
        name: &str,
    ) -> Result<FinalBackup> {
        match self.backup(c, name).await {
            Ok(p) => Ok(FinalBackup::Before(p)),
            // Asked before (an answer lost): the backup exists, finished (ALREADY_EXISTS) or
            // running (the service refuses a second backup meanwhile); its state is in
            // `backups`.
            Err(e) if e.is(ErrorClass::AlreadyExists) || e.is(ErrorClass::FailedPrecondition) => {
                let ours = self.backups(c).await?.into_iter().any(|b| b.name == name);
                if ours {
                    Ok(FinalBackup::Before(Progress::Started))
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_operator_api::cluster::RedisClusterSpec;
    use cache_operator_api::model::DesiredCluster;

    fn desired(shards: u32) -> GcpCluster {
        desired_of("redis-standard-small", shards)
    }

    fn desired_of(node_type: &str, shards: u32) -> GcpCluster {
        let spec: RedisClusterSpec = serde_json::from_value(json!({
            "provider": "gcp", "region": "us-central1", "nodeType": node_type,
            "shardCount": shards, "replicasPerShard": 1,
            "gcp": {"project": "shop-prod", "network": "projects/shop-prod/global/networks/default",
                    "persistence": {"mode": "aof"}}
        }))
        .unwrap();
        match spec.desired("orders").unwrap() {
            DesiredCluster::Gcp(c) => c,
            DesiredCluster::Aws(_) => unreachable!(),
        }
    }

    fn owner(generation: i64) -> Owner {
        Owner {
            uid: "0b6c2a4e-1111-4222-8333-444455556666".into(),
            namespace: "shop".into(),
            name: "orders".into(),
            generation,
            attempt: 0,
        }
    }

    #[test]
    fn create_body_speaks_the_wire_enums() {
        let body = serde_json::to_value(create_body(&desired(3))).unwrap();
        assert_eq!(body["nodeType"], "REDIS_STANDARD_SMALL");
        assert_eq!(body["authorizationMode"], "AUTH_MODE_IAM_AUTH");
        assert_eq!(
            body["transitEncryptionMode"],
            "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"
        );
        assert_eq!(
            body["pscConfigs"][0]["network"],
            "projects/shop-prod/global/networks/default"
        );
        assert_eq!(body["persistenceConfig"], json!({"mode": "AOF"}));
        assert!(body.get("name").is_none());
    }

    #[test]
    fn a_matching_cluster_needs_no_change_and_defaults_do_not_count() {
        let d = desired(3);
        let mut observed = observe(Cluster {
            name: Some(d.name()),
            state: Some("ACTIVE".into()),
            node_type: Some("REDIS_STANDARD_SMALL".into()),
            shard_count: Some(3),
            replica_count: Some(1),
            persistence_config: Some(
                json!({"mode": "AOF", "aofConfig": {"appendFsync": "EVERYSEC"}}),
            ),
            ..Cluster::default()
        });
        assert_eq!(changes(&d, &observed), vec![]);
        observed.shard_count = 2;
        observed.node_type = "redis-highmem-medium".into();
        assert_eq!(
            changes(&d, &observed),
            vec![Change::NodeType, Change::ShardCount(3)]
        );
    }

    #[test]
    fn redis_configs_are_the_whole_set() {
        let mut d = desired(3);
        d.redis_configs = [("maxmemory-policy".to_owned(), "allkeys-lru".to_owned())].into();
        let mut observed = observe(Cluster {
            name: Some(d.name()),
            state: Some("ACTIVE".into()),
            node_type: Some("REDIS_STANDARD_SMALL".into()),
            shard_count: Some(3),
            replica_count: Some(1),
            persistence_config: Some(json!({"mode": "AOF"})),
            redis_configs: Some(
                [
                    ("maxmemory-policy".to_owned(), "allkeys-lru".to_owned()),
                    ("maxmemory-clients".to_owned(), "10%".to_owned()),
                ]
                .into(),
            ),
            ..Cluster::default()
        });
        assert_eq!(
            changes(&d, &observed),
            vec![Change::RedisConfigs],
            "a key removed from the spec"
        );
        d.redis_configs.clear();
        assert_eq!(
            changes(&d, &observed),
            vec![Change::RedisConfigs],
            "all removed"
        );
        let body = create_body(&d);
        assert_eq!(body.redis_configs, None, "the patch clears the map");
        observed.gcp.as_mut().unwrap().redis_configs.clear();
        assert_eq!(changes(&d, &observed), vec![]);
    }

    #[test]
    fn cross_region_speaks_the_wire_shapes_gcloud_uses() {
        let mut d = desired(3);
        let primary = "projects/shop-prod/locations/europe-west1/clusters/orders-eu";
        d.secondary_of = Some(primary.into());
        let body = serde_json::to_value(create_body(&d)).unwrap();
        assert_eq!(
            body["crossClusterReplicationConfig"],
            json!({"clusterRole": "SECONDARY", "primaryCluster": {"cluster": primary}})
        );
        let switch = Change::Switchover {
            secondaries: vec![primary.into()],
            since: Some("t".into()),
        };
        assert_eq!(
            serde_json::to_value(replication_body(&switch).unwrap()).unwrap(),
            json!({"crossClusterReplicationConfig": {"clusterRole": "PRIMARY",
                   "secondaryClusters": [{"cluster": primary}]}})
        );
        assert_eq!(
            serde_json::to_value(replication_body(&Change::Detach { since: None }).unwrap())
                .unwrap(),
            json!({"crossClusterReplicationConfig": {"clusterRole": "NONE"}})
        );
        assert_eq!(replication_body(&Change::NodeType), None);

        // Read back: every member reports the set in `membership`.
        let c: Cluster = serde_json::from_value(json!({
            "name": d.name(), "state": "ACTIVE", "nodeType": "REDIS_STANDARD_SMALL",
            "shardCount": 2, "replicaCount": 1, "persistenceConfig": {"mode": "RDB"},
            "crossClusterReplicationConfig": {
                "clusterRole": "SECONDARY",
                "primaryCluster": {"cluster": primary, "uid": "u1"},
                "membership": {"primaryCluster": {"cluster": primary, "uid": "u1"},
                               "secondaryClusters": [{"cluster": d.name(), "uid": "u2"}]},
                "updateTime": "2026-12-08T01:00:00.000001Z"
            }
        }))
        .unwrap();
        let o = observe(c);
        let r = o.replication.clone().unwrap();
        assert_eq!(r.role, ReplicationRole::Secondary);
        assert_eq!(r.primary.as_deref(), Some(primary));
        assert_eq!(r.secondaries, vec![d.name()]);
        assert_eq!(
            r.update_time.as_deref(),
            Some("2026-12-08T01:00:00.000001Z")
        );
        // A secondary's shape and persistence are its primary's: never asked of it.
        assert_eq!(changes(&d, &o), vec![]);
        let mut standalone = o.clone();
        standalone.replication = None;
        assert_eq!(
            changes(&d, &standalone),
            vec![Change::ShardCount(3), Change::Persistence]
        );
        let never = observe(Cluster {
            name: Some(d.name()),
            ..Cluster::default()
        });
        assert_eq!(never.replication, None);
    }

    #[test]
    fn newer_node_types_map_both_ways_without_false_drift() {
        for (name, wire) in [
            ("redis-highcpu-medium", "REDIS_HIGHCPU_MEDIUM"),
            ("redis-standard-large", "REDIS_STANDARD_LARGE"),
            ("redis-highmem-2xlarge", "REDIS_HIGHMEM_2XLARGE"),
        ] {
            let d = desired_of(name, 3);
            assert_eq!(create_body(&d).node_type.as_deref(), Some(wire));
            let observed = observe(Cluster {
                name: Some(d.name()),
                state: Some("ACTIVE".into()),
                node_type: Some(wire.into()),
                shard_count: Some(3),
                replica_count: Some(1),
                persistence_config: Some(json!({"mode": "AOF"})),
                ..Cluster::default()
            });
            assert_eq!(observed.node_type, name);
            assert_eq!(changes(&d, &observed), vec![], "{name}");
        }
    }

    #[test]
    fn request_ids_repeat_for_retries_and_differ_between_writes() {
        assert_eq!(
            request_id(&owner(1), "create"),
            request_id(&owner(1), "create")
        );
        assert_ne!(
            request_id(&owner(1), "create"),
            request_id(&owner(1), "delete")
        );
        let other = Owner {
            uid: "another".into(),
            ..owner(1)
        };
        assert_ne!(
            request_id(&owner(1), "create"),
            request_id(&other, "create")
        );
        let next = owner(1).next_attempt();
        assert_eq!(next.attempt, 1);
        assert_ne!(request_id(&owner(1), "create"), request_id(&next, "create"));
        assert_eq!(request_id(&next, "create"), request_id(&next, "create"));
        assert_eq!(
            request_id(&owner(1), "create"),
            Uuid::new_v5(
                &REQUEST_ID_NAMESPACE,
                b"0b6c2a4e-1111-4222-8333-444455556666/create"
            )
            .to_string(),
            "attempt 0 is the ID earlier versions sent"
        );
    }
}
