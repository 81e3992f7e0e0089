//! Memorystore backups: `clusters.backup` (an operation), the backup collection of each cluster,
//! `backupCollections.get/list`, `backups.get/list/delete/export`, automated daily backups, and
//! the data a cluster created from a backup starts with.
//!
//! As the v1 API describes them: "If this is the first time a backup is being created, a backup
//! collection will be created at the backend"; "Backup call will be rejected if there is an
//! ongoing backup or update operation"; `backup_id` defaults to `[YYYYMMDDHHMMSS]_[Shortened
//! Cluster UID]`; `ttl` ranges from 1 day to 100 years (default 100 years); a backup is
//! `CREATING`, then `ACTIVE`, `DELETING` while deleted; its type is `ON_DEMAND` or `AUTOMATED`;
//! backups stay after their cluster is deleted. The data is the real redis-server's, as an RDB
//! file (one file: the simulator keeps every slot on one node).

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::Query;
use super::cluster::{Cluster, LocationName, State};
use super::error::{Code, RpcError};
use super::lifecycle::{duration_secs, encryption_info};
use super::memorystore::{GcpState, list_page, lookup};
use super::operations::{OpResult, Operation, Verb, parse_request_id};
use super::protojson::{Obj, ProtoEnum, proto_enum};
use crate::dataplane::{BackendKey, Rdb};
use crate::sim::Shared;
use crate::util::rfc3339_micros;

proto_enum!(BackupType, "google.cloud.redis.cluster.v1.Backup.BackupType", {
    BACKUP_TYPE_UNSPECIFIED = 0,
    ON_DEMAND = 1,
    AUTOMATED = 2,
});

proto_enum!(BackupState, "google.cloud.redis.cluster.v1.Backup.State", {
    STATE_UNSPECIFIED = 0,
    CREATING = 1,
    ACTIVE = 2,
    DELETING = 3,
    SUSPENDED = 4,
});

const DAY: u64 = 24 * 3600;
/// "If not specified, the default value is 100 years."
const DEFAULT_TTL: u64 = 100 * 365 * DAY;

#[derive(Debug, Clone)]
pub struct BackupCollection {
    pub name: String,
    pub cluster: String,
    pub cluster_uid: String,
    pub uid: String,
    pub kms_key: Option<String>,
}

impl BackupCollection {
    pub fn render(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "cluster": self.cluster,
            "clusterUid": self.cluster_uid,
            "uid": self.uid,
        });
        if let Some(k) = &self.kms_key {
            v["kmsKey"] = k.clone().into();
        }
        v
    }
}

#[derive(Debug, Clone)]
pub struct Backup {
    pub name: String,
    pub id: String,
    pub create_time: Timestamp,
    pub expire_time: Timestamp,
    pub cluster: String,
    pub cluster_uid: String,
    pub node_type: super::cluster::NodeType,
    pub shard_count: i32,
    pub replica_count: i32,
    pub kind: BackupType,
    pub state: BackupState,
    pub kms_key: Option<String>,
    pub uid: String,
    pub data: Option<Rdb>,
    pub incarnation: u64,
}

impl Backup {
    fn file_name(&self) -> String {
        format!("{}.rdb", self.id)
    }

    pub fn render(&self, ints: bool) -> Value {
        let size = self.data.as_ref().map_or(0, |d| d.len());
        let mut v = json!({
            "name": self.name,
            "createTime": rfc3339_micros(self.create_time),
            "cluster": self.cluster,
            "clusterUid": self.cluster_uid,
            // int64 fields are strings in proto JSON.
            "totalSizeBytes": size.to_string(),
            "expireTime": rfc3339_micros(self.expire_time),
            "engineVersion": "redis-7.2",
            "nodeType": self.node_type.json(ints),
            "replicaCount": self.replica_count,
            "shardCount": self.shard_count,
            "backupType": self.kind.json(ints),
            "state": self.state.json(ints),
            "encryptionInfo": encryption_info(self.kms_key.as_deref(), self.create_time, false, ints),
            "uid": self.uid,
        });
        if self.state == BackupState::ACTIVE {
            v["backupFiles"] = json!([{
                "fileName": self.file_name(),
                "sizeBytes": size.to_string(),
                "createTime": rfc3339_micros(self.create_time),
            }]);
        }
        v
    }
}

/// `projects/P/locations/L/backupCollections/C[/backups/B]` → the location part.
fn location_of(name: &str) -> Result<LocationName, RpcError> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["projects", p, "locations", l, "backupCollections", _, ..] => LocationName::new(p, l),
        _ => Err(RpcError::not_found(name)),
    }
}

fn valid_backup_id(id: &str) -> bool {
    (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The data a new cluster starts with when created from `backup` (`managedBackupSource`).
pub fn import(gcp: &GcpState, backup: &str) -> Result<Vec<Rdb>, RpcError> {
    let b = gcp
        .backups
        .get(backup)
        .ok_or_else(|| RpcError::not_found(backup))?;
    if b.state != BackupState::ACTIVE {
        return Err(RpcError::failed_precondition(format!(
            "The backup {backup} is in state {}; only an ACTIVE backup can be imported",
            b.state.name()
        )));
    }
    Ok(b.data.clone().into_iter().collect())
}

/// Starts a backup of `cluster`: the backup is `CREATING` and the cluster takes no update
/// until it is `ACTIVE`. Returns the operation.
fn start(
    shared: &Arc<Shared>,
    gcp: &mut GcpState,
    cluster: &str,
    id: Option<String>,
    ttl: u64,
    kind: BackupType,
) -> Result<Operation, RpcError> {
    let now = shared.clock.now();
    let c = lookup(gcp, cluster)?;
    if c.state != State::ACTIVE || c.backing_up {
        return Err(RpcError::failed_precondition(format!(
            "The cluster {cluster} has an ongoing backup or update operation (state {}); retry when it is done",
            c.state.name()
        )));
    }
    let id = id.unwrap_or_else(|| {
        let t = now
            .to_zoned(jiff::tz::TimeZone::UTC)
            .strftime("%Y%m%d%H%M%S");
        format!("{t}_{}", &c.uid[c.uid.len().saturating_sub(6)..])
    });
    let (parent, uid, spec, incarnation) = (
        c.name.parent.clone(),
        c.uid.clone(),
        c.spec.clone(),
        c.incarnation,
    );
    let collection = match &c.backup_collection {
        Some(col) => col.clone(),
        None => {
            let col = format!(
                "{parent}/backupCollections/{}",
                uuid::Uuid::new_v4().hyphenated()
            );
            c.backup_collection = Some(col.clone());
            col
        }
    };
    let name = format!("{collection}/backups/{id}");
    if gcp.backups.contains_key(&name) {
        return Err(RpcError::new(
            Code::AlreadyExists,
            format!("Resource '{name}' already exists"),
        ));
    }
    gcp.collections
        .entry(collection.clone())
        .or_insert_with(|| BackupCollection {
            name: collection.clone(),
            cluster: cluster.to_owned(),
            cluster_uid: uid.clone(),
            uid: uuid::Uuid::new_v4().hyphenated().to_string(),
            kms_key: spec.kms_key.clone(),
        });
    let backup_incarnation = shared.next_id();
    gcp.backups.insert(
        name.clone(),
        Backup {
            name: name.clone(),
            id,
            // On the simulator's clock, like the expiry (automated backups run on it).
            create_time: now,
            expire_time: now
                .checked_add(std::time::Duration::from_secs(ttl))
                .unwrap_or(Timestamp::MAX),
            cluster: cluster.to_owned(),
            cluster_uid: uid,
            node_type: spec.node_type,
            shard_count: spec.shard_count,
            replica_count: spec.replica_count,
            kind,
            state: BackupState::CREATING,
            kms_key: spec.kms_key.clone(),
            uid: uuid::Uuid::new_v4().hyphenated().to_string(),
            data: None,
            incarnation: backup_incarnation,
        },
    );
    if let Ok(c) = lookup(gcp, cluster) {
        c.backing_up = true;
    }
    let op = Operation::new(&parent, cluster.to_owned(), Verb::Backup);
    gcp.operations.insert(op.name.clone(), op.clone());

    let shared = shared.clone();
    let op_name = op.name.clone();
    let cluster = cluster.to_owned();
    let provisioned = shared.provisioning();
    tokio::spawn(async move {
        // The backup holds the data as it is now.
        let data = shared
            .dataplane
            .snapshot(&BackendKey::Gcp(cluster.clone()))
            .await
            .map(Rdb::new);
        provisioned.await;
        let mut gcp = shared.gcp.lock().expect("gcp lock");
        if let Some(b) = gcp.backups.get_mut(&name)
            && b.incarnation == backup_incarnation
        {
            b.data = data;
            b.state = BackupState::ACTIVE;
        }
        let snapshot = gcp
            .clusters
            .get_mut(&cluster)
            .filter(|c| c.incarnation == incarnation)
            .map(|c| {
                c.backing_up = false;
                c.clone()
            });
        match snapshot {
            Some(c) => gcp.finish(&op_name, OpResult::Cluster(Box::new(c))),
            None => gcp.finish(
                &op_name,
                OpResult::Error(5, format!("Cluster {cluster} was deleted")),
            ),
        }
        tracing::info!(backup = %name, "memorystore backup active");
    });
    Ok(op)
}

/// `POST v1/{name=projects/*/locations/*/clusters/*}:backup` `{ttl?, backupId?}`.
pub fn backup_cluster(
    shared: &Arc<Shared>,
    cluster: &str,
    q: &Query,
    body: &[u8],
) -> Result<Value, RpcError> {
    let mut o = Obj::from_body(body, "backup_cluster_request")?;
    let ttl = o.string("ttl")?;
    let id = o.string("backupId")?;
    o.finish()?;
    let ttl = match ttl {
        None => DEFAULT_TTL,
        Some(t) => {
            let secs = duration_secs(&t, "ttl")?;
            if !(DAY..=DEFAULT_TTL).contains(&secs) {
                return Err(RpcError::bad_field(
                    "ttl",
                    format!("ttl must be between 1 day and 100 years, got {t}"),
                ));
            }
            secs
        }
    };
    if let Some(id) = &id
        && !valid_backup_id(id)
    {
        return Err(RpcError::bad_field(
            "backup_id",
            format!(
                "Invalid backup_id {id:?}: use 1 to 63 lowercase letters, digits, hyphens and underscores, starting with a letter or digit"
            ),
        ));
    }
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let op = start(shared, &mut gcp, cluster, id, ttl, BackupType::ON_DEMAND)?;
    Ok(op.render(q.ints()))
}

/// Takes the automated backups whose start hour the simulator's clock passed in `(from, to]`,
/// and removes expired backups.
pub fn run_due(shared: &Arc<Shared>, from: Timestamp, to: Timestamp) -> Vec<String> {
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    gcp.backups.retain(|_, b| b.expire_time > to);
    let due: Vec<(String, u64)> = gcp
        .clusters
        .values()
        .filter(|c| c.state == State::ACTIVE)
        .filter_map(|c| {
            let config = c.spec.automated_backup.as_ref().filter(|b| b.enabled())?;
            let hour = i8::try_from(config.start_hour?).ok()?;
            let day = from.to_zoned(jiff::tz::TimeZone::UTC).date();
            let passes = (0..=366).any(|k| {
                day.checked_add(jiff::Span::new().days(k))
                    .ok()
                    .and_then(|d| d.at(hour, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).ok())
                    .is_some_and(|at| at.timestamp() > from && at.timestamp() <= to)
            });
            passes.then(|| (c.name.to_string(), config.retention_secs))
        })
        .collect();
    let mut started = Vec::new();
    for (cluster, retention) in due {
        if start(
            shared,
            &mut gcp,
            &cluster,
            None,
            retention,
            BackupType::AUTOMATED,
        )
        .is_ok()
        {
            started.push(cluster);
        }
    }
    started
}

pub fn list_collections(
    shared: &Shared,
    parent: &LocationName,
    q: &Query,
) -> Result<Value, RpcError> {
    let prefix = parent.prefix("backupCollections");
    let gcp = shared.gcp.lock().expect("gcp lock");
    let render = BackupCollection::render;
    list_page(
        &gcp.collections,
        &prefix,
        q,
        |_| true,
        "backupCollections",
        render,
    )
}

pub fn get_collection(shared: &Shared, name: &str) -> Result<Value, RpcError> {
    let gcp = shared.gcp.lock().expect("gcp lock");
    gcp.collections
        .get(name)
        .map(BackupCollection::render)
        .ok_or_else(|| RpcError::not_found(name))
}

pub fn list_backups(shared: &Shared, collection: &str, q: &Query) -> Result<Value, RpcError> {
    let gcp = shared.gcp.lock().expect("gcp lock");
    if !gcp.collections.contains_key(collection) {
        return Err(RpcError::not_found(collection));
    }
    let prefix = format!("{collection}/backups/");
    let ints = q.ints();
    list_page(
        &gcp.backups,
        &prefix,
        q,
        |_| true,
        "backups",
        |b| b.render(ints),
    )
}

pub fn get_backup(shared: &Shared, name: &str, q: &Query) -> Result<Value, RpcError> {
    let gcp = shared.gcp.lock().expect("gcp lock");
    gcp.backups
        .get(name)
        .map(|b| b.render(q.ints()))
        .ok_or_else(|| RpcError::not_found(name))
}

fn active_backup<'a>(gcp: &'a mut GcpState, name: &str) -> Result<&'a mut Backup, RpcError> {
    let b = gcp
        .backups
        .get_mut(name)
        .ok_or_else(|| RpcError::not_found(name))?;
    if b.state != BackupState::ACTIVE {
        return Err(RpcError::failed_precondition(format!(
            "The backup {name} is in state {}",
            b.state.name()
        )));
    }
    Ok(b)
}

/// `DELETE v1/{name=…/backups/*}` (`requestId` accepted): an operation; the backup is
/// `DELETING`, then gone.
pub fn delete_backup(shared: &Arc<Shared>, name: &str, q: &Query) -> Result<Value, RpcError> {
    parse_request_id(q.get("requestId"))?;
    let location = location_of(name)?;
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let b = active_backup(&mut gcp, name)?;
    b.state = BackupState::DELETING;
    let incarnation = b.incarnation;
    let op = Operation::new(&location, name.to_owned(), Verb::Delete);
    let rendered = op.render(q.ints());
    let op_name = op.name.clone();
    gcp.operations.insert(op.name.clone(), op);
    drop(gcp);
    let shared = shared.clone();
    let name = name.to_owned();
    let provisioned = shared.provisioning();
    tokio::spawn(async move {
        provisioned.await;
        let mut gcp = shared.gcp.lock().expect("gcp lock");
        if gcp
            .backups
            .get(&name)
            .is_some_and(|b| b.incarnation == incarnation)
        {
            gcp.backups.remove(&name);
        }
        gcp.finish(&op_name, OpResult::Empty);
    });
    Ok(rendered)
}

/// `POST v1/{name=…/backups/*}:export` `{gcsBucket}`: an operation that writes the backup's
/// files to `gs://BUCKET/<backup id>/<file>` (the simulator's layout).
pub fn export_backup(
    shared: &Arc<Shared>,
    name: &str,
    q: &Query,
    body: &[u8],
) -> Result<Value, RpcError> {
    let mut o = Obj::from_body(body, "export_backup_request")?;
    let bucket = o.string("gcsBucket")?;
    o.finish()?;
    let bucket = bucket
        .filter(|b| !b.is_empty() && !b.contains('/'))
        .ok_or_else(|| {
            RpcError::bad_field(
                "gcs_bucket",
                "gcs_bucket is required: a bucket name such as my-bucket",
            )
        })?;
    let location = location_of(name)?;
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let b = active_backup(&mut gcp, name)?.clone();
    let op = Operation::new(&location, name.to_owned(), Verb::Export);
    let rendered = op.render(q.ints());
    let op_name = op.name.clone();
    gcp.operations.insert(op.name.clone(), op);
    drop(gcp);
    let shared = shared.clone();
    let provisioned = shared.provisioning();
    tokio::spawn(async move {
        provisioned.await;
        if let Some(data) = &b.data {
            shared.storage.put(
                format!("gs://{bucket}/{}/{}", b.id, b.file_name()),
                data.clone(),
            );
        }
        let mut gcp = shared.gcp.lock().expect("gcp lock");
        gcp.finish(&op_name, OpResult::Backup(Box::new(b)));
    });
    Ok(rendered)
}

/// Schedules the next maintenance of a cluster inside its window (now plus a week without a
/// policy), as the service publishes upcoming maintenance in `maintenanceSchedule`.
pub fn schedule_maintenance(shared: &Shared, cluster: &str) -> Result<Value, RpcError> {
    let now = shared.clock.now();
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let c: &mut Cluster = lookup(&mut gcp, cluster)?;
    let start = c
        .spec
        .maintenance_policy
        .as_ref()
        .and_then(|p| p.next_start(now))
        .unwrap_or_else(|| now + std::time::Duration::from_secs(7 * DAY));
    let end = start + std::time::Duration::from_secs(3600);
    c.maintenance_schedule = Some((start, end));
    Ok(json!({"startTime": rfc3339_micros(start), "endTime": rfc3339_micros(end)}))
}

/// Maintenance whose window the clock passed is done: its schedule is no longer published.
pub fn finish_maintenance(shared: &Shared, now: Timestamp) -> Vec<String> {
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let mut done = Vec::new();
    for c in gcp.clusters.values_mut() {
        if c.maintenance_schedule.is_some_and(|(_, end)| end <= now) {
            c.maintenance_schedule = None;
            done.push(c.name.to_string());
        }
    }
    done
}
