//! The AccessBinding controller: resolve cluster, group and user, mint or read the credential,
//! write the binding's Secret, and come back before the credential expires.
//!
//! The Secret is the record: a token in it is reused until its `refresh-at`, so restarts and
//! resyncs mint nothing new. A failed refresh keeps the Secret as it is while its token is
//! still valid and retries with backoff.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use cache_operator_api::binding::{AccessBinding, AccessBindingStatus};
use cache_operator_api::cluster::{AuthMode, RedisCluster};
use cache_operator_api::condition::{self, Summary, reason};
use cache_operator_api::model::{DesiredBinding, DesiredCluster};
use cache_operator_api::user_group::UserAuthentication;
use cache_operator_api::user_group::UserGroup;
use cache_operator_cloud::{CloudError, ErrorClass};
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::user_group::{PASSWORDS_LABEL, passwords_secret_name};
use super::{Error, MANAGER, add_finalizer, event, has_finalizer, remove_finalizer, write_status};
use crate::context::Context;
use crate::passwords;
use crate::secret::{self, CREDENTIAL_ANNOTATION, Connection, Credential, Existing, Wanted};

pub const KIND: &str = "AccessBinding";

type ClusterGuard = kube::core::DeserializeGuard<RedisCluster>;

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
fn cluster_key(b: &AccessBinding) -> (&str, &str) {
    let own = b.metadata.namespace.as_deref().unwrap_or_default();
    (
        b.spec.cluster_ref.namespace_or(own),
        &b.spec.cluster_ref.name,
    )
}

fn group_key(b: &AccessBinding) -> (&str, &str) {
    let (cluster_ns, _) = cluster_key(b);
    let ns = b
        .spec
        .user_group_ref
        .namespace
        .as_deref()
        .unwrap_or(cluster_ns);
    (ns, &b.spec.user_group_ref.name)
}

fn refs<'a>(
    store: &'a Store<AccessBinding>,
    matches: impl Fn(&AccessBinding) -> bool + 'a,
) -> Vec<ObjectRef<AccessBinding>> {
    store
        .state()
        .iter()
        .filter(|b| matches(b))
        .map(|b| ObjectRef::from_obj(&**b))
        .collect()
}

/// Per group: the signature of what bindings read, and the clusters it has granted.
type GroupsSeen = HashMap<(String, String), (u64, BTreeSet<String>)>;

/// A hash of the parts of a UserGroup that bindings depend on, apart from its grants.
fn group_signature(g: &UserGroup) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    g.metadata.generation.hash(&mut h);
    g.metadata.deletion_timestamp.is_some().hash(&mut h);
    if let Some(s) = &g.status {
        s.observed_generation.hash(&mut h);
        s.user_group_id.hash(&mut h);
        s.users.hash(&mut h);
        for c in &s.conditions {
            (&c.type_, &c.status, &c.reason).hash(&mut h);
        }
    }
    h.finish()
}

/// Run the controller until `stop`: bindings, and what they depend on (clusters, groups, their
/// own Secrets and the groups' password Secrets).
pub async fn run(
    client: kube::Client,
    ctx: Arc<Context>,
    namespace: Option<String>,
    concurrency: u16,
    stop: CancellationToken,
) {
    use super::api_in as api;
    let (store, events) = super::lean_reflector(
        api::<AccessBinding>(&client, &namespace),
        watcher::Config::default().any_semantic(),
    );
    let controller = Controller::for_stream(events, store.clone())
        .with_config(controller::Config::default().concurrency(concurrency));
    let (s1, s2, s3) = (store.clone(), store.clone(), store);
    let seen: std::sync::Mutex<GroupsSeen> = Default::default();
    controller
        .watches(
            api::<ClusterGuard>(&client, &namespace),
            watcher::Config::default().any_semantic(),
            move |c: ClusterGuard| {
                let key = (c.namespace().unwrap_or_default(), c.name_any());
                refs(&s1, move |b| {
                    cluster_key(b) == (key.0.as_str(), key.1.as_str())
                })
            },
        )
        // A group's status grows a grant per cluster that lists it; re-running every binding of
        // the group on each new grant would make N clusters cost N² reconciles. So a change of
        // what all bindings read re-runs them all, and otherwise only the bindings of clusters
        // whose grant came or went run again.
        .watches(
            api::<UserGroup>(&client, &namespace),
            watcher::Config::default().any_semantic(),
            move |g: UserGroup| {
                let key = (g.namespace().unwrap_or_default(), g.name_any());
                let signature = group_signature(&g);
                let granted: BTreeSet<String> = g
                    .status
                    .map(|s| s.clusters.into_iter().collect())
                    .unwrap_or_default();
                let previous = seen
                    .lock()
                    .expect("group signatures lock")
                    .insert(key.clone(), (signature, granted.clone()));
                match previous {
                    Some((old_signature, old_granted)) if old_signature == signature => {
                        let changed: BTreeSet<String> = granted
                            .symmetric_difference(&old_granted)
                            .cloned()
                            .collect();
                        if changed.is_empty() {
                            return Vec::new();
                        }
                        refs(&s2, move |b| {
                            let (ns, name) = cluster_key(b);
                            group_key(b) == (key.0.as_str(), key.1.as_str())
                                && changed.contains(&format!("{ns}/{name}"))
                        })
                    }
                    _ => refs(&s2, move |b| {
                        group_key(b) == (key.0.as_str(), key.1.as_str())
                    }),
                }
            },
        )
        .watches(
            api::<Secret>(&client, &namespace),
            watcher::Config::default()
                .labels(&format!(
                    "{}={}",
                    secret::MANAGED_BY.0,
                    secret::MANAGED_BY.1
                ))
                .any_semantic(),
            move |s: Secret| {
                let ns = s.namespace().unwrap_or_default();
                if let Some(group) = s.labels().get(PASSWORDS_LABEL) {
                    let key = (ns, group.clone());
                    return refs(&s3, move |b| {
                        group_key(b) == (key.0.as_str(), key.1.as_str())
                    });
                }
                s.owner_references()
                    .iter()
                    .filter(|o| o.kind == KIND && o.controller == Some(true))
                    .map(|o| ObjectRef::new(&o.name).within(&ns))
                    .collect()
            },
        )
        .graceful_shutdown_on(stop.cancelled_owned())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

pub async fn reconcile(b: Arc<AccessBinding>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile(KIND);
    let ns = b.namespace().unwrap_or_default();
    let api: Api<AccessBinding> = Api::namespaced(ctx.client.clone(), &ns);
    let action = if b.metadata.deletion_timestamp.is_some() {
        if !has_finalizer(&*b) {
            return Ok(Action::await_change());
        }
        let pass = Pass::new(&b, &api, &ctx);
        pass.delete_secret().await?;
        ctx.metrics.set_token_expiry(&ns, &b.name_any(), None);
        remove_finalizer(&api, &*b).await?;
        Action::await_change()
    } else {
        if !has_finalizer(&*b) {
            add_finalizer(&api, &*b).await?;
        }
        Pass::new(&b, &api, &ctx).apply().await?
    };
    ctx.succeeded(&key(&b));
    Ok(action)
}

/// Backoff, but never so long that a still-valid token would expire before the next try.
pub fn error_policy(b: Arc<AccessBinding>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.error(KIND, &error.reason());
    let name = key(&b);
    let mut delay = ctx.backoff(&name);
    if let Some(Time(expires)) = b.status.as_ref().and_then(|s| s.token_expires_at.clone()) {
        let left = Duration::try_from(expires.duration_since(Timestamp::now())).unwrap_or_default();
        if !left.is_zero() {
            delay = delay.min((left / 3).max(Duration::from_secs(1)));
        }
    }
    tracing::warn!(binding = %name, error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

fn key(obj: &AccessBinding) -> String {
    format!(
        "{KIND}/{}/{}",
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

/// Which credential a binding needs.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Plan {
    /// The cluster takes no credentials.
    None,
    /// A gcp access token for this service account, or the operator's own identity.
    GcpToken { service_account: Option<String> },
    /// An aws IAM auth token for the user on the replication group.
    AwsIam {
        region: String,
        replication_group: String,
        user_id: String,
    },
    /// The current password of an aws password user, from the group's password Secret.
    AwsPassword { user_id: String },
}

impl Plan {
    /// What the Secret's credential annotation records (never the credential).
    fn fingerprint(&self, cluster: &str) -> String {
        match self {
            Plan::None => format!("none {cluster}"),
            Plan::GcpToken { service_account } => format!(
                "gcp-token {} {cluster}",
                service_account.as_deref().unwrap_or("operator")
            ),
            Plan::AwsIam {
                region,
                replication_group,
                user_id,
            } => format!("aws-iam {region}/{replication_group}/{user_id}"),
            Plan::AwsPassword { user_id } => format!("aws-password {user_id} {cluster}"),
        }
    }

    fn is_token(&self) -> bool {
        matches!(self, Plan::GcpToken { .. } | Plan::AwsIam { .. })
    }
}

/// Everything resolved about the binding's targets.
struct Resolved {
    connection: Connection,
    plan: Plan,
    username: String,
    /// The cloud's name of the cluster, for the fingerprint.
    cluster_name: String,
    group: Option<UserGroup>,
    /// Whether everything is Ready for a first issuance (refreshes go on regardless).
    settled: Result<(), String>,
}

/// Why a pass stops before writing a Secret.
enum Stop {
    /// Waiting on another object; the Secret (if any) stays.
    Waiting(&'static str, String),
    /// The spec contradicts itself or its targets; the Secret (if any) stays.
    Invalid(&'static str, String),
    /// The binding may not (or no longer) connect: its Secret goes.
    Revoked(&'static str, String),
    Failed(Error),
}

impl From<kube::Error> for Stop {
    fn from(e: kube::Error) -> Self {
        Stop::Failed(Error::Kube(e))
    }
}

struct Pass<'a> {
    obj: &'a AccessBinding,
    api: &'a Api<AccessBinding>,
    ctx: &'a Context,
    st: AccessBindingStatus,
    generation: Option<i64>,
}

impl<'a> Pass<'a> {
    fn new(obj: &'a AccessBinding, api: &'a Api<AccessBinding>, ctx: &'a Context) -> Self {
        let mut st = obj.status.clone().unwrap_or_default();
        st.observed_generation = obj.metadata.generation;
        Pass {
            obj,
            api,
            ctx,
            st,
            generation: obj.metadata.generation,
        }
    }

    fn namespace(&self) -> String {
        self.obj.namespace().unwrap_or_default()
    }

    /// Log a state change and publish it as an event.
    async fn note(&self, type_: EventType, reason: &str, action: &str, note: String) {
        let object = format!(
            "{}/{}",
            self.obj.namespace().unwrap_or_default(),
            self.obj.name_any()
        );
        if type_ == EventType::Warning {
            tracing::warn!(kind = KIND, %object, reason, "{note}");
        } else {
            tracing::info!(kind = KIND, %object, reason, "{note}");
        }
        event(self.ctx, self.obj, type_, reason, action, note).await;
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.ctx.client.clone(), &self.namespace())
    }

    /// Delete the Secret if this binding wrote it.
    async fn delete_secret(&self) -> Result<bool, Error> {
        let name = self.obj.secret_name();
        let Some(s) = self.secrets().get_opt(name).await? else {
            return Ok(false);
        };
        if !secret::owned_by(&s, &self.obj.uid().unwrap_or_default()) {
            return Ok(false);
        }
        match self.secrets().delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Write the conditions and the status; an event when Ready's reason or message changed.
    async fn finish(&mut self, conditions: Conditions, then: Action) -> Result<Action, Error> {
        let old = self.obj.status.clone().unwrap_or_default();
        let before = condition::get(&old.conditions, condition::READY)
            .map(|c| (c.status.clone(), c.reason.clone()));
        let now = Timestamp::now();
        let (event_type, reason, message) =
            conditions.apply(&mut self.st.conditions, self.generation, now);
        let after = condition::get(&self.st.conditions, condition::READY)
            .map(|c| (c.status.clone(), c.reason.clone()));
        write_status(self.api, self.obj, Some(&old), &self.st).await?;
        if before != after || event_type == EventType::Warning {
            self.note(event_type, &reason, "Reconcile", message).await;
        }
        Ok(then)
    }

    async fn apply(&mut self) -> Result<Action, Error> {
        let desired = match self.obj.desired() {
            Ok(d) => d,
            Err(errors) => {
                return self
                    .finish(
                        Conditions::summary(Summary::stalled(
                            reason::INVALID_SPEC,
                            errors.to_string(),
                        )),
                        Action::await_change(),
                    )
                    .await;
            }
        };
        let resolved = match self.resolve(&desired).await {
            Ok(r) => r,
            Err(stop) => return self.stopped(stop).await,
        };
        self.issue(&desired, resolved).await
    }

    async fn stopped(&mut self, stop: Stop) -> Result<Action, Error> {
        let resync = Action::requeue(self.ctx.resync());
        match stop {
            Stop::Waiting(r, msg) => {
                let then = Action::requeue(self.ctx.timing.poll.max(Duration::from_secs(1)));
                self.finish(Conditions::summary(Summary::progressing(r, msg)), then)
                    .await
            }
            Stop::Invalid(r, msg) => {
                self.finish(Conditions::summary(Summary::stalled(r, msg)), resync)
                    .await
            }
            Stop::Revoked(r, msg) => {
                let removed = self.delete_secret().await?;
                let msg = if removed {
                    format!("{msg}; Secret {} deleted", self.obj.secret_name())
                } else {
                    format!("{msg}; no Secret is written")
                };
                self.st.token_expires_at = None;
                self.st.refresh_at = None;
                self.ctx
                    .metrics
                    .set_token_expiry(&self.namespace(), &self.obj.name_any(), None);
                self.finish(Conditions::summary(Summary::stalled(r, msg)), resync)
                    .await
            }
            Stop::Failed(e) => Err(e),
        }
    }

    async fn resolve(&self, desired: &DesiredBinding) -> Result<Resolved, Stop> {
        let own_ns = self.namespace();
        let (cns, cname) = cluster_of(self.obj);
        let clusters: Api<RedisCluster> = Api::namespaced(self.ctx.client.clone(), &cns);
        let Some(cluster) = clusters.get_opt(&cname).await? else {
            return Err(Stop::Waiting(
                reason::REFERENCE_NOT_FOUND,
                format!("RedisCluster {cns}/{cname} does not exist"),
            ));
        };
        if cns != own_ns
            && !cluster
                .spec
                .access
                .as_ref()
                .is_some_and(|a| a.admits(&own_ns))
        {
            return Err(Stop::Revoked(
                reason::NAMESPACE_NOT_ALLOWED,
                format!(
                    "RedisCluster {cns}/{cname} does not admit AccessBindings from namespace {own_ns} (its spec.access.allowedNamespaces)"
                ),
            ));
        }
        let cluster_desired = cluster.desired().map_err(|e| {
            Stop::Waiting(
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
            return Err(Stop::Waiting(
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
                plan: Plan::None,
                username: "default".into(),
                cluster_name,
                group: None,
                settled,
            });
        }

        let (gns, gname) = group_of(self.obj);
        if gns != cns {
            return Err(Stop::Invalid(
                reason::INVALID_SPEC,
                format!(
                    "spec.userGroupRef.namespace: the group must be in the cluster's namespace {cns} (clusters list groups of their own namespace)"
                ),
            ));
        }
        if !cluster.spec.user_group_refs.iter().any(|r| r.name == gname) {
            return Err(Stop::Revoked(
                reason::NOT_AUTHORIZED,
                format!(
                    "RedisCluster {cns}/{cname} does not list UserGroup {gname} in spec.userGroupRefs"
                ),
            ));
        }
        let groups: Api<UserGroup> = Api::namespaced(self.ctx.client.clone(), &gns);
        let Some(group) = groups.get_opt(&gname).await? else {
            return Err(Stop::Waiting(
                reason::REFERENCE_NOT_FOUND,
                format!("UserGroup {gns}/{gname} does not exist"),
            ));
        };
        if group.spec.provider != cluster.spec.provider {
            return Err(Stop::Invalid(
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

        let (plan, username) = match &cluster_desired {
            DesiredCluster::Gcp(g) => {
                if let Some(sa) = &desired.user {
                    let member = format!("serviceAccount:{sa}");
                    let members = group
                        .spec
                        .gcp
                        .as_ref()
                        .map(|g| g.members.as_slice())
                        .unwrap_or_default();
                    if !members.contains(&member) {
                        return Err(Stop::Revoked(
                            reason::NOT_AUTHORIZED,
                            format!("{member} is not a member of UserGroup {gns}/{gname}"),
                        ));
                    }
                    let granted = gstatus
                        .grants
                        .iter()
                        .any(|gr| gr.cluster == g.name() && gr.members.contains(&member));
                    if settled.is_ok() && !granted {
                        settled = Err(format!(
                            "waiting for UserGroup {gns}/{gname} to grant {member} access to {}",
                            g.name()
                        ));
                    }
                }
                let plan = if g.iam_auth {
                    Plan::GcpToken {
                        service_account: desired.user.clone(),
                    }
                } else {
                    Plan::None
                };
                (plan, "default".to_owned())
            }
            DesiredCluster::Aws(a) => {
                let Some(user_id) = desired.user.as_ref().map(|u| u.to_ascii_lowercase()) else {
                    return Err(Stop::Invalid(
                        reason::INVALID_SPEC,
                        "spec.user: the userId of a member of the group is required for an aws cluster with authentication".into(),
                    ));
                };
                let users = group
                    .spec
                    .aws
                    .as_ref()
                    .map(|a| a.users.as_slice())
                    .unwrap_or_default();
                let Some(user) = users.iter().find(|u| u.user_id == user_id) else {
                    return Err(Stop::Revoked(
                        reason::NOT_AUTHORIZED,
                        format!("user {user_id} is not a member of UserGroup {gns}/{gname}"),
                    ));
                };
                let plan = match user.authentication {
                    UserAuthentication::Iam => Plan::AwsIam {
                        region: a.region.clone(),
                        replication_group: a.replication_group_id.to_ascii_lowercase(),
                        user_id: user_id.clone(),
                    },
                    UserAuthentication::Password => Plan::AwsPassword {
                        user_id: user_id.clone(),
                    },
                };
                (plan, user.user_name.clone())
            }
        };
        Ok(Resolved {
            connection,
            plan,
            username,
            cluster_name,
            group: Some(group),
            settled,
        })
    }

    /// Mint (or reuse, or read) the credential, write the Secret, record the status.
    async fn issue(&mut self, desired: &DesiredBinding, r: Resolved) -> Result<Action, Error> {
        let now = Timestamp::now();
        let secret_name = desired.secret_name.clone();
        let uid = self.obj.uid().unwrap_or_default();
        let existing = self.secrets().get_opt(&secret_name).await?;
        if let Some(s) = &existing
            && !secret::owned_by(s, &uid)
        {
            let msg = format!(
                "Secret {secret_name} exists and was not written for this binding; choose another spec.secretName or remove that Secret"
            );
            return self
                .finish(
                    Conditions::summary(Summary::stalled(reason::ALREADY_EXISTS, msg)),
                    Action::requeue(self.ctx.resync()),
                )
                .await;
        }
        let fingerprint = r.plan.fingerprint(&r.cluster_name);
        let previous = existing.as_ref().map(Existing::read);
        // A first Secret waits until everything is Ready; an existing one keeps being refreshed.
        if existing.is_none()
            && let Err(why) = &r.settled
        {
            return self
                .stopped(Stop::Waiting(reason::REFERENCE_NOT_READY, why.clone()))
                .await;
        }
        let still_valid = previous
            .as_ref()
            .filter(|p| {
                p.credential.as_deref() == Some(fingerprint.as_str())
                    && !p.password.is_empty()
                    && p.expires_at.is_some_and(|t| t > now)
            })
            .cloned();

        let credential = match &r.plan {
            Plan::None => Credential {
                username: r.username.clone(),
                password: String::new(),
                expires_at: None,
                refresh_at: None,
            },
            Plan::AwsPassword { user_id } => match self.read_password(&r, user_id).await? {
                Some(c) => c,
                None => {
                    let msg =
                        format!("waiting for the operator to set the password of user {user_id}");
                    return self
                        .stopped(Stop::Waiting(reason::REFERENCE_NOT_READY, msg))
                        .await;
                }
            },
            token_plan => match still_valid
                .as_ref()
                .filter(|p| p.refresh_at.is_some_and(|t| t > now))
            {
                Some(p) => Credential {
                    username: r.username.clone(),
                    password: p.password.clone(),
                    expires_at: p.expires_at,
                    refresh_at: p.refresh_at,
                },
                None => match self.mint(token_plan).await {
                    Ok((token, expires)) => Credential {
                        username: r.username.clone(),
                        password: token,
                        expires_at: Some(expires),
                        refresh_at: Some(secret::refresh_at(now, expires, desired.refresh_before)),
                    },
                    Err(e) => return self.refresh_failed(e, still_valid.as_ref()).await,
                },
            },
        };

        let mut annotations = desired.annotations.clone();
        annotations.insert(CREDENTIAL_ANNOTATION.into(), fingerprint);
        let wanted = Wanted {
            name: secret_name.clone(),
            namespace: self.namespace(),
            owner: self
                .obj
                .controller_owner_ref(&())
                .expect("a stored object has a name and uid"),
            labels: desired.labels.clone(),
            annotations,
            data: secret::data(&r.connection, &credential),
        };
        let rotated = previous
            .as_ref()
            .is_none_or(|p| p.password != credential.password);
        if existing.as_ref().is_none_or(|s| !wanted.is_met_by(s)) {
            let mut value = serde_json::to_value(wanted.secret()).expect("a Secret serializes");
            value["apiVersion"] = "v1".into();
            value["kind"] = "Secret".into();
            self.secrets()
                .patch(
                    &secret_name,
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(value),
                )
                .await?;
        }
        if rotated && !credential.password.is_empty() {
            self.st.last_rotation_time = Some(Time(now));
        }
        if matches!(r.plan, Plan::AwsPassword { .. }) && rotated && previous.is_some() {
            self.note(
                EventType::Normal,
                "PasswordRotated",
                "Rotate",
                format!(
                    "Secret {secret_name} now holds the new password of user {}",
                    r.username
                ),
            )
            .await;
        }
        self.st.secret_name = Some(secret_name.clone());
        self.st.username = Some(r.username.clone());
        self.st.token_expires_at = credential.expires_at.map(Time);
        self.st.refresh_at = credential.refresh_at.map(Time);
        self.ctx.metrics.set_token_expiry(
            &self.namespace(),
            &self.obj.name_any(),
            credential.expires_at,
        );

        let msg = match (&r.plan, credential.expires_at) {
            (Plan::None, _) => format!(
                "Secret {secret_name} holds the connection details; the cluster takes no credentials"
            ),
            (Plan::AwsPassword { .. }, _) => format!(
                "Secret {secret_name} holds the password of user {}",
                r.username
            ),
            (_, Some(t)) => format!(
                "Secret {secret_name} holds a token for {} valid until {}",
                match &r.plan {
                    Plan::GcpToken {
                        service_account: Some(sa),
                    } => sa.clone(),
                    Plan::GcpToken {
                        service_account: None,
                    } => "the operator's identity".into(),
                    _ => r.username.clone(),
                },
                Timestamp::from_second(t.as_second()).unwrap_or(t)
            ),
            (_, None) => format!("Secret {secret_name} is written"),
        };
        let then = match (r.plan.is_token(), credential.refresh_at) {
            (true, Some(at)) => {
                let until =
                    Duration::try_from(at.duration_since(Timestamp::now())).unwrap_or_default();
                Action::requeue(until.clamp(Duration::from_millis(200), self.ctx.resync()))
            }
            _ => Action::requeue(self.ctx.resync()),
        };
        self.finish(
            Conditions::summary(Summary::ready(reason::CREDENTIALS_ISSUED, msg)),
            then,
        )
        .await
    }

    /// The current password of a user from its group's password Secret.
    async fn read_password(
        &self,
        r: &Resolved,
        user_id: &str,
    ) -> Result<Option<Credential>, Error> {
        let Some(group) = &r.group else {
            return Ok(None);
        };
        let ns = group.namespace().unwrap_or_default();
        let secrets: Api<Secret> = Api::namespaced(self.ctx.client.clone(), &ns);
        let Some(s) = secrets
            .get_opt(&passwords_secret_name(&group.name_any()))
            .await?
        else {
            return Ok(None);
        };
        let data = s
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        Ok(passwords::decode(&data)
            .remove(user_id)
            .map(|e| Credential {
                username: r.username.clone(),
                password: e.current.clone(),
                expires_at: None,
                refresh_at: e.rotate_at,
            }))
    }

    async fn mint(&self, plan: &Plan) -> Result<(String, Timestamp), CloudError> {
        let access = &self.ctx.access;
        match plan {
            Plan::GcpToken {
                service_account: Some(sa),
            } => {
                let t = access
                    .gcp_iam
                    .generate_access_token(sa, access.settings.gcp_token_lifetime.as_secs())
                    .await?;
                Ok((t.token, t.expires_at))
            }
            Plan::GcpToken {
                service_account: None,
            } => access.gcp_auth.fresh_token().await?.ok_or_else(|| {
                CloudError::new(
                    ErrorClass::Unauthenticated,
                    "credentials",
                    "the operator runs without a Google identity (--gcp-auth none); name a service account in spec.user",
                    "gcp token",
                )
            }),
            Plan::AwsIam {
                region,
                replication_group,
                user_id,
            } => {
                let t = access
                    .aws_users
                    .iam_token(
                        region,
                        replication_group,
                        user_id,
                        access.settings.aws_iam_token_lifetime,
                    )
                    .await?;
                let expires = Timestamp::try_from(t.expires_at).unwrap_or(Timestamp::MAX);
                Ok((t.token, expires))
            }
            Plan::None | Plan::AwsPassword { .. } => Err(CloudError::new(
                ErrorClass::Other,
                "internal",
                "no token to mint for this binding",
                "mint",
            )),
        }
    }

    /// Minting failed: keep the Secret as it is. While its token is valid the binding stays
    /// Ready and says it is retrying; once it expired, Ready turns False.
    async fn refresh_failed(
        &mut self,
        e: CloudError,
        still_valid: Option<&Existing>,
    ) -> Result<Action, Error> {
        let conditions = match still_valid.and_then(|p| p.expires_at) {
            Some(expires) => Conditions::RefreshFailing {
                ready_message: format!(
                    "Secret {} holds a token valid until {}; refreshing it failed and is being retried",
                    self.obj.secret_name(),
                    Timestamp::from_second(expires.as_second()).unwrap_or(expires)
                ),
                error: format!("could not mint a new token: {e}"),
            },
            None if matches!(
                e.class,
                ErrorClass::PermissionDenied | ErrorClass::Unauthenticated
            ) =>
            {
                Conditions::summary(Summary::retrying(
                    reason::PERMISSION_DENIED,
                    format!("the operator's cloud identity may not mint this token: {e}"),
                ))
            }
            None => Conditions::summary(Summary::retrying(
                reason::REFRESH_FAILED,
                format!("could not mint a token: {e}; retrying with backoff"),
            )),
        };
        self.finish(conditions, Action::await_change()).await?;
        Err(Error::Cloud(e))
    }
}

/// The conditions a pass ends with.
enum Conditions {
    Summary(Summary),
    /// Ready=True (the old token still works), Reconciling=True reason RefreshFailed.
    RefreshFailing {
        ready_message: String,
        error: String,
    },
}

impl Conditions {
    fn summary(s: Summary) -> Self {
        Conditions::Summary(s)
    }

    /// Write the conditions; returns the event to publish (type, reason, note).
    fn apply(
        &self,
        conditions: &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
        generation: Option<i64>,
        now: Timestamp,
    ) -> (EventType, String, String) {
        match self {
            Conditions::Summary(s) => {
                s.apply(conditions, generation, now);
                let type_ = match s {
                    Summary::Stalled { .. } | Summary::Retrying { .. } => EventType::Warning,
                    _ => EventType::Normal,
                };
                (type_, s.reason().to_owned(), s.message().to_owned())
            }
            Conditions::RefreshFailing {
                ready_message,
                error,
            } => {
                for (type_, status, reason, message) in [
                    (
                        condition::READY,
                        condition::TRUE,
                        reason::CREDENTIALS_ISSUED,
                        ready_message.as_str(),
                    ),
                    (
                        condition::RECONCILING,
                        condition::TRUE,
                        reason::REFRESH_FAILED,
                        error.as_str(),
                    ),
                    (
                        condition::STALLED,
                        condition::FALSE,
                        reason::REFRESH_FAILED,
                        "",
                    ),
                ] {
                    condition::set(
                        conditions,
                        condition::new(type_, status, reason, message, generation),
                        now,
                    );
                }
                (
                    EventType::Warning,
                    reason::REFRESH_FAILED.into(),
                    error.clone(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(v: serde_json::Value) -> AccessBinding {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn groups_are_looked_up_in_the_cluster_namespace_by_default() {
        let b = binding(serde_json::json!({
            "apiVersion": "cache-operator.io/v1alpha1", "kind": "AccessBinding",
            "metadata": {"name": "app", "namespace": "apps"},
            "spec": {"clusterRef": {"name": "orders", "namespace": "data"}, "userGroupRef": {"name": "clients"}}
        }));
        assert_eq!(cluster_of(&b), ("data".into(), "orders".into()));
        assert_eq!(group_of(&b), ("data".into(), "clients".into()));
        let local = binding(serde_json::json!({
            "apiVersion": "cache-operator.io/v1alpha1", "kind": "AccessBinding",
            "metadata": {"name": "app", "namespace": "apps"},
            "spec": {"clusterRef": {"name": "orders"}, "userGroupRef": {"name": "clients"}}
        }));
        assert_eq!(group_of(&local), ("apps".into(), "clients".into()));
    }

    #[test]
    fn fingerprints_name_the_identity_and_never_carry_a_credential() {
        let sa = Plan::GcpToken {
            service_account: Some("app@p.iam.gserviceaccount.com".into()),
        };
        assert_eq!(
            sa.fingerprint("projects/p/locations/r/clusters/c"),
            "gcp-token app@p.iam.gserviceaccount.com projects/p/locations/r/clusters/c"
        );
        let own = Plan::GcpToken {
            service_account: None,
        };
        assert_ne!(
            sa.fingerprint("c"),
            own.fingerprint("c"),
            "a change of identity re-mints"
        );
        assert!(sa.is_token() && !Plan::None.is_token());
    }

    #[test]
    fn a_failing_refresh_keeps_ready_while_the_token_is_valid() {
        let mut conds = Vec::new();
        let c = Conditions::RefreshFailing {
            ready_message: "valid until then".into(),
            error: "could not mint".into(),
        };
        let (t, reason_, _) = c.apply(&mut conds, Some(2), Timestamp::now());
        assert_eq!(t, EventType::Warning);
        assert_eq!(reason_, reason::REFRESH_FAILED);
        assert!(condition::is_true(&conds, condition::READY));
        assert!(condition::is_true(&conds, condition::RECONCILING));
        assert!(!condition::is_true(&conds, condition::STALLED));
    }
}
