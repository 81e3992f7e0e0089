//! Dereference: what decides a group's work, from the shared caches — the clusters that list
//! it, and the rotation interval its bindings ask of each password user.

use std::sync::Arc;
use std::time::Duration;

use cache_operator_api::UserGroup;
use cache_operator_api::model::DEFAULT_PASSWORD_INTERVAL;
use kube::ResourceExt;

use crate::controller::Stores;
use crate::controller::refs::group_key;
use crate::controller::shared::{ClusterGuard, parsed};

/// Clusters in the group's namespace that list it, sorted by name.
pub fn referencing_clusters(group: &UserGroup, stores: &Stores) -> Vec<Arc<ClusterGuard>> {
    stores.clusters_listing(&group.namespace().unwrap_or_default(), &group.name_any())
}

/// The rotation interval of a password user: the shortest any binding of it asks for.
pub fn rotation_interval(group: &UserGroup, stores: &Stores, user_id: &str) -> Duration {
    let ns = group.namespace().unwrap_or_default();
    let name = group.name_any();
    stores
        .bindings
        .state()
        .iter()
        .filter_map(|b| parsed(b))
        .filter(|b| {
            b.spec
                .user
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
                == Some(user_id)
                && group_key(b) == Some((ns.as_str(), name.as_str()))
        })
        .filter_map(|b| b.desired().ok().map(|d| d.password_interval))
        .min()
        .unwrap_or(DEFAULT_PASSWORD_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::shared::fill::Fill;
    use cache_operator_testkit::{binding, cluster, group};

    #[test]
    fn the_shortest_interval_of_a_users_bindings_wins() {
        let g: UserGroup = group::aws("users", "us-east-1").namespace("shop").parse();
        let b = |name: &str, user: &str, every: Option<&str>| {
            let mut m = binding::new(name, "sessions", "users")
                .namespace("shop")
                .binding_user(user);
            if let Some(every) = every {
                m = m.set("/spec/rotation/interval", every);
            }
            m.parse()
        };
        let stores = Fill::default()
            .binding(b("a", "app", Some("48h")))
            .binding(b("b", "app", Some("24h")))
            .binding(b("c", "other", Some("1h")))
            .cluster(
                cluster::aws("sessions")
                    .namespace("shop")
                    .user_groups(&["users"])
                    .parse(),
            )
            .cluster(cluster::aws("elsewhere").namespace("shop").parse())
            .build();
        assert_eq!(
            rotation_interval(&g, &stores, "app"),
            Duration::from_secs(24 * 3600)
        );
        assert_eq!(
            rotation_interval(&g, &stores, "nobody"),
            DEFAULT_PASSWORD_INTERVAL
        );
        let listing = referencing_clusters(&g, &stores);
        assert_eq!(listing.len(), 1);
        assert_eq!(listing[0].name_any(), "sessions");
    }
}
