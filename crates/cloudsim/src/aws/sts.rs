//! AWS STS (Query API, `Version=2011-06-15`): `AssumeRoleWithWebIdentity` (unsigned), what the AWS
//! credential chain calls for web identity (EKS IRSA), so a test can make credentials fail the
//! way STS does — transiently through the fault injection, or for good with a token STS refuses;
//! and `GetCallerIdentity` (signed for `sts`), which controllers such as ACK's ask at start-up for
//! their account.

use jiff::Timestamp;

use super::error::AwsError;
use super::params::Params;
use super::xml::El;
use crate::util::{random_hex, random_secret, rfc3339_millis};

pub const VERSION: &str = "2011-06-15";
pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// The operations served, as the counters and the fault injection name them.
pub const ASSUME_ROLE_WITH_WEB_IDENTITY: &str = "AssumeRoleWithWebIdentity";
pub const GET_CALLER_IDENTITY: &str = "GetCallerIdentity";

/// Whether STS has this action (the rest answer `InvalidAction`).
pub fn known(action: &str) -> bool {
    matches!(action, ASSUME_ROLE_WITH_WEB_IDENTITY | GET_CALLER_IDENTITY)
}

/// STS's answer to an action it does not have.
pub fn invalid_action(action: &str) -> AwsError {
    AwsError::new(
        "InvalidAction",
        400,
        format!("Could not find operation {action} for version {VERSION}"),
    )
}

/// `[\w+=,.@-]*`, 2–64 characters (the model's `roleSessionNameType`).
fn session_name(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

/// `arn:aws:iam::ACCOUNT:role/NAME`.
fn role(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, role) = rest.split_once(":role/")?;
    let name = role.rsplit('/').next()?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty())
        .then_some((account, name))
}

/// The `sub` of a JWT, or `None` when the token is not one.
fn subject(token: &str) -> Option<String> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (Some(_), Some(claims), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if sig.is_empty() {
        return None;
    }
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&claims).ok()?;
    Some(claims.get("sub")?.as_str()?.to_owned())
}

/// Temporary credentials, remembered so that requests signed with them can be verified.
#[derive(Clone, Debug)]
pub struct Session {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: Timestamp,
    /// Who the credentials act as: the assumed role's session.
    pub identity: Identity,
}

/// The principal a key pair belongs to, as GetCallerIdentity reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `AIDA…` for an IAM user, `AROA…:session` for an assumed role.
    pub user_id: String,
    pub account: String,
    pub arn: String,
}

impl Identity {
    /// The IAM user behind one of the simulator's configured long-term keys: named after its
    /// access key id (a valid IAM user name), with a stable unique id derived from it.
    pub fn user(account: &str, access_key_id: &str) -> Self {
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_key_id.as_bytes());
        let unique = hex::encode(&digest.as_ref()[..9]).to_ascii_uppercase();
        Identity {
            user_id: format!("AIDA{}", &unique[..17]),
            account: account.to_owned(),
            arn: format!("arn:aws:iam::{account}:user/{access_key_id}"),
        }
    }
}

/// `GetCallerIdentity`: no parameters, the identity of the signing key.
pub fn get_caller_identity(identity: &Identity) -> Vec<El> {
    vec![
        El::text("UserId", &identity.user_id),
        El::text("Account", &identity.account),
        El::text("Arn", &identity.arn),
    ]
}

pub fn assume_role_with_web_identity(
    p: &Params,
    now: Timestamp,
) -> Result<(Vec<El>, Session), AwsError> {
    let role_arn = p.required("RoleArn")?;
    let session = p.required("RoleSessionName")?;
    let token = p.required("WebIdentityToken")?;
    let Some((account, role_name)) = role(role_arn) else {
        return Err(AwsError::new(
            "ValidationError",
            400,
            format!("{role_arn} is invalid"),
        ));
    };
    if !session_name(session) {
        return Err(AwsError::new(
            "ValidationError",
            400,
            "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint",
        ));
    }
    let duration = p.int("DurationSeconds")?.unwrap_or(3600);
    if !(900..=43200).contains(&duration) {
        return Err(AwsError::new(
            "ValidationError",
            400,
            "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint",
        ));
    }
    let Some(sub) = subject(token) else {
        return Err(AwsError::new(
            "InvalidIdentityToken",
            400,
            "The ID Token provided is not a valid JWT.",
        ));
    };
    let expiration = now + std::time::Duration::from_secs(duration.unsigned_abs());
    let role_id = format!("AROA{}", random_hex(17).to_ascii_uppercase());
    let assumed_arn = format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}");
    let issued = Session {
        access_key_id: format!("ASIA{}", random_hex(16).to_ascii_uppercase()),
        secret_access_key: random_secret(30),
        session_token: random_secret(96),
        expiration,
        identity: Identity {
            user_id: format!("{role_id}:{session}"),
            account: account.to_owned(),
            arn: assumed_arn.clone(),
        },
    };
    let els = vec![
        El::text("SubjectFromWebIdentityToken", sub),
        El::text("Audience", "sts.amazonaws.com"),
        El::node(
            "AssumedRoleUser",
            vec![
                El::text("Arn", assumed_arn),
                El::text("AssumedRoleId", format!("{role_id}:{session}")),
            ],
        ),
        El::node(
            "Credentials",
            vec![
                El::text("AccessKeyId", issued.access_key_id.clone()),
                El::text("SecretAccessKey", issued.secret_access_key.clone()),
                El::text("SessionToken", issued.session_token.clone()),
                El::text("Expiration", rfc3339_millis(expiration)),
            ],
        ),
        El::text("Provider", "cloudsim"),
    ];
    Ok((els, issued))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_have_stable_ids_and_arns() {
        let a = Identity::user("123456789012", "AKIDCLOUDSIM");
        assert_eq!(a, Identity::user("123456789012", "AKIDCLOUDSIM"));
        assert_eq!(a.arn, "arn:aws:iam::123456789012:user/AKIDCLOUDSIM");
        assert!(a.user_id.starts_with("AIDA") && a.user_id.len() == 21);
        assert_ne!(
            a.user_id,
            Identity::user("123456789012", "AKIDOTHER").user_id
        );
    }

    #[test]
    fn roles_sessions_and_tokens_are_checked() {
        assert_eq!(
            role("arn:aws:iam::123456789012:role/ops/cache-operator"),
            Some(("123456789012", "cache-operator"))
        );
        assert_eq!(role("arn:aws:iam::1234:role/x"), None);
        assert!(session_name("cache-operator@pod"));
        assert!(!session_name("x"));
        assert!(!session_name("has space"));
        assert_eq!(
            subject("a.eyJzdWIiOiJzeXN0ZW06c2EifQ.sig").as_deref(),
            Some("system:sa")
        );
        assert_eq!(subject("not-a-jwt"), None);
    }
}
