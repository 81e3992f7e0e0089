//! Execute: the only step of a cluster that writes — the AUTH token record first (before the
//! call that sends it), then the one cloud write the plan asks for (adopt, create, a change, an
//! on-demand backup; for a deletion: lift the cloud's protection, take the final backup, or
//! delete). Returns what each call answered; what that means is the status's to say.

use cache_operator_api::RedisCluster;
use cache_operator_cloud::CloudError;
use cache_operator_cloud::provider::{Change, Created, FinalBackup, Progress};

use super::plan::{Act, Course, Leave, Then};
use super::token;
use crate::controller::Ctx;
use crate::controller::error::Error;

/// What the cloud answered in a pass over a live cluster.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    /// Adopting a foreign cluster failed (nothing else was sent).
    pub adopt_failed: Option<CloudError>,
    pub created: Option<Result<Created, CloudError>>,
    pub changed: Option<Result<Progress, CloudError>>,
    /// The on-demand backup asked for.
    pub backup: Option<Result<Progress, CloudError>>,
}

/// Carry out a pass's course for `obj`.
pub async fn execute(ctx: &Ctx, obj: &RedisCluster, course: &Course) -> Result<Applied, Error> {
    let mut applied = Applied::default();
    let Course::Go(go) = course else {
        return Ok(applied);
    };
    if let Some(t) = &go.token
        && let Some(record) = &t.save
    {
        token::save(ctx, obj, record, t.interval).await?;
    }
    let cloud = ctx.clouds.cluster(&go.desired);
    let owner = &go.owner;
    if let (Some(_), Some(seen)) = (&go.plan.adopt, &go.seen) {
        let adopted = cloud.adopt(owner, &seen.cluster).await;
        ctx.observer.wrote(&go.desired);
        if let Err(e) = adopted {
            applied.adopt_failed = Some(e);
            return Ok(applied);
        }
    }
    match &go.plan.then {
        Then::Create { .. } => applied.created = Some(cloud.create(owner).await),
        Then::Change { change, .. } => applied.changed = Some(cloud.apply(change, owner).await),
        Then::Report(_) => match &go.backup.take {
            Some(name) => applied.backup = Some(cloud.backup(name).await),
            None => return Ok(applied),
        },
        Then::Fail(_) => return Ok(applied),
    }
    // Whatever the answer (a lost one may hide a write that took), the next look must be
    // later than this write.
    ctx.observer.wrote(&go.desired);
    Ok(applied)
}

/// What the cloud answered in a deletion.
#[derive(Clone, Debug)]
pub enum Left {
    Nothing,
    Lifted(Result<Progress, CloudError>),
    FinalBackup(Result<FinalBackup, CloudError>),
    Deleted(Result<Progress, CloudError>),
}

/// Carry out a deletion's plan.
pub async fn leave(ctx: &Ctx, plan: &Leave) -> Left {
    let Leave::Act {
        act,
        desired,
        owner,
        ..
    } = plan
    else {
        return Left::Nothing;
    };
    let cloud = ctx.clouds.cluster(desired);
    let left = match act {
        Act::Lift => Left::Lifted(cloud.apply(&Change::DeletionProtection(false), owner).await),
        Act::FinalBackup(name) => Left::FinalBackup(cloud.final_backup(owner, name).await),
        Act::Delete { .. } => Left::Deleted(cloud.delete(owner).await),
        Act::FinalFailed(_) | Act::FinalWait(_) => return Left::Nothing,
    };
    ctx.observer.wrote(desired);
    left
}
