//! What both Memorystore APIs share: which API a resource belongs to, location names, the resource
//! states, endpoints, the fields every managed resource has, and the [`Managed`] trait through which
//! the common handlers (`managed`, `backups`, `operations`) drive a product without knowing it.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::error::RpcError;
use super::lifecycle::{
    AutomatedBackupConfig, Day2, Encrypted, MaintenancePolicy, encryption_info,
};
use super::protojson::{EnumValue, ProtoEnum, proto_enum};
use super::replication::{self, Replication};
use super::state::GcpState;
use crate::dataplane::{AclAuth, AclUser, BackendSpec, Server, TlsMode, full_access};
use crate::util::rfc3339_micros;

/// One of the simulated Memorystore APIs. They share the simulator's port (and so the paths of
/// operations, locations and backup collections), as both real ones live under `/v1/projects/…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Memorystore for Redis Cluster, `redis.googleapis.com`.
    RedisCluster,
    /// Memorystore (for Valkey), `memorystore.googleapis.com`.
    Memorystore,
}

impl Service {
    pub fn host(self) -> &'static str {
        match self {
            Service::RedisCluster => "redis.googleapis.com",
            Service::Memorystore => "memorystore.googleapis.com",
        }
    }

    /// The proto package of the API's messages.
    pub fn package(self) -> &'static str {
        match self {
            Service::RedisCluster => "google.cloud.redis.cluster.v1",
            Service::Memorystore => "google.cloud.memorystore.v1",
        }
    }

    /// `type.googleapis.com/<package>.<message>`, as `@type` in operations.
    pub fn type_url(self, message: &str) -> String {
        format!("type.googleapis.com/{}.{message}", self.package())
    }
}

/// Checks a project or location segment of a resource name.
fn check_segment(what: &str, s: &str) -> Result<(), RpcError> {
    if s.is_empty() || s.contains(['/', ' ']) {
        return Err(RpcError::invalid(format!(
            "Invalid {what} {s:?} in resource name"
        )));
    }
    Ok(())
}

/// `projects/{project}/locations/{location}` — the parent of resources and operations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocationName {
    pub project: String,
    /// A region, or `-` for "all regions" (list only).
    pub location: String,
}

impl LocationName {
    pub fn new(project: &str, location: &str) -> Result<Self, RpcError> {
        check_segment("project", project)?;
        check_segment("location", location)?;
        Ok(Self {
            project: project.to_owned(),
            location: location.to_owned(),
        })
    }

    pub fn is_wildcard(&self) -> bool {
        self.location == "-"
    }

    /// The key prefix of `collection`'s resources here (every location's under `-`).
    pub fn prefix(&self, collection: &str) -> String {
        if self.is_wildcard() {
            format!("projects/{}/locations/", self.project)
        } else {
            format!("{self}/{collection}/")
        }
    }

    /// Whether `key` (a full name under [`LocationName::prefix`]) is one of `collection`'s: under a
    /// wildcard location the prefix also covers the other collections.
    pub fn holds(&self, collection: &str, key: &str) -> bool {
        let prefix = self.prefix(collection);
        !self.is_wildcard()
            || key
                .strip_prefix(&prefix)
                .is_some_and(|rest| rest.contains(&format!("/{collection}/")))
    }

    /// The full name of resource `id` of `collection` here (a specific location only).
    pub fn child(&self, collection: &str, id: &str) -> Result<String, RpcError> {
        if self.is_wildcard() {
            return Err(RpcError::invalid(
                "A specific location is required; '-' is only valid when listing",
            ));
        }
        Ok(format!("{self}/{collection}/{id}"))
    }
}

impl fmt::Display for LocationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "projects/{}/locations/{}", self.project, self.location)
    }
}

/// The collection a full resource name belongs to: `projects/P/locations/L/{collection}/…`.
pub fn collection_of(name: &str) -> Option<&str> {
    name.split('/').nth(4)
}

proto_enum!(State, "State", {
    STATE_UNSPECIFIED = 0,
    CREATING = 1,
    ACTIVE = 2,
    UPDATING = 3,
    DELETING = 4,
});

/// Where clients reach a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// A PSC-style private address for resources without a local server.
    pub fn fake(n: u64) -> Self {
        Self {
            host: format!(
                "10.{}.{}.{}",
                128 + (n >> 16) % 64,
                (n >> 8) % 256,
                2 + n % 250
            ),
            port: 6379,
        }
    }
}

/// Checks `projects/{project}/global/networks/{network}` and returns the network's project;
/// `field` names the request field in the error.
pub fn network_project<'a>(network: &'a str, field: &str) -> Result<&'a str, RpcError> {
    let parts: Vec<&str> = network.split('/').collect();
    match parts.as_slice() {
        ["projects", p, "global", "networks", n] if !p.is_empty() && !n.is_empty() => Ok(p),
        _ => Err(RpcError::bad_field(
            field,
            format!(
                "Invalid network {network:?}: expected projects/{{project}}/global/networks/{{network}}"
            ),
        )),
    }
}

/// `sizeGb`-style numbers from tenths of a GB: a whole number when it is one (`13`, `4.2`).
pub fn gb_from_tenths(tenths: i64) -> Value {
    if tenths % 10 == 0 {
        Value::from(tenths / 10)
    } else {
        Value::from(tenths as f64 / 10.0)
    }
}

proto_enum!(ConnectionType, "ConnectionType", {
    CONNECTION_TYPE_UNSPECIFIED = 0,
    CONNECTION_TYPE_DISCOVERY = 1,
    CONNECTION_TYPE_PRIMARY = 2,
    CONNECTION_TYPE_READER = 3,
});

/// The service attachments a resource publishes for PSC, one per connection type, in the
/// service's tenant project.
pub fn service_attachments(c: &Common, types: &[ConnectionType]) -> Vec<(String, ConnectionType)> {
    let tenant = format!("tenant-{:x}", c.psc_ids[0] & 0xffff_ffff);
    types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                format!(
                    "projects/{tenant}/regions/{}/serviceAttachments/gcp-memorystore-auto-{:x}-psc-sa-{i}",
                    c.parent.location, c.psc_ids[0]
                ),
                *t,
            )
        })
        .collect()
}

/// The forwarding rule service connectivity automation creates in the consumer's project for PSC
/// connection `id`.
pub fn auto_forwarding_rule(project: &str, region: &str, id: u64) -> String {
    format!(
        "https://www.googleapis.com/compute/v1/projects/{project}/regions/{region}/forwardingRules/ssc-auto-fr-{:x}",
        id & 0xff_ffff
    )
}

/// The server behind a resource: `default` opens with a token the proxy verified (IAM auth), else
/// with no password; TLS only when the resource encrypts in transit.
pub fn backend(server: Server, iam_auth: bool, tls: bool, cluster: bool) -> BackendSpec {
    let default = if iam_auth {
        AclUser {
            name: "default".into(),
            rules: full_access(),
            auth: AclAuth::Token,
        }
    } else {
        AclUser::open_default()
    };
    BackendSpec {
        server,
        tls: if tls { TlsMode::Required } else { TlsMode::Off },
        cluster,
        acl: vec![default],
        seed: Vec::new(),
    }
}

/// Checks the shard and replica counts of a `message` (`cluster`, `instance`) against the
/// product's limits.
pub fn check_counts(
    message: &str,
    shards: i32,
    max_shards: i32,
    replicas: i32,
    max_replicas: i32,
) -> Result<(), RpcError> {
    for (field, n, min, max) in [
        ("shard_count", shards, 1, max_shards),
        ("replica_count", replicas, 0, max_replicas),
    ] {
        if !(min..=max).contains(&n) {
            return Err(RpcError::bad_field(
                &format!("{message}.{field}"),
                format!("{field} must be between {min} and {max}, got {n}"),
            ));
        }
    }
    Ok(())
}

/// What every managed resource (a Redis cluster, a Valkey instance) has besides its spec.
#[derive(Debug, Clone)]
pub struct Common {
    /// The full resource name.
    pub name: String,
    pub parent: LocationName,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
    pub state: State,
    pub uid: String,
    pub endpoint: Endpoint,
    /// Fake PSC connection ids, stable for the resource's life.
    pub psc_ids: [u64; 2],
    /// Distinguishes this resource from an earlier one with the same name (for delayed transitions).
    pub incarnation: u64,
    /// Upcoming maintenance the service published (`maintenanceSchedule`): start and end.
    pub maintenance_schedule: Option<(Timestamp, Timestamp)>,
    /// The backup collection, once the first backup made one.
    pub backup_collection: Option<String>,
    /// A backup is being taken: no update and no other backup until it ends.
    pub backing_up: bool,
    /// Cross-region replication: the role and the set it belongs to.
    pub replication: Replication,
}

impl Common {
    /// The fields both APIs render alike: name, creation, state, uid, the published maintenance,
    /// the encryption (`kmsKey`, `encryptionInfo`), the backup collection and the cross-region
    /// replication config (in `P`'s names).
    pub fn render_into<P: Managed>(
        &self,
        m: &mut Map<String, Value>,
        kms_key: Option<&str>,
        ints: bool,
    ) {
        m.insert("name".into(), self.name.clone().into());
        m.insert("createTime".into(), rfc3339_micros(self.create_time).into());
        m.insert("state".into(), self.state.json(ints));
        m.insert("uid".into(), self.uid.clone().into());
        if let Some((start, end)) = self.maintenance_schedule {
            m.insert(
                "maintenanceSchedule".into(),
                json!({"startTime": rfc3339_micros(start), "endTime": rfc3339_micros(end)}),
            );
        }
        if let Some(k) = kms_key {
            m.insert("kmsKey".into(), k.into());
        }
        m.insert(
            "encryptionInfo".into(),
            encryption_info(kms_key, self.create_time, Encrypted::Resource, ints),
        );
        if let Some(b) = &self.backup_collection {
            m.insert("backupCollection".into(), b.clone().into());
        }
        if let Some((field, config)) = replication::render::<P>(&self.replication, ints) {
            m.insert(field.into(), config);
        }
    }
}

/// `stateInfo` while an update runs: `updateInfo` with each `(field, now, target)` whose target
/// differs; nothing when none does.
pub fn update_info(targets: Vec<(&str, Value, Value)>) -> Option<Value> {
    let info: Map<String, Value> = targets
        .into_iter()
        .filter(|(_, now, target)| now != target)
        .map(|(field, _, target)| (field.to_owned(), target))
        .collect();
    (!info.is_empty()).then(|| json!({"updateInfo": info}))
}

/// One resource of a product: what every resource has, the spec it runs, and the spec being
/// applied while UPDATING.
#[derive(Debug, Clone)]
pub struct Resource<P: Managed> {
    pub common: Common,
    pub spec: P::Spec,
    pub pending: Option<P::Spec>,
}

impl<P: Managed> Resource<P> {
    pub fn new(common: Common, spec: P::Spec) -> Self {
        Self {
            common,
            spec,
            pending: None,
        }
    }

    /// The resource's JSON as the API returns it.
    pub fn render(&self, ints: bool) -> Value {
        P::render(self, ints)
    }
}

/// What a backup records of the resource it was taken from.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupFacts {
    pub node_type: EnumValue,
    pub shard_count: i32,
    pub replica_count: i32,
    pub engine_version: String,
}

/// The settings of a spec the common handlers act on.
#[derive(Debug)]
pub struct Settings<'a> {
    pub deletion_protected: bool,
    pub tls: bool,
    pub iam_auth: bool,
    /// The authorization mode's enum name (for the admin listing).
    pub auth_mode: &'static str,
    pub kms_key: Option<&'a str>,
    pub maintenance_policy: Option<&'a MaintenancePolicy>,
    pub automated_backup: Option<&'a AutomatedBackupConfig>,
}

impl<'a> Settings<'a> {
    pub fn new(
        deletion_protected: bool,
        tls: bool,
        iam_auth: bool,
        auth_mode: &'static str,
        day2: &'a Day2,
    ) -> Self {
        Self {
            deletion_protected,
            tls,
            iam_auth,
            auth_mode,
            kms_key: day2.kms_key.as_deref(),
            maintenance_policy: day2.maintenance_policy.as_ref(),
            automated_backup: day2.automated_backup.as_ref(),
        }
    }
}

/// A Memorystore product (Redis Cluster `clusters`, Valkey `instances`) as the common handlers see
/// it: its names, where its resources are kept, and what only it knows about its spec.
pub trait Managed: Clone + fmt::Debug + Send + Sync + 'static {
    /// What a client can ask for.
    type Spec: Clone + fmt::Debug + Send + Sync + 'static;
    const SERVICE: Service;
    /// The message name: `Cluster`, `Instance`.
    const KIND: &'static str;
    /// The noun in messages: `cluster`, `instance`.
    const NOUN: &'static str;
    /// The collection in names and in API operation names (`clusters.create`).
    const COLLECTION: &'static str;
    /// The role that lets a principal AUTH with an access token.
    const CONNECT_ROLE: &'static str;
    /// The cross-region replication config's role enum and field names.
    type ReplicationRole: ProtoEnum;
    const REPLICATION: replication::Names;

    fn table(gcp: &GcpState) -> &BTreeMap<String, Resource<Self>>;
    fn table_mut(gcp: &mut GcpState) -> &mut BTreeMap<String, Resource<Self>>;
    /// A new resource's system-assigned uid.
    fn new_uid() -> String;
    /// The resource's JSON as the API returns it.
    fn render(r: &Resource<Self>, ints: bool) -> Value;
    /// The server the spec asks for.
    fn backend(spec: &Self::Spec) -> BackendSpec;
    fn settings(spec: &Self::Spec) -> Settings<'_>;
    fn backup_facts(spec: &Self::Spec) -> BackupFacts;
    /// The settings a secondary takes from its primary (at creation, and whenever the primary's
    /// change), by JSON field name, as rendered.
    fn shared_settings(spec: &Self::Spec) -> Vec<(&'static str, Value)>;
    /// `own` with the settings of `primary` a secondary takes.
    fn inherit(primary: &Self::Spec, own: &Self::Spec) -> Self::Spec;

    /// The IAM resource type conditions see (`redis.googleapis.com/Cluster`).
    fn iam_resource_type() -> String {
        format!("{}/{}", Self::SERVICE.host(), Self::KIND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_collections() {
        let l = LocationName::new("p", "-").unwrap();
        assert!(l.holds("instances", "projects/p/locations/r/instances/i"));
        assert!(!l.holds("instances", "projects/p/locations/r/clusters/i"));
        assert!(l.child("instances", "i").is_err());
        let l = LocationName::new("p", "r").unwrap();
        assert_eq!(
            l.child("instances", "i").unwrap(),
            "projects/p/locations/r/instances/i"
        );
        assert_eq!(
            collection_of("projects/p/locations/r/instances/i"),
            Some("instances")
        );
        assert_eq!(
            Service::Memorystore.type_url("Instance"),
            "type.googleapis.com/google.cloud.memorystore.v1.Instance"
        );
    }
}
