//! SigV4: the `Authorization` header every ElastiCache API call carries, and the presigned `connect`
//! URLs used as ElastiCache IAM auth tokens — both verified by recomputing the signature with the
//! secret of the access key they name (a configured key pair, or temporary credentials STS issued).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;

use super::error::AwsError;
use crate::config::AwsCredential;

/// The credential scope of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    /// The service the request was signed for (`elasticache`, `sts`).
    pub service: &'static str,
}

/// The service named in a request's credential scope, if it is signed (cloudsim serves several
/// AWS APIs on one endpoint; AWS tells them apart by host, a signed request by its scope).
pub fn signed_service(authorization: Option<&str>) -> Option<&str> {
    let credential = authorization?
        .strip_prefix("AWS4-HMAC-SHA256 ")?
        .split(',')
        .find_map(|p| p.trim().strip_prefix("Credential="))?;
    credential.split('/').nth(3)
}

fn incomplete(message: impl Into<String>) -> AwsError {
    AwsError::new("IncompleteSignature", 400, message)
}

/// Checks `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` of a
/// request to `service` and returns its scope.
pub fn check_header(
    authorization: Option<&str>,
    has_date: bool,
    service: &'static str,
) -> Result<Scope, AwsError> {
    let Some(auth) = authorization else {
        return Err(AwsError::new(
            "MissingAuthenticationToken",
            403,
            "Request is missing Authentication Token",
        ));
    };
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(incomplete(format!(
            "Authorization header must start with the algorithm AWS4-HMAC-SHA256. Authorization={}",
            auth.split_whitespace().next().unwrap_or("")
        )));
    };
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',').map(str::trim) {
        match part.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let mut missing = Vec::new();
    for (name, v) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if v.is_none_or(str::is_empty) {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    if !has_date {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .into(),
        );
    }
    if !missing.is_empty() {
        return Err(incomplete(missing.join(" ")));
    }
    let signature = signature.unwrap_or_default();
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(incomplete("Signature must be 64 hexadecimal characters."));
    }
    let scope = parse_credential(credential.unwrap_or_default(), service)?;
    Ok(scope)
}

fn parse_credential(credential: &str, expected: &'static str) -> Result<Scope, AwsError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [akid, date, region, service, terminator] = parts.as_slice() else {
        return Err(incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    };
    if akid.is_empty()
        || region.is_empty()
        || date.len() != 8
        || !date.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(incomplete(format!(
            "Credential '{credential}' is not well formed"
        )));
    }
    if *terminator != "aws4_request" {
        return Err(AwsError::new(
            "SignatureDoesNotMatch",
            403,
            format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
            ),
        ));
    }
    if *service != expected {
        return Err(AwsError::new(
            "SignatureDoesNotMatch",
            403,
            format!("Credential should be scoped to correct service: '{expected}'."),
        ));
    }
    Ok(Scope {
        access_key_id: (*akid).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: expected,
    })
}

/// The secret behind an access key id, and the session token temporary credentials must carry.
#[derive(Clone, Debug)]
pub struct Secret {
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

/// Finds the secret of an access key id; `Err` says why the key is not (or no longer) valid.
pub trait KeyStore {
    fn secret(&self, access_key_id: &str) -> Result<Secret, AwsError>;
}

impl KeyStore for [AwsCredential] {
    fn secret(&self, access_key_id: &str) -> Result<Secret, AwsError> {
        self.iter()
            .find(|c| c.access_key_id == access_key_id)
            .map(|c| Secret {
                secret_access_key: c.secret_access_key.clone(),
                session_token: None,
            })
            .ok_or_else(invalid_token)
    }
}

/// What AWS answers for an access key it does not know.
pub fn invalid_token() -> AwsError {
    AwsError::new(
        "InvalidClientTokenId",
        403,
        "The security token included in the request is invalid.",
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    aws_lc_rs::hmac::sign(&key, data).as_ref().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data))
}

/// SigV4's URI encoding: everything but unreserved characters, as %XX.
fn uri_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SIGV4_ENCODE).to_string()
}

const SIGV4_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Verifies a request's `Authorization` signature by recomputing it (the canonical request of the
/// SigV4 specification over the headers the client says it signed) with the named key's secret.
#[allow(clippy::too_many_arguments)]
pub fn verify_request(
    scope: &Scope,
    authorization: &str,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &axum::http::HeaderMap,
    body: &[u8],
    keys: &dyn KeyStore,
) -> Result<(), AwsError> {
    let field = |name: &str| {
        authorization
            .split_once(' ')
            .map(|(_, rest)| rest)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_default()
    };
    let signed_headers = field("SignedHeaders");
    let given = field("Signature");
    let secret = keys.secret(&scope.access_key_id)?;
    if let Some(token) = &secret.session_token {
        let sent = headers
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok());
        if sent != Some(token.as_str()) {
            return Err(invalid_token());
        }
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."))?;

    let mut pairs: Vec<(String, String)> = query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (uri_encode(&k), uri_encode(&v)))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    let canonical_query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';') {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        if path.is_empty() { "/" } else { path },
        canonical_query.join("&"),
        sha256_hex(body)
    );
    let credential_scope = format!(
        "{}/{}/{}/aws4_request",
        scope.date, scope.region, scope.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{credential_scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let mut key = hmac(
        format!("AWS4{}", secret.secret_access_key).as_bytes(),
        scope.date.as_bytes(),
    );
    for part in [scope.region.as_str(), scope.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), given.as_bytes())
        .map_err(|_| {
            AwsError::new(
                "SignatureDoesNotMatch",
                403,
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            )
        })
}

/// Why an IAM auth token was refused (for logs; clients only ever see WRONGPASS).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is not a presigned connect URL: {0}")]
    Malformed(&'static str),
    #[error("token is for cache {0:?}")]
    WrongCache(String),
    #[error("token is for user {0:?}")]
    WrongUser(String),
    #[error("token names resource type {0:?}")]
    WrongResourceType(Option<String>),
    #[error("token was signed for region {0:?}")]
    WrongRegion(String),
    #[error("token was signed with an unknown access key")]
    UnknownKey,
    #[error("token has expired or is not yet valid")]
    Expired,
    #[error("token signature does not match")]
    BadSignature,
}

/// What a valid token must name.
pub struct Expected<'a> {
    pub cache: &'a str,
    pub user_id: &'a str,
    pub region: &'a str,
    /// The token's `ResourceType`: `ServerlessCache` for a serverless cache, absent for a
    /// replication group (the one signing difference between the two).
    pub resource_type: Option<&'a str>,
}

const SIGV4_QUERY_KEYS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// Verifies `cache/?Action=connect&User=…&X-Amz-…` (reference §9) by re-signing it with the key pair it
/// names: the signature, the cache and user it names, its region, and its expiry capped at `max_lifetime`.
pub fn verify_iam_token(
    token: &str,
    expected: &Expected<'_>,
    keys: &dyn KeyStore,
    max_lifetime: Duration,
    now: SystemTime,
) -> Result<(), TokenError> {
    let (host_path, query) = token
        .split_once('?')
        .ok_or(TokenError::Malformed("no query string"))?;
    let host = host_path.strip_suffix('/').unwrap_or(host_path);
    if host.is_empty() || host.contains('/') {
        return Err(TokenError::Malformed("bad host"));
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|_| TokenError::Malformed("bad query string"))?;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("Action") != Some("connect") {
        return Err(TokenError::Malformed("Action is not connect"));
    }
    if host != expected.cache {
        return Err(TokenError::WrongCache(host.to_owned()));
    }
    let user = get("User").ok_or(TokenError::Malformed("no User"))?;
    if user != expected.user_id {
        return Err(TokenError::WrongUser(user.to_owned()));
    }
    let resource_type = get("ResourceType");
    if resource_type != expected.resource_type {
        return Err(TokenError::WrongResourceType(
            resource_type.map(str::to_owned),
        ));
    }
    if get("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256")
        || get("X-Amz-SignedHeaders") != Some("host")
    {
        return Err(TokenError::Malformed(
            "not a SigV4 query signature over the host header",
        ));
    }
    let scope = parse_credential(
        get("X-Amz-Credential").ok_or(TokenError::Malformed("no credential"))?,
        "elasticache",
    )
    .map_err(|_| TokenError::Malformed("bad credential scope"))?;
    if scope.region != expected.region {
        return Err(TokenError::WrongRegion(scope.region));
    }
    let key = keys
        .secret(&scope.access_key_id)
        .map_err(|_| TokenError::UnknownKey)?;
    if key.session_token.is_some() && get("X-Amz-Security-Token") != key.session_token.as_deref() {
        return Err(TokenError::UnknownKey);
    }
    let date = get("X-Amz-Date").ok_or(TokenError::Malformed("no date"))?;
    let signed_at: SystemTime = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", date)
        .ok()
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp().into())
        .ok_or(TokenError::Malformed("bad X-Amz-Date"))?;
    let expires: u64 = get("X-Amz-Expires")
        .and_then(|e| e.parse().ok())
        .ok_or(TokenError::Malformed("bad X-Amz-Expires"))?;
    let valid_for = Duration::from_secs(expires).min(max_lifetime);
    let skew = Duration::from_secs(300);
    if now + skew < signed_at || now >= signed_at + valid_for {
        return Err(TokenError::Expired);
    }

    // Re-sign the same request: what the signer adds (X-Amz-*) is left out of the URL it is given.
    let unsigned: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, _)| !SIGV4_QUERY_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let url = format!(
        "http://{host}/?{}",
        serde_urlencoded::to_string(&unsigned)
            .map_err(|_| TokenError::Malformed("unencodable query"))?
    )
    .replace('+', "%20");
    let identity = Credentials::new(
        &scope.access_key_id,
        &key.secret_access_key,
        get("X-Amz-Security-Token").map(str::to_owned),
        None,
        "cloudsim",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(expires));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(expected.region)
        .name("elasticache")
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|_| TokenError::Malformed("unsignable"))?
        .into();
    let request = SignableRequest::new("GET", url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|_| TokenError::Malformed("unsignable URL"))?;
    let output = sign(request, &params).map_err(|_| TokenError::Malformed("unsignable"))?;
    let given = get("X-Amz-Signature").unwrap_or_default();
    aws_lc_rs::constant_time::verify_slices_are_equal(
        output.signature().as_bytes(),
        given.as_bytes(),
    )
    .map_err(|_| TokenError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_header_presence_and_form() {
        let good = "AWS4-HMAC-SHA256 Credential=AKID/20240401/eu-west-1/elasticache/aws4_request, \
                    SignedHeaders=content-type;host;x-amz-date, Signature=";
        let sig = "a".repeat(64);
        let s = check_header(Some(&format!("{good}{sig}")), true, "elasticache").unwrap();
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(s.access_key_id, "AKID");
        assert_eq!(
            check_header(None, true, "elasticache").unwrap_err().code,
            "MissingAuthenticationToken"
        );
        assert_eq!(
            check_header(None, true, "elasticache").unwrap_err().status,
            403
        );
        let e = check_header(
            Some("AWS4-HMAC-SHA256 Credential=AKID/20240401/eu-west-1/elasticache/aws4_request"),
            true,
            "elasticache",
        )
        .unwrap_err();
        assert_eq!(e.code, "IncompleteSignature");
        assert!(e.message.contains("'Signature'"));
        assert_eq!(
            check_header(Some(&format!("{good}{sig}")), false, "elasticache")
                .unwrap_err()
                .code,
            "IncompleteSignature"
        );
        let wrong_service = format!(
            "AWS4-HMAC-SHA256 Credential=AKID/20240401/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature={sig}"
        );
        assert_eq!(
            check_header(Some(&wrong_service), true, "elasticache")
                .unwrap_err()
                .code,
            "SignatureDoesNotMatch"
        );
        assert_eq!(signed_service(Some(&wrong_service)), Some("s3"));
        assert_eq!(
            signed_service(Some(&format!("{good}{sig}"))),
            Some("elasticache")
        );
        assert_eq!(signed_service(None), None);
        assert_eq!(
            check_header(Some("Bearer x"), true, "elasticache")
                .unwrap_err()
                .code,
            "IncompleteSignature"
        );
    }
}
