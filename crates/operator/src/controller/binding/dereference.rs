//! Dereference and validate: the cluster, the group and the user a binding names, from the
//! shared caches (no API reads), checked against each other into what the binding needs.

use cache_operator_api::binding::AccessBinding;
use cache_operator_api::cluster::AuthMode;
use cache_operator_api::condition::{self, reason};
use cache_operator_api::model::{DesiredBinding, DesiredCluster};
use cache_operator_api::user_group::UserAuthentication;
use kube::ResourceExt;
use kube::core::DeserializeGuard;

use super::plan::Source;
use super::secret::Connection;
use crate::controller::Stores;
use crate::controller::error::Halt;
use crate::controller::refs::{cluster_of, granted_clusters_digest, group_of};
use crate::controller::shared::parsed;

/// Everything resolved about the binding's targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub connection: Connection,
    pub source: Source,
    pub username: String,
    /// The cloud's name of the cluster, for the fingerprint.
    pub cluster_name: String,
    /// The group (namespace, name), when the cluster takes credentials.
    pub group: Option<(String, String)>,
    /// Whether everything is Ready for a first issuance (refreshes go on regardless).
    pub settled: Result<(), String>,
}

/// A referenced object from its cache: waiting while it is missing or does not parse.
fn found<K: Clone>(
    kind: &str,
    ns: &str,
    name: &str,
    cached: Option<std::sync::Arc<DeserializeGuard<K>>>,
) -> Result<K, Halt> {
    let Some(guard) = cached else {
        return Err(Halt::Waiting(
            reason::REFERENCE_NOT_FOUND,
            format!("{kind} {ns}/{name} does not exist"),
        ));
    };
    parsed(&guard).cloned().ok_or_else(|| {
        Halt::Waiting(
            reason::REFERENCE_NOT_READY,
            format!("{kind} {ns}/{name} does not match this operator's schema"),
        )
    })
}

/// A referenced object in a namespace the caches do not hold is not missing, only out of sight:
/// say so rather than "does not exist" (the group is in the cluster's namespace, so the
/// cluster's is the one to check).
fn watched(stores: &Stores, ns: &str, what: &str) -> Result<(), Halt> {
    match &stores.namespace {
        Some(own) if own != ns => Err(Halt::Stalled(
            reason::NAMESPACE_NOT_WATCHED,
            format!(
                "{what} is in namespace {ns}, which this operator does not watch: it runs with --namespace {own}; refer to a cluster in {own}, or run the operator for all namespaces"
            ),
        )),
        _ => Ok(()),
    }
}

/// The identity is not in the group (any more): what it was given is withdrawn.
fn not_a_member(who: &str, gns: &str, gname: &str) -> Halt {
    Halt::Revoked(
        reason::NOT_AUTHORIZED,
        format!("{who} is not a member of UserGroup {gns}/{gname}"),
    )
}

pub fn resolve(
    b: &AccessBinding,
    desired: &DesiredBinding,
    stores: &Stores,
) -> Result<Resolved, Halt> {
    let own_ns = b.namespace().unwrap_or_default();
    let (cns, cname) = cluster_of(b);
    watched(stores, &cns, &format!("RedisCluster {cns}/{cname}"))?;
    let cluster = found("RedisCluster", &cns, &cname, stores.cluster(&cns, &cname))?;
    let cluster = &cluster;
    if cns != own_ns
        && !cluster
            .spec
            .access
            .as_ref()
            .is_some_and(|a| a.admits(&own_ns))
    {
        return Err(Halt::Revoked(
            reason::NAMESPACE_NOT_ALLOWED,
            format!(
                "RedisCluster {cns}/{cname} does not admit AccessBindings from namespace {own_ns} (its spec.access.allowedNamespaces)"
            ),
        ));
    }
    let cluster_desired = cluster.desired().map_err(|e| {
        Halt::Waiting(
            reason::REFERENCE_NOT_READY,
            format!("RedisCluster {cns}/{cname} has an invalid spec: {e}"),
        )
    })?;
    let status = cluster.status.clone().unwrap_or_default();
    let endpoints = status
        .endpoints
        .as_ref()
        .map(|e| e.discovery.clone())
        .unwrap_or_default();
    let cluster_ready = condition::is_true(&status.conditions, condition::READY);
    if endpoints.is_empty() {
        return Err(Halt::Waiting(
            reason::REFERENCE_NOT_READY,
            format!("waiting for RedisCluster {cns}/{cname} to have endpoints"),
        ));
    }
    let (cluster_mode, cluster_name) = match &cluster_desired {
        DesiredCluster::Gcp(g) => (true, g.name()),
        DesiredCluster::Aws(a) => (
            a.cluster_mode_enabled,
            status
                .cloud_resource
                .clone()
                .unwrap_or_else(|| a.replication_group_id.clone()),
        ),
    };
    let connection = Connection {
        provider: cluster.spec.provider,
        endpoints,
        tls: cluster.spec.transit_encryption,
        ca_certificate: status.ca_certificate.clone(),
        cluster_mode,
    };
    let mut settled = if cluster_ready {
        Ok(())
    } else {
        Err(format!(
            "waiting for RedisCluster {cns}/{cname} to be Ready"
        ))
    };

    if cluster.spec.auth_mode == AuthMode::Disabled {
        return Ok(Resolved {
            connection,
            source: Source::None,
            username: "default".into(),
            cluster_name,
            group: None,
            settled,
        });
    }

    if cluster.spec.auth_mode == AuthMode::Token {
        if b.spec.user_group_ref.is_some() || desired.user.is_some() {
            return Err(Halt::Stalled(
                reason::INVALID_SPEC,
                format!(
                    "spec.userGroupRef: RedisCluster {cns}/{cname} uses authMode token, one AUTH token for every client: a binding of it names neither a UserGroup nor a user; remove spec.userGroupRef and spec.user"
                ),
            ));
        }
        // Redis OSS before 6 knows no user names: clients send `AUTH <token>` alone, which
        // every version takes, so the Secret names no user.
        return Ok(Resolved {
            connection,
            source: Source::AwsAuthToken {
                namespace: cns.clone(),
                cluster: cname.clone(),
            },
            username: String::new(),
            cluster_name,
            group: None,
            settled,
        });
    }

    let Some((gns, gname)) = group_of(b) else {
        let mode = match cluster.spec.auth_mode {
            AuthMode::Iam => "iam",
            _ => "password",
        };
        return Err(Halt::Stalled(
            reason::INVALID_SPEC,
            format!(
                "spec.userGroupRef is required: RedisCluster {cns}/{cname} uses authMode {mode}, whose clients are members of a UserGroup it lists in spec.userGroupRefs"
            ),
        ));
    };
    if gns != cns {
        return Err(Halt::Stalled(
            reason::INVALID_SPEC,
            format!(
                "spec.userGroupRef.namespace: the group must be in the cluster's namespace {cns} (clusters list groups of their own namespace)"
            ),
        ));
    }
    if !cluster.spec.user_group_refs.iter().any(|r| r.name == gname) {
        return Err(Halt::Revoked(
            reason::NOT_AUTHORIZED,
            format!(
                "RedisCluster {cns}/{cname} does not list UserGroup {gname} in spec.userGroupRefs"
            ),
        ));
    }
    let group = found("UserGroup", &gns, &gname, stores.group(&gns, &gname))?;
    let group = &group;
    if group.spec.provider != cluster.spec.provider {
        return Err(Halt::Stalled(
            reason::INVALID_SPEC,
            format!(
                "UserGroup {gns}/{gname} is for {} but RedisCluster {cns}/{cname} is on {}",
                group.spec.provider, cluster.spec.provider
            ),
        ));
    }
    let gstatus = group.status.clone().unwrap_or_default();
    let group_ready = condition::is_true(&gstatus.conditions, condition::READY)
        && gstatus.observed_generation == group.metadata.generation;
    if settled.is_ok() && !group_ready {
        settled = Err(format!("waiting for UserGroup {gns}/{gname} to be Ready"));
    }

    let (source, username) = match &cluster_desired {
        DesiredCluster::Gcp(g) => {
            if let Some(sa) = &desired.user {
                let member = format!("serviceAccount:{sa}");
                let mut members = group.spec.gcp.iter().flat_map(|g| &g.members);
                if !members.any(|m| *m == member) {
                    return Err(not_a_member(&member, &gns, &gname));
                }
                if gstatus.missing_members.contains(&member) {
                    return Err(Halt::Stalled(
                        reason::MEMBER_NOT_FOUND,
                        format!(
                            "IAM refused {member} as a member of UserGroup {gns}/{gname}: the service account does not exist"
                        ),
                    ));
                }
                // The group has granted this generation's members on exactly the clusters that
                // list it now (this one among them), and IAM knew the member.
                let listing = stores.clusters_listing(&gns, &gname);
                let granted = gstatus.granted.as_ref().is_some_and(|gr| {
                    Some(gr.generation) == group.metadata.generation
                        && gr.clusters == granted_clusters_digest(&listing)
                });
                if settled.is_ok() && !granted {
                    settled = Err(format!(
                        "waiting for UserGroup {gns}/{gname} to grant {member} access to {}",
                        g.name()
                    ));
                }
            }
            let source = if g.iam_auth {
                Source::GcpToken {
                    service_account: desired.user.clone(),
                }
            } else {
                Source::None
            };
            (source, "default".to_owned())
        }
        DesiredCluster::Aws(a) => {
            let Some(user_id) = desired.user.as_ref().map(|u| u.to_ascii_lowercase()) else {
                return Err(Halt::Stalled(
                    reason::INVALID_SPEC,
                    "spec.user: the userId of a member of the group is required for an aws cluster with authentication".into(),
                ));
            };
            let mut users = group.spec.aws.iter().flat_map(|a| &a.users);
            let Some(user) = users.find(|u| u.user_id == user_id) else {
                return Err(not_a_member(&format!("user {user_id}"), &gns, &gname));
            };
            let source = match user.authentication {
                UserAuthentication::Iam => Source::AwsIam {
                    region: a.region.clone(),
                    replication_group: a.replication_group_id.to_ascii_lowercase(),
                    user_id: user_id.clone(),
                },
                UserAuthentication::Password => Source::AwsPassword {
                    user_id: user_id.clone(),
                },
            };
            (source, user.user_name.clone())
        }
    };
    Ok(Resolved {
        connection,
        source,
        username,
        cluster_name,
        group: Some((gns, gname)),
        settled,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::controller::shared::fill::Fill;
    use cache_operator_testkit::{Manifest, binding, cluster};

    /// Why `b` stops, as (reason, message); panics when it resolves.
    fn halted(b: &Manifest, stores: &Stores) -> (&'static str, String) {
        let b: AccessBinding = b.parse();
        match resolve(&b, &b.desired().unwrap(), stores) {
            Err(Halt::Stalled(r, m) | Halt::Waiting(r, m) | Halt::Revoked(r, m)) => (r, m),
            other => panic!("expected a halt with a reason, got {other:?}"),
        }
    }

    fn app_in(ns: &str) -> Manifest {
        binding::new("app", "orders", "clients").namespace(ns)
    }

    #[test]
    fn a_cluster_outside_the_watched_namespace_is_named_as_such_not_as_missing() {
        let watching_apps = Fill::default().watching("apps").build();
        let elsewhere = app_in("apps").cluster_namespace("data");
        let (r, message) = halted(&elsewhere, &watching_apps);
        assert_eq!(r, reason::NAMESPACE_NOT_WATCHED);
        assert_eq!(
            message,
            "RedisCluster data/orders is in namespace data, which this operator does not watch: it runs with --namespace apps; refer to a cluster in apps, or run the operator for all namespaces"
        );
        // The group follows the cluster's namespace: the same answer.
        let (r, _) = halted(&elsewhere.group_namespace("data"), &watching_apps);
        assert_eq!(r, reason::NAMESPACE_NOT_WATCHED);

        // In the watched namespace, or with every namespace watched, missing is missing.
        let (r, message) = halted(&app_in("apps"), &watching_apps);
        assert_eq!(r, reason::REFERENCE_NOT_FOUND);
        assert_eq!(message, "RedisCluster apps/orders does not exist");
        let (r, message) = halted(
            &app_in("apps").cluster_namespace("data"),
            &Fill::default().build(),
        );
        assert_eq!(r, reason::REFERENCE_NOT_FOUND);
        assert_eq!(message, "RedisCluster data/orders does not exist");
    }

    #[test]
    fn a_group_in_another_namespace_than_its_cluster_breaks_a_rule_whatever_is_watched() {
        let orders = cluster::gcp("orders")
            .namespace("apps")
            .auth("iam")
            .user_groups(&["clients"])
            .status(json!({"endpoints": {"discovery": [{"host": "10.0.0.5", "port": 6379}]}}));
        let stores = Fill::default()
            .watching("apps")
            .cluster(orders.parse())
            .build();
        let (r, message) = halted(&app_in("apps").group_namespace("data"), &stores);
        assert_eq!(r, reason::INVALID_SPEC);
        assert!(
            message.starts_with(
                "spec.userGroupRef.namespace: the group must be in the cluster's namespace apps"
            ),
            "{message}"
        );
    }
}
