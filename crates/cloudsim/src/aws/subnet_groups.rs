//! Cache subnet groups: CreateCacheSubnetGroup, DescribeCacheSubnetGroups, ModifyCacheSubnetGroup
//! and DeleteCacheSubnetGroup.
//!
//! As the service model describes them: names are "stored as a lowercase string" of at most 255
//! letters, digits or hyphens; a group lists subnets of one VPC with their availability zones; "you
//! cannot delete a default cache subnet group or one that is associated with any clusters"
//! (`CacheSubnetGroupInUse`); a missing group is `CacheSubnetGroupNotFoundFault` (HTTP 400 in the
//! model). cloudsim has no EC2: every well-formed subnet ID (`subnet-` and 8 or 17 hex digits)
//! exists, in the region's one VPC, in a zone derived from the ID; a malformed one is
//! `InvalidSubnet`. Quotas: 150 groups per region, 255 subnets per group.

use super::common::{Ctx, page_args, paged, parse_tags};
use super::error::AwsError;
use super::events::SourceType;
use super::model::{CacheSubnetGroup, Region};
use super::params::Params;
use super::xml::El;

/// "Subnet groups per Region" (ElastiCache quotas).
const MAX_GROUPS: usize = 150;
/// "Subnets per subnet group".
const MAX_SUBNETS: usize = 255;

fn group_name(raw: &str) -> Result<String, AwsError> {
    let ok = (1..=255).contains(&raw.len())
        && raw.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-');
    if ok {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(AwsError::invalid_value(format!(
            "The parameter CacheSubnetGroupName must contain no more than 255 alphanumeric characters or hyphens. \
             Got {raw:?}."
        )))
    }
}

fn subnet_id(raw: &str) -> Result<String, AwsError> {
    let ok = raw.strip_prefix("subnet-").is_some_and(|hex| {
        matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    });
    if ok {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(AwsError::new(
            "InvalidSubnet",
            400,
            format!("The subnet ID {raw} does not exist."),
        ))
    }
}

fn digest(s: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes())
        .as_ref()
        .to_vec()
}

/// The region's one VPC.
fn vpc_id(account: &str, region: &str) -> String {
    let hex = hex::encode(digest(&format!("{account}/{region}")));
    format!("vpc-{}", &hex[..17])
}

/// The availability zone of a subnet: one of the region's first three, stable per ID.
fn zone(region: &str, subnet: &str) -> String {
    let d = digest(subnet);
    format!("{region}{}", ['a', 'b', 'c'][usize::from(d[0]) % 3])
}

fn subnet_ids(p: &Params) -> Result<Option<Vec<String>>, AwsError> {
    let Some(raw) = p.list("SubnetIds", "SubnetIdentifier") else {
        return Ok(None);
    };
    let mut ids: Vec<String> = Vec::new();
    for r in &raw {
        let id = subnet_id(r)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(AwsError::missing("SubnetIds"));
    }
    if ids.len() > MAX_SUBNETS {
        return Err(AwsError::new(
            "CacheSubnetQuotaExceededFault",
            400,
            format!("A cache subnet group can have at most {MAX_SUBNETS} subnets."),
        ));
    }
    Ok(Some(ids))
}

fn xml(region: &str, g: &CacheSubnetGroup) -> El {
    let network_types = || El::list("SupportedNetworkTypes", "member", ["ipv4"]);
    let subnets = g
        .subnet_ids
        .iter()
        .map(|id| {
            El::node(
                "Subnet",
                vec![
                    El::text("SubnetIdentifier", id),
                    El::node(
                        "SubnetAvailabilityZone",
                        vec![El::text("Name", zone(region, id))],
                    ),
                    network_types(),
                ],
            )
        })
        .collect();
    El::node(
        "CacheSubnetGroup",
        vec![
            El::text("CacheSubnetGroupName", &g.name),
            El::text("CacheSubnetGroupDescription", &g.description),
            El::text("VpcId", &g.vpc_id),
            El::node("Subnets", subnets),
            El::text("ARN", &g.arn),
            network_types(),
        ],
    )
}

fn in_use(region: &Region, name: &str) -> Vec<String> {
    region.rgs_using(|s| s.subnet_group.as_deref() == Some(name))
}

pub fn create_cache_subnet_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = group_name(p.required("CacheSubnetGroupName")?)?;
    let description = p.required("CacheSubnetGroupDescription")?.to_owned();
    let subnets = subnet_ids(p)?.ok_or_else(|| AwsError::missing("SubnetIds"))?;
    let tags = parse_tags(p)?;
    ctx.with_region(|region| {
        if region.subnet_groups.contains_key(&name) {
            return Err(AwsError::new(
                "CacheSubnetGroupAlreadyExists",
                400,
                format!("Cache subnet group {name} already exists."),
            ));
        }
        if region.subnet_groups.len() >= MAX_GROUPS {
            return Err(AwsError::new(
                "CacheSubnetGroupQuotaExceeded",
                400,
                format!("At most {MAX_GROUPS} cache subnet groups per region."),
            ));
        }
        let g = CacheSubnetGroup {
            arn: ctx.arn("subnetgroup", &name),
            name: name.clone(),
            description,
            vpc_id: vpc_id(ctx.account(), ctx.region),
            subnet_ids: subnets,
            tags,
        };
        let out = xml(ctx.region, &g);
        region.subnet_groups.insert(name.clone(), g);
        region.events.record(
            SourceType::CacheSubnetGroup,
            &name,
            format!("Cache subnet group {name} created"),
        );
        Ok(vec![out])
    })
}

pub fn describe_cache_subnet_groups(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let (size, after) = page_args(p, 100)?;
    ctx.with_region(|region| {
        if let Some(name) = p.get("CacheSubnetGroupName") {
            let name = name.to_ascii_lowercase();
            let g = region
                .subnet_groups
                .get(&name)
                .ok_or_else(|| AwsError::subnet_group_not_found(&name))?;
            return Ok(vec![El::node(
                "CacheSubnetGroups",
                vec![xml(ctx.region, g)],
            )]);
        }
        let (page, next) = paged(&region.subnet_groups, after.as_deref(), size, |_| true);
        let mut out = Vec::new();
        if let Some(m) = next {
            out.push(El::text("Marker", m));
        }
        out.push(El::node(
            "CacheSubnetGroups",
            page.into_iter().map(|g| xml(ctx.region, g)).collect(),
        ));
        Ok(out)
    })
}

pub fn modify_cache_subnet_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = p.required("CacheSubnetGroupName")?.to_ascii_lowercase();
    let description = p.get("CacheSubnetGroupDescription").map(str::to_owned);
    let subnets = subnet_ids(p)?;
    ctx.with_region(|region| {
        let users = in_use(region, &name);
        let g = region
            .subnet_groups
            .get_mut(&name)
            .ok_or_else(|| AwsError::subnet_group_not_found(&name))?;
        if let Some(next) = subnets {
            // Nodes live in the group's subnets: a group in use keeps the ones it has.
            if !users.is_empty()
                && let Some(gone) = g.subnet_ids.iter().find(|s| !next.contains(s))
            {
                return Err(AwsError::new(
                    "SubnetInUse",
                    400,
                    format!(
                        "The subnet {gone} is in use by replication group(s) {}.",
                        users.join(", ")
                    ),
                ));
            }
            g.subnet_ids = next;
        }
        if let Some(d) = description {
            g.description = d;
        }
        let out = xml(ctx.region, g);
        region.events.record(
            SourceType::CacheSubnetGroup,
            &name,
            format!("Cache subnet group {name} modified"),
        );
        Ok(vec![out])
    })
}

pub fn delete_cache_subnet_group(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = p.required("CacheSubnetGroupName")?.to_ascii_lowercase();
    ctx.with_region(|region| {
        if !region.subnet_groups.contains_key(&name) {
            return Err(AwsError::subnet_group_not_found(&name));
        }
        let users = in_use(region, &name);
        if !users.is_empty() {
            return Err(AwsError::new(
                "CacheSubnetGroupInUse",
                400,
                format!(
                    "Cache subnet group {name} is currently in use by replication group(s) {}.",
                    users.join(", ")
                ),
            ));
        }
        region.subnet_groups.remove(&name);
        Ok(Vec::new())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_subnets_zones_and_vpcs() {
        assert_eq!(group_name("My-Subnets").unwrap(), "my-subnets");
        assert!(group_name("under_score").is_err());
        assert!(group_name("").is_err());
        assert_eq!(subnet_id("subnet-6F28C982").unwrap(), "subnet-6f28c982");
        assert!(subnet_id("subnet-0123456789abcdef0").is_ok());
        assert_eq!(subnet_id("subnet-xyz").unwrap_err().code, "InvalidSubnet");
        assert_eq!(subnet_id("sg-12345678").unwrap_err().code, "InvalidSubnet");
        let z = zone("us-east-1", "subnet-6f28c982");
        assert!(["us-east-1a", "us-east-1b", "us-east-1c"].contains(&z.as_str()));
        assert_eq!(z, zone("us-east-1", "subnet-6f28c982"));
        let v = vpc_id("123456789012", "us-east-1");
        assert_eq!(v.len(), 21);
        assert_ne!(v, vpc_id("123456789012", "eu-west-1"));
    }
}
