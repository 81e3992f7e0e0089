//! Observe: everything a UserGroup's pass reads, gathered into one [`Observed`] — the clusters
//! that list the group and the rotation intervals its bindings ask for (from the shared caches),
//! and for aws the group's password records (its Secret, read afresh), its users and the user
//! group as ElastiCache describes them. Reads only; what they mean is the plan's.

use std::collections::BTreeMap;
use std::time::Duration;

use cache_operator_api::model::{DesiredUserGroup, UserAuthentication};
use cache_operator_api::{FieldErrors, UserGroup};
use cache_operator_cloud::CloudError;
use cache_operator_cloud::aws::users::{ObservedUser, ObservedUserGroup};
use cache_operator_cloud::aws::{OWNER_TAG, OWNER_UID_TAG};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

use super::passwords::{self, PasswordEntry};
use crate::controller::Ctx;
use crate::controller::error::{At, Error, Step};
use crate::controller::refs::{self, Listing};

/// Everything a pass over a group reads.
#[derive(Clone, Debug)]
pub struct Observed {
    /// The clusters in the group's namespace that list it, by name.
    pub clusters: Vec<Listing>,
    /// The digest of the gcp clusters among them, as bindings compare it.
    pub gcp_digest: String,
    /// What the group tags what it creates with: its UID and `namespace/name`.
    pub tags: Vec<(String, String)>,
    /// aws: what the cloud and the group's Secret say; `Err` when the cloud could not be read.
    pub aws: Option<Result<AwsSeen, CloudError>>,
}

/// What an aws pass reads.
#[derive(Clone, Debug)]
pub struct AwsSeen {
    /// The password records; `None` when the group has no password Secret.
    pub records: Option<BTreeMap<String, PasswordEntry>>,
    /// The users the group wants or made, as ElastiCache describes them, by lowercase ID.
    pub users: BTreeMap<String, ObservedUser>,
    pub group: Option<ObservedUserGroup>,
    /// The rotation interval of each password user: the shortest any binding of it asks for.
    pub intervals: BTreeMap<String, Duration>,
    /// New passwords, for users that get one in this pass (the plan takes what it needs).
    pub fresh: Vec<String>,
}

/// What a deletion reads (aws): the user group, and whether it is this object's.
#[derive(Clone, Debug)]
pub struct Leaving {
    /// The clusters that still list the group.
    pub clusters: Vec<Listing>,
    /// The ServerlessCaches (`namespace/name`) that still name the group.
    pub serverless: Vec<String>,
    pub region: String,
    pub group_id: String,
    /// The group and whether its tags name this object (a group without an ARN is taken
    /// as ours).
    pub group: Option<(ObservedUserGroup, bool)>,
}

/// Read what a pass over `obj` wanting `desired` needs.
pub async fn observe(
    obj: &UserGroup,
    desired: &Result<DesiredUserGroup, FieldErrors>,
    ctx: &Ctx,
) -> Result<Observed, Error> {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let tags = vec![
        (OWNER_UID_TAG.to_owned(), obj.uid().unwrap_or_default()),
        (OWNER_TAG.to_owned(), format!("{ns}/{name}")),
    ];
    let (clusters, gcp_digest) = refs::listing(&ctx.stores.clusters_listing(&ns, &name));
    let mut seen = Observed {
        clusters,
        gcp_digest,
        tags,
        aws: None,
    };
    let Ok(DesiredUserGroup::Aws(g)) = desired else {
        return Ok(seen);
    };
    let password_users: Vec<String> = g
        .users
        .iter()
        .filter(|u| u.authentication == UserAuthentication::Password)
        .map(|u| u.user_id.to_ascii_lowercase())
        .collect();
    let intervals = refs::password_intervals(&ctx.stores, (&ns, &name), &password_users);
    // A fresh read, not the shared cache: the group must see its own last write, or it would
    // hand out a new password for one it already set.
    let records = Api::<Secret>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&passwords::secret_name(&name))
        .await
        .at(Step::Observe)?
        .map(|s| passwords::records(&s));
    let fresh = (0..=g.users.len()).map(|_| passwords::generate()).collect();
    // The users the group wants (its stand-in `default` user among them) or made.
    let mut lookup: Vec<String> = g
        .users
        .iter()
        .map(|u| u.user_id.to_ascii_lowercase())
        .chain([g.default_user_id()])
        .chain(obj.status.iter().flat_map(|s| s.users.iter().cloned()))
        .collect();
    lookup.sort();
    lookup.dedup();
    let users = &ctx.clouds.aws.users;
    let read = async {
        let found = users.describe_users(&g.region, &lookup).await?;
        let group = users
            .describe_user_group(&g.region, &g.user_group_id)
            .await?;
        Ok::<_, CloudError>((found, group))
    };
    seen.aws = Some(read.await.map(|(users, group)| AwsSeen {
        records,
        users,
        group,
        intervals,
        fresh,
    }));
    Ok(seen)
}

/// What a deletion of `obj` reads.
pub async fn leaving(obj: &UserGroup, ctx: &Ctx) -> Result<Leaving, CloudError> {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let (clusters, _) = refs::listing(&ctx.stores.clusters_listing(&ns, &name));
    let region = obj.spec.region.clone().unwrap_or_default();
    let group_id = obj
        .status
        .as_ref()
        .and_then(|s| s.user_group_id.clone())
        .unwrap_or_else(|| obj.aws_user_group_id().to_owned());
    let mut out = Leaving {
        clusters,
        serverless: ctx.stores.serverless_naming(&ns, &name),
        region,
        group_id,
        group: None,
    };
    if !out.clusters.is_empty() || out.region.is_empty() {
        return Ok(out);
    }
    let users = &ctx.clouds.aws.users;
    if let Some(group) = users
        .describe_user_group(&out.region, &out.group_id)
        .await?
    {
        let ours = group.arn.is_empty()
            || users
                .tags(&out.region, &group.arn)
                .await?
                .iter()
                .any(|(k, v)| k == OWNER_UID_TAG && Some(v) == obj.uid().as_ref());
        out.group = Some((group, ours));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::shared::fill::Fill;
    use cache_operator_api::model::DEFAULT_PASSWORD_INTERVAL;
    use cache_operator_testkit::{binding, cluster};

    #[test]
    fn the_shortest_interval_of_a_users_bindings_wins() {
        let b = |name: &str, user: &str, every: Option<&str>| {
            let mut m = binding::new(name, "sessions", "users")
                .namespace("shop")
                .binding_user(user);
            if let Some(every) = every {
                m = m.set("/spec/rotation/interval", every);
            }
            m.parse()
        };
        let stores = Fill::default()
            .binding(b("a", "app", Some("48h")))
            .binding(b("b", "app", Some("24h")))
            .binding(b("c", "other", Some("1h")))
            .cluster(
                cluster::aws("sessions")
                    .namespace("shop")
                    .user_groups(&["users"])
                    .parse(),
            )
            .cluster(cluster::aws("elsewhere").namespace("shop").parse())
            .build();
        let every = refs::password_intervals(
            &stores,
            ("shop", "users"),
            &["app".to_owned(), "nobody".to_owned()],
        );
        assert_eq!(every["app"], Duration::from_secs(24 * 3600));
        assert_eq!(every["nobody"], DEFAULT_PASSWORD_INTERVAL);
        let (listed, _) = refs::listing(&stores.clusters_listing("shop", "users"));
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "shop/sessions");
    }
}
