//! The Memorystore for Valkey `Instance` (`google.cloud.memorystore.v1`): its enums, what a request
//! may set and what it may change, and the JSON the service returns.
//!
//! Shapes follow the v1 proto (the 2026 revision: `nodeType` and `engineVersion` mutable,
//! `serverCaMode`, `kmsKey`, `endpoints`) and responses the service gave Config Connector's recorded
//! tests (`pscAttachmentDetails` PRIMARY/READER for cluster mode disabled, `nodeConfig.sizeGb`,
//! `automatedBackupConfig: {automatedBackupMode: DISABLED}` by default, auto-created connections
//! inside `endpoints[].connections[]`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::dataplane::{BackendSpec, Server};
use crate::gcp::error::RpcError;
use crate::gcp::lifecycle::{Day2, Day2Field, Day2Input, ImportSource};
use crate::gcp::mask::{MaskPath, parse_mask};
use crate::gcp::protojson::{EnumValue, Obj, ProtoEnum, proto_enum};
use crate::gcp::replication::{self, InstanceRole, ReplicationInput};
use crate::gcp::resource::{
    self, BackupFacts, ConnectionType, Managed, Resource, Service, Settings, State,
    auto_forwarding_rule, backend, gb_from_tenths, network_project, service_attachments,
    update_info,
};
use crate::gcp::settings::{Persistence, ZoneDistribution};
use crate::gcp::state::GcpState;
use crate::util::rfc3339_micros;

proto_enum!(NodeType, "Instance.NodeType", {
    NODE_TYPE_UNSPECIFIED = 0,
    SHARED_CORE_NANO = 1,
    HIGHMEM_MEDIUM = 2,
    HIGHMEM_XLARGE = 3,
    STANDARD_SMALL = 4,
});

impl NodeType {
    /// Node capacity in tenths of a GB ("Instance and node specification": 1.4, 6.5, 13, 58 GB).
    fn capacity_tenths_gb(self) -> i64 {
        match self {
            NodeType::SHARED_CORE_NANO => 14,
            NodeType::STANDARD_SMALL => 65,
            NodeType::HIGHMEM_MEDIUM | NodeType::NODE_TYPE_UNSPECIFIED => 130,
            NodeType::HIGHMEM_XLARGE => 580,
        }
    }
}

proto_enum!(AuthorizationMode, "Instance.AuthorizationMode", {
    AUTHORIZATION_MODE_UNSPECIFIED = 0,
    AUTH_DISABLED = 1,
    IAM_AUTH = 2,
});

proto_enum!(TransitEncryptionMode, "Instance.TransitEncryptionMode", {
    TRANSIT_ENCRYPTION_MODE_UNSPECIFIED = 0,
    TRANSIT_ENCRYPTION_DISABLED = 1,
    SERVER_AUTHENTICATION = 2,
});

proto_enum!(Mode, "Instance.Mode", {
    MODE_UNSPECIFIED = 0,
    STANDALONE = 1,
    CLUSTER = 2,
    CLUSTER_DISABLED = 4,
});

// `allow_alias`: the deprecated names are the same numbers as the current ones.
proto_enum!(ServerCaMode, "Instance.ServerCaMode", {
    SERVER_CA_MODE_UNSPECIFIED = 0,
    GOOGLE_MANAGED_PER_INSTANCE_CA = 1,
    GOOGLE_MANAGED_SHARED_CA = 2,
    CUSTOMER_MANAGED_CAS_CA = 3,
    SERVER_CA_MODE_GOOGLE_MANAGED_PER_INSTANCE_CA = 1,
    SERVER_CA_MODE_GOOGLE_MANAGED_SHARED_CA = 2,
    SERVER_CA_MODE_CUSTOMER_MANAGED_CAS_CA = 3,
});

proto_enum!(PersistenceMode, "PersistenceConfig.PersistenceMode", {
    PERSISTENCE_MODE_UNSPECIFIED = 0,
    DISABLED = 1,
    RDB = 2,
    AOF = 3,
});

proto_enum!(SnapshotPeriod, "PersistenceConfig.RDBConfig.SnapshotPeriod", {
    SNAPSHOT_PERIOD_UNSPECIFIED = 0,
    ONE_HOUR = 1,
    SIX_HOURS = 2,
    TWELVE_HOURS = 3,
    TWENTY_FOUR_HOURS = 4,
});

proto_enum!(AppendFsync, "PersistenceConfig.AOFConfig.AppendFsync", {
    APPEND_FSYNC_UNSPECIFIED = 0,
    NEVER = 1,
    EVERY_SEC = 2,
    ALWAYS = 3,
});

proto_enum!(PscConnectionStatus, "PscConnectionStatus", {
    PSC_CONNECTION_STATUS_UNSPECIFIED = 0,
    ACTIVE = 1,
    NOT_FOUND = 2,
});

/// `persistenceConfig` with this API's enums.
pub type PersistenceConfig = Persistence<PersistenceMode, SnapshotPeriod, AppendFsync>;

/// Replicas per shard: "0-5" (product overview, 2026; older pages said 0-2).
const MAX_REPLICAS: i32 = 5;
/// Largest shard count accepted (the service's limit is not in the API definition).
const MAX_SHARDS: i32 = 250;
/// Google's label limits: 64 labels, keys 1-63 and values 0-63 characters.
const MAX_LABELS: usize = 64;
/// `engineConfigs` the service lets customers set ("Supported instance configurations"; `databases`
/// and `cluster-databases` with Valkey 9.0).
const ENGINE_CONFIG_KEYS: &[&str] = &[
    "maxmemory-clients",
    "maxmemory",
    "maxmemory-policy",
    "notify-keyspace-events",
    "slowlog-log-slower-than",
    "maxclients",
    "lfu-log-factor",
    "lfu-decay-time",
    "maxmemory-samples",
    "databases",
    "cluster-databases",
];
const MAXMEMORY_POLICIES: &[&str] = &[
    "noeviction",
    "allkeys-lru",
    "volatile-lru",
    "allkeys-random",
    "volatile-random",
    "volatile-ttl",
    "volatile-lfu",
    "allkeys-lfu",
];
/// The maintenance version new instances run, and the ones a self-service update may move to.
const MAINTENANCE_VERSIONS: &[&str] = &["MEMORYSTORE_20260313_01_02", "MEMORYSTORE_20260313_01_03"];

/// `engineVersion`, a string in the API: the Valkey major versions the service runs, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EngineVersion {
    Valkey7_2,
    Valkey8_0,
    Valkey9_0,
}

impl EngineVersion {
    const ALL: [(EngineVersion, &'static str); 3] = [
        (EngineVersion::Valkey7_2, "VALKEY_7_2"),
        (EngineVersion::Valkey8_0, "VALKEY_8_0"),
        (EngineVersion::Valkey9_0, "VALKEY_9_0"),
    ];
    /// What an instance created without one runs ("The default version is 9.0", 2026 docs).
    pub const DEFAULT: EngineVersion = EngineVersion::Valkey9_0;

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(v, _)| *v == self)
            .map_or("", |(_, s)| s)
    }

    fn parse(s: &str) -> Result<Self, RpcError> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(v, _)| *v)
            .ok_or_else(|| {
                RpcError::bad_field(
                    "instance.engine_version",
                    format!(
                        "Invalid engine_version {s:?}: supported versions are {}",
                        Self::ALL.map(|(_, n)| n).join(", ")
                    ),
                )
            })
    }
}

/// 4–63 characters: lowercase letters, digits and hyphens; begins with a letter or digit; does not
/// end with a hyphen (`CreateInstanceRequest.instance_id`, the 2026 proto).
pub fn validate_instance_id(id: &str) -> Result<(), RpcError> {
    let b = id.as_bytes();
    let ok = (4..=63).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.last() != Some(&b'-');
    if ok {
        Ok(())
    } else {
        Err(RpcError::bad_field(
            "instance_id",
            format!(
                "Invalid instance_id {id:?}: it must be 4 to 63 characters long, begin with a lowercase letter \
                 or digit, contain only lowercase letters, digits and hyphens, and not end with a hyphen"
            ),
        ))
    }
}

fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), RpcError> {
    let part_ok = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    };
    let bad = |m: String| RpcError::bad_field("instance.labels", m);
    if labels.len() > MAX_LABELS {
        return Err(bad(format!(
            "at most {MAX_LABELS} labels are allowed, got {}",
            labels.len()
        )));
    }
    for (k, v) in labels {
        if !(1..=63).contains(&k.len())
            || !k.starts_with(|c: char| c.is_ascii_lowercase())
            || !part_ok(k)
        {
            return Err(bad(format!(
                "Invalid label key {k:?}: 1 to 63 lowercase letters, digits, underscores and hyphens, starting with a letter"
            )));
        }
        if v.len() > 63 || !part_ok(v) {
            return Err(bad(format!(
                "Invalid value {v:?} of label {k:?}: up to 63 lowercase letters, digits, underscores and hyphens"
            )));
        }
    }
    Ok(())
}

fn check_engine_configs(configs: &BTreeMap<String, String>) -> Result<(), RpcError> {
    for (k, v) in configs {
        if !ENGINE_CONFIG_KEYS.contains(&k.as_str()) {
            return Err(RpcError::bad_field(
                "instance.engine_configs",
                format!(
                    "Engine config {k:?} is not supported; supported: {}",
                    ENGINE_CONFIG_KEYS.join(", ")
                ),
            ));
        }
        if k == "maxmemory-policy" && !MAXMEMORY_POLICIES.contains(&v.as_str()) {
            return Err(RpcError::bad_field(
                "instance.engine_configs",
                format!(
                    "Invalid maxmemory-policy {v:?}; accepted: {}",
                    MAXMEMORY_POLICIES.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// A network the service connects the instance to (a `pscAutoConnection` as a client sends it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoNetwork {
    pub project_id: String,
    pub network: String,
}

/// A PSC connection the customer created and registered (`endpoints[].connections[].pscConnection`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConnection {
    pub psc_connection_id: String,
    pub ip_address: String,
    pub forwarding_rule: String,
    pub network: String,
    pub service_attachment: String,
}

/// One `endpoints[]` group: auto-created connections in one network, or the customer's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointGroup {
    Auto(AutoNetwork),
    User(Vec<UserConnection>),
}

/// What a connection object holds besides its outputs (which clients send back when they
/// read-modify-write an instance).
const CONNECTION_OUTPUTS: &[&str] = &[
    "pscConnectionId",
    "ipAddress",
    "forwardingRule",
    "serviceAttachment",
    "pscConnectionStatus",
    "connectionType",
    "port",
];

fn parse_auto(mut a: Obj) -> Result<AutoNetwork, RpcError> {
    let field = a.path().to_owned();
    let project_id = a.string("projectId")?.unwrap_or_default();
    let network = a.string("network")?.unwrap_or_default();
    a.ignore(CONNECTION_OUTPUTS);
    a.finish()?;
    let network_project = network_project(&network, &format!("{field}.network"))?;
    if project_id.is_empty() {
        return Err(RpcError::bad_field(
            &format!("{field}.project_id"),
            "project_id is required: the consumer project where the PSC connections are made",
        ));
    }
    if project_id != network_project {
        // Shared VPC is not simulated: the connections live in the network's project.
        return Err(RpcError::bad_field(
            &format!("{field}.project_id"),
            format!("project_id {project_id:?} is not the project of network {network:?}"),
        ));
    }
    Ok(AutoNetwork {
        project_id,
        network,
    })
}

fn parse_user(mut c: Obj) -> Result<UserConnection, RpcError> {
    let field = c.path().to_owned();
    let required = |v: Option<String>, name: &str| {
        v.filter(|s| !s.is_empty()).ok_or_else(|| {
            RpcError::bad_field(&format!("{field}.{name}"), format!("{name} is required"))
        })
    };
    let psc_connection_id = c.string("pscConnectionId")?.unwrap_or_default();
    let ip_address = required(c.string("ipAddress")?, "ip_address")?;
    let forwarding_rule = required(c.string("forwardingRule")?, "forwarding_rule")?;
    let network = required(c.string("network")?, "network")?;
    let service_attachment = required(c.string("serviceAttachment")?, "service_attachment")?;
    c.ignore(&["projectId", "pscConnectionStatus", "connectionType", "port"]);
    c.finish()?;
    network_project(&network, &format!("{field}.network"))?;
    Ok(UserConnection {
        psc_connection_id,
        ip_address,
        forwarding_rule,
        network,
        service_attachment,
    })
}

fn parse_endpoints(items: Vec<Obj>) -> Result<Vec<EndpointGroup>, RpcError> {
    let mut groups = Vec::new();
    for mut e in items {
        let field = e.path().to_owned();
        let connections = e.objects("connections")?.unwrap_or_default();
        e.finish()?;
        let mut auto: Option<AutoNetwork> = None;
        let mut user = Vec::new();
        for mut c in connections {
            let a = c.object("pscAutoConnection")?;
            let u = c.object("pscConnection")?;
            c.finish()?;
            match (a, u) {
                (Some(a), None) => {
                    let net = parse_auto(a)?;
                    if auto.as_ref().is_some_and(|n| *n != net) {
                        return Err(RpcError::bad_field(
                            &field,
                            "the auto-created connections of one endpoint must share one network",
                        ));
                    }
                    auto = Some(net);
                }
                (None, Some(u)) => user.push(parse_user(u)?),
                _ => {
                    return Err(RpcError::bad_field(
                        &format!("{field}.connections"),
                        "each connection sets exactly one of psc_auto_connection and psc_connection",
                    ));
                }
            }
        }
        groups.push(match (auto, user.is_empty()) {
            (Some(net), true) => EndpointGroup::Auto(net),
            (None, false) => EndpointGroup::User(user),
            (None, true) => continue,
            (Some(_), false) => {
                return Err(RpcError::bad_field(
                    &field,
                    "an endpoint holds either auto-created or user-created connections, not both",
                ));
            }
        });
    }
    Ok(groups)
}

/// Input-only or stored-as-is Instance fields, by their JSON name.
const PASSTHROUGH_FIELDS: &[&str] = &["asyncInstanceEndpointsDeletionEnabled"];
/// Output-only fields a client may send back (they are ignored, as by the service).
const OUTPUT_ONLY_FIELDS: &[&str] = &[
    "name",
    "createTime",
    "updateTime",
    "state",
    "stateInfo",
    "uid",
    "discoveryEndpoints",
    "nodeConfig",
    "pscAttachmentDetails",
    "maintenanceSchedule",
    "encryptionInfo",
    "backupCollection",
    "effectiveMaintenanceVersion",
    "availableMaintenanceVersions",
    "satisfiesPzs",
    "satisfiesPzi",
];
/// Input-only switches that start something rather than set a field.
const INPUT_ONLY_FIELDS: &[&str] = &[
    "simulateMaintenanceEvent",
    "ondemandMaintenance",
    "rotateServerCertificate",
    "allowFewerZonesDeployment",
];

/// Every Instance field present in a request body, parsed and type-checked.
#[derive(Debug, Default)]
pub struct InstanceInput {
    labels: Option<BTreeMap<String, String>>,
    replica_count: Option<i32>,
    shard_count: Option<i32>,
    node_type: Option<NodeType>,
    mode: Option<Mode>,
    engine_version: Option<String>,
    engine_configs: Option<BTreeMap<String, String>>,
    authorization_mode: Option<AuthorizationMode>,
    transit_encryption_mode: Option<TransitEncryptionMode>,
    server_ca_mode: Option<ServerCaMode>,
    server_ca_pool: Option<String>,
    deletion_protection_enabled: Option<bool>,
    persistence: Option<PersistenceConfig>,
    zone_distribution: Option<ZoneDistribution>,
    psc_auto_connections: Option<Vec<AutoNetwork>>,
    endpoints: Option<Vec<EndpointGroup>>,
    maintenance_version: Option<String>,
    day2: Day2Input,
    /// `crossInstanceReplicationConfig`.
    pub replication: Option<ReplicationInput>,
}

impl InstanceInput {
    pub fn parse(body: &[u8], region: &str) -> Result<Self, RpcError> {
        let mut o = Obj::from_body(body, "instance")?.in_package(Service::Memorystore.package());
        let input = InstanceInput {
            labels: o.string_map("labels")?,
            replica_count: o.int32("replicaCount")?,
            shard_count: o.int32("shardCount")?,
            node_type: o.enumeration("nodeType")?,
            mode: o.enumeration("mode")?,
            engine_version: o.string("engineVersion")?,
            engine_configs: o.string_map("engineConfigs")?,
            authorization_mode: o.enumeration("authorizationMode")?,
            transit_encryption_mode: o.enumeration("transitEncryptionMode")?,
            server_ca_mode: o.enumeration("serverCaMode")?,
            server_ca_pool: o.string("serverCaPool")?,
            deletion_protection_enabled: o.boolean("deletionProtectionEnabled")?,
            persistence: o
                .object("persistenceConfig")?
                .map(PersistenceConfig::parse)
                .transpose()?,
            zone_distribution: o
                .object("zoneDistributionConfig")?
                .map(|z| ZoneDistribution::parse(z, region))
                .transpose()?,
            psc_auto_connections: o
                .objects("pscAutoConnections")?
                .map(|items| items.into_iter().map(parse_auto).collect())
                .transpose()?,
            endpoints: o.objects("endpoints")?.map(parse_endpoints).transpose()?,
            maintenance_version: o.string("maintenanceVersion")?,
            day2: Day2Input::read(&mut o, Service::Memorystore, PASSTHROUGH_FIELDS)?,
            replication: ReplicationInput::read::<Instances>(&mut o)?,
        };
        for f in INPUT_ONLY_FIELDS {
            o.boolean(f)?;
        }
        o.ignore(OUTPUT_ONLY_FIELDS);
        o.finish()?;
        if let Some(l) = &input.labels {
            check_labels(l)?;
        }
        if let Some(c) = &input.engine_configs {
            check_engine_configs(c)?;
        }
        if let Some(v) = &input.engine_version {
            EngineVersion::parse(v)?;
        }
        Ok(input)
    }
}

/// `serverCaMode` and its CA pool (immutable).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerCa {
    pub mode: ServerCaMode,
    pub pool: Option<String>,
}

/// What a client can ask for: everything in an Instance that is not output-only.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSpec {
    pub labels: BTreeMap<String, String>,
    /// `CLUSTER` or `CLUSTER_DISABLED` (the deprecated `STANDALONE` is the latter).
    pub mode: Mode,
    pub shard_count: i32,
    pub replica_count: i32,
    pub node_type: NodeType,
    pub engine_version: EngineVersion,
    pub engine_configs: BTreeMap<String, String>,
    pub authorization_mode: AuthorizationMode,
    pub transit_encryption_mode: TransitEncryptionMode,
    pub server_ca: Option<ServerCa>,
    pub deletion_protection_enabled: bool,
    pub persistence: PersistenceConfig,
    pub zone_distribution: ZoneDistribution,
    pub endpoints: Vec<EndpointGroup>,
    /// The networks came in the deprecated `pscAutoConnections` (which the service then reports,
    /// with `discoveryEndpoints`).
    pub legacy_psc: bool,
    pub maintenance_version: &'static str,
    pub day2: Day2,
    /// Where a new instance takes its data from (create-only, never echoed).
    pub import: Option<ImportSource>,
}

fn check_counts(mode: Mode, shards: i32, replicas: i32) -> Result<(), RpcError> {
    if mode == Mode::CLUSTER_DISABLED && shards != 1 {
        return Err(RpcError::bad_field(
            "instance.shard_count",
            format!(
                "shard_count must be 1 when mode is CLUSTER_DISABLED (one shard), got {shards}"
            ),
        ));
    }
    resource::check_counts("instance", shards, MAX_SHARDS, replicas, MAX_REPLICAS)
}

fn parse_server_ca(
    mode: Option<ServerCaMode>,
    pool: Option<String>,
    tls: bool,
) -> Result<Option<ServerCa>, RpcError> {
    // The deprecated aliases are the same values.
    let mode = mode
        .and_then(|m| ServerCaMode::from_number(m.number()))
        .filter(|m| *m != ServerCaMode::SERVER_CA_MODE_UNSPECIFIED);
    let customer = mode == Some(ServerCaMode::CUSTOMER_MANAGED_CAS_CA);
    match (&pool, customer) {
        (None, true) => {
            return Err(RpcError::bad_field(
                "instance.server_ca_pool",
                "server_ca_pool is required when server_ca_mode is CUSTOMER_MANAGED_CAS_CA",
            ));
        }
        (Some(_), false) => {
            return Err(RpcError::bad_field(
                "instance.server_ca_pool",
                "server_ca_pool is only applicable with server_ca_mode CUSTOMER_MANAGED_CAS_CA",
            ));
        }
        (Some(p), true) => {
            let parts: Vec<&str> = p.split('/').collect();
            if !matches!(parts.as_slice(), ["projects", a, "locations", b, "caPools", c]
                if !a.is_empty() && !b.is_empty() && !c.is_empty())
            {
                return Err(RpcError::bad_field(
                    "instance.server_ca_pool",
                    format!(
                        "Invalid server_ca_pool {p:?}: expected projects/{{project}}/locations/{{region}}/caPools/{{ca_pool}}"
                    ),
                ));
            }
        }
        (None, false) => {}
    }
    Ok(match mode {
        Some(m) => Some(ServerCa { mode: m, pool }),
        // An instance with in-transit encryption gets its own Google-managed CA.
        None if tls => Some(ServerCa {
            mode: ServerCaMode::GOOGLE_MANAGED_PER_INSTANCE_CA,
            pool: None,
        }),
        None => None,
    })
}

impl InstanceSpec {
    /// The body of `instances.create`.
    #[cfg(test)]
    pub fn parse_create(body: &[u8], region: &str) -> Result<Self, RpcError> {
        Self::from_input(InstanceInput::parse(body, region)?, None)
    }

    /// A create's spec; `shards` stands in for a shard count the request leaves to the primary.
    pub fn from_input(i: InstanceInput, shards: Option<i32>) -> Result<Self, RpcError> {
        let mode = match i.mode {
            Some(Mode::CLUSTER_DISABLED | Mode::STANDALONE) => Mode::CLUSTER_DISABLED,
            _ => Mode::CLUSTER,
        };
        let shard_count = match (i.shard_count.or(shards), mode) {
            (Some(n), _) => n,
            (None, Mode::CLUSTER_DISABLED) => 1,
            (None, _) => {
                return Err(RpcError::bad_field(
                    "instance.shard_count",
                    "shard_count is required when mode is CLUSTER",
                ));
            }
        };
        let replica_count = i.replica_count.unwrap_or(0);
        check_counts(mode, shard_count, replica_count)?;
        let endpoints = match (i.psc_auto_connections.as_ref(), i.endpoints) {
            (Some(_), Some(_)) => {
                return Err(RpcError::bad_field(
                    "instance.endpoints",
                    "psc_auto_connections is deprecated and cannot be set together with endpoints",
                ));
            }
            (Some(nets), None) => nets.iter().cloned().map(EndpointGroup::Auto).collect(),
            (None, Some(groups)) => groups,
            (None, None) => Vec::new(),
        };
        if endpoints
            .iter()
            .any(|g| matches!(g, EndpointGroup::User(_)))
        {
            return Err(RpcError::bad_field(
                "instance.endpoints",
                "user-created PSC connections (psc_connection) are registered by updating endpoints once the instance exists",
            ));
        }
        let transit_encryption_mode = i
            .transit_encryption_mode
            .filter(|m| *m != TransitEncryptionMode::TRANSIT_ENCRYPTION_MODE_UNSPECIFIED)
            .unwrap_or(TransitEncryptionMode::TRANSIT_ENCRYPTION_DISABLED);
        let tls = transit_encryption_mode == TransitEncryptionMode::SERVER_AUTHENTICATION;
        let maintenance_version = match i.maintenance_version {
            None => MAINTENANCE_VERSIONS[0],
            Some(v) => maintenance_version(&v, MAINTENANCE_VERSIONS[0])?,
        };
        Ok(Self {
            labels: i.labels.unwrap_or_default(),
            mode,
            shard_count,
            replica_count,
            node_type: i
                .node_type
                .filter(|n| *n != NodeType::NODE_TYPE_UNSPECIFIED)
                .unwrap_or(NodeType::HIGHMEM_MEDIUM),
            engine_version: match i.engine_version {
                Some(v) => EngineVersion::parse(&v)?,
                None => EngineVersion::DEFAULT,
            },
            engine_configs: i.engine_configs.unwrap_or_default(),
            authorization_mode: i
                .authorization_mode
                .filter(|m| *m != AuthorizationMode::AUTHORIZATION_MODE_UNSPECIFIED)
                .unwrap_or(AuthorizationMode::AUTH_DISABLED),
            transit_encryption_mode,
            server_ca: parse_server_ca(i.server_ca_mode, i.server_ca_pool, tls)?,
            deletion_protection_enabled: i.deletion_protection_enabled.unwrap_or(false),
            persistence: i.persistence.unwrap_or_default(),
            zone_distribution: i.zone_distribution.unwrap_or_default(),
            legacy_psc: i.psc_auto_connections.is_some(),
            endpoints,
            maintenance_version,
            day2: i.day2.day2,
            import: i.day2.import,
        })
    }

    /// The body of `instances.patch`: only the masked field changes.
    pub fn apply_patch(
        &self,
        body: &[u8],
        region: &str,
        field: MaskField,
    ) -> Result<Self, RpcError> {
        let mut i = InstanceInput::parse(body, region)?;
        let mut next = self.clone();
        match field {
            MaskField::Labels => next.labels = i.labels.unwrap_or_default(),
            MaskField::ReplicaCount => next.replica_count = i.replica_count.unwrap_or(0),
            MaskField::ShardCount => {
                if self.mode == Mode::CLUSTER_DISABLED {
                    return Err(RpcError::bad_field(
                        "instance.shard_count",
                        "the shard count of an instance with cluster mode disabled cannot be changed: it runs on one shard",
                    ));
                }
                next.shard_count = i.shard_count.unwrap_or(0);
            }
            MaskField::NodeType => {
                next.node_type = i
                    .node_type
                    .filter(|n| *n != NodeType::NODE_TYPE_UNSPECIFIED)
                    .ok_or_else(|| {
                        RpcError::bad_field(
                            "instance.node_type",
                            "node_type is in update_mask but not set",
                        )
                    })?;
            }
            MaskField::EngineVersion => {
                let v = i.engine_version.ok_or_else(|| {
                    RpcError::bad_field(
                        "instance.engine_version",
                        "engine_version is in update_mask but not set",
                    )
                })?;
                let v = EngineVersion::parse(&v)?;
                if v < self.engine_version {
                    return Err(RpcError::bad_field(
                        "instance.engine_version",
                        format!(
                            "engine_version can only be upgraded: {} is older than the instance's {}",
                            v.as_str(),
                            self.engine_version.as_str()
                        ),
                    ));
                }
                next.engine_version = v;
            }
            MaskField::EngineConfigs => next.engine_configs = i.engine_configs.unwrap_or_default(),
            MaskField::DeletionProtectionEnabled => {
                next.deletion_protection_enabled = i.deletion_protection_enabled.unwrap_or(false);
            }
            MaskField::PersistenceConfig => next.persistence = i.persistence.unwrap_or_default(),
            MaskField::Day2(f) => next.day2.update(f, &mut i.day2),
            MaskField::MaintenanceVersion => {
                let v = i.maintenance_version.ok_or_else(|| {
                    RpcError::bad_field(
                        "instance.maintenance_version",
                        "maintenance_version is in update_mask but not set",
                    )
                })?;
                next.maintenance_version = maintenance_version(&v, self.maintenance_version)?;
            }
            MaskField::Endpoints => {
                next.endpoints = self.update_endpoints(i.endpoints.take().unwrap_or_default())?;
            }
            MaskField::InputOnly | MaskField::CrossInstanceReplicationConfig => {}
        }
        check_counts(next.mode, next.shard_count, next.replica_count)?;
        Ok(next)
    }

    /// The endpoints after an update: the auto-created ones stay as they are (they are
    /// immutable), user-created ones come and go.
    fn update_endpoints(&self, wanted: Vec<EndpointGroup>) -> Result<Vec<EndpointGroup>, RpcError> {
        let auto = |g: &Vec<EndpointGroup>| -> Vec<AutoNetwork> {
            g.iter()
                .filter_map(|e| match e {
                    EndpointGroup::Auto(n) => Some(n.clone()),
                    EndpointGroup::User(_) => None,
                })
                .collect()
        };
        if auto(&wanted) != auto(&self.endpoints) {
            return Err(RpcError::bad_field(
                "instance.endpoints",
                "auto-created connections (psc_auto_connection) are immutable: send the instance's own unchanged",
            ));
        }
        Ok(wanted)
    }

    /// The `crossInstanceReplicationConfig` of an `instances.patch` body.
    pub fn replication_patch(body: &[u8], region: &str) -> Result<ReplicationInput, RpcError> {
        Ok(InstanceInput::parse(body, region)?
            .replication
            .unwrap_or_default())
    }

    pub fn iam_auth(&self) -> bool {
        self.authorization_mode == AuthorizationMode::IAM_AUTH
    }

    pub fn tls(&self) -> bool {
        self.transit_encryption_mode == TransitEncryptionMode::SERVER_AUTHENTICATION
    }

    /// The connection types of the service attachments: a discovery endpoint with cluster mode,
    /// a primary and a reader endpoint without.
    fn connection_types(&self) -> [ConnectionType; 2] {
        if self.mode == Mode::CLUSTER_DISABLED {
            [
                ConnectionType::CONNECTION_TYPE_PRIMARY,
                ConnectionType::CONNECTION_TYPE_READER,
            ]
        } else {
            [
                ConnectionType::CONNECTION_TYPE_DISCOVERY,
                ConnectionType::CONNECTION_TYPE_PRIMARY,
            ]
        }
    }
}

/// A maintenance version the instance may run: a known one, not older than `current`.
fn maintenance_version(v: &str, current: &str) -> Result<&'static str, RpcError> {
    let known = MAINTENANCE_VERSIONS
        .iter()
        .find(|k| **k == v)
        .ok_or_else(|| {
            RpcError::bad_field(
                "instance.maintenance_version",
                format!(
                    "Invalid maintenance_version {v:?}: available versions are {}",
                    MAINTENANCE_VERSIONS.join(", ")
                ),
            )
        })?;
    if *known < current {
        return Err(RpcError::bad_field(
            "instance.maintenance_version",
            format!("maintenance_version cannot go back from {current} to {v}"),
        ));
    }
    Ok(known)
}

/// The one field an `instances.patch` changes, from its `updateMask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskField {
    Labels,
    ReplicaCount,
    ShardCount,
    NodeType,
    EngineVersion,
    EngineConfigs,
    DeletionProtectionEnabled,
    PersistenceConfig,
    MaintenanceVersion,
    Endpoints,
    /// `cross_instance_replication_config` (switchover and detaches).
    CrossInstanceReplicationConfig,
    Day2(Day2Field),
    /// `simulate_maintenance_event`, `ondemand_maintenance`, `rotate_server_certificate`.
    InputOnly,
}

impl MaskField {
    /// Parses an `updateMask` (snake_case or lowerCamel paths; a nested path names its top-level
    /// field). The service changes one field per request.
    pub fn parse_mask(mask: Option<&str>) -> Result<MaskField, RpcError> {
        let fields = parse_mask(mask, "Instance", |top| {
            MaskPath::Update(match top {
                "labels" => MaskField::Labels,
                "replicaCount" => MaskField::ReplicaCount,
                "shardCount" => MaskField::ShardCount,
                "nodeType" => MaskField::NodeType,
                "engineVersion" => MaskField::EngineVersion,
                "engineConfigs" => MaskField::EngineConfigs,
                "deletionProtectionEnabled" => MaskField::DeletionProtectionEnabled,
                "persistenceConfig" => MaskField::PersistenceConfig,
                "maintenancePolicy" => MaskField::Day2(Day2Field::MaintenancePolicy),
                "automatedBackupConfig" => MaskField::Day2(Day2Field::AutomatedBackupConfig),
                "maintenanceVersion" => MaskField::MaintenanceVersion,
                "endpoints" => MaskField::Endpoints,
                "crossInstanceReplicationConfig" => MaskField::CrossInstanceReplicationConfig,
                "asyncInstanceEndpointsDeletionEnabled" => MaskField::Day2(Day2Field::Passthrough(
                    "asyncInstanceEndpointsDeletionEnabled",
                )),
                "simulateMaintenanceEvent" | "ondemandMaintenance" | "rotateServerCertificate" => {
                    MaskField::InputOnly
                }
                "authorizationMode"
                | "transitEncryptionMode"
                | "zoneDistributionConfig"
                | "pscAutoConnections"
                | "serverCaMode"
                | "serverCaPool"
                | "mode"
                | "kmsKey"
                | "gcsSource"
                | "managedBackupSource"
                | "allowFewerZonesDeployment"
                | "name"
                | "uid"
                | "createTime"
                | "updateTime"
                | "state"
                | "stateInfo"
                | "discoveryEndpoints"
                | "nodeConfig"
                | "pscAttachmentDetails"
                | "maintenanceSchedule"
                | "encryptionInfo"
                | "backupCollection"
                | "effectiveMaintenanceVersion"
                | "availableMaintenanceVersions" => return MaskPath::Immutable,
                _ => return MaskPath::Unknown,
            })
        })?;
        match fields.as_slice() {
            [one] => Ok(*one),
            _ => Err(RpcError::bad_field(
                "update_mask",
                format!(
                    "exactly 1 update_mask field must be specified per update request, got {:?}",
                    mask.unwrap_or("")
                ),
            )),
        }
    }
}

/// Memorystore for Valkey, the product.
#[derive(Debug, Clone, Copy)]
pub struct Instances;

/// One simulated instance.
pub type Instance = Resource<Instances>;

impl Instance {
    fn render_instance(&self, ints: bool) -> Value {
        let s = &self.spec;
        let c = &self.common;
        let mut m = Map::new();
        c.render_into::<Instances>(&mut m, s.day2.kms_key.as_deref(), ints);
        m.insert("updateTime".into(), rfc3339_micros(c.update_time).into());
        if !s.labels.is_empty() {
            m.insert("labels".into(), json!(s.labels));
        }
        m.insert("mode".into(), s.mode.json(ints));
        m.insert("shardCount".into(), s.shard_count.into());
        m.insert("replicaCount".into(), s.replica_count.into());
        m.insert("nodeType".into(), s.node_type.json(ints));
        m.insert(
            "nodeConfig".into(),
            json!({"sizeGb": gb_from_tenths(s.node_type.capacity_tenths_gb())}),
        );
        m.insert("engineVersion".into(), s.engine_version.as_str().into());
        if !s.engine_configs.is_empty() {
            m.insert("engineConfigs".into(), json!(s.engine_configs));
        }
        m.insert("authorizationMode".into(), s.authorization_mode.json(ints));
        m.insert(
            "transitEncryptionMode".into(),
            s.transit_encryption_mode.json(ints),
        );
        if let Some(ca) = &s.server_ca {
            m.insert("serverCaMode".into(), ca.mode.json(ints));
            if let Some(p) = &ca.pool {
                m.insert("serverCaPool".into(), p.clone().into());
            }
        }
        m.insert(
            "deletionProtectionEnabled".into(),
            s.deletion_protection_enabled.into(),
        );
        m.insert("persistenceConfig".into(), s.persistence.render(ints));
        m.insert(
            "zoneDistributionConfig".into(),
            s.zone_distribution.render(ints),
        );
        // The service reports automated backups as disabled rather than leaving the field out.
        s.day2.render_into(
            &mut m,
            Some(json!({"automatedBackupMode": "DISABLED"})),
            ints,
        );
        m.insert(
            "effectiveMaintenanceVersion".into(),
            s.maintenance_version.into(),
        );
        let newer: Vec<&str> = MAINTENANCE_VERSIONS
            .iter()
            .copied()
            .filter(|v| *v > s.maintenance_version)
            .collect();
        if !newer.is_empty() {
            m.insert("availableMaintenanceVersions".into(), json!(newer));
        }
        self.render_endpoints(&mut m, ints);
        if let Some(info) = self.pending.as_ref().and_then(|p| {
            update_info(vec![
                (
                    "targetShardCount",
                    s.shard_count.into(),
                    p.shard_count.into(),
                ),
                (
                    "targetReplicaCount",
                    s.replica_count.into(),
                    p.replica_count.into(),
                ),
                (
                    "targetEngineVersion",
                    s.engine_version.as_str().into(),
                    p.engine_version.as_str().into(),
                ),
                (
                    "targetNodeType",
                    s.node_type.json(ints),
                    p.node_type.json(ints),
                ),
            ])
        }) {
            m.insert("stateInfo".into(), info);
        }
        Value::Object(m)
    }

    /// `endpoints` (and, for instances created with the deprecated `pscAutoConnections`, those
    /// and `discoveryEndpoints`), `pscAttachmentDetails`. While CREATING the connections are only
    /// what was asked for.
    fn render_endpoints(&self, m: &mut Map<String, Value>, ints: bool) {
        let c = &self.common;
        let s = &self.spec;
        let creating = c.state == State::CREATING;
        let attachments = service_attachments(c, &s.connection_types());
        let region = &c.parent.location;
        let auto_connection = |net: &AutoNetwork, (sa, t): &(String, ConnectionType), id: u64| {
            if creating {
                return json!({"projectId": net.project_id, "network": net.network});
            }
            json!({
                "pscConnectionId": id.to_string(),
                "ipAddress": c.endpoint.host,
                "forwardingRule": auto_forwarding_rule(&net.project_id, region, id),
                "projectId": net.project_id,
                "network": net.network,
                "serviceAttachment": sa,
                "pscConnectionStatus": PscConnectionStatus::ACTIVE.json(ints),
                "connectionType": t.json(ints),
                "port": c.endpoint.port,
            })
        };
        let groups: Vec<Value> = s
            .endpoints
            .iter()
            .enumerate()
            .map(|(g, e)| {
                let connections: Vec<Value> = match e {
                    EndpointGroup::Auto(net) => attachments
                        .iter()
                        .zip(c.psc_ids)
                        .map(|(a, id)| {
                            json!({"pscAutoConnection": auto_connection(net, a, id + (g as u64) * 2)})
                        })
                        .collect(),
                    EndpointGroup::User(conns) => conns
                        .iter()
                        .enumerate()
                        .map(|(k, u)| {
                            let t = attachments
                                .iter()
                                .find(|(sa, _)| *sa == u.service_attachment)
                                .map_or(ConnectionType::CONNECTION_TYPE_UNSPECIFIED, |(_, t)| *t);
                            let id = if u.psc_connection_id.is_empty() {
                                (c.psc_ids[1] + 100 + (g * 10 + k) as u64).to_string()
                            } else {
                                u.psc_connection_id.clone()
                            };
                            json!({"pscConnection": {
                                "pscConnectionId": id,
                                "ipAddress": u.ip_address,
                                "forwardingRule": u.forwarding_rule,
                                "projectId": network_project(&u.network, "").unwrap_or_default(),
                                "network": u.network,
                                "serviceAttachment": u.service_attachment,
                                "pscConnectionStatus": PscConnectionStatus::ACTIVE.json(ints),
                                "connectionType": t.json(ints),
                                "port": c.endpoint.port,
                            }})
                        })
                        .collect(),
                };
                json!({"connections": connections})
            })
            .collect();
        if !groups.is_empty() {
            m.insert("endpoints".into(), Value::Array(groups));
        }
        if s.legacy_psc {
            let legacy: Vec<Value> = s
                .endpoints
                .iter()
                .enumerate()
                .filter_map(|(g, e)| match e {
                    EndpointGroup::Auto(net) => Some((g, net)),
                    EndpointGroup::User(_) => None,
                })
                .flat_map(|(g, net)| {
                    attachments
                        .iter()
                        .zip(c.psc_ids)
                        .map(|(a, id)| auto_connection(net, a, id + (g as u64) * 2))
                        .collect::<Vec<_>>()
                })
                .collect();
            m.insert("pscAutoConnections".into(), Value::Array(legacy));
            if !creating && s.mode == Mode::CLUSTER {
                let discovery: Vec<Value> = s
                    .endpoints
                    .iter()
                    .filter_map(|e| match e {
                        EndpointGroup::Auto(net) => Some(json!({
                            "address": c.endpoint.host,
                            "port": c.endpoint.port,
                            "network": net.network,
                        })),
                        EndpointGroup::User(_) => None,
                    })
                    .collect();
                m.insert("discoveryEndpoints".into(), Value::Array(discovery));
            }
        }
        if !creating {
            m.insert(
                "pscAttachmentDetails".into(),
                attachments
                    .iter()
                    .map(|(sa, t)| json!({"serviceAttachment": sa, "connectionType": t.json(ints)}))
                    .collect(),
            );
        }
    }
}

impl Managed for Instances {
    type Spec = InstanceSpec;
    const SERVICE: Service = Service::Memorystore;
    const KIND: &'static str = "Instance";
    const NOUN: &'static str = "instance";
    const COLLECTION: &'static str = "instances";
    const CONNECT_ROLE: &'static str = "roles/memorystore.dbConnectionUser";
    type ReplicationRole = InstanceRole;
    const REPLICATION: replication::Names = replication::Names {
        field: "crossInstanceReplicationConfig",
        role: "instanceRole",
        primary: "primaryInstance",
        secondaries: "secondaryInstances",
        member: "instance",
    };

    fn table(gcp: &GcpState) -> &BTreeMap<String, Instance> {
        &gcp.instances
    }

    fn table_mut(gcp: &mut GcpState) -> &mut BTreeMap<String, Instance> {
        &mut gcp.instances
    }

    fn new_uid() -> String {
        uuid::Uuid::new_v4().hyphenated().to_string()
    }

    fn render(r: &Instance, ints: bool) -> Value {
        r.render_instance(ints)
    }

    fn backend(spec: &InstanceSpec) -> BackendSpec {
        backend(
            Server::Valkey,
            spec.iam_auth(),
            spec.tls(),
            spec.mode == Mode::CLUSTER,
        )
    }

    fn settings(spec: &InstanceSpec) -> Settings<'_> {
        Settings::new(
            spec.deletion_protection_enabled,
            spec.tls(),
            spec.iam_auth(),
            spec.authorization_mode.name(),
            &spec.day2,
        )
    }

    fn backup_facts(spec: &InstanceSpec) -> BackupFacts {
        BackupFacts {
            node_type: EnumValue::of(spec.node_type),
            shard_count: spec.shard_count,
            replica_count: spec.replica_count,
            engine_version: spec.engine_version.as_str().into(),
        }
    }

    /// What a secondary copies from its primary (the Redis Cluster list, with Valkey's own
    /// engine settings and mode), and what changes on the primary propagate to.
    fn shared_settings(spec: &InstanceSpec) -> Vec<(&'static str, Value)> {
        vec![
            ("mode", spec.mode.json(false)),
            ("shardCount", spec.shard_count.into()),
            ("nodeType", spec.node_type.json(false)),
            ("engineVersion", spec.engine_version.as_str().into()),
            ("engineConfigs", json!(spec.engine_configs)),
            ("authorizationMode", spec.authorization_mode.json(false)),
            (
                "transitEncryptionMode",
                spec.transit_encryption_mode.json(false),
            ),
            ("persistenceConfig", spec.persistence.render(false)),
        ]
    }

    fn inherit(primary: &InstanceSpec, own: &InstanceSpec) -> InstanceSpec {
        InstanceSpec {
            mode: primary.mode,
            shard_count: primary.shard_count,
            node_type: primary.node_type,
            engine_version: primary.engine_version,
            engine_configs: primary.engine_configs.clone(),
            authorization_mode: primary.authorization_mode,
            transit_encryption_mode: primary.transit_encryption_mode,
            persistence: primary.persistence.clone(),
            ..own.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: &str =
        r#""pscAutoConnections": [{"projectId": "p", "network": "projects/p/global/networks/n"}]"#;

    fn create(body: &str) -> Result<InstanceSpec, RpcError> {
        InstanceSpec::parse_create(body.as_bytes(), "us-central1")
    }

    #[test]
    fn instance_ids_follow_the_proto_rule() {
        for ok in ["abcd", "1abc", "orders-cache", &"a".repeat(63)] {
            assert!(validate_instance_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "abc",
            "Orders",
            "orders-",
            "-abc",
            "or_ders",
            &"a".repeat(64),
        ] {
            assert!(validate_instance_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_defaults() {
        let s = create(&format!(r#"{{"shardCount": 3, {NET}}}"#)).unwrap();
        assert_eq!(s.mode, Mode::CLUSTER);
        assert_eq!(s.node_type, NodeType::HIGHMEM_MEDIUM);
        assert_eq!(s.engine_version, EngineVersion::Valkey9_0);
        assert_eq!(s.replica_count, 0);
        assert_eq!(s.authorization_mode, AuthorizationMode::AUTH_DISABLED);
        assert_eq!(s.server_ca, None);
        assert!(s.legacy_psc);
        let s = create(r#"{"mode": "CLUSTER_DISABLED"}"#).unwrap();
        assert_eq!(s.shard_count, 1, "cluster mode disabled is one shard");
        let s = create(r#"{"mode": "STANDALONE"}"#).unwrap();
        assert_eq!(s.mode, Mode::CLUSTER_DISABLED);
        let s = create(r#"{"shardCount": 1, "transitEncryptionMode": "SERVER_AUTHENTICATION"}"#)
            .unwrap();
        assert_eq!(
            s.server_ca.map(|c| c.mode),
            Some(ServerCaMode::GOOGLE_MANAGED_PER_INSTANCE_CA)
        );
    }

    #[test]
    fn create_refuses_what_the_service_refuses() {
        let msg = |b: &str| create(b).unwrap_err().message;
        assert!(msg("{}").contains("shard_count is required"));
        assert!(msg(r#"{"mode": "CLUSTER_DISABLED", "shardCount": 2}"#).contains("must be 1"));
        assert!(msg(r#"{"shardCount": 1, "replicaCount": 6}"#).contains("between 0 and 5"));
        assert!(msg(r#"{"shardCount": 1, "engineVersion": "VALKEY_6_0"}"#).contains("VALKEY_9_0"));
        assert_eq!(
            msg(r#"{"shardCount": 1, "nodeType": "REDIS_HIGHMEM_MEDIUM"}"#),
            "Invalid value at 'instance.node_type' (type.googleapis.com/google.cloud.memorystore.v1.Instance.NodeType), \"REDIS_HIGHMEM_MEDIUM\""
        );
        assert!(msg(r#"{"shardCount": 1, "labels": {"Bad": "x"}}"#).contains("label key"));
        assert!(
            msg(r#"{"shardCount": 1, "engineConfigs": {"appendonly": "yes"}}"#)
                .contains("not supported")
        );
        assert!(
            msg(r#"{"shardCount": 1, "serverCaMode": "CUSTOMER_MANAGED_CAS_CA"}"#)
                .contains("server_ca_pool is required")
        );
        assert!(
            msg(r#"{"shardCount": 1, "redisConfigs": {}}"#)
                .contains("Unknown name \"redisConfigs\"")
        );
        let both = format!(
            r#"{{"shardCount": 1, {NET}, "endpoints": [{{"connections": [{{"pscAutoConnection": {{"projectId": "p", "network": "projects/p/global/networks/n"}}}}]}}]}}"#
        );
        assert!(msg(&both).contains("cannot be set together"));
    }

    #[test]
    fn masks_name_one_updatable_field() {
        assert_eq!(
            MaskField::parse_mask(Some("shard_count")).unwrap(),
            MaskField::ShardCount
        );
        assert_eq!(
            MaskField::parse_mask(Some("persistenceConfig.mode,persistenceConfig.aofConfig"))
                .unwrap(),
            MaskField::PersistenceConfig
        );
        for immutable in [
            "mode",
            "authorization_mode",
            "zoneDistributionConfig",
            "kmsKey",
        ] {
            let e = MaskField::parse_mask(Some(immutable)).unwrap_err();
            assert!(e.message.contains("cannot be updated"), "{immutable}");
        }
        assert!(
            MaskField::parse_mask(Some("shardCount,replicaCount"))
                .unwrap_err()
                .message
                .contains("exactly 1")
        );
        assert!(MaskField::parse_mask(None).is_err());
    }

    #[test]
    fn engine_versions_only_go_up_and_disabled_mode_keeps_one_shard() {
        let s = create(r#"{"shardCount": 2, "engineVersion": "VALKEY_8_0"}"#).unwrap();
        let up = s
            .apply_patch(
                br#"{"engineVersion": "VALKEY_9_0"}"#,
                "r",
                MaskField::EngineVersion,
            )
            .unwrap();
        assert_eq!(up.engine_version, EngineVersion::Valkey9_0);
        let e = up
            .apply_patch(
                br#"{"engineVersion": "VALKEY_7_2"}"#,
                "r",
                MaskField::EngineVersion,
            )
            .unwrap_err();
        assert!(e.message.contains("only be upgraded"), "{e}");
        let single = create(r#"{"mode": "CLUSTER_DISABLED"}"#).unwrap();
        assert!(
            single
                .apply_patch(br#"{"shardCount": 3}"#, "r", MaskField::ShardCount)
                .is_err()
        );
    }
}
