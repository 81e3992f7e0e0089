//! ElastiCache IAM authentication tokens: a SigV4-presigned `connect` request, valid for at
//! most 15 minutes, sent as the password of `AUTH <userId> <token>`.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;

use async_trait::async_trait;

use super::AwsClients;
use crate::error::{CloudError, ErrorClass, Result};

/// What a token opens: a replication group, or a serverless cache (whose tokens carry
/// `ResourceType=ServerlessCache`; the service refuses one without it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenResource {
    ReplicationGroup,
    ServerlessCache,
}

impl TokenResource {
    /// The `ResourceType` query parameter of the presigned request, if any.
    pub fn resource_type(self) -> Option<&'static str> {
        match self {
            TokenResource::ReplicationGroup => None,
            TokenResource::ServerlessCache => Some("ServerlessCache"),
        }
    }
}

/// IAM auth tokens for ElastiCache users, signed with the operator's own credentials.
#[async_trait]
pub trait IamTokens: Send + Sync {
    /// A token for `user_id` on the cache `cache_name` (a replication group or a serverless
    /// cache, as `resource` says) in `region`, valid for `lifetime` (at most [`MAX_LIFETIME`]).
    async fn iam_token(
        &self,
        region: &str,
        cache_name: &str,
        resource: TokenResource,
        user_id: &str,
        lifetime: Duration,
    ) -> Result<IamToken>;
}

#[async_trait]
impl IamTokens for AwsClients {
    async fn iam_token(
        &self,
        region: &str,
        cache_name: &str,
        resource: TokenResource,
        user_id: &str,
        lifetime: Duration,
    ) -> Result<IamToken> {
        let Some(provider) = self.sdk_config().credentials_provider() else {
            return Err(CloudError::new(
                ErrorClass::Unauthenticated,
                "credentials",
                "no AWS credentials are configured",
                "elasticache connect",
            ));
        };
        mint(&provider, region, cache_name, resource, user_id, lifetime).await
    }
}

/// The longest lifetime ElastiCache accepts for a token.
pub const MAX_LIFETIME: Duration = Duration::from_secs(900);

/// A token and when it stops working. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct IamToken {
    pub token: String,
    pub expires_at: SystemTime,
}

impl std::fmt::Debug for IamToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Presign `connect` for `user_id` on the cache `cache_name` (lowercased, as the service stores
/// IDs) with the given credentials.
pub fn presign(
    credentials: &Credentials,
    region: &str,
    cache_name: &str,
    resource: TokenResource,
    user_id: &str,
    lifetime: Duration,
    now: SystemTime,
) -> Result<IamToken> {
    let fail = |e: &dyn std::fmt::Display| {
        CloudError::new(
            ErrorClass::Other,
            "presign",
            format!("could not sign the token: {e}"),
            "elasticache connect",
        )
    };
    let lifetime = lifetime.min(MAX_LIFETIME);
    let mut url = format!(
        "http://{}/?Action=connect&User={}",
        cache_name.to_ascii_lowercase(),
        form_urlencoded::byte_serialize(user_id.as_bytes()).collect::<String>()
    );
    if let Some(t) = resource.resource_type() {
        url.push_str("&ResourceType=");
        url.push_str(t);
    }
    let identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(lifetime);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("elasticache")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| fail(&e))?
        .into();
    let signable = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| fail(&e))?;
    let (instructions, _) = sign(signable, &params).map_err(|e| fail(&e))?.into_parts();
    let mut req = http::Request::builder()
        .uri(&url)
        .body(())
        .map_err(|e| fail(&e))?;
    instructions.apply_to_request_http1x(&mut req);
    let token = req.uri().to_string();
    let token = token.strip_prefix("http://").unwrap_or(&token).to_owned();
    Ok(IamToken {
        token,
        expires_at: now + lifetime,
    })
}

/// Resolve credentials from a provider (the SDK's default chain) and presign.
pub async fn mint(
    provider: &(dyn ProvideCredentials + '_),
    region: &str,
    cache_name: &str,
    resource: TokenResource,
    user_id: &str,
    lifetime: Duration,
) -> Result<IamToken> {
    let credentials = provider.provide_credentials().await.map_err(|e| {
        CloudError::new(
            ErrorClass::Unauthenticated,
            "credentials",
            e.to_string(),
            "elasticache connect",
        )
    })?;
    presign(
        &credentials,
        region,
        cache_name,
        resource,
        user_id,
        lifetime,
        SystemTime::now(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_the_presigned_connect_url_without_scheme() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let t = presign(
            &creds,
            "us-east-1",
            "Orders-Cache",
            TokenResource::ReplicationGroup,
            "app-iam",
            Duration::from_secs(3600),
            now,
        )
        .unwrap();
        assert!(
            t.token
                .starts_with("orders-cache/?Action=connect&User=app-iam&"),
            "{t:?}"
        );
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Fus-east-1%2Felasticache%2Faws4_request",
            "X-Amz-Date=20231114T221320Z",
            "X-Amz-Expires=900",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Signature=",
        ] {
            assert!(t.token.contains(part), "missing {part} in token");
        }
        assert_eq!(t.expires_at, now + MAX_LIFETIME, "capped at 15 minutes");
        let again = presign(
            &creds,
            "us-east-1",
            "orders-cache",
            TokenResource::ReplicationGroup,
            "app-iam",
            Duration::from_secs(900),
            now,
        )
        .unwrap();
        assert_eq!(t.token, again.token, "deterministic for the same inputs");
        assert!(
            !format!("{t:?}").contains("Signature"),
            "Debug never shows the token"
        );
        let serverless = presign(
            &creds,
            "us-east-1",
            "web",
            TokenResource::ServerlessCache,
            "app-iam",
            Duration::from_secs(900),
            now,
        )
        .unwrap();
        assert!(
            serverless
                .token
                .starts_with("web/?Action=connect&User=app-iam&ResourceType=ServerlessCache&"),
            "{serverless:?}"
        );
    }
}
