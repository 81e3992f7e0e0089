//! ElastiCache Global Datastore: global replication groups, their members across the regions of
//! the account, and the rules the member replication groups follow while they belong to one.
//!
//! A global replication group is an account-wide resource (its ARN has no region): it is found
//! from any region. Its ID is the suffix a client gives behind the five-letter prefix of the
//! region it was created in. The primary's settings (engine, node type, shards, encryption) are
//! the group's; a secondary is created with `CreateReplicationGroup` + `GlobalReplicationGroupId`
//! in another region and inherits them. Its redis-server follows the primary's (see the data
//! plane's replication links) and is read-only until it is promoted or leaves the group.

use std::collections::BTreeMap;
use std::time::Duration;

use super::AwsState;
use super::actions::{self, Ctx, MAX_SHARDS, key};
use super::common::page_args;
use super::engine;
use super::error::AwsError;
use super::model::{self, ClusterMode, Engine, RgSpec, Shard};
use super::params::Params;
use super::xml::El;
use crate::util::{page_start, paginate};

/// A primary replicates to secondaries in at most two other regions.
const MAX_SECONDARIES: usize = 2;
/// How long a planned failover waits for the promoted secondary to apply the primary's writes.
const CATCH_UP: Duration = Duration::from_secs(5);

/// Each region's prefix of the global datastore IDs created there (the ElastiCache user guide,
/// "Using global datastores (CLI)"). Regions not listed do not offer Global Datastore here.
const PREFIXES: &[(&str, &str)] = &[
    ("us-east-2", "fpkhr"),
    ("us-east-1", "ldgnf"),
    ("us-west-1", "virxk"),
    ("us-west-2", "sgaui"),
    ("ca-central-1", "bxodz"),
    ("ap-south-1", "erpgt"),
    ("ap-northeast-1", "quwsw"),
    ("ap-northeast-2", "lfqnh"),
    ("ap-northeast-3", "nlapn"),
    ("ap-southeast-1", "vlqxn"),
    ("ap-southeast-2", "vbgxd"),
    ("eu-central-1", "iudkw"),
    ("eu-west-1", "gxeiz"),
    ("eu-west-2", "okuqm"),
    ("eu-west-3", "fgjhi"),
    ("sa-east-1", "juxlw"),
    ("cn-north-1", "emvgo"),
    ("cn-northwest-1", "ckbem"),
    ("ap-east-1", "knjmp"),
];

/// Node families a global datastore runs on (all their sizes are large or above).
const NODE_FAMILIES: &[&str] = &[
    "cache.m5.",
    "cache.m6g.",
    "cache.m7g.",
    "cache.r5.",
    "cache.r6g.",
    "cache.r6gd.",
    "cache.r7g.",
    "cache.c7gn.",
];

/// Parameters a secondary inherits from the primary, which its `CreateReplicationGroup` may not
/// name.
const INHERITED: &[&str] = &[
    "AutomaticFailoverEnabled",
    "CacheNodeType",
    "Engine",
    "EngineVersion",
    "CacheParameterGroupName",
    "NumNodeGroups",
    "ClusterMode",
    "TransitEncryptionEnabled",
    "TransitEncryptionMode",
    "AtRestEncryptionEnabled",
    "DataTieringEnabled",
    "SnapshotName",
    "SnapshotArns",
    "CacheSecurityGroupNames",
];

/// Settings of a member replication group that only the global datastore changes.
const GLOBAL_SETTINGS: &[&str] = &[
    "CacheNodeType",
    "Engine",
    "EngineVersion",
    "CacheParameterGroupName",
    "AutomaticFailoverEnabled",
    "ClusterMode",
    "TransitEncryptionEnabled",
    "TransitEncryptionMode",
    "AutoMinorVersionUpgrade",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Secondary,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "PRIMARY",
            Role::Secondary => "SECONDARY",
        }
    }
}

/// A replication group's membership: its `GlobalReplicationGroupInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalInfo {
    pub id: String,
    pub role: Role,
}

impl GlobalInfo {
    pub fn xml(&self) -> El {
        El::node(
            "GlobalReplicationGroupInfo",
            vec![
                El::text("GlobalReplicationGroupId", &self.id),
                El::text("GlobalReplicationGroupMemberRole", self.role.as_str()),
            ],
        )
    }
}

#[derive(Debug, Clone)]
pub struct Member {
    pub rg_id: String,
    pub region: String,
    pub role: Role,
    /// `associating`, `associated`, `disassociating`.
    pub status: &'static str,
}

#[derive(Debug, Clone)]
pub struct GlobalGroup {
    pub id: String,
    pub arn: String,
    pub description: String,
    /// `creating`, `primary-only`, `available`, `modifying`, `deleting`.
    pub status: &'static str,
    pub members: Vec<Member>,
    pub incarnation: u64,
}

impl GlobalGroup {
    fn primary(&self) -> &Member {
        self.members
            .iter()
            .find(|m| m.role == Role::Primary)
            .expect("a global datastore always has its primary")
    }

    fn secondaries(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.role == Role::Secondary)
    }

    /// The state the group rests in: `available` with secondaries, else `primary-only`.
    fn steady(&self) -> &'static str {
        if self.secondaries().next().is_some() {
            "available"
        } else {
            "primary-only"
        }
    }

    fn member_mut(&mut self, rg_id: &str, region: &str) -> Option<&mut Member> {
        self.members
            .iter_mut()
            .find(|m| m.rg_id == rg_id && m.region == region)
    }
}

/// Every global datastore of the account.
#[derive(Debug, Default)]
pub struct GlobalState {
    pub groups: BTreeMap<String, GlobalGroup>,
}

fn not_found(id: &str) -> AwsError {
    AwsError::new(
        "GlobalReplicationGroupNotFoundFault",
        404,
        format!("GlobalReplicationGroup {id} not found."),
    )
}

fn bad_state(g: &GlobalGroup, why: &str) -> AwsError {
    AwsError::new(
        "InvalidGlobalReplicationGroupState",
        400,
        format!("Global datastore {} is in state {}: {why}", g.id, g.status),
    )
}

/// The refusal of a change a member replication group leaves to its global datastore.
fn member_refusal(rg_id: &str, global_id: &str) -> AwsError {
    AwsError::invalid_value(format!(
        "Cluster [{rg_id}] is part of a global cluster [{global_id}]. Request rejected."
    ))
}

fn prefix(region: &str) -> Result<&'static str, AwsError> {
    PREFIXES
        .iter()
        .find(|(r, _)| *r == region)
        .map(|(_, p)| *p)
        .ok_or_else(|| {
            AwsError::invalid_value(format!(
                "Global datastores are not supported in region {region}."
            ))
        })
}

/// Whether replication between the two regions is possible: the China regions replicate only
/// with each other.
fn regions_pair(a: &str, b: &str) -> bool {
    a.starts_with("cn-") == b.starts_with("cn-")
}

/// Checks what a primary must run: a supported node family, and Redis OSS 5.0.6 or later (any
/// Valkey).
fn supported(spec: &RgSpec) -> Result<(), AwsError> {
    if !NODE_FAMILIES.iter().any(|f| spec.node_type.starts_with(f)) {
        return Err(AwsError::invalid_value(format!(
            "Node type {} is not supported for global datastores: use the M5, M6g, M7g, R5, R6g, R6gd, R7g or C7gn families, size large or above.",
            spec.node_type
        )));
    }
    if spec.engine == Engine::Redis && spec.release().family == "redis4.0" {
        return Err(AwsError::invalid_value(format!(
            "Engine version {} is not supported for global datastores: use Redis OSS 5.0.6 or later, or Valkey.",
            spec.engine_version
        )));
    }
    Ok(())
}

/// A global datastore ID suffix: letters, digits and hyphens, starting with a letter, no `--`,
/// no trailing `-` (the rule of replication group IDs); stored lowercase.
fn suffix(raw: &str) -> Result<String, AwsError> {
    let b = raw.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 40
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && !raw.contains("--")
        && !raw.ends_with('-');
    if ok {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(AwsError::invalid_value(format!(
            "The parameter GlobalReplicationGroupIdSuffix is not a valid identifier: it must begin with a letter, contain only ASCII letters, digits and hyphens, be at most 40 characters, and not end with a hyphen or contain two consecutive hyphens. Got {raw:?}."
        )))
    }
}

fn with_aws<T>(ctx: &Ctx, f: impl FnOnce(&mut AwsState) -> T) -> T {
    let mut aws = ctx.shared.aws.lock().expect("aws lock");
    f(&mut aws)
}

fn rg_mut<'a>(
    aws: &'a mut AwsState,
    region: &str,
    id: &str,
) -> Option<&'a mut model::ReplicationGroup> {
    aws.regions.get_mut(region)?.rgs.get_mut(id)
}

fn automatic_failover(spec: &RgSpec, pending: Option<&RgSpec>) -> &'static str {
    match (
        spec.automatic_failover,
        pending.map(|p| p.automatic_failover),
    ) {
        (false, Some(true)) => "enabling",
        (true, Some(false)) => "disabling",
        (true, _) => "enabled",
        (false, _) => "disabled",
    }
}

/// The `<GlobalReplicationGroup>` children; the members with `members` (what `ShowMemberInfo`
/// asks for).
fn group_xml(aws: &AwsState, g: &GlobalGroup, members: bool) -> El {
    let p = g.primary();
    let primary = aws.regions.get(&p.region).and_then(|r| r.rgs.get(&p.rg_id));
    let mut f = vec![
        El::text("GlobalReplicationGroupId", &g.id),
        El::text("GlobalReplicationGroupDescription", &g.description),
        El::text("Status", g.status),
    ];
    if let Some(rg) = primary {
        let s = &rg.spec;
        f.push(El::text("CacheNodeType", &s.node_type));
        f.push(El::text("Engine", s.engine.as_str()));
        f.push(El::text("EngineVersion", s.release().reported));
    }
    if members {
        let mut list: Vec<&Member> = g.members.iter().collect();
        list.sort_by(|a, b| a.region.cmp(&b.region));
        let items = list
            .into_iter()
            .map(|m| {
                let rg = aws.regions.get(&m.region).and_then(|r| r.rgs.get(&m.rg_id));
                let mut e = vec![
                    El::text("ReplicationGroupId", &m.rg_id),
                    El::text("ReplicationGroupRegion", &m.region),
                    El::text("Role", m.role.as_str()),
                ];
                if let Some(rg) = rg {
                    e.push(El::text(
                        "AutomaticFailover",
                        automatic_failover(&rg.spec, rg.pending.as_ref()),
                    ));
                }
                e.push(El::text("Status", m.status));
                El::node("GlobalReplicationGroupMember", e)
            })
            .collect();
        f.push(El::node("Members", items));
    }
    if let Some(rg) = primary {
        let s = &rg.spec;
        f.push(El::text("ClusterEnabled", s.cluster_enabled()));
        if s.cluster_enabled() {
            let n = s.shards.len();
            let groups = s
                .shards
                .iter()
                .enumerate()
                .map(|(i, sh)| {
                    El::node(
                        "GlobalNodeGroup",
                        vec![
                            El::text("GlobalNodeGroupId", format!("{}-{:04}", g.id, sh.id)),
                            El::text("Slots", RgSpec::slots(i, n)),
                        ],
                    )
                })
                .collect();
            f.push(El::node("GlobalNodeGroups", groups));
        }
        f.push(El::text("AuthTokenEnabled", !s.auth_tokens.is_empty()));
        f.push(El::text("TransitEncryptionEnabled", s.transit.is_some()));
        f.push(El::text("AtRestEncryptionEnabled", s.at_rest_encryption));
    }
    f.push(El::text("ARN", &g.arn));
    El::node("GlobalReplicationGroup", f)
}

fn lookup<'a>(aws: &'a mut AwsState, p: &Params) -> Result<&'a mut GlobalGroup, AwsError> {
    let id = p.required("GlobalReplicationGroupId")?.to_ascii_lowercase();
    aws.global.groups.get_mut(&id).ok_or_else(|| not_found(&id))
}

/// The group must rest (`available` or `primary-only`) with every member associated and every
/// member replication group available.
fn settled(aws: &AwsState, g: &GlobalGroup) -> Result<(), AwsError> {
    if !matches!(g.status, "available" | "primary-only") {
        return Err(bad_state(g, "it must be available or primary-only."));
    }
    for m in &g.members {
        if m.status != "associated" {
            return Err(bad_state(
                g,
                &format!("member {} in {} is {}.", m.rg_id, m.region, m.status),
            ));
        }
        let status = aws
            .regions
            .get(&m.region)
            .and_then(|r| r.rgs.get(&m.rg_id))
            .map_or("missing", |rg| rg.status);
        if status != "available" {
            return Err(AwsError::rg_state(&m.rg_id, status));
        }
    }
    Ok(())
}

fn require_apply_immediately(p: &Params, why: &str) -> Result<(), AwsError> {
    match p.bool("ApplyImmediately")? {
        None => Err(AwsError::missing("ApplyImmediately")),
        Some(false) => Err(AwsError::invalid_value(why.to_owned())),
        Some(true) => Ok(()),
    }
}

pub fn create(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let suffix = suffix(p.required("GlobalReplicationGroupIdSuffix")?)?;
    let primary_id = p
        .required("PrimaryReplicationGroupId")?
        .to_ascii_lowercase();
    let description = match p.get("GlobalReplicationGroupDescription") {
        None | Some("") => " ".to_owned(),
        Some(d) if d.len() > 255 => {
            return Err(AwsError::invalid_value(
                "GlobalReplicationGroupDescription must be at most 255 characters.",
            ));
        }
        Some(d) => d.to_owned(),
    };
    let id = format!("{}-{suffix}", prefix(ctx.region)?);
    let arn = format!(
        "arn:aws:elasticache::{}:globalreplicationgroup:{id}",
        ctx.shared.config.aws_account_id.as_str()
    );
    let incarnation = ctx.shared.next_id();
    let provisioned = ctx.shared.provisioning(crate::config::Transition::Create);
    let rendered = with_aws(ctx, |aws| {
        if aws.global.groups.contains_key(&id) {
            return Err(AwsError::new(
                "GlobalReplicationGroupAlreadyExistsFault",
                400,
                format!("Global datastore {id} already exists."),
            ));
        }
        let rg = aws
            .regions
            .get_mut(ctx.region)
            .and_then(|r| r.rgs.get_mut(&primary_id))
            .ok_or_else(|| AwsError::rg_not_found(&primary_id))?;
        if rg.status != "available" {
            return Err(AwsError::rg_state(&primary_id, rg.status));
        }
        if let Some(g) = &rg.global {
            return Err(AwsError::invalid_value(format!(
                "Replication group {primary_id} is already a member of global datastore {}.",
                g.id
            )));
        }
        supported(&rg.spec)?;
        rg.global = Some(GlobalInfo {
            id: id.clone(),
            role: Role::Primary,
        });
        let g = GlobalGroup {
            id: id.clone(),
            arn,
            description,
            status: "creating",
            members: vec![Member {
                rg_id: primary_id.clone(),
                region: ctx.region.to_owned(),
                role: Role::Primary,
                status: "associating",
            }],
            incarnation,
        };
        let rendered = group_xml(aws, &g, true);
        aws.global.groups.insert(id.clone(), g);
        Ok(rendered)
    })?;
    tracing::info!(global_replication_group = %id, primary = %primary_id, "global datastore creating");
    let shared = ctx.shared.clone();
    tokio::spawn(async move {
        provisioned.await;
        let mut aws = shared.aws.lock().expect("aws lock");
        if let Some(g) = aws.global.groups.get_mut(&id)
            && g.incarnation == incarnation
            && g.status == "creating"
        {
            for m in &mut g.members {
                m.status = "associated";
            }
            g.status = g.steady();
        }
    });
    Ok(vec![rendered])
}

pub fn describe(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let (size, after) = page_args(p, 100)?;
    let show = p.bool("ShowMemberInfo")?.unwrap_or(false);
    with_aws(ctx, |aws| {
        if let Some(id) = p.get("GlobalReplicationGroupId") {
            let id = id.to_ascii_lowercase();
            let g = aws.global.groups.get(&id).ok_or_else(|| not_found(&id))?;
            return Ok(vec![El::node(
                "GlobalReplicationGroups",
                vec![group_xml(aws, g, show)],
            )]);
        }
        let items = aws
            .global
            .groups
            .range(page_start("", after.as_deref())..)
            .map(|(k, g)| (k.clone(), g));
        let (page, next) = paginate(items, after.as_deref(), size);
        let mut out = Vec::new();
        if let Some(m) = next {
            out.push(El::text("Marker", m));
        }
        out.push(El::node(
            "GlobalReplicationGroups",
            page.into_iter().map(|g| group_xml(aws, g, show)).collect(),
        ));
        Ok(out)
    })
}

/// Puts every member replication group in `modifying` towards `next(member spec)`, and the group
/// in `modifying`; after the provisioning delay each member gets its new spec and all rest again.
fn change_members(
    ctx: &Ctx,
    aws: &mut AwsState,
    gid: &str,
    next: impl Fn(&RgSpec) -> Result<RgSpec, AwsError>,
) -> Result<(), AwsError> {
    let g = aws.global.groups.get(gid).ok_or_else(|| not_found(gid))?;
    let members: Vec<(String, String)> = g
        .members
        .iter()
        .map(|m| (m.region.clone(), m.rg_id.clone()))
        .collect();
    let incarnation = g.incarnation;
    // Check every member first: nothing changes unless all can.
    let mut specs = Vec::new();
    for (region, id) in &members {
        let rg = rg_mut(aws, region, id).ok_or_else(|| AwsError::rg_not_found(id))?;
        specs.push(next(&rg.spec)?);
    }
    for ((region, id), spec) in members.iter().zip(specs) {
        let rg = rg_mut(aws, region, id).expect("checked above");
        rg.status = "modifying";
        rg.pending = Some(spec);
    }
    aws.global
        .groups
        .get_mut(gid)
        .expect("checked above")
        .status = "modifying";
    let shared = ctx.shared.clone();
    let gid = gid.to_owned();
    let provisioned = shared.provisioning(crate::config::Transition::Modify);
    tokio::spawn(async move {
        provisioned.await;
        let mut aws = shared.aws.lock().expect("aws lock");
        for (region, id) in &members {
            if let Some(rg) = rg_mut(&mut aws, region, id)
                && rg.status == "modifying"
                && let Some(spec) = rg.pending.take()
            {
                rg.spec = spec;
                rg.status = "available";
            }
        }
        if let Some(g) = aws.global.groups.get_mut(&gid)
            && g.incarnation == incarnation
            && g.status == "modifying"
        {
            g.status = g.steady();
        }
    });
    Ok(())
}

pub fn modify(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    require_apply_immediately(
        p,
        "Modifications to Global Replication Groups cannot be requested to be applied in PreferredMaintenceWindow: ApplyImmediately must be true.",
    )?;
    let fields = [
        p.has("CacheNodeType"),
        p.has("EngineVersion") || p.has("Engine") || p.has("CacheParameterGroupName"),
        p.has("AutomaticFailoverEnabled"),
        p.has("GlobalReplicationGroupDescription"),
    ];
    match fields.iter().filter(|f| **f).count() {
        0 => {
            return Err(AwsError::invalid_combination(
                "No modifications were requested.",
            ));
        }
        1 => {}
        _ => {
            return Err(AwsError::invalid_combination(
                "Only one of CacheNodeType, EngineVersion, AutomaticFailoverEnabled and GlobalReplicationGroupDescription can be modified per request.",
            ));
        }
    }
    with_aws(ctx, |aws| {
        let g = lookup(aws, p)?;
        let gid = g.id.clone();
        if let Some(d) = p.get("GlobalReplicationGroupDescription") {
            if d.len() > 255 {
                return Err(AwsError::invalid_value(
                    "GlobalReplicationGroupDescription must be at most 255 characters.",
                ));
            }
            if !matches!(g.status, "available" | "primary-only") {
                return Err(bad_state(g, "it must be available or primary-only."));
            }
            g.description = if d.is_empty() {
                " ".into()
            } else {
                d.to_owned()
            };
            let g = aws.global.groups.get(&gid).expect("exists");
            return Ok(vec![group_xml(aws, g, false)]);
        }
        let g = aws.global.groups.get(&gid).expect("exists");
        settled(aws, g)?;
        let primary = g.primary().clone();
        let current = aws.regions[&primary.region].rgs[&primary.rg_id]
            .spec
            .clone();
        if let Some(t) = p.get("CacheNodeType") {
            let t = model::node_type(t)?;
            if t == current.node_type {
                return Err(AwsError::invalid_combination(
                    "No modifications were requested.",
                ));
            }
            if t.starts_with("cache.r6gd.") != current.data_tiering {
                return Err(AwsError::invalid_combination(
                    "Data tiering node types cannot be mixed with other node types.",
                ));
            }
            supported(&RgSpec {
                node_type: t.clone(),
                ..current.clone()
            })?;
            change_members(ctx, aws, &gid, |s| {
                Ok(RgSpec {
                    node_type: t.clone(),
                    ..s.clone()
                })
            })?;
        } else if let Some(af) = p.bool("AutomaticFailoverEnabled")? {
            if af == current.automatic_failover {
                return Err(AwsError::invalid_combination(
                    "No modifications were requested.",
                ));
            }
            change_members(ctx, aws, &gid, |s| {
                if !af && s.cluster_enabled() {
                    return Err(AwsError::invalid_combination(
                        "Automatic failover cannot be disabled with cluster mode enabled.",
                    ));
                }
                if af && !s.cluster_enabled() && s.shards.first().is_some_and(|sh| sh.replicas == 0)
                {
                    return Err(AwsError::invalid_combination(
                        actions::FAILOVER_NEEDS_TWO_NODES,
                    ));
                }
                Ok(RgSpec {
                    automatic_failover: af,
                    multi_az: s.multi_az && af,
                    ..s.clone()
                })
            })?;
        } else {
            let version = p.get("EngineVersion").ok_or_else(|| {
                if p.has("CacheParameterGroupName") {
                    AwsError::invalid_value(
                        "ModifyGlobalReplicationGroup API does not support cache parameter group modification without a change in major engine version.",
                    )
                } else {
                    AwsError::invalid_combination("Engine must be given with EngineVersion.")
                }
            })?;
            let engine = p
                .get("Engine")
                .map(Engine::parse)
                .transpose()?
                .unwrap_or(current.engine);
            let from = current.release();
            let to = engine::release(engine, version)?;
            from.upgrade_to(&to)?;
            if to == from {
                return Err(AwsError::invalid_combination(
                    "No modifications were requested.",
                ));
            }
            let major = to.family != from.family;
            let named = p.get("CacheParameterGroupName").map(str::to_owned);
            if let Some(n) = &named {
                if !major {
                    return Err(AwsError::invalid_value(
                        "ModifyGlobalReplicationGroup API does not support cache parameter group modification without a change in major engine version.",
                    ));
                }
                // Every member uses the named group: each region must have it, of the new family.
                for m in &aws.global.groups[&gid].members {
                    let used = aws.regions[&m.region].parameter_group(n)?;
                    if used.family != to.family {
                        return Err(AwsError::invalid_combination(format!(
                            "Expected a parameter group of family {} but found one of family {}",
                            to.family, used.family
                        )));
                    }
                }
            }
            change_members(ctx, aws, &gid, |s| {
                let parameter_group = match (&named, major) {
                    (Some(n), _) => n.clone(),
                    (None, false) => s.parameter_group.clone(),
                    (None, true) => match engine::default_group_family(&s.parameter_group) {
                        Some(_) => engine::default_group(to.family, s.cluster_enabled()),
                        None => {
                            return Err(AwsError::invalid_combination(format!(
                                "Expected a parameter group of family {} but found one of family {}",
                                to.family, from.family
                            )));
                        }
                    },
                };
                Ok(RgSpec {
                    engine: to.engine,
                    engine_version: to.version.to_owned(),
                    parameter_group,
                    ..s.clone()
                })
            })?;
        }
        // The answer does not list the members (as the service's example shows).
        let g = aws.global.groups.get(&gid).expect("exists");
        Ok(vec![group_xml(aws, g, false)])
    })
}

fn cluster_enabled_group(aws: &AwsState, g: &GlobalGroup) -> Result<RgSpec, AwsError> {
    let p = g.primary();
    let spec = aws.regions[&p.region].rgs[&p.rg_id].spec.clone();
    if !spec.cluster_enabled() {
        return Err(AwsError::invalid_value(format!(
            "Global datastore {} has cluster mode disabled; node groups need cluster mode enabled.",
            g.id
        )));
    }
    Ok(spec)
}

/// Checks `RegionalConfigurations`: each names a member by replication group and region.
fn regional_configurations(p: &Params, g: &GlobalGroup) -> Result<(), AwsError> {
    for c in p.structs("RegionalConfigurations", "RegionalConfiguration") {
        let id = c.required("ReplicationGroupId")?.to_ascii_lowercase();
        let region = c.required("ReplicationGroupRegion")?;
        if !g
            .members
            .iter()
            .any(|m| m.rg_id == id && m.region == region)
        {
            return Err(AwsError::invalid_value(format!(
                "Replication group {id} in {region} is not a member of global datastore {}.",
                g.id
            )));
        }
    }
    Ok(())
}

pub fn increase_node_groups(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let count = p
        .int("NodeGroupCount")?
        .ok_or_else(|| AwsError::missing("NodeGroupCount"))?;
    require_apply_immediately(
        p,
        "ApplyImmediately=false is not supported for this operation; use true.",
    )?;
    with_aws(ctx, |aws| {
        let g = lookup(aws, p)?;
        let gid = g.id.clone();
        let g = aws.global.groups.get(&gid).expect("exists");
        settled(aws, g)?;
        let spec = cluster_enabled_group(aws, g)?;
        regional_configurations(p, g)?;
        let current = spec.shards.len() as i64;
        if count <= current {
            return Err(AwsError::invalid_value(format!(
                "NodeGroupCount {count} must be greater than the current number of node groups ({current})."
            )));
        }
        if count > MAX_SHARDS {
            return Err(AwsError::new(
                "NodeGroupsPerReplicationGroupQuotaExceeded",
                400,
                format!("NodeGroupCount must be between 1 and {MAX_SHARDS}."),
            ));
        }
        let mut ids: Vec<u16> = spec.shards.iter().map(|s| s.id).collect();
        let mut next = ids.iter().copied().max().unwrap_or(0);
        while (ids.len() as i64) < count {
            next += 1;
            ids.push(next);
        }
        change_members(ctx, aws, &gid, |s| Ok(with_shards(s, &ids)))?;
        let g = aws.global.groups.get(&gid).expect("exists");
        Ok(vec![group_xml(aws, g, true)])
    })
}

/// `s` with these node groups: kept ones as they are, new ones with the replica count of its
/// first.
fn with_shards(s: &RgSpec, ids: &[u16]) -> RgSpec {
    let replicas = s.shards.first().map_or(0, |sh| sh.replicas);
    let shards = ids
        .iter()
        .map(|id| {
            s.shards
                .iter()
                .find(|sh| sh.id == *id)
                .cloned()
                .unwrap_or(Shard { id: *id, replicas })
        })
        .collect();
    RgSpec {
        shards,
        ..s.clone()
    }
}

pub fn decrease_node_groups(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let count = p
        .int("NodeGroupCount")?
        .ok_or_else(|| AwsError::missing("NodeGroupCount"))?;
    require_apply_immediately(
        p,
        "ApplyImmediately=false is not supported for this operation; use true.",
    )?;
    with_aws(ctx, |aws| {
        let g = lookup(aws, p)?;
        let gid = g.id.clone();
        let g = aws.global.groups.get(&gid).expect("exists");
        settled(aws, g)?;
        let spec = cluster_enabled_group(aws, g)?;
        let current: Vec<u16> = spec.shards.iter().map(|s| s.id).collect();
        if count < 1 || count >= current.len() as i64 {
            return Err(AwsError::invalid_value(format!(
                "NodeGroupCount {count} must be at least 1 and less than the current number of node groups ({}).",
                current.len()
            )));
        }
        let parse = |ids: Vec<String>| -> Result<Vec<u16>, AwsError> {
            ids.iter()
                .map(|raw| {
                    raw.to_ascii_lowercase()
                        .strip_prefix(&format!("{gid}-"))
                        .and_then(|n| n.parse::<u16>().ok())
                        .filter(|n| current.contains(n))
                        .ok_or_else(|| {
                            AwsError::invalid_value(format!(
                                "Global node group {raw} does not exist in global datastore {gid}."
                            ))
                        })
                })
                .collect()
        };
        let keep: Vec<u16> = match (
            p.list("GlobalNodeGroupsToRemove", "GlobalNodeGroupId"),
            p.list("GlobalNodeGroupsToRetain", "GlobalNodeGroupId"),
        ) {
            (Some(remove), None) => {
                let remove = parse(remove)?;
                current
                    .iter()
                    .copied()
                    .filter(|id| !remove.contains(id))
                    .collect()
            }
            (None, Some(retain)) => {
                let retain = parse(retain)?;
                current
                    .iter()
                    .copied()
                    .filter(|id| retain.contains(id))
                    .collect()
            }
            _ => {
                return Err(AwsError::invalid_combination(
                    "Scaling in requires either GlobalNodeGroupsToRemove or GlobalNodeGroupsToRetain.",
                ));
            }
        };
        if keep.len() as i64 != count {
            return Err(AwsError::invalid_combination(format!(
                "The node groups to keep ({}) do not match NodeGroupCount {count}.",
                keep.len()
            )));
        }
        change_members(ctx, aws, &gid, |s| Ok(with_shards(s, &keep)))?;
        let g = aws.global.groups.get(&gid).expect("exists");
        Ok(vec![group_xml(aws, g, true)])
    })
}

pub fn rebalance_slots(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    require_apply_immediately(
        p,
        "ApplyImmediately=false is not supported for this operation; use true.",
    )?;
    with_aws(ctx, |aws| {
        let g = lookup(aws, p)?;
        let gid = g.id.clone();
        let g = aws.global.groups.get(&gid).expect("exists");
        settled(aws, g)?;
        cluster_enabled_group(aws, g)?;
        // Slots are always spread evenly here: the members only pass through `modifying`.
        change_members(ctx, aws, &gid, |s| Ok(s.clone()))?;
        let g = aws.global.groups.get(&gid).expect("exists");
        Ok(vec![group_xml(aws, g, true)])
    })
}

/// The member a request names by `ReplicationGroupId` and `ReplicationGroupRegion`.
fn named_member(
    g: &GlobalGroup,
    rg_id: &str,
    region: &str,
    id_param: &str,
    region_param: &str,
) -> Result<Member, AwsError> {
    let m = g.members.iter().find(|m| m.rg_id == rg_id).ok_or_else(|| {
        AwsError::invalid_value(format!(
            "{id_param} {rg_id} is not a member of global datastore {}.",
            g.id
        ))
    })?;
    if m.region != region {
        return Err(AwsError::invalid_combination(format!(
            "Replication group {rg_id} of global datastore {} is in {}, not in the {region_param} {region}.",
            g.id, m.region
        )));
    }
    Ok(m.clone())
}

pub fn failover(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let region = p.required("PrimaryRegion")?.to_owned();
    let rg_id = p
        .required("PrimaryReplicationGroupId")?
        .to_ascii_lowercase();
    let (rendered, gid, incarnation, old, new, others) = with_aws(ctx, |aws| {
        let g = lookup(aws, p)?;
        let gid = g.id.clone();
        if g.status != "available" {
            return Err(bad_state(
                g,
                "a failover needs the global datastore available, with a secondary.",
            ));
        }
        let target = named_member(
            g,
            &rg_id,
            &region,
            "PrimaryReplicationGroupId",
            "PrimaryRegion",
        )?;
        if target.role == Role::Primary {
            return Err(AwsError::invalid_value(format!(
                "Replication group {rg_id} is already the primary of global datastore {gid}."
            )));
        }
        let g = aws.global.groups.get(&gid).expect("exists");
        settled(aws, g)?;
        let old = g.primary().clone();
        let others: Vec<Member> = g
            .secondaries()
            .filter(|m| m.rg_id != target.rg_id || m.region != target.region)
            .cloned()
            .collect();
        let members: Vec<Member> = g.members.clone();
        let incarnation = g.incarnation;
        for m in &members {
            if let Some(rg) = rg_mut(aws, &m.region, &m.rg_id) {
                rg.status = "modifying";
            }
        }
        let g = aws.global.groups.get_mut(&gid).expect("exists");
        g.status = "modifying";
        let g = aws.global.groups.get(&gid).expect("exists");
        Ok((
            group_xml(aws, g, true),
            gid,
            incarnation,
            old,
            target,
            others,
        ))
    })?;
    tracing::info!(global_replication_group = %gid, from = %old.region, to = %new.region, "global datastore failing over");
    let shared = ctx.shared.clone();
    let provisioned = shared.provisioning(crate::config::Transition::Modify);
    tokio::spawn(async move {
        let dp = &shared.dataplane;
        let old_key = key(&old.region, &old.rg_id);
        let new_key = key(&new.region, &new.rg_id);
        // The old primary stops taking writes at once; the promoted one applies what it wrote.
        dp.set_read_only(&old_key, true).await;
        provisioned.await;
        if !dp.promote(&new_key, CATCH_UP).await && dp.enabled() {
            tracing::warn!(global_replication_group = %gid, "the promoted secondary had not caught up");
        }
        let followers: Vec<_> = std::iter::once(old_key)
            .chain(others.iter().map(|m| key(&m.region, &m.rg_id)))
            .collect();
        for f in &followers {
            dp.follow(f, &new_key).await;
        }
        for f in &followers {
            dp.synced(f).await;
        }
        let mut aws = shared.aws.lock().expect("aws lock");
        let Some(g) = aws
            .global
            .groups
            .get_mut(&gid)
            .filter(|g| g.incarnation == incarnation)
        else {
            return;
        };
        for m in &mut g.members {
            m.role = if m.rg_id == new.rg_id && m.region == new.region {
                Role::Primary
            } else {
                Role::Secondary
            };
        }
        g.status = g.steady();
        let members = g.members.clone();
        for m in members {
            if let Some(rg) = rg_mut(&mut aws, &m.region, &m.rg_id) {
                rg.global = Some(GlobalInfo {
                    id: gid.clone(),
                    role: m.role,
                });
                if rg.status == "modifying" {
                    rg.status = "available";
                }
            }
        }
        tracing::info!(global_replication_group = %gid, primary = %new.region, "global datastore failed over");
    });
    Ok(vec![rendered])
}

pub fn disassociate(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let rg_id = p.required("ReplicationGroupId")?.to_ascii_lowercase();
    let region = p.required("ReplicationGroupRegion")?.to_owned();
    let (rendered, gid, incarnation) = with_aws(ctx, |aws| {
        let g = lookup(aws, p)?;
        let gid = g.id.clone();
        let m = named_member(
            g,
            &rg_id,
            &region,
            "ReplicationGroupId",
            "ReplicationGroupRegion",
        )?;
        if m.role == Role::Primary {
            return Err(AwsError::invalid_value(format!(
                "Replication group {rg_id} is the primary of global datastore {gid}: a primary cannot be disassociated; delete the global datastore once it has no secondaries."
            )));
        }
        if g.status != "available" || m.status != "associated" {
            return Err(bad_state(
                g,
                "a secondary can be disassociated only while the global datastore is available.",
            ));
        }
        g.member_mut(&rg_id, &region).expect("found").status = "disassociating";
        g.status = "modifying";
        let incarnation = g.incarnation;
        let g = aws.global.groups.get(&gid).expect("exists");
        Ok::<_, AwsError>((group_xml(aws, g, true), gid, incarnation))
    })?;
    let shared = ctx.shared.clone();
    let provisioned = shared.provisioning(crate::config::Transition::Modify);
    tokio::spawn(async move {
        provisioned.await;
        // The secondary keeps its data and takes writes as a standalone group.
        shared.dataplane.unfollow(&key(&region, &rg_id)).await;
        let mut aws = shared.aws.lock().expect("aws lock");
        let Some(g) = aws
            .global
            .groups
            .get_mut(&gid)
            .filter(|g| g.incarnation == incarnation)
        else {
            return;
        };
        g.members.retain(|m| m.rg_id != rg_id || m.region != region);
        g.status = g.steady();
        if let Some(rg) = rg_mut(&mut aws, &region, &rg_id) {
            rg.global = None;
        }
        tracing::info!(global_replication_group = %gid, replication_group = %rg_id, %region, "secondary disassociated");
    });
    Ok(vec![rendered])
}

pub fn delete(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    match p.bool("RetainPrimaryReplicationGroup")? {
        None => return Err(AwsError::missing("RetainPrimaryReplicationGroup")),
        Some(false) => {
            return Err(AwsError::invalid_value(
                "RetainPrimaryReplicationGroup must be true: the primary cluster is never deleted with its global datastore; delete it once it has left.",
            ));
        }
        Some(true) => {}
    }
    let (rendered, gid, incarnation) = with_aws(ctx, |aws| {
        let g = lookup(aws, p)?;
        if g.secondaries().next().is_some() {
            return Err(bad_state(
                g,
                "it still has secondary clusters; disassociate them first.",
            ));
        }
        if g.status != "primary-only" {
            return Err(bad_state(g, "it must be primary-only to be deleted."));
        }
        g.status = "deleting";
        let (gid, incarnation) = (g.id.clone(), g.incarnation);
        let g = aws.global.groups.get(&gid).expect("exists");
        Ok::<_, AwsError>((group_xml(aws, g, true), gid, incarnation))
    })?;
    let shared = ctx.shared.clone();
    let provisioned = shared.provisioning(crate::config::Transition::Delete);
    tokio::spawn(async move {
        provisioned.await;
        let mut aws = shared.aws.lock().expect("aws lock");
        let Some(g) = aws
            .global
            .groups
            .remove(&gid)
            .filter(|g| g.incarnation == incarnation)
        else {
            return;
        };
        for m in &g.members {
            if let Some(rg) = rg_mut(&mut aws, &m.region, &m.rg_id) {
                rg.global = None;
            }
        }
        tracing::info!(global_replication_group = %gid, "global datastore deleted");
    });
    Ok(vec![rendered])
}

/// `CreateReplicationGroup`: with `GlobalReplicationGroupId`, a secondary in this region that
/// inherits the primary's settings and follows its data; otherwise an ordinary group.
pub fn create_replication_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let Some(gid) = p.get("GlobalReplicationGroupId") else {
        return actions::create_replication_group(ctx, p);
    };
    let gid = gid.to_ascii_lowercase();
    let rg_id = model::replication_group_id(p.required("ReplicationGroupId")?)?;
    if INHERITED.iter().any(|k| p.has(k)) {
        return Err(AwsError::invalid_combination(
            "Cannot use the given parameters when creating new replication group in an existing global replication group.",
        ));
    }
    let (params, primary) = with_aws(ctx, |aws| {
        let g = aws.global.groups.get(&gid).ok_or_else(|| not_found(&gid))?;
        if !matches!(g.status, "available" | "primary-only") {
            return Err(bad_state(
                g,
                "a secondary can join only while the global datastore is available or primary-only.",
            ));
        }
        prefix(ctx.region)?;
        let primary = g.primary().clone();
        if !regions_pair(&primary.region, ctx.region) {
            return Err(AwsError::invalid_value(format!(
                "Global datastore {gid} cannot replicate from {} to {}.",
                primary.region, ctx.region
            )));
        }
        if let Some(m) = g.members.iter().find(|m| m.region == ctx.region) {
            return Err(AwsError::invalid_value(format!(
                "Global datastore {gid} already has a member in {}: {}. A secondary must be in another region.",
                ctx.region, m.rg_id
            )));
        }
        if g.secondaries().count() >= MAX_SECONDARIES {
            return Err(AwsError::invalid_value(format!(
                "Global datastore {gid} already has {MAX_SECONDARIES} secondary clusters, the most it can have."
            )));
        }
        let spec = &aws.regions[&primary.region].rgs[&primary.rg_id].spec;
        let params = inherit(p, spec)?;
        let g = aws.global.groups.get_mut(&gid).expect("exists");
        g.members.push(Member {
            rg_id: rg_id.clone(),
            region: ctx.region.to_owned(),
            role: Role::Secondary,
            status: "associating",
        });
        g.status = "modifying";
        Ok((params, primary))
    })?;
    let created = actions::create_replication_group(ctx, &params);
    let joined = with_aws(ctx, |aws| {
        let rg = created
            .as_ref()
            .ok()
            .and_then(|_| rg_mut(aws, ctx.region, &rg_id))
            .map(|rg| {
                rg.global = Some(GlobalInfo {
                    id: gid.clone(),
                    role: Role::Secondary,
                });
                (rg.xml(), rg.incarnation)
            });
        if rg.is_none()
            && let Some(g) = aws.global.groups.get_mut(&gid)
        {
            // The create was refused: the place it held goes back.
            g.members
                .retain(|m| m.rg_id != rg_id || m.region != ctx.region);
            g.status = g.steady();
        }
        rg
    });
    created?;
    let (rendered, incarnation) = joined.ok_or_else(|| AwsError::rg_not_found(&rg_id))?;
    tokio::spawn(associate(
        ctx.shared.clone(),
        gid,
        ctx.region.to_owned(),
        rg_id,
        incarnation,
        primary,
    ));
    Ok(vec![rendered])
}

/// The request a secondary's creation amounts to: the client's own settings (replicas, network,
/// windows, users, tags) and everything else from the primary.
fn inherit(p: &Params, spec: &RgSpec) -> Result<Params, AwsError> {
    let mut q = p
        .clone()
        .with("Engine", spec.engine.as_str())
        .with("EngineVersion", &spec.engine_version)
        .with("CacheNodeType", &spec.node_type)
        .with("AutomaticFailoverEnabled", spec.automatic_failover)
        .with("AtRestEncryptionEnabled", spec.at_rest_encryption)
        .with("TransitEncryptionEnabled", spec.transit.is_some())
        .with("DataTieringEnabled", spec.data_tiering);
    if let Some(m) = spec.transit {
        q = q.with("TransitEncryptionMode", m.as_str());
    }
    if !p.has("MultiAZEnabled") {
        q = q.with("MultiAZEnabled", spec.multi_az);
    }
    let replicas = spec.shards.first().map_or(0, |s| s.replicas);
    let configured = p.structs("NodeGroupConfiguration", "NodeGroupConfiguration");
    if spec.cluster_enabled() {
        q = q.with("ClusterMode", ClusterMode::Enabled.as_str());
        if configured.is_empty() {
            q = q.with("NumNodeGroups", spec.shards.len());
        } else if configured.len() != spec.shards.len() {
            return Err(AwsError::invalid_combination(format!(
                "The secondary must have the primary's number of node groups ({}); NodeGroupConfiguration has {}.",
                spec.shards.len(),
                configured.len()
            )));
        }
        if !p.has("ReplicasPerNodeGroup") && configured.is_empty() {
            q = q.with("ReplicasPerNodeGroup", replicas);
        }
    } else {
        q = q.with("ClusterMode", spec.cluster_mode.as_str());
        if configured.len() > 1 {
            return Err(AwsError::invalid_combination(
                "The secondary of a global datastore with cluster mode disabled has one node group.",
            ));
        }
        if !p.has("NumCacheClusters") && !p.has("ReplicasPerNodeGroup") {
            q = q.with("NumCacheClusters", 1 + u32::from(replicas));
        }
    }
    Ok(q)
}

/// A new secondary joins once its replication group is available: its data becomes the
/// primary's and follows it; the member is then `associated`.
async fn associate(
    shared: std::sync::Arc<crate::sim::Shared>,
    gid: String,
    region: String,
    rg_id: String,
    incarnation: u64,
    primary: Member,
) {
    let secondary = key(&region, &rg_id);
    shared.dataplane.set_read_only(&secondary, true).await;
    loop {
        let status = {
            let aws = shared.aws.lock().expect("aws lock");
            aws.regions
                .get(&region)
                .and_then(|r| r.rgs.get(&rg_id))
                .filter(|rg| rg.incarnation == incarnation)
                .map(|rg| rg.status)
        };
        match status {
            Some("available") => break,
            Some("creating") => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => {
                // The secondary did not come up: it leaves the group.
                let mut aws = shared.aws.lock().expect("aws lock");
                if let Some(g) = aws.global.groups.get_mut(&gid) {
                    g.members.retain(|m| m.rg_id != rg_id || m.region != region);
                    if g.status == "modifying" {
                        g.status = g.steady();
                    }
                }
                return;
            }
        }
    }
    shared
        .dataplane
        .follow(&secondary, &key(&primary.region, &primary.rg_id))
        .await;
    shared.dataplane.synced(&secondary).await;
    let mut aws = shared.aws.lock().expect("aws lock");
    if let Some(g) = aws.global.groups.get_mut(&gid)
        && let Some(m) = g.member_mut(&rg_id, &region)
        && m.status == "associating"
    {
        m.status = "associated";
        if g.status == "modifying" {
            g.status = g.steady();
        }
        tracing::info!(global_replication_group = %gid, replication_group = %rg_id, %region, "secondary associated");
    }
}

/// The global datastore a replication group belongs to, if any.
fn membership(ctx: &Ctx, p: &Params) -> Option<(String, String)> {
    let id = p.get("ReplicationGroupId")?.to_ascii_lowercase();
    with_aws(ctx, |aws| {
        let rg = aws.regions.get(ctx.region)?.rgs.get(&id)?;
        rg.global.as_ref().map(|g| (id.clone(), g.id.clone()))
    })
}

/// `ModifyReplicationGroup`: a member's node type, engine, parameter group, failover, cluster
/// mode and encryption in transit belong to its global datastore.
pub fn modify_replication_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    if GLOBAL_SETTINGS.iter().any(|k| p.has(k))
        && let Some((rg, g)) = membership(ctx, p)
    {
        return Err(member_refusal(&rg, &g));
    }
    actions::modify_replication_group(ctx, p)
}

/// `ModifyReplicationGroupShardConfiguration`: a member's shards change with its global
/// datastore's (Increase/DecreaseNodeGroupsInGlobalReplicationGroup).
pub fn modify_shard_configuration(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    if let Some((rg, g)) = membership(ctx, p) {
        return Err(member_refusal(&rg, &g));
    }
    actions::modify_shard_configuration(ctx, p)
}

/// `DeleteReplicationGroup`: a member is deleted only after it left its global datastore.
pub fn delete_replication_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    if let Some((rg, g)) = membership(ctx, p) {
        return Err(member_refusal(&rg, &g));
    }
    actions::delete_replication_group(ctx, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_get_the_region_prefix_and_suffixes_are_checked() {
        assert_eq!(prefix("us-west-2").unwrap(), "sgaui");
        assert_eq!(prefix("us-east-1").unwrap(), "ldgnf");
        assert_eq!(prefix("us-west-1").unwrap(), "virxk");
        assert_eq!(
            prefix("eu-north-9").unwrap_err().code,
            "InvalidParameterValue"
        );
        assert_eq!(suffix("Orders-Global").unwrap(), "orders-global");
        for bad in ["", "1abc", "a--b", "a-", "a b", &"a".repeat(41)] {
            assert!(suffix(bad).is_err(), "{bad}");
        }
        assert!(regions_pair("cn-north-1", "cn-northwest-1"));
        assert!(!regions_pair("cn-north-1", "us-east-1"));
        assert!(regions_pair("us-east-1", "eu-west-1"));
    }
}
