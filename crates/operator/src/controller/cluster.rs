//! The RedisCluster controller: validate → observe → create / claim / update / delete → status.
//!
//! Level-triggered: every pass starts from the object and what the cloud reports, never from
//! memory of earlier passes; the only state carried between passes is in the object's status
//! (the operation being followed, which cloud resource is ours).

use std::sync::Arc;

use cache_operator_api::cluster::{
    ClusterEndpoints, DeletionPolicy, Phase, RedisCluster, RedisClusterStatus,
};
use cache_operator_api::common::HostPort;
use cache_operator_api::condition::{Summary, reason};
use cache_operator_api::model::DesiredCluster;
use cache_operator_api::{UserGroup, condition};
use cache_operator_cloud::provider::{
    Change, Claim, ClusterState, Endpoint, ObservedCluster, OperationState, Owner, Progress,
};
use cache_operator_cloud::{CloudError, ErrorClass};
use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use super::{Error, add_finalizer, event, has_finalizer, remove_finalizer, write_status};
use crate::context::Context;

pub const KIND: &str = "RedisCluster";

type Guard = kube::core::DeserializeGuard<RedisCluster>;

pub async fn reconcile(guard: Arc<Guard>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile(KIND);
    let obj = match &guard.0 {
        Ok(obj) => obj,
        Err(invalid) => return unreadable(invalid, &ctx).await,
    };
    let api: Api<RedisCluster> =
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let action = if obj.metadata.deletion_timestamp.is_some() {
        if !has_finalizer(obj) {
            return Ok(Action::await_change());
        }
        cleanup(obj, &api, &ctx).await?
    } else {
        if !has_finalizer(obj) {
            add_finalizer(&api, obj).await?;
        }
        Pass::new(obj, &api, &ctx).apply().await?
    };
    ctx.succeeded(&key(obj));
    Ok(action)
}

pub fn error_policy(guard: Arc<Guard>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.error(KIND, &error.reason());
    let name = guard.0.as_ref().map(key).unwrap_or_default();
    let delay = ctx.backoff(&name);
    tracing::warn!(cluster = %name, error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

fn key(obj: &RedisCluster) -> String {
    format!(
        "{}/{}/{}",
        KIND,
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

/// An object that does not deserialize (an enum value or type this operator does not know,
/// e.g. applied while an older CRD was installed): said in its status, nothing else done.
async fn unreadable(
    invalid: &kube::core::error_boundary::InvalidObject,
    ctx: &Context,
) -> Result<Action, Error> {
    let (Some(name), Some(ns)) = (&invalid.metadata.name, &invalid.metadata.namespace) else {
        return Ok(Action::await_change());
    };
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), ns, &api_resource());
    let mut conditions = Vec::new();
    Summary::stalled(
        reason::INVALID_SPEC,
        format!(
            "the object does not match this operator's schema: {}",
            invalid.error
        ),
    )
    .apply(
        &mut conditions,
        invalid.metadata.generation,
        Timestamp::now(),
    );
    let patch = serde_json::json!({
        "apiVersion": cache_operator_api::API_VERSION, "kind": KIND,
        "status": {"phase": "Failed", "observedGeneration": invalid.metadata.generation, "conditions": conditions},
    });
    api.patch_status(
        name,
        &kube::api::PatchParams::apply(super::MANAGER).force(),
        &kube::api::Patch::Apply(patch),
    )
    .await?;
    Ok(Action::await_change())
}

fn api_resource() -> kube::api::ApiResource {
    kube::api::ApiResource::erase::<RedisCluster>(&())
}

/// One pass over one object: the old status, the new one being built, and the way out.
struct Pass<'a> {
    obj: &'a RedisCluster,
    api: &'a Api<RedisCluster>,
    ctx: &'a Context,
    old: RedisClusterStatus,
    st: RedisClusterStatus,
    generation: Option<i64>,
}

impl<'a> Pass<'a> {
    fn new(obj: &'a RedisCluster, api: &'a Api<RedisCluster>, ctx: &'a Context) -> Self {
        let old = obj.status.clone().unwrap_or_default();
        let mut st = old.clone();
        st.observed_generation = obj.metadata.generation;
        st.instance_id = Some(obj.instance_id().to_owned());
        Pass {
            obj,
            api,
            ctx,
            old,
            st,
            generation: obj.metadata.generation,
        }
    }

    fn owner(&self) -> Owner {
        Owner {
            uid: self.obj.uid().unwrap_or_default(),
            namespace: self.obj.namespace().unwrap_or_default(),
            name: self.obj.name_any(),
            generation: self.generation.unwrap_or(0),
            // Phase 2 (issue 10) keeps the attempt in the status and bumps it.
            attempt: 0,
        }
    }

    /// Set phase and conditions, write the status if it changed, and publish an event when
    /// the object's situation changed.
    async fn finish(
        &mut self,
        phase: Phase,
        summary: Summary,
        then: Action,
    ) -> Result<Action, Error> {
        self.st.phase = Some(phase);
        self.st.message = Some(summary.message().to_owned()).filter(|m| !m.is_empty());
        summary.apply(&mut self.st.conditions, self.generation, Timestamp::now());
        let before = condition::get(&self.old.conditions, condition::READY)
            .map(|c| (c.reason.clone(), c.message.clone()));
        let changed = before.as_ref().map(|(r, m)| (r.as_str(), m.as_str()))
            != Some((summary.reason(), summary.message()));
        write_status(self.api, self.obj, self.obj.status.as_ref(), &self.st).await?;
        if changed {
            let type_ = match summary {
                Summary::Stalled { .. } | Summary::Retrying { .. } => EventType::Warning,
                _ => EventType::Normal,
            };
            event(
                self.ctx,
                self.obj,
                type_,
                summary.reason(),
                "Reconcile",
                summary.message().to_owned(),
            )
            .await;
        }
        Ok(then)
    }

    /// The next look while the cloud works: soon after a transition starts (a simulator, or a
    /// quick change, finishes in moments), then less often, up to the poll interval — so a
    /// 20-minute creation costs a handful of extra reads, not hundreds.
    fn poll(&self) -> Action {
        let since = condition::get(&self.old.conditions, condition::READY)
            .filter(|c| c.status == condition::FALSE)
            .map(|c| {
                Timestamp::now()
                    .duration_since(c.last_transition_time.0)
                    .unsigned_abs()
            })
            .unwrap_or_default();
        let min = std::time::Duration::from_millis(200).min(self.ctx.timing.poll);
        Action::requeue((since / 2).clamp(min, self.ctx.timing.poll))
    }

    /// Progressing while the cloud works: look again after the poll interval.
    async fn waiting(
        &mut self,
        phase: Phase,
        reason: &str,
        message: String,
    ) -> Result<Action, Error> {
        let then = self.poll();
        self.finish(phase, Summary::progressing(reason, message), then)
            .await
    }

    async fn apply(&mut self) -> Result<Action, Error> {
        let desired = match self.obj.desired() {
            Ok(d) => d,
            Err(errors) => {
                return self
                    .finish(
                        Phase::Failed,
                        Summary::stalled(reason::INVALID_SPEC, errors.to_string()),
                        Action::await_change(),
                    )
                    .await;
            }
        };
        // The cloud refused a write for this generation as invalid: wait for the spec to change
        // rather than sending the same request again.
        if let Some(ready) = condition::get(&self.old.conditions, condition::STALLED)
            && ready.status == condition::TRUE
            && ready.reason == reason::CLOUD_INVALID_ARGUMENT
            && ready.observed_generation == self.generation
        {
            return Ok(Action::await_change());
        }
        let desired = match self.resolve_user_groups(desired).await? {
            Ok(d) => d,
            Err(waiting) => {
                return self
                    .waiting(Phase::Pending, reason::REFERENCE_NOT_READY, waiting)
                    .await;
            }
        };
        let provider = self.ctx.providers.for_desired(&desired).clone();
        let settled = self.old.operation.is_none()
            && self.old.phase == Some(Phase::Ready)
            && self.old.observed_generation == self.generation;
        let observed = if settled {
            self.ctx
                .observer
                .cached(&desired, self.ctx.timing.resync / 2)
                .await
        } else {
            self.ctx.observer.fresh(&desired).await
        };
        let observed = match observed {
            Ok(o) => o,
            Err(e) => return self.cloud_failure(e).await,
        };
        let Some(observed) = observed else {
            return self.create(&desired).await;
        };

        if !self.is_ours(&observed) {
            match provider.claim(&desired, &self.owner(), &observed).await {
                Ok(Claim::Ours) => {}
                Ok(Claim::Foreign(why)) if self.obj.spec.adopt => {
                    if let Err(e) = provider.adopt(&desired, &self.owner(), &observed).await {
                        return self.cloud_failure(e).await;
                    }
                    self.st.adopted = true;
                    event(
                        self.ctx,
                        self.obj,
                        EventType::Normal,
                        "Adopted",
                        "Adopt",
                        format!("adopted {} ({why})", observed.resource),
                    )
                    .await;
                }
                Ok(Claim::Foreign(why)) => {
                    let message = format!(
                        "{why}; set spec.adopt: true to manage it, or choose another instanceId"
                    );
                    return self
                        .finish(
                            Phase::Failed,
                            Summary::stalled(reason::ALREADY_EXISTS, message),
                            Action::requeue(self.ctx.resync()),
                        )
                        .await;
                }
                Err(e) => return self.cloud_failure(e).await,
            }
            self.st.cloud_resource = Some(observed.resource.clone());
        }
        self.record(&observed);

        if let Some(op) = self.old.operation.clone() {
            match provider.operation(&op).await {
                Ok(OperationState::Running) => {}
                Ok(OperationState::Done | OperationState::Unknown) => self.st.operation = None,
                Ok(OperationState::Failed { code, message }) => {
                    self.st.operation = None;
                    let e = CloudError::new(
                        cache_operator_cloud::error::classify_google(&code, 400),
                        code,
                        message,
                        format!("operation {op}"),
                    );
                    return self.cloud_failure(e).await;
                }
                Err(e) => return self.cloud_failure(e).await,
            }
        }

        match observed.state {
            ClusterState::Creating => {
                let msg = format!("the cloud is creating {}", observed.resource);
                self.waiting(Phase::Creating, reason::CREATING, msg).await
            }
            ClusterState::Updating => {
                let pending = describe(&provider.changes(&desired, &observed));
                let msg = format!("the cloud is updating {}{pending}", observed.resource);
                self.waiting(Phase::Updating, reason::UPDATING, msg).await
            }
            ClusterState::Deleting => {
                let msg = format!(
                    "{} is being deleted in the cloud; it will be recreated once gone",
                    observed.resource
                );
                self.waiting(Phase::Pending, reason::PENDING, msg).await
            }
            ClusterState::Failed => {
                let msg = format!(
                    "the cloud reports {} as {}",
                    observed.resource, observed.raw_state
                );
                self.finish(
                    Phase::Failed,
                    Summary::stalled(reason::CLOUD_FAILED_PRECONDITION, msg),
                    Action::requeue(self.ctx.resync()),
                )
                .await
            }
            ClusterState::Unknown => {
                let msg = format!(
                    "the cloud reports {} as {:?}",
                    observed.resource, observed.raw_state
                );
                self.waiting(Phase::Pending, reason::PENDING, msg).await
            }
            ClusterState::Available => self.converge(&desired, &observed).await,
        }
    }

    /// The cloud resource is ours if this object created, claimed or adopted it.
    fn is_ours(&self, observed: &ObservedCluster) -> bool {
        self.old.cloud_resource.as_deref() == Some(observed.resource.as_str())
            && (self.old.cloud_uid.is_none()
                || observed.uid.is_none()
                || self.old.cloud_uid == observed.uid)
    }

    fn record(&mut self, o: &ObservedCluster) {
        self.st.cloud_resource = Some(o.resource.clone());
        if o.uid.is_some() {
            self.st.cloud_uid = o.uid.clone();
        }
        self.st.cloud_state = Some(o.raw_state.clone());
        self.st.shard_count = Some(o.shard_count as i32);
        self.st.replicas_per_shard = Some(o.replicas_per_shard as i32);
        self.st.node_type = Some(o.node_type.clone());
        let hp = |e: &Endpoint| HostPort {
            host: e.host.clone(),
            port: i32::from(e.port),
        };
        let endpoints = ClusterEndpoints {
            discovery: o.discovery.iter().map(hp).collect(),
            primary: o.primary.as_ref().map(hp),
            reader: o.reader.as_ref().map(hp),
        };
        self.st.endpoints = (!endpoints.discovery.is_empty()).then_some(endpoints);
    }

    async fn create(&mut self, desired: &DesiredCluster) -> Result<Action, Error> {
        let provider = self.ctx.providers.for_desired(desired).clone();
        if self.old.cloud_resource.is_some() && self.old.phase == Some(Phase::Ready) {
            let gone = self.old.cloud_resource.clone().unwrap_or_default();
            event(
                self.ctx,
                self.obj,
                EventType::Warning,
                reason::NOT_FOUND_IN_CLOUD,
                "Create",
                format!("{gone} disappeared from the cloud; creating it again"),
            )
            .await;
        }
        match provider.create(desired, &self.owner()).await {
            Ok(created) => {
                self.st.cloud_resource = Some(created.resource.clone());
                self.st.cloud_uid = None;
                self.st.operation = match created.progress {
                    Progress::Operation(op) => Some(op),
                    Progress::Started => None,
                };
                self.st.endpoints = None;
                let msg = format!("creating {} in {}", created.resource, desired.region());
                self.waiting(Phase::Creating, reason::CREATING, msg).await
            }
            // Someone created it between our look and our create: look again at once.
            Err(e) if e.is(ErrorClass::AlreadyExists) => {
                Ok(Action::requeue(std::time::Duration::from_millis(200)))
            }
            Err(e) => self.cloud_failure(e).await,
        }
    }

    /// The cluster is available: apply the first pending change, or report Ready.
    async fn converge(
        &mut self,
        desired: &DesiredCluster,
        observed: &ObservedCluster,
    ) -> Result<Action, Error> {
        let provider = self.ctx.providers.for_desired(desired).clone();
        let changes = provider.changes(desired, observed);
        let Some(change) = changes.first() else {
            self.st.operation = None;
            if observed.transit_encryption && self.st.ca_certificate.is_none() {
                match provider.ca_certificates(desired).await {
                    Ok(certs) if !certs.is_empty() => {
                        self.st.ca_certificate = Some(certs.join("\n"))
                    }
                    Ok(_) => {}
                    Err(e) => return self.cloud_failure(e).await,
                }
            }
            let at = observed
                .discovery
                .first()
                .map(|e| format!(" at {}:{}", e.host, e.port))
                .unwrap_or_default();
            let msg = format!("{} is available{at}", observed.resource);
            return self
                .finish(
                    Phase::Ready,
                    Summary::ready(reason::AVAILABLE, msg),
                    Action::requeue(self.ctx.resync()),
                )
                .await;
        };
        if self.st.operation.is_some() {
            let msg = format!(
                "waiting for the cloud to finish the previous change{}",
                describe(&changes)
            );
            return self.waiting(Phase::Updating, reason::UPDATING, msg).await;
        }
        match provider.apply(desired, change, &self.owner()).await {
            Ok(progress) => {
                if let Progress::Operation(op) = progress {
                    self.st.operation = Some(op);
                }
                let msg = format!("changing {}{}", change.describe(), describe(&changes[1..]));
                event(
                    self.ctx,
                    self.obj,
                    EventType::Normal,
                    reason::UPDATING,
                    "Update",
                    format!("changing {}", change.describe()),
                )
                .await;
                self.waiting(Phase::Updating, reason::UPDATING, msg).await
            }
            Err(e) if e.is(ErrorClass::FailedPrecondition) => {
                let msg = format!(
                    "the cloud is busy ({}); will retry changing {}",
                    e.message,
                    change.describe()
                );
                self.waiting(Phase::Updating, reason::UPDATING, msg).await
            }
            Err(e) => self.cloud_failure(e).await,
        }
    }

    /// Turn a failed cloud call into conditions: permanent failures stall until the spec
    /// changes; transient ones go to the error policy's backoff.
    async fn cloud_failure(&mut self, e: CloudError) -> Result<Action, Error> {
        match e.class {
            ErrorClass::InvalidArgument | ErrorClass::QuotaExceeded => {
                let s = Summary::stalled(reason::CLOUD_INVALID_ARGUMENT, e.to_string());
                self.finish(Phase::Failed, s, Action::await_change()).await
            }
            ErrorClass::PermissionDenied | ErrorClass::Unauthenticated => {
                let msg = format!("the operator's cloud identity is not allowed to do this: {e}");
                let then = Action::requeue(self.ctx.timing.max_backoff);
                self.finish(
                    Phase::Failed,
                    Summary::stalled(reason::PERMISSION_DENIED, msg),
                    then,
                )
                .await
            }
            ErrorClass::FailedPrecondition | ErrorClass::NotFound => {
                let phase = self.old.phase.unwrap_or(Phase::Pending);
                self.waiting(phase, reason::CLOUD_FAILED_PRECONDITION, e.to_string())
                    .await
            }
            _ => {
                // Keep Ready as it was for a cluster that is fine and only could not be looked at.
                if self.old.phase != Some(Phase::Ready) {
                    let phase = self.old.phase.unwrap_or(Phase::Pending);
                    let s = Summary::retrying(
                        reason::CLOUD_UNAVAILABLE,
                        format!("{e}; retrying with backoff"),
                    );
                    self.finish(phase, s, Action::await_change()).await?;
                }
                Err(Error::Cloud(e))
            }
        }
    }

    /// aws: the ElastiCache IDs of the referenced UserGroups, once they exist in the cloud.
    async fn resolve_user_groups(
        &self,
        mut desired: DesiredCluster,
    ) -> Result<Result<DesiredCluster, String>, Error> {
        let DesiredCluster::Aws(aws) = &mut desired else {
            return Ok(Ok(desired));
        };
        let ns = self.obj.namespace().unwrap_or_default();
        let groups: Api<UserGroup> = Api::namespaced(self.ctx.client.clone(), &ns);
        for r in &self.obj.spec.user_group_refs {
            let Some(group) = groups.get_opt(&r.name).await? else {
                return Ok(Err(format!(
                    "waiting for UserGroup {ns}/{} to exist",
                    r.name
                )));
            };
            let Some(id) = group.status.as_ref().and_then(|s| s.user_group_id.clone()) else {
                return Ok(Err(format!(
                    "waiting for UserGroup {ns}/{} to be created in ElastiCache",
                    r.name
                )));
            };
            aws.user_group_ids.push(id);
        }
        Ok(Ok(desired))
    }
}

fn describe(changes: &[Change]) -> String {
    if changes.is_empty() {
        String::new()
    } else {
        format!(
            "; pending: {}",
            changes
                .iter()
                .map(Change::describe)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Deletion: `Retain` lets go; `Delete` removes the cloud resource (if it is ours) and waits
/// until it is gone; deletion protection holds everything.
async fn cleanup(
    obj: &RedisCluster,
    api: &Api<RedisCluster>,
    ctx: &Context,
) -> Result<Action, Error> {
    let mut pass = Pass::new(obj, api, ctx);
    let policy = obj.spec.deletion_policy.unwrap_or(if pass.old.adopted {
        DeletionPolicy::Retain
    } else {
        DeletionPolicy::Delete
    });
    let let_go = |note: String| async move {
        event(ctx, obj, EventType::Normal, "Released", "Delete", note).await;
        remove_finalizer(api, obj).await?;
        Ok::<_, Error>(Action::await_change())
    };
    if policy == DeletionPolicy::Retain {
        let what = pass
            .old
            .cloud_resource
            .clone()
            .unwrap_or_else(|| "the cloud resource".into());
        return let_go(format!("deletionPolicy Retain: {what} is left in place")).await;
    }
    let desired = match obj.desired() {
        Ok(d) => d,
        Err(_) if pass.old.cloud_resource.is_none() => {
            return let_go("nothing was created in the cloud".into()).await;
        }
        Err(errors) => {
            let msg = format!(
                "cannot delete {}: the spec is invalid ({errors})",
                pass.old.cloud_resource.clone().unwrap_or_default()
            );
            return pass
                .finish(
                    Phase::Deleting,
                    Summary::stalled(reason::INVALID_SPEC, msg),
                    Action::await_change(),
                )
                .await;
        }
    };
    let provider = ctx.providers.for_desired(&desired).clone();
    let observed = match ctx.observer.fresh(&desired).await {
        Ok(o) => o,
        Err(e) => return pass.cloud_failure(e).await,
    };
    let Some(observed) = observed else {
        let what = pass
            .old
            .cloud_resource
            .clone()
            .unwrap_or_else(|| desired.id().to_owned());
        return let_go(format!("{what} is deleted")).await;
    };
    if !pass.is_ours(&observed) {
        match provider.claim(&desired, &pass.owner(), &observed).await {
            Ok(Claim::Ours) => {}
            Ok(Claim::Foreign(why)) => {
                return let_go(format!("left {} alone: {why}", observed.resource)).await;
            }
            Err(e) => return pass.cloud_failure(e).await,
        }
    }
    pass.record(&observed);
    if obj.spec.deletion_protection {
        let msg = format!(
            "spec.deletionProtection is true: {} is kept; set it to false to delete it, or deletionPolicy: Retain to keep it and release this object",
            observed.resource
        );
        return pass
            .finish(
                Phase::Deleting,
                Summary::stalled(reason::DELETION_PROTECTED, msg),
                Action::await_change(),
            )
            .await;
    }
    if observed.state == ClusterState::Deleting {
        let msg = format!("waiting for the cloud to delete {}", observed.resource);
        return pass.waiting(Phase::Deleting, reason::DELETING, msg).await;
    }
    if observed.gcp.as_ref().is_some_and(|g| g.deletion_protection) {
        // The cloud's own protection is ours to lift once the spec no longer asks for it.
        return match provider
            .apply(&desired, &Change::DeletionProtection(false), &pass.owner())
            .await
        {
            Ok(_) => {
                let msg = format!(
                    "turning off the cloud's deletion protection on {}",
                    observed.resource
                );
                pass.waiting(Phase::Deleting, reason::DELETING, msg).await
            }
            Err(e) => pass.cloud_failure(e).await,
        };
    }
    match provider.delete(&desired, &pass.owner()).await {
        Ok(progress) => {
            if let Progress::Operation(op) = progress {
                pass.st.operation = Some(op);
            }
            let msg = format!("deleting {}", observed.resource);
            pass.waiting(Phase::Deleting, reason::DELETING, msg).await
        }
        Err(e) if e.is(ErrorClass::NotFound) => {
            let_go(format!("{} is deleted", observed.resource)).await
        }
        Err(e) if e.is(ErrorClass::FailedPrecondition) => {
            let msg = format!(
                "the cloud cannot delete {} yet: {}",
                observed.resource, e.message
            );
            pass.waiting(Phase::Deleting, reason::DELETING, msg).await
        }
        Err(e) => pass.cloud_failure(e).await,
    }
}
