//! Memorystore for Redis Cluster v1: clusters, long-running operations and locations.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::Query;
use super::backups;
use super::cluster::{Cluster, ClusterName, ClusterSpec, Endpoint, LocationName, MaskField, State};
use super::error::{Code, RpcError};
use super::iam::Policies;
use super::lifecycle::{ImportSource, kms_key_location};
use super::operations::{OpResult, Operation, Replays, Verb, parse_request_id};
use super::protojson::ProtoEnum;
use crate::dataplane::{AclAuth, AclUser, BackendKey, BackendSpec, TlsMode, full_access};
use crate::sim::Shared;
use crate::util::{decode_page_token, page_start, paginate, random_digits};

/// Regions offering Memorystore for Redis Cluster that `locations.list` reports (others are accepted too).
const REGIONS: &[&str] = &[
    "asia-east1",
    "asia-northeast1",
    "asia-south1",
    "asia-southeast1",
    "australia-southeast1",
    "europe-west1",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "northamerica-northeast1",
    "southamerica-east1",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-west1",
    "us-west2",
];

const MAX_PAGE_SIZE: usize = 1000;

/// Everything the Google side keeps in memory.
#[derive(Debug, Default)]
pub struct GcpState {
    pub clusters: BTreeMap<String, Cluster>,
    pub operations: BTreeMap<String, Operation>,
    /// Operations a client deleted that a remembered `requestId` still replays.
    pub retired: BTreeMap<String, Operation>,
    pub replays: Replays,
    pub policies: Policies,
    pub accounts: super::accounts::ServiceAccounts,
    /// Backup collections by full name; they outlive their clusters.
    pub collections: BTreeMap<String, backups::BackupCollection>,
    /// Backups by full name.
    pub backups: BTreeMap<String, backups::Backup>,
}

impl GcpState {
    /// The operation a remembered `requestId` names, rendered, if it is still replayed.
    fn replay(
        &mut self,
        verb: Verb,
        target: &str,
        rid: &str,
        retention: std::time::Duration,
        now: Timestamp,
        ints: bool,
    ) -> Option<Value> {
        let op = self.replays.lookup(verb, target, rid, retention, now)?;
        self.operations
            .get(&op)
            .or_else(|| self.retired.get(&op))
            .map(|op| op.render(ints))
    }

    pub(crate) fn finish(&mut self, op: &str, result: OpResult) {
        if let Some(o) = self
            .operations
            .get_mut(op)
            .or_else(|| self.retired.get_mut(op))
        {
            o.finish(result);
        }
    }
}

/// What an injected operation failure reports (google.rpc INTERNAL and its usual wording).
fn injected_failure() -> OpResult {
    OpResult::Error(13, "Internal error encountered.".into())
}

/// A list response of `field`: the page of `map`'s entries under `prefix` (and `keep`) that
/// `q` asks for, rendered, with `nextPageToken` when more follow.
pub(crate) fn list_page<T>(
    map: &std::collections::BTreeMap<String, T>,
    prefix: &str,
    q: &Query,
    keep: impl Fn(&str) -> bool,
    field: &str,
    render: impl Fn(&T) -> Value,
) -> Result<Value, RpcError> {
    let (size, after) = page_params(q)?;
    let items = map
        .range(page_start(prefix, after.as_deref())..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| (k.clone(), v));
    let (page, next) = paginate(items, after.as_deref(), size);
    let mut v = json!({ field: page.into_iter().map(render).collect::<Vec<_>>() });
    if let Some(next) = next {
        v["nextPageToken"] = next.into();
    }
    Ok(v)
}

fn page_params(q: &Query) -> Result<(usize, Option<String>), RpcError> {
    let size = match q.get("pageSize") {
        None | Some("") => MAX_PAGE_SIZE,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n < 0 => {
                return Err(RpcError::bad_field(
                    "page_size",
                    "page_size must not be negative",
                ));
            }
            Ok(0) => MAX_PAGE_SIZE,
            Ok(n) => usize::try_from(n)
                .unwrap_or(MAX_PAGE_SIZE)
                .min(MAX_PAGE_SIZE),
            Err(_) => {
                return Err(RpcError::bad_field(
                    "page_size",
                    format!("Invalid page_size {s:?}"),
                ));
            }
        },
    };
    let after = match q.get("pageToken") {
        None | Some("") => None,
        Some(t) => Some(
            decode_page_token(t)
                .ok_or_else(|| RpcError::bad_field("page_token", "The page token is invalid"))?,
        ),
    };
    Ok((size, after))
}

fn backend_spec(spec: &ClusterSpec) -> BackendSpec {
    let default = if spec.iam_auth() {
        // Only a token the proxy verified (any valid token of a principal with the role) opens `default`.
        AclUser {
            name: "default".into(),
            rules: full_access(),
            auth: AclAuth::Token,
        }
    } else {
        AclUser::open_default()
    };
    BackendSpec {
        tls: if spec.tls() {
            TlsMode::Required
        } else {
            TlsMode::Off
        },
        cluster: true,
        acl: vec![default],
        seed: Vec::new(),
    }
}

/// A PSC-style private address for clusters without a local Redis.
fn fake_endpoint(n: u64) -> Endpoint {
    Endpoint {
        host: format!(
            "10.{}.{}.{}",
            128 + (n >> 16) % 64,
            (n >> 8) % 256,
            2 + n % 250
        ),
        port: 6379,
    }
}

pub fn create(
    shared: &Arc<Shared>,
    parent: LocationName,
    q: &Query,
    body: &[u8],
) -> Result<Value, RpcError> {
    let cluster_id = q
        .get("clusterId")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| RpcError::bad_field("cluster_id", "cluster_id is required"))?;
    let name = ClusterName::new(parent, cluster_id)?;
    let request_id = parse_request_id(q.get("requestId"))?;
    let full = name.to_string();
    let tunables = shared.tunables();
    let now = shared.clock.now();
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    if let Some(rid) = &request_id
        && let Some(op) = gcp.replay(
            Verb::Create,
            &full,
            rid,
            tunables.request_id_retention,
            now,
            q.ints(),
        )
    {
        return Ok(op);
    }
    let mut spec = ClusterSpec::parse_create(body, &name.parent.location)?;
    if gcp.clusters.contains_key(&full) {
        return Err(RpcError::new(
            Code::AlreadyExists,
            format!("Resource '{full}' already exists"),
        ));
    }
    // What the backend finds out while creating: a key of another region, or import files it
    // cannot read, fail the operation.
    let mut failure: Option<OpResult> = None;
    if let Some(k) = &spec.kms_key
        && kms_key_location(k)? != name.parent.location
    {
        failure = Some(OpResult::Error(
            3,
            format!(
                "The KMS key {k} must be in the same region as the cluster ({}).",
                name.parent.location
            ),
        ));
    }
    let seed = match spec.import.take() {
        None => Vec::new(),
        Some(ImportSource::Managed(backup)) => backups::import(&gcp, &backup)?,
        Some(ImportSource::Gcs(uris)) => {
            let mut files = Vec::new();
            for u in &uris {
                match shared.storage.get(u) {
                    Some(rdb) => files.push(rdb),
                    None => {
                        failure.get_or_insert(OpResult::Error(
                            9,
                            format!("Failed to import from {u}: the object was not found or is not readable."),
                        ));
                    }
                }
            }
            files
        }
    };
    let incarnation = shared.next_id();
    let key = BackendKey::Gcp(full.clone());
    let mut backend = backend_spec(&spec);
    if failure.is_none() {
        backend.seed = seed;
    }
    let endpoint = match shared.dataplane.provision(key.clone(), backend) {
        Ok(Some(port)) => Endpoint {
            host: "127.0.0.1".into(),
            port,
        },
        Ok(None) => fake_endpoint(incarnation),
        Err(e) => {
            return Err(RpcError::new(
                Code::Internal,
                format!("could not open the cluster endpoint: {e}"),
            ));
        }
    };
    let cluster = Cluster {
        name: name.clone(),
        create_time: Timestamp::now(),
        state: State::CREATING,
        uid: random_digits(21),
        spec,
        pending: None,
        endpoint,
        psc_ids: [
            random_digits(18).parse().unwrap_or(1),
            random_digits(18).parse().unwrap_or(2),
        ],
        incarnation,
        maintenance_schedule: None,
        backup_collection: None,
        backing_up: false,
    };
    let op = Operation::new(&name.parent, full.clone(), Verb::Create);
    let rendered = op.render(q.ints());
    if let Some(rid) = &request_id {
        gcp.replays
            .remember(Verb::Create, &full, rid, &op.name, now);
    }
    let op_name = op.name.clone();
    gcp.operations.insert(op.name.clone(), op);
    gcp.clusters.insert(full.clone(), cluster);
    drop(gcp);
    let fail = match failure {
        Some(f) => Some(f),
        None => shared
            .faults
            .take_operation_failure("clusters.create")
            .then(injected_failure),
    };
    tracing::info!(cluster = %full, "memorystore cluster creating");

    let provisioned = shared.provisioning();
    let shared = shared.clone();
    tokio::spawn(async move {
        let delay = provisioned;
        let ready = async {
            if shared.dataplane.enabled() {
                shared.dataplane.wait_ready(&key).await;
            }
        };
        tokio::join!(delay, ready);
        if let Some(failure) = fail {
            // A failed create leaves nothing behind: the cluster goes, the operation says why.
            shared.dataplane.stop(&key).await;
            let mut gcp = shared.gcp.lock().expect("gcp lock");
            if gcp
                .clusters
                .get(&full)
                .is_some_and(|c| c.incarnation == incarnation && c.state == State::CREATING)
            {
                gcp.clusters.remove(&full);
            }
            gcp.finish(&op_name, failure);
            tracing::info!(cluster = %full, "memorystore cluster creation failed");
            return;
        }
        let mut gcp = shared.gcp.lock().expect("gcp lock");
        let Some(c) = gcp
            .clusters
            .get_mut(&full)
            .filter(|c| c.incarnation == incarnation)
        else {
            return;
        };
        if c.state != State::CREATING {
            return;
        }
        c.state = State::ACTIVE;
        let snapshot = c.clone();
        gcp.finish(&op_name, OpResult::Cluster(Box::new(snapshot)));
        tracing::info!(cluster = %full, "memorystore cluster active");
    });
    Ok(rendered)
}

pub(crate) fn lookup<'a>(gcp: &'a mut GcpState, name: &str) -> Result<&'a mut Cluster, RpcError> {
    gcp.clusters
        .get_mut(name)
        .ok_or_else(|| RpcError::not_found(name))
}

pub fn get(shared: &Shared, name: &str, q: &Query) -> Result<Value, RpcError> {
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    Ok(lookup(&mut gcp, name)?.render(q.ints()))
}

pub fn list(shared: &Shared, parent: &LocationName, q: &Query) -> Result<Value, RpcError> {
    let prefix = parent.cluster_prefix();
    let gcp = shared.gcp.lock().expect("gcp lock");
    let ints = q.ints();
    // Under a wildcard location the prefix also covers other collections.
    let keep = |k: &str| !parent.is_wildcard() || k[prefix.len()..].contains("/clusters/");
    list_page(&gcp.clusters, &prefix, q, keep, "clusters", |c| {
        c.render(ints)
    })
}

fn busy(c: &Cluster) -> RpcError {
    if c.backing_up {
        return RpcError::failed_precondition(format!(
            "The cluster {} is being backed up: an operation is already in progress; retry when the backup is done",
            c.name
        ));
    }
    RpcError::failed_precondition(format!(
        "The cluster {} is in state {}: an operation is already in progress; retry when the cluster is ACTIVE",
        c.name,
        c.state.name()
    ))
}

pub fn patch(shared: &Arc<Shared>, name: &str, q: &Query, body: &[u8]) -> Result<Value, RpcError> {
    let mask = MaskField::parse_mask(q.get("updateMask"))?;
    let request_id = parse_request_id(q.get("requestId"))?;
    let tunables = shared.tunables();
    let now = shared.clock.now();
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    if let Some(rid) = &request_id
        && let Some(op) = gcp.replay(
            Verb::Update,
            name,
            rid,
            tunables.request_id_retention,
            now,
            q.ints(),
        )
    {
        return Ok(op);
    }
    let c = lookup(&mut gcp, name)?;
    if c.state != State::ACTIVE || c.backing_up {
        return Err(busy(c));
    }
    let next = c.spec.apply_patch(body, &c.name.parent.location, &mask)?;
    c.state = State::UPDATING;
    c.pending = Some(next);
    let incarnation = c.incarnation;
    let op = Operation::new(&c.name.parent, name.to_owned(), Verb::Update);
    let rendered = op.render(q.ints());
    if let Some(rid) = &request_id {
        gcp.replays.remember(Verb::Update, name, rid, &op.name, now);
    }
    let op_name = op.name.clone();
    gcp.operations.insert(op.name.clone(), op);
    drop(gcp);
    let fail = shared.faults.take_operation_failure("clusters.patch");

    let provisioned = shared.provisioning();
    let shared = shared.clone();
    let name = name.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        let mut gcp = shared.gcp.lock().expect("gcp lock");
        let Some(c) = gcp
            .clusters
            .get_mut(&name)
            .filter(|c| c.incarnation == incarnation)
        else {
            return;
        };
        if c.state != State::UPDATING {
            return;
        }
        let next = c.pending.take();
        c.state = State::ACTIVE;
        if fail {
            // The update did not happen: the cluster keeps its spec.
            gcp.finish(&op_name, injected_failure());
            return;
        }
        if let Some(next) = next {
            c.spec = next;
        }
        let snapshot = c.clone();
        gcp.finish(&op_name, OpResult::Cluster(Box::new(snapshot)));
    });
    Ok(rendered)
}

pub fn delete(shared: &Arc<Shared>, name: &str, q: &Query) -> Result<Value, RpcError> {
    let request_id = parse_request_id(q.get("requestId"))?;
    let tunables = shared.tunables();
    let now = shared.clock.now();
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    if let Some(rid) = &request_id
        && let Some(op) = gcp.replay(
            Verb::Delete,
            name,
            rid,
            tunables.request_id_retention,
            now,
            q.ints(),
        )
    {
        return Ok(op);
    }
    let c = lookup(&mut gcp, name)?;
    if c.backing_up {
        return Err(busy(c));
    }
    if c.spec.deletion_protection_enabled {
        return Err(RpcError::failed_precondition(
            "The cluster is deletion protected. Please disable deletion protection to delete the cluster. \
             To disable, update DeleteProtectionEnabled to false via the Update API",
        ));
    }
    if c.state != State::ACTIVE {
        return Err(busy(c));
    }
    c.state = State::DELETING;
    let incarnation = c.incarnation;
    let op = Operation::new(&c.name.parent, name.to_owned(), Verb::Delete);
    let rendered = op.render(q.ints());
    if let Some(rid) = &request_id {
        gcp.replays.remember(Verb::Delete, name, rid, &op.name, now);
    }
    let op_name = op.name.clone();
    gcp.operations.insert(op.name.clone(), op);
    drop(gcp);

    let provisioned = shared.provisioning();
    let shared = shared.clone();
    let name = name.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        let current = shared
            .gcp
            .lock()
            .expect("gcp lock")
            .clusters
            .get(&name)
            .map(|c| c.incarnation);
        if current != Some(incarnation) {
            return;
        }
        shared.dataplane.stop(&BackendKey::Gcp(name.clone())).await;
        let mut gcp = shared.gcp.lock().expect("gcp lock");
        if gcp
            .clusters
            .get(&name)
            .is_some_and(|c| c.incarnation == incarnation)
        {
            gcp.clusters.remove(&name);
        }
        gcp.finish(&op_name, OpResult::Empty);
        tracing::info!(cluster = %name, "memorystore cluster deleted");
    });
    Ok(rendered)
}

pub fn certificate_authority(shared: &Shared, name: &str) -> Result<Value, RpcError> {
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let c = lookup(&mut gcp, name)?;
    let mut v = json!({"name": format!("{name}/certificateAuthority")});
    if c.spec.tls() {
        v["managedServerCa"] = json!({"caCerts": [{"certificates": [shared.ca.pem()]}]});
    }
    Ok(v)
}

pub fn get_operation(shared: &Shared, name: &str, q: &Query) -> Result<Value, RpcError> {
    let gcp = shared.gcp.lock().expect("gcp lock");
    gcp.operations
        .get(name)
        .map(|op| op.render(q.ints()))
        .ok_or_else(|| RpcError::not_found(name))
}

pub fn list_operations(
    shared: &Shared,
    parent: &LocationName,
    q: &Query,
) -> Result<Value, RpcError> {
    let prefix = parent.prefix("operations");
    let gcp = shared.gcp.lock().expect("gcp lock");
    let ints = q.ints();
    list_page(
        &gcp.operations,
        &prefix,
        q,
        |_| true,
        "operations",
        |op| op.render(ints),
    )
}

pub fn delete_operation(shared: &Shared, name: &str) -> Result<Value, RpcError> {
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let op = gcp
        .operations
        .remove(name)
        .ok_or_else(|| RpcError::not_found(name))?;
    // Gone for clients; a repeated requestId still answers with it.
    if gcp.replays.refers_to(name) {
        gcp.retired.insert(name.to_owned(), op);
    }
    Ok(json!({}))
}

pub fn cancel_operation(shared: &Shared, name: &str) -> Result<Value, RpcError> {
    let gcp = shared.gcp.lock().expect("gcp lock");
    let op = gcp
        .operations
        .get(name)
        .ok_or_else(|| RpcError::not_found(name))?;
    if op.done() {
        return Err(RpcError::failed_precondition(format!(
            "Operation {name} has already completed"
        )));
    }
    Err(RpcError::new(
        Code::Unimplemented,
        "Cancelling Memorystore cluster operations is not supported",
    ))
}

fn location_json(project: &str, region: &str) -> Value {
    json!({"name": format!("projects/{project}/locations/{region}"), "locationId": region})
}

pub fn list_locations(shared: &Shared, project: &str) -> Result<Value, RpcError> {
    let mut regions: Vec<String> = REGIONS.iter().map(|r| (*r).to_owned()).collect();
    let gcp = shared.gcp.lock().expect("gcp lock");
    let prefix = format!("projects/{project}/locations/");
    for c in gcp
        .clusters
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(_, c)| c)
    {
        if !regions.contains(&c.name.parent.location) {
            regions.push(c.name.parent.location.clone());
        }
    }
    regions.sort();
    Ok(json!({"locations": regions.iter().map(|r| location_json(project, r)).collect::<Vec<_>>()}))
}

pub fn get_location(project: &str, location: &str) -> Result<Value, RpcError> {
    LocationName::new(project, location)?;
    Ok(location_json(project, location))
}
