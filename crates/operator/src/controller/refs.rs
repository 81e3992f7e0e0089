//! Who refers to whom: the objects an AccessBinding names, as every controller reads them
//! (the binding controller to dereference, the UserGroup controller to find a group's bindings,
//! and the watch mappers).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cache_operator_api::binding::TargetKind;
use cache_operator_api::model::{DEFAULT_PASSWORD_INTERVAL, DesiredCluster};
use cache_operator_api::{AccessBinding, Provider};
use cache_operator_cloud::gcp::grants::clusters_digest;
use kube::ResourceExt;

use super::shared::{ClusterGuard, Stores, parsed};

/// The kind, namespace and name of what a binding points at (a RedisCluster or a
/// ServerlessCache).
pub fn target_key(b: &AccessBinding) -> (TargetKind, &str, &str) {
    let own = b.metadata.namespace.as_deref().unwrap_or_default();
    match b.spec.target() {
        (kind, Some(r)) => (kind, r.namespace_or(own), r.name.as_str()),
        (kind, None) => (kind, own, ""),
    }
}

/// The namespace and name of the cluster or serverless cache a binding points at.
pub fn cluster_of(b: &AccessBinding) -> (String, String) {
    let (ns, name) = cluster_key(b);
    (ns.to_owned(), name.to_owned())
}

/// The namespace and name of the group a binding uses: the binding's own namespace unless the
/// reference names one (as the API documents; a cross-namespace binding names it). `None`
/// when it names none (a cluster with authMode token or disabled).
pub fn group_of(b: &AccessBinding) -> Option<(String, String)> {
    let (ns, name) = group_key(b)?;
    Some((ns.to_owned(), name.to_owned()))
}

/// [`cluster_of`] without allocating: the watch mappers run it for every binding on every event.
pub fn cluster_key(b: &AccessBinding) -> (&str, &str) {
    let (_, ns, name) = target_key(b);
    (ns, name)
}

/// [`group_of`] without allocating.
pub fn group_key(b: &AccessBinding) -> Option<(&str, &str)> {
    let own = b.metadata.namespace.as_deref().unwrap_or_default();
    let g = b.spec.user_group_ref.as_ref()?;
    Some((g.namespace_or(own), &g.name))
}

/// The digest of the gcp clusters a group is granted on, from the clusters that list it: the
/// UserGroup records it once granted, and a binding compares it with the clusters it sees.
pub fn granted_clusters_digest(clusters: &[Arc<ClusterGuard>]) -> String {
    let names: Vec<String> = clusters
        .iter()
        .filter_map(|c| match parsed(c)?.desired() {
            Ok(DesiredCluster::Gcp(g)) => Some(g.name()),
            _ => None,
        })
        .collect();
    clusters_digest(names.iter().map(String::as_str))
}

/// A cluster that lists a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// `namespace/name`.
    pub name: String,
    pub provider: Provider,
    /// gcp: its project and resource name (`projects/P/locations/R/clusters/C`).
    pub gcp: Option<(String, String)>,
}

/// The clusters that list a group (as [`Stores::clusters_listing`] finds them), and the digest
/// of the gcp ones.
pub fn listing(clusters: &[Arc<ClusterGuard>]) -> (Vec<Listing>, String) {
    let listing = clusters
        .iter()
        .filter_map(|c| {
            let c = parsed(c)?;
            let gcp = match c.desired() {
                Ok(DesiredCluster::Gcp(g)) => Some((g.project.clone(), g.name())),
                _ => None,
            };
            Some(Listing {
                name: format!("{}/{}", c.namespace().unwrap_or_default(), c.name_any()),
                provider: c.spec.provider,
                gcp,
            })
        })
        .collect();
    (listing, granted_clusters_digest(clusters))
}

/// The rotation interval of each of a group's password users: the shortest any binding of it
/// asks for.
pub fn password_intervals(
    stores: &Stores,
    (ns, group): (&str, &str),
    user_ids: &[String],
) -> BTreeMap<String, Duration> {
    let bindings = stores.bindings.state();
    let of_group: Vec<&AccessBinding> = bindings
        .iter()
        .filter_map(|b| parsed(b))
        .filter(|b| group_key(b) == Some((ns, group)))
        .collect();
    user_ids
        .iter()
        .map(|id| {
            let every = of_group
                .iter()
                .filter(|b| {
                    b.spec
                        .user
                        .as_deref()
                        .map(str::to_ascii_lowercase)
                        .as_deref()
                        == Some(id)
                })
                .filter_map(|b| b.desired().ok().map(|d| d.password_interval))
                .min()
                .unwrap_or(DEFAULT_PASSWORD_INTERVAL);
            (id.clone(), every)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_operator_testkit::binding;

    #[test]
    fn groups_are_looked_up_in_the_bindings_namespace_by_default() {
        let b: AccessBinding = binding::new("app", "orders", "clients")
            .namespace("apps")
            .cluster_namespace("data")
            .parse();
        assert_eq!(cluster_of(&b), ("data".into(), "orders".into()));
        assert_eq!(group_of(&b), Some(("apps".into(), "clients".into())));
        let named: AccessBinding = binding::new("app", "orders", "clients")
            .namespace("apps")
            .cluster_namespace("data")
            .group_namespace("data")
            .parse();
        assert_eq!(group_of(&named), Some(("data".into(), "clients".into())));
        let local: AccessBinding = binding::new("app", "orders", "clients")
            .namespace("apps")
            .parse();
        assert_eq!(group_of(&local), Some(("apps".into(), "clients".into())));
        let token: AccessBinding = binding::without_group("app", "orders").parse();
        assert_eq!(group_of(&token), None);
    }
}
