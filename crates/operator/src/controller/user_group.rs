//! The UserGroup controller.
//!
//! - aws: the group's users (created when absent, never duplicated; passwords generated,
//!   kept in a Secret the group owns and rotated with an overlap), the ElastiCache user group
//!   with its `default` user, membership by difference, and deletion in dependency order.
//!   Attaching the group to clusters is the RedisCluster controller's job.
//! - gcp: one conditional `roles/redis.dbConnectionUser` binding per cluster that lists the
//!   group, written into the project IAM policy by read-modify-write; nothing else in the
//!   policy is touched.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use cache_operator_api::cluster::RedisCluster;
use cache_operator_api::condition::{Summary, reason};
use cache_operator_api::model::{
    AwsUserGroup, DEFAULT_PASSWORD_INTERVAL, DesiredCluster, DesiredUserGroup, GcpUserGroup,
};
use cache_operator_api::user_group::{IamGrant, UserAuthentication, UserGroup, UserGroupStatus};
use cache_operator_api::{AccessBinding, condition};
use cache_operator_cloud::aws::users::{
    NewUser, ObservedAuth, ObservedUser, ObservedUserGroup, Password, UserAuth, UserChange,
};
use cache_operator_cloud::gcp::grants::{Grant, GrantOwner};
use cache_operator_cloud::{CloudError, ErrorClass};
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::{Error, MANAGER, add_finalizer, event, has_finalizer, remove_finalizer, write_status};
use crate::context::Context;
use crate::passwords::{self, CloudUser, PasswordEntry, Step};
use crate::secret::MANAGED_BY;

pub const KIND: &str = "UserGroup";
/// Marks a group's password Secret; the value is the group's name.
pub const PASSWORDS_LABEL: &str = "cache-operator.io/user-group-passwords";
/// Tag keys recording which object an ElastiCache user or user group belongs to.
use cache_operator_cloud::aws::{OWNER_TAG, OWNER_UID_TAG};

/// Access string of the stand-in `default` user: disabled, no commands.
pub const STAND_IN_ACCESS: &str = "off -@all";

type ClusterGuard = kube::core::DeserializeGuard<RedisCluster>;

/// The controller's view of the objects that decide what a group must do: the clusters that
/// list it and the bindings that use its users (for password rotation intervals).
pub struct GroupContext {
    pub base: Arc<Context>,
    pub clusters: Store<ClusterGuard>,
    pub bindings: Store<AccessBinding>,
}

/// The name of a group's password Secret.
pub fn passwords_secret_name(group: &str) -> String {
    let mut base = group.to_owned();
    base.truncate(243);
    format!("{}-passwords", base.trim_end_matches(['-', '.']))
}

/// Run the controller until `stop`. Its cluster and binding caches are its own reflectors, so
/// a reconcile triggered by a cluster or binding change always sees that change.
pub async fn run(
    client: kube::Client,
    base: Arc<Context>,
    namespace: Option<String>,
    concurrency: u16,
    stop: CancellationToken,
) {
    use super::api_in as api;
    let (clusters, cluster_events) = super::lean_reflector(
        api::<ClusterGuard>(&client, &namespace),
        watcher::Config::default().any_semantic(),
    );
    let (bindings, binding_events) = super::lean_reflector(
        api::<AccessBinding>(&client, &namespace),
        watcher::Config::default().any_semantic(),
    );
    let secrets = api::<Secret>(&client, &namespace);
    let ctx = Arc::new(GroupContext {
        base,
        clusters,
        bindings,
    });
    let (groups, group_events) = super::lean_reflector(
        api::<UserGroup>(&client, &namespace),
        watcher::Config::default().any_semantic(),
    );
    Controller::for_stream(group_events, groups)
        .with_config(controller::Config::default().concurrency(concurrency))
        .owns(
            secrets,
            watcher::Config::default()
                .labels(PASSWORDS_LABEL)
                .any_semantic(),
        )
        .watches_stream(cluster_events, |c: ClusterGuard| {
            let Ok(c) = &c.0 else { return Vec::new() };
            let ns = c.namespace().unwrap_or_default();
            c.spec
                .user_group_refs
                .iter()
                .map(|r| ObjectRef::new(&r.name).within(&ns))
                .collect()
        })
        .watches_stream(binding_events, |b: AccessBinding| {
            let (ns, name) = super::binding::group_of(&b);
            Some(ObjectRef::new(&name).within(&ns))
        })
        .graceful_shutdown_on(stop.cancelled_owned())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

pub async fn reconcile(group: Arc<UserGroup>, ctx: Arc<GroupContext>) -> Result<Action, Error> {
    let _timer = ctx.base.metrics.reconcile(KIND);
    // An empty cache would look like "no cluster lists this group": wait for the first list.
    super::store_ready(&ctx.clusters).await;
    super::store_ready(&ctx.bindings).await;
    let api: Api<UserGroup> = Api::namespaced(
        ctx.base.client.clone(),
        &group.namespace().unwrap_or_default(),
    );
    let mut pass = Pass::new(&group, &api, &ctx);
    let action = if group.metadata.deletion_timestamp.is_some() {
        if !has_finalizer(&*group) {
            return Ok(Action::await_change());
        }
        pass.cleanup().await?
    } else {
        if !has_finalizer(&*group) {
            add_finalizer(&api, &*group).await?;
        }
        pass.apply().await?
    };
    ctx.base.succeeded(&key(&group));
    Ok(action)
}

pub fn error_policy(group: Arc<UserGroup>, error: &Error, ctx: Arc<GroupContext>) -> Action {
    ctx.base.metrics.error(KIND, &error.reason());
    let name = key(&group);
    let delay = ctx.base.backoff(&name);
    tracing::warn!(group = %name, error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

fn key(obj: &UserGroup) -> String {
    format!(
        "{KIND}/{}/{}",
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

/// A user the group must contain.
#[derive(Clone, Debug)]
struct WantedUser {
    user_id: String,
    user_name: String,
    access_string: String,
    kind: UserKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UserKind {
    Iam,
    Password,
    /// The disabled `default` user the operator supplies; its random password is never kept.
    StandIn,
}

/// The users of a desired aws group, with the stand-in `default` user when needed.
fn wanted_users(g: &AwsUserGroup) -> Vec<WantedUser> {
    let mut out: Vec<WantedUser> = g
        .users
        .iter()
        .map(|u| WantedUser {
            user_id: u.user_id.to_ascii_lowercase(),
            user_name: u.user_name.clone(),
            access_string: u.access_string.clone(),
            kind: match u.authentication {
                UserAuthentication::Iam => UserKind::Iam,
                UserAuthentication::Password => UserKind::Password,
            },
        })
        .collect();
    // ElastiCache requires a user named `default` in a redis group (valkey groups need none).
    if g.engine == cache_operator_api::cluster::AwsEngine::Redis && !g.has_default_user() {
        out.insert(
            0,
            WantedUser {
                user_id: g.default_user_id(),
                user_name: "default".into(),
                access_string: STAND_IN_ACCESS.into(),
                kind: UserKind::StandIn,
            },
        );
    }
    out
}

/// Members to add and to remove so that `have` becomes `want`.
fn membership_diff(want: &[String], have: &[String]) -> (Vec<String>, Vec<String>) {
    let have_set: BTreeSet<String> = have.iter().map(|u| u.to_ascii_lowercase()).collect();
    let want_set: BTreeSet<String> = want.iter().map(|u| u.to_ascii_lowercase()).collect();
    (
        want_set.difference(&have_set).cloned().collect(),
        have_set.difference(&want_set).cloned().collect(),
    )
}

/// The gcp grants a group needs: one per gcp cluster that lists it, by project.
fn wanted_grants(
    members: &GcpUserGroup,
    clusters: &[Arc<ClusterGuard>],
) -> BTreeMap<String, Vec<Grant>> {
    let mut out: BTreeMap<String, Vec<Grant>> = BTreeMap::new();
    for c in clusters {
        let Ok(c) = &c.0 else { continue };
        if let Ok(DesiredCluster::Gcp(g)) = c.desired() {
            out.entry(g.project.clone()).or_default().push(Grant {
                cluster: g.name(),
                members: members.members.clone(),
            });
        }
    }
    for grants in out.values_mut() {
        grants.sort_by(|a, b| a.cluster.cmp(&b.cluster));
        grants.dedup_by(|a, b| a.cluster == b.cluster);
    }
    out
}

/// Where one user stands after a pass.
enum UserState {
    Done,
    /// Not yet as the spec says.
    Busy(String),
    /// As the spec says, with a password rotation under way.
    Rotating(String),
}

/// What went wrong with one step, to turn into conditions.
enum Halt {
    /// Waiting on the cloud (a user or the group is busy): look again soon.
    Busy(String),
    /// Needs a human: a spec that the cloud state contradicts.
    Stalled(&'static str, String),
    Failed(Error),
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        match e {
            Error::Cloud(e) => e.into(),
            other => Halt::Failed(other),
        }
    }
}

impl From<kube::Error> for Halt {
    fn from(e: kube::Error) -> Self {
        Halt::Failed(Error::Kube(e))
    }
}

impl From<CloudError> for Halt {
    fn from(e: CloudError) -> Self {
        if e.is(ErrorClass::FailedPrecondition) {
            Halt::Busy(format!("the cloud is busy: {}", e.message))
        } else {
            Halt::Failed(Error::Cloud(e))
        }
    }
}

struct Pass<'a> {
    obj: &'a UserGroup,
    api: &'a Api<UserGroup>,
    ctx: &'a GroupContext,
    /// The status as last written (what a skipped write compares against).
    written: UserGroupStatus,
    st: UserGroupStatus,
    generation: Option<i64>,
    /// The group's password records as last read or written.
    entries: BTreeMap<String, PasswordEntry>,
    entries_written: BTreeMap<String, PasswordEntry>,
    secret_exists: bool,
    /// Earliest time a password step is due.
    next_due: Option<Timestamp>,
}

impl<'a> Pass<'a> {
    fn new(obj: &'a UserGroup, api: &'a Api<UserGroup>, ctx: &'a GroupContext) -> Self {
        let old = obj.status.clone().unwrap_or_default();
        let mut st = old.clone();
        st.observed_generation = obj.metadata.generation;
        Pass {
            obj,
            api,
            ctx,
            written: old,
            st,
            generation: obj.metadata.generation,
            entries: BTreeMap::new(),
            entries_written: BTreeMap::new(),
            secret_exists: false,
            next_due: None,
        }
    }

    fn base(&self) -> &Context {
        &self.ctx.base
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
        event(self.base(), self.obj, type_, reason, action, note).await;
    }

    fn poll(&self) -> Action {
        Action::requeue(self.base().timing.poll)
    }

    /// Write the status now if it changed (used to record intent before a cloud write).
    async fn persist(&mut self) -> Result<(), Error> {
        write_status(self.api, self.obj, Some(&self.written), &self.st).await?;
        self.written = self.st.clone();
        Ok(())
    }

    async fn finish(&mut self, summary: Summary, then: Action) -> Result<Action, Error> {
        let before = condition::get(&self.st.conditions, condition::READY)
            .map(|c| (c.reason.clone(), c.message.clone()));
        summary.apply(&mut self.st.conditions, self.generation, Timestamp::now());
        let changed = before.as_ref().map(|(r, m)| (r.as_str(), m.as_str()))
            != Some((summary.reason(), summary.message()));
        self.persist().await?;
        if changed {
            let type_ = match summary {
                Summary::Stalled { .. } | Summary::Retrying { .. } => EventType::Warning,
                _ => EventType::Normal,
            };
            self.note(
                type_,
                summary.reason(),
                "Reconcile",
                summary.message().to_owned(),
            )
            .await;
        }
        Ok(then)
    }

    async fn halt(&mut self, h: Halt) -> Result<Action, Error> {
        match h {
            Halt::Busy(msg) => {
                let r = if self.st.user_group_id.is_some() {
                    reason::UPDATING
                } else {
                    reason::CREATING
                };
                let then = self.poll();
                self.finish(Summary::progressing(r, msg), then).await
            }
            Halt::Stalled(r, msg) => {
                let then = Action::requeue(self.base().resync());
                self.finish(Summary::stalled(r, msg), then).await
            }
            Halt::Failed(Error::Cloud(e)) => self.cloud_failure(e).await,
            Halt::Failed(e) => Err(e),
        }
    }

    /// Permanent cloud failures stall until the spec changes; transient ones back off.
    async fn cloud_failure(&mut self, e: CloudError) -> Result<Action, Error> {
        match e.class {
            ErrorClass::InvalidArgument | ErrorClass::QuotaExceeded | ErrorClass::AlreadyExists => {
                let s = Summary::stalled(reason::CLOUD_INVALID_ARGUMENT, e.to_string());
                let then = Action::requeue(self.base().timing.max_backoff);
                self.finish(s, then).await
            }
            ErrorClass::PermissionDenied | ErrorClass::Unauthenticated => {
                let msg = format!("the operator's cloud identity is not allowed to do this: {e}");
                let then = Action::requeue(self.base().timing.max_backoff);
                self.finish(Summary::stalled(reason::PERMISSION_DENIED, msg), then)
                    .await
            }
            _ => {
                let s = Summary::retrying(
                    reason::CLOUD_UNAVAILABLE,
                    format!("{e}; retrying with backoff"),
                );
                self.finish(s, Action::await_change()).await?;
                Err(Error::Cloud(e))
            }
        }
    }

    /// Clusters in the group's namespace that list it.
    fn referencing_clusters(&self) -> Vec<Arc<ClusterGuard>> {
        let ns = self.namespace();
        let name = self.obj.name_any();
        let mut out: Vec<_> = self
            .ctx
            .clusters
            .state()
            .into_iter()
            .filter(|c| {
                c.0.as_ref().is_ok_and(|c| {
                    c.namespace().as_deref() == Some(ns.as_str())
                        && c.spec.user_group_refs.iter().any(|r| r.name == name)
                })
            })
            .collect();
        out.sort_by_key(|c| c.name_any());
        out
    }

    fn cluster_names(clusters: &[Arc<ClusterGuard>]) -> Vec<String> {
        clusters
            .iter()
            .map(|c| format!("{}/{}", c.namespace().unwrap_or_default(), c.name_any()))
            .collect()
    }

    async fn apply(&mut self) -> Result<Action, Error> {
        let desired = match self.obj.desired() {
            Ok(d) => d,
            Err(errors) => {
                return self
                    .finish(
                        Summary::stalled(reason::INVALID_SPEC, errors.to_string()),
                        Action::await_change(),
                    )
                    .await;
            }
        };
        let clusters = self.referencing_clusters();
        match desired {
            DesiredUserGroup::Gcp(g) => self.apply_gcp(&g, &clusters).await,
            DesiredUserGroup::Aws(g) => {
                let clusters: Vec<_> = clusters
                    .into_iter()
                    .filter(|c| {
                        c.0.as_ref()
                            .is_ok_and(|c| c.spec.provider == cache_operator_api::Provider::Aws)
                    })
                    .collect();
                self.st.clusters = Self::cluster_names(&clusters);
                match self.apply_aws(&g).await {
                    Ok(action) => Ok(action),
                    Err(h) => self.halt(h).await,
                }
            }
        }
    }

    // ---- gcp ----

    fn grant_owner(&self) -> GrantOwner {
        GrantOwner {
            uid: self.obj.uid().unwrap_or_default(),
            namespace: self.namespace(),
            name: self.obj.name_any(),
        }
    }

    async fn apply_gcp(
        &mut self,
        g: &GcpUserGroup,
        clusters: &[Arc<ClusterGuard>],
    ) -> Result<Action, Error> {
        let gcp_clusters: Vec<_> = clusters
            .iter()
            .filter(|c| {
                c.0.as_ref()
                    .is_ok_and(|c| c.spec.provider == cache_operator_api::Provider::Gcp)
            })
            .cloned()
            .collect();
        let wanted = wanted_grants(g, &gcp_clusters);
        let mut projects: BTreeSet<String> = wanted.keys().cloned().collect();
        projects.extend(self.st.grants.iter().map(|g| g.project.clone()));
        let owner = self.grant_owner();
        let mut changed = Vec::new();
        for project in &projects {
            let grants = wanted.get(project).cloned().unwrap_or_default();
            match self
                .base()
                .access
                .policies
                .apply(project, &owner, &grants)
                .await
            {
                Ok(applied) => {
                    if applied.changed {
                        changed.push(project.clone());
                    }
                    // Record what holds now, project by project, so that a later failure
                    // never forgets a grant that was written.
                    self.st.grants.retain(|x| &x.project != project);
                    self.st.grants.extend(grants.iter().map(|gr| IamGrant {
                        project: project.clone(),
                        cluster: gr.cluster.clone(),
                        members: sorted(&gr.members),
                    }));
                }
                Err(e) => return self.cloud_failure(e).await,
            }
        }
        self.st
            .grants
            .sort_by(|a, b| (&a.project, &a.cluster).cmp(&(&b.project, &b.cluster)));
        self.st.clusters = Self::cluster_names(&gcp_clusters);
        if !changed.is_empty() {
            let note = format!(
                "updated the {} grants in project(s) {}: {} cluster(s), {} principal(s)",
                cache_operator_cloud::gcp::grants::CONNECTION_ROLE,
                changed.join(", "),
                self.st.grants.len(),
                g.members.len()
            );
            self.note(EventType::Normal, "GrantsUpdated", "Grant", note)
                .await;
        }
        let msg = if self.st.grants.is_empty() {
            "no gcp cluster lists this group in userGroupRefs yet; nothing is granted".to_owned()
        } else {
            format!(
                "{} principal(s) hold {} on {} cluster(s)",
                g.members.len(),
                cache_operator_cloud::gcp::grants::CONNECTION_ROLE,
                self.st.grants.len()
            )
        };
        let then = Action::requeue(self.base().resync());
        self.finish(Summary::ready(reason::AVAILABLE, msg), then)
            .await
    }

    async fn cleanup_gcp(&mut self, projects: BTreeSet<String>) -> Result<Action, Error> {
        let owner = self.grant_owner();
        for project in projects {
            if let Err(e) = self
                .base()
                .access
                .policies
                .apply(&project, &owner, &[])
                .await
            {
                return self.cloud_failure(e).await;
            }
            self.st.grants.retain(|g| g.project != project);
        }
        self.note(
            EventType::Normal,
            "GrantsRemoved",
            "Delete",
            "removed every IAM grant this group held".into(),
        )
        .await;
        remove_finalizer(self.api, self.obj).await?;
        Ok(Action::await_change())
    }

    // ---- aws ----

    fn tags(&self) -> Vec<(String, String)> {
        vec![
            (OWNER_UID_TAG.into(), self.obj.uid().unwrap_or_default()),
            (
                OWNER_TAG.into(),
                format!("{}/{}", self.namespace(), self.obj.name_any()),
            ),
        ]
    }

    /// The rotation interval of a password user: the shortest any binding of it asks for.
    fn interval_for(&self, user_id: &str) -> Duration {
        let ns = self.namespace();
        let name = self.obj.name_any();
        self.ctx
            .bindings
            .state()
            .iter()
            .filter(|b| {
                b.spec
                    .user
                    .as_deref()
                    .map(str::to_ascii_lowercase)
                    .as_deref()
                    == Some(user_id)
                    && super::binding::group_of(b) == (ns.clone(), name.clone())
            })
            .filter_map(|b| b.desired().ok().map(|d| d.password_interval))
            .min()
            .unwrap_or(DEFAULT_PASSWORD_INTERVAL)
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.base().client.clone(), &self.namespace())
    }

    async fn load_passwords(&mut self) -> Result<(), Error> {
        let name = passwords_secret_name(&self.obj.name_any());
        if let Some(s) = self.secrets().get_opt(&name).await? {
            let data: BTreeMap<String, Vec<u8>> = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            self.entries = passwords::decode(&data);
            self.entries_written = self.entries.clone();
            self.secret_exists = true;
        }
        Ok(())
    }

    /// Write the password Secret if the records changed (server-side apply, owned by the
    /// group so it goes with it).
    async fn save_passwords(&mut self) -> Result<(), Error> {
        if self.entries == self.entries_written && (self.secret_exists || self.entries.is_empty()) {
            return Ok(());
        }
        let name = passwords_secret_name(&self.obj.name_any());
        let owner = self
            .obj
            .controller_owner_ref(&())
            .expect("a stored object has a name and uid");
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace()),
                labels: Some(BTreeMap::from([
                    (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
                    (PASSWORDS_LABEL.to_owned(), self.obj.name_any()),
                ])),
                owner_references: Some(vec![owner]),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".into()),
            data: Some(
                self.entries
                    .iter()
                    .map(|(k, e)| (k.clone(), ByteString(passwords::encode(e).into_bytes())))
                    .collect(),
            ),
            ..Secret::default()
        };
        let mut value = serde_json::to_value(&secret).expect("a Secret serializes");
        value["apiVersion"] = "v1".into();
        value["kind"] = "Secret".into();
        self.secrets()
            .patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(value),
            )
            .await?;
        self.entries_written = self.entries.clone();
        self.secret_exists = true;
        Ok(())
    }

    fn due(&mut self, at: Timestamp) {
        self.next_due = Some(self.next_due.map_or(at, |t| t.min(at)));
    }

    async fn apply_aws(&mut self, g: &AwsUserGroup) -> Result<Action, Halt> {
        let users = self.base().access.aws_users.clone();
        let wanted = wanted_users(g);
        self.load_passwords().await?;
        // Forget password records of users that are no longer password users.
        let password_ids: BTreeSet<&str> = wanted
            .iter()
            .filter(|u| u.kind == UserKind::Password)
            .map(|u| u.user_id.as_str())
            .collect();
        self.entries
            .retain(|k, _| password_ids.contains(k.as_str()));

        let mut lookup: Vec<String> = wanted.iter().map(|u| u.user_id.clone()).collect();
        lookup.extend(self.st.users.iter().cloned());
        lookup.sort();
        lookup.dedup();
        let observed = users.describe_users(&g.region, &lookup).await?;

        // Record the users about to be created before creating them, so that a crash right
        // after never leaves a user this group made but does not know about.
        let absent: Vec<&WantedUser> = wanted
            .iter()
            .filter(|u| !observed.contains_key(&u.user_id))
            .collect();
        if !absent.is_empty() {
            for u in &absent {
                if !self.st.users.contains(&u.user_id) {
                    self.st.users.push(u.user_id.clone());
                }
            }
            self.st.users.sort();
            self.persist().await?;
        }

        let mut busy: Vec<String> = Vec::new();
        let mut rotating: Vec<String> = Vec::new();
        for u in &wanted {
            match self.ensure_user(g, u, observed.get(&u.user_id)).await {
                Ok(UserState::Done) => {}
                Ok(UserState::Busy(why)) => busy.push(why),
                Ok(UserState::Rotating(why)) => rotating.push(why),
                Err(Halt::Busy(why)) => busy.push(format!("user {}: {why}", u.user_id)),
                Err(e) => {
                    self.save_passwords().await?;
                    return Err(e);
                }
            }
        }
        self.save_passwords().await?;

        // The group itself, once every user exists.
        let want_ids: Vec<String> = wanted.iter().map(|u| u.user_id.clone()).collect();
        let group = match users
            .describe_user_group(&g.region, &g.user_group_id)
            .await?
        {
            Some(group) => group,
            None => {
                if !absent.is_empty() && !busy.is_empty() {
                    return Err(Halt::Busy(busy.join("; ")));
                }
                let created = users
                    .create_user_group(
                        &g.region,
                        &g.user_group_id,
                        g.engine,
                        &want_ids,
                        &self.tags(),
                    )
                    .await?;
                self.record_group(&created);
                self.note(
                    EventType::Normal,
                    reason::CREATING,
                    "Create",
                    format!(
                        "creating user group {} with users {}",
                        g.user_group_id,
                        want_ids.join(", ")
                    ),
                )
                .await;
                return Err(Halt::Busy(format!(
                    "creating user group {} in {}",
                    g.user_group_id, g.region
                )));
            }
        };
        self.record_group(&group);
        if !group.is_active() {
            return Err(Halt::Busy(format!(
                "user group {} is {}",
                group.user_group_id, group.status
            )));
        }
        let (add, remove) = membership_diff(&want_ids, &group.user_ids);
        if !add.is_empty() || !remove.is_empty() {
            if add.iter().any(|id| !observed.contains_key(id)) && !busy.is_empty() {
                return Err(Halt::Busy(busy.join("; ")));
            }
            users
                .modify_user_group(&g.region, &g.user_group_id, &add, &remove)
                .await?;
            let note = format!(
                "user group {}: adding [{}], removing [{}]",
                g.user_group_id,
                add.join(", "),
                remove.join(", ")
            );
            self.note(EventType::Normal, reason::UPDATING, "Update", note.clone())
                .await;
            return Err(Halt::Busy(note));
        }

        // Users this group created and no longer lists: out of the group now, so delete them.
        let dropped: Vec<String> = self
            .st
            .users
            .iter()
            .filter(|id| !want_ids.contains(id))
            .cloned()
            .collect();
        for id in dropped {
            match observed.get(&id) {
                Some(u) if u.status == "deleting" => {
                    busy.push(format!("user {id} is being deleted"));
                    continue;
                }
                Some(_) => {
                    users.delete_user(&g.region, &id).await?;
                    self.note(
                        EventType::Normal,
                        "UserDeleted",
                        "Update",
                        format!("deleted user {id}, no longer listed in the group"),
                    )
                    .await;
                }
                None => {}
            }
            self.st.users.retain(|x| *x != id);
        }

        if !busy.is_empty() {
            return Err(Halt::Busy(busy.join("; ")));
        }
        let msg = format!(
            "user group {} is active with {} user(s){}",
            g.user_group_id,
            want_ids.len(),
            if self.st.clusters.is_empty() {
                String::new()
            } else {
                format!("; listed by {}", self.st.clusters.join(", "))
            }
        );
        let mut wait = self.base().resync();
        if let Some(due) = self.next_due {
            let until = due.duration_since(Timestamp::now());
            let until = Duration::try_from(until).unwrap_or(Duration::ZERO);
            wait = wait.min(until.max(Duration::from_secs(1)));
        }
        if !rotating.is_empty() {
            tracing::debug!(group = %self.obj.name_any(), rotating = %rotating.join("; "), "rotation under way");
            wait = wait.min(self.base().timing.poll);
        }
        self.finish(
            Summary::ready(reason::AVAILABLE, msg),
            Action::requeue(wait),
        )
        .await
        .map_err(Halt::Failed)
    }

    fn record_group(&mut self, group: &ObservedUserGroup) {
        self.st.user_group_id = Some(group.user_group_id.clone());
        if !group.arn.is_empty() {
            self.st.cloud_resource = Some(group.arn.clone());
        }
    }

    /// Bring one user to its spec.
    async fn ensure_user(
        &mut self,
        g: &AwsUserGroup,
        u: &WantedUser,
        observed: Option<&ObservedUser>,
    ) -> Result<UserState, Halt> {
        let users = self.base().access.aws_users.clone();
        if let Some(o) = observed
            && o.user_name != u.user_name
        {
            return Err(Halt::Stalled(
                reason::ALREADY_EXISTS,
                format!(
                    "user {} exists in ElastiCache with userName {:?}, not {:?}; user names cannot change, choose another userId",
                    u.user_id, o.user_name, u.user_name
                ),
            ));
        }
        let access_change = observed
            .filter(|o| o.access_string != u.access_string)
            .map(|_| u.access_string.clone());
        match u.kind {
            UserKind::StandIn | UserKind::Iam => {
                let auth = if u.kind == UserKind::Iam {
                    UserAuth::Iam
                } else {
                    // Never stored or shown: nobody is meant to log in as the stand-in.
                    UserAuth::Passwords(vec![Password::new(passwords::generate())])
                };
                let Some(o) = observed else {
                    let tags = self.tags();
                    self.create_user(g, new_user_for(g, u, auth, tags)).await?;
                    return Ok(UserState::Done);
                };
                if !o.is_active() {
                    return Ok(UserState::Busy(format!(
                        "user {} is {}",
                        u.user_id, o.status
                    )));
                }
                let wrong_auth = u.kind == UserKind::Iam && o.auth != ObservedAuth::Iam;
                let change = UserChange {
                    access_string: access_change,
                    auth: wrong_auth.then_some(UserAuth::Iam),
                };
                if change.is_empty() {
                    return Ok(UserState::Done);
                }
                users.modify_user(&g.region, &u.user_id, &change).await?;
                Ok(UserState::Busy(format!("updating user {}", u.user_id)))
            }
            UserKind::Password => {
                self.ensure_password_user(g, u, observed, access_change)
                    .await
            }
        }
    }

    async fn create_user(&mut self, g: &AwsUserGroup, user: NewUser) -> Result<(), Halt> {
        let users = self.base().access.aws_users.clone();
        match users.create_user(&g.region, &user).await {
            Ok(()) => {
                self.note(
                    EventType::Normal,
                    "UserCreated",
                    "Create",
                    format!("created user {} ({})", user.user_id, user.user_name),
                )
                .await;
                Ok(())
            }
            // Someone else made it between our look and our create: not ours.
            Err(e) if e.is(ErrorClass::AlreadyExists) => {
                self.st.users.retain(|x| *x != user.user_id);
                self.persist().await?;
                Err(Halt::Busy(format!(
                    "user {} appeared meanwhile",
                    user.user_id
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn ensure_password_user(
        &mut self,
        g: &AwsUserGroup,
        u: &WantedUser,
        observed: Option<&ObservedUser>,
        access_change: Option<String>,
    ) -> Result<UserState, Halt> {
        let users = self.base().access.aws_users.clone();
        let now = Timestamp::now();
        let interval = self.interval_for(&u.user_id);
        let cloud = match observed {
            None => CloudUser::Absent,
            Some(o) => CloudUser::Present {
                active: o.is_active(),
                password_count: match o.auth {
                    ObservedAuth::Password { count } => count,
                    _ => 0,
                },
            },
        };
        let overlap = self.base().access.settings.password_overlap;
        let entry = self.entries.get(&u.user_id).cloned();
        let step = passwords::step(entry.as_ref(), cloud, now, interval, overlap);
        // A rotation in flight is routine: it keeps the group Ready.
        let rotating = entry
            .as_ref()
            .is_some_and(|e| e.pending.is_some() || e.previous.is_some());
        tracing::debug!(user = %u.user_id, ?step, "password step");
        let set =
            |ps: Vec<String>| UserAuth::Passwords(ps.into_iter().map(Password::new).collect());
        let id = u.user_id.clone();
        match step {
            Step::Initialize { new } => {
                match observed {
                    None => {
                        let tags = self.tags();
                        self.create_user(g, new_user_for(g, u, set(vec![new.clone()]), tags))
                            .await?
                    }
                    Some(_) => {
                        let change = UserChange {
                            access_string: access_change,
                            auth: Some(set(vec![new.clone()])),
                        };
                        users.modify_user(&g.region, &id, &change).await?;
                    }
                }
                let mut e = PasswordEntry::new(new, now);
                e.rotate_at = Some(passwords::next_rotation(&e, interval));
                self.entries.insert(id.clone(), e);
                self.save_passwords().await?;
                Ok(match observed {
                    Some(_) => UserState::Busy(format!("setting the password of user {id}")),
                    None => UserState::Done,
                })
            }
            Step::Create => {
                let e = entry.expect("Create comes with a record");
                let tags = self.tags();
                self.create_user(g, new_user_for(g, u, set(e.accepted()), tags))
                    .await?;
                Ok(UserState::Done)
            }
            Step::Wait => {
                let why = format!(
                    "user {id} is {}",
                    observed.map(|o| o.status.as_str()).unwrap_or("busy")
                );
                Ok(if rotating {
                    UserState::Rotating(why)
                } else {
                    UserState::Busy(why)
                })
            }
            Step::BeginRotation { new } => {
                let mut e = entry.expect("a rotation comes with a record");
                e.pending = Some(new.clone());
                let accepted = vec![e.current.clone(), new];
                self.entries.insert(id.clone(), e);
                // Recorded first: the cloud never holds a password the record does not know.
                self.save_passwords().await?;
                let change = UserChange {
                    access_string: None,
                    auth: Some(set(accepted)),
                };
                users.modify_user(&g.region, &id, &change).await?;
                Ok(UserState::Rotating(format!(
                    "rotating the password of user {id}"
                )))
            }
            Step::AddPending => {
                let e = entry.expect("pending comes with a record");
                let accepted = vec![e.current.clone(), e.pending.clone().unwrap_or_default()];
                let change = UserChange {
                    access_string: None,
                    auth: Some(set(accepted)),
                };
                users.modify_user(&g.region, &id, &change).await?;
                Ok(UserState::Rotating(format!(
                    "rotating the password of user {id}"
                )))
            }
            Step::Promote => {
                let old = entry.expect("pending comes with a record");
                let mut e = PasswordEntry {
                    current: old.pending.clone().unwrap_or_default(),
                    previous: Some(old.current.clone()),
                    pending: None,
                    rotated_at: now,
                    rotate_at: None,
                };
                e.rotate_at = Some(passwords::next_rotation(&e, interval));
                self.entries.insert(id.clone(), e);
                self.save_passwords().await?;
                self.due(
                    now + jiff::SignedDuration::try_from(passwords::overlap(overlap, interval))
                        .unwrap_or_default(),
                );
                self.note(
                    EventType::Normal,
                    "PasswordRotated",
                    "Rotate",
                    format!(
                        "user {id} has a new password; the previous one works for {} more",
                        humantime(passwords::overlap(overlap, interval))
                    ),
                )
                .await;
                Ok(UserState::Done)
            }
            Step::DropPrevious { in_cloud: true } => {
                // The record keeps the old password until the cloud no longer holds it.
                let e = entry.expect("a previous password comes with a record");
                let change = UserChange {
                    access_string: None,
                    auth: Some(set(vec![e.current.clone()])),
                };
                users.modify_user(&g.region, &id, &change).await?;
                Ok(UserState::Rotating(format!(
                    "removing the previous password of user {id}"
                )))
            }
            Step::DropPrevious { in_cloud: false } => {
                let mut e = entry.expect("a previous password comes with a record");
                e.previous = None;
                self.due(passwords::next_rotation(&e, interval));
                self.entries.insert(id.clone(), e);
                self.save_passwords().await?;
                tracing::info!(group = %self.obj.name_any(), user = %id, "the previous password is retired");
                Ok(UserState::Done)
            }
            Step::Heal => {
                let e = entry.expect("healing comes with a record");
                let change = UserChange {
                    access_string: access_change,
                    auth: Some(set(e.accepted())),
                };
                users.modify_user(&g.region, &id, &change).await?;
                Ok(UserState::Busy(format!(
                    "restoring the passwords of user {id}"
                )))
            }
            Step::Idle { next } => {
                self.due(next);
                let mut e = entry.expect("idle comes with a record");
                let rotate_at = passwords::next_rotation(&e, interval);
                if e.rotate_at != Some(rotate_at) {
                    e.rotate_at = Some(rotate_at);
                    self.entries.insert(id.clone(), e);
                }
                if let Some(a) = access_change {
                    let change = UserChange {
                        access_string: Some(a),
                        auth: None,
                    };
                    users.modify_user(&g.region, &id, &change).await?;
                    return Ok(UserState::Busy(format!("updating user {id}")));
                }
                Ok(UserState::Done)
            }
        }
    }

    // ---- deletion ----

    async fn cleanup(&mut self) -> Result<Action, Error> {
        let clusters = self.referencing_clusters();
        let provider = self.obj.spec.provider;
        match provider {
            cache_operator_api::Provider::Gcp => {
                let mut projects: BTreeSet<String> =
                    self.st.grants.iter().map(|g| g.project.clone()).collect();
                if let Ok(DesiredUserGroup::Gcp(g)) = self.obj.desired() {
                    projects.extend(wanted_grants(&g, &clusters).into_keys());
                }
                self.cleanup_gcp(projects).await
            }
            cache_operator_api::Provider::Aws => match self.cleanup_aws(&clusters).await {
                Ok(action) => Ok(action),
                Err(h) => self.halt(h).await,
            },
        }
    }

    async fn cleanup_aws(&mut self, clusters: &[Arc<ClusterGuard>]) -> Result<Action, Halt> {
        if !clusters.is_empty() {
            let names = Self::cluster_names(clusters);
            let msg = format!(
                "cannot delete the user group while RedisCluster(s) {} list it in userGroupRefs",
                names.join(", ")
            );
            let then = Action::requeue(self.base().resync());
            return self
                .finish(Summary::progressing(reason::IN_USE, msg), then)
                .await
                .map_err(Halt::Failed);
        }
        let region = self.obj.spec.region.clone().unwrap_or_default();
        let group_id = self
            .st
            .user_group_id
            .clone()
            .unwrap_or_else(|| self.obj.aws_user_group_id().to_owned());
        if region.is_empty() {
            remove_finalizer(self.api, self.obj).await?;
            return Ok(Action::await_change());
        }
        let users = self.base().access.aws_users.clone();
        if let Some(group) = users.describe_user_group(&region, &group_id).await? {
            if !group.replication_groups.is_empty() {
                let msg = format!(
                    "cannot delete user group {group_id}: still attached to replication group(s) {}",
                    group.replication_groups.join(", ")
                );
                let then = Action::requeue(self.base().timing.poll.max(Duration::from_secs(5)));
                return self
                    .finish(Summary::progressing(reason::IN_USE, msg), then)
                    .await
                    .map_err(Halt::Failed);
            }
            let ours = group.arn.is_empty()
                || users
                    .tags(&region, &group.arn)
                    .await?
                    .iter()
                    .any(|(k, v)| k == OWNER_UID_TAG && Some(v) == self.obj.uid().as_ref());
            if !ours {
                self.note(
                    EventType::Normal,
                    "Released",
                    "Delete",
                    format!("left user group {group_id} alone: it was not created for this object"),
                )
                .await;
                self.delete_password_secret().await?;
                remove_finalizer(self.api, self.obj).await?;
                return Ok(Action::await_change());
            }
            if group.status != "deleting" {
                users.delete_user_group(&region, &group_id).await?;
            }
            return Err(Halt::Busy(format!("deleting user group {group_id}")));
        }
        // The group is gone: now its users can go.
        let mut left = Vec::new();
        for id in self.st.users.clone() {
            match users.delete_user(&region, &id).await {
                Ok(()) => {}
                Err(e) if e.is(ErrorClass::FailedPrecondition) => left.push(id.clone()),
                Err(e) => return Err(e.into()),
            }
        }
        if !left.is_empty() {
            return Err(Halt::Busy(format!(
                "waiting to delete user(s) {}",
                left.join(", ")
            )));
        }
        self.delete_password_secret().await?;
        self.note(
            EventType::Normal,
            "Deleted",
            "Delete",
            format!(
                "deleted user group {group_id} and the {} user(s) created for it",
                self.st.users.len()
            ),
        )
        .await;
        remove_finalizer(self.api, self.obj).await?;
        Ok(Action::await_change())
    }

    async fn delete_password_secret(&self) -> Result<(), Error> {
        let name = passwords_secret_name(&self.obj.name_any());
        match self.secrets().delete(&name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn new_user_for(
    g: &AwsUserGroup,
    u: &WantedUser,
    auth: UserAuth,
    tags: Vec<(String, String)>,
) -> NewUser {
    NewUser {
        user_id: u.user_id.clone(),
        user_name: u.user_name.clone(),
        engine: g.engine,
        access_string: u.access_string.clone(),
        auth,
        tags,
    }
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use cache_operator_api::cluster::AwsEngine;
    use cache_operator_api::model::AwsUserModel;

    use super::*;

    fn group(engine: AwsEngine, users: &[(&str, &str)]) -> AwsUserGroup {
        AwsUserGroup {
            region: "us-east-1".into(),
            user_group_id: "sessions-users".into(),
            engine,
            users: users
                .iter()
                .map(|(id, name)| AwsUserModel {
                    user_id: id.to_string(),
                    user_name: name.to_string(),
                    access_string: "on ~* +@all".into(),
                    authentication: UserAuthentication::Password,
                })
                .collect(),
        }
    }

    #[test]
    fn a_redis_group_without_a_default_user_gets_a_disabled_stand_in() {
        let w = wanted_users(&group(AwsEngine::Redis, &[("app", "app")]));
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].user_id, "sessions-users-default");
        assert_eq!(w[0].user_name, "default");
        assert_eq!(w[0].access_string, STAND_IN_ACCESS);
        assert_eq!(w[0].kind, UserKind::StandIn);
        // A listed default user, or a valkey group, needs none.
        assert_eq!(
            wanted_users(&group(
                AwsEngine::Redis,
                &[("app", "app"), ("mine", "default")]
            ))
            .len(),
            2
        );
        assert_eq!(
            wanted_users(&group(AwsEngine::Valkey, &[("app", "app")])).len(),
            1
        );
    }

    #[test]
    fn membership_changes_by_difference() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (add, remove) = membership_diff(
            &ids(&["g-default", "app", "new"]),
            &ids(&["default", "app", "old"]),
        );
        assert_eq!(add, ids(&["g-default", "new"]));
        assert_eq!(remove, ids(&["default", "old"]));
        let (add, remove) = membership_diff(&ids(&["a", "b"]), &ids(&["B", "a"]));
        assert!(add.is_empty() && remove.is_empty(), "IDs compare lowercase");
    }

    fn cluster(name: &str, provider: &str, project: &str) -> Arc<ClusterGuard> {
        let spec = if provider == "gcp" {
            serde_json::json!({"provider": "gcp", "region": "us-central1", "nodeType": "redis-shared-core-nano",
                "shardCount": 1, "authMode": "iam",
                "gcp": {"project": project, "network": format!("projects/{project}/global/networks/default")},
                "userGroupRefs": [{"name": "clients"}]})
        } else {
            serde_json::json!({"provider": "aws", "region": "us-east-1", "nodeType": "cache.t4g.micro",
                "shardCount": 1, "authMode": "iam", "aws": {}, "userGroupRefs": [{"name": "clients"}]})
        };
        let c: RedisCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "cache-operator.io/v1alpha1", "kind": "RedisCluster",
            "metadata": {"name": name, "namespace": "shop"}, "spec": spec}))
        .unwrap();
        Arc::new(kube::core::DeserializeGuard(Ok(c)))
    }

    #[test]
    fn each_gcp_cluster_listing_the_group_gets_one_grant_in_its_project() {
        let members = GcpUserGroup {
            members: vec!["serviceAccount:a@p.iam.gserviceaccount.com".into()],
        };
        let grants = wanted_grants(
            &members,
            &[
                cluster("orders", "gcp", "shop-prod"),
                cluster("carts", "gcp", "shop-prod"),
                cluster("audit", "gcp", "shop-audit"),
                cluster("sessions", "aws", ""),
            ],
        );
        let clusters: Vec<(&str, Vec<&str>)> = grants
            .iter()
            .map(|(p, g)| (p.as_str(), g.iter().map(|g| g.cluster.as_str()).collect()))
            .collect();
        assert_eq!(
            clusters,
            vec![
                (
                    "shop-audit",
                    vec!["projects/shop-audit/locations/us-central1/clusters/audit"]
                ),
                (
                    "shop-prod",
                    vec![
                        "projects/shop-prod/locations/us-central1/clusters/carts",
                        "projects/shop-prod/locations/us-central1/clusters/orders",
                    ]
                ),
            ]
        );
        assert!(
            grants
                .values()
                .flatten()
                .all(|g| g.members == members.members)
        );
    }

    #[test]
    fn password_secret_names_stay_valid() {
        assert_eq!(
            passwords_secret_name("sessions-users"),
            "sessions-users-passwords"
        );
        assert!(passwords_secret_name(&"a".repeat(253)).len() <= 253);
    }
}
