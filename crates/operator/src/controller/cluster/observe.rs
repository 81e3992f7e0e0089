//! Observe: everything a pass over a cluster reads, gathered into one [`Observed`] (for a
//! live object) or [`Leaving`] (for one being deleted) — the spec checked against the groups it
//! names (from the shared caches), the AUTH token record, and what the cloud reports: the
//! cluster itself (from the shared per-scope list: one no older than the resync while settled,
//! the poll interval while the cloud works on it, and one Get after our own write), whose it is,
//! the operation being followed (only once the cloud shows the cluster's transition over), the
//! changes the spec asks for, the backups followed.
//! Reads only; what they mean is the plan's.

use cache_operator_api::RedisCluster;
use cache_operator_api::cluster::{AuthMode, DeletionPolicy, Phase, RedisClusterStatus};
use cache_operator_api::model::{AuthToken, DesiredCluster};
use cache_operator_cloud::CloudError;
use cache_operator_cloud::provider::{
    Change, Claim, ClusterState, ObservedBackup, ObservedCluster, OperationState, Owner,
};
use kube::ResourceExt;

use super::backups::{self, OnDemand};
use super::cross_region::{self, SetRead, SetView};
use super::dereference;
use super::token::{self, TokenRecord};
use super::validate::{self, Validated};
use crate::context::Context;
use crate::controller::error::Error;
use crate::controller::{Ctx, ending};

/// An existing cluster and what was learnt about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    pub cluster: ObservedCluster,
    /// Whose it is (`Ours` without asking the cloud when the status already says so).
    pub claim: Claim,
    /// The state of the operation in the status, when one is followed.
    pub operation: Option<OperationState>,
    /// What the spec asks to change, first to apply first.
    pub changes: Vec<Change>,
    /// The cloud's CA, fetched once the cluster is available, settled and has TLS.
    pub ca_certificates: Option<Vec<String>>,
    /// The attempt the cluster proved ours on, when it is not the status's: the next one (a
    /// re-create whose status write was lost).
    pub attempt: Option<u32>,
    /// The on-demand backup being taken, as the cloud lists it (when one is followed).
    pub backup: Option<ObservedBackup>,
    /// The cross-region set this cluster is a member of, as the shared cache shows it.
    pub set: Option<SetView>,
}

/// What a pass must look at besides the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Looks {
    /// Read the cluster afresh even when settled (an AUTH token change was sent and its
    /// outcome must not be judged on an older observation).
    pub fresh: bool,
    /// The on-demand backup being taken, to look up.
    pub backup: Option<String>,
}

/// For a pass over a live object.
pub async fn for_apply(
    ctx: &Context,
    desired: &DesiredCluster,
    old: &RedisClusterStatus,
    generation: Option<i64>,
    owner: &Owner,
    adopt: bool,
    looks: &Looks,
) -> Result<Option<Seen>, CloudError> {
    let provider = ctx.clouds.cluster(desired);
    let settled = old.operation.is_none()
        && old.phase == Some(Phase::Ready)
        && old.observed_generation == generation
        && !looks.fresh;
    let observed = if looks.fresh {
        ctx.observer.fresh(desired).await?
    } else if settled {
        ctx.observer.cached(desired, ctx.timing.resync / 2).await?
    } else {
        ctx.observer.cached(desired, ctx.timing.poll).await?
    };
    let Some(cluster) = observed else {
        return Ok(None);
    };
    let (claim, attempt) = claim(ctx, desired, old, owner, &cluster).await?;
    let refused = matches!(claim, Claim::Foreign(_)) && !adopt;
    let operation = match &old.operation {
        Some(_) if refused => None,
        // The cloud still creates or changes the cluster: the operation doing it runs. Read
        // per object, following it would cost one call per object per poll.
        Some(_) if in_transition(cluster.state) => Some(OperationState::Running),
        Some(op) => Some(provider.operation(op).await?),
        None => None,
    };
    let changes = provider.changes(&cluster);
    let failed = matches!(operation, Some(OperationState::Failed { .. }));
    let ca_certificates = if !refused
        && !failed
        && cluster.state == ClusterState::Available
        && changes.is_empty()
        && cluster.transit_encryption
        && old.ca_certificate.is_none()
    {
        Some(provider.ca_certificates().await?)
    } else {
        None
    };
    let backup = match &looks.backup {
        Some(name) if !refused => provider
            .backups()
            .await?
            .into_iter()
            .find(|b| b.name == *name),
        _ => None,
    };
    Ok(Some(Seen {
        cluster,
        claim,
        operation,
        changes,
        ca_certificates,
        attempt,
        backup,
        set: None,
    }))
}

/// States in which the cloud is still carrying out a create or a change.
fn in_transition(state: ClusterState) -> bool {
    matches!(state, ClusterState::Creating | ClusterState::Updating)
}

/// The cloud resource is ours if this object created, claimed or adopted it.
pub fn is_ours(old: &RedisClusterStatus, observed: &ObservedCluster) -> bool {
    old.cloud_resource.as_deref() == Some(observed.resource.as_str())
        && (old.cloud_uid.is_none() || observed.uid.is_none() || old.cloud_uid == observed.uid)
}

/// When the cluster is absent: the state of the operation the status follows, if any (did our
/// create fail, finish, or is it still running?).
pub async fn absent(
    ctx: &Context,
    desired: &DesiredCluster,
    old: &RedisClusterStatus,
) -> Result<Option<OperationState>, CloudError> {
    match &old.operation {
        Some(op) => Ok(Some(ctx.clouds.cluster(desired).operation(op).await?)),
        None => Ok(None),
    }
}

/// For a pass over an object being deleted with a final backup `name` that the status says
/// was asked for: the operation taking it (gcp) and, unless that still runs, the backup as the
/// cloud lists it.
pub async fn final_backup(
    ctx: &Context,
    desired: &DesiredCluster,
    old: &RedisClusterStatus,
    name: &str,
) -> Result<(Option<OperationState>, Option<ObservedBackup>), CloudError> {
    let provider = ctx.clouds.cluster(desired);
    let operation = match &old.operation {
        Some(op) => Some(provider.operation(op).await?),
        None => None,
    };
    if operation == Some(OperationState::Running) {
        return Ok((operation, None));
    }
    let listed = provider
        .backups()
        .await?
        .into_iter()
        .find(|b| b.name == name);
    Ok((operation, listed))
}

/// For a pass over an object being deleted: the scope's list no older than the poll interval
/// (one Get after our own write).
pub async fn for_cleanup(
    ctx: &Context,
    desired: &DesiredCluster,
    old: &RedisClusterStatus,
    owner: &Owner,
) -> Result<Option<(ObservedCluster, Claim)>, CloudError> {
    let Some(cluster) = ctx.observer.cached(desired, ctx.timing.poll).await? else {
        return Ok(None);
    };
    let (claim, _) = claim(ctx, desired, old, owner, &cluster).await?;
    Ok(Some((cluster, claim)))
}

/// Whose the cluster is, and the attempt it proved ours on when that is not `owner`'s.
async fn claim(
    ctx: &Context,
    desired: &DesiredCluster,
    old: &RedisClusterStatus,
    owner: &Owner,
    cluster: &ObservedCluster,
) -> Result<(Claim, Option<u32>), CloudError> {
    if is_ours(old, cluster) {
        return Ok((Claim::Ours, None));
    }
    let provider = ctx.clouds.cluster(desired);
    let claim = provider.claim(owner, cluster).await?;
    if matches!(claim, Claim::Foreign(_)) && matches!(desired, DesiredCluster::Gcp(_)) {
        // A re-create on the next attempt whose status write was lost: its request ID is the
        // proof. (Had that attempt never been sent, the cluster's existence makes the create
        // fail with ALREADY_EXISTS: nothing is created.)
        let next = owner.next_attempt();
        if provider.claim(&next, cluster).await? == Claim::Ours {
            return Ok((Claim::Ours, Some(next.attempt)));
        }
    }
    Ok((claim, None))
}

/// `spec.deletionPolicy`, else `Retain` for an adopted cluster and `Delete` for one we made.
pub fn deletion_policy(obj: &RedisCluster) -> DeletionPolicy {
    let adopted = obj.status.as_ref().is_some_and(|s| s.adopted);
    obj.spec.deletion_policy.unwrap_or(if adopted {
        DeletionPolicy::Retain
    } else {
        DeletionPolicy::Delete
    })
}

/// The object as the owner of its cloud writes, on the attempt its status records.
pub fn owner(obj: &RedisCluster) -> Owner {
    let attempt = obj.status.as_ref().and_then(|s| s.attempt).unwrap_or(0);
    Owner {
        uid: obj.uid().unwrap_or_default(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        generation: obj.metadata.generation.unwrap_or(0),
        attempt: u32::try_from(attempt).unwrap_or(0),
    }
}

/// What the cloud holds of the cluster.
#[derive(Clone, Debug, PartialEq)]
pub enum Cloud {
    Present(Box<Seen>),
    /// No cluster of the desired ID; the state of the operation the status follows, if any.
    Absent(Option<OperationState>),
}

/// Everything a pass over a live cluster reads.
#[derive(Debug)]
pub struct Observed {
    /// The spec, checked against the UserGroups it names.
    pub validated: Validated,
    pub owner: Owner,
    /// The cloud refused a write for this generation (nothing else is looked at).
    pub refused: bool,
    /// `authMode: token`: the record the token Secret holds (`None` inside: none usable).
    pub token: Option<Option<TokenRecord>>,
    /// A new token, for a token that is created or rotated in this pass.
    pub new_token: AuthToken,
    /// What the cloud reports; `None` when the spec says nothing can be looked at yet.
    pub cloud: Option<Result<Cloud, CloudError>>,
}

/// Read what a pass over `obj` needs.
pub async fn observe(obj: &RedisCluster, ctx: &Ctx) -> Result<Observed, Error> {
    let old = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation;
    let validated = validate::validate(obj, dereference::user_group_ids(obj, &ctx.stores));
    let (validated, set) = with_set(validated, obj, ctx);
    let mut seen = Observed {
        refused: ending::refused_at(&old.conditions, generation),
        owner: owner(obj),
        validated,
        token: None,
        new_token: token::generate(),
        cloud: None,
    };
    let Validated::Desired(desired) = &seen.validated else {
        return Ok(seen);
    };
    if seen.refused {
        return Ok(seen);
    }
    if let DesiredCluster::Aws(a) = &**desired
        && a.auth == AuthMode::Token
    {
        seen.token = Some(token::load(ctx, obj).await?);
    }
    let looks = Looks {
        fresh: seen
            .token
            .as_ref()
            .is_some_and(|r| r.as_ref().is_some_and(|r| r.requested_at.is_some())),
        backup: match backups::on_demand(desired.backups(), &old, false) {
            OnDemand::Track(name) => Some(name),
            _ => None,
        },
    };
    let found = for_apply(
        ctx,
        desired,
        &old,
        generation,
        &seen.owner,
        obj.spec.adopt,
        &looks,
    )
    .await;
    seen.cloud = Some(match found {
        Ok(Some(s)) => Ok(Cloud::Present(Box::new(Seen { set, ..s }))),
        Ok(None) => absent(ctx, desired, &old).await.map(Cloud::Absent),
        Err(e) => Err(e),
    });
    Ok(seen)
}

/// The spec with what its cross-region set adds (from the shared cache): the primary a new
/// secondary is created under, or what is awaited, or the set's rule it breaks.
fn with_set(validated: Validated, obj: &RedisCluster, ctx: &Ctx) -> (Validated, Option<SetView>) {
    let Validated::Desired(mut desired) = validated else {
        return (validated, None);
    };
    let Some(cr) = &obj.spec.cross_region else {
        return (Validated::Desired(desired), None);
    };
    let ns = obj.namespace();
    let anchor = cr.secondary_of.clone().unwrap_or_else(|| obj.name_any());
    // Only the set's possible members are copied: the anchor and clusters naming a set (a
    // namespace may hold thousands of clusters that take no part in any).
    let namespace: Vec<RedisCluster> = ctx
        .stores
        .clusters
        .state()
        .iter()
        .filter_map(|c| crate::controller::shared::parsed(c))
        .filter(|c| {
            c.namespace() == ns && (c.spec.cross_region.is_some() || c.name_any() == anchor)
        })
        .cloned()
        .collect();
    match cross_region::read(obj, &namespace) {
        SetRead::Alone => (Validated::Desired(desired), None),
        SetRead::Waiting(m) => (Validated::Waiting(m), None),
        SetRead::Broken(e) => (Validated::InvalidSpec(e), None),
        SetRead::Member { view, follow } => {
            if let DesiredCluster::Gcp(g) = &mut *desired {
                g.secondary_of = follow;
            }
            (Validated::Desired(desired), Some(view))
        }
    }
}

/// Everything a deletion reads.
#[derive(Clone, Debug)]
pub struct Leaving {
    pub owner: Owner,
    pub looked: Looked,
}

/// What a deletion looked at.
#[derive(Clone, Debug)]
pub enum Looked {
    /// `deletionPolicy: Retain`: nothing.
    Retained,
    /// The spec does not parse (why): nothing.
    Unparsable(String),
    Cloud(Box<Looking>),
}

/// What a deletion reads of the cloud.
#[derive(Clone, Debug)]
pub struct Looking {
    pub desired: DesiredCluster,
    /// The cluster and whose it is (`None`: gone).
    pub found: Result<Option<(ObservedCluster, Claim)>, CloudError>,
    /// The final backup to take, and what the cloud says of it once asked for.
    pub final_backup: Option<FinalSeen>,
}

#[derive(Clone, Debug)]
pub struct FinalSeen {
    pub name: String,
    pub found: Result<(Option<OperationState>, Option<ObservedBackup>), CloudError>,
}

/// Read what a deletion of `obj` needs.
pub async fn leaving(obj: &RedisCluster, ctx: &Context) -> Leaving {
    let old = obj.status.clone().unwrap_or_default();
    let owner = owner(obj);
    let looked = match (deletion_policy(obj), obj.desired()) {
        (DeletionPolicy::Retain, _) => Looked::Retained,
        (_, Err(e)) => Looked::Unparsable(e.to_string()),
        (_, Ok(desired)) => {
            let found = for_cleanup(ctx, &desired, &old, &owner).await;
            // The final backup matters once the cluster is to be deleted: ours, not protected,
            // not being deleted already (nothing more is read while the cloud deletes it).
            let deletable = matches!(&found, Ok(Some((o, Claim::Ours)))
                if o.state != ClusterState::Deleting
                    && !obj.spec.deletion_protection
                    && !o.gcp.as_ref().is_some_and(|g| g.deletion_protection));
            let name = backups::final_backup_name(&desired, &owner.uid).filter(|_| deletable);
            let final_backup = match name {
                Some(name) => {
                    let found = if backups::recorded_final(&old, &name).is_some() {
                        final_backup(ctx, &desired, &old, &name).await
                    } else {
                        Ok((None, None))
                    };
                    Some(FinalSeen { name, found })
                }
                None => None,
            };
            Looked::Cloud(Box::new(Looking {
                desired,
                found,
                final_backup,
            }))
        }
    };
    Leaving { owner, looked }
}
