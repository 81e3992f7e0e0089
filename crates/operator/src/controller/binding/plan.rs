//! Plan: which credential a binding's Secret holds and when to look again. Pure: the
//! fingerprint of the identity, reuse or mint, the conditions of each ending.

use std::time::Duration;

use cache_operator_api::condition::{self, Summary, reason};
use cache_operator_cloud::{CloudError, ErrorClass};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::events::EventType;

use super::secret::{Credential, Existing, Token};
use crate::controller::status::Note;

/// Where a binding's credential comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The cluster takes no credentials.
    None,
    /// A gcp access token for this service account, or the operator's own identity.
    GcpToken { service_account: Option<String> },
    /// An aws IAM auth token for the user on the replication group.
    AwsIam {
        region: String,
        replication_group: String,
        user_id: String,
    },
    /// The current password of an aws password user, from its UserGroup.
    AwsPassword { user_id: String },
    /// The AUTH token of an aws `authMode: token` cluster, from the cluster's token Secret.
    AwsAuthToken { namespace: String, cluster: String },
}

impl Source {
    /// What the Secret's credential annotation records (never the credential).
    pub fn fingerprint(&self, cluster: &str) -> String {
        match self {
            Source::None => format!("none {cluster}"),
            Source::GcpToken { service_account } => format!(
                "gcp-token {} {cluster}",
                service_account.as_deref().unwrap_or("operator")
            ),
            Source::AwsIam {
                region,
                replication_group,
                user_id,
            } => format!("aws-iam {region}/{replication_group}/{user_id}"),
            Source::AwsPassword { user_id } => format!("aws-password {user_id} {cluster}"),
            Source::AwsAuthToken { .. } => format!("aws-auth-token {cluster}"),
        }
    }

    pub fn is_token(&self) -> bool {
        matches!(self, Source::GcpToken { .. } | Source::AwsIam { .. })
    }
}

/// The token in the existing Secret, if it is for this identity and still valid.
pub fn still_valid(
    previous: Option<&Existing>,
    fingerprint: &str,
    now: Timestamp,
) -> Option<Token> {
    let p = previous.filter(|p| p.credential.as_deref() == Some(fingerprint))?;
    let valid = !p.token.password.is_empty() && p.token.expires_at.is_some_and(|t| t > now);
    valid.then(|| p.token.clone())
}

/// The credential to keep instead of minting: a valid token not yet due for refresh.
pub fn reusable(still_valid: Option<&Token>, username: &str, now: Timestamp) -> Option<Credential> {
    let token = still_valid.filter(|t| t.refresh_at.is_some_and(|r| r > now))?;
    Some(Credential {
        username: username.to_owned(),
        token: token.clone(),
    })
}

/// Ready's message once the Secret is written.
pub fn issued_message(source: &Source, secret: &str, username: &str, cred: &Credential) -> String {
    match (source, cred.token.expires_at) {
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

/// When to look again: at the token's refresh time, else at the resync.
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
/// retrying; once it expired, Ready turns False.
pub fn refresh_failed(e: &CloudError, still_valid: Option<&Token>, secret: &str) -> Conditions {
    match still_valid.and_then(|t| t.expires_at) {
        Some(expires) => Conditions::RefreshFailing {
            ready_message: format!(
                "Secret {secret} holds a token valid until {}; refreshing it failed and is being retried",
                Timestamp::from_second(expires.as_second()).unwrap_or(expires)
            ),
            error: format!("could not mint a new token: {e}"),
        },
        None if matches!(
            e.class,
            ErrorClass::PermissionDenied | ErrorClass::Unauthenticated
        ) =>
        {
            Conditions::Summary(Summary::retrying(
                reason::PERMISSION_DENIED,
                format!("the operator's cloud identity may not mint this token: {e}"),
            ))
        }
        None => Conditions::Summary(Summary::retrying(
            reason::REFRESH_FAILED,
            format!("could not mint a token: {e}; retrying with backoff"),
        )),
    }
}

/// The conditions a pass ends with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conditions {
    Summary(Summary),
    /// Ready=True (the old token still works), Reconciling=True reason RefreshFailed.
    RefreshFailing {
        ready_message: String,
        error: String,
    },
}

impl Conditions {
    /// Write the conditions; returns the event to publish.
    pub fn apply(
        &self,
        conditions: &mut Vec<Condition>,
        generation: Option<i64>,
        now: Timestamp,
    ) -> Note {
        match self {
            Conditions::Summary(s) => {
                s.apply(conditions, generation, now);
                Note::of(s)
            }
            Conditions::RefreshFailing {
                ready_message,
                error,
            } => {
                for (type_, status, reason, message) in [
                    (
                        condition::READY,
                        condition::TRUE,
                        reason::CREDENTIALS_ISSUED,
                        ready_message.as_str(),
                    ),
                    (
                        condition::RECONCILING,
                        condition::TRUE,
                        reason::REFRESH_FAILED,
                        error.as_str(),
                    ),
                    (
                        condition::STALLED,
                        condition::FALSE,
                        reason::REFRESH_FAILED,
                        "",
                    ),
                ] {
                    condition::set(
                        conditions,
                        condition::new(type_, status, reason, message, generation),
                        now,
                    );
                }
                Note {
                    type_: EventType::Warning,
                    reason: reason::REFRESH_FAILED.into(),
                    message: error.clone(),
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
