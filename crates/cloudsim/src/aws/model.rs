//! ElastiCache resources — replication groups, users, user groups — and their XML as the real API writes it.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::error::AwsError;
use super::xml::{El, opt};
use crate::dataplane::{AclAuth, AclUser};
use crate::util::rfc3339_millis;

pub const MAX_TAGS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    Redis,
    Valkey,
}

impl Engine {
    pub fn parse(s: &str) -> Result<Self, AwsError> {
        match s.to_ascii_lowercase().as_str() {
            "redis" => Ok(Engine::Redis),
            "valkey" => Ok(Engine::Valkey),
            _ => Err(AwsError::invalid_value(format!(
                "Invalid engine {s:?}: use redis or valkey."
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Redis => "redis",
            Engine::Valkey => "valkey",
        }
    }

    pub fn default_version(self) -> &'static str {
        match self {
            Engine::Redis => "7.1",
            Engine::Valkey => "8.0",
        }
    }
}

/// Checks ReplicationGroupId: 1–40 letters, digits, hyphens; starts with a letter; no `--`; no trailing `-`.
pub fn replication_group_id(raw: &str) -> Result<String, AwsError> {
    let b = raw.as_bytes();
    let ok = (1..=40).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && !raw.contains("--")
        && !raw.ends_with('-');
    if ok {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(AwsError::invalid_value(format!(
            "The parameter ReplicationGroupId is not a valid identifier. Identifiers must begin with a letter; \
             must contain only ASCII letters, digits, and hyphens; must be at most 40 characters; and must not end \
             with a hyphen or contain two consecutive hyphens. Got {raw:?}."
        )))
    }
}

/// Checks a UserId or UserGroupId (`[a-zA-Z][a-zA-Z0-9\-]*`); the service stores it lowercase.
pub fn resource_id(param: &str, raw: &str) -> Result<String, AwsError> {
    let b = raw.as_bytes();
    let ok = !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-');
    if ok {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(AwsError::invalid_value(format!(
            "The parameter {param} must begin with a letter and contain only ASCII letters, digits, and hyphens. Got {raw:?}."
        )))
    }
}

const NODE_FAMILIES: &[(&str, &[&str])] = &[
    (
        "cache.m7g",
        &[
            "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge",
        ],
    ),
    (
        "cache.m6g",
        &[
            "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge",
        ],
    ),
    (
        "cache.m5",
        &[
            "large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge",
        ],
    ),
    (
        "cache.m4",
        &["large", "xlarge", "2xlarge", "4xlarge", "10xlarge"],
    ),
    ("cache.t4g", &["micro", "small", "medium"]),
    ("cache.t3", &["micro", "small", "medium"]),
    ("cache.t2", &["micro", "small", "medium"]),
    (
        "cache.r7g",
        &[
            "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge",
        ],
    ),
    (
        "cache.r6g",
        &[
            "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge",
        ],
    ),
    (
        "cache.r6gd",
        &[
            "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge",
        ],
    ),
    (
        "cache.r5",
        &[
            "large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge",
        ],
    ),
    (
        "cache.r4",
        &[
            "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge",
        ],
    ),
];

/// Every current-generation node type.
pub fn node_types() -> impl Iterator<Item = String> {
    NODE_FAMILIES
        .iter()
        .flat_map(|(family, sizes)| sizes.iter().map(move |s| format!("{family}.{s}")))
}

/// Current-generation node types (previous generations cannot be used for new clusters).
pub fn node_type(raw: &str) -> Result<String, AwsError> {
    let known = raw.rsplit_once('.').is_some_and(|(family, size)| {
        NODE_FAMILIES
            .iter()
            .any(|(f, sizes)| *f == family && sizes.contains(&size))
    });
    if known {
        Ok(raw.to_owned())
    } else {
        Err(AwsError::invalid_value(format!(
            "Invalid CacheNodeType: {raw}"
        )))
    }
}

/// RBAC passwords and AUTH tokens: 16–128 printable ASCII characters without `,` `"` `/` `@`.
pub fn password(param: &str, p: &str) -> Result<(), AwsError> {
    let ok = (16..=128).contains(&p.len())
        && p.bytes()
            .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b',' | b'"' | b'/' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(AwsError::invalid_value(format!(
            "Invalid {param}: passwords must be 16 to 128 printable characters and must not contain , \" / or @."
        )))
    }
}

/// Splits and checks an access string (Redis ACL rules without passwords or `reset`).
pub fn access_string(s: &str) -> Result<Vec<String>, AwsError> {
    let rules: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
    const WORDS: &[&str] = &[
        "on",
        "off",
        "allkeys",
        "allchannels",
        "allcommands",
        "nocommands",
        "resetkeys",
        "resetchannels",
        "clearselectors",
    ];
    for r in &rules {
        let ok = WORDS.contains(&r.as_str()) || r.starts_with(['~', '%', '&', '+', '-', '(', ')']);
        if !ok {
            return Err(AwsError::invalid_value(format!(
                "Access string {s:?} contains an invalid or disallowed rule {r:?} (passwords, nopass and reset are not allowed)."
            )));
        }
    }
    Ok(rules)
}

/// Tags from `Tags.Tag.N.Key/Value`.
pub type Tags = Vec<(String, Option<String>)>;

pub fn tags_xml(tags: &Tags) -> El {
    El::node(
        "TagList",
        tags.iter()
            .map(|(k, v)| {
                let mut c = vec![El::text("Key", k)];
                opt(&mut c, "Value", v.as_ref());
                El::node("Tag", c)
            })
            .collect(),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterMode {
    Enabled,
    Disabled,
    Compatible,
}

impl ClusterMode {
    pub fn parse(s: &str) -> Result<Self, AwsError> {
        match s {
            "enabled" => Ok(ClusterMode::Enabled),
            "disabled" => Ok(ClusterMode::Disabled),
            "compatible" => Ok(ClusterMode::Compatible),
            _ => Err(AwsError::invalid_value(format!(
                "Invalid ClusterMode {s:?}: use enabled, disabled or compatible."
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClusterMode::Enabled => "enabled",
            ClusterMode::Disabled => "disabled",
            ClusterMode::Compatible => "compatible",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitMode {
    Preferred,
    Required,
}

impl TransitMode {
    pub fn parse(s: &str) -> Result<Self, AwsError> {
        match s {
            "preferred" => Ok(TransitMode::Preferred),
            "required" => Ok(TransitMode::Required),
            _ => Err(AwsError::invalid_value(format!(
                "Invalid TransitEncryptionMode {s:?}: use preferred or required."
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TransitMode::Preferred => "preferred",
            TransitMode::Required => "required",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub id: u16,
    pub replicas: u8,
}

/// Everything a client can set on a replication group.
#[derive(Debug, Clone, PartialEq)]
pub struct RgSpec {
    pub description: String,
    pub engine: Engine,
    pub engine_version: String,
    pub node_type: String,
    pub cluster_mode: ClusterMode,
    pub shards: Vec<Shard>,
    pub automatic_failover: bool,
    pub multi_az: bool,
    /// `None` = transit encryption off.
    pub transit: Option<TransitMode>,
    pub at_rest_encryption: bool,
    /// Legacy AUTH tokens (two during a ROTATE).
    pub auth_tokens: Vec<String>,
    pub user_group_ids: Vec<String>,
    pub snapshot_retention_limit: i64,
    pub snapshot_window: Option<String>,
    pub maintenance_window: Option<String>,
    pub security_group_ids: Vec<String>,
    /// The cache parameter group: the one named at create or modify, else the default group of
    /// the engine's family.
    pub parameter_group: String,
    pub subnet_group: Option<String>,
    pub data_tiering: bool,
    pub auto_minor_version_upgrade: bool,
    pub kms_key_id: Option<String>,
    pub network_type: String,
    pub ip_discovery: String,
}

impl RgSpec {
    pub fn cluster_enabled(&self) -> bool {
        self.cluster_mode == ClusterMode::Enabled
    }

    /// The engine release this spec runs.
    pub fn release(&self) -> super::engine::Release {
        super::engine::release(self.engine, &self.engine_version)
            .expect("only known releases are stored")
    }

    /// Slot range of shard `i` of `n`.
    pub(crate) fn slots(i: usize, n: usize) -> String {
        format!("{}-{}", i * 16384 / n, (i + 1) * 16384 / n - 1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    fn xml(&self, name: &'static str) -> El {
        El::node(
            name,
            vec![El::text("Address", &self.host), El::text("Port", self.port)],
        )
    }
}

/// Node changes asked for without `ApplyImmediately`: "changes to the nodes in the replication
/// group are applied on the next maintenance reboot" (ModifyReplicationGroup reference). A later
/// deferred change of the same setting replaces the earlier one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deferred {
    pub node_type: Option<String>,
    /// An engine upgrade: (engine, version, parameter group) together.
    pub engine_version: Option<(Engine, String, String)>,
}

impl Deferred {
    pub fn is_empty(&self) -> bool {
        self.node_type.is_none() && self.engine_version.is_none()
    }

    /// `spec` with the deferred changes applied.
    pub fn applied_to(&self, spec: &RgSpec) -> RgSpec {
        let mut next = spec.clone();
        if let Some(t) = &self.node_type {
            next.node_type = t.clone();
        }
        if let Some((engine, version, group)) = &self.engine_version {
            next.engine = *engine;
            next.engine_version = version.clone();
            next.parameter_group = group.clone();
        }
        next
    }
}

#[derive(Debug, Clone)]
pub struct ReplicationGroup {
    pub id: String,
    pub arn: String,
    pub status: &'static str,
    pub create_time: Timestamp,
    pub spec: RgSpec,
    /// The spec being applied while `modifying`.
    pub pending: Option<RgSpec>,
    /// Changes waiting for the maintenance window.
    pub deferred: Deferred,
    pub auth_token_last_modified: Option<Timestamp>,
    /// The last AUTH token change was a ROTATE: a SET may follow ("SET - allowed only after
    /// ROTATE").
    pub auth_token_rotated: bool,
    pub tags: Tags,
    pub endpoint: Endpoint,
    pub region: String,
    pub incarnation: u64,
    /// Its Global Datastore and role there (`GlobalReplicationGroupInfo`).
    pub global: Option<super::global::GlobalInfo>,
}

pub fn az(region: &str, i: usize) -> String {
    format!("{region}{}", ['a', 'b', 'c'][i % 3])
}

impl ReplicationGroup {
    pub fn member_clusters(&self) -> Vec<String> {
        let s = &self.spec;
        if s.cluster_enabled() {
            s.shards
                .iter()
                .flat_map(|sh| {
                    (1..=1 + u16::from(sh.replicas))
                        .map(move |n| format!("{}-{:04}-{n:03}", self.id, sh.id))
                })
                .collect()
        } else {
            let n = s.shards.first().map_or(1, |sh| 1 + u16::from(sh.replicas));
            (1..=n).map(|n| format!("{}-{n:03}", self.id)).collect()
        }
    }

    /// The member clusters as DescribeCacheClusters shows them: one node each, with the node
    /// changes that wait for the maintenance window in their `PendingModifiedValues`.
    pub fn cache_clusters(&self, account: &str) -> Vec<El> {
        let s = &self.spec;
        let status = match self.status {
            "creating" | "modifying" | "deleting" => self.status,
            _ => "available",
        };
        let mut pending = Vec::new();
        opt(
            &mut pending,
            "EngineVersion",
            self.deferred.engine_version.as_ref().map(|(_, v, _)| v),
        );
        opt(
            &mut pending,
            "CacheNodeType",
            self.deferred.node_type.as_ref(),
        );
        self.member_clusters()
            .into_iter()
            .enumerate()
            .map(|(i, id)| {
                let mut f = vec![
                    El::text("CacheClusterId", &id),
                    El::text("CacheNodeType", &s.node_type),
                    El::text("Engine", s.engine.as_str()),
                    El::text("EngineVersion", s.release().reported),
                    El::text("CacheClusterStatus", status),
                    El::text("NumCacheNodes", 1),
                    El::text("PreferredAvailabilityZone", az(&self.region, i)),
                    El::text("CacheClusterCreateTime", rfc3339_millis(self.create_time)),
                ];
                f.push(El::text(
                    "PreferredMaintenanceWindow",
                    s.maintenance_window
                        .as_deref()
                        .unwrap_or(super::actions::DEFAULT_MAINTENANCE_WINDOW),
                ));
                f.push(El::node("PendingModifiedValues", pending.clone()));
                f.push(El::node(
                    "CacheParameterGroup",
                    vec![
                        El::text("CacheParameterGroupName", &s.parameter_group),
                        El::text("ParameterApplyStatus", "in-sync"),
                    ],
                ));
                opt(&mut f, "CacheSubnetGroupName", s.subnet_group.as_ref());
                f.push(El::node(
                    "SecurityGroups",
                    s.security_group_ids
                        .iter()
                        .map(|g| {
                            El::node(
                                "member",
                                vec![El::text("SecurityGroupId", g), El::text("Status", "active")],
                            )
                        })
                        .collect(),
                ));
                f.push(El::text("ReplicationGroupId", &self.id));
                f.push(El::text(
                    "SnapshotRetentionLimit",
                    s.snapshot_retention_limit,
                ));
                opt(&mut f, "SnapshotWindow", s.snapshot_window.as_ref());
                f.push(El::text("AuthTokenEnabled", !s.auth_tokens.is_empty()));
                f.push(El::text("TransitEncryptionEnabled", s.transit.is_some()));
                f.push(El::text("AtRestEncryptionEnabled", s.at_rest_encryption));
                f.push(El::text(
                    "ARN",
                    format!("arn:aws:elasticache:{}:{account}:cluster:{id}", self.region),
                ));
                El::node("CacheCluster", f)
            })
            .collect()
    }

    fn node_groups(&self) -> El {
        let s = &self.spec;
        let shown_endpoints = self.status != "creating";
        let group_status = if self.status == "modifying"
            && self.pending.as_ref().is_some_and(|p| p.shards != s.shards)
        {
            "modifying"
        } else if self.status == "creating" {
            "creating"
        } else {
            "available"
        };
        let groups = s
            .shards
            .iter()
            .enumerate()
            .map(|(i, sh)| {
                let mut g = vec![
                    El::text("NodeGroupId", format!("{:04}", sh.id)),
                    El::text("Status", group_status),
                ];
                let members: Vec<El> = (0..=usize::from(sh.replicas))
                    .map(|n| {
                        let id = if s.cluster_enabled() {
                            format!("{}-{:04}-{:03}", self.id, sh.id, n + 1)
                        } else {
                            format!("{}-{:03}", self.id, n + 1)
                        };
                        let mut m = vec![
                            El::text("CacheClusterId", id),
                            El::text("CacheNodeId", "0001"),
                        ];
                        if !s.cluster_enabled() && shown_endpoints {
                            m.push(self.endpoint.xml("ReadEndpoint"));
                        }
                        m.push(El::text("PreferredAvailabilityZone", az(&self.region, n)));
                        if !s.cluster_enabled() {
                            m.push(El::text(
                                "CurrentRole",
                                if n == 0 { "primary" } else { "replica" },
                            ));
                        }
                        El::node("NodeGroupMember", m)
                    })
                    .collect();
                if s.cluster_enabled() {
                    g.push(El::text("Slots", RgSpec::slots(i, s.shards.len())));
                } else if shown_endpoints {
                    g.push(self.endpoint.xml("PrimaryEndpoint"));
                    g.push(self.endpoint.xml("ReaderEndpoint"));
                }
                g.push(El::node("NodeGroupMembers", members));
                El::node("NodeGroup", g)
            })
            .collect();
        El::node("NodeGroups", groups)
    }

    fn pending_xml(&self) -> El {
        let mut out = Vec::new();
        if let Some(p) = &self.pending {
            let s = &self.spec;
            if p.automatic_failover != s.automatic_failover {
                out.push(El::text(
                    "AutomaticFailoverStatus",
                    if p.automatic_failover {
                        "enabled"
                    } else {
                        "disabled"
                    },
                ));
            }
            if p.shards.len() != s.shards.len() {
                out.push(El::node(
                    "Resharding",
                    vec![El::node(
                        "SlotMigration",
                        vec![El::text("ProgressPercentage", "0.0")],
                    )],
                ));
            }
            if p.auth_tokens != s.auth_tokens {
                out.push(El::text(
                    "AuthTokenStatus",
                    if p.auth_tokens.len() > 1 {
                        "ROTATING"
                    } else {
                        "SETTING"
                    },
                ));
            }
            let add: Vec<&String> = p
                .user_group_ids
                .iter()
                .filter(|g| !s.user_group_ids.contains(g))
                .collect();
            let remove: Vec<&String> = s
                .user_group_ids
                .iter()
                .filter(|g| !p.user_group_ids.contains(g))
                .collect();
            if !add.is_empty() || !remove.is_empty() {
                out.push(El::node(
                    "UserGroups",
                    vec![
                        El::list("UserGroupIdsToAdd", "member", add),
                        El::list("UserGroupIdsToRemove", "member", remove),
                    ],
                ));
            }
            if p.transit != s.transit {
                out.push(El::text("TransitEncryptionEnabled", p.transit.is_some()));
                if let Some(m) = p.transit {
                    out.push(El::text("TransitEncryptionMode", m.as_str()));
                }
            }
            if p.cluster_mode != s.cluster_mode {
                out.push(El::text("ClusterMode", p.cluster_mode.as_str()));
            }
        }
        El::node("PendingModifiedValues", out)
    }

    /// The `<ReplicationGroup>` children.
    pub fn xml_fields(&self) -> Vec<El> {
        let s = &self.spec;
        let mut f = vec![
            El::text("ReplicationGroupId", &self.id),
            El::text("Description", &s.description),
        ];
        if let Some(g) = &self.global {
            f.push(g.xml());
        }
        f.extend([
            El::text("Status", self.status),
            self.pending_xml(),
            El::list("MemberClusters", "ClusterId", self.member_clusters()),
            self.node_groups(),
        ]);
        f.push(El::text(
            "AutomaticFailover",
            if s.automatic_failover {
                "enabled"
            } else {
                "disabled"
            },
        ));
        f.push(El::text(
            "MultiAZ",
            if s.multi_az { "enabled" } else { "disabled" },
        ));
        if s.cluster_enabled() && self.status != "creating" {
            f.push(self.endpoint.xml("ConfigurationEndpoint"));
        }
        f.push(El::text(
            "SnapshotRetentionLimit",
            s.snapshot_retention_limit,
        ));
        opt(&mut f, "SnapshotWindow", s.snapshot_window.as_ref());
        f.push(El::text("ClusterEnabled", s.cluster_enabled()));
        f.push(El::text("CacheNodeType", &s.node_type));
        f.push(El::text("AuthTokenEnabled", !s.auth_tokens.is_empty()));
        opt(
            &mut f,
            "AuthTokenLastModifiedDate",
            self.auth_token_last_modified.map(rfc3339_millis),
        );
        f.push(El::text("TransitEncryptionEnabled", s.transit.is_some()));
        f.push(El::text("AtRestEncryptionEnabled", s.at_rest_encryption));
        opt(&mut f, "KmsKeyId", s.kms_key_id.as_ref());
        f.push(El::text("ARN", &self.arn));
        if !s.user_group_ids.is_empty() {
            f.push(El::list("UserGroupIds", "member", &s.user_group_ids));
        }
        f.push(El::text(
            "ReplicationGroupCreateTime",
            rfc3339_millis(self.create_time),
        ));
        f.push(El::text(
            "DataTiering",
            if s.data_tiering {
                "enabled"
            } else {
                "disabled"
            },
        ));
        f.push(El::text(
            "AutoMinorVersionUpgrade",
            s.auto_minor_version_upgrade,
        ));
        f.push(El::text("NetworkType", &s.network_type));
        f.push(El::text("IpDiscovery", &s.ip_discovery));
        if let Some(m) = s.transit {
            f.push(El::text("TransitEncryptionMode", m.as_str()));
        }
        f.push(El::text("ClusterMode", s.cluster_mode.as_str()));
        f.push(El::text("Engine", s.engine.as_str()));
        f
    }

    pub fn xml(&self) -> El {
        El::node("ReplicationGroup", self.xml_fields())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserAuth {
    Password(Vec<String>),
    NoPassword,
    Iam,
}

impl UserAuth {
    fn type_str(&self) -> &'static str {
        match self {
            UserAuth::Password(_) => "password",
            UserAuth::NoPassword => "no-password",
            UserAuth::Iam => "iam",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub name: String,
    pub engine: Engine,
    pub access_string: String,
    pub auth: UserAuth,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub arn: String,
    pub status: &'static str,
    pub spec: UserSpec,
    pub pending: Option<UserSpec>,
    pub tags: Tags,
    pub incarnation: u64,
}

impl User {
    pub fn builtin_default(arn: String) -> Self {
        Self {
            id: "default".into(),
            arn,
            status: "active",
            spec: UserSpec {
                name: "default".into(),
                engine: Engine::Redis,
                access_string: "on ~* +@all".into(),
                auth: UserAuth::NoPassword,
            },
            pending: None,
            tags: Vec::new(),
            incarnation: 0,
        }
    }

    pub fn xml_fields(&self, groups: &[String]) -> Vec<El> {
        // While `modifying` the user shows what it is becoming (ModifyUser answers with the new
        // access string; ACK's controller writes that answer back into its spec).
        let s = self.pending.as_ref().unwrap_or(&self.spec);
        let mut auth = vec![El::text("Type", s.auth.type_str())];
        if let UserAuth::Password(p) = &s.auth {
            auth.push(El::text("PasswordCount", p.len()));
        }
        vec![
            El::text("UserId", &self.id),
            El::text("UserName", &s.name),
            El::text("Status", self.status),
            El::text("Engine", s.engine.as_str()),
            El::text(
                "MinimumEngineVersion",
                if s.engine == Engine::Valkey {
                    "7.2"
                } else {
                    "6.0"
                },
            ),
            El::text("AccessString", &s.access_string),
            El::list("UserGroupIds", "member", groups),
            El::node("Authentication", auth),
            El::text("ARN", &self.arn),
        ]
    }

    /// The ACL entry redis-server gets for this user.
    pub fn acl(&self) -> AclUser {
        let rules = access_string(&self.spec.access_string).unwrap_or_default();
        let auth = match &self.spec.auth {
            UserAuth::Password(p) => AclAuth::Passwords(p.clone()),
            UserAuth::NoPassword => AclAuth::NoPass,
            UserAuth::Iam => AclAuth::Token,
        };
        AclUser {
            name: self.spec.name.clone(),
            rules,
            auth,
        }
    }
}

#[derive(Debug, Clone)]
pub struct UserGroup {
    pub id: String,
    pub arn: String,
    pub status: &'static str,
    pub engine: Engine,
    pub user_ids: Vec<String>,
    /// (to add, to remove) while `modifying`.
    pub pending: Option<(Vec<String>, Vec<String>)>,
    pub tags: Tags,
    pub incarnation: u64,
}

impl UserGroup {
    pub fn xml_fields(&self, replication_groups: &[String]) -> Vec<El> {
        let mut f = vec![
            El::text("UserGroupId", &self.id),
            El::text("Status", self.status),
            El::text("Engine", self.engine.as_str()),
            El::list("UserIds", "member", &self.user_ids),
            El::text(
                "MinimumEngineVersion",
                if self.engine == Engine::Valkey {
                    "7.2"
                } else {
                    "6.0"
                },
            ),
        ];
        if let Some((add, remove)) = &self.pending {
            f.push(El::node(
                "PendingChanges",
                vec![
                    El::list("UserIdsToRemove", "member", remove),
                    El::list("UserIdsToAdd", "member", add),
                ],
            ));
        }
        f.push(El::list("ReplicationGroups", "member", replication_groups));
        f.push(El::text("ARN", &self.arn));
        f
    }
}

/// A snapshot of a replication group (CreateSnapshot, a final snapshot, or automatic).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub name: String,
    pub arn: String,
    /// `creating`, `available`, `restoring`, `deleting`.
    pub status: &'static str,
    /// `manual` or `automated`.
    pub source: &'static str,
    pub rg_id: String,
    /// The group as it was when the snapshot was taken.
    pub spec: RgSpec,
    pub rg_create_time: Timestamp,
    pub create_time: Timestamp,
    pub kms_key_id: Option<String>,
    /// The data as an RDB file (none without Redis behind the group).
    pub data: Option<crate::dataplane::Rdb>,
    /// Replication groups being created from this snapshot.
    pub restoring: usize,
    pub tags: Tags,
    pub incarnation: u64,
}

impl Snapshot {
    /// The `<Snapshot>` children (model shape `Snapshot`).
    pub fn xml_fields(&self) -> Vec<El> {
        let s = &self.spec;
        let mut f = vec![
            El::text("SnapshotName", &self.name),
            El::text("ReplicationGroupId", &self.rg_id),
            El::text("ReplicationGroupDescription", &s.description),
            El::text("SnapshotStatus", self.status),
            El::text("SnapshotSource", self.source),
            El::text("CacheNodeType", &s.node_type),
            El::text("Engine", s.engine.as_str()),
            El::text("EngineVersion", s.release().reported),
            El::text(
                "CacheClusterCreateTime",
                rfc3339_millis(self.rg_create_time),
            ),
            El::text(
                "PreferredMaintenanceWindow",
                s.maintenance_window
                    .as_deref()
                    .unwrap_or(super::actions::DEFAULT_MAINTENANCE_WINDOW),
            ),
            El::text("Port", 6379),
            El::text("CacheParameterGroupName", &s.parameter_group),
        ];
        opt(&mut f, "CacheSubnetGroupName", s.subnet_group.as_ref());
        f.push(El::text(
            "AutoMinorVersionUpgrade",
            s.auto_minor_version_upgrade,
        ));
        f.push(El::text(
            "SnapshotRetentionLimit",
            s.snapshot_retention_limit,
        ));
        opt(&mut f, "SnapshotWindow", s.snapshot_window.as_ref());
        f.push(El::text("NumNodeGroups", s.shards.len()));
        f.push(El::text(
            "AutomaticFailover",
            if s.automatic_failover {
                "enabled"
            } else {
                "disabled"
            },
        ));
        let nodes = s
            .shards
            .iter()
            .map(|sh| {
                El::node(
                    "NodeSnapshot",
                    vec![
                        El::text("NodeGroupId", format!("{:04}", sh.id)),
                        El::text(
                            "CacheSize",
                            format!(
                                "{} MB",
                                self.data.as_ref().map_or(0, |d| d.len().div_ceil(1 << 20))
                            ),
                        ),
                        El::text("SnapshotCreateTime", rfc3339_millis(self.create_time)),
                    ],
                )
            })
            .collect();
        f.push(El::node("NodeSnapshots", nodes));
        opt(&mut f, "KmsKeyId", self.kms_key_id.as_ref());
        f.push(El::text("ARN", &self.arn));
        f.push(El::text(
            "DataTiering",
            if s.data_tiering {
                "enabled"
            } else {
                "disabled"
            },
        ));
        f
    }

    pub fn xml(&self) -> El {
        El::node("Snapshot", self.xml_fields())
    }
}

/// A customer's cache parameter group (the default groups `default.<family>[.cluster.on]` are
/// the service's own and are not stored).
#[derive(Debug, Clone)]
pub struct CacheParameterGroup {
    pub name: String,
    pub family: String,
    pub description: String,
    pub arn: String,
    /// The parameters set with ModifyCacheParameterGroup (source `user`), by name.
    pub values: BTreeMap<String, String>,
    pub tags: Tags,
}

/// What a replication group needs to know of the parameter group it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterGroupUse {
    pub family: String,
    /// Its `cluster-enabled` parameter: the group decides the cluster mode.
    pub cluster_enabled: bool,
}

/// A cache subnet group: subnets of one VPC (cloudsim has no EC2: every well-formed subnet ID
/// exists, in the region's one VPC, in an availability zone derived from the ID).
#[derive(Debug, Clone)]
pub struct CacheSubnetGroup {
    pub name: String,
    pub description: String,
    pub arn: String,
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub tags: Tags,
}

/// One (account, region): its replication groups, users, user groups, snapshots, parameter
/// groups, subnet groups and events.
#[derive(Debug)]
pub struct Region {
    pub name: String,
    pub rgs: BTreeMap<String, ReplicationGroup>,
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, UserGroup>,
    pub snapshots: BTreeMap<String, Snapshot>,
    /// Serverless caches and their snapshots.
    pub serverless: super::serverless::Serverless,
    pub parameter_groups: BTreeMap<String, CacheParameterGroup>,
    pub subnet_groups: BTreeMap<String, CacheSubnetGroup>,
    pub events: super::events::Log,
}

impl Region {
    pub fn new(name: &str, account: &str) -> Self {
        let mut users = BTreeMap::new();
        users.insert(
            "default".to_owned(),
            User::builtin_default(format!("arn:aws:elasticache:{name}:{account}:user:default")),
        );
        Self {
            name: name.to_owned(),
            rgs: BTreeMap::new(),
            users,
            groups: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            serverless: Default::default(),
            parameter_groups: BTreeMap::new(),
            subnet_groups: BTreeMap::new(),
            events: super::events::Log::default(),
        }
    }

    /// The parameter group `name` (case-insensitive), a default one or a customer's.
    pub fn parameter_group(&self, name: &str) -> Result<ParameterGroupUse, AwsError> {
        let name = name.to_ascii_lowercase();
        if let Some((family, cluster_on)) = super::engine::default_group_of(&name) {
            return Ok(ParameterGroupUse {
                family: family.to_owned(),
                cluster_enabled: cluster_on,
            });
        }
        let g = self
            .parameter_groups
            .get(&name)
            .ok_or_else(|| AwsError::parameter_group_not_found(&name))?;
        Ok(ParameterGroupUse {
            family: g.family.clone(),
            cluster_enabled: g.values.get("cluster-enabled").map(String::as_str) == Some("yes"),
        })
    }

    /// The replication groups using a parameter or subnet group.
    pub fn rgs_using(&self, pick: impl Fn(&RgSpec) -> bool) -> Vec<String> {
        self.rgs
            .values()
            .filter(|rg| pick(&rg.spec) || rg.pending.as_ref().is_some_and(&pick))
            .map(|rg| rg.id.clone())
            .collect()
    }

    pub fn groups_of_user(&self, user_id: &str) -> Vec<String> {
        self.groups
            .values()
            .filter(|g| g.user_ids.iter().any(|u| u == user_id))
            .map(|g| g.id.clone())
            .collect()
    }

    pub fn rgs_of_group(&self, group_id: &str) -> Vec<String> {
        self.rgs
            .values()
            .filter(|r| r.spec.user_group_ids.iter().any(|g| g == group_id))
            .map(|r| r.id.clone())
            .collect()
    }

    /// The ACL users redis-server must have for `rg`: the attached groups' users, else `default`
    /// (open, or with the legacy AUTH tokens).
    pub fn desired_acl(&self, rg: &RgSpec) -> Vec<AclUser> {
        if rg.user_group_ids.is_empty() {
            let mut d = AclUser::open_default();
            if !rg.auth_tokens.is_empty() {
                d.auth = AclAuth::Passwords(rg.auth_tokens.clone());
            }
            return vec![d];
        }
        self.acl_of_groups(&rg.user_group_ids)
    }

    /// The ACL users of attached user groups: each group's users under their user names.
    pub fn acl_of_groups(&self, group_ids: &[String]) -> Vec<AclUser> {
        let mut out: Vec<AclUser> = Vec::new();
        for g in group_ids.iter().filter_map(|g| self.groups.get(g)) {
            for u in g.user_ids.iter().filter_map(|u| self.users.get(u)) {
                if u.status != "deleting" && !out.iter().any(|a| a.name == u.spec.name) {
                    out.push(u.acl());
                }
            }
        }
        out
    }

    /// The IAM-authenticated user a client names in `AUTH <name> <token>`, if `rg` admits one.
    pub fn iam_user(&self, rg: &RgSpec, name: &str) -> Option<&User> {
        self.iam_user_of_groups(&rg.user_group_ids, name)
    }

    /// The IAM-authenticated user named `name` in one of the user groups, if any.
    pub fn iam_user_of_groups(&self, group_ids: &[String], name: &str) -> Option<&User> {
        group_ids
            .iter()
            .filter_map(|g| self.groups.get(g))
            .flat_map(|g| g.user_ids.iter())
            .filter_map(|u| self.users.get(u))
            .find(|u| u.spec.name == name && u.spec.auth == UserAuth::Iam && u.status != "deleting")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_group_ids_follow_the_model() {
        assert_eq!(
            replication_group_id("Orders-Cache1").unwrap(),
            "orders-cache1"
        );
        for bad in ["", "1abc", "a--b", "a-", &"a".repeat(41), "a_b"] {
            assert_eq!(
                replication_group_id(bad).unwrap_err().code,
                "InvalidParameterValue",
                "{bad}"
            );
        }
    }

    #[test]
    fn node_types_and_passwords_are_checked() {
        assert!(node_type("cache.r7g.large").is_ok());
        assert!(node_type("cache.t4g.micro").is_ok());
        assert!(node_type("cache.r7g.huge").is_err());
        assert!(node_type("cache.m1.small").is_err(), "previous generation");
        assert!(password("Passwords", "a-long-enough-password").is_ok());
        assert!(password("Passwords", "short").is_err());
        assert!(password("Passwords", "has@an-at-sign-in-it").is_err());
    }

    #[test]
    fn access_strings_refuse_passwords_and_reset() {
        assert_eq!(access_string("on ~app::* -@all +@read").unwrap().len(), 4);
        assert!(access_string("on >secret ~* +@all").is_err());
        assert!(access_string("reset on").is_err());
        assert!(access_string("on nopass").is_err());
    }
}
