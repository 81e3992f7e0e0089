//! The ElastiCache actions: validation, state transitions and results.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;

pub(crate) use super::common::parse_tags as tags;
pub(crate) use super::common::{Ctx, key};
use super::common::{page_args, paged};
use super::error::AwsError;
use super::events::SourceType;
use super::model::{
    self, ClusterMode, Endpoint, Engine, MAX_TAGS, Region, ReplicationGroup, RgSpec, Shard, Tags,
    TransitMode, User, UserAuth, UserGroup, UserSpec, tags_xml,
};
use super::params::Params;
use super::xml::El;
use super::{engine, snapshots, windows};
use crate::dataplane::{AclUser, BackendKey, BackendSpec, Server, TlsMode};
use crate::sim::Shared;

pub(crate) const MAX_SHARDS: i64 = 90;
const MAX_REPLICAS: i64 = 5;
const MAX_NODES: i64 = 500;
const MAX_USERS: usize = 1000;
const MAX_USER_GROUPS: usize = 100;
const MAX_USERS_PER_GROUP: usize = 100;
/// The service's words for automatic failover on a cluster-mode-disabled group of one node.
pub(crate) const FAILOVER_NEEDS_TWO_NODES: &str = "When using automatic failover, there must be at least 2 cache clusters in the replication group.";

pub fn tls_mode(spec: &RgSpec) -> TlsMode {
    match spec.transit {
        None => TlsMode::Off,
        Some(TransitMode::Preferred) => TlsMode::Preferred,
        Some(TransitMode::Required) => TlsMode::Required,
    }
}

/// ACL updates for every replication group and serverless cache in the region that has a Redis.
fn acl_updates(region: &Region) -> Vec<(BackendKey, Vec<AclUser>)> {
    region
        .rgs
        .values()
        .filter(|rg| rg.status != "deleting")
        .map(|rg| (key(&region.name, &rg.id), region.desired_acl(&rg.spec)))
        .chain(super::serverless::acl_updates(region))
        .collect()
}

async fn apply_acls(shared: &Shared, updates: Vec<(BackendKey, Vec<AclUser>)>) {
    for (k, acl) in updates {
        shared.dataplane.set_acl(&k, acl).await;
    }
}

/// A named parameter group must be of the engine's family and have the group's cluster mode
/// (its `cluster-enabled`).
fn group_fits(
    used: &model::ParameterGroupUse,
    family: &str,
    mode: ClusterMode,
) -> Result<(), AwsError> {
    if used.family != family {
        return Err(AwsError::invalid_combination(format!(
            "Expected a parameter group of family {family} but found one of family {}",
            used.family
        )));
    }
    match mode {
        ClusterMode::Enabled if !used.cluster_enabled => Err(AwsError::invalid_combination(
            "Cluster mode is enabled, but the parameter group does not have cluster-enabled set to yes.",
        )),
        ClusterMode::Disabled if used.cluster_enabled => Err(AwsError::invalid_combination(
            "Cluster mode is disabled, but the parameter group has cluster-enabled set to yes.",
        )),
        _ => Ok(()),
    }
}

pub(crate) fn attachable_groups(
    region: &Region,
    ids: &[String],
    transit: bool,
) -> Result<Vec<String>, AwsError> {
    let mut out = Vec::new();
    for raw in ids {
        let id = raw.to_ascii_lowercase();
        let g = region
            .groups
            .get(&id)
            .ok_or_else(|| AwsError::user_group_not_found(&id))?;
        if g.status != "active" {
            return Err(AwsError::new(
                "InvalidUserGroupState",
                400,
                format!("User group {id} is not in active state."),
            ));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if !out.is_empty() && !transit {
        return Err(AwsError::invalid_combination(
            "Encryption in transit must be enabled (TransitEncryptionEnabled=true) to use user groups (RBAC).",
        ));
    }
    Ok(out)
}

pub fn create_replication_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let id = model::replication_group_id(p.required("ReplicationGroupId")?)?;
    let description = p.required("ReplicationGroupDescription")?.to_owned();
    if description.len() > 255 {
        return Err(AwsError::invalid_value(
            "ReplicationGroupDescription must be at most 255 characters.",
        ));
    }
    // Restoring from a snapshot: the group starts with its data (and, unless named, its engine).
    let restore = snapshots::restore_source(ctx, p)?;
    let from = restore.as_ref().and_then(|r| r.engine.clone());
    let engine = p
        .get("Engine")
        .map(Engine::parse)
        .transpose()?
        .or(from.as_ref().map(|(e, _)| *e))
        .unwrap_or(Engine::Redis);
    let engine_version = match (p.get("EngineVersion"), from) {
        (Some(v), _) => v.to_owned(),
        (None, Some((e, v))) if e == engine => v,
        (None, _) => engine.default_version().to_owned(),
    };
    let release = engine::release(engine, &engine_version)?;
    let engine_version = release.version.to_owned();
    let node_type = model::node_type(p.get("CacheNodeType").unwrap_or("cache.t4g.micro"))?;
    let data_tiering = p.bool("DataTieringEnabled")?.unwrap_or(false);
    if node_type.starts_with("cache.r6gd.") != data_tiering {
        return Err(AwsError::invalid_combination(
            "DataTieringEnabled must be true for r6gd node types and is only available for them.",
        ));
    }
    // A named parameter group must exist; its family and `cluster-enabled` decide with the rest.
    let parameter_group = p
        .get("CacheParameterGroupName")
        .map(|g| {
            let g = g.to_ascii_lowercase();
            ctx.with_region(|r| r.parameter_group(&g))
                .map(|used| (g, used))
        })
        .transpose()?;
    let node_group_conf = p.structs("NodeGroupConfiguration", "NodeGroupConfiguration");
    let num_node_groups = p.int("NumNodeGroups")?;
    let explicit_mode = p.get("ClusterMode").map(ClusterMode::parse).transpose()?;
    let wants_shards = num_node_groups.is_some_and(|n| n > 1)
        || node_group_conf.len() > 1
        || parameter_group
            .as_ref()
            .is_some_and(|(_, used)| used.cluster_enabled);
    let cluster_mode = match explicit_mode {
        Some(ClusterMode::Disabled) if wants_shards => {
            return Err(AwsError::invalid_combination(
                "ClusterMode disabled does not allow more than one node group or a cluster-mode parameter group.",
            ));
        }
        Some(m) => m,
        None if wants_shards => ClusterMode::Enabled,
        None => ClusterMode::Disabled,
    };
    let automatic_failover = p.bool("AutomaticFailoverEnabled")?.unwrap_or(false);
    let multi_az = p.bool("MultiAZEnabled")?.unwrap_or(false);
    let shards: Vec<Shard> = if cluster_mode == ClusterMode::Enabled {
        if p.has("NumCacheClusters") {
            return Err(AwsError::invalid_combination(
                "NumCacheClusters is for cluster mode disabled; use NumNodeGroups and ReplicasPerNodeGroup.",
            ));
        }
        if !automatic_failover {
            return Err(AwsError::invalid_combination(
                "Redis with cluster mode enabled cannot be created with auto failover turned off.",
            ));
        }
        if node_group_conf.is_empty() {
            let n = num_node_groups.unwrap_or(1);
            if !(1..=MAX_SHARDS).contains(&n) {
                return Err(AwsError::invalid_value(format!(
                    "NumNodeGroups must be between 1 and {MAX_SHARDS}."
                )));
            }
            let r = p.int("ReplicasPerNodeGroup")?.unwrap_or(0);
            if !(0..=MAX_REPLICAS).contains(&r) {
                return Err(AwsError::invalid_value(format!(
                    "ReplicasPerNodeGroup must be between 0 and {MAX_REPLICAS}."
                )));
            }
            (1..=n)
                .map(|i| Shard {
                    id: i as u16,
                    replicas: r as u8,
                })
                .collect()
        } else {
            if num_node_groups.is_some_and(|n| n != node_group_conf.len() as i64) {
                return Err(AwsError::invalid_combination(
                    "NumNodeGroups does not match the NodeGroupConfiguration count.",
                ));
            }
            let default_r = p.int("ReplicasPerNodeGroup")?.unwrap_or(0);
            node_group_conf
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let r = c.int("ReplicaCount")?.unwrap_or(default_r);
                    if !(0..=MAX_REPLICAS).contains(&r) {
                        return Err(AwsError::invalid_value(format!(
                            "ReplicaCount must be between 0 and {MAX_REPLICAS}."
                        )));
                    }
                    let id = match c.get("NodeGroupId") {
                        Some(g) => g
                            .parse::<u16>()
                            .ok()
                            .filter(|g| (1..=9999).contains(g))
                            .ok_or_else(|| {
                                AwsError::invalid_value(format!(
                                    "Invalid NodeGroupId {g:?}: use 1 to 4 digits."
                                ))
                            })?,
                        None => i as u16 + 1,
                    };
                    Ok(Shard {
                        id,
                        replicas: r as u8,
                    })
                })
                .collect::<Result<_, _>>()?
        }
    } else {
        let nodes = match (p.int("NumCacheClusters")?, p.int("ReplicasPerNodeGroup")?) {
            (Some(n), _) => n,
            (None, Some(r)) => r + 1,
            (None, None) => 1,
        };
        if !(1..=6).contains(&nodes) {
            return Err(AwsError::invalid_value(
                "NumCacheClusters must be between 1 and 6.",
            ));
        }
        if automatic_failover && nodes < 2 {
            return Err(AwsError::invalid_combination(FAILOVER_NEEDS_TWO_NODES));
        }
        vec![Shard {
            id: 1,
            replicas: (nodes - 1) as u8,
        }]
    };
    if multi_az && !automatic_failover {
        return Err(AwsError::invalid_combination(
            "MultiAZEnabled requires AutomaticFailoverEnabled.",
        ));
    }
    let nodes: i64 = shards.iter().map(|s| 1 + i64::from(s.replicas)).sum();
    if nodes > MAX_NODES {
        return Err(AwsError::new(
            "NodeQuotaForClusterExceeded",
            400,
            format!(
                "A replication group can have at most {MAX_NODES} nodes; {nodes} were requested."
            ),
        ));
    }
    let transit_enabled = p.bool("TransitEncryptionEnabled")?.unwrap_or(false);
    let transit = match (
        transit_enabled,
        p.get("TransitEncryptionMode")
            .map(TransitMode::parse)
            .transpose()?,
    ) {
        (true, mode) => Some(mode.unwrap_or(TransitMode::Required)),
        (false, Some(_)) => {
            return Err(AwsError::invalid_combination(
                "TransitEncryptionMode requires TransitEncryptionEnabled=true.",
            ));
        }
        (false, None) => None,
    };
    let auth_token = p.get("AuthToken").map(str::to_owned);
    if let Some(t) = &auth_token {
        windows::create_auth_token(t)?;
        if transit.is_none() {
            return Err(AwsError::invalid_combination(
                "AuthToken requires TransitEncryptionEnabled=true.",
            ));
        }
    }
    let user_group_ids = p.list("UserGroupIds", "member").unwrap_or_default();
    if auth_token.is_some() && !user_group_ids.is_empty() {
        return Err(AwsError::invalid_combination(
            "AuthToken and UserGroupIds cannot be used together.",
        ));
    }
    let snapshot_retention_limit = p.int("SnapshotRetentionLimit")?.unwrap_or(0);
    if !(0..=35).contains(&snapshot_retention_limit) {
        return Err(AwsError::invalid_value(
            "SnapshotRetentionLimit must be between 0 and 35.",
        ));
    }
    let maintenance_window = p
        .get("PreferredMaintenanceWindow")
        .map(windows::maintenance_window)
        .transpose()?;
    let snapshot_window = p
        .get("SnapshotWindow")
        .map(windows::snapshot_window)
        .transpose()?;
    let parameter_group = match parameter_group {
        Some((g, used)) => {
            group_fits(&used, release.family, cluster_mode)?;
            g
        }
        None => engine::default_group(release.family, cluster_mode == ClusterMode::Enabled),
    };
    let at_rest_encryption = p
        .bool("AtRestEncryptionEnabled")?
        .unwrap_or(engine == Engine::Valkey);
    let kms_key_id = p.get("KmsKeyId").map(str::to_owned);
    if let Some(k) = &kms_key_id {
        if !at_rest_encryption {
            return Err(AwsError::invalid_combination(
                "KmsKeyId can be specified only when AtRestEncryptionEnabled is true.",
            ));
        }
        windows::kms_key(k)?;
    }
    if let Some(r) = &restore
        && let Some(n) = r.node_groups
        && cluster_mode == ClusterMode::Enabled
        && n != shards.len()
    {
        return Err(AwsError::invalid_combination(format!(
            "The number of node groups ({}) must be the same as in the snapshot ({n}).",
            shards.len()
        )));
    }
    let tag_list = tags(p)?;
    let mut spec = RgSpec {
        description,
        engine,
        engine_version,
        node_type,
        cluster_mode,
        shards,
        automatic_failover,
        multi_az,
        transit,
        at_rest_encryption,
        auth_tokens: auth_token.into_iter().collect(),
        user_group_ids: Vec::new(),
        snapshot_retention_limit,
        snapshot_window,
        maintenance_window,
        security_group_ids: p
            .list("SecurityGroupIds", "SecurityGroupId")
            .unwrap_or_default(),
        parameter_group,
        subnet_group: p.get("CacheSubnetGroupName").map(str::to_ascii_lowercase),
        data_tiering,
        auto_minor_version_upgrade: p.bool("AutoMinorVersionUpgrade")?.unwrap_or(true),
        kms_key_id,
        network_type: p.get("NetworkType").unwrap_or("ipv4").to_owned(),
        ip_discovery: p.get("IpDiscovery").unwrap_or("ipv4").to_owned(),
    };

    let provisioned = ctx.shared.provisioning(crate::config::Transition::Create);
    let incarnation = ctx.shared.next_id();
    let (rendered, k) = ctx.with_region(|region| {
        if region.rgs.contains_key(&id) {
            return Err(AwsError::new(
                "ReplicationGroupAlreadyExists",
                400,
                format!("Replication group {id} already exists."),
            ));
        }
        if let Some(sg) = &spec.subnet_group
            && !region.subnet_groups.contains_key(sg)
        {
            return Err(AwsError::subnet_group_not_found(sg));
        }
        spec.user_group_ids = attachable_groups(region, &user_group_ids, spec.transit.is_some())?;
        let seed = match &restore {
            Some(r) => snapshots::begin_restore(region, r)?,
            None => Vec::new(),
        };
        let k = key(ctx.region, &id);
        let backend = BackendSpec {
            server: match spec.engine {
                Engine::Valkey => Server::Valkey,
                Engine::Redis => Server::Redis,
            },
            tls: tls_mode(&spec),
            cluster: spec.cluster_enabled(),
            acl: region.desired_acl(&spec),
            seed,
        };
        let endpoint = match ctx.shared.dataplane.provision(k.clone(), backend) {
            Ok(Some(port)) => Endpoint {
                host: "127.0.0.1".into(),
                port,
            },
            Ok(None) => Endpoint {
                host: format!(
                    "{}.{id}.{}.{}.cache.amazonaws.com",
                    if spec.cluster_enabled() {
                        "clustercfg"
                    } else {
                        "master"
                    },
                    &crate::util::random_hex(6),
                    region_code(ctx.region)
                ),
                port: 6379,
            },
            Err(e) => {
                return Err(AwsError {
                    code: "InternalFailure",
                    status: 500,
                    message: format!("could not open the endpoint: {e}"),
                    receiver: true,
                });
            }
        };
        let rg = ReplicationGroup {
            id: id.clone(),
            arn: ctx.arn("replicationgroup", &id),
            status: "creating",
            create_time: Timestamp::now(),
            auth_token_last_modified: (!spec.auth_tokens.is_empty()).then(Timestamp::now),
            auth_token_rotated: false,
            spec,
            pending: None,
            deferred: model::Deferred::default(),
            tags: tag_list,
            endpoint,
            region: ctx.region.to_owned(),
            incarnation,
            global: None,
        };
        let rendered = rg.xml();
        region.rgs.insert(id.clone(), rg);
        Ok((rendered, k))
    })?;
    tracing::info!(replication_group = %id, region = ctx.region, "replication group creating");

    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    let restored_from = restore.and_then(|r| r.snapshot);
    tokio::spawn(async move {
        let ready = async {
            if shared.dataplane.enabled() {
                shared.dataplane.wait_ready(&k).await;
            }
        };
        tokio::join!(provisioned, ready);
        let acl = {
            let mut aws = shared.aws.lock().expect("aws lock");
            let Some(region) = aws.regions.get_mut(&region_name) else {
                return;
            };
            match region.rgs.get(&id) {
                Some(rg) if rg.incarnation == incarnation && rg.status == "creating" => {
                    region.desired_acl(&rg.spec)
                }
                _ => {
                    if let Some(name) = &restored_from {
                        snapshots::end_restore(region, name);
                    }
                    return;
                }
            }
        };
        shared.dataplane.set_acl(&k, acl).await;
        let mut aws = shared.aws.lock().expect("aws lock");
        let Some(region) = aws.regions.get_mut(&region_name) else {
            return;
        };
        if let Some(name) = &restored_from {
            snapshots::end_restore(region, name);
        }
        if let Some(rg) = region.rgs.get_mut(&id)
            && rg.incarnation == incarnation
            && rg.status == "creating"
        {
            rg.status = "available";
            let members = rg.member_clusters();
            tracing::info!(replication_group = %id, "replication group available");
            region.events.record(
                SourceType::ReplicationGroup,
                &id,
                format!("Replication group {id} created"),
            );
            for (i, c) in members.iter().enumerate() {
                region
                    .events
                    .record(SourceType::CacheCluster, c, "Cache cluster created");
                region.events.record(
                    SourceType::CacheCluster,
                    c,
                    format!(
                        "Added cache node 0001 in availability zone {}",
                        model::az(&region_name, i)
                    ),
                );
            }
        }
    });
    Ok(vec![rendered])
}

/// Short region code used in fake hostnames (`use1` for us-east-1).
pub(crate) fn region_code(region: &str) -> String {
    let parts: Vec<&str> = region.split('-').collect();
    match parts.as_slice() {
        [geo, dir, n] => format!("{geo}{}{n}", dir.chars().next().unwrap_or('x')),
        _ => region.replace('-', ""),
    }
}

pub fn describe_replication_groups(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let (size, after) = page_args(p, 100)?;
    ctx.with_region(|region| {
        if let Some(id) = p.get("ReplicationGroupId") {
            let id = id.to_ascii_lowercase();
            let rg = region
                .rgs
                .get(&id)
                .ok_or_else(|| AwsError::rg_not_found(&id))?;
            return Ok(vec![El::node("ReplicationGroups", vec![rg.xml()])]);
        }
        let (page, next) = paged(&region.rgs, after.as_deref(), size, |_| true);
        let mut out = vec![El::node(
            "ReplicationGroups",
            page.into_iter().map(ReplicationGroup::xml).collect(),
        )];
        if let Some(m) = next {
            out.push(El::text("Marker", m));
        }
        Ok(out)
    })
}

/// DescribeCacheClusters: the member clusters of every replication group (the simulator has no
/// standalone cache clusters), where node changes waiting for the maintenance window show.
pub fn describe_cache_clusters(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let (size, after) = page_args(p, 100)?;
    let account = ctx.account().to_owned();
    ctx.with_region(|region| {
        let all: BTreeMap<String, El> = region
            .rgs
            .values()
            .flat_map(|rg| {
                rg.member_clusters()
                    .into_iter()
                    .zip(rg.cache_clusters(&account))
            })
            .collect();
        if let Some(id) = p.get("CacheClusterId") {
            let id = id.to_ascii_lowercase();
            let c = all.get(&id).ok_or_else(|| {
                AwsError::new(
                    "CacheClusterNotFound",
                    404,
                    format!("CacheCluster {id} not found."),
                )
            })?;
            return Ok(vec![El::node("CacheClusters", vec![c.clone()])]);
        }
        let (page, next) = paged(&all, after.as_deref(), size, |_| true);
        let mut out = Vec::new();
        if let Some(m) = next {
            out.push(El::text("Marker", m));
        }
        out.push(El::node(
            "CacheClusters",
            page.into_iter().cloned().collect(),
        ));
        Ok(out)
    })
}

/// The window the simulator uses for a group created without `PreferredMaintenanceWindow` (the
/// service picks one itself).
pub const DEFAULT_MAINTENANCE_WINDOW: &str = "sun:05:00-sun:06:00";

/// Whether the start of a weekly window `ddd:hh24:mi-ddd:hh24:mi` (UTC) lies in `(from, to]`.
fn window_starts_between(window: &str, from: Timestamp, to: Timestamp) -> bool {
    let Some((day, rest)) = window.split_once(':') else {
        return false;
    };
    let start = rest.split('-').next().unwrap_or("");
    let weekday = match day.to_ascii_lowercase().as_str() {
        "mon" => jiff::civil::Weekday::Monday,
        "tue" => jiff::civil::Weekday::Tuesday,
        "wed" => jiff::civil::Weekday::Wednesday,
        "thu" => jiff::civil::Weekday::Thursday,
        "fri" => jiff::civil::Weekday::Friday,
        "sat" => jiff::civil::Weekday::Saturday,
        "sun" => jiff::civil::Weekday::Sunday,
        _ => return false,
    };
    let Some((h, m)) = start.split_once(':') else {
        return false;
    };
    let (Ok(h), Ok(m)) = (h.parse::<i8>(), m.parse::<i8>()) else {
        return false;
    };
    let from_date = from.to_zoned(jiff::tz::TimeZone::UTC).date();
    (0..=7).any(|k| {
        let Ok(date) = from_date.checked_add(jiff::Span::new().days(k)) else {
            return false;
        };
        let Ok(at) = date.at(h, m, 0, 0).to_zoned(jiff::tz::TimeZone::UTC) else {
            return false;
        };
        let at = at.timestamp();
        date.weekday() == weekday && at > from && at <= to
    }) || to.duration_since(from).as_secs() >= 7 * 24 * 3600
}

/// Runs the maintenance of the groups whose window started while the simulator's clock moved
/// from `from` to `to`. Returns `region/id`s.
pub fn run_due_maintenance(shared: &Arc<Shared>, from: Timestamp, to: Timestamp) -> Vec<String> {
    let due: Vec<(String, String)> = {
        let aws = shared.aws.lock().expect("aws lock");
        aws.regions
            .iter()
            .flat_map(|(name, r)| {
                r.rgs
                    .values()
                    .filter(|rg| {
                        let window = rg
                            .spec
                            .maintenance_window
                            .as_deref()
                            .unwrap_or(DEFAULT_MAINTENANCE_WINDOW);
                        window_starts_between(window, from, to)
                    })
                    .map(|rg| (name.clone(), rg.id.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    due.iter()
        .flat_map(|(region, id)| run_maintenance(shared, Some(region), Some(id)))
        .collect()
}

/// Runs the maintenance window now for the available groups with deferred changes (all, or
/// those of one region and/or id): they go `modifying` and apply them. Returns `region/id`s.
pub fn run_maintenance(
    shared: &Arc<Shared>,
    region: Option<&str>,
    id: Option<&str>,
) -> Vec<String> {
    let due: Vec<(String, String)> = {
        let aws = shared.aws.lock().expect("aws lock");
        aws.regions
            .iter()
            .filter(|(name, _)| region.is_none_or(|r| r == name.as_str()))
            .flat_map(|(name, r)| {
                r.rgs
                    .values()
                    .filter(|rg| rg.status == "available" && !rg.deferred.is_empty())
                    .filter(|rg| id.is_none_or(|i| i.eq_ignore_ascii_case(&rg.id)))
                    .map(|rg| (name.clone(), rg.id.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let mut started = Vec::new();
    for (region_name, rg_id) in due {
        let ctx = Ctx {
            shared,
            region: &region_name,
        };
        ctx.with_region(|region| {
            if let Some(rg) = region.rgs.get_mut(&rg_id)
                && rg.status == "available"
                && !rg.deferred.is_empty()
            {
                let next = rg.deferred.applied_to(&rg.spec);
                rg.deferred = model::Deferred::default();
                start_modification(&ctx, rg, next);
                started.push(format!("{region_name}/{rg_id}"));
            }
        });
    }
    started
}

fn available_rg<'a>(
    region: &'a mut Region,
    p: &Params,
) -> Result<&'a mut ReplicationGroup, AwsError> {
    let id = p.required("ReplicationGroupId")?.to_ascii_lowercase();
    let rg = region
        .rgs
        .get_mut(&id)
        .ok_or_else(|| AwsError::rg_not_found(&id))?;
    if rg.status != "available" {
        return Err(AwsError::rg_state(&id, rg.status));
    }
    Ok(rg)
}

/// Starts `modifying` with `next` as the target, and schedules its completion.
fn start_modification(ctx: &Ctx, rg: &mut ReplicationGroup, next: RgSpec) -> El {
    rg.status = "modifying";
    rg.pending = Some(next);
    let rendered = rg.xml();
    let (id, incarnation) = (rg.id.clone(), rg.incarnation);
    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    let provisioned = shared.provisioning(crate::config::Transition::Modify);
    tokio::spawn(async move {
        provisioned.await;
        let (updates, tls) = {
            let mut aws = shared.aws.lock().expect("aws lock");
            let Some(region) = aws.regions.get_mut(&region_name) else {
                return;
            };
            let Some(rg) = region
                .rgs
                .get_mut(&id)
                .filter(|r| r.incarnation == incarnation && r.status == "modifying")
            else {
                return;
            };
            if let Some(next) = rg.pending.take() {
                if next.auth_tokens != rg.spec.auth_tokens {
                    rg.auth_token_last_modified =
                        (!next.auth_tokens.is_empty()).then(Timestamp::now);
                }
                rg.spec = next;
            }
            let tls = tls_mode(&rg.spec);
            (acl_updates(region), tls)
        };
        let k = key(&region_name, &id);
        shared.dataplane.set_tls(&k, tls);
        apply_acls(&shared, updates).await;
        let mut aws = shared.aws.lock().expect("aws lock");
        if let Some(region) = aws.regions.get_mut(&region_name)
            && let Some(rg) = region.rgs.get_mut(&id)
            && rg.incarnation == incarnation
        {
            rg.status = "available";
            region.events.record(
                SourceType::ReplicationGroup,
                &id,
                format!("Replication group {id} modified"),
            );
        }
    });
    rendered
}

pub fn modify_replication_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    // The service's default is false: node changes then wait for the maintenance window.
    let apply_now = p.bool("ApplyImmediately")?.unwrap_or(false);
    ctx.with_region(|region| {
        let rg_id = p.required("ReplicationGroupId")?.to_ascii_lowercase();
        let (current, rotated) = {
            let rg = available_rg(region, p)?;
            (rg.spec.clone(), rg.auth_token_rotated)
        };
        let mut rotated_after = rotated;
        let mut next = current.clone();
        let mut light = false;
        if let Some(d) = p.get("ReplicationGroupDescription") {
            next.description = d.to_owned();
            light = true;
        }
        if let Some(v) = p.int("SnapshotRetentionLimit")? {
            if !(0..=35).contains(&v) {
                return Err(AwsError::invalid_value("SnapshotRetentionLimit must be between 0 and 35."));
            }
            next.snapshot_retention_limit = v;
            light = true;
        }
        if let Some(w) = p.get("SnapshotWindow") {
            next.snapshot_window = Some(windows::snapshot_window(w)?);
            light = true;
        }
        if let Some(w) = p.get("PreferredMaintenanceWindow") {
            next.maintenance_window = Some(windows::maintenance_window(w)?);
            light = true;
        }
        if let Some(g) = p.get("CacheParameterGroupName") {
            let g = g.to_ascii_lowercase();
            region.parameter_group(&g)?;
            next.parameter_group = g;
            light = true;
        }
        if let Some(sg) = p.list("SecurityGroupIds", "SecurityGroupId") {
            next.security_group_ids = sg;
            light = true;
        }
        if let Some(v) = p.bool("AutoMinorVersionUpgrade")? {
            next.auto_minor_version_upgrade = v;
            light = true;
        }
        if let Some(t) = p.get("CacheNodeType") {
            next.node_type = model::node_type(t)?;
            if next.node_type.starts_with("cache.r6gd.") != next.data_tiering {
                return Err(AwsError::invalid_combination("Data tiering node types cannot be mixed with other node types."));
            }
        }
        // Engine upgrades: forward only, Redis OSS to Valkey by naming the engine and its major
        // version; the parameter group must be of the new family (a default one follows).
        let engine_param = p.get("Engine").map(Engine::parse).transpose()?;
        let version_param = p.get("EngineVersion");
        let from = current.release();
        if engine_param.is_some() || version_param.is_some() {
            let engine = engine_param.unwrap_or(current.engine);
            if current.engine == Engine::Valkey && engine == Engine::Redis {
                return Err(AwsError::invalid_combination(
                    "Cannot change the engine from valkey to redis: only an upgrade from redis to valkey is supported.",
                ));
            }
            if engine != current.engine && version_param.is_none() {
                return Err(AwsError::invalid_combination(format!(
                    "Changing the engine to {} needs EngineVersion: name a {} major version, e.g. {}.",
                    engine.as_str(),
                    engine.as_str(),
                    engine.default_version()
                )));
            }
            let to = engine::release(engine, version_param.unwrap_or(&current.engine_version))?;
            from.upgrade_to(&to)?;
            next.engine = engine;
            next.engine_version = to.version.to_owned();
            if to.family != from.family && p.get("CacheParameterGroupName").is_none() {
                next.parameter_group = match engine::default_group_family(&current.parameter_group) {
                    Some(_) => engine::default_group(to.family, current.cluster_enabled()),
                    None => {
                        return Err(AwsError::invalid_combination(format!(
                            "Expected a parameter group of family {} but found one of family {}",
                            to.family, from.family
                        )));
                    }
                };
            }
        }
        group_fits(
            &region.parameter_group(&next.parameter_group)?,
            next.release().family,
            next.cluster_mode,
        )?;
        if let Some(af) = p.bool("AutomaticFailoverEnabled")? {
            if !af && current.cluster_enabled() {
                return Err(AwsError::invalid_combination("Automatic failover cannot be disabled with cluster mode enabled."));
            }
            if af && !current.cluster_enabled() && current.shards.first().is_some_and(|s| s.replicas == 0) {
                return Err(AwsError::invalid_combination(FAILOVER_NEEDS_TWO_NODES));
            }
            next.automatic_failover = af;
        }
        if let Some(maz) = p.bool("MultiAZEnabled")? {
            next.multi_az = maz;
        }
        if next.multi_az && !next.automatic_failover {
            return Err(AwsError::invalid_combination("MultiAZEnabled requires AutomaticFailoverEnabled."));
        }
        if let Some(m) = p.get("ClusterMode").map(ClusterMode::parse).transpose()? {
            let ok = matches!(
                (current.cluster_mode, m),
                (ClusterMode::Disabled, ClusterMode::Compatible)
                    | (ClusterMode::Compatible, ClusterMode::Enabled)
                    | (ClusterMode::Compatible, ClusterMode::Disabled)
            ) || current.cluster_mode == m;
            if !ok {
                return Err(AwsError::invalid_combination(format!(
                    "ClusterMode can change from disabled to compatible to enabled only, not from {} to {}.",
                    current.cluster_mode.as_str(),
                    m.as_str()
                )));
            }
            next.cluster_mode = m;
        }
        let transit_enabled = p.bool("TransitEncryptionEnabled")?;
        let transit_mode = p.get("TransitEncryptionMode").map(TransitMode::parse).transpose()?;
        match (current.transit, transit_enabled, transit_mode) {
            (_, None, None) => {}
            (None, Some(true), Some(TransitMode::Preferred)) => next.transit = Some(TransitMode::Preferred),
            (None, Some(true), _) => {
                return Err(AwsError::invalid_combination(
                    "To enable encryption in transit on an existing replication group, set TransitEncryptionMode to preferred first.",
                ));
            }
            (Some(_), Some(false), _) if !current.user_group_ids.is_empty() || !current.auth_tokens.is_empty() => {
                return Err(AwsError::invalid_combination(
                    "Encryption in transit cannot be disabled while user groups or an AuthToken are in use.",
                ));
            }
            (Some(TransitMode::Preferred), Some(false), _) => next.transit = None,
            (Some(TransitMode::Required), Some(false), _) => {
                return Err(AwsError::invalid_combination("Set TransitEncryptionMode to preferred before disabling it."));
            }
            (Some(_), _, Some(m)) => next.transit = Some(m),
            (None, _, Some(_)) | (None, Some(false), None) => {
                return Err(AwsError::invalid_combination("Encryption in transit is not enabled."));
            }
            (Some(_), Some(true), None) => {}
        }
        if p.bool("RemoveUserGroups")?.unwrap_or(false) {
            next.user_group_ids.clear();
        }
        if let Some(remove) = p.list("UserGroupIdsToRemove", "member") {
            for g in remove.iter().map(|g| g.to_ascii_lowercase()) {
                if !next.user_group_ids.contains(&g) {
                    return Err(AwsError::invalid_value(format!("User group {g} is not associated with {rg_id}.")));
                }
                next.user_group_ids.retain(|x| *x != g);
            }
        }
        if let Some(add) = p.list("UserGroupIdsToAdd", "member") {
            for g in attachable_groups(region, &add, next.transit.is_some())? {
                if !next.user_group_ids.contains(&g) {
                    next.user_group_ids.push(g);
                }
            }
        }
        match (p.get("AuthToken"), p.get("AuthTokenUpdateStrategy")) {
            (Some(t), strategy) => {
                windows::modify_auth_token(t)?;
                if next.transit.is_none() {
                    return Err(AwsError::invalid_combination("AuthToken requires encryption in transit."));
                }
                match strategy.unwrap_or("ROTATE") {
                    // The new token joins the current one; both are accepted until a SET.
                    "ROTATE" => {
                        let mut tokens: Vec<String> = current.auth_tokens.last().cloned().into_iter().collect();
                        tokens.push(t.to_owned());
                        next.auth_tokens = tokens;
                        rotated_after = true;
                    }
                    "SET" if !rotated => {
                        return Err(AwsError::invalid_combination(
                            "AuthTokenUpdateStrategy SET is allowed only after ROTATE.",
                        ));
                    }
                    "SET" => {
                        next.auth_tokens = vec![t.to_owned()];
                        rotated_after = false;
                    }
                    "DELETE" => {
                        return Err(AwsError::invalid_combination(
                            "AuthTokenUpdateStrategy DELETE takes no AuthToken.",
                        ));
                    }
                    other => {
                        return Err(AwsError::invalid_value(format!(
                            "Invalid AuthTokenUpdateStrategy {other:?}: use ROTATE, SET or DELETE."
                        )));
                    }
                }
            }
            (None, Some("DELETE")) => {
                if next.user_group_ids.is_empty() {
                    return Err(AwsError::invalid_combination(
                        "AuthToken can be deleted only when moving to RBAC (with UserGroupIdsToAdd).",
                    ));
                }
                next.auth_tokens.clear();
                rotated_after = false;
            }
            (None, Some(s)) => {
                return Err(AwsError::invalid_value(format!(
                    "AuthTokenUpdateStrategy {s} must be specified with AuthToken."
                )));
            }
            (None, None) => {}
        }
        if !next.auth_tokens.is_empty() && !next.user_group_ids.is_empty() {
            return Err(AwsError::invalid_combination("AuthToken and user groups cannot be used together."));
        }
        let rg = region.rgs.get_mut(&rg_id).ok_or_else(|| AwsError::rg_not_found(&rg_id))?;
        rg.auth_token_rotated = rotated_after;
        if apply_now {
            // "...the modifications in this request and any pending modifications".
            let mut merged = rg.deferred.clone();
            if p.has("CacheNodeType") {
                merged.node_type = None;
            }
            if p.has("EngineVersion") || p.has("Engine") {
                merged.engine_version = None;
            }
            next = merged.applied_to(&next);
            rg.deferred = model::Deferred::default();
        } else {
            if next.node_type != current.node_type {
                rg.deferred.node_type = Some(std::mem::replace(&mut next.node_type, current.node_type.clone()));
                light = true;
            }
            if next.engine_version != current.engine_version || next.engine != current.engine {
                rg.deferred.engine_version =
                    Some((next.engine, next.engine_version.clone(), next.parameter_group.clone()));
                next.engine = current.engine;
                next.engine_version = current.engine_version.clone();
                next.parameter_group = current.parameter_group.clone();
                light = true;
            }
        }
        if next == current {
            return if light {
                Ok(vec![rg.xml()])
            } else {
                Err(AwsError::invalid_combination("No modifications were requested."))
            };
        }
        let heavy = RgSpec {
            description: current.description.clone(),
            snapshot_retention_limit: current.snapshot_retention_limit,
            snapshot_window: current.snapshot_window.clone(),
            maintenance_window: current.maintenance_window.clone(),
            parameter_group: current.parameter_group.clone(),
            security_group_ids: current.security_group_ids.clone(),
            auto_minor_version_upgrade: current.auto_minor_version_upgrade,
            ..next.clone()
        } != current;
        if !heavy {
            rg.spec = next;
            return Ok(vec![rg.xml()]);
        }
        // Settings that need no provisioning apply at once; the rest when `modifying` ends.
        rg.spec.description = next.description.clone();
        rg.spec.snapshot_retention_limit = next.snapshot_retention_limit;
        rg.spec.snapshot_window = next.snapshot_window.clone();
        rg.spec.maintenance_window = next.maintenance_window.clone();
        rg.spec.parameter_group = next.parameter_group.clone();
        rg.spec.security_group_ids = next.security_group_ids.clone();
        rg.spec.auto_minor_version_upgrade = next.auto_minor_version_upgrade;
        Ok(vec![start_modification(ctx, rg, next)])
    })
}

fn require_apply_immediately(p: &Params) -> Result<(), AwsError> {
    match p.bool("ApplyImmediately")? {
        None => Err(AwsError::missing("ApplyImmediately")),
        Some(false) => Err(AwsError::invalid_value(
            "ApplyImmediately=false is not supported for this operation; use true.",
        )),
        Some(true) => Ok(()),
    }
}

pub fn modify_shard_configuration(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    require_apply_immediately(p)?;
    let count = p
        .int("NodeGroupCount")?
        .ok_or_else(|| AwsError::missing("NodeGroupCount"))?;
    ctx.with_region(|region| {
        let rg = available_rg(region, p)?;
        let current = rg.spec.clone();
        if !current.cluster_enabled() {
            return Err(AwsError::invalid_value(format!(
                "Replication group {} has cluster mode disabled; resharding needs cluster mode enabled.",
                rg.id
            )));
        }
        if !(1..=MAX_SHARDS).contains(&count) {
            return Err(AwsError::new(
                "NodeGroupsPerReplicationGroupQuotaExceeded",
                400,
                format!("NodeGroupCount must be between 1 and {MAX_SHARDS}."),
            ));
        }
        let count = count as usize;
        if count == current.shards.len() {
            return Err(AwsError::invalid_value(format!(
                "Replication group {} already has {count} node groups.",
                rg.id
            )));
        }
        let mut next = current.clone();
        if count < current.shards.len() {
            let remove = p.list("NodeGroupsToRemove", "NodeGroupToRemove");
            let retain = p.list("NodeGroupsToRetain", "NodeGroupToRetain");
            let parse_ids = |ids: Vec<String>| -> Result<Vec<u16>, AwsError> {
                ids.iter()
                    .map(|g| {
                        g.parse::<u16>()
                            .ok()
                            .filter(|n| current.shards.iter().any(|s| s.id == *n))
                            .ok_or_else(|| AwsError::invalid_value(format!("Node group {g} does not exist in {}.", rg.id)))
                    })
                    .collect()
            };
            match (remove, retain) {
                (Some(r), None) => {
                    let r = parse_ids(r)?;
                    next.shards.retain(|s| !r.contains(&s.id));
                }
                (None, Some(k)) => {
                    let k = parse_ids(k)?;
                    next.shards.retain(|s| k.contains(&s.id));
                }
                _ => {
                    return Err(AwsError::invalid_combination(
                        "Scaling in requires either NodeGroupsToRemove or NodeGroupsToRetain.",
                    ));
                }
            }
            if next.shards.len() != count {
                return Err(AwsError::invalid_combination(format!(
                    "The node groups to keep ({}) do not match NodeGroupCount {count}.",
                    next.shards.len()
                )));
            }
        } else {
            let replicas = current.shards.first().map_or(0, |s| s.replicas);
            let mut id = current.shards.iter().map(|s| s.id).max().unwrap_or(0);
            while next.shards.len() < count {
                id += 1;
                next.shards.push(Shard { id, replicas });
            }
            let nodes: usize = next.shards.iter().map(|s| 1 + usize::from(s.replicas)).sum();
            if nodes as i64 > MAX_NODES {
                return Err(AwsError::new("NodeQuotaForClusterExceeded", 400, format!("At most {MAX_NODES} nodes.")));
            }
        }
        Ok(vec![start_modification(ctx, rg, next)])
    })
}

pub fn increase_replica_count(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    change_replica_count(ctx, p, true)
}

pub fn decrease_replica_count(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    change_replica_count(ctx, p, false)
}

fn change_replica_count(ctx: &Ctx, p: &Params, increase: bool) -> Result<Vec<El>, AwsError> {
    require_apply_immediately(p)?;
    ctx.with_region(|region| {
        let rg = available_rg(region, p)?;
        let current = rg.spec.clone();
        let mut next = current.clone();
        let new_count = p.int("NewReplicaCount")?;
        let per_shard = p.structs("ReplicaConfiguration", "ConfigureShard");
        let to_remove = if increase { None } else { p.list("ReplicasToRemove", "member") };
        match (new_count, per_shard.is_empty(), to_remove) {
            (Some(n), true, None) => {
                for s in &mut next.shards {
                    s.replicas = u8::try_from(n.clamp(-1, 255)).unwrap_or(u8::MAX);
                }
                if n < 0 {
                    return Err(AwsError::invalid_value("NewReplicaCount must not be negative."));
                }
            }
            (None, false, None) => {
                for c in per_shard {
                    let g = c.required("NodeGroupId")?;
                    let n = c.int("NewReplicaCount")?.ok_or_else(|| AwsError::missing("NewReplicaCount"))?;
                    let shard = g
                        .parse::<u16>()
                        .ok()
                        .and_then(|id| next.shards.iter_mut().find(|s| s.id == id))
                        .ok_or_else(|| AwsError::invalid_value(format!("Node group {g} does not exist.")))?;
                    if n < 0 {
                        return Err(AwsError::invalid_value("NewReplicaCount must not be negative."));
                    }
                    shard.replicas = u8::try_from(n.min(255)).unwrap_or(u8::MAX);
                }
            }
            (None, true, Some(ids)) => {
                let members = rg.member_clusters();
                for cid in ids {
                    if !members.contains(&cid) {
                        return Err(AwsError::new("CacheClusterNotFound", 404, format!("CacheCluster {cid} not found.")));
                    }
                    let parts: Vec<&str> = cid.rsplitn(3, '-').collect();
                    let (shard_id, node) = if current.cluster_enabled() {
                        (parts.get(1).and_then(|s| s.parse::<u16>().ok()).unwrap_or(0), parts[0])
                    } else {
                        (1, parts[0])
                    };
                    if node == "001" {
                        return Err(AwsError::invalid_value(format!("{cid} is a primary node and cannot be removed.")));
                    }
                    if let Some(s) = next.shards.iter_mut().find(|s| s.id == shard_id) {
                        s.replicas = s.replicas.saturating_sub(1);
                    }
                }
            }
            _ => {
                return Err(AwsError::invalid_combination(
                    "Specify exactly one of NewReplicaCount, ReplicaConfiguration or ReplicasToRemove.",
                ));
            }
        }
        for (before, after) in current.shards.iter().zip(&next.shards) {
            if i64::from(after.replicas) > MAX_REPLICAS {
                return Err(AwsError::invalid_value(format!("A node group can have at most {MAX_REPLICAS} replicas.")));
            }
            if increase && after.replicas < before.replicas {
                return Err(AwsError::invalid_value("IncreaseReplicaCount cannot lower the replica count."));
            }
            if !increase && after.replicas > before.replicas {
                return Err(AwsError::invalid_value("DecreaseReplicaCount cannot raise the replica count."));
            }
            // Cluster mode disabled keeps a replica while Multi-AZ or failover is on (the
            // DecreaseReplicaCount reference; the messages are the service's own).
            if !increase && after.replicas == 0 && !current.cluster_enabled() {
                if current.multi_az {
                    return Err(AwsError::invalid_value(
                        "Must have at least 1 replica for Multi-AZ enabled Replication Group",
                    ));
                }
                if current.automatic_failover {
                    return Err(AwsError::invalid_value(
                        "Must have at least 1 replica when cluster mode is disabled with auto failover enabled.",
                    ));
                }
            }
        }
        if next.shards == current.shards {
            return Err(AwsError::new("NoOperationFault", 400, "The replica count is already as requested."));
        }
        Ok(vec![start_modification(ctx, rg, next)])
    })
}

pub fn delete_replication_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    if p.bool("RetainPrimaryCluster")?.unwrap_or(false) {
        return Err(AwsError::invalid_value(
            "RetainPrimaryCluster is not supported by the simulator.",
        ));
    }
    let provisioned = ctx.shared.provisioning(crate::config::Transition::Delete);
    let (rendered, id, incarnation, captured) = ctx.with_region(|region| {
        let final_snapshot = p
            .get("FinalSnapshotIdentifier")
            .map(|n| snapshots::check_final(region, n))
            .transpose()?;
        let rg = available_rg(region, p)?;
        rg.status = "deleting";
        rg.pending = None;
        let (rendered, id, incarnation) = (rg.xml(), rg.id.clone(), rg.incarnation);
        let rg = rg.clone();
        // "ElastiCache creates the snapshot from the primary node [...]; after the final
        // snapshot is taken, the replication group is immediately deleted."
        let captured = final_snapshot.map(|name| snapshots::take_final(ctx, region, &rg, name));
        Ok::<_, AwsError>((rendered, id, incarnation, captured))
    })?;
    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        let still_ours = {
            let aws = shared.aws.lock().expect("aws lock");
            aws.regions
                .get(&region_name)
                .and_then(|r| r.rgs.get(&id))
                .is_some_and(|rg| rg.incarnation == incarnation)
        };
        if !still_ours {
            return;
        }
        if let Some(captured) = captured {
            let _ = captured.await;
        }
        shared.dataplane.stop(&key(&region_name, &id)).await;
        let mut aws = shared.aws.lock().expect("aws lock");
        if let Some(region) = aws.regions.get_mut(&region_name)
            && region
                .rgs
                .get(&id)
                .is_some_and(|rg| rg.incarnation == incarnation)
        {
            region.rgs.remove(&id);
            tracing::info!(replication_group = %id, "replication group deleted");
            region.events.record(
                SourceType::ReplicationGroup,
                &id,
                format!("Replication group {id} deleted"),
            );
        }
    });
    Ok(vec![rendered])
}

/// Resolves `AuthenticationMode.*`, `Passwords.member.N` and `NoPasswordRequired` into one [`UserAuth`].
fn user_auth(p: &Params, user_id: &str, user_name: &str) -> Result<Option<UserAuth>, AwsError> {
    let mode = p.get("AuthenticationMode.Type");
    let mode_passwords = p.list("AuthenticationMode.Passwords", "member");
    let passwords = p.list("Passwords", "member");
    let no_password = p.bool("NoPasswordRequired")?;
    let check = |ps: Vec<String>| -> Result<UserAuth, AwsError> {
        if ps.is_empty() || ps.len() > 2 {
            return Err(AwsError::invalid_value(
                "A user must have one or two passwords.",
            ));
        }
        for pw in &ps {
            model::password("Passwords", pw)?;
        }
        Ok(UserAuth::Password(ps))
    };
    match mode {
        Some("password") => {
            if no_password == Some(true) {
                return Err(AwsError::invalid_combination(
                    "NoPasswordRequired cannot be used with password authentication.",
                ));
            }
            check(mode_passwords.or(passwords).unwrap_or_default()).map(Some)
        }
        Some("iam") => {
            if mode_passwords.is_some() || passwords.is_some() || no_password == Some(true) {
                return Err(AwsError::invalid_combination(
                    "IAM authentication does not take passwords.",
                ));
            }
            if user_id != user_name {
                return Err(AwsError::invalid_value(
                    "For IAM authentication, UserName must be the same as UserId.",
                ));
            }
            Ok(Some(UserAuth::Iam))
        }
        Some("no-password-required") => {
            if mode_passwords.is_some() || passwords.is_some() {
                return Err(AwsError::invalid_combination(
                    "no-password-required does not take passwords.",
                ));
            }
            Ok(Some(UserAuth::NoPassword))
        }
        Some(other) => Err(AwsError::invalid_value(format!(
            "Invalid AuthenticationMode.Type {other:?}: use password, no-password-required or iam."
        ))),
        None => match (passwords, no_password) {
            (Some(_), Some(true)) => Err(AwsError::invalid_combination(
                "Passwords cannot be given when NoPasswordRequired is true.",
            )),
            (Some(ps), _) => check(ps).map(Some),
            (None, Some(true)) => Ok(Some(UserAuth::NoPassword)),
            (None, _) => Ok(None),
        },
    }
}

fn user_xml(region: &Region, u: &User) -> Vec<El> {
    u.xml_fields(&region.groups_of_user(&u.id))
}

pub fn create_user(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let id = model::resource_id("UserId", p.required("UserId")?)?;
    let name = p.required("UserName")?.to_owned();
    if name.is_empty() {
        return Err(AwsError::invalid_value("UserName must not be empty."));
    }
    let engine = Engine::parse(p.required("Engine")?)?;
    let access_string = p.required("AccessString")?.to_owned();
    model::access_string(&access_string)?;
    let auth = user_auth(p, &id, &name)?.ok_or_else(|| {
        AwsError::invalid_combination(
            "No password was given: set Passwords, NoPasswordRequired=true or AuthenticationMode.",
        )
    })?;
    let tag_list = tags(p)?;
    let incarnation = ctx.shared.next_id();
    ctx.with_region(|region| {
        if region.users.contains_key(&id) {
            return Err(AwsError::new(
                "UserAlreadyExists",
                400,
                format!("User {id} already exists."),
            ));
        }
        if region.users.len() >= MAX_USERS {
            return Err(AwsError::new(
                "UserQuotaExceeded",
                400,
                format!("At most {MAX_USERS} users per region."),
            ));
        }
        let user = User {
            id: id.clone(),
            arn: ctx.arn("user", &id),
            status: "active",
            spec: UserSpec {
                name,
                engine,
                access_string,
                auth,
            },
            pending: None,
            tags: tag_list,
            incarnation,
        };
        let out = user_xml(region, &user);
        region.users.insert(id, user);
        Ok(out)
    })
}

pub fn describe_users(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let (size, after) = page_args(p, 100)?;
    let engine = p.get("Engine").map(Engine::parse).transpose()?;
    let mut id_filter: Option<Vec<String>> = None;
    for f in p.structs("Filters", "member") {
        let name = f.required("Name")?;
        if name != "UserId" {
            return Err(AwsError::invalid_value(format!(
                "Invalid filter name {name:?}: only UserId is supported."
            )));
        }
        id_filter = Some(
            f.list("Values", "member")
                .unwrap_or_default()
                .iter()
                .map(|v| v.to_ascii_lowercase())
                .collect(),
        );
    }
    ctx.with_region(|region| {
        if let Some(id) = p.get("UserId") {
            let id = id.to_ascii_lowercase();
            let u = region
                .users
                .get(&id)
                .ok_or_else(|| AwsError::user_not_found(&id))?;
            return Ok(vec![El::node(
                "Users",
                vec![El::node("member", user_xml(region, u))],
            )]);
        }
        let keep = |u: &User| {
            engine.is_none_or(|e| u.spec.engine == e)
                && id_filter.as_ref().is_none_or(|ids| ids.contains(&u.id))
        };
        let (page, next) = paged(&region.users, after.as_deref(), size, keep);
        let members = page
            .into_iter()
            .map(|u| El::node("member", user_xml(region, u)))
            .collect();
        let mut out = vec![El::node("Users", members)];
        if let Some(m) = next {
            out.push(El::text("Marker", m));
        }
        Ok(out)
    })
}

fn active_user<'a>(
    region: &'a mut Region,
    raw_id: &str,
    verb: &str,
) -> Result<&'a mut User, AwsError> {
    let id = raw_id.to_ascii_lowercase();
    if id == "default" {
        return Err(AwsError::invalid_value(format!(
            "The default user cannot be {verb}."
        )));
    }
    let u = region
        .users
        .get_mut(&id)
        .ok_or_else(|| AwsError::user_not_found(&id))?;
    if u.status != "active" {
        return Err(AwsError::new(
            "InvalidUserState",
            400,
            format!("User {id} is not in active state."),
        ));
    }
    Ok(u)
}

pub fn modify_user(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let raw_id = p.required("UserId")?;
    let provisioned = ctx.shared.provisioning(crate::config::Transition::Modify);
    let (out, id, incarnation) = ctx.with_region(|region| {
        let u = active_user(region, raw_id, "modified")?;
        let mut next = u.spec.clone();
        if let Some(a) = p.get("AccessString") {
            model::access_string(a)?;
            next.access_string = a.to_owned();
        }
        if let Some(a) = p.get("AppendAccessString") {
            model::access_string(a)?;
            next.access_string = format!("{} {a}", next.access_string);
        }
        if let Some(e) = p.get("Engine") {
            next.engine = Engine::parse(e)?;
        }
        if let Some(auth) = user_auth(p, &u.id, &u.spec.name)? {
            next.auth = auth;
        }
        if next == u.spec {
            return Err(AwsError::invalid_combination(
                "No modifications were requested.",
            ));
        }
        u.status = "modifying";
        u.pending = Some(next);
        let (id, incarnation) = (u.id.clone(), u.incarnation);
        let u = region.users.get(&id).expect("user exists");
        Ok::<_, AwsError>((user_xml(region, u), id, incarnation))
    })?;
    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        let updates = {
            let mut aws = shared.aws.lock().expect("aws lock");
            let Some(region) = aws.regions.get_mut(&region_name) else {
                return;
            };
            let Some(u) = region
                .users
                .get_mut(&id)
                .filter(|u| u.incarnation == incarnation && u.status == "modifying")
            else {
                return;
            };
            if let Some(next) = u.pending.take() {
                u.spec = next;
            }
            acl_updates(region)
        };
        // New passwords take effect in Redis before the user shows `active` again.
        apply_acls(&shared, updates).await;
        let mut aws = shared.aws.lock().expect("aws lock");
        if let Some(u) = aws
            .regions
            .get_mut(&region_name)
            .and_then(|r| r.users.get_mut(&id))
            && u.incarnation == incarnation
        {
            u.status = "active";
        }
    });
    Ok(out)
}

pub fn delete_user(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let raw_id = p.required("UserId")?;
    let provisioned = ctx.shared.provisioning(crate::config::Transition::Delete);
    let (out, id, incarnation) = ctx.with_region(|region| {
        let (id, name) = {
            let u = active_user(region, raw_id, "deleted")?;
            (u.id.clone(), u.spec.name.clone())
        };
        if name == "default" && !region.groups_of_user(&id).is_empty() {
            return Err(AwsError::new(
                "DefaultUserAssociatedToUserGroup",
                400,
                format!(
                    "User {id} is the default user of a user group; remove it from the group first."
                ),
            ));
        }
        let out = {
            let u = region.users.get(&id).expect("user exists");
            let mut x = user_xml(region, u);
            x[2] = El::text("Status", "deleting");
            x
        };
        let u = region.users.get_mut(&id).expect("user exists");
        u.status = "deleting";
        Ok::<_, AwsError>((out, id, u.incarnation))
    })?;
    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        let updates = {
            let mut aws = shared.aws.lock().expect("aws lock");
            let Some(region) = aws.regions.get_mut(&region_name) else {
                return;
            };
            if region
                .users
                .get(&id)
                .is_none_or(|u| u.incarnation != incarnation)
            {
                return;
            }
            region.users.remove(&id);
            for g in region.groups.values_mut() {
                g.user_ids.retain(|u| *u != id);
            }
            acl_updates(region)
        };
        apply_acls(&shared, updates).await;
    });
    Ok(out)
}

/// Checks a prospective group membership: users exist, names are unique, the default user rule.
fn check_members(region: &Region, engine: Engine, ids: &[String]) -> Result<(), AwsError> {
    if ids.len() > MAX_USERS_PER_GROUP {
        return Err(AwsError::invalid_value(format!(
            "A user group can have at most {MAX_USERS_PER_GROUP} users."
        )));
    }
    let mut names: Vec<&str> = Vec::new();
    for id in ids {
        let u = region
            .users
            .get(id)
            .ok_or_else(|| AwsError::user_not_found(id))?;
        if u.status == "deleting" {
            return Err(AwsError::new(
                "InvalidUserState",
                400,
                format!("User {id} is not in active state."),
            ));
        }
        if names.contains(&u.spec.name.as_str()) {
            return Err(AwsError::new(
                "DuplicateUserName",
                400,
                format!(
                    "More than one user in the group has the user name {}.",
                    u.spec.name
                ),
            ));
        }
        if engine == Engine::Valkey && u.spec.auth == UserAuth::NoPassword {
            return Err(AwsError::invalid_value(format!(
                "User {id} has no password; valkey user groups accept only password or IAM users."
            )));
        }
        names.push(&u.spec.name);
    }
    if engine == Engine::Redis && !names.contains(&"default") {
        return Err(AwsError::new(
            "DefaultUserRequired",
            400,
            "A user group for the redis engine must contain a user with the user name default.",
        ));
    }
    Ok(())
}

fn group_xml(region: &Region, g: &UserGroup) -> Vec<El> {
    let mut f = g.xml_fields(&region.rgs_of_group(&g.id));
    f.push(El::list(
        "ServerlessCaches",
        "member",
        region.serverless.caches_of_group(&g.id),
    ));
    f
}

pub fn create_user_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let id = model::resource_id("UserGroupId", p.required("UserGroupId")?)?;
    let engine = Engine::parse(p.required("Engine")?)?;
    let user_ids: Vec<String> = match p.list("UserIds", "member") {
        Some(ids) if ids.is_empty() => {
            return Err(AwsError::invalid_value(
                "UserIds must contain at least one user.",
            ));
        }
        Some(ids) => ids.iter().map(|u| u.to_ascii_lowercase()).collect(),
        None => Vec::new(),
    };
    let tag_list = tags(p)?;
    let incarnation = ctx.shared.next_id();
    let provisioned = ctx.shared.provisioning(crate::config::Transition::Create);
    let out = ctx.with_region(|region| {
        if region.groups.contains_key(&id) {
            return Err(AwsError::new(
                "UserGroupAlreadyExists",
                400,
                format!("User group {id} already exists."),
            ));
        }
        if region.groups.len() >= MAX_USER_GROUPS {
            return Err(AwsError::new(
                "UserGroupQuotaExceeded",
                400,
                format!("At most {MAX_USER_GROUPS} user groups per region."),
            ));
        }
        check_members(region, engine, &user_ids)?;
        let g = UserGroup {
            id: id.clone(),
            arn: ctx.arn("usergroup", &id),
            status: "creating",
            engine,
            user_ids,
            pending: None,
            tags: tag_list,
            incarnation,
        };
        let out = group_xml(region, &g);
        region.groups.insert(id.clone(), g);
        Ok(out)
    })?;
    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        let mut aws = shared.aws.lock().expect("aws lock");
        if let Some(g) = aws
            .regions
            .get_mut(&region_name)
            .and_then(|r| r.groups.get_mut(&id))
            && g.incarnation == incarnation
            && g.status == "creating"
        {
            g.status = "active";
        }
    });
    Ok(out)
}

pub fn describe_user_groups(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let (size, after) = page_args(p, 100)?;
    ctx.with_region(|region| {
        if let Some(id) = p.get("UserGroupId") {
            let id = id.to_ascii_lowercase();
            let g = region
                .groups
                .get(&id)
                .ok_or_else(|| AwsError::user_group_not_found(&id))?;
            return Ok(vec![El::node(
                "UserGroups",
                vec![El::node("member", group_xml(region, g))],
            )]);
        }
        let (page, next) = paged(&region.groups, after.as_deref(), size, |_| true);
        let members = page
            .into_iter()
            .map(|g| El::node("member", group_xml(region, g)))
            .collect();
        let mut out = vec![El::node("UserGroups", members)];
        if let Some(m) = next {
            out.push(El::text("Marker", m));
        }
        Ok(out)
    })
}

fn active_group<'a>(region: &'a mut Region, p: &Params) -> Result<&'a mut UserGroup, AwsError> {
    let id = p.required("UserGroupId")?.to_ascii_lowercase();
    let g = region
        .groups
        .get_mut(&id)
        .ok_or_else(|| AwsError::user_group_not_found(&id))?;
    if g.status != "active" {
        return Err(AwsError::new(
            "InvalidUserGroupState",
            400,
            format!("User group {id} is not in active state."),
        ));
    }
    Ok(g)
}

pub fn modify_user_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let lower = |v: Option<Vec<String>>| {
        v.map(|ids| {
            ids.iter()
                .map(|u| u.to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
    };
    let add = lower(p.list("UserIdsToAdd", "member"));
    let remove = lower(p.list("UserIdsToRemove", "member"));
    if add.as_ref().is_some_and(Vec::is_empty) || remove.as_ref().is_some_and(Vec::is_empty) {
        return Err(AwsError::invalid_value(
            "UserIdsToAdd and UserIdsToRemove must name at least one user when given.",
        ));
    }
    let (add, remove) = (add.unwrap_or_default(), remove.unwrap_or_default());
    if let Some(e) = p.get("Engine") {
        Engine::parse(e)?;
    }
    if add.is_empty() && remove.is_empty() {
        return Err(AwsError::invalid_combination(
            "No modifications were requested.",
        ));
    }
    let provisioned = ctx.shared.provisioning(crate::config::Transition::Modify);
    let (out, id, incarnation) = ctx.with_region(|region| {
        let (id, engine, mut members) = {
            let g = active_group(region, p)?;
            (g.id.clone(), g.engine, g.user_ids.clone())
        };
        for u in &remove {
            if !members.contains(u) {
                return Err(AwsError::invalid_value(format!(
                    "User {u} is not a member of user group {id}."
                )));
            }
            members.retain(|m| m != u);
        }
        for u in &add {
            if members.contains(u) {
                return Err(AwsError::invalid_value(format!(
                    "User {u} is already a member of user group {id}."
                )));
            }
            members.push(u.clone());
        }
        check_members(region, engine, &members)?;
        let g = region.groups.get_mut(&id).expect("group exists");
        g.status = "modifying";
        g.pending = Some((add.clone(), remove.clone()));
        let incarnation = g.incarnation;
        let g = region.groups.get(&id).expect("group exists");
        Ok::<_, AwsError>((group_xml(region, g), id, incarnation))
    })?;
    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        let updates = {
            let mut aws = shared.aws.lock().expect("aws lock");
            let Some(region) = aws.regions.get_mut(&region_name) else {
                return;
            };
            let Some(g) = region
                .groups
                .get_mut(&id)
                .filter(|g| g.incarnation == incarnation && g.status == "modifying")
            else {
                return;
            };
            if let Some((add, remove)) = g.pending.take() {
                g.user_ids.retain(|u| !remove.contains(u));
                for u in add {
                    if !g.user_ids.contains(&u) {
                        g.user_ids.push(u);
                    }
                }
            }
            acl_updates(region)
        };
        apply_acls(&shared, updates).await;
        let mut aws = shared.aws.lock().expect("aws lock");
        if let Some(g) = aws
            .regions
            .get_mut(&region_name)
            .and_then(|r| r.groups.get_mut(&id))
            && g.incarnation == incarnation
        {
            g.status = "active";
        }
    });
    Ok(out)
}

pub fn delete_user_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let provisioned = ctx.shared.provisioning(crate::config::Transition::Delete);
    let (out, id, incarnation) = ctx.with_region(|region| {
        let id = active_group(region, p)?.id.clone();
        let mut attached = region.rgs_of_group(&id);
        attached.extend(region.serverless.caches_of_group(&id));
        if !attached.is_empty() {
            return Err(AwsError::new(
                "InvalidUserGroupState",
                400,
                format!("User group {id} is associated with replication group(s) or serverless cache(s) {}; disassociate it first.", attached.join(", ")),
            ));
        }
        let g = region.groups.get_mut(&id).expect("group exists");
        g.status = "deleting";
        let incarnation = g.incarnation;
        let g = region.groups.get(&id).expect("group exists");
        Ok::<_, AwsError>((group_xml(region, g), id, incarnation))
    })?;
    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        let mut aws = shared.aws.lock().expect("aws lock");
        if let Some(region) = aws.regions.get_mut(&region_name)
            && region
                .groups
                .get(&id)
                .is_some_and(|g| g.incarnation == incarnation)
        {
            region.groups.remove(&id);
        }
    });
    Ok(out)
}

/// The tag list of the resource an ARN names.
fn tagged<'a>(ctx: &Ctx, region: &'a mut Region, arn: &str) -> Result<&'a mut Tags, AwsError> {
    let invalid = || AwsError::new("InvalidARN", 400, format!("Invalid ARN: {arn}"));
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let [
        "arn",
        partition,
        "elasticache",
        arn_region,
        account,
        kind,
        id,
    ] = parts.as_slice()
    else {
        return Err(invalid());
    };
    if !partition.starts_with("aws") || *arn_region != ctx.region {
        return Err(invalid());
    }
    let foreign = *account != ctx.account();
    let id = id.to_ascii_lowercase();
    match *kind {
        "replicationgroup" => {
            let rg = region
                .rgs
                .get_mut(&id)
                .filter(|_| !foreign)
                .ok_or_else(|| AwsError::rg_not_found(&id))?;
            // The model: "If the cluster is not in the available state, ListTagsForResource
            // returns an error" (InvalidReplicationGroupState, also listed for Add/Remove).
            if rg.status != "available" {
                return Err(AwsError::rg_state(&id, rg.status));
            }
            Ok(&mut rg.tags)
        }
        "user" => region
            .users
            .get_mut(&id)
            .filter(|_| !foreign)
            .map(|u| &mut u.tags)
            .ok_or_else(|| AwsError::user_not_found(&id)),
        "usergroup" => region
            .groups
            .get_mut(&id)
            .filter(|_| !foreign)
            .map(|g| &mut g.tags)
            .ok_or_else(|| AwsError::user_group_not_found(&id)),
        "serverlesscache" if !foreign => super::serverless::tags_of(region, &id),
        "serverlesscachesnapshot" if !foreign => super::serverless_snapshots::tags_of(region, &id),
        "serverlesscache" => Err(super::serverless::not_found(&id)),
        "serverlesscachesnapshot" => Err(super::serverless_snapshots::not_found(&id)),
        "parametergroup" => region
            .parameter_groups
            .get_mut(&id)
            .filter(|_| !foreign)
            .map(|g| &mut g.tags)
            .ok_or_else(|| AwsError::parameter_group_not_found(&id)),
        "subnetgroup" => region
            .subnet_groups
            .get_mut(&id)
            .filter(|_| !foreign)
            .map(|g| &mut g.tags)
            .ok_or_else(|| AwsError::subnet_group_not_found(&id)),
        "snapshot" => region
            .snapshots
            .get_mut(&id)
            .filter(|_| !foreign)
            .map(|s| &mut s.tags)
            .ok_or_else(|| {
                AwsError::new(
                    "SnapshotNotFoundFault",
                    404,
                    format!("Snapshot {id} not found."),
                )
            }),
        "cluster" => Err(AwsError::new(
            "CacheClusterNotFound",
            404,
            format!("CacheCluster {id} not found."),
        )),
        _ => Err(invalid()),
    }
}

pub fn list_tags(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let arn = p.required("ResourceName")?;
    ctx.with_region(|region| Ok(vec![tags_xml(tagged(ctx, region, arn)?)]))
}

pub fn add_tags(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let arn = p.required("ResourceName")?;
    let new = tags(p)?;
    if new.is_empty() {
        return Err(AwsError::missing("Tags"));
    }
    ctx.with_region(|region| {
        let t = tagged(ctx, region, arn)?;
        let mut merged = t.clone();
        for (k, v) in new {
            match merged.iter_mut().find(|(ek, _)| *ek == k) {
                Some(e) => e.1 = v,
                None => merged.push((k, v)),
            }
        }
        if merged.len() > MAX_TAGS {
            return Err(AwsError::new(
                "TagQuotaPerResourceExceeded",
                400,
                format!("A resource can have at most {MAX_TAGS} tags."),
            ));
        }
        *t = merged;
        Ok(vec![tags_xml(t)])
    })
}

pub fn remove_tags(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let arn = p.required("ResourceName")?;
    let keys = p
        .list("TagKeys", "member")
        .ok_or_else(|| AwsError::missing("TagKeys"))?;
    ctx.with_region(|region| {
        let t = tagged(ctx, region, arn)?;
        if let Some(k) = keys.iter().find(|k| !t.iter().any(|(ek, _)| ek == *k)) {
            return Err(AwsError::new(
                "TagNotFound",
                404,
                format!("Tag with key {k} not found."),
            ));
        }
        t.retain(|(k, _)| !keys.contains(k));
        Ok(vec![tags_xml(t)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_windows_are_found_between_two_instants() {
        // 2024-04-01 is a Monday.
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let w = "tue:03:00-tue:04:00";
        assert!(window_starts_between(
            w,
            t("2024-04-01T12:00:00Z"),
            t("2024-04-02T03:00:00Z")
        ));
        assert!(!window_starts_between(
            w,
            t("2024-04-01T12:00:00Z"),
            t("2024-04-02T02:59:00Z")
        ));
        assert!(!window_starts_between(
            w,
            t("2024-04-02T03:00:00Z"),
            t("2024-04-08T00:00:00Z")
        ));
        assert!(window_starts_between(
            w,
            t("2024-04-02T03:00:00Z"),
            t("2024-04-09T03:00:00Z")
        ));
        assert!(window_starts_between(
            "sun:23:30-mon:00:30",
            t("2024-04-06T00:00:00Z"),
            t("2024-04-07T23:30:00Z")
        ));
        assert!(!window_starts_between(
            "bogus",
            t("2024-04-01T00:00:00Z"),
            t("2024-04-02T00:00:00Z")
        ));
    }
}
