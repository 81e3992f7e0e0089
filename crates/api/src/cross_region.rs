//! Cross-region replication of a `RedisCluster` (`spec.crossRegion`): a set of clusters in
//! different regions, one primary and at most two secondaries. The set is named after its
//! anchor (the cluster the others name in `secondaryOf`); the anchor says which member is the
//! primary. Cloud-neutral: what a cloud offers is checked in [`supported`], the one place to
//! lift when another cloud's replication lands.

// Used inside the derive attributes, which rustc does not count as a use.
use kube::KubeSchema;
#[allow(unused_imports)]
use kube::core::Rule;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Provider;
use crate::rules;
use crate::validate::FieldErrors;

/// The most secondaries a set may have (Memorystore: "up to two secondary clusters"; Global
/// Datastore: "a secondary in at most two other regions").
pub const MAX_SECONDARIES: usize = 2;

/// Where cross-region replication is offered. The CEL rule and [`supported`] say the same; a
/// cloud is added in both (and in the message) when its replication is implemented.
pub const SUPPORTED_RULE: &str = "!has(self.crossRegion) || (self.provider == 'gcp' && !(has(self.gcp) && has(self.gcp.engine) && self.gcp.engine == 'valkey'))";
pub const SUPPORTED_MESSAGE: &str = "crossRegion is supported for Memorystore for Redis Cluster (provider gcp) only for now: ElastiCache Global Datastore (aws) and Memorystore for Valkey cross-instance replication are not implemented yet";

/// A secondary cannot be made of an existing cluster, nor a secondary turned back.
pub const SECONDARY_OF_FIXED_RULE: &str = "(has(self.crossRegion) && has(self.crossRegion.secondaryOf)) == (has(oldSelf.crossRegion) && has(oldSelf.crossRegion.secondaryOf)) || (!(has(self.crossRegion) && has(self.crossRegion.secondaryOf)) && has(oldSelf.crossRegion.detached) && oldSelf.crossRegion.detached)";
pub const SECONDARY_OF_FIXED_MESSAGE: &str = "crossRegion.secondaryOf is immutable: a secondary is created as one (an existing cluster cannot join a set), and an attached secondary cannot drop it or crossRegion: set crossRegion.detached: true to leave the set";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!(has(self.primary) && has(self.secondaryOf))")
        .message("crossRegion.primary and crossRegion.secondaryOf are mutually exclusive: the anchor (the first primary) names the primary, a secondary names its anchor"),
    validation = Rule::new("!(has(self.detached) && self.detached) || has(self.secondaryOf)")
        .message("crossRegion.detached needs crossRegion.secondaryOf: only a secondary leaves a set")
        .field_path(".detached"),
    validation = Rule::new("!has(self.secondaryOf) || !has(oldSelf.secondaryOf) || self.secondaryOf == oldSelf.secondaryOf")
        .message("crossRegion.secondaryOf is immutable")
        .field_path(".secondaryOf"),
    validation = Rule::new("(has(self.detached) && self.detached) || !(has(oldSelf.detached) && oldSelf.detached)")
        .message("crossRegion.detached is one way: a detached cluster is standalone and cannot rejoin the set")
        .field_path(".detached"),
)]
pub struct CrossRegionSpec {
    /// On the set's anchor: the member (a RedisCluster's `metadata.name` in this namespace)
    /// that should be the primary; this cluster when unset. Naming another member switches
    /// over to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(rules::OBJECT_NAME_PATTERN))]
    pub primary: Option<String>,

    /// Create this cluster as a secondary of the set anchored on this RedisCluster (same
    /// namespace, provider and project, another region, the same shard count and node type).
    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(rules::OBJECT_NAME_PATTERN))]
    pub secondary_of: Option<String>,

    /// `true`: leave the set; the cluster keeps its data and becomes standalone. One way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub detached: bool,
}

impl CrossRegionSpec {
    /// Still a member of its anchor's set.
    pub fn attached_to(&self) -> Option<&str> {
        self.secondary_of.as_deref().filter(|_| !self.detached)
    }
}

/// Whether a cloud offers cross-region replication (see [`SUPPORTED_RULE`]).
pub fn supported(provider: Provider, valkey: bool) -> bool {
    provider == Provider::Gcp && !valkey
}

/// The rules of `spec.crossRegion` that need no other object; `name` is `metadata.name`.
pub fn check(
    spec: &CrossRegionSpec,
    name: &str,
    provider: Provider,
    valkey: bool,
    errs: &mut FieldErrors,
) {
    if !supported(provider, valkey) {
        errs.broken("spec.crossRegion", SUPPORTED_MESSAGE);
    }
    if spec.primary.is_some() && spec.secondary_of.is_some() {
        errs.broken(
            "spec.crossRegion",
            "crossRegion.primary and crossRegion.secondaryOf are mutually exclusive: the anchor (the first primary) names the primary, a secondary names its anchor",
        );
    }
    if spec.detached && spec.secondary_of.is_none() {
        errs.broken(
            "spec.crossRegion.detached",
            "needs crossRegion.secondaryOf: only a secondary leaves a set",
        );
    }
    for (field, value) in [
        ("spec.crossRegion.primary", &spec.primary),
        ("spec.crossRegion.secondaryOf", &spec.secondary_of),
    ] {
        if let Some(v) = value {
            errs.check(field, rules::object_name(v));
        }
    }
    if spec.secondary_of.as_deref() == Some(name) {
        errs.broken(
            "spec.crossRegion.secondaryOf",
            "must name another RedisCluster (the set's anchor), not this one",
        );
    }
}

/// A member's role in its set, as the cloud reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ReplicationRole {
    /// Takes writes; the secondaries follow it.
    Primary,
    /// Read-only, follows the primary.
    Secondary,
    /// Not (or no longer) replicating.
    None,
}

impl ReplicationRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationRole::Primary => "PRIMARY",
            ReplicationRole::Secondary => "SECONDARY",
            ReplicationRole::None => "NONE",
        }
    }
}

/// The set this cluster belongs to, as the cloud reports it; the same from every member.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossRegionStatus {
    /// This cluster's role: `PRIMARY`, `SECONDARY` or `NONE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<ReplicationRole>,
    /// The set's anchor (a RedisCluster in this namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    /// The member that should be the primary (the anchor's `crossRegion.primary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wanted_primary: Option<String>,
    /// The set's primary (cloud resource name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// The set's secondaries (cloud resource names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secondaries: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(primary: Option<&str>, secondary_of: Option<&str>, detached: bool) -> CrossRegionSpec {
        CrossRegionSpec {
            primary: primary.map(str::to_owned),
            secondary_of: secondary_of.map(str::to_owned),
            detached,
        }
    }

    fn errors(s: &CrossRegionSpec, provider: Provider, valkey: bool) -> Vec<String> {
        let mut errs = FieldErrors::default();
        check(s, "orders-eu", provider, valkey, &mut errs);
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn each_rule_names_its_field() {
        let ok = [
            spec(Some("orders-us"), None, false),
            spec(None, Some("orders-us"), false),
            spec(None, Some("orders-us"), true),
            spec(None, None, false),
        ];
        for s in ok {
            assert_eq!(
                errors(&s, Provider::Gcp, false),
                Vec::<String>::new(),
                "{s:?}"
            );
        }
        let cases = [
            (
                spec(Some("a"), Some("b"), false),
                "spec.crossRegion: crossRegion.primary and crossRegion.secondaryOf are mutually exclusive",
            ),
            (
                spec(None, None, true),
                "spec.crossRegion.detached: needs crossRegion.secondaryOf",
            ),
            (
                spec(None, Some("orders-eu"), false),
                "spec.crossRegion.secondaryOf: must name another RedisCluster",
            ),
            (
                spec(None, Some("Orders"), false),
                "spec.crossRegion.secondaryOf:",
            ),
        ];
        for (s, want) in cases {
            let got = errors(&s, Provider::Gcp, false);
            assert!(got.iter().any(|e| e.starts_with(want)), "{s:?}: {got:?}");
        }
    }

    #[test]
    fn other_clouds_are_refused_in_one_place() {
        let s = spec(None, Some("orders-us"), false);
        for (provider, valkey) in [(Provider::Aws, false), (Provider::Gcp, true)] {
            let got = errors(&s, provider, valkey);
            assert_eq!(got, [format!("spec.crossRegion: {SUPPORTED_MESSAGE}")]);
        }
        assert!(supported(Provider::Gcp, false));
    }
}
