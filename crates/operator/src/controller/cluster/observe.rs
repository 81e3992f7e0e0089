//! Observe: what the cloud reports about the cluster — the cluster itself (from the shared
//! per-scope list while settled, else one fresh read), whose it is, the operation being
//! followed, and the changes the spec asks for. Reads only.

use cache_operator_api::cluster::{Phase, RedisClusterStatus};
use cache_operator_api::model::DesiredCluster;
use cache_operator_cloud::CloudError;
use cache_operator_cloud::provider::{
    Change, Claim, ClusterState, ObservedBackup, ObservedCluster, OperationState, Owner,
};

use super::plan::is_ours;
use crate::context::Context;

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
    let observed = if settled {
        ctx.observer.cached(desired, ctx.timing.resync / 2).await?
    } else {
        ctx.observer.fresh(desired).await?
    };
    let Some(cluster) = observed else {
        return Ok(None);
    };
    let (claim, attempt) = claim(ctx, desired, old, owner, &cluster).await?;
    let refused = matches!(claim, Claim::Foreign(_)) && !adopt;
    let operation = match &old.operation {
        Some(op) if !refused => Some(provider.operation(op).await?),
        _ => None,
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
    }))
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

/// For a pass over an object being deleted: always a fresh read.
pub async fn for_cleanup(
    ctx: &Context,
    desired: &DesiredCluster,
    old: &RedisClusterStatus,
    owner: &Owner,
) -> Result<Option<(ObservedCluster, Claim)>, CloudError> {
    let Some(cluster) = ctx.observer.fresh(desired).await? else {
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
