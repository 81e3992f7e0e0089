//! IAM Credentials (`generateAccessToken`) and Cloud Resource Manager project IAM policies.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use async_trait::async_trait;

use super::{GcpAuth, GoogleRest};
use crate::error::{CloudError, ErrorClass, Result};

/// Access tokens clients present to a gcp cluster with IAM authentication.
#[async_trait]
pub trait AccessTokens: Send + Sync {
    /// A token of `service_account` (impersonated by the operator) valid for `lifetime`, or of
    /// the operator's own identity when none is named (its lifetime is the identity's).
    async fn access_token(
        &self,
        service_account: Option<&str>,
        lifetime: std::time::Duration,
    ) -> Result<AccessToken>;
}

/// [`AccessTokens`] from IAM Credentials (`generateAccessToken`) and the operator's own
/// credentials.
#[derive(Clone)]
pub struct GoogleTokens {
    pub iam: IamCredentials,
    pub own: GcpAuth,
}

#[async_trait]
impl AccessTokens for GoogleTokens {
    async fn access_token(
        &self,
        service_account: Option<&str>,
        lifetime: std::time::Duration,
    ) -> Result<AccessToken> {
        if let Some(sa) = service_account {
            return self.iam.generate_access_token(sa, lifetime.as_secs()).await;
        }
        match self.own.fresh_token().await? {
            Some((token, expires_at)) => Ok(AccessToken { token, expires_at }),
            None => Err(CloudError::new(
                ErrorClass::Unauthenticated,
                "credentials",
                "the operator runs without a Google identity (--gcp-auth none); name a service account in spec.user",
                "gcp token",
            )),
        }
    }
}

/// An access token minted for a service account. Its `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_at: jiff::Timestamp,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateAccessTokenResponse {
    access_token: String,
    expire_time: String,
}

#[derive(Clone)]
pub struct IamCredentials {
    pub(crate) rest: GoogleRest,
    pub(crate) base: String,
}

impl IamCredentials {
    pub fn new(rest: GoogleRest, base: &str) -> Self {
        IamCredentials {
            rest,
            base: super::with_slash(base),
        }
    }

    /// A token for `service_account` (the operator's identity needs
    /// `roles/iam.serviceAccountTokenCreator` on it).
    pub async fn generate_access_token(
        &self,
        service_account: &str,
        lifetime_secs: u64,
    ) -> Result<AccessToken> {
        let url = format!(
            "{}v1/projects/-/serviceAccounts/{service_account}:generateAccessToken",
            self.base
        );
        let r: GenerateAccessTokenResponse = self
            .rest
            .call("iamcredentials", "generateAccessToken", Method::POST, &url, |r| {
                r.json(&json!({"scope": [super::CLOUD_PLATFORM_SCOPE], "lifetime": format!("{lifetime_secs}s")}))
            })
            .await?;
        let expires_at = r.expire_time.parse().map_err(|e| {
            CloudError::new(
                ErrorClass::Other,
                "decode",
                format!("expireTime {:?}: {e}", r.expire_time),
                "iamcredentials generateAccessToken",
            )
        })?;
        Ok(AccessToken {
            token: r.access_token,
            expires_at,
        })
    }
}

/// A project IAM policy. Fields this operator does not know are kept as they came, so a
/// read-modify-write never loses anything.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<Binding>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    pub role: String,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Expr>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Expr {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub expression: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Clone)]
pub struct ResourceManager {
    pub(crate) rest: GoogleRest,
    pub(crate) base: String,
}

impl ResourceManager {
    pub fn new(rest: GoogleRest, base: &str) -> Self {
        ResourceManager {
            rest,
            base: super::with_slash(base),
        }
    }

    /// The project's policy, version 3 (conditions visible).
    pub async fn get_iam_policy(&self, project: &str) -> Result<Policy> {
        let url = format!("{}v1/projects/{project}:getIamPolicy", self.base);
        self.rest
            .call(
                "cloudresourcemanager",
                "projects.getIamPolicy",
                Method::POST,
                &url,
                |r| r.json(&json!({"options": {"requestedPolicyVersion": 3}})),
            )
            .await
    }

    /// Write the policy; a stale `etag` fails with [`crate::error::ErrorClass::Conflict`].
    pub async fn set_iam_policy(&self, project: &str, policy: &Policy) -> Result<Policy> {
        let url = format!("{}v1/projects/{project}:setIamPolicy", self.base);
        self.rest
            .call(
                "cloudresourcemanager",
                "projects.setIamPolicy",
                Method::POST,
                &url,
                |r| r.json(&json!({"policy": policy})),
            )
            .await
    }
}
