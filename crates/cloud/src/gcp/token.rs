//! Access tokens of the operator's own Google identity, with failures classified from what the
//! token endpoint actually answered.
//!
//! `gcp_auth` reports every failed token request as the same `"token request failed"` (the
//! status is only logged), so a refused key and an overloaded endpoint look alike. For a
//! service-account key file — the source a test can point at a simulator — this module does the
//! OAuth2 jwt-bearer exchange itself, with `gcp_auth`'s signer, and keeps the status; for the
//! other sources it classifies what `gcp_auth` does tell.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;

use crate::error::{CloudError, ErrorClass, Result};

/// What a token fetch is called in errors and metrics.
pub const CALL: &str = "google token";

/// How long one token request may take: the metadata server and the token endpoint do not
/// answer under load sometimes, and nothing else bounds the wait.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The fields of a service-account key file this module needs.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    client_email: String,
    token_uri: String,
    #[serde(default)]
    private_key_id: Option<String>,
}

/// Tokens for a service-account key file, by the jwt-bearer grant at the file's `token_uri`.
pub struct KeyFileTokens {
    account: gcp_auth::CustomServiceAccount,
    email: String,
    token_uri: String,
    key_id: Option<String>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: i64,
}

#[derive(Deserialize, Default)]
struct OAuthError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl KeyFileTokens {
    /// Reads a key file (the JSON of `GOOGLE_APPLICATION_CREDENTIALS`); `None` when it is not a
    /// service-account key.
    pub fn from_json(json: &str) -> Result<Option<Self>> {
        let bad = |e: String| CloudError::new(ErrorClass::Unauthenticated, "credentials", e, CALL);
        let file: KeyFile = serde_json::from_str(json)
            .map_err(|e| bad(format!("the credentials file is not a key file: {e}")))?;
        if file.kind != "service_account" {
            return Ok(None);
        }
        let account = gcp_auth::CustomServiceAccount::from_json(json)
            .map_err(|e| bad(format!("the service-account key is unusable: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| bad(format!("no HTTP client: {e}")))?;
        Ok(Some(KeyFileTokens {
            account,
            email: file.client_email,
            token_uri: file.token_uri,
            key_id: file.private_key_id,
            http,
        }))
    }

    /// The same credentials with another bound on one token request.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self> {
        self.http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| {
                CloudError::new(
                    ErrorClass::Unavailable,
                    "transport",
                    format!("no HTTP client: {e}"),
                    CALL,
                )
            })?;
        Ok(self)
    }

    /// The signed assertion for the jwt-bearer grant.
    fn assertion(&self, scope: &str, now: Timestamp) -> Result<String> {
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = kid.clone().into();
        }
        let iat = now.as_second();
        let claims = json!({"iss": self.email, "scope": scope, "aud": self.token_uri,
                            "iat": iat, "exp": iat + 3600});
        let mut jwt = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.account.signer().sign(jwt.as_bytes()).map_err(|e| {
            CloudError::new(
                ErrorClass::Unauthenticated,
                "credentials",
                format!("could not sign with the service-account key: {e}"),
                CALL,
            )
        })?;
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(jwt)
    }

    /// A new token and its expiry.
    pub async fn fetch(&self, scope: &str) -> Result<(String, Timestamp)> {
        let now = Timestamp::now();
        let assertion = self.assertion(scope, now)?;
        let resp = self
            .http
            .post(&self.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| transport(&e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| transport(&e))?;
        if status.is_success() {
            let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
                CloudError::new(
                    ErrorClass::Unavailable,
                    "decode",
                    format!("the token endpoint's answer is not a token: {e}"),
                    CALL,
                )
            })?;
            let expires = now + Duration::from_secs(t.expires_in.max(0).unsigned_abs());
            return Ok((t.access_token, expires));
        }
        Err(refused(status.as_u16(), &body))
    }
}

fn transport(e: &reqwest::Error) -> CloudError {
    let what = if e.is_timeout() {
        "the token endpoint did not answer in time"
    } else {
        "could not reach the token endpoint"
    };
    CloudError::new(ErrorClass::Unavailable, "transport", what, CALL)
}

/// A token endpoint's error answer: 5xx and 429 are the endpoint's trouble and pass; a refused
/// grant or key (400/401/403 with an OAuth error) is a permission problem.
pub fn refused(status: u16, body: &[u8]) -> CloudError {
    let e: OAuthError = serde_json::from_slice(body).unwrap_or_default();
    let code = if e.error.is_empty() {
        status.to_string()
    } else {
        e.error
    };
    let message = if e.error_description.is_empty() {
        format!("the token endpoint answered {status}")
    } else {
        format!(
            "the token endpoint answered {status}: {}",
            e.error_description
        )
    };
    let class = match status {
        429 => ErrorClass::Throttled,
        500..=599 | 408 => ErrorClass::Unavailable,
        _ => ErrorClass::Unauthenticated,
    };
    CloudError::new(class, code, message, CALL)
}

/// Where a `gcp_auth` failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Looking for credentials (`gcp_auth::provider()`).
    Discover,
    /// Asking credentials that were found for a token.
    Fetch,
}

/// A `gcp_auth` failure, classified by its kind and where it happened (`gcp_auth` keeps no
/// status of a refused token request): a transport failure, an I/O timeout or refusal, and any
/// failure of a token source that was found (its answer was not a token) are retried with
/// backoff; anything else while looking for credentials (none found, an unreadable key) is a
/// permission problem.
pub fn gcp_auth_error(e: &gcp_auth::Error, stage: Stage) -> CloudError {
    use gcp_auth::Error;
    let class = match (e, stage) {
        (Error::Http(..), _) => ErrorClass::Unavailable,
        (Error::Io(_, io), _) if transient(io) => ErrorClass::Unavailable,
        (Error::Other(..) | Error::Str(_) | Error::Json(..), Stage::Fetch) => {
            ErrorClass::Unavailable
        }
        _ => ErrorClass::Unauthenticated,
    };
    CloudError::new(class, "credentials", e.to_string(), CALL)
}

/// An I/O failure that a later try may not meet.
fn transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::TimedOut
            | ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::Interrupted
            | ErrorKind::WouldBlock
    )
}

/// A token fetch that did not finish within [`FETCH_TIMEOUT`].
pub fn timed_out() -> CloudError {
    CloudError::new(
        ErrorClass::Unavailable,
        "transport",
        "fetching a token timed out",
        CALL,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_endpoint_answers_are_classified_by_status() {
        let e = refused(
            400,
            br#"{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}"#,
        );
        assert_eq!(e.class, ErrorClass::Unauthenticated);
        assert_eq!(e.code, "invalid_grant");
        assert!(e.message.contains("Invalid JWT Signature."));
        assert_eq!(refused(503, b"").class, ErrorClass::Unavailable);
        assert_eq!(refused(500, b"<html>").class, ErrorClass::Unavailable);
        assert_eq!(refused(429, b"{}").class, ErrorClass::Throttled);
        assert!(refused(503, b"").class.is_transient());
        assert!(!refused(401, b"").class.is_transient());
    }

    #[test]
    fn gcp_auth_failures_are_classified_by_kind_and_stage() {
        use gcp_auth::Error;
        // A token source that was found and did not give a token: retried.
        let failed = Error::Str("token request failed");
        assert_eq!(
            gcp_auth_error(&failed, Stage::Fetch).class,
            ErrorClass::Unavailable
        );
        let garbled = Error::Json(
            "failed to deserialize token from response",
            serde_json::from_str::<u8>("<html>").unwrap_err(),
        );
        assert_eq!(
            gcp_auth_error(&garbled, Stage::Fetch).class,
            ErrorClass::Unavailable
        );
        // Credentials that cannot be read: a permission problem, whatever the text says.
        let missing = Error::Io(
            "failed to open application credentials file",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(
            gcp_auth_error(&missing, Stage::Discover).class,
            ErrorClass::Unauthenticated
        );
        let unreadable = Error::Json(
            "failed to deserialize ApplicationCredentials",
            serde_json::from_str::<u8>("{").unwrap_err(),
        );
        assert_eq!(
            gcp_auth_error(&unreadable, Stage::Discover).class,
            ErrorClass::Unauthenticated
        );
        let none = Error::NoAuthMethod(
            Box::new(Error::Str("running `gcloud` command failed")),
            Box::new(Error::Str("token request failed")),
            Box::new(missing),
        );
        assert_eq!(
            gcp_auth_error(&none, Stage::Discover).class,
            ErrorClass::Unauthenticated
        );
        // An I/O timeout is one, wherever it happens.
        let slow = Error::Io(
            "failed to run `gcloud`",
            std::io::Error::from(std::io::ErrorKind::TimedOut),
        );
        assert_eq!(
            gcp_auth_error(&slow, Stage::Discover).class,
            ErrorClass::Unavailable
        );
        assert_eq!(timed_out().class, ErrorClass::Unavailable);
    }
}
