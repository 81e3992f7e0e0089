//! ElastiCache engines and versions: which changes the cloud allows, and which parameter group
//! family a version belongs to.

use std::cmp::Ordering;
use std::fmt;

use super::AwsEngine;

/// `major.minor[.patch]`, ordered as the cloud orders upgrades (a missing patch is 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EngineVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: Option<u16>,
}

impl EngineVersion {
    pub const fn new(major: u16, minor: u16) -> Self {
        EngineVersion {
            major,
            minor,
            patch: None,
        }
    }

    /// `major.minor[.patch]`, each part one to three digits.
    pub fn parse(v: &str) -> Option<EngineVersion> {
        let part = |p: Option<&str>| match p {
            Some(p) if (1..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()) => {
                p.parse().ok()
            }
            _ => None,
        };
        let mut parts = v.split('.');
        let major = part(parts.next())?;
        let minor = part(parts.next())?;
        let patch = match parts.next() {
            Some(p) => Some(part(Some(p))?),
            None => None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(EngineVersion {
            major,
            minor,
            patch,
        })
    }

    fn key(self) -> (u16, u16, u16) {
        (self.major, self.minor, self.patch.unwrap_or(0))
    }
}

impl Ord for EngineVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for EngineVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for EngineVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(p) => write!(f, "{}.{}.{p}", self.major, self.minor),
            None => write!(f, "{}.{}", self.major, self.minor),
        }
    }
}

/// The first Valkey version ElastiCache offers (Valkey is a drop-in replacement for Redis OSS
/// 7.2; ElastiCache's Redis OSS line ends at 7.1).
pub const VALKEY_MIN: EngineVersion = EngineVersion::new(7, 2);
/// The last Redis OSS version ElastiCache offers.
pub const REDIS_MAX: EngineVersion = EngineVersion::new(7, 1);

/// What the engine and version of a cluster may become, as ElastiCache allows it
/// (ModifyReplicationGroup `EngineVersion`: "you can upgrade to a newer engine version, but you
/// cannot downgrade"; `Engine`: Redis OSS can be upgraded to Valkey by naming the engine and a
/// major version, never the other way).
pub fn upgrade_allowed(
    from: (AwsEngine, Option<EngineVersion>),
    to: (AwsEngine, Option<EngineVersion>),
) -> Result<(), String> {
    match (from.0, to.0) {
        (AwsEngine::Valkey, AwsEngine::Redis) => {
            return Err(
                "cannot change from valkey to redis: ElastiCache upgrades Redis OSS to Valkey, never back"
                    .into(),
            );
        }
        (AwsEngine::Redis, AwsEngine::Valkey) if to.1.is_none() => {
            return Err(
                "an upgrade from redis to valkey needs aws.engineVersion (the Valkey major version, e.g. 8.0)"
                    .into(),
            );
        }
        _ => {}
    }
    match (from.1, to.1) {
        (Some(_), None) => {
            Err("aws.engineVersion cannot be removed once set (the cloud does not go back to a default)".into())
        }
        (Some(old), Some(new)) if new < old => Err(format!(
            "cannot downgrade from engine version {old} to {new}: ElastiCache only upgrades"
        )),
        _ => Ok(()),
    }
}

/// The cache parameter group family of an engine version (`CacheParameterGroupFamily`:
/// `redis4.0`, `redis5.0`, `redis6.x`, `redis7`, `valkey7`, `valkey8`, …).
pub fn parameter_group_family(engine: AwsEngine, v: EngineVersion) -> String {
    match engine {
        AwsEngine::Valkey => format!("valkey{}", v.major),
        AwsEngine::Redis => match v.major {
            0..=5 => format!("redis{}.{}", v.major, v.minor),
            6 => "redis6.x".into(),
            n => format!("redis{n}"),
        },
    }
}

/// The default cache parameter group of a family: `default.<family>`, with `.cluster.on` for
/// cluster mode enabled.
pub fn default_parameter_group(family: &str, cluster_mode_enabled: bool) -> String {
    if cluster_mode_enabled {
        format!("default.{family}.cluster.on")
    } else {
        format!("default.{family}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> EngineVersion {
        EngineVersion::parse(s).unwrap()
    }

    #[test]
    fn versions_order_as_upgrades_do() {
        assert!(v("7.1") > v("7.0"));
        assert!(v("8.0") > v("7.2"));
        assert!(v("5.0.6") > v("5.0"));
        assert!(v("4.0.10") > v("4.0.9"));
        assert_eq!(v("7.0").cmp(&v("7.0.0")), Ordering::Equal);
    }

    #[test]
    fn upgrades_go_forward_and_from_redis_to_valkey_only() {
        let r = AwsEngine::Redis;
        let k = AwsEngine::Valkey;
        assert!(upgrade_allowed((r, Some(v("7.0"))), (r, Some(v("7.1")))).is_ok());
        assert!(upgrade_allowed((r, Some(v("6.2"))), (r, Some(v("7.0")))).is_ok());
        assert!(upgrade_allowed((r, Some(v("7.1"))), (k, Some(v("8.0")))).is_ok());
        assert!(upgrade_allowed((r, None), (r, Some(v("7.1")))).is_ok());
        assert!(
            upgrade_allowed((r, Some(v("7.1"))), (r, Some(v("7.0"))))
                .unwrap_err()
                .contains("cannot downgrade")
        );
        assert!(
            upgrade_allowed((k, Some(v("8.0"))), (r, Some(v("8.0"))))
                .unwrap_err()
                .contains("never back")
        );
        assert!(
            upgrade_allowed((r, Some(v("7.1"))), (k, None))
                .unwrap_err()
                .contains("needs aws.engineVersion")
        );
        assert!(
            upgrade_allowed((r, Some(v("7.1"))), (r, None))
                .unwrap_err()
                .contains("cannot be removed")
        );
    }

    #[test]
    fn families_follow_the_model_names() {
        assert_eq!(parameter_group_family(AwsEngine::Redis, v("7.1")), "redis7");
        assert_eq!(
            parameter_group_family(AwsEngine::Redis, v("6.2")),
            "redis6.x"
        );
        assert_eq!(
            parameter_group_family(AwsEngine::Redis, v("5.0.6")),
            "redis5.0"
        );
        assert_eq!(
            parameter_group_family(AwsEngine::Valkey, v("8.0")),
            "valkey8"
        );
        assert_eq!(
            default_parameter_group("valkey8", true),
            "default.valkey8.cluster.on"
        );
        assert_eq!(default_parameter_group("redis7", false), "default.redis7");
    }
}
