//! Execute: the only step of a serverless cache that writes — the one cloud call the plan asks
//! for. Returns what it answered; what that means is the status's to say.

use cache_operator_api::model::serverless::DesiredServerless;
use cache_operator_cloud::CloudError;
use cache_operator_cloud::aws::serverless::ObservedServerless;

use super::observe::{Observed, Spec};
use super::plan::{Act, Leave, Plan};
use crate::controller::Ctx;

/// What the cloud answered.
#[derive(Clone, Debug)]
pub enum Applied {
    Nothing,
    Created(Box<Result<ObservedServerless, CloudError>>),
    Modified(Result<(), CloudError>),
    Deleted(Result<(), CloudError>),
}

fn desired(seen: &Observed) -> Option<&DesiredServerless> {
    match &seen.spec {
        Spec::Desired(d) => Some(d),
        _ => None,
    }
}

/// Carry out a live pass's plan for `obj`.
pub async fn execute(ctx: &Ctx, seen: &Observed, plan: &Plan) -> Applied {
    let Some(d) = desired(seen) else {
        return Applied::Nothing;
    };
    let api = &ctx.clouds.aws.serverless;
    let applied = match &plan.act {
        Act::Create { .. } => Applied::Created(Box::new(api.create(d, &seen.owner).await)),
        Act::Modify { change, .. } => {
            Applied::Modified(api.modify(&d.region, &d.name, change).await)
        }
        Act::Recreate => Applied::Deleted(api.delete(&d.region, &d.name, None).await),
        Act::Hold | Act::Report(_) | Act::Unseen(_) => return Applied::Nothing,
    };
    // Whatever the answer, the region's last List no longer tells what became of the cache.
    ctx.serverless.wrote(&d.region, &d.name);
    applied
}

/// Carry out a deletion's plan.
pub async fn leave(ctx: &Ctx, plan: &Leave) -> Applied {
    match plan {
        Leave::Delete {
            region,
            name,
            final_snapshot,
            ..
        } => {
            let deleted = ctx
                .clouds
                .aws
                .serverless
                .delete(region, name, final_snapshot.as_deref())
                .await;
            ctx.serverless.wrote(region, name);
            Applied::Deleted(deleted)
        }
        _ => Applied::Nothing,
    }
}
