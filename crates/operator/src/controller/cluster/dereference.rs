//! Dereference: the ElastiCache IDs of the UserGroups an aws cluster lists, from the shared
//! UserGroup cache (no API reads).

use cache_operator_api::{Provider, RedisCluster};
use kube::ResourceExt;

use crate::controller::Stores;
use crate::controller::shared::parsed;

/// The user group IDs of `spec.userGroupRefs`, or what is still missing.
pub type UserGroupIds = Result<Vec<String>, String>;

pub fn user_group_ids(obj: &RedisCluster, stores: &Stores) -> UserGroupIds {
    if obj.spec.provider != Provider::Aws {
        return Ok(Vec::new());
    }
    let ns = obj.namespace().unwrap_or_default();
    let mut ids = Vec::new();
    for r in &obj.spec.user_group_refs {
        let Some(group) = stores.group(&ns, &r.name) else {
            return Err(format!("waiting for UserGroup {ns}/{} to exist", r.name));
        };
        let id = parsed(&group)
            .and_then(|g| g.status.as_ref())
            .and_then(|s| s.user_group_id.clone());
        let Some(id) = id else {
            return Err(format!(
                "waiting for UserGroup {ns}/{} to be created in ElastiCache",
                r.name
            ));
        };
        ids.push(id);
    }
    Ok(ids)
}
