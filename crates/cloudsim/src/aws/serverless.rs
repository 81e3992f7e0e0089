//! ElastiCache Serverless caches: CreateServerlessCache, DescribeServerlessCaches,
//! ModifyServerlessCache and DeleteServerlessCache (shapes from the service model), and the
//! data-plane rule for the IAM users of a serverless cache.
//!
//! States: `creating` → `available` (or `create-failed`), `modifying` → `available`, `deleting` →
//! gone. The usage limits are the service's ranges (data storage 1–5,000 GB, ECPU 1,000–15,000,000
//! per second). ModifyServerlessCache takes **one field per request**: several come back as
//! `InvalidParameterCombination` "Serverless Cache modifications only support modifying one field
//! per request." — as Terraform's and ACK's users met it (the error text is quoted in
//! hashicorp/terraform-provider-aws#35897, #37499, #40461, #41103, #43862; #37499 shows that a field
//! sent unchanged counts too). `CacheUsageLimits` counts as one field, and so do `Engine` with
//! `MajorEngineVersion` (the Redis OSS → Valkey upgrade names both). A request with no field is
//! `InvalidParameterCombination` "No modifications were requested" (#41777, #44746).
//!
//! Behind every cache runs a redis-server in cluster mode (all slots on one node), TLS always on,
//! reached through two ports: the endpoint and the reader endpoint.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use jiff::Timestamp;

use super::actions::{self, Ctx};
use super::error::AwsError;
use super::model::{Endpoint, Engine, Region, Tags};
use super::params::Params;
use super::serverless_snapshots::{self, ServerlessSnapshot};
use super::sigv4;
use super::windows;
use super::xml::{El, opt};
use crate::dataplane::{AclUser, BackendKey, BackendSpec, Decision, Server, TlsMode};
use crate::sim::Shared;
use crate::util::{decode_page_token, paginate, random_hex, rfc3339_millis};

/// Data storage limits, in GB.
pub const DATA_STORAGE_GB: RangeInclusive<i64> = 1..=5_000;
/// ECPU per second limits.
pub const ECPU_PER_SECOND: RangeInclusive<i64> = 1_000..=15_000_000;
pub const MAX_SNAPSHOT_RETENTION_DAYS: i64 = 35;
pub const MAX_DESCRIPTION: usize = 255;
/// Serverless caches per account and region (the quota behind
/// `ServerlessCacheQuotaForCustomerExceededFault`; its default value is not published).
pub const MAX_CACHES: usize = 40;
/// The `ResourceType` an IAM auth token for a serverless cache is signed with.
pub const IAM_RESOURCE_TYPE: &str = "ServerlessCache";
/// The service's ports: the endpoint and the reader endpoint (reported when no Redis runs).
const PORT: u16 = 6379;
const READER_PORT: u16 = 6380;

/// The serverless caches and serverless cache snapshots of one region.
#[derive(Debug, Default)]
pub struct Serverless {
    pub caches: BTreeMap<String, ServerlessCache>,
    pub snapshots: BTreeMap<String, ServerlessSnapshot>,
}

impl Serverless {
    /// The caches a user group is attached to (DescribeUserGroups' `ServerlessCaches`).
    pub fn caches_of_group(&self, group_id: &str) -> Vec<String> {
        self.caches
            .values()
            .filter(|c| c.spec.user_group_id.as_deref() == Some(group_id))
            .map(|c| c.name.clone())
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Available,
    Modifying,
    Deleting,
    CreateFailed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Available => "available",
            Status::Modifying => "modifying",
            Status::Deleting => "deleting",
            Status::CreateFailed => "create-failed",
        }
    }
}

/// A major engine version a serverless cache runs, and the full version it reports (serverless
/// caches get minor versions automatically; the minor levels here are illustrative).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub engine: Engine,
    pub major: &'static str,
    pub full: &'static str,
}

const VERSIONS: &[Version] = &[
    v(Engine::Redis, "7", "7.1"),
    v(Engine::Valkey, "7", "7.2"),
    v(Engine::Valkey, "8", "8.2"),
    v(Engine::Valkey, "9", "9.1"),
];

const fn v(engine: Engine, major: &'static str, full: &'static str) -> Version {
    Version {
        engine,
        major,
        full,
    }
}

impl Version {
    fn number(self) -> u32 {
        self.major.parse().unwrap_or(0)
    }

    /// Whether the service moves a cache from `self` to `to` in place: Redis OSS → Valkey and
    /// newer majors, never back.
    fn upgrade_to(self, to: Version) -> Result<(), AwsError> {
        if self.engine == Engine::Valkey && to.engine == Engine::Redis {
            return Err(AwsError::invalid_combination(
                "Cannot change the engine from valkey to redis: only an upgrade from redis to valkey is supported.",
            ));
        }
        if to.number() < self.number() {
            return Err(AwsError::invalid_combination(format!(
                "Cannot downgrade from {} {} to {} {}.",
                self.engine.as_str(),
                self.major,
                to.engine.as_str(),
                to.major
            )));
        }
        Ok(())
    }
}

/// `Engine` of a serverless cache: redis or valkey (serverless Memcached has no data plane here).
fn engine(raw: &str) -> Result<Engine, AwsError> {
    if raw.eq_ignore_ascii_case("memcached") {
        return Err(AwsError::invalid_value(
            "Engine memcached: serverless Memcached caches are not simulated; use redis or valkey.",
        ));
    }
    Engine::parse(raw)
}

/// The version a client names; without `MajorEngineVersion` the latest major of the engine.
pub fn version(engine: Engine, major: Option<&str>) -> Result<Version, AwsError> {
    let mut of_engine = VERSIONS.iter().filter(|v| v.engine == engine);
    let found = match major {
        None => of_engine.next_back(),
        Some(m) => of_engine.find(|v| v.major == m),
    };
    found.copied().ok_or_else(|| {
        let known: Vec<&str> = VERSIONS
            .iter()
            .filter(|v| v.engine == engine)
            .map(|v| v.major)
            .collect();
        AwsError::invalid_combination(format!(
            "Cannot find major engine version {} for {}; serverless caches run {}.",
            major.unwrap_or(""),
            engine.as_str(),
            known.join(", ")
        ))
    })
}

/// `ServerlessCacheName`: 1–40 letters, digits and hyphens, starting with a letter, without `--`
/// or a trailing `-` (the console's rule, as for replication groups); stored lowercase.
pub fn cache_name(raw: &str) -> Result<String, AwsError> {
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
            "The parameter ServerlessCacheName is not a valid identifier. Identifiers must begin with a letter; \
             must contain only ASCII letters, digits, and hyphens; must be at most 40 characters; and must not end \
             with a hyphen or contain two consecutive hyphens. Got {raw:?}."
        )))
    }
}

fn description(raw: &str) -> Result<String, AwsError> {
    if raw.chars().count() > MAX_DESCRIPTION {
        return Err(AwsError::invalid_value(format!(
            "Description must be at most {MAX_DESCRIPTION} characters."
        )));
    }
    Ok(raw.to_owned())
}

fn retention(days: i64) -> Result<i64, AwsError> {
    if (0..=MAX_SNAPSHOT_RETENTION_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(AwsError::invalid_value(format!(
            "SnapshotRetentionLimit must be between 0 and {MAX_SNAPSHOT_RETENTION_DAYS} days; got {days}."
        )))
    }
}

/// `DailySnapshotTime`: `HH:MM` (UTC).
fn daily_snapshot_time(raw: &str) -> Result<String, AwsError> {
    let ok = raw.split_once(':').is_some_and(|(h, m)| {
        h.len() == 2
            && m.len() == 2
            && h.parse::<u8>().is_ok_and(|h| h < 24)
            && m.parse::<u8>().is_ok_and(|m| m < 60)
    });
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(AwsError::invalid_value(format!(
            "Invalid DailySnapshotTime {raw:?}: use the format HH:MM (UTC), e.g. 04:00."
        )))
    }
}

fn network_type(raw: &str) -> Result<&'static str, AwsError> {
    ["ipv4", "ipv6", "dual_stack"]
        .into_iter()
        .find(|t| *t == raw)
        .ok_or_else(|| {
            AwsError::invalid_value(format!(
                "Invalid NetworkType {raw:?}: use ipv4, ipv6 or dual_stack."
            ))
        })
}

/// A minimum and/or a maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
}

/// `CacheUsageLimits`: absent parts are unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageLimits {
    pub data_storage: Option<Range>,
    pub ecpu_per_second: Option<Range>,
}

/// One part of `CacheUsageLimits`: each bound within `bounds`, the minimum not above the maximum.
/// A part with neither bound sets no limit.
fn range(
    p: &Params,
    base: &str,
    bounds: &RangeInclusive<i64>,
    unit: &str,
) -> Result<Option<Range>, AwsError> {
    let minimum = p.int(&format!("{base}.Minimum"))?;
    let maximum = p.int(&format!("{base}.Maximum"))?;
    for (bound, value) in [("Minimum", minimum), ("Maximum", maximum)] {
        if let Some(v) = value
            && !bounds.contains(&v)
        {
            return Err(AwsError::invalid_value(format!(
                "{base}.{bound} must be between {} and {}{unit}; got {v}.",
                bounds.start(),
                bounds.end()
            )));
        }
    }
    if let (Some(min), Some(max)) = (minimum, maximum)
        && min > max
    {
        return Err(AwsError::invalid_combination(format!(
            "{base}.Minimum ({min}) must not be greater than {base}.Maximum ({max})."
        )));
    }
    Ok((minimum.is_some() || maximum.is_some()).then_some(Range { minimum, maximum }))
}

/// `CacheUsageLimits.*` of a request, `None` when not given. What is given replaces the limits
/// as a whole (a part not given has no limit).
fn usage_limits(p: &Params) -> Result<Option<UsageLimits>, AwsError> {
    const BASE: &str = "CacheUsageLimits";
    if !p.has(BASE) {
        return Ok(None);
    }
    let storage = format!("{BASE}.DataStorage");
    let data_storage = if p.has(&storage) {
        match p.get(&format!("{storage}.Unit")) {
            None => return Err(AwsError::missing(&format!("{storage}.Unit"))),
            Some("GB") => {}
            Some(other) => {
                return Err(AwsError::invalid_value(format!(
                    "Invalid {storage}.Unit {other:?}: the only unit is GB."
                )));
            }
        }
        range(p, &storage, &DATA_STORAGE_GB, " GB")?
    } else {
        None
    };
    let ecpu = format!("{BASE}.ECPUPerSecond");
    let ecpu_per_second = if p.has(&ecpu) {
        range(p, &ecpu, &ECPU_PER_SECOND, "")?
    } else {
        None
    };
    Ok(Some(UsageLimits {
        data_storage,
        ecpu_per_second,
    }))
}

fn range_xml(name: &'static str, r: &Range, unit: Option<&str>) -> El {
    let mut f = Vec::new();
    opt(&mut f, "Maximum", r.maximum);
    opt(&mut f, "Minimum", r.minimum);
    opt(&mut f, "Unit", unit);
    El::node(name, f)
}

fn limits_xml(l: &UsageLimits) -> Option<El> {
    let mut f = Vec::new();
    if let Some(r) = &l.data_storage {
        f.push(range_xml("DataStorage", r, Some("GB")));
    }
    if let Some(r) = &l.ecpu_per_second {
        f.push(range_xml("ECPUPerSecond", r, None));
    }
    (!f.is_empty()).then(|| El::node("CacheUsageLimits", f))
}

fn endpoint_xml(name: &'static str, e: &Endpoint) -> El {
    El::node(
        name,
        vec![El::text("Address", &e.host), El::text("Port", e.port)],
    )
}

/// Everything a client sets on a serverless cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub description: String,
    pub version: Version,
    pub limits: UsageLimits,
    pub kms_key_id: Option<String>,
    pub security_group_ids: Vec<String>,
    pub subnet_ids: Vec<String>,
    pub user_group_id: Option<String>,
    pub snapshot_retention_limit: Option<i64>,
    pub daily_snapshot_time: Option<String>,
    pub network_type: &'static str,
}

#[derive(Debug, Clone)]
pub struct ServerlessCache {
    pub name: String,
    pub arn: String,
    pub status: Status,
    pub create_time: Timestamp,
    pub spec: Spec,
    pub tags: Tags,
    pub endpoint: Endpoint,
    pub reader_endpoint: Endpoint,
    pub incarnation: u64,
}

impl ServerlessCache {
    /// The `ServerlessCache` shape of the model.
    pub fn xml_fields(&self) -> Vec<El> {
        let s = &self.spec;
        // Settings a client did not give are left out (an empty description too): ACK's
        // controller compares each returned field with its spec and would otherwise modify
        // forever.
        let mut f = vec![El::text("ServerlessCacheName", &self.name)];
        if !s.description.is_empty() {
            f.push(El::text("Description", &s.description));
        }
        f.extend([
            El::text("CreateTime", rfc3339_millis(self.create_time)),
            El::text("Status", self.status.as_str()),
            El::text("Engine", s.version.engine.as_str()),
            El::text("MajorEngineVersion", s.version.major),
            El::text("FullEngineVersion", s.version.full),
        ]);
        f.extend(limits_xml(&s.limits));
        opt(&mut f, "KmsKeyId", s.kms_key_id.as_ref());
        if !s.security_group_ids.is_empty() {
            f.push(El::list(
                "SecurityGroupIds",
                "SecurityGroupId",
                &s.security_group_ids,
            ));
        }
        if !matches!(self.status, Status::Creating | Status::CreateFailed) {
            f.push(endpoint_xml("Endpoint", &self.endpoint));
            f.push(endpoint_xml("ReaderEndpoint", &self.reader_endpoint));
        }
        f.push(El::text("ARN", &self.arn));
        opt(&mut f, "UserGroupId", s.user_group_id.as_ref());
        if !s.subnet_ids.is_empty() {
            f.push(El::list("SubnetIds", "SubnetId", &s.subnet_ids));
        }
        opt(&mut f, "SnapshotRetentionLimit", s.snapshot_retention_limit);
        opt(&mut f, "DailySnapshotTime", s.daily_snapshot_time.as_ref());
        f.push(El::text("NetworkType", s.network_type));
        f
    }

    pub fn xml(&self) -> El {
        El::node("ServerlessCache", self.xml_fields())
    }
}

pub(crate) fn not_found(name: &str) -> AwsError {
    AwsError::new(
        "ServerlessCacheNotFoundFault",
        404,
        format!("Serverless cache {name} not found."),
    )
}

fn invalid_state(name: &str, status: Status) -> AwsError {
    AwsError::new(
        "InvalidServerlessCacheStateFault",
        400,
        format!(
            "Serverless cache {name} must be in available state to perform this operation; it is {}.",
            status.as_str()
        ),
    )
}

pub(crate) fn key(region: &str, name: &str) -> BackendKey {
    BackendKey::AwsServerless {
        region: region.to_owned(),
        name: name.to_owned(),
    }
}

/// The ACL redis-server gets: the attached user group's users, else `default` without a password.
fn desired_acl(region: &Region, user_group: Option<&str>) -> Vec<AclUser> {
    match user_group {
        None => vec![AclUser::open_default()],
        Some(g) => region.acl_of_groups(&[g.to_owned()]),
    }
}

/// ACL updates for the region's serverless caches with a Redis (after user or group changes).
pub(crate) fn acl_updates(region: &Region) -> Vec<(BackendKey, Vec<AclUser>)> {
    region
        .serverless
        .caches
        .values()
        .filter(|c| matches!(c.status, Status::Available | Status::Modifying))
        .map(|c| {
            (
                key(&region.name, &c.name),
                desired_acl(region, c.spec.user_group_id.as_deref()),
            )
        })
        .collect()
}

/// The tags of a cache by name; the cache must be `available` (as for replication groups, the
/// model lists `InvalidServerlessCacheStateFault` for the tag actions).
pub(crate) fn tags_of<'a>(region: &'a mut Region, name: &str) -> Result<&'a mut Tags, AwsError> {
    let c = region
        .serverless
        .caches
        .get_mut(name)
        .ok_or_else(|| not_found(name))?;
    if c.status != Status::Available {
        return Err(invalid_state(name, c.status));
    }
    Ok(&mut c.tags)
}

/// `MaxResults` (1 up to `max`, default 50) and `NextToken` — the paging of the serverless
/// Describe calls, not the `MaxRecords`/`Marker` of the others.
pub(crate) fn page_args(p: &Params, max: i64) -> Result<(usize, Option<String>), AwsError> {
    let size = match p.int("MaxResults")? {
        None => 50,
        Some(n) if (1..=max).contains(&n) => n,
        Some(n) => {
            return Err(AwsError::invalid_value(format!(
                "The value of MaxResults must be between 1 and {max}; got {n}."
            )));
        }
    };
    let after = match p.get("NextToken") {
        None | Some("") => None,
        Some(t) => Some(
            decode_page_token(t)
                .ok_or_else(|| AwsError::invalid_value(format!("Invalid NextToken {t:?}.")))?,
        ),
    };
    Ok((usize::try_from(size).unwrap_or(50), after))
}

fn internal(e: &std::io::Error) -> AwsError {
    AwsError {
        code: "InternalFailure",
        status: 500,
        message: format!("could not open the endpoint: {e}"),
        receiver: true,
    }
}

/// Binds the endpoint and the reader endpoint and starts redis-server; without Redis, reports the
/// service's kind of host name with its two ports.
fn open_endpoints(
    ctx: &Ctx,
    k: &BackendKey,
    name: &str,
    backend: BackendSpec,
) -> Result<(Endpoint, Endpoint), AwsError> {
    let dataplane = &ctx.shared.dataplane;
    match dataplane
        .provision(k.clone(), backend)
        .map_err(|e| internal(&e))?
    {
        Some(port) => {
            let reader = match dataplane.open_reader(k) {
                Ok(reader) => reader.unwrap_or(port),
                Err(e) => {
                    let (shared, k) = (ctx.shared.clone(), k.clone());
                    tokio::spawn(async move { shared.dataplane.stop(&k).await });
                    return Err(internal(&e));
                }
            };
            let at = |port| Endpoint {
                host: "127.0.0.1".into(),
                port,
            };
            Ok((at(port), at(reader)))
        }
        None => {
            let host = format!(
                "{name}-{}.serverless.{}.cache.amazonaws.com",
                random_hex(6),
                actions::region_code(ctx.region)
            );
            Ok((
                Endpoint {
                    host: host.clone(),
                    port: PORT,
                },
                Endpoint {
                    host,
                    port: READER_PORT,
                },
            ))
        }
    }
}

pub fn create(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = cache_name(p.required("ServerlessCacheName")?)?;
    let engine = engine(p.required("Engine")?)?;
    let version = version(engine, p.get("MajorEngineVersion"))?;
    let description = description(p.get("Description").unwrap_or(""))?;
    let limits = usage_limits(p)?.unwrap_or_default();
    let kms_key_id = p.get("KmsKeyId").map(str::to_owned);
    if let Some(k) = &kms_key_id {
        windows::kms_key(k)?;
    }
    let snapshot_retention_limit = p
        .int("SnapshotRetentionLimit")?
        .map(retention)
        .transpose()?;
    let daily_snapshot_time = p
        .get("DailySnapshotTime")
        .map(daily_snapshot_time)
        .transpose()?;
    let network_type = p
        .get("NetworkType")
        .map(network_type)
        .transpose()?
        .unwrap_or("ipv4");
    let restore = p
        .list("SnapshotArnsToRestore", "SnapshotArn")
        .unwrap_or_default();
    let user_group = p.get("UserGroupId").map(str::to_owned);
    let tag_list = actions::tags(p)?;
    let provisioned = ctx.shared.provisioning(crate::config::Transition::Create);
    let incarnation = ctx.shared.next_id();
    let (rendered, k) = ctx.with_region(|region| {
        if region.serverless.caches.contains_key(&name) {
            return Err(AwsError::new(
                "ServerlessCacheAlreadyExistsFault",
                400,
                format!("Serverless cache {name} already exists."),
            ));
        }
        if region.serverless.caches.len() >= MAX_CACHES {
            return Err(AwsError::new(
                "ServerlessCacheQuotaForCustomerExceededFault",
                400,
                format!("At most {MAX_CACHES} serverless caches per region."),
            ));
        }
        let user_group_id = match &user_group {
            Some(g) => actions::attachable_groups(region, std::slice::from_ref(g), true)?
                .into_iter()
                .next(),
            None => None,
        };
        let seed = serverless_snapshots::restore_data(ctx, region, &restore, version)?;
        let spec = Spec {
            description,
            version,
            limits,
            kms_key_id,
            security_group_ids: p
                .list("SecurityGroupIds", "SecurityGroupId")
                .unwrap_or_default(),
            subnet_ids: p.list("SubnetIds", "SubnetId").unwrap_or_default(),
            user_group_id,
            snapshot_retention_limit,
            daily_snapshot_time,
            network_type,
        };
        let k = key(ctx.region, &name);
        let backend = BackendSpec {
            server: match spec.version.engine {
                Engine::Valkey => Server::Valkey,
                Engine::Redis => Server::Redis,
            },
            tls: TlsMode::Required,
            cluster: true,
            acl: desired_acl(region, spec.user_group_id.as_deref()),
            seed,
        };
        let (endpoint, reader_endpoint) = open_endpoints(ctx, &k, &name, backend)?;
        let cache = ServerlessCache {
            arn: format!(
                "arn:aws:elasticache:{}:{}:serverlesscache:{name}",
                ctx.region, ctx.shared.config.aws_account_id
            ),
            name: name.clone(),
            status: Status::Creating,
            create_time: Timestamp::now(),
            spec,
            tags: tag_list,
            endpoint,
            reader_endpoint,
            incarnation,
        };
        let rendered = cache.xml();
        region.serverless.caches.insert(name.clone(), cache);
        Ok((rendered, k))
    })?;
    tracing::info!(serverless_cache = %name, region = ctx.region, "serverless cache creating");
    let fails = ctx
        .shared
        .faults
        .take_operation_failure("CreateServerlessCache");
    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    tokio::spawn(async move {
        let ready = async { !shared.dataplane.enabled() || shared.dataplane.wait_ready(&k).await };
        let ((), ready) = tokio::join!(provisioned, ready);
        let acl = {
            let mut aws = shared.aws.lock().expect("aws lock");
            let Some(region) = aws.regions.get_mut(&region_name) else {
                return;
            };
            let Some(cache) = region
                .serverless
                .caches
                .get_mut(&name)
                .filter(|c| c.incarnation == incarnation && c.status == Status::Creating)
            else {
                return;
            };
            if fails || !ready {
                cache.status = Status::CreateFailed;
                None
            } else {
                let group = cache.spec.user_group_id.clone();
                Some(desired_acl(region, group.as_deref()))
            }
        };
        let Some(acl) = acl else {
            tracing::info!(serverless_cache = %name, "serverless cache create-failed");
            shared.dataplane.stop(&k).await;
            return;
        };
        shared.dataplane.set_acl(&k, acl).await;
        let mut aws = shared.aws.lock().expect("aws lock");
        if let Some(cache) = aws
            .regions
            .get_mut(&region_name)
            .and_then(|r| r.serverless.caches.get_mut(&name))
            .filter(|c| c.incarnation == incarnation && c.status == Status::Creating)
        {
            cache.status = Status::Available;
            tracing::info!(serverless_cache = %name, "serverless cache available");
        }
    });
    Ok(vec![rendered])
}

pub fn describe(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    // The default page is documented (50); the maximum is not, cloudsim takes up to 100.
    let (size, after) = page_args(p, 100)?;
    ctx.with_region(|region| {
        if let Some(name) = p.get("ServerlessCacheName") {
            let name = name.to_ascii_lowercase();
            let c = region
                .serverless
                .caches
                .get(&name)
                .ok_or_else(|| not_found(&name))?;
            return Ok(vec![El::node(
                "ServerlessCaches",
                vec![El::node("member", c.xml_fields())],
            )]);
        }
        let items = region.serverless.caches.iter().map(|(k, c)| (k.clone(), c));
        let (page, next) = paginate(items, after.as_deref(), size);
        let mut out = vec![El::node(
            "ServerlessCaches",
            page.into_iter()
                .map(|c| El::node("member", c.xml_fields()))
                .collect(),
        )];
        opt(&mut out, "NextToken", next);
        Ok(out)
    })
}

/// The one field a ModifyServerlessCache changes, checked before the cache is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Description(String),
    Limits(UsageLimits),
    UserGroup(String),
    RemoveUserGroup,
    SecurityGroups(Vec<String>),
    Retention(i64),
    DailySnapshotTime(String),
    Engine {
        engine: Option<Engine>,
        major: Option<String>,
    },
}

/// The request parameters that make up each modifiable field.
const FIELDS: &[&[&str]] = &[
    &["Description"],
    &["CacheUsageLimits"],
    &["UserGroupId"],
    &["RemoveUserGroup"],
    &["SecurityGroupIds"],
    &["SnapshotRetentionLimit"],
    &["DailySnapshotTime"],
    &["Engine", "MajorEngineVersion"],
];

impl Change {
    fn parse(p: &Params) -> Result<Self, AwsError> {
        let remove_group = p.bool("RemoveUserGroup")?;
        // `RemoveUserGroup=false` asks for nothing.
        let given = |param: &str| match param {
            "RemoveUserGroup" => remove_group == Some(true),
            _ => p.has(param),
        };
        let named: Vec<&[&str]> = FIELDS
            .iter()
            .copied()
            .filter(|f| f.iter().any(|param| given(param)))
            .collect();
        let field = match named.as_slice() {
            [] => {
                return Err(AwsError::invalid_combination(
                    "No modifications were requested",
                ));
            }
            [one] => one[0],
            _ => {
                return Err(AwsError::invalid_combination(
                    "Serverless Cache modifications only support modifying one field per request.",
                ));
            }
        };
        Ok(match field {
            "Description" => Change::Description(description(p.get(field).unwrap_or(""))?),
            "CacheUsageLimits" => Change::Limits(usage_limits(p)?.unwrap_or_default()),
            "UserGroupId" => Change::UserGroup(p.get(field).unwrap_or("").to_owned()),
            "RemoveUserGroup" => Change::RemoveUserGroup,
            "SecurityGroupIds" => {
                let ids = p.list(field, "SecurityGroupId").unwrap_or_default();
                if ids.is_empty() {
                    return Err(AwsError::invalid_value(
                        "SecurityGroupIds replaces the security groups and cannot be empty.",
                    ));
                }
                Change::SecurityGroups(ids)
            }
            "SnapshotRetentionLimit" => Change::Retention(retention(p.int(field)?.unwrap_or(0))?),
            "DailySnapshotTime" => {
                Change::DailySnapshotTime(daily_snapshot_time(p.get(field).unwrap_or(""))?)
            }
            _ => Change::Engine {
                engine: p.get("Engine").map(engine).transpose()?,
                major: p.get("MajorEngineVersion").map(str::to_owned),
            },
        })
    }

    /// `spec` with the change applied, checked against the cache as it is.
    fn apply(self, region: &Region, spec: &Spec) -> Result<Spec, AwsError> {
        let mut next = spec.clone();
        match self {
            Change::Description(d) => next.description = d,
            Change::Limits(l) => next.limits = l,
            Change::UserGroup(g) => {
                next.user_group_id = actions::attachable_groups(region, &[g], true)?
                    .into_iter()
                    .next();
            }
            Change::RemoveUserGroup => {
                if spec.user_group_id.is_none() {
                    return Err(AwsError::invalid_value(
                        "RemoveUserGroup: no user group is associated with the serverless cache.",
                    ));
                }
                next.user_group_id = None;
            }
            Change::SecurityGroups(ids) => next.security_group_ids = ids,
            Change::Retention(days) => next.snapshot_retention_limit = Some(days),
            Change::DailySnapshotTime(t) => next.daily_snapshot_time = Some(t),
            Change::Engine { engine, major } => {
                let from = spec.version;
                let to_engine = engine.unwrap_or(from.engine);
                let to = match major {
                    Some(m) => version(to_engine, Some(&m))?,
                    None if to_engine == from.engine => from,
                    None => {
                        return Err(AwsError::invalid_combination(format!(
                            "Changing the engine to {} needs MajorEngineVersion.",
                            to_engine.as_str()
                        )));
                    }
                };
                from.upgrade_to(to)?;
                next.version = to;
            }
        }
        Ok(next)
    }
}

pub fn modify(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = p.required("ServerlessCacheName")?.to_ascii_lowercase();
    let change = Change::parse(p)?;
    let provisioned = ctx.shared.provisioning(crate::config::Transition::Modify);
    let (rendered, incarnation) = ctx.with_region(|region| {
        let cache = region
            .serverless
            .caches
            .get(&name)
            .ok_or_else(|| not_found(&name))?;
        if cache.status != Status::Available {
            return Err(invalid_state(&name, cache.status));
        }
        let next = change.apply(region, &cache.spec)?;
        let cache = region
            .serverless
            .caches
            .get_mut(&name)
            .expect("the cache exists");
        if next == cache.spec {
            return Ok((cache.xml(), None));
        }
        cache.status = Status::Modifying;
        Ok((cache.xml(), Some((cache.incarnation, next))))
    })?;
    let Some((incarnation, next)) = incarnation else {
        return Ok(vec![rendered]);
    };
    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        let acl = {
            let mut aws = shared.aws.lock().expect("aws lock");
            let Some(region) = aws.regions.get_mut(&region_name) else {
                return;
            };
            let Some(cache) = region
                .serverless
                .caches
                .get_mut(&name)
                .filter(|c| c.incarnation == incarnation && c.status == Status::Modifying)
            else {
                return;
            };
            // The engine changes in place: the same redis-server keeps serving the data.
            cache.spec = next;
            let group = cache.spec.user_group_id.clone();
            desired_acl(region, group.as_deref())
        };
        // A new user group reaches Redis before the cache shows `available` again.
        shared
            .dataplane
            .set_acl(&key(&region_name, &name), acl)
            .await;
        let mut aws = shared.aws.lock().expect("aws lock");
        if let Some(cache) = aws
            .regions
            .get_mut(&region_name)
            .and_then(|r| r.serverless.caches.get_mut(&name))
            .filter(|c| c.incarnation == incarnation && c.status == Status::Modifying)
        {
            cache.status = Status::Available;
        }
    });
    Ok(vec![rendered])
}

pub fn delete(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = p.required("ServerlessCacheName")?.to_ascii_lowercase();
    let final_snapshot = p
        .get("FinalSnapshotName")
        .map(serverless_snapshots::snapshot_name)
        .transpose()?;
    let provisioned = ctx.shared.provisioning(crate::config::Transition::Delete);
    let (rendered, incarnation, captured) = ctx.with_region(|region| {
        let cache = region
            .serverless
            .caches
            .get(&name)
            .ok_or_else(|| not_found(&name))?;
        match (cache.status, &final_snapshot) {
            (Status::Available, _) | (Status::CreateFailed, None) => {}
            (status, _) => return Err(invalid_state(&name, status)),
        }
        if let Some(f) = &final_snapshot {
            serverless_snapshots::check_free(region, f)?;
        }
        let cache = region
            .serverless
            .caches
            .get_mut(&name)
            .expect("the cache exists");
        cache.status = Status::Deleting;
        let (rendered, incarnation, cache) = (cache.xml(), cache.incarnation, cache.clone());
        // The final snapshot is read from the data before the redis-server stops.
        let captured = final_snapshot
            .map(|f| serverless_snapshots::take(ctx, region, &cache, f, None, Tags::new()).1);
        Ok::<_, AwsError>((rendered, incarnation, captured))
    })?;
    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        let ours = |aws: &super::AwsState| {
            aws.regions
                .get(&region_name)
                .and_then(|r| r.serverless.caches.get(&name))
                .is_some_and(|c| c.incarnation == incarnation)
        };
        if !ours(&shared.aws.lock().expect("aws lock")) {
            return;
        }
        if let Some(captured) = captured {
            let _ = captured.await;
        }
        shared.dataplane.stop(&key(&region_name, &name)).await;
        let mut aws = shared.aws.lock().expect("aws lock");
        if ours(&aws)
            && let Some(region) = aws.regions.get_mut(&region_name)
        {
            region.serverless.caches.remove(&name);
            tracing::info!(serverless_cache = %name, "serverless cache deleted");
        }
    });
    Ok(vec![rendered])
}

/// The data-plane rule for a serverless cache: `AUTH <user> <token>` by an IAM user of the
/// attached user group must carry a token signed for this cache with `ResourceType=ServerlessCache`
/// (over TLS, which a serverless cache always uses); other credentials go to Redis.
pub fn decide(
    shared: &Shared,
    region: &str,
    name: &str,
    user: Option<&str>,
    password: &str,
    tls: bool,
) -> Decision {
    let Some(user) = user else {
        return Decision::PassThrough;
    };
    let user_id = {
        let aws = shared.aws.lock().expect("aws lock");
        let Some(r) = aws.regions.get(region) else {
            return Decision::Reject;
        };
        let Some(cache) = r.serverless.caches.get(name) else {
            return Decision::Reject;
        };
        let groups: Vec<String> = cache.spec.user_group_id.iter().cloned().collect();
        match r.iam_user_of_groups(&groups, user) {
            Some(u) => u.id.clone(),
            None => return Decision::PassThrough,
        }
    };
    let expected = sigv4::Expected {
        cache: name,
        user_id: &user_id,
        region,
        resource_type: Some(IAM_RESOURCE_TYPE),
    };
    super::verify_iam_auth(shared, &expected, user, password, tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Change, AwsError> {
        Change::parse(&Params::from_pairs(pairs))
    }

    #[test]
    fn one_field_per_modify() {
        let err = parse(&[("Description", "d"), ("SnapshotRetentionLimit", "1")]).unwrap_err();
        assert_eq!(err.code, "InvalidParameterCombination");
        assert_eq!(
            err.message,
            "Serverless Cache modifications only support modifying one field per request."
        );
        // A field sent unchanged next to another still counts.
        assert!(parse(&[("UserGroupId", "g"), ("DailySnapshotTime", "04:00")]).is_err());
        assert!(parse(&[("RemoveUserGroup", "true"), ("UserGroupId", "g")]).is_err());
        assert_eq!(
            parse(&[]).unwrap_err().message,
            "No modifications were requested"
        );
        assert_eq!(
            parse(&[("RemoveUserGroup", "false")]).unwrap_err().message,
            "No modifications were requested"
        );
        // Both limits are one field; the engine and its major version are one field.
        assert_eq!(
            parse(&[
                ("CacheUsageLimits.DataStorage.Maximum", "10"),
                ("CacheUsageLimits.DataStorage.Unit", "GB"),
                ("CacheUsageLimits.ECPUPerSecond.Maximum", "5000"),
            ])
            .unwrap(),
            Change::Limits(UsageLimits {
                data_storage: Some(Range {
                    minimum: None,
                    maximum: Some(10)
                }),
                ecpu_per_second: Some(Range {
                    minimum: None,
                    maximum: Some(5000)
                }),
            })
        );
        assert_eq!(
            parse(&[("Engine", "valkey"), ("MajorEngineVersion", "8")]).unwrap(),
            Change::Engine {
                engine: Some(Engine::Valkey),
                major: Some("8".into())
            }
        );
    }

    #[test]
    fn usage_limits_follow_the_service_ranges() {
        let limits = |pairs: &[(&str, &str)]| usage_limits(&Params::from_pairs(pairs));
        for (k, v) in [
            ("CacheUsageLimits.DataStorage.Maximum", "5001"),
            ("CacheUsageLimits.DataStorage.Minimum", "0"),
            ("CacheUsageLimits.ECPUPerSecond.Maximum", "15000001"),
            ("CacheUsageLimits.ECPUPerSecond.Minimum", "999"),
        ] {
            let e = limits(&[(k, v), ("CacheUsageLimits.DataStorage.Unit", "GB")]).unwrap_err();
            assert_eq!(e.code, "InvalidParameterValue", "{k}={v}");
        }
        let e = limits(&[
            ("CacheUsageLimits.ECPUPerSecond.Minimum", "20000"),
            ("CacheUsageLimits.ECPUPerSecond.Maximum", "10000"),
        ])
        .unwrap_err();
        assert_eq!(e.code, "InvalidParameterCombination");
        let e = limits(&[
            ("CacheUsageLimits.DataStorage.Maximum", "10"),
            ("CacheUsageLimits.DataStorage.Unit", "TB"),
        ])
        .unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue");
        assert_eq!(
            limits(&[("CacheUsageLimits.DataStorage.Maximum", "10")])
                .unwrap_err()
                .code,
            "MissingParameter"
        );
        let ok = limits(&[
            ("CacheUsageLimits.DataStorage.Minimum", "1"),
            ("CacheUsageLimits.DataStorage.Maximum", "5000"),
            ("CacheUsageLimits.DataStorage.Unit", "GB"),
            ("CacheUsageLimits.ECPUPerSecond.Minimum", "1000"),
            ("CacheUsageLimits.ECPUPerSecond.Maximum", "15000000"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(ok.ecpu_per_second.unwrap().maximum, Some(15_000_000));
        assert_eq!(limits(&[]).unwrap(), None);
    }

    #[test]
    fn versions_upgrade_forward_and_to_valkey_only() {
        let redis = version(Engine::Redis, None).unwrap();
        assert_eq!((redis.major, redis.full), ("7", "7.1"));
        let valkey8 = version(Engine::Valkey, Some("8")).unwrap();
        assert!(redis.upgrade_to(valkey8).is_ok());
        assert!(valkey8.upgrade_to(redis).is_err());
        assert!(
            valkey8
                .upgrade_to(version(Engine::Valkey, Some("7")).unwrap())
                .is_err()
        );
        assert_eq!(
            version(Engine::Redis, Some("6")).unwrap_err().code,
            "InvalidParameterCombination"
        );
        assert_eq!(version(Engine::Valkey, None).unwrap().major, "9");
    }

    #[test]
    fn names_and_times_are_checked() {
        assert_eq!(cache_name("My-Cache1").unwrap(), "my-cache1");
        for bad in ["", "1abc", "a--b", "a-", &"a".repeat(41), "a_b"] {
            assert_eq!(
                cache_name(bad).unwrap_err().code,
                "InvalidParameterValue",
                "{bad}"
            );
        }
        assert!(daily_snapshot_time("04:30").is_ok());
        for bad in ["4:30", "24:00", "04:60", "0430"] {
            assert!(daily_snapshot_time(bad).is_err(), "{bad}");
        }
        assert!(retention(35).is_ok());
        assert!(retention(36).is_err());
        assert!(description(&"d".repeat(255)).is_ok());
        assert!(description(&"d".repeat(256)).is_err());
    }
}
