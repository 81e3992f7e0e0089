//! ElastiCache engine releases, upgrade rules and cache parameter group families.
//!
//! Sources: the service model (ModifyReplicationGroup `EngineVersion`: "you can upgrade to a newer
//! engine version, but you cannot downgrade"; `CacheParameterGroupFamily` values), the
//! "Upgrading engine versions including cross engine upgrades" guide (Redis OSS → Valkey by naming
//! the engine and a major version; a default parameter group follows, a custom one must be
//! replaced by one of the new family), and errors the service returns as quoted in public issues
//! ("Cannot find version 7.4 for redis", "Expected a parameter group of family valkey8 but found
//! one of family valkey7", both `InvalidParameterCombination`).

use super::error::AwsError;
use super::model::Engine;

/// One engine release: the version clients name, the full version the service reports for its
/// nodes, and its parameter group family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    pub engine: Engine,
    pub version: &'static str,
    pub reported: &'static str,
    pub family: &'static str,
}

/// Releases for node-based clusters (Redis OSS 4.0.10 – 7.1, Valkey from 7.2). The patch levels
/// reported are illustrative: the service reports `major.minor.patch`, clients name `major.minor`
/// from 6.0 on.
const RELEASES: &[Release] = &[
    r(Engine::Redis, "4.0.10", "4.0.10", "redis4.0"),
    r(Engine::Redis, "5.0.6", "5.0.6", "redis5.0"),
    r(Engine::Redis, "6.0", "6.0.5", "redis6.x"),
    r(Engine::Redis, "6.2", "6.2.6", "redis6.x"),
    r(Engine::Redis, "7.0", "7.0.7", "redis7"),
    r(Engine::Redis, "7.1", "7.1.0", "redis7"),
    r(Engine::Valkey, "7.2", "7.2.6", "valkey7"),
    r(Engine::Valkey, "8.0", "8.0.1", "valkey8"),
    r(Engine::Valkey, "8.1", "8.1.0", "valkey8"),
    r(Engine::Valkey, "8.2", "8.2.0", "valkey8"),
    r(Engine::Valkey, "9.0", "9.0.0", "valkey9"),
    r(Engine::Valkey, "9.1", "9.1.0", "valkey9"),
];

const fn r(
    engine: Engine,
    version: &'static str,
    reported: &'static str,
    family: &'static str,
) -> Release {
    Release {
        engine,
        version,
        reported,
        family,
    }
}

/// The release a client names (`7.1`, or the reported `7.1.0`).
pub fn release(engine: Engine, version: &str) -> Result<Release, AwsError> {
    RELEASES
        .iter()
        .find(|r| r.engine == engine && (r.version == version || r.reported == version))
        .copied()
        .ok_or_else(|| {
            AwsError::invalid_combination(format!(
                "Cannot find version {version} for {}",
                engine.as_str()
            ))
        })
}

fn number(v: &str) -> (u32, u32, u32) {
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

impl Release {
    /// Whether moving from `self` to `to` is an upgrade the service performs.
    pub fn upgrade_to(&self, to: &Release) -> Result<(), AwsError> {
        if self.engine == Engine::Valkey && to.engine == Engine::Redis {
            return Err(AwsError::invalid_combination(
                "Cannot change the engine from valkey to redis: only an upgrade from redis to valkey is supported.",
            ));
        }
        if number(to.reported) < number(self.reported) {
            return Err(AwsError::invalid_combination(format!(
                "Cannot downgrade from {} {} to {} {}: you can upgrade to a newer engine version but not downgrade.",
                self.engine.as_str(),
                self.version,
                to.engine.as_str(),
                to.version
            )));
        }
        Ok(())
    }
}

/// Every parameter group family of the releases, oldest first.
pub fn families() -> impl Iterator<Item = &'static str> {
    // The releases are in order, a family's together.
    RELEASES
        .iter()
        .enumerate()
        .filter(|(i, r)| *i == 0 || RELEASES[i - 1].family != r.family)
        .map(|(_, r)| r.family)
}

/// The engine and first release of a family (`redis7` → Redis OSS 7.0).
pub fn family_release(family: &str) -> Option<Release> {
    RELEASES.iter().find(|r| r.family == family).copied()
}

/// A default group by name: its family and whether it is the `.cluster.on` one. Only families of
/// the simulated releases have default groups here.
pub fn default_group_of(name: &str) -> Option<(&'static str, bool)> {
    let rest = name.strip_prefix("default.")?;
    let (family, cluster_on) = match rest.strip_suffix(".cluster.on") {
        Some(f) => (f, true),
        None => (rest, false),
    };
    families().find(|f| *f == family).map(|f| (f, cluster_on))
}

/// `default.<family>`, with `.cluster.on` for cluster mode enabled.
pub fn default_group(family: &str, cluster_mode: bool) -> String {
    if cluster_mode {
        format!("default.{family}.cluster.on")
    } else {
        format!("default.{family}")
    }
}

/// The family of a default group by its name (`default.redis7.cluster.on` → `redis7`); `None`
/// for a customer's own group, whose family the simulator does not know.
pub fn default_group_family(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("default.")?;
    Some(rest.strip_suffix(".cluster.on").unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_found_by_either_spelling() {
        assert_eq!(release(Engine::Redis, "7.1").unwrap().reported, "7.1.0");
        assert_eq!(release(Engine::Redis, "7.1.0").unwrap().version, "7.1");
        assert_eq!(
            release(Engine::Redis, "7.4").unwrap_err().message,
            "Cannot find version 7.4 for redis"
        );
        assert!(release(Engine::Valkey, "7.1").is_err());
    }

    #[test]
    fn upgrades_only_go_forward_and_to_valkey() {
        let r70 = release(Engine::Redis, "7.0").unwrap();
        let r71 = release(Engine::Redis, "7.1").unwrap();
        let v80 = release(Engine::Valkey, "8.0").unwrap();
        let v72 = release(Engine::Valkey, "7.2").unwrap();
        assert!(r70.upgrade_to(&r71).is_ok());
        assert!(r71.upgrade_to(&v80).is_ok());
        assert!(r71.upgrade_to(&r70).is_err());
        assert!(v80.upgrade_to(&v72).is_err());
        assert!(
            v72.upgrade_to(&r71)
                .unwrap_err()
                .message
                .contains("from valkey to redis")
        );
    }

    #[test]
    fn default_groups_carry_their_family() {
        assert_eq!(default_group("redis7", true), "default.redis7.cluster.on");
        assert_eq!(default_group_family("default.redis6.x"), Some("redis6.x"));
        assert_eq!(default_group_family("orders-params"), None);
        assert_eq!(
            default_group_of("default.valkey8"),
            Some(("valkey8", false))
        );
        assert_eq!(
            default_group_of("default.redis7.cluster.on"),
            Some(("redis7", true))
        );
        assert_eq!(default_group_of("default.redis2.8"), None);
        assert_eq!(default_group_of("orders-params"), None);
        assert_eq!(
            families().collect::<Vec<_>>(),
            [
                "redis4.0", "redis5.0", "redis6.x", "redis7", "valkey7", "valkey8", "valkey9"
            ]
        );
    }
}
