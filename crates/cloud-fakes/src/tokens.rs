//! Token minting: each token is new (`iam-token-1`, `gcp-token-2`, …) and lives as long as asked.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use cache_operator_cloud::CloudError;
use cache_operator_cloud::aws::token::{IamToken, MAX_LIFETIME};
use cache_operator_cloud::aws::{IamTokens, TokenResource};
use cache_operator_cloud::error::Result;
use cache_operator_cloud::gcp::AccessTokens;
use cache_operator_cloud::gcp::iam::AccessToken;

use crate::Script;

/// ElastiCache IAM auth tokens. Calls are recorded as `iam_token user@replication-group` (or
/// `user@serverless:cache`).
#[derive(Default)]
pub struct FakeIamTokens {
    script: Script,
    minted: AtomicU32,
}

impl FakeIamTokens {
    /// See [`Script::fail`]: `iam_token`, or `iam_token SUBJECT` for one subject.
    pub fn fail(&self, call: &str, e: CloudError) {
        self.script.fail(call, e);
    }

    /// See [`Script::asked`].
    pub fn asked(&self) -> Vec<String> {
        self.script.asked()
    }
}

#[async_trait]
impl IamTokens for FakeIamTokens {
    async fn iam_token(
        &self,
        _region: &str,
        cache_name: &str,
        resource: TokenResource,
        user_id: &str,
        lifetime: Duration,
    ) -> Result<IamToken> {
        let kind = match resource {
            TokenResource::ReplicationGroup => "",
            TokenResource::ServerlessCache => "serverless:",
        };
        self.script
            .ask("iam_token", &format!("{user_id}@{kind}{cache_name}"))?;
        let n = self.minted.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(IamToken {
            token: format!("iam-token-{n}"),
            expires_at: SystemTime::now() + lifetime.min(MAX_LIFETIME),
        })
    }
}

/// gcp access tokens. Calls are recorded as `access_token SERVICE-ACCOUNT` (`operator` for the
/// operator's own identity).
#[derive(Default)]
pub struct FakeAccessTokens {
    script: Script,
    minted: AtomicU32,
}

impl FakeAccessTokens {
    /// See [`Script::fail`]: `access_token`, or `access_token SUBJECT` for one subject.
    pub fn fail(&self, call: &str, e: CloudError) {
        self.script.fail(call, e);
    }

    /// See [`Script::asked`].
    pub fn asked(&self) -> Vec<String> {
        self.script.asked()
    }
}

#[async_trait]
impl AccessTokens for FakeAccessTokens {
    async fn access_token(
        &self,
        service_account: Option<&str>,
        lifetime: Duration,
    ) -> Result<AccessToken> {
        self.script
            .ask("access_token", service_account.unwrap_or("operator"))?;
        let n = self.minted.fetch_add(1, Ordering::Relaxed) + 1;
        let lifetime = jiff::SignedDuration::try_from(lifetime).unwrap_or_default();
        Ok(AccessToken {
            token: format!("gcp-token-{n}"),
            expires_at: jiff::Timestamp::now() + lifetime,
        })
    }
}
