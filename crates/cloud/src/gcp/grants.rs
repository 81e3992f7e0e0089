//! The Memorystore connection grants of one UserGroup in a project's IAM policy.
//!
//! Each grant is one conditional binding of `roles/redis.dbConnectionUser`, scoped to one
//! cluster by a resource-name prefix. The operator recognises its own bindings by the group's
//! UID in the condition description and by nothing else: every other binding, member and
//! field of the policy is written back exactly as it was read.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

use super::iam::{Binding, Expr, Policy, ResourceManager};
use crate::error::{ErrorClass, Result};

/// The role that lets a principal `AUTH` to a Memorystore cluster with an access token.
pub const CONNECTION_ROLE: &str = "roles/redis.dbConnectionUser";

/// IAM condition titles are limited to 100 characters.
const TITLE_MAX: usize = 100;

/// How many read-modify-write rounds a write gets when others keep writing in between.
const ATTEMPTS: u32 = 6;

/// The UserGroup a grant belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantOwner {
    pub uid: String,
    pub namespace: String,
    pub name: String,
}

impl GrantOwner {
    /// The condition description that marks a binding as this group's.
    pub fn marker(&self) -> String {
        format!("Managed by cache-operator; UserGroup uid {}", self.uid)
    }

    /// Whether a binding was written for this group.
    pub fn owns(&self, b: &Binding) -> bool {
        b.role == CONNECTION_ROLE
            && b.condition
                .as_ref()
                .is_some_and(|c| c.description == self.marker())
    }
}

/// One wanted grant: the connection role for `members` on the cluster named `cluster`
/// (`projects/P/locations/R/clusters/C`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub cluster: String,
    pub members: Vec<String>,
}

impl Grant {
    /// The policy binding that expresses this grant for `owner`.
    pub fn binding(&self, owner: &GrantOwner) -> Binding {
        let cluster_id = self.cluster.rsplit('/').next().unwrap_or(&self.cluster);
        let mut title = format!(
            "cache-operator {}/{} {cluster_id}",
            owner.namespace, owner.name
        );
        truncate(&mut title, TITLE_MAX);
        let mut members = self.members.clone();
        members.sort();
        members.dedup();
        Binding {
            role: CONNECTION_ROLE.into(),
            members,
            condition: Some(Expr {
                title,
                description: owner.marker(),
                // The documented recipe is a prefix on the cluster's name; the equality and the
                // trailing slash keep it from also matching clusters whose IDs merely start alike.
                expression: format!(
                    "resource.name == {name:?} || resource.name.startsWith({prefix:?})",
                    name = self.cluster,
                    prefix = format!("{}/", self.cluster)
                ),
                other: Default::default(),
            }),
            other: Default::default(),
        }
    }
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// What identifies a binding of ours when comparing: its condition and its members as a set.
fn key(b: &Binding) -> (String, String, BTreeSet<String>) {
    let c = b.condition.clone().unwrap_or_default();
    (c.title, c.expression, b.members.iter().cloned().collect())
}

/// The policy with `owner`'s bindings replaced by `wanted`, or `None` when it already holds
/// exactly those. Bindings of others keep their place, order and content; so does every other
/// field of the policy.
pub fn edit(policy: &Policy, owner: &GrantOwner, wanted: &[Grant]) -> Option<Policy> {
    let wanted: Vec<Binding> = wanted.iter().map(|g| g.binding(owner)).collect();
    let have: BTreeSet<_> = policy
        .bindings
        .iter()
        .filter(|b| owner.owns(b))
        .map(key)
        .collect();
    let want: BTreeSet<_> = wanted.iter().map(key).collect();
    let have_count = policy.bindings.iter().filter(|b| owner.owns(b)).count();
    if have == want && have_count == wanted.len() {
        return None;
    }
    let mut next = policy.clone();
    next.bindings.retain(|b| !owner.owns(b));
    next.bindings.extend(wanted);
    // Conditional bindings need policy version 3; it is also right for a policy without any.
    next.version = Some(3);
    Some(next)
}

/// Writes grants with read-modify-write rounds, one project at a time per process (so the
/// operator's own groups do not race each other), retrying when someone else wrote between our
/// read and our write.
#[derive(Clone)]
pub struct PolicyEditor {
    rm: ResourceManager,
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Whether the policy had to change.
    pub changed: bool,
    /// How many rounds were refused because of a concurrent change.
    pub conflicts: u32,
}

impl PolicyEditor {
    pub fn new(rm: ResourceManager) -> Self {
        PolicyEditor {
            rm,
            locks: Arc::default(),
        }
    }

    fn lock(&self, project: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .expect("project lock map")
            .entry(project.to_owned())
            .or_default()
            .clone()
    }

    /// Make `owner`'s bindings in `project` exactly `wanted` (empty: remove them all).
    pub async fn apply(
        &self,
        project: &str,
        owner: &GrantOwner,
        wanted: &[Grant],
    ) -> Result<Applied> {
        let lock = self.lock(project);
        let _held = lock.lock().await;
        let mut conflicts = 0;
        loop {
            let policy = self.rm.get_iam_policy(project).await?;
            let Some(next) = edit(&policy, owner, wanted) else {
                return Ok(Applied {
                    changed: false,
                    conflicts,
                });
            };
            match self.rm.set_iam_policy(project, &next).await {
                Ok(_) => {
                    return Ok(Applied {
                        changed: true,
                        conflicts,
                    });
                }
                Err(e) if e.is(ErrorClass::Conflict) && conflicts + 1 < ATTEMPTS => {
                    conflicts += 1;
                    // Someone else wrote in between: read again after a short, jittered pause.
                    let ms = rand::rng().random_range(20..=100) * u64::from(conflicts);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn owner() -> GrantOwner {
        GrantOwner {
            uid: "0b5f-uid".into(),
            namespace: "shop".into(),
            name: "orders-clients".into(),
        }
    }

    fn policy(v: serde_json::Value) -> Policy {
        serde_json::from_value(v).unwrap()
    }

    fn others() -> serde_json::Value {
        json!({
            "version": 1,
            "etag": "BwX1",
            "bindings": [
                {"role": "roles/viewer", "members": ["user:zed@example.com", "user:amy@example.com"]},
                {"role": CONNECTION_ROLE, "members": ["serviceAccount:legacy@p.iam.gserviceaccount.com"]},
                {"role": CONNECTION_ROLE, "members": ["user:ops@example.com"],
                 "condition": {"title": "hand-made", "description": "Managed by cache-operator; UserGroup uid someone-else",
                               "expression": "resource.name == \"projects/p/locations/r/clusters/x\" || resource.name.startsWith(\"projects/p/locations/r/clusters/x/\")"}}
            ],
            "auditConfigs": [{"service": "allServices", "auditLogConfigs": [{"logType": "DATA_READ"}]}]
        })
    }

    fn grant(cluster: &str, members: &[&str]) -> Grant {
        Grant {
            cluster: format!("projects/p/locations/r/clusters/{cluster}"),
            members: members.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn grants_are_added_next_to_everything_else_untouched() {
        let before = policy(others());
        let next = edit(
            &before,
            &owner(),
            &[grant(
                "orders",
                &["serviceAccount:b@p.iam", "serviceAccount:a@p.iam"],
            )],
        )
        .expect("a change");
        assert_eq!(next.version, Some(3));
        assert_eq!(next.etag, before.etag, "the etag read is the one written");
        assert_eq!(
            &next.bindings[..3],
            &before.bindings[..],
            "others unchanged, in place"
        );
        assert_eq!(next.other, before.other, "auditConfigs kept");
        let ours = serde_json::to_value(&next.bindings[3]).unwrap();
        assert_eq!(
            ours,
            json!({"role": CONNECTION_ROLE,
                   "members": ["serviceAccount:a@p.iam", "serviceAccount:b@p.iam"],
                   "condition": {"title": "cache-operator shop/orders-clients orders",
                                 "description": "Managed by cache-operator; UserGroup uid 0b5f-uid",
                                 "expression": "resource.name == \"projects/p/locations/r/clusters/orders\" || resource.name.startsWith(\"projects/p/locations/r/clusters/orders/\")"}})
        );
    }

    #[test]
    fn a_policy_that_already_holds_the_grants_is_not_written() {
        let wanted = [grant(
            "orders",
            &["serviceAccount:a@p.iam", "serviceAccount:b@p.iam"],
        )];
        let once = edit(&policy(others()), &owner(), &wanted).unwrap();
        // The server may return members in another order: still no write.
        let mut reread = once.clone();
        reread.bindings[3].members.reverse();
        assert_eq!(edit(&reread, &owner(), &wanted), None);
    }

    #[test]
    fn members_and_clusters_are_updated_and_removed_only_for_this_group() {
        let first = edit(
            &policy(others()),
            &owner(),
            &[
                grant(
                    "orders",
                    &["serviceAccount:a@p.iam", "serviceAccount:b@p.iam"],
                ),
                grant("payments", &["serviceAccount:a@p.iam"]),
            ],
        )
        .unwrap();
        assert_eq!(first.bindings.len(), 5);
        let second = edit(
            &first,
            &owner(),
            &[grant("orders", &["serviceAccount:a@p.iam"])],
        )
        .unwrap();
        assert_eq!(second.bindings.len(), 4);
        assert_eq!(second.bindings[3].members, vec!["serviceAccount:a@p.iam"]);
        let gone = edit(&second, &owner(), &[]).unwrap();
        assert_eq!(
            gone.bindings,
            policy(others()).bindings,
            "back to exactly the others"
        );
        assert_eq!(
            edit(&gone, &owner(), &[]),
            None,
            "nothing of ours left to remove"
        );
    }

    #[test]
    fn a_duplicate_of_our_binding_is_cleaned_up() {
        let wanted = [grant("orders", &["serviceAccount:a@p.iam"])];
        let mut doubled = edit(&policy(others()), &owner(), &wanted).unwrap();
        let dup = doubled.bindings[3].clone();
        doubled.bindings.push(dup);
        let fixed = edit(&doubled, &owner(), &wanted).expect("the duplicate goes");
        assert_eq!(fixed.bindings.len(), 4);
    }

    #[test]
    fn titles_stay_within_the_iam_limit() {
        let long = GrantOwner {
            uid: "u".into(),
            namespace: "n".repeat(63),
            name: "g".repeat(63),
        };
        let b = grant("c", &["user:a@example.com"]).binding(&long);
        assert_eq!(b.condition.unwrap().title.len(), TITLE_MAX);
    }
}
