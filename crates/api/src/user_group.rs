//! `UserGroup`: who may connect to the clusters that list the group.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
// Used inside the derive attributes, which rustc does not count as a use.
#[allow(unused_imports)]
use kube::core::{ListMerge, Rule};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Provider;
pub use crate::model::UserAuthentication;
use crate::model::{AwsEngine, AwsUserGroup, AwsUserModel, DesiredUserGroup, GcpUserGroup};
use crate::rules::{self, Broken};
use crate::validate::FieldErrors;

/// A set of identities allowed to connect: ElastiCache users in a user group, or GCP IAM
/// principals granted the connection role on each cluster that lists the group.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "cache-operator.io",
    version = "v1alpha1",
    kind = "UserGroup",
    namespaced,
    status = "UserGroupStatus",
    shortname = "rug",
    category = "cache-operator",
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".spec.provider"}"#,
    printcolumn = r#"{"name":"Region","type":"string","jsonPath":".spec.region"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Cloud Resource","type":"string","jsonPath":".status.cloudResource","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new(
        "self.spec.provider != 'aws' || !has(self.spec.aws) || has(self.spec.aws.userGroupId) || (self.metadata.name.matches('^[a-z]([a-z0-9-]*[a-z0-9])?$') && size(self.metadata.name) <= 40 && !self.metadata.name.contains('--'))"
    ).message(
        "metadata.name is the ElastiCache user group ID when spec.aws.userGroupId is unset, so it must be at most 40 lowercase letters, digits or hyphens, start with a letter, end with a letter or digit and not contain '--'"
    ),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.provider != 'gcp' || has(self.gcp)").message("spec.gcp is required when provider is gcp").field_path(".gcp"),
    validation = Rule::new("self.provider != 'aws' || has(self.aws)").message("spec.aws is required when provider is aws").field_path(".aws"),
    validation = Rule::new("self.provider == 'gcp' || !has(self.gcp)").message("spec.gcp must not be set when provider is aws").field_path(".gcp"),
    validation = Rule::new("self.provider == 'aws' || !has(self.aws)").message("spec.aws must not be set when provider is gcp").field_path(".aws"),
    validation = Rule::new("self.provider != 'aws' || has(self.region)").message("region is required when provider is aws (ElastiCache users and groups are regional)").field_path(".region"),
    validation = Rule::new("has(self.region) == has(oldSelf.region)").message("region is immutable").field_path(".region"),
)]
pub struct UserGroupSpec {
    /// `gcp` or `aws`. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("provider is immutable"))]
    pub provider: Provider,

    /// aws: the region of the users and the group. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 40), pattern(rules::REGION_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("region is immutable"))]
    pub region: Option<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsUserGroupSpec>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp: Option<GcpUserGroupSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.users.all(u, self.users.exists_one(v, v.userName == u.userName))")
        .message("userName must be unique within the group (ElastiCache refuses duplicate user names)")
        .field_path(".users"),
    validation = Rule::new("has(self.userGroupId) == has(oldSelf.userGroupId)").message("aws.userGroupId is immutable").field_path(".userGroupId"),
)]
pub struct AwsUserGroupSpec {
    /// ElastiCache user group ID; defaults to `metadata.name`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 40), pattern(rules::AWS_USER_ID_PATTERN))]
    #[x_kube(
        validation = Rule::new("self == oldSelf").message("aws.userGroupId is immutable"),
        validation = Rule::new("!self.contains('--')").message("aws.userGroupId must not contain two consecutive hyphens"),
    )]
    pub user_group_id: Option<String>,

    /// `redis` or `valkey`; must match the clusters that use the group. Immutable.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("aws.engine is immutable"))]
    pub engine: AwsEngine,

    /// The users of the group. A user named `default` is required by ElastiCache; when none is
    /// listed the operator adds a disabled one (`<group>-default`, access string `off`).
    #[schemars(length(min = 1, max = 99))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["userId".into()]))]
    pub users: Vec<AwsUser>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.authentication != 'iam' || self.userName == self.userId")
        .message("an iam user's userName must equal its userId")
        .field_path(".userName"),
    validation = Rule::new("!self.userId.contains('--')").message("userId must not contain two consecutive hyphens").field_path(".userId"),
    validation = Rule::new("self.userId != 'default'")
        .message("the built-in default user has no password and full access; list your own user with userName: default instead, or none to get a disabled one")
        .field_path(".userId"),
)]
pub struct AwsUser {
    /// Unique ID of the user in the region: lowercase letters, digits and hyphens.
    #[schemars(length(min = 1, max = 40), pattern(rules::AWS_USER_ID_PATTERN))]
    pub user_id: String,

    /// The name sent with `AUTH`; `default` for the group's default user.
    #[schemars(length(min = 1, max = 120), pattern(rules::AWS_USER_NAME_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("userName cannot be changed: ElastiCache users keep their name; use a new userId"))]
    pub user_name: String,

    /// ACL rules, e.g. `on ~* +@all` or `on ~app:* -@all +@read`.
    #[schemars(length(min = 1, max = rules::ACCESS_STRING_MAX))]
    #[x_kube(
        validation = Rule::new(ACCESS_STRING_GRAMMAR).message("accessString must be ACL rules without passwords or resets, e.g. on ~* +@all"),
        validation = Rule::new("self.matches('(?i)(^|\\\\s)(on|off)(\\\\s|$)')").message("accessString must include on (or off): a user with neither is disabled"),
    )]
    pub access_string: String,

    /// `iam` (short-lived IAM tokens) or `password` (generated and rotated by the operator).
    pub authentication: UserAuthentication,
}

/// The CEL form of [`rules::access_string`]: every space-separated rule is a keyword or starts
/// with an ACL rule character, which leaves no room for `>password`, `nopass` or `reset`. Each
/// rule is written once and must end at a space or the end: the API server's cost estimate grows
/// with the pattern's length.
const ACCESS_STRING_GRAMMAR: &str = concat!(
    "self.matches('^\\\\s*(((?i:on|off|allkeys|resetkeys|allchannels|resetchannels|allcommands|nocommands|clearselectors)",
    "|[~&+%(-]\\\\S*|[^\\\\s<>#!]*[)])(\\\\s+|$))+$')"
);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpUserGroupSpec {
    /// IAM principals (`serviceAccount:…`, `user:…`, `group:…`) that get
    /// `roles/redis.dbConnectionUser` on each cluster listing this group.
    #[schemars(
        length(min = 1, max = 1000),
        inner(length(max = 320), pattern(rules::GCP_PRINCIPAL_PATTERN))
    )]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub members: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserGroupStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// aws: the user group's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_resource: Option<String>,

    /// aws: the user group ID in the cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_group_id: Option<String>,

    /// aws: users the operator created and manages for this group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,

    /// Clusters (namespace/name) that list this group and have it applied; at most
    /// [`STATUS_CLUSTERS_MAX`] are named, `clusterCount` counts them all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_count: Option<i32>,

    /// gcp: the IAM grants this group holds, one entry per project (the members are the
    /// spec's, less `missingMembers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<IamGrants>,

    /// gcp: what the grants cover — the generation whose members they hold and a digest of
    /// the cluster names — so an AccessBinding can tell that its cluster is granted without
    /// the status listing every (cluster, member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted: Option<Granted>,

    /// gcp: members IAM refused because they do not exist (deleted service accounts); the
    /// other members hold their grants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_members: Vec<String>,
}

/// How many cluster names a UserGroup status lists: the status stays small however many
/// clusters list the group.
pub const STATUS_CLUSTERS_MAX: usize = 20;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IamGrants {
    pub project: String,
    /// Clusters covered.
    pub clusters: i32,
    /// Conditional bindings of `roles/redis.dbConnectionUser` (one per few clusters).
    pub bindings: i32,
    /// Principals granted.
    pub members: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Granted {
    /// The `metadata.generation` whose members are granted.
    pub generation: i64,
    /// A digest of the granted cluster names (`projects/P/locations/R/clusters/C`).
    pub clusters: String,
}

impl UserGroup {
    /// The ElastiCache user group ID: `spec.aws.userGroupId`, else `metadata.name`.
    pub fn aws_user_group_id(&self) -> &str {
        self.spec
            .aws
            .as_ref()
            .and_then(|a| a.user_group_id.as_deref())
            .or(self.metadata.name.as_deref())
            .unwrap_or_default()
    }
}

impl UserGroup {
    /// Check every rule of the spec and say what it asks of the cloud.
    pub fn desired(&self) -> Result<DesiredUserGroup, FieldErrors> {
        self.spec
            .desired(self.metadata.name.as_deref().unwrap_or_default())
    }
}

impl UserGroupSpec {
    pub fn desired(&self, name: &str) -> Result<DesiredUserGroup, FieldErrors> {
        let mut errs = FieldErrors::default();
        if let Some(r) = &self.region {
            errs.check("spec.region", rules::region(r));
        }
        let desired = match self.provider {
            Provider::Aws => {
                if self.gcp.is_some() {
                    errs.broken("spec.gcp", "must not be set when provider is aws");
                }
                if self.region.is_none() {
                    errs.broken("spec.region", "is required when provider is aws (ElastiCache users and groups are regional)");
                }
                match &self.aws {
                    None => {
                        errs.broken("spec.aws", "is required when provider is aws");
                        None
                    }
                    Some(aws) => Self::desired_aws(aws, name, self.region.as_deref(), &mut errs),
                }
            }
            Provider::Gcp => {
                if self.aws.is_some() {
                    errs.broken("spec.aws", "must not be set when provider is gcp");
                }
                match &self.gcp {
                    None => {
                        errs.broken("spec.gcp", "is required when provider is gcp");
                        None
                    }
                    Some(gcp) => {
                        if gcp.members.is_empty() {
                            errs.broken("spec.gcp.members", "must list at least one principal");
                        }
                        let mut seen = std::collections::BTreeSet::new();
                        for (i, m) in gcp.members.iter().enumerate() {
                            errs.check(format!("spec.gcp.members[{i}]"), rules::gcp_principal(m));
                            if !seen.insert(m) {
                                errs.broken(
                                    format!("spec.gcp.members[{i}]"),
                                    format!("{m:?} is listed twice"),
                                );
                            }
                        }
                        Some(DesiredUserGroup::Gcp(GcpUserGroup {
                            members: gcp.members.clone(),
                        }))
                    }
                }
            }
        };
        match desired {
            Some(d) if errs.is_empty() => Ok(d),
            _ => Err(errs),
        }
    }

    fn desired_aws(
        aws: &AwsUserGroupSpec,
        name: &str,
        region: Option<&str>,
        errs: &mut FieldErrors,
    ) -> Option<DesiredUserGroup> {
        let group_id = match &aws.user_group_id {
            Some(id) => {
                errs.check("spec.aws.userGroupId", rules::aws_user_id(id));
                id.as_str()
            }
            None => {
                errs.check(
                    "metadata.name",
                    rules::aws_user_id(name).map_err(|Broken(m)| {
                        Broken(format!(
                            "is the user group ID when spec.aws.userGroupId is unset and {m}; set spec.aws.userGroupId otherwise"
                        ))
                    }),
                );
                name
            }
        };
        if aws.users.is_empty() {
            errs.broken("spec.aws.users", "must list at least one user");
        }
        if aws.users.len() > 99 {
            errs.broken(
                "spec.aws.users",
                "an ElastiCache user group holds at most 100 users (one is the default user)",
            );
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut names = std::collections::BTreeSet::new();
        let mut users = Vec::with_capacity(aws.users.len());
        for (i, u) in aws.users.iter().enumerate() {
            let at = |f: &str| format!("spec.aws.users[{i}].{f}");
            errs.check(at("userId"), rules::aws_user_id(&u.user_id));
            if u.user_id == "default" {
                errs.broken(
                    at("userId"),
                    "the built-in default user has no password and full access; list your own user with userName: default instead, or none to get a disabled one",
                );
            }
            if !ids.insert(u.user_id.as_str()) {
                errs.broken(at("userId"), format!("{:?} is listed twice", u.user_id));
            }
            errs.check(at("userName"), rules::aws_user_name(&u.user_name));
            if !names.insert(u.user_name.as_str()) {
                errs.broken(
                    at("userName"),
                    format!(
                        "{:?} is used twice; ElastiCache refuses duplicate user names",
                        u.user_name
                    ),
                );
            }
            if u.authentication == UserAuthentication::Iam && u.user_name != u.user_id {
                errs.broken(
                    at("userName"),
                    "an iam user's userName must equal its userId",
                );
            }
            errs.check(at("accessString"), rules::access_string(&u.access_string));
            users.push(AwsUserModel {
                user_id: u.user_id.clone(),
                user_name: u.user_name.clone(),
                access_string: u.access_string.clone(),
                authentication: u.authentication,
            });
        }
        Some(DesiredUserGroup::Aws(AwsUserGroup {
            region: region?.to_owned(),
            user_group_id: group_id.to_owned(),
            engine: aws.engine,
            users,
        }))
    }
}
