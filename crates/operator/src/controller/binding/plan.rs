//! Plan: what a binding's pass does, from its spec and what was observed — pure, no client, no
//! clock but `now`. The references are checked against each other (the cluster admits the
//! binding's namespace and lists the group, the identity is a member, everything is Ready for
//! a first Secret), then the credential is chosen: none, the group's password, the cluster's
//! AUTH token, a still-good token to keep, or a token to mint.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cache_operator_api::binding::TargetKind;
use cache_operator_api::cluster::AuthMode;
use cache_operator_api::condition::{self, Summary, reason};
use cache_operator_api::model::{DesiredBinding, DesiredCluster, GcpCluster, UserAuthentication};
use cache_operator_api::validate::FieldErrors;
use cache_operator_api::{Provider, RedisCluster, ServerlessCache, UserGroup};
use cache_operator_cloud::aws::TokenResource;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::observe::{Existing, Found, Observed};
use super::secret::{CREDENTIAL_ANNOTATION, Connection, Token};
use crate::controller::ending::Next;

/// Where a binding's credential comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The cluster takes no credentials.
    None,
    /// A gcp access token for this service account, or the operator's own identity.
    GcpToken { service_account: Option<String> },
    /// An aws IAM auth token for the user on the replication group or serverless cache.
    AwsIam {
        region: String,
        cache: String,
        resource: TokenResource,
        user_id: String,
    },
    /// The current password of an aws password user, from its UserGroup.
    AwsPassword { user_id: String },
    /// The AUTH token of an aws `authMode: token` cluster, from the cluster's token Secret.
    AwsAuthToken { namespace: String, cluster: String },
}

impl Source {
    /// What the Secret's credential annotation records (never the credential).
    pub fn fingerprint(&self, cluster: &str) -> String {
        match self {
            Source::None => format!("none {cluster}"),
            Source::GcpToken { service_account } => format!(
                "gcp-token {} {cluster}",
                service_account.as_deref().unwrap_or("operator")
            ),
            Source::AwsIam {
                region,
                cache,
                resource: TokenResource::ReplicationGroup,
                user_id,
            } => format!("aws-iam {region}/{cache}/{user_id}"),
            Source::AwsIam {
                region,
                cache,
                resource: TokenResource::ServerlessCache,
                user_id,
            } => format!("aws-iam {region}/serverless:{cache}/{user_id}"),
            Source::AwsPassword { user_id } => format!("aws-password {user_id} {cluster}"),
            Source::AwsAuthToken { .. } => format!("aws-auth-token {cluster}"),
        }
    }

    /// A token the operator mints (and so refreshes before it expires).
    pub fn is_token(&self) -> bool {
        matches!(self, Source::GcpToken { .. } | Source::AwsIam { .. })
    }
}

/// What a pass does.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Stop before writing a Secret.
    Stop(Stop),
    /// Write the Secret with the credential.
    Issue(Box<Issue>),
}

/// A plan that stops, boxed (it is the large side of the checks' results).
type Stopped = Box<Stop>;

/// A pass that writes no Secret: the conditions, the next look, and whether the access this
/// binding gave is withdrawn (its Secret, if it wrote one, goes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    pub summary: Summary,
    pub next: Next,
    pub withdraw: bool,
}

/// The Secret to write.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    pub secret_name: String,
    pub connection: Connection,
    pub source: Source,
    pub username: String,
    pub labels: BTreeMap<String, String>,
    /// The template's annotations and the credential's fingerprint.
    pub annotations: BTreeMap<String, String>,
    pub credential: Choice,
    /// The Secret as the cache holds it (ours); `None`: one someone else wrote may stand
    /// under that name.
    pub current: Option<Arc<Secret>>,
    /// The credential the Secret holds now.
    pub previous: Option<Token>,
    /// How long before expiry a minted token is replaced (`None`: a third of its lifetime).
    pub refresh_before: Option<Duration>,
}

/// The credential of the Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Known already: none, a password, an AUTH token, a token still good.
    Known(Token),
    /// Minted now; `still_valid` is the token the Secret holds while it is valid (kept when
    /// minting fails).
    Mint {
        from: Mint,
        still_valid: Option<Token>,
    },
}

/// A token the operator mints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mint {
    /// A gcp access token of this service account, or of the operator's own identity.
    Gcp { service_account: Option<String> },
    /// An aws IAM auth token for the user on the replication group or serverless cache.
    AwsIam {
        region: String,
        cache: String,
        resource: TokenResource,
        user_id: String,
    },
}

/// Stop: waiting on another object (polled, and triggered by its change).
fn waiting(reason: &str, message: String) -> Stopped {
    Box::new(Stop {
        summary: Summary::Progressing {
            reason: reason.into(),
            message,
        },
        next: Next::Waiting,
        withdraw: false,
    })
}

/// Stop: the spec and the world disagree; a person must act.
fn stalled(reason: &str, message: String) -> Stopped {
    Box::new(Stop {
        summary: Summary::Stalled {
            reason: reason.into(),
            message,
        },
        next: Next::Resync,
        withdraw: false,
    })
}

/// Stop, and take back what was given.
fn withdrawn(reason: &str, message: String) -> Stopped {
    Box::new(Stop {
        summary: Summary::Stalled {
            reason: reason.into(),
            message,
        },
        next: Next::Resync,
        withdraw: true,
    })
}

/// A referenced object, or the plan of waiting for it.
fn found<K: Clone>(
    found: &Found<K>,
    kind: &str,
    (ns, name): &(String, String),
) -> Result<K, Stopped> {
    match found {
        Found::Here(k) => Ok(k.clone()),
        Found::Missing => Err(waiting(
            reason::REFERENCE_NOT_FOUND,
            format!("{kind} {ns}/{name} does not exist"),
        )),
        Found::Unreadable => Err(waiting(
            reason::REFERENCE_NOT_READY,
            format!("{kind} {ns}/{name} does not match this operator's schema"),
        )),
    }
}

/// The plan of a pass over a binding whose spec is `desired` (or breaks a rule).
pub fn plan(desired: Result<DesiredBinding, FieldErrors>, seen: &Observed, now: Timestamp) -> Plan {
    let desired = match desired {
        Ok(d) => d,
        Err(errors) => {
            return Plan::Stop(Stop {
                summary: Summary::Stalled {
                    reason: reason::INVALID_SPEC.into(),
                    message: errors.to_string(),
                },
                next: Next::AwaitChange,
                withdraw: false,
            });
        }
    };
    match resolve(&desired, seen).and_then(|r| issue(&desired, seen, r, now)) {
        Ok(issue) => Plan::Issue(Box::new(issue)),
        Err(stop) => Plan::Stop(*stop),
    }
}

/// Everything resolved about the binding's targets.
struct Resolved {
    connection: Connection,
    source: Source,
    username: String,
    /// The cloud's name of the cluster, for the fingerprint.
    cluster_name: String,
    /// Whether everything is Ready for a first Secret (an existing one is refreshed
    /// regardless).
    settled: Result<(), String>,
}

/// What a binding needs of what it points at, whichever kind it is: where and how clients
/// connect, and who may.
struct Target {
    kind: TargetKind,
    provider: Provider,
    auth: TargetAuth,
    connection: Connection,
    /// The cloud's name of the cluster, for the fingerprint.
    cluster_name: String,
    /// Whether the target is Ready for a first Secret.
    settled: Result<(), String>,
}

/// Who may connect to a target.
enum TargetAuth {
    /// Anyone, without credentials.
    Open,
    /// One AUTH token for every client (a RedisCluster with authMode token).
    Token { mode: &'static str },
    /// Members of the UserGroups it lists; `mode` names the authentication for messages.
    Groups {
        mode: &'static str,
        groups: Vec<String>,
        reach: Reach,
    },
}

/// How a member's credential reaches the target.
enum Reach {
    /// A Memorystore cluster: tokens of the member's service account (with IAM auth on).
    Gcp(Box<GcpCluster>),
    /// An ElastiCache cache: IAM tokens are signed for it.
    Aws {
        region: String,
        cache: String,
        resource: TokenResource,
    },
}

/// What the binding points at: watched, there, admitting the binding's namespace, valid, with
/// endpoints.
fn target(seen: &Observed) -> Result<Target, Stopped> {
    let own_ns = &seen.namespace;
    let (cns, cname) = &seen.cluster_at;
    let kind = seen.kind;
    // A reference into a namespace the caches do not hold is not missing, only out of sight
    // (the group is in the cluster's namespace, so the cluster's is the one to check).
    if let Some(watched) = seen.watched.as_ref().filter(|w| *w != cns) {
        return Err(stalled(
            reason::NAMESPACE_NOT_WATCHED,
            format!(
                "{kind} {cns}/{cname} is in namespace {cns}, which this operator does not watch: it runs with --namespace {watched}; refer to one in {watched}, or run the operator for all namespaces"
            ),
        ));
    }
    let target = match kind {
        TargetKind::RedisCluster => {
            cluster_target(found(&seen.cluster, kind.as_str(), &seen.cluster_at)?, seen)?
        }
        TargetKind::ServerlessCache => serverless_target(
            found(&seen.serverless, kind.as_str(), &seen.cluster_at)?,
            seen,
        )?,
    };
    if cns != own_ns && !seen.admitted {
        return Err(withdrawn(
            reason::NAMESPACE_NOT_ALLOWED,
            format!(
                "{kind} {cns}/{cname} does not admit AccessBindings from namespace {own_ns} (its spec.access.allowedNamespaces)"
            ),
        ));
    }
    Ok(target)
}

/// Ready, or why a first Secret waits.
fn ready(
    conditions: &[Condition],
    kind: TargetKind,
    (ns, name): &(String, String),
) -> Result<(), String> {
    if condition::is_true(conditions, condition::READY) {
        Ok(())
    } else {
        Err(format!("waiting for {kind} {ns}/{name} to be Ready"))
    }
}

fn not_ready(kind: TargetKind, (ns, name): &(String, String), why: String) -> Stopped {
    waiting(
        reason::REFERENCE_NOT_READY,
        format!("{kind} {ns}/{name} {why}"),
    )
}

fn cluster_target(cluster: RedisCluster, seen: &Observed) -> Result<Target, Stopped> {
    let kind = TargetKind::RedisCluster;
    let at = &seen.cluster_at;
    let desired = cluster
        .desired()
        .map_err(|e| not_ready(kind, at, format!("has an invalid spec: {e}")))?;
    let status = cluster.status.clone().unwrap_or_default();
    let endpoints = status
        .endpoints
        .as_ref()
        .map(|e| e.discovery.clone())
        .unwrap_or_default();
    if endpoints.is_empty() {
        return Err(waiting(
            reason::REFERENCE_NOT_READY,
            format!("waiting for {kind} {}/{} to have endpoints", at.0, at.1),
        ));
    }
    let groups: Vec<String> = cluster
        .spec
        .user_group_refs
        .iter()
        .map(|r| r.name.clone())
        .collect();
    let (cluster_mode, cluster_name, reach) = match &desired {
        // A Valkey instance with cluster mode disabled is one shard behind a primary endpoint.
        DesiredCluster::Gcp(g) => (
            g.valkey.as_ref().is_none_or(|v| v.cluster_mode),
            g.name(),
            Reach::Gcp(Box::new(g.clone())),
        ),
        DesiredCluster::Aws(a) => (
            a.cluster_mode_enabled,
            status
                .cloud_resource
                .clone()
                .unwrap_or_else(|| a.replication_group_id.clone()),
            Reach::Aws {
                region: a.region.clone(),
                cache: a.replication_group_id.to_ascii_lowercase(),
                resource: TokenResource::ReplicationGroup,
            },
        ),
    };
    let auth = match cluster.spec.auth_mode {
        AuthMode::Disabled => TargetAuth::Open,
        AuthMode::Token => TargetAuth::Token { mode: "token" },
        AuthMode::Iam => TargetAuth::Groups {
            mode: "authMode iam",
            groups,
            reach,
        },
        AuthMode::Password => TargetAuth::Groups {
            mode: "authMode password",
            groups,
            reach,
        },
    };
    Ok(Target {
        kind,
        provider: cluster.spec.provider,
        auth,
        connection: Connection {
            provider: cluster.spec.provider,
            endpoints,
            reader: None,
            tls: cluster.spec.transit_encryption,
            ca_certificate: status.ca_certificate.clone(),
            cluster_mode,
            role: replication_role(&status),
        },
        cluster_name,
        settled: ready(&status.conditions, kind, at),
    })
}

/// A cross-region member's role as the cloud last reported it: `primary` (takes writes; also
/// a detached member) or `secondary` (read-only); none for a cluster outside any set.
fn replication_role(status: &cache_operator_api::RedisClusterStatus) -> Option<&'static str> {
    use cache_operator_api::cross_region::ReplicationRole;
    match status.cross_region.as_ref()?.role? {
        ReplicationRole::Secondary => Some("secondary"),
        ReplicationRole::Primary | ReplicationRole::None => Some("primary"),
    }
}

/// A serverless cache: TLS always, the cluster protocol always, an endpoint and a reader
/// endpoint; its user group's members connect, or anyone when it has none.
fn serverless_target(cache: ServerlessCache, seen: &Observed) -> Result<Target, Stopped> {
    let kind = TargetKind::ServerlessCache;
    let at = &seen.cluster_at;
    let desired = cache
        .desired()
        .map_err(|e| not_ready(kind, at, format!("has an invalid spec: {e}")))?;
    let status = cache.status.clone().unwrap_or_default();
    let Some(endpoint) = status.endpoint.clone() else {
        return Err(waiting(
            reason::REFERENCE_NOT_READY,
            format!("waiting for {kind} {}/{} to have an endpoint", at.0, at.1),
        ));
    };
    let auth = match &cache.spec.user_group_ref {
        None => TargetAuth::Open,
        Some(g) => TargetAuth::Groups {
            mode: "a user group",
            groups: vec![g.name.clone()],
            reach: Reach::Aws {
                region: desired.region.clone(),
                cache: desired.name.clone(),
                resource: TokenResource::ServerlessCache,
            },
        },
    };
    Ok(Target {
        kind,
        provider: Provider::Aws,
        auth,
        connection: Connection {
            provider: Provider::Aws,
            endpoints: vec![endpoint],
            reader: status.reader_endpoint.clone(),
            tls: true,
            ca_certificate: None,
            cluster_mode: true,
            role: None,
        },
        cluster_name: status.cloud_resource.clone().unwrap_or(desired.name),
        settled: ready(&status.conditions, kind, at),
    })
}

/// The target, the group and the user, checked against each other.
fn resolve(desired: &DesiredBinding, seen: &Observed) -> Result<Resolved, Stopped> {
    let Target {
        kind,
        provider,
        auth,
        connection,
        cluster_name,
        mut settled,
    } = target(seen)?;
    let (cns, cname) = &seen.cluster_at;
    let resolved = |source, username: &str, settled| Resolved {
        connection: connection.clone(),
        source,
        username: username.to_owned(),
        cluster_name: cluster_name.clone(),
        settled,
    };

    let (mode, groups, reach) = match auth {
        TargetAuth::Open => return Ok(resolved(Source::None, "default", settled)),
        TargetAuth::Token { mode } => {
            if seen.group_at.is_some() || desired.user.is_some() {
                return Err(stalled(
                    reason::INVALID_SPEC,
                    format!(
                        "spec.userGroupRef: {kind} {cns}/{cname} uses authMode {mode}, one AUTH token for every client: a binding of it names neither a UserGroup nor a user; remove spec.userGroupRef and spec.user"
                    ),
                ));
            }
            // Redis OSS before 6 knows no user names: clients send `AUTH <token>` alone,
            // which every version takes, so the Secret names no user.
            let source = Source::AwsAuthToken {
                namespace: cns.clone(),
                cluster: cname.clone(),
            };
            return Ok(resolved(source, "", settled));
        }
        TargetAuth::Groups {
            mode,
            groups,
            reach,
        } => (mode, groups, reach),
    };

    let Some(group_at @ (gns, gname)) = &seen.group_at else {
        return Err(stalled(
            reason::INVALID_SPEC,
            format!(
                "spec.userGroupRef is required: {kind} {cns}/{cname} uses {mode}, whose clients are members of a UserGroup it lists"
            ),
        ));
    };
    if gns != cns {
        return Err(stalled(
            reason::INVALID_SPEC,
            format!(
                "spec.userGroupRef.namespace: the group must be in the {kind}'s namespace {cns} (they list groups of their own namespace)"
            ),
        ));
    }
    if !groups.iter().any(|g| g == gname) {
        return Err(withdrawn(
            reason::NOT_AUTHORIZED,
            format!("{kind} {cns}/{cname} does not list UserGroup {gname} as its user group"),
        ));
    }
    let group: UserGroup = found(&seen.group, "UserGroup", group_at)?;
    if group.spec.provider != provider {
        return Err(stalled(
            reason::INVALID_SPEC,
            format!(
                "UserGroup {gns}/{gname} is for {} but {kind} {cns}/{cname} is on {provider}",
                group.spec.provider
            ),
        ));
    }
    let gstatus = group.status.clone().unwrap_or_default();
    let group_ready = condition::is_true(&gstatus.conditions, condition::READY)
        && gstatus.observed_generation == group.metadata.generation;
    if settled.is_ok() && !group_ready {
        settled = Err(format!("waiting for UserGroup {gns}/{gname} to be Ready"));
    }
    let (source, username) = identity(desired, seen, (&reach, (gns, gname)), &group, &mut settled)?;
    Ok(resolved(source, &username, settled))
}

/// The identity the binding names in its group, and where its credential comes from; a gcp
/// service account waits (in `settled`) until the group granted it on the clusters listing it.
fn identity(
    desired: &DesiredBinding,
    seen: &Observed,
    (reach, (gns, gname)): (&Reach, (&str, &str)),
    group: &UserGroup,
    settled: &mut Result<(), String>,
) -> Result<(Source, String), Stopped> {
    let gstatus = group.status.clone().unwrap_or_default();
    let not_a_member = |who: &str| {
        withdrawn(
            reason::NOT_AUTHORIZED,
            format!("{who} is not a member of UserGroup {gns}/{gname}"),
        )
    };
    match reach {
        Reach::Gcp(g) => {
            if let Some(sa) = &desired.user {
                let member = format!("serviceAccount:{sa}");
                let mut members = group.spec.gcp.iter().flat_map(|g| &g.members);
                if !members.any(|m| *m == member) {
                    return Err(not_a_member(&member));
                }
                if gstatus.missing_members.contains(&member) {
                    return Err(stalled(
                        reason::MEMBER_NOT_FOUND,
                        format!(
                            "IAM refused {member} as a member of UserGroup {gns}/{gname}: the service account does not exist"
                        ),
                    ));
                }
                // The group has granted this generation's members on exactly the clusters
                // that list it now (this one among them), and IAM knew the member.
                let granted = gstatus.granted.as_ref().is_some_and(|gr| {
                    Some(gr.generation) == group.metadata.generation
                        && Some(&gr.clusters) == seen.listing.as_ref()
                });
                if settled.is_ok() && !granted {
                    *settled = Err(format!(
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
            Ok((source, "default".to_owned()))
        }
        Reach::Aws {
            region,
            cache,
            resource,
        } => {
            let Some(user_id) = desired.user.as_ref().map(|u| u.to_ascii_lowercase()) else {
                return Err(stalled(
                    reason::INVALID_SPEC,
                    "spec.user: the userId of a member of the group is required for an aws cache with authentication".into(),
                ));
            };
            let mut users = group.spec.aws.iter().flat_map(|a| &a.users);
            let Some(user) = users.find(|u| u.user_id == user_id) else {
                return Err(not_a_member(&format!("user {user_id}")));
            };
            let source = match user.authentication {
                UserAuthentication::Iam => Source::AwsIam {
                    region: region.clone(),
                    cache: cache.clone(),
                    resource: *resource,
                    user_id,
                },
                UserAuthentication::Password => Source::AwsPassword { user_id },
            };
            Ok((source, user.user_name.clone()))
        }
    }
}

/// The Secret's credential and contents.
fn issue(
    desired: &DesiredBinding,
    seen: &Observed,
    r: Resolved,
    now: Timestamp,
) -> Result<Issue, Stopped> {
    let secret_name = desired.secret_name.clone();
    if seen.secret.as_ref().is_some_and(|s| !s.ours) {
        return Err(stalled(
            reason::ALREADY_EXISTS,
            format!(
                "Secret {secret_name} exists and was not written for this binding; choose another spec.secretName or remove that Secret"
            ),
        ));
    }
    // A first Secret waits until everything is Ready; an existing one keeps being refreshed.
    if seen.secret.is_none()
        && let Err(why) = r.settled
    {
        return Err(waiting(reason::REFERENCE_NOT_READY, why));
    }
    let fingerprint = r.source.fingerprint(&r.cluster_name);
    let still_valid = still_valid(seen.secret.as_ref(), &fingerprint, now);
    let issued = |i: &crate::controller::Issued| Token {
        password: i.secret.clone(),
        expires_at: None,
        refresh_at: i.rotate_at,
    };
    let credential = match &r.source {
        Source::None => Choice::Known(Token::default()),
        Source::AwsPassword { user_id } => match &seen.password {
            Some(p) => Choice::Known(issued(p)),
            None => {
                return Err(waiting(
                    reason::REFERENCE_NOT_READY,
                    format!("waiting for the operator to set the password of user {user_id}"),
                ));
            }
        },
        Source::AwsAuthToken { namespace, cluster } => match &seen.auth_token {
            Some(t) => Choice::Known(issued(t)),
            None => {
                return Err(waiting(
                    reason::REFERENCE_NOT_READY,
                    format!(
                        "waiting for the operator to set the AUTH token of RedisCluster {namespace}/{cluster}"
                    ),
                ));
            }
        },
        Source::GcpToken { service_account } => reuse_or_mint(
            still_valid,
            now,
            Mint::Gcp {
                service_account: service_account.clone(),
            },
        ),
        Source::AwsIam {
            region,
            cache,
            resource,
            user_id,
        } => reuse_or_mint(
            still_valid,
            now,
            Mint::AwsIam {
                region: region.clone(),
                cache: cache.clone(),
                resource: *resource,
                user_id: user_id.clone(),
            },
        ),
    };
    let mut annotations = desired.annotations.clone();
    annotations.insert(CREDENTIAL_ANNOTATION.into(), fingerprint);
    Ok(Issue {
        secret_name,
        connection: r.connection,
        source: r.source,
        username: r.username,
        labels: desired.labels.clone(),
        annotations,
        credential,
        current: seen.secret.as_ref().map(|s| s.secret.clone()),
        previous: seen.secret.as_ref().map(|s| s.token.clone()),
        refresh_before: desired.refresh_before,
    })
}

/// A valid token not yet due for refresh is kept; else a new one is minted.
fn reuse_or_mint(still_valid: Option<Token>, now: Timestamp, from: Mint) -> Choice {
    match still_valid
        .as_ref()
        .filter(|t| t.refresh_at.is_some_and(|r| r > now))
    {
        Some(reusable) => Choice::Known(reusable.clone()),
        None => Choice::Mint { from, still_valid },
    }
}

/// The token in the existing Secret, if it is for this identity and still valid.
pub fn still_valid(
    previous: Option<&Existing>,
    fingerprint: &str,
    now: Timestamp,
) -> Option<Token> {
    let p = previous.filter(|p| p.credential.as_deref() == Some(fingerprint))?;
    let valid = !p.token.password.is_empty() && p.token.expires_at.is_some_and(|t| t > now);
    valid.then(|| p.token.clone())
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
