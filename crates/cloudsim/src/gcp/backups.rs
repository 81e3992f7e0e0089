//! Memorystore backups, the same in both APIs: `{clusters,instances}.backup` (an operation), the
//! backup collection of each resource, `backupCollections.get/list`, `backups.get/list/delete/
//! export`, automated daily backups, published maintenance, and the data a resource created from
//! a backup starts with.
//!
//! As the v1 APIs describe them: "If this is the first time a backup is being created, a backup
//! collection will be created at the backend"; "Backup call will be rejected if there is an
//! ongoing backup or update operation"; `backup_id` defaults to `[YYYYMMDDHHMMSS]_[Shortened
//! Cluster UID]` (or Instance UID); `ttl` ranges from 1 day to 100 years (default 100 years); a
//! backup is `CREATING`, then `ACTIVE`, `DELETING` while deleted; its type is `ON_DEMAND` or
//! `AUTOMATED`; backups stay after their resource is deleted. The data is the real server's, as an
//! RDB file (one file: the simulator keeps every slot on one node).
//!
//! Both APIs' backup collections share the simulator's paths: a listing shows both, each in its
//! own API's shape (`cluster`/`clusterUid` or `instance`/`instanceUid`).

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::Query;
use super::error::{Code, RpcError};
use super::lifecycle::{Encrypted, duration_secs, encryption_info};
use super::listing::list_page;
use super::managed::lookup;
use super::operations::{OpResult, Operation, Response, Snapshot, Verb, parse_request_id};
use super::protojson::{Obj, ProtoEnum, proto_enum};
use super::resource::{BackupFacts, LocationName, Managed, Service, State};
use super::state::GcpState;
use crate::dataplane::{BackendKey, Rdb};
use crate::sim::Shared;
use crate::util::rfc3339_micros;

proto_enum!(BackupType, "Backup.BackupType", {
    BACKUP_TYPE_UNSPECIFIED = 0,
    ON_DEMAND = 1,
    AUTOMATED = 2,
});

proto_enum!(BackupState, "Backup.State", {
    STATE_UNSPECIFIED = 0,
    CREATING = 1,
    ACTIVE = 2,
    DELETING = 3,
    SUSPENDED = 4,
});

const DAY: u64 = 24 * 3600;
/// "If not specified, the default value is 100 years."
const DEFAULT_TTL: u64 = 100 * 365 * DAY;

/// The fields naming a backup's source resource: `cluster`/`clusterUid`, `instance`/`instanceUid`.
fn source_fields(service: Service) -> (&'static str, &'static str) {
    match service {
        Service::RedisCluster => ("cluster", "clusterUid"),
        Service::Memorystore => ("instance", "instanceUid"),
    }
}

#[derive(Debug, Clone)]
pub struct BackupCollection {
    pub service: Service,
    pub name: String,
    /// The resource whose backups these are, and its uid.
    pub source: String,
    pub source_uid: String,
    pub uid: String,
    pub kms_key: Option<String>,
    pub create_time: Timestamp,
}

impl BackupCollection {
    /// The collection's JSON; Memorystore for Valkey adds its creation time and what it holds.
    fn render(&self, backups: &std::collections::BTreeMap<String, Backup>) -> Value {
        let (source, source_uid) = source_fields(self.service);
        let mut v = json!({
            "name": self.name,
            source: self.source,
            source_uid: self.source_uid,
            "uid": self.uid,
        });
        if let Some(k) = &self.kms_key {
            v["kmsKey"] = k.clone().into();
        }
        if self.service == Service::Memorystore {
            let prefix = format!("{}/backups/", self.name);
            let held: Vec<&Backup> = backups
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(_, b)| b)
                .collect();
            v["createTime"] = rfc3339_micros(self.create_time).into();
            // int64 fields are strings in proto JSON.
            v["totalBackupCount"] = held.len().to_string().into();
            v["totalBackupSizeBytes"] = held
                .iter()
                .map(|b| b.size())
                .sum::<usize>()
                .to_string()
                .into();
            if let Some(last) = held.iter().map(|b| b.create_time).max() {
                v["lastBackupTime"] = rfc3339_micros(last).into();
            }
        }
        v
    }
}

#[derive(Debug, Clone)]
pub struct Backup {
    pub service: Service,
    pub name: String,
    pub id: String,
    pub create_time: Timestamp,
    pub expire_time: Timestamp,
    pub source: String,
    pub source_uid: String,
    pub facts: BackupFacts,
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

    fn size(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.len())
    }
}

impl Response for Backup {
    fn message(&self) -> &'static str {
        "Backup"
    }

    fn render(&self, ints: bool) -> Value {
        let size = self.size();
        let (source, source_uid) = source_fields(self.service);
        let mut v = json!({
            "name": self.name,
            "createTime": rfc3339_micros(self.create_time),
            source: self.source,
            source_uid: self.source_uid,
            // int64 fields are strings in proto JSON.
            "totalSizeBytes": size.to_string(),
            "expireTime": rfc3339_micros(self.expire_time),
            "engineVersion": self.facts.engine_version,
            "nodeType": self.facts.node_type.json(ints),
            "replicaCount": self.facts.replica_count,
            "shardCount": self.facts.shard_count,
            "backupType": self.kind.json(ints),
            "state": self.state.json(ints),
            "encryptionInfo": encryption_info(
                self.kms_key.as_deref(),
                self.create_time,
                Encrypted::Backup(self.service),
                ints,
            ),
            "uid": self.uid,
        });
        // Memorystore for Valkey leaves out a zero replica count (a plain int32 in its Backup).
        if self.service == Service::Memorystore && self.facts.replica_count == 0 {
            v.as_object_mut().map(|m| m.remove("replicaCount"));
        }
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

/// The data a new resource of `service` starts with when created from `backup`
/// (`managedBackupSource`); the other API's backups are unknown to it.
pub fn import(gcp: &GcpState, service: Service, backup: &str) -> Result<Vec<Rdb>, RpcError> {
    let b = gcp
        .backups
        .get(backup)
        .filter(|b| b.service == service)
        .ok_or_else(|| RpcError::not_found(backup))?;
    if b.state != BackupState::ACTIVE {
        return Err(RpcError::failed_precondition(format!(
            "The backup {backup} is in state {}; only an ACTIVE backup can be imported",
            b.state.name()
        )));
    }
    Ok(b.data.clone().into_iter().collect())
}

/// Starts a backup of resource `name`: the backup is `CREATING` and the resource takes no
/// update until it is `ACTIVE`. Returns the operation.
fn start<T: Managed>(
    shared: &Arc<Shared>,
    gcp: &mut GcpState,
    name: &str,
    id: Option<String>,
    ttl: u64,
    kind: BackupType,
) -> Result<Operation, RpcError> {
    let now = shared.clock.now();
    let r = lookup::<T>(gcp, name)?;
    let c = &r.common;
    if c.state != State::ACTIVE || c.backing_up {
        return Err(RpcError::failed_precondition(format!(
            "The {} {name} has an ongoing backup or update operation (state {}); retry when it is done",
            T::NOUN,
            c.state.name()
        )));
    }
    let id = id.unwrap_or_else(|| {
        let t = now
            .to_zoned(jiff::tz::TimeZone::UTC)
            .strftime("%Y%m%d%H%M%S");
        format!("{t}_{}", &c.uid[c.uid.len().saturating_sub(6)..])
    });
    let (parent, uid, incarnation, existing) = (
        c.parent.clone(),
        c.uid.clone(),
        c.incarnation,
        c.backup_collection.clone(),
    );
    let facts = T::backup_facts(&r.spec);
    let kms_key = T::settings(&r.spec).kms_key.map(str::to_owned);
    let collection = match existing {
        Some(col) => col,
        None => {
            let col = format!(
                "{parent}/backupCollections/{}",
                uuid::Uuid::new_v4().hyphenated()
            );
            r.common.backup_collection = Some(col.clone());
            col
        }
    };
    let backup_name = format!("{collection}/backups/{id}");
    if gcp.backups.contains_key(&backup_name) {
        return Err(RpcError::new(
            Code::AlreadyExists,
            format!("Resource '{backup_name}' already exists"),
        ));
    }
    gcp.collections
        .entry(collection.clone())
        .or_insert_with(|| BackupCollection {
            service: T::SERVICE,
            name: collection.clone(),
            source: name.to_owned(),
            source_uid: uid.clone(),
            uid: uuid::Uuid::new_v4().hyphenated().to_string(),
            kms_key: kms_key.clone(),
            create_time: now,
        });
    let backup_incarnation = shared.next_id();
    gcp.backups.insert(
        backup_name.clone(),
        Backup {
            service: T::SERVICE,
            name: backup_name.clone(),
            id,
            // On the simulator's clock, like the expiry (automated backups run on it).
            create_time: now,
            expire_time: now
                .checked_add(std::time::Duration::from_secs(ttl))
                .unwrap_or(Timestamp::MAX),
            source: name.to_owned(),
            source_uid: uid,
            facts,
            kind,
            state: BackupState::CREATING,
            kms_key,
            uid: uuid::Uuid::new_v4().hyphenated().to_string(),
            data: None,
            incarnation: backup_incarnation,
        },
    );
    if let Ok(r) = lookup::<T>(gcp, name) {
        r.common.backing_up = true;
    }
    let op = Operation::new(T::SERVICE, &parent, name.to_owned(), Verb::Backup);
    gcp.operations.insert(op.name.clone(), op.clone());

    let shared = shared.clone();
    let op_name = op.name.clone();
    let name = name.to_owned();
    let provisioned = shared.provisioning(crate::config::Transition::Create);
    tokio::spawn(async move {
        // The backup holds the data as it is now.
        let data = shared
            .dataplane
            .snapshot(&BackendKey::Gcp(name.clone()))
            .await
            .map(Rdb::new);
        provisioned.await;
        let mut gcp = shared.gcp.lock().expect("gcp lock");
        if let Some(b) = gcp.backups.get_mut(&backup_name)
            && b.incarnation == backup_incarnation
        {
            b.data = data;
            b.state = BackupState::ACTIVE;
        }
        let snapshot = T::table_mut(&mut gcp)
            .get_mut(&name)
            .filter(|r| r.common.incarnation == incarnation)
            .map(|r| {
                r.common.backing_up = false;
                r.clone()
            });
        match snapshot {
            Some(r) => gcp.finish(&op_name, OpResult::Response(Arc::new(Snapshot(r)))),
            None => gcp.finish(
                &op_name,
                OpResult::Error(5, format!("{} {name} was deleted", T::KIND)),
            ),
        }
        tracing::info!(backup = %backup_name, "memorystore backup active");
    });
    Ok(op)
}

/// `POST v1/{name=projects/*/locations/*/{clusters,instances}/*}:backup` `{ttl?, backupId?}`.
pub fn backup<T: Managed>(
    shared: &Arc<Shared>,
    name: &str,
    q: &Query,
    body: &[u8],
) -> Result<Value, RpcError> {
    let request = format!("backup_{}_request", T::NOUN);
    let mut o = Obj::from_body(body, &request)?;
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
    let op = start::<T>(shared, &mut gcp, name, id, ttl, BackupType::ON_DEMAND)?;
    Ok(op.render(q.ints()))
}

/// Takes the automated backups of `T`'s resources whose start hour the simulator's clock passed in
/// `(from, to]`, and removes expired backups.
pub fn run_due<T: Managed>(shared: &Arc<Shared>, from: Timestamp, to: Timestamp) -> Vec<String> {
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    gcp.backups.retain(|_, b| b.expire_time > to);
    let due: Vec<(String, u64)> = T::table(&gcp)
        .values()
        .filter(|r| r.common.state == State::ACTIVE)
        .filter_map(|r| {
            let config = T::settings(&r.spec)
                .automated_backup
                .filter(|b| b.enabled())?;
            let hour = i8::try_from(config.start_hour?).ok()?;
            let day = from.to_zoned(jiff::tz::TimeZone::UTC).date();
            let passes = (0..=366).any(|k| {
                day.checked_add(jiff::Span::new().days(k))
                    .ok()
                    .and_then(|d| d.at(hour, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).ok())
                    .is_some_and(|at| at.timestamp() > from && at.timestamp() <= to)
            });
            passes.then(|| (r.common.name.clone(), config.retention_secs))
        })
        .collect();
    let mut started = Vec::new();
    for (name, retention) in due {
        if start::<T>(
            shared,
            &mut gcp,
            &name,
            None,
            retention,
            BackupType::AUTOMATED,
        )
        .is_ok()
        {
            started.push(name);
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
    list_page(
        &gcp.collections,
        &prefix,
        q,
        |k| parent.holds("backupCollections", k),
        "backupCollections",
        |c| c.render(&gcp.backups),
    )
}

pub fn get_collection(shared: &Shared, name: &str) -> Result<Value, RpcError> {
    let gcp = shared.gcp.lock().expect("gcp lock");
    gcp.collections
        .get(name)
        .map(|c| c.render(&gcp.backups))
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
    let op = Operation::new(b.service, &location, name.to_owned(), Verb::Delete);
    let rendered = op.render(q.ints());
    let op_name = op.name.clone();
    gcp.operations.insert(op.name.clone(), op);
    drop(gcp);
    let shared = shared.clone();
    let name = name.to_owned();
    let provisioned = shared.provisioning(crate::config::Transition::Delete);
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
    let op = Operation::new(b.service, &location, name.to_owned(), Verb::Export);
    let rendered = op.render(q.ints());
    let op_name = op.name.clone();
    gcp.operations.insert(op.name.clone(), op);
    drop(gcp);
    let shared = shared.clone();
    let provisioned = shared.provisioning(crate::config::Transition::Create);
    tokio::spawn(async move {
        provisioned.await;
        if let Some(data) = &b.data {
            shared.storage.put(
                format!("gs://{bucket}/{}/{}", b.id, b.file_name()),
                data.clone(),
            );
        }
        let mut gcp = shared.gcp.lock().expect("gcp lock");
        gcp.finish(&op_name, OpResult::Response(Arc::new(b)));
    });
    Ok(rendered)
}

/// Schedules the next maintenance of a resource inside its window (now plus a week without a
/// policy), as the service publishes upcoming maintenance in `maintenanceSchedule`.
pub fn schedule_maintenance<T: Managed>(shared: &Shared, name: &str) -> Result<Value, RpcError> {
    let now = shared.clock.now();
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let r = lookup::<T>(&mut gcp, name)?;
    let start = T::settings(&r.spec)
        .maintenance_policy
        .and_then(|p| p.next_start(now))
        .unwrap_or_else(|| now + std::time::Duration::from_secs(7 * DAY));
    let end = start + std::time::Duration::from_secs(3600);
    r.common.maintenance_schedule = Some((start, end));
    Ok(json!({"startTime": rfc3339_micros(start), "endTime": rfc3339_micros(end)}))
}

/// Maintenance of `T`'s resources whose window the clock passed is done: its schedule is no
/// longer published.
pub fn finish_maintenance<T: Managed>(shared: &Shared, now: Timestamp) -> Vec<String> {
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let mut done = Vec::new();
    for r in T::table_mut(&mut gcp).values_mut() {
        let c = &mut r.common;
        if c.maintenance_schedule.is_some_and(|(_, end)| end <= now) {
            c.maintenance_schedule = None;
            done.push(c.name.clone());
        }
    }
    done
}
