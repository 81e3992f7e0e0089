//! `AccessBinding`: one application's credentials for one cluster, delivered as a Secret.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
// Used inside the derive attributes, which rustc does not count as a use.
#[allow(unused_imports)]
use kube::core::{ListMerge, Rule};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::common::ObjectRef;
use crate::model::{DEFAULT_PASSWORD_INTERVAL, DesiredBinding};
use crate::rules::{self, Broken};
use crate::validate::FieldErrors;

/// Credentials for one identity on one cluster, written to a Secret (Service Binding spec,
/// type `servicebinding.io/redis`) that the operator keeps valid.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "cache-operator.io",
    version = "v1alpha1",
    kind = "AccessBinding",
    namespaced,
    status = "AccessBindingStatus",
    shortname = "rab",
    category = "cache-operator",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.clusterRef.name"}"#,
    printcolumn = r#"{"name":"Serverless Cache","type":"string","jsonPath":".spec.serverlessCacheRef.name"}"#,
    printcolumn = r#"{"name":"User","type":"string","jsonPath":".spec.user"}"#,
    printcolumn = r#"{"name":"Secret","type":"string","jsonPath":".status.secretName"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason","priority":1}"#,
    // A string, not a date: kubectl prints future dates as "<invalid>".
    printcolumn = r#"{"name":"Expires","type":"string","jsonPath":".status.tokenExpiresAt"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("has(self.spec.secretName) || size(self.metadata.name) <= 253")
        .message("metadata.name is the Secret name when spec.secretName is unset"),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.clusterRef) != has(self.serverlessCacheRef)")
        .message("set exactly one of spec.clusterRef (a RedisCluster) and spec.serverlessCacheRef (a ServerlessCache)"),
    validation = Rule::new("has(self.clusterRef) == has(oldSelf.clusterRef)").message("a binding cannot move between a RedisCluster and a ServerlessCache; create another binding"),
    validation = Rule::new("has(self.secretName) == has(oldSelf.secretName)").message("secretName is immutable").field_path(".secretName"),
    validation = Rule::new("!has(self.user) || has(self.userGroupRef)")
        .message("spec.user names a member of a UserGroup: set spec.userGroupRef too (a cluster with authMode token or disabled takes neither)")
        .field_path(".user"),
)]
pub struct AccessBindingSpec {
    /// The RedisCluster to connect to. Another namespace only if the cluster's
    /// `spec.access.allowedNamespaces` admits this one. Exactly one of `clusterRef` and
    /// `serverlessCacheRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ref: Option<ObjectRef>,

    /// The ServerlessCache to connect to, with the same rules as `clusterRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serverless_cache_ref: Option<ObjectRef>,

    /// The UserGroup the identity belongs to; it must be listed in the cluster's
    /// `spec.userGroupRefs`. Its namespace defaults to this binding's (not the cluster's): a
    /// binding in another namespace than its cluster names the group's namespace. Required for
    /// a cluster with authMode iam or password; not allowed for one with authMode token (its one
    /// AUTH token is for every client), and unused with authMode disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_group_ref: Option<ObjectRef>,

    /// aws: the `userId` of a member of the group. gcp: the service-account email to mint
    /// tokens for (a member of the group); unset means the operator's own identity. Needs
    /// `userGroupRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 320), pattern(BINDING_USER_PATTERN))]
    pub user: Option<String>,

    /// Name of the Secret to write in this namespace; defaults to `metadata.name`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(rules::OBJECT_NAME_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("secretName is immutable"))]
    pub secret_name: Option<String>,

    /// Labels and annotations for the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_template: Option<SecretTemplate>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
}

/// An aws user ID or an email address.
pub const BINDING_USER_PATTERN: &str =
    "^([a-z]([a-z0-9-]*[a-z0-9])?|[^@\\s:]+@[^@\\s:]+\\.[^@\\s:]+)$";

const LABEL_KEYS: &str = "self.all(k, k.matches('^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretTemplate {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = rules::bounded_map::<{ rules::SECRET_TEMPLATE_MAX_ENTRIES }, { rules::LABEL_VALUE_MAX }>)]
    #[x_kube(
        validation = Rule::new(LABEL_KEYS).message("label keys must be [prefix/]name with a DNS-subdomain prefix and a name of at most 63 letters, digits, '-', '_' or '.'"),
        validation = Rule::new("self.all(k, self[k].matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$'))").message("label values must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"),
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = rules::bounded_map::<{ rules::SECRET_TEMPLATE_MAX_ENTRIES }, { rules::ANNOTATION_VALUE_MAX }>)]
    #[x_kube(validation = Rule::new(LABEL_KEYS).message("annotation keys must be [prefix/]name with a DNS-subdomain prefix and a name of at most 63 letters, digits, '-', '_' or '.'"))]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    /// How long before a token expires the Secret is rewritten; by default when a third of
    /// the token's lifetime remains. Capped at half the lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), pattern(rules::DURATION_PATTERN))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('10s') && duration(self) <= duration('1h')").message("refreshBefore must be between 10s and 1h"))]
    pub refresh_before: Option<String>,

    /// aws password users: how often the password is replaced (the old one stays valid for
    /// one more interval so running clients are never cut off). Default 720h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), pattern(rules::DURATION_PATTERN))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1m')").message("interval must be at least 1m"))]
    pub interval: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessBindingStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,

    /// When the credential in the Secret stops working (tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<Time>,

    /// When the operator will rewrite the Secret next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_at: Option<Time>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation_time: Option<Time>,

    /// The user name clients send with AUTH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// The kinds a binding can point at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    RedisCluster,
    ServerlessCache,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::RedisCluster => "RedisCluster",
            TargetKind::ServerlessCache => "ServerlessCache",
        }
    }
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AccessBindingSpec {
    /// What the binding points at: its kind and reference (a RedisCluster when the spec names
    /// both or neither, which the rules refuse).
    pub fn target(&self) -> (TargetKind, Option<&ObjectRef>) {
        match (&self.cluster_ref, &self.serverless_cache_ref) {
            (None, Some(s)) => (TargetKind::ServerlessCache, Some(s)),
            (c, _) => (TargetKind::RedisCluster, c.as_ref()),
        }
    }
}

impl AccessBinding {
    pub fn secret_name(&self) -> &str {
        self.spec
            .secret_name
            .as_deref()
            .or(self.metadata.name.as_deref())
            .unwrap_or_default()
    }
}

impl AccessBinding {
    /// Check every rule of the spec and resolve its defaults.
    pub fn desired(&self) -> Result<DesiredBinding, FieldErrors> {
        let name = self.metadata.name.as_deref().unwrap_or_default();
        self.spec.desired(name)
    }
}

impl AccessBindingSpec {
    /// The references are resolved where they are read (`crates/operator`'s `refs`): the
    /// model keeps only what the spec itself decides.
    pub fn desired(&self, name: &str) -> Result<DesiredBinding, FieldErrors> {
        let mut errs = FieldErrors::default();
        if self.cluster_ref.is_some() == self.serverless_cache_ref.is_some() {
            errs.broken(
                "spec.clusterRef",
                "set exactly one of spec.clusterRef (a RedisCluster) and spec.serverlessCacheRef (a ServerlessCache)",
            );
        }
        let refs = [
            self.cluster_ref.as_ref().map(|c| ("spec.clusterRef", c)),
            self.serverless_cache_ref
                .as_ref()
                .map(|c| ("spec.serverlessCacheRef", c)),
            self.user_group_ref
                .as_ref()
                .map(|g| ("spec.userGroupRef", g)),
        ];
        for (field, r) in refs.into_iter().flatten() {
            errs.check(format!("{field}.name"), rules::object_name(&r.name));
            if let Some(ns) = &r.namespace {
                errs.check(format!("{field}.namespace"), rules::dns_label(ns));
            }
        }
        if self.user.is_some() && self.user_group_ref.is_none() {
            errs.broken(
                "spec.user",
                "names a member of a UserGroup: set spec.userGroupRef too (a cluster with authMode token or disabled takes neither)",
            );
        }
        if let Some(user) = &self.user {
            let ok = if user.contains('@') {
                rules::email_address(user)
            } else {
                rules::aws_user_id(user)
            };
            errs.check(
                "spec.user",
                ok.map_err(|_| {
                    Broken("must be an aws user ID or a service-account email address".into())
                }),
            );
        }
        let secret_name = self.secret_name.as_deref().unwrap_or(name);
        let field = if self.secret_name.is_some() {
            "spec.secretName"
        } else {
            "metadata.name"
        };
        errs.check(field, rules::object_name(secret_name));
        let template = self.secret_template.clone().unwrap_or_default();
        for (field, len) in [
            ("labels", template.labels.len()),
            ("annotations", template.annotations.len()),
        ] {
            if len > rules::SECRET_TEMPLATE_MAX_ENTRIES {
                errs.broken(
                    format!("spec.secretTemplate.{field}"),
                    format!(
                        "must have at most {} entries",
                        rules::SECRET_TEMPLATE_MAX_ENTRIES
                    ),
                );
            }
        }
        for (k, v) in &template.labels {
            errs.check(
                format!("spec.secretTemplate.labels.{k}"),
                rules::label_key(k),
            );
            errs.check(
                format!("spec.secretTemplate.labels.{k}"),
                rules::label_value(v),
            );
        }
        for (k, v) in &template.annotations {
            errs.check(
                format!("spec.secretTemplate.annotations.{k}"),
                rules::label_key(k),
            );
            if v.chars().count() > rules::ANNOTATION_VALUE_MAX {
                errs.broken(
                    format!("spec.secretTemplate.annotations.{k}"),
                    format!(
                        "value must be at most {} characters",
                        rules::ANNOTATION_VALUE_MAX
                    ),
                );
            }
        }
        let rotation = self.rotation.clone().unwrap_or_default();
        let refresh_before = rotation.refresh_before.as_deref().and_then(|v| {
            let d = errs.check("spec.rotation.refreshBefore", rules::duration(v))?;
            if d < Duration::from_secs(10) || d > Duration::from_secs(3600) {
                errs.broken("spec.rotation.refreshBefore", "must be between 10s and 1h");
            }
            Some(d)
        });
        let interval = rotation.interval.as_deref().and_then(|v| {
            let d = errs.check("spec.rotation.interval", rules::duration(v))?;
            if d < Duration::from_secs(60) {
                errs.broken("spec.rotation.interval", "must be at least 1m");
            }
            Some(d)
        });
        errs.finish(|| DesiredBinding {
            user: self.user.clone(),
            secret_name: secret_name.to_owned(),
            labels: template.labels.clone(),
            annotations: template.annotations.clone(),
            refresh_before,
            password_interval: interval.unwrap_or(DEFAULT_PASSWORD_INTERVAL),
        })
    }
}
