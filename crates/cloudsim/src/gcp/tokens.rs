//! Google access tokens minted by the simulator, the service-account keys it issues, and verification of
//! the JWT assertions signed with them (the OAuth2 jwt-bearer flow used by `gcp_auth`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::util::{random_digits, random_hex, random_secret};

/// An IAM principal as written in policy members: `serviceAccount:x@p.iam.gserviceaccount.com`, `user:a@b`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal(String);

impl Principal {
    pub fn service_account(email: &str) -> Self {
        Self(format!("serviceAccount:{}", email.to_ascii_lowercase()))
    }

    /// Parses `serviceAccount:…` or `user:…` (the principals that can hold tokens).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some((kind @ ("serviceAccount" | "user"), email)) if email.contains('@') => {
                Ok(Self(format!("{kind}:{}", email.to_ascii_lowercase())))
            }
            _ => Err(format!(
                "principal {s:?} must be serviceAccount:EMAIL or user:EMAIL"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A freshly minted token. Its value must never be logged.
pub struct Minted {
    pub token: String,
    pub expires_at: Timestamp,
    pub lifetime: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Unknown,
    Expired,
}

#[derive(Debug)]
struct TokenInfo {
    principal: Principal,
    expires_at: Timestamp,
}

#[derive(Debug)]
struct IssuedKey {
    public_key_der: Vec<u8>,
}

#[derive(Debug, Default)]
struct Inner {
    tokens: HashMap<String, TokenInfo>,
    keys: HashMap<String, Vec<IssuedKey>>,
    mints_since_prune: usize,
}

#[derive(Debug, Default)]
pub struct TokenStore {
    inner: Mutex<Inner>,
}

/// The OAuth2 token endpoint's error body: `{"error": ..., "error_description": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn invalid_grant(description: impl Into<String>) -> Self {
        Self {
            error: "invalid_grant",
            description: description.into(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

/// The claims `gcp_auth` (and Google's own libraries) put in a service-account assertion.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    #[serde(default)]
    aud: String,
    exp: i64,
    iat: i64,
    #[serde(default)]
    scope: Option<String>,
}

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

impl TokenStore {
    /// Mints a token for `principal` valid for `lifetime`.
    pub fn mint(&self, principal: Principal, lifetime: Duration) -> Minted {
        let now = Timestamp::now();
        let expires_at = now + lifetime;
        let token = format!("ya29.c.{}", random_secret(48));
        let mut inner = self.inner.lock().expect("token lock");
        inner.mints_since_prune += 1;
        if inner.mints_since_prune >= 1024 {
            // Expired tokens are kept a while (to answer "expired" rather than "unknown"), not forever.
            let horizon = now - Duration::from_secs(3600);
            inner.tokens.retain(|_, t| t.expires_at > horizon);
            inner.mints_since_prune = 0;
        }
        inner.tokens.insert(
            token.clone(),
            TokenInfo {
                principal,
                expires_at,
            },
        );
        Minted {
            token,
            expires_at,
            lifetime,
        }
    }

    /// The principal of a currently valid token.
    pub fn check(&self, token: &str) -> Result<Principal, TokenError> {
        let inner = self.inner.lock().expect("token lock");
        let info = inner.tokens.get(token).ok_or(TokenError::Unknown)?;
        if info.expires_at <= Timestamp::now() {
            return Err(TokenError::Expired);
        }
        Ok(info.principal.clone())
    }

    /// A deleted service account: its tokens stop working and its keys are gone.
    pub fn forget_service_account(&self, email: &str) {
        let principal = Principal::service_account(email);
        let mut inner = self.inner.lock().expect("token lock");
        inner.tokens.retain(|_, t| t.principal != principal);
        inner.keys.remove(&email.to_ascii_lowercase());
    }

    /// The `iss` of a jwt-bearer assertion, unverified (to tell a deleted account apart).
    pub fn assertion_issuer(assertion: &str) -> Option<String> {
        let claims = assertion.split('.').nth(1)?;
        let claims: Claims = serde_json::from_slice(&b64url_decode(claims)?).ok()?;
        Some(claims.iss.to_ascii_lowercase())
    }

    pub fn clear(&self) {
        *self.inner.lock().expect("token lock") = Inner::default();
    }

    /// Issues a new RSA key for the service account and returns the key file (the JSON a user downloads).
    pub fn create_service_account_key(
        &self,
        email: &str,
        project_id: Option<&str>,
        token_uri: &str,
    ) -> Result<Value, String> {
        let email = email.trim().to_ascii_lowercase();
        let Some((account, domain)) = email.split_once('@') else {
            return Err(format!("email {email:?} is not an email address"));
        };
        if account.is_empty() || domain.is_empty() {
            return Err(format!("email {email:?} is not an email address"));
        }
        let project = project_id
            .map(str::to_owned)
            .or_else(|| {
                domain
                    .strip_suffix(".iam.gserviceaccount.com")
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "cloudsim".to_owned());
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
            .map_err(|e| format!("could not generate an RSA key: {e}"))?;
        let private_key_id = random_hex(40);
        self.inner
            .lock()
            .expect("token lock")
            .keys
            .entry(email.clone())
            .or_default()
            .push(IssuedKey {
                public_key_der: key.public_key_raw().to_vec(),
            });
        let client_id = random_digits(21);
        Ok(json!({
            "type": "service_account",
            "project_id": project,
            "private_key_id": private_key_id,
            "private_key": key.serialize_pem(),
            "client_email": email,
            "client_id": client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": format!(
                "https://www.googleapis.com/robot/v1/metadata/x509/{}",
                email.replace('@', "%40")
            ),
            "universe_domain": "googleapis.com",
        }))
    }

    /// Verifies a jwt-bearer assertion and returns the service-account email it was signed for.
    pub fn verify_assertion(&self, assertion: &str, now: Timestamp) -> Result<String, OAuthError> {
        let mut parts = assertion.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(OAuthError::invalid_grant(
                "Invalid JWT: the assertion is not a signed JWT.",
            ));
        };
        let header: Value = b64url_decode(h)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| {
                OAuthError::invalid_grant("Invalid JWT: the header is not base64url JSON.")
            })?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(OAuthError::invalid_grant(
                "Invalid JWT: the signing algorithm must be RS256.",
            ));
        }
        let claims: Claims = b64url_decode(p)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| {
                OAuthError::invalid_grant(
                    "Invalid JWT: the claim set is not valid JSON with iss, exp and iat.",
                )
            })?;
        let signature =
            b64url_decode(s).ok_or_else(|| OAuthError::invalid_grant("Invalid JWT Signature."))?;
        let signed = &assertion[..h.len() + 1 + p.len()];
        let email = claims.iss.to_ascii_lowercase();
        let verified = {
            let inner = self.inner.lock().expect("token lock");
            inner.keys.get(&email).is_some_and(|keys| {
                keys.iter().any(|k| {
                    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &k.public_key_der)
                        .verify(signed.as_bytes(), &signature)
                        .is_ok()
                })
            })
        };
        if !verified {
            return Err(OAuthError::invalid_grant("Invalid JWT Signature."));
        }
        let now = now.as_second();
        let reasonable = claims.exp > claims.iat
            && claims.exp - claims.iat <= 3600
            && claims.iat <= now + 300
            && claims.exp > now - 300;
        if !reasonable {
            return Err(OAuthError::invalid_grant(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. \
                 Check your iat and exp values in the JWT claim.",
            ));
        }
        if claims.aud.is_empty() {
            return Err(OAuthError::invalid_grant(
                "Invalid JWT: the aud claim is missing.",
            ));
        }
        if claims.scope.as_deref().is_none_or(|s| s.trim().is_empty()) {
            return Err(OAuthError {
                error: "invalid_scope",
                description: "Invalid OAuth scope or ID token audience provided.".into(),
            });
        }
        Ok(email)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_their_principal_until_they_expire() {
        let store = TokenStore::default();
        let p = Principal::service_account("App@P.iam.gserviceaccount.com");
        assert_eq!(p.as_str(), "serviceAccount:app@p.iam.gserviceaccount.com");
        let m = store.mint(p.clone(), Duration::from_secs(60));
        assert!(m.token.starts_with("ya29."));
        assert_eq!(store.check(&m.token), Ok(p.clone()));
        assert_eq!(store.check("ya29.nope"), Err(TokenError::Unknown));
        let gone = store.mint(p, Duration::ZERO);
        assert_eq!(store.check(&gone.token), Err(TokenError::Expired));
    }

    #[test]
    fn principals_are_checked() {
        assert!(Principal::parse("user:alice@example.com").is_ok());
        assert!(Principal::parse("group:devs@example.com").is_err());
        assert!(Principal::parse("alice@example.com").is_err());
    }

    #[test]
    fn assertions_must_be_signed_by_an_issued_key() {
        let store = TokenStore::default();
        let key = store
            .create_service_account_key("sa@proj.iam.gserviceaccount.com", None, "http://x/token")
            .unwrap();
        assert_eq!(key["project_id"], "proj");
        let pem = key["private_key"].as_str().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let now = Timestamp::now();
        let jwt = sign_test_jwt(pem, "sa@proj.iam.gserviceaccount.com", now.as_second());
        assert_eq!(
            store.verify_assertion(&jwt, now).unwrap(),
            "sa@proj.iam.gserviceaccount.com"
        );

        // Same claims signed by a key the simulator never issued.
        let other = TokenStore::default();
        let foreign = other
            .create_service_account_key("sa@proj.iam.gserviceaccount.com", None, "u")
            .unwrap();
        let forged = sign_test_jwt(
            foreign["private_key"].as_str().unwrap(),
            "sa@proj.iam.gserviceaccount.com",
            now.as_second(),
        );
        let e = store.verify_assertion(&forged, now).unwrap_err();
        assert_eq!(
            e.to_json(),
            json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        );

        let stale = sign_test_jwt(
            pem,
            "sa@proj.iam.gserviceaccount.com",
            now.as_second() - 7200,
        );
        assert!(
            store
                .verify_assertion(&stale, now)
                .unwrap_err()
                .description
                .contains("short-lived")
        );
    }

    fn sign_test_jwt(pem: &str, iss: &str, iat: i64) -> String {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
        let der = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>();
        let der = base64::engine::general_purpose::STANDARD
            .decode(der)
            .unwrap();
        let key = RsaKeyPair::from_pkcs8(&der).unwrap();
        let claims = json!({"iss": iss, "aud": "http://x/token", "iat": iat, "exp": iat + 3595,
                            "scope": "https://www.googleapis.com/auth/cloud-platform"});
        let mut jwt = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            jwt.as_bytes(),
            &mut sig,
        )
        .unwrap();
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(sig));
        jwt
    }
}
