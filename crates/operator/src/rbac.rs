//! The Kubernetes permissions the operator needs, checked at start with
//! SelfSubjectAccessReviews so that a missing verb is named at once rather than surfacing as a
//! watch that never syncs. `config/rbac/role.yaml` (and the chart's copy) must grant exactly
//! these; a test holds them together.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;

/// Where a permission must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// In every watched namespace: cluster-wide, or the `--namespace` one.
    Watched,
    /// In the operator's own namespace (its Lease).
    Own,
}

/// One rule: these verbs on `group`/`resource`.
#[derive(Clone, Copy, Debug)]
pub struct Permission {
    pub group: &'static str,
    /// `plural` or `plural/subresource`.
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
    pub scope: Scope,
    /// Why the operator needs it (for docs/operations.md and the error).
    pub why: &'static str,
}

const GROUP: &str = "cache-operator.io";
const KINDS: [&str; 4] = [
    "redisclusters",
    "serverlesscaches",
    "usergroups",
    "accessbindings",
];

/// Everything the operator does with the Kubernetes API.
pub fn required() -> Vec<Permission> {
    let mut out = Vec::new();
    for kind in KINDS {
        out.push(Permission {
            group: GROUP,
            resource: kind,
            // patch: finalizers; get/list/watch: the shared caches.
            verbs: &["get", "list", "watch", "patch", "update"],
            scope: Scope::Watched,
            why: "watch the kind and add or remove its finalizer",
        });
    }
    for status in [
        "redisclusters/status",
        "serverlesscaches/status",
        "usergroups/status",
        "accessbindings/status",
    ] {
        out.push(Permission {
            group: GROUP,
            resource: status,
            verbs: &["get", "patch", "update"],
            scope: Scope::Watched,
            why: "write status",
        });
    }
    // RedisClusters own their AUTH token Secret (authMode token), UserGroups their password
    // Secret, AccessBindings theirs.
    for finalizers in [
        "redisclusters/finalizers",
        "usergroups/finalizers",
        "accessbindings/finalizers",
    ] {
        out.push(Permission {
            group: GROUP,
            resource: finalizers,
            verbs: &["update"],
            scope: Scope::Watched,
            why: "set ownerReferences with blockOwnerDeletion on Secrets the kind owns",
        });
    }
    out.push(Permission {
        group: "",
        resource: "secrets",
        verbs: &[
            "get", "list", "watch", "create", "update", "patch", "delete",
        ],
        scope: Scope::Watched,
        why: "write AccessBindings' Secrets, keep UserGroup passwords and clusters' AUTH tokens",
    });
    out.push(Permission {
        group: "events.k8s.io",
        resource: "events",
        verbs: &["create", "patch"],
        scope: Scope::Watched,
        why: "publish Events (repeats within six minutes are patched into a series)",
    });
    out.push(Permission {
        group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["get", "create", "update"],
        scope: Scope::Own,
        why: "leader election",
    });
    out
}

/// A permission the API server says the operator does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    pub verb: String,
    pub group: String,
    pub resource: String,
    /// Empty: cluster-wide.
    pub namespace: String,
    pub why: &'static str,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() {
            "core".to_owned()
        } else {
            self.group.clone()
        };
        let place = if self.namespace.is_empty() {
            "cluster-wide".to_owned()
        } else {
            format!("in namespace {}", self.namespace)
        };
        write!(
            f,
            "{} {} ({group}) {place}: needed to {}",
            self.verb, self.resource, self.why
        )
    }
}

/// Ask the API server, one SelfSubjectAccessReview per verb, which required permissions are
/// missing. `watched`: the `--namespace` (None: all); `own`: the operator's namespace (None
/// without leader election, which is what needs it).
pub async fn missing(
    client: &kube::Client,
    watched: Option<&str>,
    own: Option<&str>,
) -> kube::Result<Vec<Missing>> {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut out = Vec::new();
    for p in required() {
        let namespace = match (p.scope, own) {
            (Scope::Watched, _) => watched.unwrap_or(""),
            (Scope::Own, Some(own)) => own,
            (Scope::Own, None) => continue,
        };
        let (resource, subresource) = match p.resource.split_once('/') {
            Some((r, s)) => (r, Some(s.to_owned())),
            None => (p.resource, None),
        };
        for verb in p.verbs {
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        group: Some(p.group.to_owned()),
                        resource: Some(resource.to_owned()),
                        subresource: subresource.clone(),
                        verb: Some((*verb).to_owned()),
                        namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
                        ..ResourceAttributes::default()
                    }),
                    ..SelfSubjectAccessReviewSpec::default()
                },
                ..SelfSubjectAccessReview::default()
            };
            let answer = reviews.create(&PostParams::default(), &review).await?;
            if !answer.status.is_some_and(|s| s.allowed) {
                out.push(Missing {
                    verb: (*verb).to_owned(),
                    group: p.group.to_owned(),
                    resource: p.resource.to_owned(),
                    namespace: namespace.to_owned(),
                    why: p.why,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    /// (group, resource, verb, scope) granted by the shipped RBAC.
    fn shipped() -> BTreeSet<(String, String, String, &'static str)> {
        let text = include_str!("../../../config/rbac/role.yaml");
        let docs: Vec<Value> = serde_saphyr::from_multiple(text).unwrap();
        let mut out = BTreeSet::new();
        for doc in docs {
            let scope = match (doc["kind"].as_str(), doc["metadata"]["name"].as_str()) {
                (Some("ClusterRole"), Some("cache-operator")) => "watched",
                (Some("Role"), _) => "own",
                _ => continue,
            };
            for rule in doc["rules"].as_array().unwrap() {
                for group in rule["apiGroups"].as_array().unwrap() {
                    for resource in rule["resources"].as_array().unwrap() {
                        for verb in rule["verbs"].as_array().unwrap() {
                            out.insert((
                                group.as_str().unwrap().to_owned(),
                                resource.as_str().unwrap().to_owned(),
                                verb.as_str().unwrap().to_owned(),
                                scope,
                            ));
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_shipped_rbac_grants_exactly_what_the_operator_needs() {
        let needed: BTreeSet<_> = required()
            .iter()
            .flat_map(|p| {
                p.verbs.iter().map(move |v| {
                    (
                        p.group.to_owned(),
                        p.resource.to_owned(),
                        (*v).to_owned(),
                        match p.scope {
                            Scope::Watched => "watched",
                            Scope::Own => "own",
                        },
                    )
                })
            })
            .collect();
        let granted = shipped();
        let missing: Vec<_> = needed.difference(&granted).collect();
        let extra: Vec<_> = granted.difference(&needed).collect();
        assert!(
            missing.is_empty(),
            "config/rbac/role.yaml lacks: {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "config/rbac/role.yaml grants more than the operator uses (least privilege): {extra:?}"
        );
    }

    #[test]
    fn a_missing_permission_names_verb_resource_place_and_purpose() {
        let m = Missing {
            verb: "patch".into(),
            group: "cache-operator.io".into(),
            resource: "redisclusters/status".into(),
            namespace: String::new(),
            why: "write status",
        };
        assert_eq!(
            m.to_string(),
            "patch redisclusters/status (cache-operator.io) cluster-wide: needed to write status"
        );
    }
}
