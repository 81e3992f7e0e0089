//! Who refers to whom: the objects an AccessBinding names, as every controller reads them
//! (the binding controller to dereference, the UserGroup controller to find a group's bindings,
//! and the watch mappers).

use cache_operator_api::AccessBinding;

/// The namespace and name of the cluster a binding points at.
pub fn cluster_of(b: &AccessBinding) -> (String, String) {
    let (ns, name) = cluster_key(b);
    (ns.to_owned(), name.to_owned())
}

/// The namespace and name of the group a binding uses: groups live with the clusters that
/// list them, so the cluster's namespace unless the reference names one.
pub fn group_of(b: &AccessBinding) -> (String, String) {
    let (ns, name) = group_key(b);
    (ns.to_owned(), name.to_owned())
}

/// [`cluster_of`] without allocating: the watch mappers run it for every binding on every event.
pub fn cluster_key(b: &AccessBinding) -> (&str, &str) {
    let own = b.metadata.namespace.as_deref().unwrap_or_default();
    (
        b.spec.cluster_ref.namespace_or(own),
        &b.spec.cluster_ref.name,
    )
}

/// [`group_of`] without allocating.
pub fn group_key(b: &AccessBinding) -> (&str, &str) {
    let (cluster_ns, _) = cluster_key(b);
    let ns = b
        .spec
        .user_group_ref
        .namespace
        .as_deref()
        .unwrap_or(cluster_ns);
    (ns, &b.spec.user_group_ref.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_operator_testkit::binding;

    #[test]
    fn groups_are_looked_up_in_the_cluster_namespace_by_default() {
        let b: AccessBinding = binding::new("app", "orders", "clients")
            .namespace("apps")
            .cluster_namespace("data")
            .parse();
        assert_eq!(cluster_of(&b), ("data".into(), "orders".into()));
        assert_eq!(group_of(&b), ("data".into(), "clients".into()));
        let local: AccessBinding = binding::new("app", "orders", "clients")
            .namespace("apps")
            .parse();
        assert_eq!(group_of(&local), ("apps".into(), "clients".into()));
    }
}
