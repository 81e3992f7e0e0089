//! Observe: everything a pass over a serverless cache reads — the spec checked and its user
//! group resolved (from the shared caches), and the cache as the cloud reports it (from the
//! region's shared List: no older than the resync while settled, than the poll interval while
//! in flight; one Describe only after this process's own write), with whose it is. Reads only;
//! what they mean is the plan's.

use cache_operator_api::Provider;
use cache_operator_api::ServerlessCache;
use cache_operator_api::cluster::{DeletionPolicy, Phase};
use cache_operator_api::model::serverless::DesiredServerless;
use cache_operator_api::serverless::ServerlessCacheStatus;
use cache_operator_api::validate::FieldErrors;
use cache_operator_cloud::CloudError;
use cache_operator_cloud::aws::serverless::ObservedServerless;
use cache_operator_cloud::provider::Owner;
use kube::ResourceExt;

use crate::controller::shared::parsed;
use crate::controller::{Ctx, Stores};

/// The spec, as far as it can be taken.
#[derive(Clone, Debug, PartialEq)]
pub enum Spec {
    Invalid(FieldErrors),
    /// The user group it names is not there yet (why).
    Waiting(String),
    /// The user group belongs elsewhere (why): a person must act.
    Wrong(String),
    Desired(Box<DesiredServerless>),
}

/// A cache in the cloud and whose it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    pub cache: ObservedServerless,
    /// `Ok`: ours; `Err(why)`: someone else's.
    pub ours: Result<(), String>,
}

/// Everything a pass over a live cache reads.
#[derive(Clone, Debug)]
pub struct Observed {
    pub spec: Spec,
    /// The cloud refused a write for this generation (nothing else is looked at).
    pub refused: bool,
    /// The cache (`None`: absent); not looked at when the spec says nothing can be done.
    pub cloud: Option<Result<Option<Seen>, CloudError>>,
    /// The object as the owner of its cloud writes (a create's tag and request).
    pub owner: Owner,
}

/// The ElastiCache ID `spec.userGroupRef` resolves to (`Ok(None)`: it names none).
pub fn user_group_id(obj: &ServerlessCache, stores: &Stores) -> Result<Option<String>, Spec> {
    let Some(r) = &obj.spec.user_group_ref else {
        return Ok(None);
    };
    let ns = obj.namespace().unwrap_or_default();
    let Some(group) = stores.group(&ns, &r.name) else {
        return Err(Spec::Waiting(format!(
            "waiting for UserGroup {ns}/{} to exist",
            r.name
        )));
    };
    let Some(group) = parsed(&group) else {
        return Err(Spec::Waiting(format!(
            "UserGroup {ns}/{} does not match this operator's schema",
            r.name
        )));
    };
    if group.spec.provider != Provider::Aws {
        return Err(Spec::Wrong(format!(
            "spec.userGroupRef: UserGroup {ns}/{} is for provider {}; a serverless cache takes an aws UserGroup",
            r.name, group.spec.provider
        )));
    }
    if group.metadata.deletion_timestamp.is_some() {
        return Err(Spec::Waiting(format!(
            "UserGroup {ns}/{} is being deleted",
            r.name
        )));
    }
    match group.status.as_ref().and_then(|s| s.user_group_id.clone()) {
        Some(id) => Ok(Some(id)),
        None => Err(Spec::Waiting(format!(
            "waiting for UserGroup {ns}/{} to be created in ElastiCache",
            r.name
        ))),
    }
}

/// The spec checked, with its user group resolved.
pub fn spec(obj: &ServerlessCache, stores: &Stores) -> Spec {
    let desired = match obj.desired() {
        Ok(d) => d,
        Err(e) => return Spec::Invalid(e),
    };
    match user_group_id(obj, stores) {
        Ok(id) => Spec::Desired(Box::new(DesiredServerless {
            user_group_id: id,
            ..desired
        })),
        Err(why) => why,
    }
}

/// The object as the owner of its cloud writes.
pub fn owner(obj: &ServerlessCache) -> Owner {
    Owner {
        uid: obj.uid().unwrap_or_default(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        generation: obj.metadata.generation.unwrap_or(0),
        attempt: 0,
    }
}

/// The cache from its region's shared List: one no older than the resync while the object is
/// settled (Ready at this generation), no older than the poll interval while the cloud is still
/// working on it or it is being deleted; a cache this process just wrote is read once on its own.
async fn find(
    ctx: &Ctx,
    d: &DesiredServerless,
    old: &ServerlessCacheStatus,
    generation: Option<i64>,
    leaving: bool,
) -> Result<Option<ObservedServerless>, CloudError> {
    let settled =
        !leaving && old.phase == Some(Phase::Ready) && old.observed_generation == generation;
    let max_age = if settled {
        ctx.timing.resync / 2
    } else {
        ctx.timing.poll
    };
    ctx.serverless.cached(&d.region, &d.name, max_age).await
}

/// Whose `cache` is: ours when the status recorded its ARN, else by its owner tag.
async fn claim(
    ctx: &Ctx,
    d: &DesiredServerless,
    old: &ServerlessCacheStatus,
    owner: &Owner,
    cache: ObservedServerless,
) -> Result<Seen, CloudError> {
    if old.cloud_resource.as_deref() == Some(cache.arn.as_str()) {
        return Ok(Seen {
            cache,
            ours: Ok(()),
        });
    }
    let uid = ctx
        .clouds
        .aws
        .serverless
        .owner_uid(&d.region, &cache.arn)
        .await?;
    let ours = match uid {
        Some(u) if u == owner.uid => Ok(()),
        Some(_) => Err(format!(
            "{} was created for another object (its cache-operator.io/owner-uid tag)",
            cache.arn
        )),
        None => Err(format!(
            "{} exists and was not created by cache-operator",
            cache.arn
        )),
    };
    Ok(Seen { cache, ours })
}

async fn seen(
    ctx: &Ctx,
    d: &DesiredServerless,
    old: &ServerlessCacheStatus,
    generation: Option<i64>,
    owner: &Owner,
    leaving: bool,
) -> Result<Option<Seen>, CloudError> {
    match find(ctx, d, old, generation, leaving).await? {
        Some(cache) => Ok(Some(claim(ctx, d, old, owner, cache).await?)),
        None => Ok(None),
    }
}

/// Read what a pass over `obj` needs; `refused`: the cloud refused a write for this generation
/// (then the cloud is not looked at).
pub async fn observe(obj: &ServerlessCache, refused: bool, ctx: &Ctx) -> Observed {
    let old = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation;
    let spec = spec(obj, &ctx.stores);
    let owner = owner(obj);
    let cloud = match &spec {
        Spec::Desired(d) if !refused => Some(seen(ctx, d, &old, generation, &owner, false).await),
        _ => None,
    };
    Observed {
        spec,
        refused,
        cloud,
        owner,
    }
}

/// What a deletion reads.
#[derive(Clone, Debug)]
pub enum Leaving {
    /// `deletionPolicy: Retain`: nothing.
    Retained,
    /// The spec does not parse (why): nothing.
    Unparsable(String),
    Cloud {
        desired: Box<DesiredServerless>,
        found: Box<Result<Option<Seen>, CloudError>>,
    },
}

/// `spec.deletionPolicy`, else `Delete`.
pub fn deletion_policy(obj: &ServerlessCache) -> DeletionPolicy {
    obj.spec.deletion_policy.unwrap_or(DeletionPolicy::Delete)
}

/// Read what a deletion of `obj` needs (the region's List no older than the poll interval).
pub async fn leaving(obj: &ServerlessCache, ctx: &Ctx) -> Leaving {
    let old = obj.status.clone().unwrap_or_default();
    match (deletion_policy(obj), obj.desired()) {
        (DeletionPolicy::Retain, _) => Leaving::Retained,
        (_, Err(e)) => Leaving::Unparsable(e.to_string()),
        (_, Ok(desired)) => {
            let found = seen(
                ctx,
                &desired,
                &old,
                obj.metadata.generation,
                &owner(obj),
                true,
            )
            .await;
            Leaving::Cloud {
                desired: Box::new(desired),
                found: Box::new(found),
            }
        }
    }
}
