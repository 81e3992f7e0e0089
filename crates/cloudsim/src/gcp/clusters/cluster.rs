//! The Memorystore for Redis Cluster `Cluster` resource: names, enums, what a request may set, and the JSON
//! the real API returns.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::dataplane::{BackendSpec, Server};
use crate::gcp::error::RpcError;
use crate::gcp::lifecycle::{Day2, Day2Field, Day2Input, ImportSource};
use crate::gcp::mask::{MaskPath, parse_mask};
use crate::gcp::protojson::{EnumValue, Obj, ProtoEnum, proto_enum};
use crate::gcp::replication::{self, ClusterRole, ReplicationInput};
use crate::gcp::resource::{
    self, BackupFacts, ConnectionType, Managed, Resource, Service, Settings, State,
    auto_forwarding_rule, backend, gb_from_tenths, network_project, service_attachments,
    update_info,
};
use crate::gcp::settings::{Persistence, ZoneDistribution};
use crate::gcp::state::GcpState;
use crate::util::random_digits;

proto_enum!(NodeType, "google.cloud.redis.cluster.v1.NodeType", {
    NODE_TYPE_UNSPECIFIED = 0,
    REDIS_SHARED_CORE_NANO = 1,
    REDIS_HIGHMEM_MEDIUM = 2,
    REDIS_HIGHMEM_XLARGE = 3,
    REDIS_STANDARD_SMALL = 4,
    REDIS_HIGHCPU_MEDIUM = 7,
    REDIS_STANDARD_LARGE = 8,
    REDIS_HIGHMEM_2XLARGE = 9,
});

impl NodeType {
    /// Node capacity in tenths of a GB (node specification page: 1.4, 6.5, 13, 13, 26, 58, 110 GB).
    fn capacity_tenths_gb(self) -> i64 {
        match self {
            NodeType::REDIS_SHARED_CORE_NANO => 14,
            NodeType::REDIS_STANDARD_SMALL => 65,
            NodeType::REDIS_HIGHMEM_MEDIUM
            | NodeType::REDIS_HIGHCPU_MEDIUM
            | NodeType::NODE_TYPE_UNSPECIFIED => 130,
            NodeType::REDIS_STANDARD_LARGE => 260,
            NodeType::REDIS_HIGHMEM_XLARGE => 580,
            NodeType::REDIS_HIGHMEM_2XLARGE => 1100,
        }
    }
}

proto_enum!(AuthorizationMode, "google.cloud.redis.cluster.v1.AuthorizationMode", {
    AUTH_MODE_UNSPECIFIED = 0,
    AUTH_MODE_IAM_AUTH = 1,
    AUTH_MODE_DISABLED = 2,
});

proto_enum!(TransitEncryptionMode, "google.cloud.redis.cluster.v1.TransitEncryptionMode", {
    TRANSIT_ENCRYPTION_MODE_UNSPECIFIED = 0,
    TRANSIT_ENCRYPTION_MODE_DISABLED = 1,
    TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION = 2,
});

proto_enum!(PersistenceMode, "google.cloud.redis.cluster.v1.ClusterPersistenceConfig.PersistenceMode", {
    PERSISTENCE_MODE_UNSPECIFIED = 0,
    DISABLED = 1,
    RDB = 2,
    AOF = 3,
});

proto_enum!(SnapshotPeriod, "google.cloud.redis.cluster.v1.ClusterPersistenceConfig.RDBConfig.SnapshotPeriod", {
    SNAPSHOT_PERIOD_UNSPECIFIED = 0,
    ONE_HOUR = 1,
    SIX_HOURS = 2,
    TWELVE_HOURS = 3,
    TWENTY_FOUR_HOURS = 4,
});

proto_enum!(AppendFsync, "google.cloud.redis.cluster.v1.ClusterPersistenceConfig.AOFConfig.AppendFsync", {
    APPEND_FSYNC_UNSPECIFIED = 0,
    NO = 1,
    EVERYSEC = 2,
    ALWAYS = 3,
});

proto_enum!(PscConnectionStatus, "google.cloud.redis.cluster.v1.PscConnectionStatus", {
    PSC_CONNECTION_STATUS_UNSPECIFIED = 0,
    PSC_CONNECTION_STATUS_ACTIVE = 1,
    PSC_CONNECTION_STATUS_NOT_FOUND = 2,
});

/// Replicas per shard the service allows.
const MAX_REPLICAS: i32 = 2;
/// Largest shard count the simulator accepts (the real per-node-type limits are not documented in the API).
const MAX_SHARDS: i32 = 250;
/// `redisConfigs` keys gcloud offers (SDK 528).
const REDIS_CONFIG_KEYS: &[&str] = &[
    "maxmemory-clients",
    "maxmemory",
    "maxmemory-policy",
    "notify-keyspace-events",
    "slowlog-log-slower-than",
    "maxclients",
];

/// 1–63 characters: lowercase letters, digits, hyphens; starts with a letter; ends with a letter or digit.
pub fn validate_cluster_id(id: &str) -> Result<(), RpcError> {
    let bytes = id.as_bytes();
    let ok = (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes
            .last()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(RpcError::bad_field(
            "cluster_id",
            format!(
                "Invalid cluster_id {id:?}: it must be 1 to 63 characters long, contain only lowercase letters, \
                 digits and hyphens, start with a lowercase letter and end with a lowercase letter or digit"
            ),
        ))
    }
}

/// `persistenceConfig` with this API's enums.
pub type PersistenceConfig = Persistence<PersistenceMode, SnapshotPeriod, AppendFsync>;

/// What a client can ask for: everything in a Cluster that is not output-only.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    pub shard_count: i32,
    pub replica_count: i32,
    pub node_type: NodeType,
    pub authorization_mode: AuthorizationMode,
    pub transit_encryption_mode: TransitEncryptionMode,
    pub deletion_protection_enabled: bool,
    pub persistence: PersistenceConfig,
    pub redis_configs: BTreeMap<String, String>,
    pub zone_distribution: ZoneDistribution,
    pub psc_network: Option<String>,
    pub day2: Day2,
    /// Where a new cluster takes its data from (create-only, never echoed).
    pub import: Option<ImportSource>,
}

/// Input-only or stored-as-is Cluster fields, by their JSON name.
const PASSTHROUGH_FIELDS: &[&str] = &["clusterEndpoints"];
/// Output-only fields a client may send back (they are ignored, as by the real service).
const OUTPUT_ONLY_FIELDS: &[&str] = &[
    "createTime",
    "state",
    "uid",
    "sizeGb",
    "preciseSizeGb",
    "discoveryEndpoints",
    "pscConnections",
    "pscServiceAttachments",
    "stateInfo",
    "maintenanceSchedule",
    "encryptionInfo",
    "backupCollection",
    "name",
    "ondemandMaintenance",
    "asyncClusterEndpointsDeletionEnabled",
];

/// Every Cluster field present in a request body, parsed and type-checked.
#[derive(Debug, Default)]
pub struct ClusterInput {
    shard_count: Option<i32>,
    replica_count: Option<i32>,
    node_type: Option<NodeType>,
    authorization_mode: Option<AuthorizationMode>,
    transit_encryption_mode: Option<TransitEncryptionMode>,
    deletion_protection_enabled: Option<bool>,
    persistence: Option<PersistenceConfig>,
    redis_configs: Option<BTreeMap<String, String>>,
    zone_distribution: Option<ZoneDistribution>,
    psc_networks: Option<Vec<String>>,
    day2: Day2Input,
    /// `crossClusterReplicationConfig`.
    pub replication: Option<ReplicationInput>,
}

impl ClusterInput {
    pub fn parse(body: &[u8], region: &str) -> Result<Self, RpcError> {
        let mut o = Obj::from_body(body, "cluster")?.in_package(Service::RedisCluster.package());
        let input = ClusterInput {
            shard_count: o.int32("shardCount")?,
            replica_count: o.int32("replicaCount")?,
            node_type: o.enumeration("nodeType")?,
            authorization_mode: o.enumeration("authorizationMode")?,
            transit_encryption_mode: o.enumeration("transitEncryptionMode")?,
            deletion_protection_enabled: o.boolean("deletionProtectionEnabled")?,
            persistence: o
                .object("persistenceConfig")?
                .map(PersistenceConfig::parse)
                .transpose()?,
            redis_configs: o.string_map("redisConfigs")?,
            zone_distribution: o
                .object("zoneDistributionConfig")?
                .map(|z| ZoneDistribution::parse(z, region))
                .transpose()?,
            psc_networks: o
                .objects("pscConfigs")?
                .map(|items| {
                    items
                        .into_iter()
                        .map(|mut p| {
                            let n = p.string("network")?.unwrap_or_default();
                            p.finish()?;
                            network_project(&n, "cluster.psc_configs.network")?;
                            Ok::<_, RpcError>(n)
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?,
            day2: Day2Input::read(&mut o, Service::RedisCluster, PASSTHROUGH_FIELDS)?,
            replication: ReplicationInput::read::<Clusters>(&mut o)?,
        };
        o.ignore(OUTPUT_ONLY_FIELDS);
        o.finish()?;
        if let Some(n) = &input.psc_networks
            && n.len() > 1
        {
            return Err(RpcError::bad_field(
                "cluster.psc_configs",
                "Only one PscConfig is supported",
            ));
        }
        if let Some(configs) = &input.redis_configs
            && let Some(k) = configs
                .keys()
                .find(|k| !REDIS_CONFIG_KEYS.contains(&k.as_str()))
        {
            return Err(RpcError::bad_field(
                "cluster.redis_configs",
                format!(
                    "Redis config {k:?} is not supported; supported: {}",
                    REDIS_CONFIG_KEYS.join(", ")
                ),
            ));
        }
        Ok(input)
    }
}

fn check_counts(shards: i32, replicas: i32) -> Result<(), RpcError> {
    resource::check_counts("cluster", shards, MAX_SHARDS, replicas, MAX_REPLICAS)
}

impl ClusterSpec {
    /// The body of `clusters.create`.
    #[cfg(test)]
    pub fn parse_create(body: &[u8], region: &str) -> Result<Self, RpcError> {
        Self::from_input(ClusterInput::parse(body, region)?, None)
    }

    /// A create's spec; `shards` stands in for a shard count the request leaves to the primary.
    pub fn from_input(i: ClusterInput, shards: Option<i32>) -> Result<Self, RpcError> {
        let shard_count = i
            .shard_count
            .or(shards)
            .ok_or_else(|| RpcError::bad_field("cluster.shard_count", "shard_count is required"))?;
        let replica_count = i.replica_count.unwrap_or(0);
        check_counts(shard_count, replica_count)?;
        Ok(Self {
            shard_count,
            replica_count,
            node_type: i
                .node_type
                .filter(|n| *n != NodeType::NODE_TYPE_UNSPECIFIED)
                .unwrap_or(NodeType::REDIS_HIGHMEM_MEDIUM),
            authorization_mode: i
                .authorization_mode
                .filter(|m| *m != AuthorizationMode::AUTH_MODE_UNSPECIFIED)
                .unwrap_or(AuthorizationMode::AUTH_MODE_DISABLED),
            transit_encryption_mode: i
                .transit_encryption_mode
                .filter(|m| *m != TransitEncryptionMode::TRANSIT_ENCRYPTION_MODE_UNSPECIFIED)
                .unwrap_or(TransitEncryptionMode::TRANSIT_ENCRYPTION_MODE_DISABLED),
            deletion_protection_enabled: i.deletion_protection_enabled.unwrap_or(false),
            persistence: i.persistence.unwrap_or_default(),
            redis_configs: i.redis_configs.unwrap_or_default(),
            zone_distribution: i.zone_distribution.unwrap_or_default(),
            psc_network: i.psc_networks.and_then(|n| n.into_iter().next()),
            day2: i.day2.day2,
            import: i.day2.import,
        })
    }

    /// The body of `clusters.patch`: only the masked fields change.
    pub fn apply_patch(
        &self,
        body: &[u8],
        region: &str,
        mask: &[MaskField],
    ) -> Result<Self, RpcError> {
        let mut i = ClusterInput::parse(body, region)?;
        let mut next = self.clone();
        for field in mask {
            match field {
                MaskField::ShardCount => next.shard_count = i.shard_count.unwrap_or(0),
                MaskField::ReplicaCount => next.replica_count = i.replica_count.unwrap_or(0),
                MaskField::NodeType => {
                    next.node_type = i
                        .node_type
                        .filter(|n| *n != NodeType::NODE_TYPE_UNSPECIFIED)
                        .ok_or_else(|| {
                            RpcError::bad_field(
                                "cluster.node_type",
                                "node_type is in update_mask but not set",
                            )
                        })?;
                }
                MaskField::DeletionProtectionEnabled => {
                    next.deletion_protection_enabled =
                        i.deletion_protection_enabled.unwrap_or(false);
                }
                MaskField::PersistenceConfig => {
                    next.persistence = i.persistence.take().unwrap_or_default()
                }
                MaskField::RedisConfigs => {
                    next.redis_configs = i.redis_configs.take().unwrap_or_default()
                }
                MaskField::Day2(f) => next.day2.update(*f, &mut i.day2),
                MaskField::OndemandMaintenance | MaskField::CrossClusterReplicationConfig => {}
            }
        }
        check_counts(next.shard_count, next.replica_count)?;
        Ok(next)
    }

    pub fn size_tenths_gb(&self) -> i64 {
        i64::from(self.shard_count) * self.node_type.capacity_tenths_gb()
    }

    /// The `crossClusterReplicationConfig` of a `clusters.patch` body.
    pub fn replication_patch(body: &[u8], region: &str) -> Result<ReplicationInput, RpcError> {
        Ok(ClusterInput::parse(body, region)?
            .replication
            .unwrap_or_default())
    }

    pub fn iam_auth(&self) -> bool {
        self.authorization_mode == AuthorizationMode::AUTH_MODE_IAM_AUTH
    }

    pub fn tls(&self) -> bool {
        self.transit_encryption_mode
            == TransitEncryptionMode::TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION
    }
}

/// A field `clusters.patch` may change, parsed from one `updateMask` path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskField {
    ShardCount,
    ReplicaCount,
    NodeType,
    DeletionProtectionEnabled,
    PersistenceConfig,
    RedisConfigs,
    OndemandMaintenance,
    /// `cross_cluster_replication_config`, which an update changes alone.
    CrossClusterReplicationConfig,
    Day2(Day2Field),
}

impl MaskField {
    /// Parses a comma-separated `updateMask` (snake_case or lowerCamel paths).
    pub fn parse_mask(mask: Option<&str>) -> Result<Vec<MaskField>, RpcError> {
        parse_mask(mask, "Cluster", |top| {
            MaskPath::Update(match top {
                "shardCount" => MaskField::ShardCount,
                "replicaCount" => MaskField::ReplicaCount,
                "nodeType" => MaskField::NodeType,
                "deletionProtectionEnabled" => MaskField::DeletionProtectionEnabled,
                "persistenceConfig" => MaskField::PersistenceConfig,
                "redisConfigs" => MaskField::RedisConfigs,
                "ondemandMaintenance" => MaskField::OndemandMaintenance,
                // gcloud sends `maintenance_window` for the maintenance policy.
                "maintenanceWindow" | "maintenancePolicy" => {
                    MaskField::Day2(Day2Field::MaintenancePolicy)
                }
                "automatedBackupConfig" => MaskField::Day2(Day2Field::AutomatedBackupConfig),
                "clusterEndpoints" => MaskField::Day2(Day2Field::Passthrough("clusterEndpoints")),
                "crossClusterReplicationConfig" => MaskField::CrossClusterReplicationConfig,
                "authorizationMode"
                | "transitEncryptionMode"
                | "pscConfigs"
                | "zoneDistributionConfig"
                | "kmsKey"
                | "name"
                | "uid"
                | "createTime"
                | "state"
                | "sizeGb"
                | "preciseSizeGb"
                | "discoveryEndpoints"
                | "pscConnections"
                | "gcsSource"
                | "managedBackupSource" => return MaskPath::Immutable,
                _ => return MaskPath::Unknown,
            })
        })
    }
}

/// Memorystore for Redis Cluster, the product.
#[derive(Debug, Clone, Copy)]
pub struct Clusters;

/// One simulated cluster.
pub type Cluster = Resource<Clusters>;

impl Cluster {
    /// The Cluster JSON as the real API returns it.
    fn render_cluster(&self, ints: bool) -> Value {
        let s = &self.spec;
        let c = &self.common;
        let mut m = Map::new();
        c.render_into::<Clusters>(&mut m, s.day2.kms_key.as_deref(), ints);
        m.insert("nodeType".into(), s.node_type.json(ints));
        m.insert("shardCount".into(), s.shard_count.into());
        m.insert("replicaCount".into(), s.replica_count.into());
        let tenths = s.size_tenths_gb();
        m.insert("sizeGb".into(), ((tenths + 9) / 10).into());
        m.insert("preciseSizeGb".into(), gb_from_tenths(tenths));
        m.insert("authorizationMode".into(), s.authorization_mode.json(ints));
        m.insert(
            "transitEncryptionMode".into(),
            s.transit_encryption_mode.json(ints),
        );
        m.insert(
            "deletionProtectionEnabled".into(),
            s.deletion_protection_enabled.into(),
        );
        m.insert("persistenceConfig".into(), s.persistence.render(ints));
        m.insert(
            "zoneDistributionConfig".into(),
            s.zone_distribution.render(ints),
        );
        if !s.redis_configs.is_empty() {
            m.insert("redisConfigs".into(), json!(s.redis_configs));
        }
        s.day2.render_into(&mut m, None, ints);
        if c.state != State::CREATING {
            self.render_endpoints(&mut m, ints);
        }
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

    fn render_endpoints(&self, m: &mut Map<String, Value>, ints: bool) {
        let c = &self.common;
        let ep = &c.endpoint;
        let mut discovery = json!({"address": ep.host, "port": ep.port});
        if let Some(net) = &self.spec.psc_network {
            discovery["pscConfig"] = json!({"network": net});
        }
        m.insert("discoveryEndpoints".into(), json!([discovery]));
        let attachments = service_attachments(
            c,
            &[
                ConnectionType::CONNECTION_TYPE_DISCOVERY,
                ConnectionType::CONNECTION_TYPE_PRIMARY,
            ],
        );
        m.insert(
            "pscServiceAttachments".into(),
            attachments
                .iter()
                .map(|(sa, t)| json!({"serviceAttachment": sa, "connectionType": t.json(ints)}))
                .collect(),
        );
        if let Some(net) = &self.spec.psc_network {
            let project = network_project(net, "").unwrap_or_default();
            let conns: Vec<Value> = attachments
                .iter()
                .zip(c.psc_ids)
                .map(|((sa, t), id)| {
                    json!({
                        "address": ep.host,
                        "port": ep.port,
                        "forwardingRule": auto_forwarding_rule(project, &c.parent.location, id),
                        "network": net,
                        "projectId": project,
                        "pscConnectionId": id.to_string(),
                        "connectionType": t.json(ints),
                        "pscConnectionStatus": PscConnectionStatus::PSC_CONNECTION_STATUS_ACTIVE.json(ints),
                        "serviceAttachment": sa,
                    })
                })
                .collect();
            m.insert("pscConnections".into(), Value::Array(conns));
        }
    }
}

impl Managed for Clusters {
    type Spec = ClusterSpec;
    const SERVICE: Service = Service::RedisCluster;
    const KIND: &'static str = "Cluster";
    const NOUN: &'static str = "cluster";
    const COLLECTION: &'static str = "clusters";
    const CONNECT_ROLE: &'static str = "roles/redis.dbConnectionUser";
    type ReplicationRole = ClusterRole;
    const REPLICATION: replication::Names = replication::Names {
        field: "crossClusterReplicationConfig",
        role: "clusterRole",
        primary: "primaryCluster",
        secondaries: "secondaryClusters",
        member: "cluster",
    };

    fn table(gcp: &GcpState) -> &BTreeMap<String, Cluster> {
        &gcp.clusters
    }

    fn table_mut(gcp: &mut GcpState) -> &mut BTreeMap<String, Cluster> {
        &mut gcp.clusters
    }

    fn new_uid() -> String {
        random_digits(21)
    }

    fn render(r: &Cluster, ints: bool) -> Value {
        r.render_cluster(ints)
    }

    fn backend(spec: &ClusterSpec) -> BackendSpec {
        backend(Server::Redis, spec.iam_auth(), spec.tls(), true)
    }

    fn settings(spec: &ClusterSpec) -> Settings<'_> {
        Settings::new(
            spec.deletion_protection_enabled,
            spec.tls(),
            spec.iam_auth(),
            spec.authorization_mode.name(),
            &spec.day2,
        )
    }

    fn backup_facts(spec: &ClusterSpec) -> BackupFacts {
        BackupFacts {
            node_type: EnumValue::of(spec.node_type),
            shard_count: spec.shard_count,
            replica_count: spec.replica_count,
            engine_version: "redis-7.2".into(),
        }
    }

    /// What a secondary copies from its primary ("Settings copied from the primary during
    /// instance creation" in Google's cross-region replication page, as Terraform's example lists
    /// them), and what changes on the primary propagate to.
    fn shared_settings(spec: &ClusterSpec) -> Vec<(&'static str, Value)> {
        vec![
            ("shardCount", spec.shard_count.into()),
            ("nodeType", spec.node_type.json(false)),
            ("authorizationMode", spec.authorization_mode.json(false)),
            (
                "transitEncryptionMode",
                spec.transit_encryption_mode.json(false),
            ),
            ("redisConfigs", json!(spec.redis_configs)),
            ("persistenceConfig", spec.persistence.render(false)),
        ]
    }

    fn inherit(primary: &ClusterSpec, own: &ClusterSpec) -> ClusterSpec {
        ClusterSpec {
            shard_count: primary.shard_count,
            node_type: primary.node_type,
            authorization_mode: primary.authorization_mode,
            transit_encryption_mode: primary.transit_encryption_mode,
            redis_configs: primary.redis_configs.clone(),
            persistence: primary.persistence.clone(),
            ..own.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gcp::resource::{Common, Endpoint, LocationName};
    use crate::gcp::settings::ZoneDistributionMode;
    use jiff::Timestamp;

    #[test]
    fn cluster_ids_follow_the_documented_rule() {
        for ok in ["a", "orders-cache", "a1", &"a".repeat(63)] {
            assert!(validate_cluster_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1abc", "Orders", "orders-", "or_ders", &"a".repeat(64)] {
            let e = validate_cluster_id(bad).unwrap_err();
            assert_eq!(e.code.as_str(), "INVALID_ARGUMENT", "{bad}");
        }
    }

    #[test]
    fn create_defaults_match_the_real_service() {
        let s = ClusterSpec::parse_create(
            br#"{"shardCount": 3, "pscConfigs": [{"network": "projects/p/global/networks/n"}]}"#,
            "us-central1",
        )
        .unwrap();
        assert_eq!(s.node_type, NodeType::REDIS_HIGHMEM_MEDIUM);
        assert_eq!(s.replica_count, 0);
        assert_eq!(s.authorization_mode, AuthorizationMode::AUTH_MODE_DISABLED);
        assert_eq!(
            s.transit_encryption_mode,
            TransitEncryptionMode::TRANSIT_ENCRYPTION_MODE_DISABLED
        );
        assert_eq!(s.zone_distribution.mode, ZoneDistributionMode::MULTI_ZONE);
        assert_eq!(s.persistence.mode, PersistenceMode::DISABLED);
        assert_eq!(s.size_tenths_gb(), 390);
    }

    #[test]
    fn create_refuses_bad_values_with_field_names() {
        let e = ClusterSpec::parse_create(br#"{"shardCount": 3, "nodeType": "REDIS_HUGE"}"#, "r")
            .unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value at 'cluster.node_type' (type.googleapis.com/google.cloud.redis.cluster.v1.NodeType), \"REDIS_HUGE\""
        );
        let e = ClusterSpec::parse_create(br#"{}"#, "r").unwrap_err();
        assert!(e.message.contains("shard_count is required"));
        let e =
            ClusterSpec::parse_create(br#"{"shardCount": 1, "replicaCount": 3}"#, "r").unwrap_err();
        assert!(e.message.contains("replica_count must be between 0 and 2"));
        let e = ClusterSpec::parse_create(br#"{"shardCount": 1, "labels": {"a": "b"}}"#, "r")
            .unwrap_err();
        assert!(e.message.contains("Unknown name \"labels\""));
        let e = ClusterSpec::parse_create(
            br#"{"shardCount": 1, "pscConfigs": [{"network": "default"}]}"#,
            "r",
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("projects/{project}/global/networks/{network}")
        );
        let e = ClusterSpec::parse_create(
            br#"{"shardCount": 1, "zoneDistributionConfig": {"mode": "SINGLE_ZONE", "zone": "europe-west1-b"}}"#,
            "us-central1",
        )
        .unwrap_err();
        assert!(e.message.contains("not in region"));
    }

    #[test]
    fn update_masks_accept_both_spellings_and_refuse_immutable_fields() {
        assert_eq!(
            MaskField::parse_mask(Some("shard_count,replicaCount")).unwrap(),
            vec![MaskField::ShardCount, MaskField::ReplicaCount]
        );
        assert_eq!(
            MaskField::parse_mask(Some("maintenance_window")).unwrap(),
            vec![MaskField::Day2(Day2Field::MaintenancePolicy)]
        );
        assert!(
            MaskField::parse_mask(Some("authorization_mode"))
                .unwrap_err()
                .message
                .contains("cannot be updated")
        );
        assert!(MaskField::parse_mask(Some("labels")).is_err());
        assert!(MaskField::parse_mask(None).is_err());
    }

    #[test]
    fn patch_applies_only_masked_fields() {
        let s = ClusterSpec::parse_create(br#"{"shardCount": 3}"#, "r").unwrap();
        let next = s
            .apply_patch(
                br#"{"shardCount": 5, "replicaCount": 2}"#,
                "r",
                &[MaskField::ShardCount],
            )
            .unwrap();
        assert_eq!(next.shard_count, 5);
        assert_eq!(next.replica_count, 0);
    }

    #[test]
    fn precise_size_is_a_whole_number_when_it_can_be() {
        let spec = ClusterSpec::parse_create(
            br#"{"shardCount": 3, "nodeType": "REDIS_SHARED_CORE_NANO"}"#,
            "r",
        )
        .unwrap();
        let c: Cluster = Resource::new(
            Common {
                name: "projects/p/locations/r/clusters/c".into(),
                parent: LocationName::new("p", "r").unwrap(),
                create_time: Timestamp::UNIX_EPOCH,
                update_time: Timestamp::UNIX_EPOCH,
                state: State::ACTIVE,
                uid: "1".into(),
                endpoint: Endpoint {
                    host: "127.0.0.1".into(),
                    port: 1,
                },
                psc_ids: [1, 2],
                incarnation: 1,
                maintenance_schedule: None,
                backup_collection: None,
                backing_up: false,
                replication: Default::default(),
            },
            spec,
        );
        let v = c.render(false);
        assert_eq!(v["sizeGb"], 5);
        assert_eq!(v["preciseSizeGb"], 4.2);
        assert_eq!(v["nodeType"], "REDIS_SHARED_CORE_NANO");
        assert_eq!(c.render(true)["nodeType"], 1);
        assert!(
            v.get("pscConnections").is_none(),
            "no network, no PSC connections"
        );
    }
}
