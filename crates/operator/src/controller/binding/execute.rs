//! Execute: the only step of a binding that writes — mint the token the plan asks for, write
//! the Secret (a first one only where no Secret of someone else stands), or delete the Secret
//! this binding wrote. Returns what was done.

use cache_operator_api::binding::AccessBinding;
use cache_operator_cloud::CloudError;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};

use super::plan::{Choice, Issue, Mint, Plan};
use super::secret::{self, Credential, Token, Wanted};
use crate::controller::error::{At, Error, Step};
use crate::controller::{Ctx, MANAGER};

/// What a pass did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Nothing to do (the plan stopped short of a Secret).
    Nothing,
    /// The Secret holds `token`; `wrote` when this pass wrote it.
    Issued { token: Token, wrote: bool },
    /// A Secret of that name that this binding did not write stands there: left alone.
    Foreign,
    /// No token could be minted; the Secret is as it was.
    MintFailed(CloudError),
    /// The access was withdrawn; `deleted` when a Secret of this binding was there to delete.
    Withdrawn { deleted: bool },
}

fn secrets(ctx: &Ctx, obj: &AccessBinding) -> Api<Secret> {
    Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default())
}

/// Whether a Secret was written by the binding with this UID.
fn owned_by(secret: &Secret, uid: &str) -> bool {
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid && o.kind == "AccessBinding")
}

/// Carry out `plan` for `obj`.
pub async fn execute(ctx: &Ctx, obj: &AccessBinding, plan: &Plan) -> Result<Applied, Error> {
    match plan {
        Plan::Stop(stop) if stop.withdraw => Ok(Applied::Withdrawn {
            deleted: delete_secret(ctx, obj).await?,
        }),
        Plan::Stop(_) => Ok(Applied::Nothing),
        Plan::Issue(issue) => write(ctx, obj, issue).await,
    }
}

async fn write(ctx: &Ctx, obj: &AccessBinding, issue: &Issue) -> Result<Applied, Error> {
    let now = Timestamp::now();
    let token = match &issue.credential {
        Choice::Known(token) => token.clone(),
        Choice::Mint { from, .. } => match mint(ctx, from).await {
            Ok((password, expires)) => Token {
                password,
                expires_at: Some(expires),
                refresh_at: Some(secret::refresh_at(now, expires, issue.refresh_before)),
            },
            Err(e) => return Ok(Applied::MintFailed(e)),
        },
    };
    let api = secrets(ctx, obj);
    // Absent from the cache of the operator's Secrets: a fresh read tells a Secret of that
    // name written by someone else (not in that cache) from none.
    let current = match &issue.current {
        Some(cached) => Some(Secret::clone(cached)),
        None => match api.get_opt(&issue.secret_name).await.at(Step::Observe)? {
            Some(s) if !owned_by(&s, &obj.uid().unwrap_or_default()) => {
                return Ok(Applied::Foreign);
            }
            found => found,
        },
    };
    let wanted = Wanted {
        name: issue.secret_name.clone(),
        namespace: obj.namespace().unwrap_or_default(),
        owner: obj
            .controller_owner_ref(&())
            .expect("a stored object has a name and uid"),
        labels: issue.labels.clone(),
        annotations: issue.annotations.clone(),
        data: secret::data(
            &issue.connection,
            &Credential {
                username: issue.username.clone(),
                token: token.clone(),
            },
        ),
    };
    let wrote = current.as_ref().is_none_or(|s| !wanted.is_met_by(s));
    if wrote {
        let mut value = serde_json::to_value(wanted.secret()).expect("a Secret serializes");
        value["apiVersion"] = "v1".into();
        value["kind"] = "Secret".into();
        api.patch(
            &issue.secret_name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(value),
        )
        .await
        .at(Step::Apply)?;
    }
    Ok(Applied::Issued { token, wrote })
}

/// Delete the Secret if this binding wrote it. A fresh read: the binding acts on its own
/// Secret as it is now.
pub async fn delete_secret(ctx: &Ctx, obj: &AccessBinding) -> Result<bool, Error> {
    let api = secrets(ctx, obj);
    let name = obj.secret_name();
    let Some(s) = api.get_opt(name).await.at(Step::Observe)? else {
        return Ok(false);
    };
    if !owned_by(&s, &obj.uid().unwrap_or_default()) {
        return Ok(false);
    }
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e).at(Step::Apply),
    }
}

/// A new token and when it expires.
async fn mint(ctx: &Ctx, from: &Mint) -> Result<(String, Timestamp), CloudError> {
    let settings = &ctx.settings;
    match from {
        Mint::Gcp { service_account } => {
            let t = ctx
                .clouds
                .gcp
                .tokens
                .access_token(service_account.as_deref(), settings.gcp_token_lifetime)
                .await?;
            Ok((t.token, t.expires_at))
        }
        Mint::AwsIam {
            region,
            cache,
            resource,
            user_id,
        } => {
            let t = ctx
                .clouds
                .aws
                .tokens
                .iam_token(
                    region,
                    cache,
                    *resource,
                    user_id,
                    settings.aws_iam_token_lifetime,
                )
                .await?;
            let expires = Timestamp::try_from(t.expires_at).unwrap_or(Timestamp::MAX);
            Ok((t.token, expires))
        }
    }
}
