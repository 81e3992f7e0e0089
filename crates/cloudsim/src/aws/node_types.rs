//! ListAllowedNodeTypeModifications: the node types a replication group (or one of its cache
//! clusters) can scale up or down to — the current-generation types of more (up) or less (down)
//! memory, data-tiering (`r6gd`) types only among themselves, sorted by name as the service lists
//! them. The memory sizes are the "Supported node types" table's (GiB); which smaller types the
//! service offers also depends on the data held, which the simulator does not weigh.

use super::common::Ctx;
use super::error::AwsError;
use super::params::Params;
use super::xml::El;

/// Memory of a node size by family class (`t`, `m`, `r`): the current generation's figures.
fn memory_gib(node_type: &str) -> Option<f64> {
    let (family, size) = node_type.strip_prefix("cache.")?.split_once('.')?;
    let class = family.chars().next()?;
    let gib = match (class, size) {
        ('t', "micro") => 0.5,
        ('t', "small") => 1.37,
        ('t', "medium") => 3.09,
        ('m', "large") => 6.38,
        ('m', "xlarge") => 12.93,
        ('m', "2xlarge") => 26.04,
        ('m', "4xlarge") => 52.26,
        ('m', "8xlarge") => 103.68,
        ('m', "10xlarge") => 154.64,
        ('m', "12xlarge") => 157.12,
        ('m', "16xlarge") => 209.55,
        ('m', "24xlarge") => 314.32,
        ('r', "large") => 13.07,
        ('r', "xlarge") => 26.32,
        ('r', "2xlarge") => 52.82,
        ('r', "4xlarge") => 105.81,
        ('r', "8xlarge") => 209.55,
        ('r', "12xlarge") => 317.77,
        ('r', "16xlarge") => 419.09,
        ('r', "24xlarge") => 635.61,
        _ => return None,
    };
    Some(gib)
}

fn data_tiering(node_type: &str) -> bool {
    node_type.starts_with("cache.r6gd.")
}

/// (scale up, scale down) from `current`.
fn allowed(current: &str) -> (Vec<String>, Vec<String>) {
    let Some(mem) = memory_gib(current) else {
        return (Vec::new(), Vec::new());
    };
    let mut candidates: Vec<String> = super::model::node_types()
        .filter(|t| data_tiering(t) == data_tiering(current) && t != current)
        .collect();
    candidates.sort();
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for t in candidates {
        match memory_gib(&t) {
            Some(m) if m > mem => up.push(t),
            Some(m) if m < mem => down.push(t),
            _ => {}
        }
    }
    (up, down)
}

pub fn list_allowed_node_type_modifications(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let node_type =
        ctx.with_region(
            |region| match (p.get("ReplicationGroupId"), p.get("CacheClusterId")) {
                (Some(id), _) => {
                    let id = id.to_ascii_lowercase();
                    region
                        .rgs
                        .get(&id)
                        .map(|rg| rg.spec.node_type.clone())
                        .ok_or_else(|| AwsError::rg_not_found(&id))
                }
                (None, Some(cluster)) => {
                    let cluster = cluster.to_ascii_lowercase();
                    region
                        .rgs
                        .values()
                        .find(|rg| rg.member_clusters().contains(&cluster))
                        .map(|rg| rg.spec.node_type.clone())
                        .ok_or_else(|| {
                            AwsError::new(
                                "CacheClusterNotFound",
                                404,
                                format!("CacheCluster {cluster} not found."),
                            )
                        })
                }
                (None, None) => Err(AwsError::invalid_combination(
                    "Specify either ReplicationGroupId or CacheClusterId.",
                )),
            },
        )?;
    let (up, down) = allowed(&node_type);
    Ok(vec![
        El::list("ScaleUpModifications", "member", up),
        El::list("ScaleDownModifications", "member", down),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigger_types_scale_up_and_smaller_ones_down() {
        let (up, down) = allowed("cache.t3.micro");
        assert!(down.is_empty());
        assert!(up.contains(&"cache.t3.small".to_owned()));
        assert!(up.contains(&"cache.r7g.large".to_owned()));
        assert!(!up.iter().any(|t| t.starts_with("cache.r6gd.")));
        assert!(up.windows(2).all(|w| w[0] < w[1]));
        let (up, down) = allowed("cache.r7g.large");
        assert!(down.contains(&"cache.m7g.large".to_owned()));
        assert!(up.contains(&"cache.r7g.xlarge".to_owned()));
        let (up, down) = allowed("cache.r6gd.xlarge");
        assert!(up.iter().all(|t| t.starts_with("cache.r6gd.")) && !up.is_empty());
        assert!(down.is_empty());
    }
}
