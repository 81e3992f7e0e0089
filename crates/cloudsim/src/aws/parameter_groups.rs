//! Cache parameter groups: CreateCacheParameterGroup, DescribeCacheParameterGroups,
//! ModifyCacheParameterGroup, ResetCacheParameterGroup, DeleteCacheParameterGroup,
//! DescribeCacheParameters and DescribeEngineDefaultParameters.
//!
//! As the service model and the user guide describe them: every family has default groups
//! (`default.<family>` and `default.<family>.cluster.on`, "You can't change the values of any
//! parameters in the default parameter group"), listed with the customer's own; names are
//! stored lowercase; a customer's group starts with the engine defaults, takes at most 20
//! parameters per ModifyCacheParameterGroup, each checked against its data type and allowed
//! values, and shows them with source `user` until reset. A group in use by a replication group
//! cannot be deleted. The parameter catalog is a subset of the engines' real parameters (names,
//! defaults, types, allowed values and change types as DescribeEngineDefaultParameters reports
//! them), enough for what clients set most.

use std::collections::BTreeMap;

use super::common::{Ctx, page_args, parse_tags};
use super::engine;
use super::error::AwsError;
use super::events::SourceType;
use super::model::{CacheParameterGroup, Region};
use super::params::Params;
use super::xml::{El, opt};
use crate::util::{encode_page_token, page_start, paginate};

/// "Parameter groups per Region" (ElastiCache quotas).
const MAX_GROUPS: usize = 150;
/// "A maximum of 20 parameters may be modified per request" (ModifyCacheParameterGroup).
const MAX_PER_MODIFY: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    String,
}

/// One engine parameter as DescribeEngineDefaultParameters reports it.
#[derive(Debug)]
struct Parameter {
    name: &'static str,
    default: &'static str,
    kind: Kind,
    /// `0-`, `1-65000`, `0,20-` for integers; `yes,no` for strings; empty = any.
    allowed: &'static str,
    modifiable: bool,
    requires_reboot: bool,
    /// The first engine version that has it.
    since: &'static str,
    description: &'static str,
}

#[allow(clippy::too_many_arguments)] // one row of the catalog table
const fn param(
    name: &'static str,
    default: &'static str,
    kind: Kind,
    allowed: &'static str,
    modifiable: bool,
    requires_reboot: bool,
    since: &'static str,
    description: &'static str,
) -> Parameter {
    Parameter {
        name,
        default,
        kind,
        allowed,
        modifiable,
        requires_reboot,
        since,
        description,
    }
}

use Kind::{Integer as Int, String as Str};

const YES_NO: &str = "yes,no";

/// Sorted by name (the service lists parameters in name order).
#[rustfmt::skip]
const CATALOG: &[Parameter] = &[
    param("acllog-max-len", "128", Int, "1-10000", true, false, "6.0.0", "The maximum number of entries in the ACL log."),
    param("active-expire-effort", "1", Int, "1-10", true, false, "6.0.0", "The amount of effort that the active expire cycle spends."),
    param("activedefrag", "no", Str, YES_NO, true, false, "4.0.9", "Enabled active memory defragmentation"),
    param("activerehashing", "yes", Str, YES_NO, true, true, "2.8.6", "Apply rehashing or not."),
    param("appendfsync", "everysec", Str, "always,everysec,no", true, false, "2.8.6", "fsync policy for AOF persistence"),
    param("appendonly", "no", Str, YES_NO, true, false, "2.8.6", "Enable Redis persistence."),
    param("client-output-buffer-limit-normal-hard-limit", "0", Int, "0-", true, false, "2.8.6", "Normal client output buffer hard limit in bytes."),
    param("client-output-buffer-limit-normal-soft-limit", "0", Int, "0-", true, false, "2.8.6", "Normal client output buffer soft limit in bytes."),
    param("client-output-buffer-limit-pubsub-hard-limit", "33554432", Int, "0-", true, false, "2.8.6", "Pubsub client output buffer hard limit in bytes."),
    param("client-output-buffer-limit-pubsub-soft-limit", "8388608", Int, "0-", true, false, "2.8.6", "Pubsub client output buffer soft limit in bytes."),
    param("close-on-replica-write", "yes", Str, YES_NO, true, false, "5.0.0", "If enabled, clients who attempt to write to a read-only replica will be disconnected."),
    param("cluster-allow-pubsubshard-when-down", "yes", Str, YES_NO, true, false, "7.0.0", "Allow shard pubsub while the cluster is down."),
    param("cluster-allow-reads-when-down", "no", Str, YES_NO, true, false, "6.0.0", "Allow reads while the cluster is down."),
    param("cluster-enabled", "no", Str, YES_NO, true, true, "3.2.4", "Enable cluster mode"),
    param("cluster-require-full-coverage", "no", Str, YES_NO, true, false, "3.2.4", "Whether cluster becomes unavailable if one or more slots are not covered"),
    param("databases", "16", Int, "1-1200000", true, true, "2.8.6", "Set the number of databases."),
    param("hash-max-ziplist-entries", "512", Int, "0-", true, false, "2.8.6", "The maximum number of hash entries in order for the dataset to be compressed."),
    param("latency-tracking", "yes", Str, YES_NO, true, false, "7.0.0", "Enable extended latency monitoring."),
    param("lazyfree-lazy-eviction", "no", Str, YES_NO, true, false, "4.0.10", "Perform an asynchronous delete on evictions"),
    param("lazyfree-lazy-expire", "no", Str, YES_NO, true, false, "4.0.10", "Perform an asynchronous delete on expired keys"),
    param("lazyfree-lazy-server-del", "no", Str, YES_NO, true, false, "4.0.10", "Perform an asynchronous delete on key updates"),
    param("lazyfree-lazy-user-del", "no", Str, YES_NO, true, false, "6.0.0", "Make DEL behave like UNLINK"),
    param("lua-time-limit", "5000", Int, "5000", false, false, "2.8.6", "Max execution time of a Lua script in milliseconds. 0 for unlimited execution without warnings."),
    param("maxclients", "65000", Int, "1-65000", false, true, "2.8.6", "The maximum number of Redis clients."),
    param("maxmemory-policy", "volatile-lru", Str, "volatile-lru,allkeys-lru,volatile-lfu,allkeys-lfu,volatile-random,allkeys-random,volatile-ttl,noeviction", true, false, "2.8.6", "Max memory policy."),
    param("maxmemory-samples", "3", Int, "1-", true, false, "2.8.6", "Max memory samples."),
    param("notify-keyspace-events", "", Str, "", true, false, "2.8.6", "The keyspace events for Redis to notify Pub/Sub clients about. By default all notifications are disabled"),
    param("reserved-memory-percent", "25", Int, "0-100", true, false, "3.2.4", "The percent of memory to reserve for non-data memory usage."),
    param("slowlog-log-slower-than", "10000", Int, "-", true, false, "2.8.6", "The execution time, in microseconds, to exceed in order for the command to get logged. Note that a negative number disables the slow log, while a value of zero forces the logging of every command."),
    param("slowlog-max-len", "128", Int, "0-", true, false, "2.8.6", "The length of the slow log. There is no limit to this length. Just be aware that it will consume memory."),
    param("tcp-keepalive", "300", Int, "0-", true, false, "3.2.4", "If non-zero, send ACKs every given number of seconds."),
    param("timeout", "0", Int, "0,20-", true, false, "2.8.6", "Close connection if client is idle for a given number of seconds, or never if 0."),
];

fn version(v: &str) -> (u32, u32, u32) {
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// The parameters of a family: those its first release has (Valkey 7.2 speaks Redis OSS 7's).
fn catalog(family: &str) -> impl Iterator<Item = &'static Parameter> + use<> {
    let release = engine::family_release(family)
        .map(|r| version(r.reported))
        .unwrap_or_default();
    CATALOG.iter().filter(move |p| version(p.since) <= release)
}

fn lookup(family: &str, name: &str) -> Option<&'static Parameter> {
    catalog(family).find(|p| p.name == name)
}

impl Parameter {
    /// Checks a value against the data type and the allowed values.
    fn check(&self, value: &str) -> Result<(), AwsError> {
        let bad = || {
            AwsError::invalid_value(format!(
                "Value {value:?} for parameter {} is invalid. Allowed values: {}.",
                self.name,
                if self.allowed.is_empty() {
                    "any"
                } else {
                    self.allowed
                }
            ))
        };
        match self.kind {
            Kind::Integer => {
                let n: i64 = value.parse().map_err(|_| bad())?;
                let fits = self
                    .allowed
                    .split(',')
                    .any(|range| match range.split_once('-') {
                        Some(("", "")) => true,
                        Some((lo, "")) => lo.parse::<i64>().is_ok_and(|lo| n >= lo),
                        Some((lo, hi)) => {
                            lo.parse::<i64>().is_ok_and(|lo| n >= lo)
                                && hi.parse::<i64>().is_ok_and(|hi| n <= hi)
                        }
                        None => range.parse::<i64>() == Ok(n),
                    });
                fits.then_some(()).ok_or_else(bad)
            }
            Kind::String if self.allowed.is_empty() => Ok(()),
            Kind::String => self
                .allowed
                .split(',')
                .any(|a| a == value)
                .then_some(())
                .ok_or_else(bad),
        }
    }

    /// The `<Parameter>` of a group where it has `value` from `source`.
    fn xml(&self, value: &str, source: &str) -> El {
        let mut f = vec![El::text("ParameterName", self.name)];
        opt(
            &mut f,
            "ParameterValue",
            (!value.is_empty()).then_some(value),
        );
        f.push(El::text("Description", self.description));
        f.push(El::text("Source", source));
        f.push(El::text(
            "DataType",
            match self.kind {
                Kind::Integer => "integer",
                Kind::String => "string",
            },
        ));
        opt(
            &mut f,
            "AllowedValues",
            (!self.allowed.is_empty()).then_some(self.allowed),
        );
        f.push(El::text("IsModifiable", self.modifiable));
        f.push(El::text("MinimumEngineVersion", self.since));
        f.push(El::text(
            "ChangeType",
            if self.requires_reboot {
                "requires-reboot"
            } else {
                "immediate"
            },
        ));
        El::node("Parameter", f)
    }
}

/// Checks a CacheParameterGroupName: 1–255 letters, digits and hyphens, starting with a letter,
/// not ending with a hyphen nor containing two (the model's constraints on the family name, which
/// the user guide gives for group names too). Stored lowercase.
fn group_name(raw: &str) -> Result<String, AwsError> {
    let b = raw.as_bytes();
    let ok = (1..=255).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && !raw.contains("--")
        && !raw.ends_with('-');
    if ok {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(AwsError::invalid_value(format!(
            "The parameter CacheParameterGroupName must begin with a letter, contain only ASCII letters, digits and \
             hyphens, be at most 255 characters, and must not end with a hyphen or contain two consecutive hyphens. \
             Got {raw:?}."
        )))
    }
}

fn family(raw: &str) -> Result<&'static str, AwsError> {
    engine::families().find(|f| *f == raw).ok_or_else(|| {
        AwsError::invalid_value(format!(
            "The parameter CacheParameterGroupFamily {raw:?} is not a valid family; use one of {}.",
            engine::families().collect::<Vec<_>>().join(", ")
        ))
    })
}

/// A group as the service describes it (the defaults are synthesized).
struct View<'a> {
    name: String,
    family: &'a str,
    description: String,
    arn: String,
    /// The parameters set in this group and their source.
    values: Vec<(&'a str, &'a str, &'static str)>,
}

impl View<'_> {
    fn xml(&self) -> El {
        El::node(
            "CacheParameterGroup",
            vec![
                El::text("CacheParameterGroupName", &self.name),
                El::text("CacheParameterGroupFamily", self.family),
                El::text("Description", &self.description),
                El::text("IsGlobal", false),
                El::text("ARN", &self.arn),
            ],
        )
    }

    fn value_of(&self, p: &Parameter) -> (String, &'static str) {
        self.values
            .iter()
            .find(|(n, _, _)| *n == p.name)
            .map_or((p.default.to_owned(), "system"), |(_, v, s)| {
                ((*v).to_owned(), *s)
            })
    }
}

fn default_views(ctx: &Ctx) -> Vec<View<'static>> {
    engine::families()
        .flat_map(|family| {
            [false, true].map(|cluster_on| {
                let name = engine::default_group(family, cluster_on);
                View {
                    arn: ctx.arn("parametergroup", &name),
                    description: if cluster_on {
                        format!(
                            "Customized default parameter group for {family} with cluster mode on"
                        )
                    } else {
                        format!("Default parameter group for {family}")
                    },
                    name,
                    family,
                    values: if cluster_on {
                        vec![("cluster-enabled", "yes", "system")]
                    } else {
                        Vec::new()
                    },
                }
            })
        })
        .collect()
}

fn custom_view(g: &CacheParameterGroup) -> View<'_> {
    View {
        name: g.name.clone(),
        family: &g.family,
        description: g.description.clone(),
        arn: g.arn.clone(),
        values: g
            .values
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str(), "user"))
            .collect(),
    }
}

/// Every group of the region by name: the defaults and the customer's.
fn all_views<'a>(ctx: &Ctx, region: &'a Region) -> BTreeMap<String, View<'a>> {
    default_views(ctx)
        .into_iter()
        .chain(region.parameter_groups.values().map(custom_view))
        .map(|v| (v.name.clone(), v))
        .collect()
}

fn view<'a>(ctx: &Ctx, region: &'a Region, name: &str) -> Result<View<'a>, AwsError> {
    let name = name.to_ascii_lowercase();
    all_views(ctx, region)
        .remove(&name)
        .ok_or_else(|| AwsError::parameter_group_not_found(&name))
}

pub fn create_cache_parameter_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = group_name(p.required("CacheParameterGroupName")?)?;
    let family = family(p.required("CacheParameterGroupFamily")?)?;
    let description = p.required("Description")?.to_owned();
    let tags = parse_tags(p)?;
    ctx.with_region(|region| {
        if region.parameter_groups.contains_key(&name) || engine::default_group_of(&name).is_some()
        {
            return Err(AwsError::new(
                "CacheParameterGroupAlreadyExists",
                400,
                format!("Cache Parameter Group {name} already exists."),
            ));
        }
        if region.parameter_groups.len() >= MAX_GROUPS {
            return Err(AwsError::new(
                "CacheParameterGroupQuotaExceeded",
                400,
                format!("At most {MAX_GROUPS} cache parameter groups per region."),
            ));
        }
        let g = CacheParameterGroup {
            arn: ctx.arn("parametergroup", &name),
            name: name.clone(),
            family: family.to_owned(),
            description,
            values: BTreeMap::new(),
            tags,
        };
        let out = custom_view(&g).xml();
        region.parameter_groups.insert(name, g);
        Ok(vec![out])
    })
}

pub fn describe_cache_parameter_groups(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let (size, after) = page_args(p, 100)?;
    ctx.with_region(|region| {
        if let Some(name) = p.get("CacheParameterGroupName") {
            let v = view(ctx, region, name)?;
            return Ok(vec![El::node("CacheParameterGroups", vec![v.xml()])]);
        }
        let views = all_views(ctx, region);
        let items = views
            .range(page_start("", after.as_deref())..)
            .map(|(k, v)| (k.clone(), v));
        let (page, next) = paginate(items, after.as_deref(), size);
        let mut out = Vec::new();
        if let Some(m) = next {
            out.push(El::text("Marker", m));
        }
        out.push(El::node(
            "CacheParameterGroups",
            page.into_iter().map(View::xml).collect(),
        ));
        Ok(out)
    })
}

/// `ParameterNameValues.ParameterNameValue.N.ParameterName/ParameterValue`.
fn name_values(p: &Params) -> Vec<(String, Option<String>)> {
    p.structs("ParameterNameValues", "ParameterNameValue")
        .into_iter()
        .map(|nv| {
            (
                nv.get("ParameterName").unwrap_or_default().to_owned(),
                nv.get("ParameterValue").map(str::to_owned),
            )
        })
        .collect()
}

/// The customer's group `name`, which may be changed (default groups may not).
fn custom<'a>(region: &'a mut Region, name: &str) -> Result<&'a mut CacheParameterGroup, AwsError> {
    let name = name.to_ascii_lowercase();
    if engine::default_group_of(&name).is_some() {
        return Err(AwsError::new(
            "InvalidCacheParameterGroupState",
            400,
            format!("The default parameter group {name} cannot be modified."),
        ));
    }
    region
        .parameter_groups
        .get_mut(&name)
        .ok_or_else(|| AwsError::parameter_group_not_found(&name))
}

fn unknown_parameter(name: &str, group: &str) -> AwsError {
    AwsError::invalid_value(format!(
        "Parameter {name:?} is not a parameter of cache parameter group {group}."
    ))
}

fn name_only(name: &str) -> Vec<El> {
    vec![El::text("CacheParameterGroupName", name)]
}

pub fn modify_cache_parameter_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = p.required("CacheParameterGroupName")?;
    let changes = name_values(p);
    if changes.is_empty() {
        return Err(AwsError::missing("ParameterNameValues"));
    }
    if changes.len() > MAX_PER_MODIFY {
        return Err(AwsError::invalid_value(format!(
            "A maximum of {MAX_PER_MODIFY} parameters may be modified per request; got {}.",
            changes.len()
        )));
    }
    ctx.with_region(|region| {
        let g = custom(region, name)?;
        let mut next = g.values.clone();
        for (pname, value) in &changes {
            let param =
                lookup(&g.family, pname).ok_or_else(|| unknown_parameter(pname, &g.name))?;
            if !param.modifiable {
                return Err(AwsError::invalid_value(format!(
                    "Parameter {pname} is not modifiable."
                )));
            }
            let value = value.as_deref().unwrap_or_default();
            param.check(value)?;
            next.insert(param.name.to_owned(), value.to_owned());
        }
        g.values = next;
        let name = g.name.clone();
        region.events.record(
            SourceType::CacheParameterGroup,
            &name,
            format!("Cache parameter group {name} modified"),
        );
        Ok(name_only(&name))
    })
}

pub fn reset_cache_parameter_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = p.required("CacheParameterGroupName")?;
    let all = p.bool("ResetAllParameters")?.unwrap_or(false);
    let named = name_values(p);
    match (all, named.is_empty()) {
        (true, false) => {
            return Err(AwsError::invalid_combination(
                "Specify either ResetAllParameters or ParameterNameValues, not both.",
            ));
        }
        (false, true) => {
            return Err(AwsError::invalid_combination(
                "Specify ResetAllParameters=true or the ParameterNameValues to reset.",
            ));
        }
        _ => {}
    }
    ctx.with_region(|region| {
        let g = custom(region, name)?;
        if all {
            g.values.clear();
        } else {
            for (pname, _) in &named {
                lookup(&g.family, pname).ok_or_else(|| unknown_parameter(pname, &g.name))?;
            }
            for (pname, _) in &named {
                g.values.remove(pname);
            }
        }
        let name = g.name.clone();
        region.events.record(
            SourceType::CacheParameterGroup,
            &name,
            format!("Cache parameter group {name} reset"),
        );
        Ok(name_only(&name))
    })
}

pub fn delete_cache_parameter_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = p.required("CacheParameterGroupName")?.to_ascii_lowercase();
    ctx.with_region(|region| {
        if engine::default_group_of(&name).is_some() {
            return Err(AwsError::new(
                "InvalidCacheParameterGroupState",
                400,
                format!("The default parameter group {name} cannot be deleted."),
            ));
        }
        if !region.parameter_groups.contains_key(&name) {
            return Err(AwsError::parameter_group_not_found(&name));
        }
        let users = region.rgs_using(|s| s.parameter_group == name);
        if !users.is_empty() {
            return Err(AwsError::new(
                "InvalidCacheParameterGroupState",
                400,
                format!(
                    "Cache parameter group {name} is in use by replication group(s) {}.",
                    users.join(", ")
                ),
            ));
        }
        region.parameter_groups.remove(&name);
        Ok(Vec::new())
    })
}

/// The `Source` filter of DescribeCacheParameters.
fn source_filter(p: &Params) -> Result<Option<&str>, AwsError> {
    match p.get("Source") {
        None => Ok(None),
        Some(s @ ("user" | "system" | "engine-default")) => Ok(Some(s)),
        Some(other) => Err(AwsError::invalid_value(format!(
            "Invalid Source {other:?}: use user, system or engine-default."
        ))),
    }
}

/// One page of parameters (by name, after the marker).
fn parameter_page(
    params: Vec<(&'static Parameter, String, &'static str)>,
    after: Option<&str>,
    size: usize,
) -> (Vec<El>, Option<String>) {
    let mut rest = params
        .into_iter()
        .filter(|(p, _, _)| after.is_none_or(|a| p.name > a));
    let page: Vec<_> = rest.by_ref().take(size).collect();
    let next = match (rest.next(), page.last()) {
        (Some(_), Some((last, _, _))) => Some(encode_page_token(last.name)),
        _ => None,
    };
    (
        page.into_iter()
            .map(|(p, v, source)| p.xml(&v, source))
            .collect(),
        next,
    )
}

pub fn describe_cache_parameters(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = p.required("CacheParameterGroupName")?;
    let source = source_filter(p)?;
    let (size, after) = page_args(p, 100)?;
    ctx.with_region(|region| {
        let v = view(ctx, region, name)?;
        let params = catalog(v.family)
            .map(|param| {
                let (value, src) = v.value_of(param);
                (param, value, src)
            })
            .filter(|(_, _, src)| source.is_none_or(|s| s == *src))
            .collect();
        let (parameters, next) = parameter_page(params, after.as_deref(), size);
        let mut out = Vec::new();
        if let Some(m) = next {
            out.push(El::text("Marker", m));
        }
        out.push(El::node("Parameters", parameters));
        out.push(El::node("CacheNodeTypeSpecificParameters", Vec::new()));
        Ok(out)
    })
}

pub fn describe_engine_default_parameters(_ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let family = family(p.required("CacheParameterGroupFamily")?)?;
    let (size, after) = page_args(p, 100)?;
    let params = catalog(family)
        .map(|param| (param, param.default.to_owned(), "system"))
        .collect();
    let (parameters, next) = parameter_page(params, after.as_deref(), size);
    let mut f = vec![El::text("CacheParameterGroupFamily", family)];
    opt(&mut f, "Marker", next);
    f.push(El::node("Parameters", parameters));
    f.push(El::node("CacheNodeTypeSpecificParameters", Vec::new()));
    Ok(vec![El::node("EngineDefaults", f)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_is_sorted_and_grows_with_the_engine() {
        assert!(CATALOG.windows(2).all(|w| w[0].name < w[1].name));
        let names = |f: &str| catalog(f).map(|p| p.name).collect::<Vec<_>>();
        assert!(!names("redis4.0").contains(&"acllog-max-len"));
        assert!(names("redis6.x").contains(&"acllog-max-len"));
        assert!(!names("redis6.x").contains(&"latency-tracking"));
        assert!(names("redis7").contains(&"latency-tracking"));
        assert_eq!(names("valkey8"), names("redis7"));
    }

    #[test]
    fn values_are_checked_against_type_and_allowed_values() {
        let p = |n| lookup("redis7", n).unwrap();
        assert!(p("timeout").check("0").is_ok());
        assert!(p("timeout").check("20").is_ok());
        assert!(p("timeout").check("10").is_err());
        assert!(p("timeout").check("x").is_err());
        assert!(p("databases").check("1200001").is_err());
        assert!(p("slowlog-log-slower-than").check("-1").is_ok());
        assert!(p("maxmemory-policy").check("allkeys-lru").is_ok());
        assert!(p("maxmemory-policy").check("lru").is_err());
        assert!(p("notify-keyspace-events").check("Ex").is_ok());
        assert!(lookup("redis7", "no-such").is_none());
    }

    #[test]
    fn group_names_follow_the_rules() {
        assert_eq!(group_name("Orders-Params").unwrap(), "orders-params");
        for bad in ["", "1a", "a--b", "a-", "a_b", &"a".repeat(256)] {
            assert!(group_name(bad).is_err(), "{bad}");
        }
        assert_eq!(family("redis7").unwrap(), "redis7");
        assert!(family("memcached1.6").is_err());
    }
}
