//! Observe the binding's own Secret, mint (or reuse, or read) the credential, write the
//! Secret, record the status. The only step of the binding that writes.

use cache_operator_api::binding::AccessBinding;
use cache_operator_api::condition::{Summary, event, reason};
use cache_operator_api::model::DesiredBinding;
use cache_operator_cloud::{CloudError, ErrorClass};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};

use super::dereference::Resolved;
use super::plan::{self, Conditions, Source};
use super::secret::{self, CREDENTIAL_ANNOTATION, Credential, Existing, Token, Wanted};
use super::status::Pass;
use crate::controller::cluster::token;
use crate::controller::error::{At, Error, Halt, Step};
use crate::controller::user_group::passwords;
use crate::controller::{Ctx, MANAGER};

fn secrets(ctx: &Ctx, obj: &AccessBinding) -> Api<Secret> {
    Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default())
}

/// Delete the Secret if this binding wrote it. A fresh read: the binding acts on its own
/// Secret as it is now.
pub async fn delete_secret(ctx: &Ctx, obj: &AccessBinding) -> Result<bool, Error> {
    let api = secrets(ctx, obj);
    let name = obj.secret_name();
    let Some(s) = api.get_opt(name).await.at(Step::Observe)? else {
        return Ok(false);
    };
    if !secret::owned_by(&s, &obj.uid().unwrap_or_default()) {
        return Ok(false);
    }
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e).at(Step::Apply),
    }
}

/// Mint (or reuse, or read) the credential, write the Secret, record the status.
pub async fn issue(
    pass: &mut Pass<'_>,
    desired: &DesiredBinding,
    r: Resolved,
) -> Result<Action, Error> {
    let now = Timestamp::now();
    let secret_name = desired.secret_name.clone();
    let uid = pass.obj.uid().unwrap_or_default();
    // Our own Secret, from the cache of the operator's Secrets: a Secret changed or deleted
    // behind our back reaches that cache and triggers this binding again, so the pass that
    // follows acts on it. Absent there, a fresh read before a first write tells a Secret of
    // that name written by someone else (not in that cache) from none; while the references
    // are not settled, nothing would be written, so nothing is read.
    let existing = match pass.ctx.stores.secret(&pass.namespace(), &secret_name) {
        Some(cached) => Some(Secret::clone(&cached)),
        None if r.settled.is_err() => None,
        None => secrets(pass.ctx, pass.obj)
            .get_opt(&secret_name)
            .await
            .at(Step::Observe)?,
    };
    if let Some(s) = &existing
        && !secret::owned_by(s, &uid)
    {
        let msg = format!(
            "Secret {secret_name} exists and was not written for this binding; choose another spec.secretName or remove that Secret"
        );
        let then = Action::requeue(pass.ctx.resync());
        return pass
            .summary(Summary::stalled(reason::ALREADY_EXISTS, msg), then)
            .await;
    }
    let fingerprint = r.source.fingerprint(&r.cluster_name);
    let previous = existing.as_ref().map(Existing::read);
    // A first Secret waits until everything is Ready; an existing one keeps being refreshed.
    if existing.is_none()
        && let Err(why) = &r.settled
    {
        return pass
            .halt(Halt::Waiting(reason::REFERENCE_NOT_READY, why.clone()))
            .await;
    }
    let still_valid = plan::still_valid(previous.as_ref(), &fingerprint, now);

    let with = |token| Credential {
        username: r.username.clone(),
        token,
    };
    let credential = match &r.source {
        Source::None => with(Token::default()),
        Source::AwsPassword { user_id } => {
            let issued = r
                .group
                .as_ref()
                .and_then(|(ns, name)| passwords::issued(&pass.ctx.stores, ns, name, user_id));
            match issued {
                Some(p) => with(Token {
                    password: p.secret,
                    expires_at: None,
                    refresh_at: p.rotate_at,
                }),
                None => {
                    let msg =
                        format!("waiting for the operator to set the password of user {user_id}");
                    return pass
                        .halt(Halt::Waiting(reason::REFERENCE_NOT_READY, msg))
                        .await;
                }
            }
        }
        Source::AwsAuthToken { namespace, cluster } => {
            match token::issued(&pass.ctx.stores, namespace, cluster) {
                Some(t) => with(Token {
                    password: t.secret,
                    expires_at: None,
                    refresh_at: t.rotate_at,
                }),
                None => {
                    let msg = format!(
                        "waiting for the operator to set the AUTH token of RedisCluster {namespace}/{cluster}"
                    );
                    return pass
                        .halt(Halt::Waiting(reason::REFERENCE_NOT_READY, msg))
                        .await;
                }
            }
        }
        token => match plan::reusable(still_valid.as_ref(), &r.username, now) {
            Some(c) => c,
            None => match mint(pass.ctx, token).await {
                Ok((password, expires)) => with(Token {
                    password,
                    expires_at: Some(expires),
                    refresh_at: Some(secret::refresh_at(now, expires, desired.refresh_before)),
                }),
                Err(e) => {
                    let conditions =
                        plan::refresh_failed(&e, still_valid.as_ref(), pass.obj.secret_name());
                    pass.finish(conditions, Action::await_change()).await?;
                    return Err(e).at(Step::Apply);
                }
            },
        },
    };

    let mut annotations = desired.annotations.clone();
    annotations.insert(CREDENTIAL_ANNOTATION.into(), fingerprint);
    let wanted = Wanted {
        name: secret_name.clone(),
        namespace: pass.namespace(),
        owner: pass
            .obj
            .controller_owner_ref(&())
            .expect("a stored object has a name and uid"),
        labels: desired.labels.clone(),
        annotations,
        data: secret::data(&r.connection, &credential),
    };
    let rotated = previous
        .as_ref()
        .is_none_or(|p| p.token.password != credential.token.password);
    if existing.as_ref().is_none_or(|s| !wanted.is_met_by(s)) {
        let mut value = serde_json::to_value(wanted.secret()).expect("a Secret serializes");
        value["apiVersion"] = "v1".into();
        value["kind"] = "Secret".into();
        secrets(pass.ctx, pass.obj)
            .patch(
                &secret_name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(value),
            )
            .await
            .at(Step::Apply)?;
    }
    if rotated && !credential.token.password.is_empty() {
        pass.st.last_rotation_time = Some(Time(now));
    }
    if matches!(r.source, Source::AwsPassword { .. }) && rotated && previous.is_some() {
        let note = format!(
            "Secret {secret_name} now holds the new password of user {}",
            r.username
        );
        pass.note(EventType::Normal, event::PASSWORD_ROTATED, "Rotate", note)
            .await;
    }
    if matches!(r.source, Source::AwsAuthToken { .. }) && rotated && previous.is_some() {
        let note = format!("Secret {secret_name} now holds the new AUTH token");
        pass.note(EventType::Normal, event::AUTH_TOKEN_ROTATED, "Rotate", note)
            .await;
    }
    pass.st.secret_name = Some(secret_name.clone());
    pass.st.username = Some(r.username.clone());
    let Token {
        expires_at,
        refresh_at,
        ..
    } = credential.token;
    pass.st.token_expires_at = expires_at.map(Time);
    pass.st.refresh_at = refresh_at.map(Time);
    pass.ctx
        .metrics
        .set_token_expiry(&pass.namespace(), &pass.obj.name_any(), expires_at);
    let msg = plan::issued_message(&r.source, &secret_name, &r.username, &credential);
    let then = Action::requeue(plan::next_look(
        &r.source,
        refresh_at,
        Timestamp::now(),
        pass.ctx.resync(),
    ));
    pass.finish(
        Conditions::Summary(Summary::ready(reason::CREDENTIALS_ISSUED, msg)),
        then,
    )
    .await
}

async fn mint(ctx: &Ctx, source: &Source) -> Result<(String, Timestamp), CloudError> {
    let settings = &ctx.settings;
    match source {
        Source::GcpToken { service_account } => {
            let t = ctx
                .clouds
                .gcp
                .tokens
                .access_token(service_account.as_deref(), settings.gcp_token_lifetime)
                .await?;
            Ok((t.token, t.expires_at))
        }
        Source::AwsIam {
            region,
            replication_group,
            user_id,
        } => {
            let t = ctx
                .clouds
                .aws
                .tokens
                .iam_token(
                    region,
                    replication_group,
                    user_id,
                    settings.aws_iam_token_lifetime,
                )
                .await?;
            let expires = Timestamp::try_from(t.expires_at).unwrap_or(Timestamp::MAX);
            Ok((t.token, expires))
        }
        Source::None | Source::AwsPassword { .. } | Source::AwsAuthToken { .. } => {
            Err(CloudError::new(
                ErrorClass::Other,
                "internal",
                "no token to mint for this binding",
                "mint",
            ))
        }
    }
}
