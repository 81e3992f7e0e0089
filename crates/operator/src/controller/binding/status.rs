//! Status: what a binding's pass reports from what was done — the conditions, the Secret it
//! wrote and its token's times, the events of a rotation, the token-expiry metric — and when to
//! look again (before the token is due).

use std::time::Duration;

use cache_operator_api::binding::AccessBinding;
use cache_operator_api::condition::{Summary, event, reason};
use cache_operator_cloud::CloudError;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::execute::Applied;
use super::plan::{Choice, Issue, Plan, Source};
use super::secret::Token;
use crate::controller::Ctx;
use crate::controller::ending::{CloudFailure, Ending, Next, Outcome};
use crate::controller::error::{Error, Step};
use crate::controller::status::{Announce, Draft, Drafted};

/// A binding's pass and the status it drafts.
pub type Pass<'a> = Draft<'a, AccessBinding>;

/// A binding's Ready message changes with every token (its expiry): see [`Announce`].
impl Drafted for AccessBinding {
    type Phase = ();
    const ANNOUNCE: Announce = Announce::ReadyStatusOrReasonOrWarning;
}

/// Write the status of a pass over `obj` that did what `applied` says of `plan`, and end it.
pub async fn conclude(
    obj: &AccessBinding,
    ctx: &Ctx,
    plan: Plan,
    applied: Applied,
) -> Result<Action, Error> {
    let pass = &mut Pass::new(obj, ctx);
    let ending = match (plan, applied) {
        (Plan::Stop(stop), Applied::Withdrawn { deleted }) => {
            let secret = pass.obj.secret_name();
            let summary = match stop.summary {
                Summary::Stalled { reason, message } => {
                    let gone = if deleted {
                        format!("{message}; Secret {secret} deleted")
                    } else {
                        format!("{message}; no Secret is written")
                    };
                    Summary::stalled(&reason, gone)
                }
                other => other,
            };
            pass.st.token_expires_at = None;
            pass.st.refresh_at = None;
            set_token_expiry(pass, None);
            report(summary, stop.next)
        }
        (Plan::Stop(stop), _) => report(stop.summary, stop.next),
        (Plan::Issue(issue), Applied::Foreign) => report(
            Summary::stalled(
                reason::ALREADY_EXISTS,
                format!(
                    "Secret {} exists and was not written for this binding; choose another spec.secretName or remove that Secret",
                    issue.secret_name
                ),
            ),
            Next::Resync,
        ),
        (Plan::Issue(issue), Applied::MintFailed(e)) => {
            let still_valid = match &issue.credential {
                Choice::Mint { still_valid, .. } => still_valid.as_ref(),
                Choice::Known(_) => None,
            };
            let summary = refresh_failed(&e, still_valid, &issue.secret_name);
            Ending::Retry {
                report: Some(Outcome::new((), summary, Next::AwaitChange)),
                error: Error::Cloud {
                    step: Step::Apply,
                    source: e,
                },
            }
        }
        (Plan::Issue(issue), Applied::Issued { token, .. }) => issued(pass, &issue, token).await,
        // Not a pairing `execute` makes; nothing was done.
        (Plan::Issue(_), Applied::Nothing | Applied::Withdrawn { .. }) => Ending::Quiet(Next::Now),
    };
    pass.end(ending).await
}

fn report(summary: Summary, next: Next) -> Ending {
    Ending::Report(Outcome::new((), summary, next))
}

fn set_token_expiry(pass: &Pass<'_>, expires: Option<Timestamp>) {
    pass.ctx.metrics.set_token_expiry(
        &pass.obj.namespace().unwrap_or_default(),
        &pass.obj.name_any(),
        expires,
    );
}

/// The Secret holds `token`: the status, the rotation's event, the next look before it is due.
async fn issued(pass: &mut Pass<'_>, issue: &Issue, token: Token) -> Ending {
    let now = Timestamp::now();
    let secret = &issue.secret_name;
    let rotated = issue
        .previous
        .as_ref()
        .is_none_or(|p| p.password != token.password);
    if rotated && !token.password.is_empty() {
        pass.st.last_rotation_time = Some(Time(now));
    }
    let replaced = rotated && issue.previous.is_some();
    match &issue.source {
        Source::AwsPassword { .. } if replaced => {
            let note = format!(
                "Secret {secret} now holds the new password of user {}",
                issue.username
            );
            pass.note(EventType::Normal, event::PASSWORD_ROTATED, "Rotate", note)
                .await;
        }
        Source::AwsAuthToken { .. } if replaced => {
            let note = format!("Secret {secret} now holds the new AUTH token");
            pass.note(EventType::Normal, event::AUTH_TOKEN_ROTATED, "Rotate", note)
                .await;
        }
        _ => {}
    }
    pass.st.secret_name = Some(secret.clone());
    pass.st.username = Some(issue.username.clone());
    pass.st.token_expires_at = token.expires_at.map(Time);
    pass.st.refresh_at = token.refresh_at.map(Time);
    set_token_expiry(pass, token.expires_at);
    let message = issued_message(&issue.source, secret, &issue.username, &token);
    let next = next_look(&issue.source, token.refresh_at, now, pass.ctx.resync());
    report(
        Summary::ready(reason::CREDENTIALS_ISSUED, message),
        Next::After(next),
    )
}

/// Ready's message once the Secret is written.
pub fn issued_message(source: &Source, secret: &str, username: &str, token: &Token) -> String {
    match (source, token.expires_at) {
        (Source::None, _) => format!(
            "Secret {secret} holds the connection details; the cluster takes no credentials"
        ),
        (Source::AwsPassword { .. }, _) => {
            format!("Secret {secret} holds the password of user {username}")
        }
        (Source::AwsAuthToken { namespace, cluster }, _) => {
            format!("Secret {secret} holds the AUTH token of RedisCluster {namespace}/{cluster}")
        }
        (_, Some(t)) => format!(
            "Secret {secret} holds a token for {} valid until {}",
            match source {
                Source::GcpToken {
                    service_account: Some(sa),
                } => sa.clone(),
                Source::GcpToken {
                    service_account: None,
                } => "the operator's identity".into(),
                _ => username.to_owned(),
            },
            Timestamp::from_second(t.as_second()).unwrap_or(t)
        ),
        (_, None) => format!("Secret {secret} is written"),
    }
}

/// When to look again: at a token's refresh time (not sooner than 200 ms), else at the
/// resync.
pub fn next_look(
    source: &Source,
    refresh_at: Option<Timestamp>,
    now: Timestamp,
    resync: Duration,
) -> Duration {
    match (source.is_token(), refresh_at) {
        (true, Some(at)) => {
            let until = Duration::try_from(at.duration_since(now)).unwrap_or_default();
            until.clamp(Duration::from_millis(200), resync)
        }
        _ => resync,
    }
}

/// Minting failed: while the old token is valid the binding stays Ready and says it is
/// retrying; once it expired, Ready turns False. Retried with backoff either way.
pub fn refresh_failed(e: &CloudError, still_valid: Option<&Token>, secret: &str) -> Summary {
    match still_valid.and_then(|t| t.expires_at) {
        Some(expires) => Summary::ready_retrying(
            reason::CREDENTIALS_ISSUED,
            format!(
                "Secret {secret} holds a token valid until {}; refreshing it failed and is being retried",
                Timestamp::from_second(expires.as_second()).unwrap_or(expires)
            ),
            reason::REFRESH_FAILED,
            format!("could not mint a new token: {e}"),
        ),
        None if CloudFailure::of(e) == CloudFailure::Denied => Summary::retrying(
            reason::PERMISSION_DENIED,
            format!("the operator's cloud identity may not mint this token: {e}"),
        ),
        None => Summary::retrying(
            reason::REFRESH_FAILED,
            format!("could not mint a token: {e}; retrying with backoff"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use cache_operator_cloud::ErrorClass;
    use cache_operator_testkit::at;

    use super::*;

    fn valid() -> Token {
        Token {
            password: "token".into(),
            expires_at: Some(at(3600)),
            refresh_at: Some(at(2400)),
        }
    }

    #[test]
    fn failed_mints_by_class_and_by_what_the_secret_still_holds() {
        let denied = CloudError::new(ErrorClass::PermissionDenied, "403", "no", "iam");
        let down = CloudError::new(ErrorClass::Unavailable, "503", "down", "iam");
        // (case, error, a token still valid) → (Ready, reason said)
        #[rustfmt::skip]
        let table = [
            ("down, a token still valid", &down, Some(valid()), true, reason::REFRESH_FAILED),
            ("denied, a token still valid", &denied, Some(valid()), true, reason::REFRESH_FAILED),
            ("denied, none valid", &denied, None, false, reason::PERMISSION_DENIED),
            ("down, none valid", &down, None, false, reason::REFRESH_FAILED),
        ];
        for (case, e, still, ready, said) in table {
            let s = refresh_failed(e, still.as_ref(), "s");
            assert_eq!((s.is_ready(), s.said().0), (ready, said), "{case}");
            assert!(s.is_warning(), "{case}");
        }
    }

    #[test]
    fn tokens_are_looked_at_again_when_due_and_the_rest_at_resync() {
        let resync = Duration::from_secs(300);
        let token = Source::AwsIam {
            region: "us-east-1".into(),
            cache: "rg".into(),
            resource: cache_operator_cloud::aws::TokenResource::ReplicationGroup,
            user_id: "u".into(),
        };
        assert_eq!(
            next_look(&token, Some(at(60)), at(0), resync),
            Duration::from_secs(60)
        );
        assert_eq!(
            next_look(&token, Some(at(0)), at(10), resync),
            Duration::from_millis(200)
        );
        assert_eq!(next_look(&token, Some(at(9999)), at(0), resync), resync);
        let pw = Source::AwsPassword {
            user_id: "u".into(),
        };
        assert_eq!(next_look(&pw, Some(at(60)), at(0), resync), resync);
        let t = Token {
            password: "p".into(),
            ..Token::default()
        };
        assert_eq!(
            issued_message(&pw, "s", "app", &t),
            "Secret s holds the password of user app"
        );
        assert!(issued_message(&Source::None, "s", "default", &t).contains("no credentials"));
        let minted = issued_message(&token, "s", "app", &valid());
        assert_eq!(
            minted,
            "Secret s holds a token for app valid until 2023-11-14T23:13:20Z"
        );
    }
}
