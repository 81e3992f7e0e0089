//! The Memorystore connection grants of one UserGroup in a project's IAM policy.
//!
//! A group's grants are conditional bindings of `roles/redis.dbConnectionUser`: one binding
//! per [`CLUSTERS_PER_CONDITION`] clusters, whose condition names each cluster (by its name and
//! its resource-name prefix), so a group's members occur once per chunk of clusters rather than
//! once per cluster. IAM's limits are checked before writing ([`check_limits`]); a group that
//! cannot fit is refused here, with the numbers, and nothing is written. The operator
//! recognises its own bindings by the group's UID in the condition description and by nothing
//! else: every other binding, member and field of the policy is written back exactly as it was
//! read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;

use super::iam::{Binding, Expr, Policy, ResourceManager};
use crate::error::{CloudError, ErrorClass, Result};

/// The role that lets a principal `AUTH` to a Memorystore cluster with an access token.
pub const CONNECTION_ROLE: &str = "roles/redis.dbConnectionUser";

/// The same for a Memorystore for Valkey instance (permission `memorystore.instances.connect`).
pub const VALKEY_CONNECTION_ROLE: &str = "roles/memorystore.dbConnectionUser";

/// The connection role of the resource a grant names: Valkey instances
/// (`projects/P/locations/R/instances/I`) have their own.
pub fn connection_role(resource: &str) -> &'static str {
    if resource.contains("/instances/") {
        VALKEY_CONNECTION_ROLE
    } else {
        CONNECTION_ROLE
    }
}

/// Principal kinds Memorystore for Valkey's IAM authentication accepts: "a user account, and a
/// service account"; groups and domains are not supported.
pub fn valkey_accepts(member: &str) -> bool {
    member.starts_with("user:") || member.starts_with("serviceAccount:")
}

/// IAM condition titles are limited to 100 characters.
const TITLE_MAX: usize = 100;

/// How many read-modify-write rounds a write gets when others keep writing in between.
const ATTEMPTS: u32 = 6;

/// IAM policy limits ("each occurrence of a principal counts"; conditions and conditional
/// bindings as IAM's quotas page states them).
pub const MAX_PRINCIPALS: usize = 1_500;
pub const MAX_GROUPS_AND_DOMAINS: usize = 250;
pub const MAX_LOGICAL_OPERATORS: usize = 12;
pub const MAX_CONDITIONAL_BINDINGS_PER_PRINCIPAL: usize = 20;

/// Clusters one condition covers: each is `name == C || name.startsWith(C/)` (one operator)
/// and they are joined by `||`, so k clusters take 2k − 1 operators.
pub const CLUSTERS_PER_CONDITION: usize = MAX_LOGICAL_OPERATORS.div_ceil(2);

/// The error code of a group whose grants cannot fit in the policy.
pub const POLICY_LIMIT: &str = "IamPolicyLimit";

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
        (b.role == CONNECTION_ROLE || b.role == VALKEY_CONNECTION_ROLE)
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

/// The condition of one chunk of clusters: each cluster by its name or its resource-name
/// prefix (the documented recipe; the equality and the trailing slash keep it from also
/// matching clusters whose IDs merely start alike).
fn condition_for(clusters: &[String]) -> String {
    clusters
        .iter()
        .map(|c| {
            format!(
                "resource.name == {c:?} || resource.name.startsWith({prefix:?})",
                prefix = format!("{c}/")
            )
        })
        .collect::<Vec<_>>()
        .join(" || ")
}

/// The policy bindings that express `wanted` for `owner`: grants with the same members share
/// bindings, one per [`CLUSTERS_PER_CONDITION`] clusters.
pub fn bindings(owner: &GrantOwner, wanted: &[Grant]) -> Vec<Binding> {
    let mut by_members: BTreeMap<(&'static str, Vec<String>), BTreeSet<String>> = BTreeMap::new();
    for g in wanted {
        let mut members = g.members.clone();
        members.sort();
        members.dedup();
        by_members
            .entry((connection_role(&g.cluster), members))
            .or_default()
            .insert(g.cluster.clone());
    }
    let mut out = Vec::new();
    for ((role, members), clusters) in by_members {
        if members.is_empty() {
            continue;
        }
        let clusters: Vec<String> = clusters.into_iter().collect();
        for chunk in clusters.chunks(CLUSTERS_PER_CONDITION) {
            let first = chunk[0].rsplit('/').next().unwrap_or(&chunk[0]);
            let mut title = format!("cache-operator {}/{} {first}", owner.namespace, owner.name);
            if chunk.len() > 1 {
                title.push_str(&format!(" +{}", chunk.len() - 1));
            }
            truncate(&mut title, TITLE_MAX);
            out.push(Binding {
                role: role.into(),
                members: members.clone(),
                condition: Some(Expr {
                    title,
                    description: owner.marker(),
                    expression: condition_for(chunk),
                    other: Default::default(),
                }),
                other: Default::default(),
            });
        }
    }
    out
}

impl Grant {
    /// The policy binding that expresses this grant alone for `owner`.
    pub fn binding(&self, owner: &GrantOwner) -> Binding {
        bindings(owner, std::slice::from_ref(self))
            .pop()
            .expect("a grant with members is one binding")
    }
}

/// Logical operators in a CEL condition, as IAM counts them.
pub fn logical_operators(expression: &str) -> usize {
    let mut n = expression.matches("&&").count() + expression.matches("||").count();
    let mut in_string = false;
    let mut prev = ' ';
    for ch in expression.chars() {
        match ch {
            '"' if prev != '\\' => in_string = !in_string,
            '!' if !in_string => n += 1,
            _ => {}
        }
        prev = ch;
    }
    // `!=` is a comparison, not a negation.
    n - expression.matches("!=").count()
}

/// Refuses a policy IAM would refuse because of `owner`'s bindings, saying which limit and
/// with the numbers; the bindings of others are counted, never judged.
pub fn check_limits(next: &Policy, owner: &GrantOwner, project: &str) -> Result<()> {
    let refuse = |message: String| {
        Err(CloudError::new(
            ErrorClass::QuotaExceeded,
            POLICY_LIMIT,
            message,
            "iam setIamPolicy",
        ))
    };
    let ours: Vec<&Binding> = next.bindings.iter().filter(|b| owner.owns(b)).collect();
    if ours.is_empty() {
        return Ok(());
    }
    let total: usize = next.bindings.iter().map(|b| b.members.len()).sum();
    let mine: usize = ours.iter().map(|b| b.members.len()).sum();
    if total > MAX_PRINCIPALS {
        let members: BTreeSet<&String> = ours.iter().flat_map(|b| &b.members).collect();
        return refuse(format!(
            "the grants do not fit in the IAM policy of project {project}: they take {mine} principal occurrences ({} member(s) in {} binding(s), one per {CLUSTERS_PER_CONDITION} clusters), the policy's other bindings {}, {total} in all, over IAM's limit of {MAX_PRINCIPALS} per policy; nothing was written. Fewer members or clusters per group (or several groups over fewer clusters each) fit",
            members.len(),
            ours.len(),
            total - mine,
        ));
    }
    let groups = next
        .bindings
        .iter()
        .flat_map(|b| &b.members)
        .filter(|m| m.starts_with("group:") || m.starts_with("domain:"))
        .count();
    if groups > MAX_GROUPS_AND_DOMAINS {
        return refuse(format!(
            "the grants do not fit in the IAM policy of project {project}: it would hold {groups} group: and domain: principals, over IAM's limit of {MAX_GROUPS_AND_DOMAINS}; nothing was written"
        ));
    }
    for b in &ours {
        let ops = b
            .condition
            .as_ref()
            .map_or(0, |c| logical_operators(&c.expression));
        if ops > MAX_LOGICAL_OPERATORS {
            return refuse(format!(
                "a condition of the grants in project {project} has {ops} logical operators, over IAM's limit of {MAX_LOGICAL_OPERATORS}; nothing was written"
            ));
        }
    }
    // IAM's limit is per role and principal.
    let mut per_member: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for b in next.bindings.iter().filter(|b| {
        (b.role == CONNECTION_ROLE || b.role == VALKEY_CONNECTION_ROLE) && b.condition.is_some()
    }) {
        for m in &b.members {
            *per_member.entry((b.role.as_str(), m)).or_default() += 1;
        }
    }
    let mine: BTreeSet<(&str, &String)> = ours
        .iter()
        .flat_map(|b| b.members.iter().map(|m| (b.role.as_str(), m)))
        .collect();
    if let Some(((role, m), n)) = mine
        .iter()
        .map(|(r, m)| {
            (
                (r, m),
                per_member.get(&(*r, m.as_str())).copied().unwrap_or(0),
            )
        })
        .find(|(_, n)| *n > MAX_CONDITIONAL_BINDINGS_PER_PRINCIPAL)
    {
        return refuse(format!(
            "the grants do not fit in the IAM policy of project {project}: {m} would be in {n} conditional bindings of {role} (one per {CLUSTERS_PER_CONDITION} clusters of each of its groups), over IAM's limit of {MAX_CONDITIONAL_BINDINGS_PER_PRINCIPAL}; nothing was written"
        ));
    }
    Ok(())
}

/// A digest of a set of cluster names: what a group's status says it granted, and what an
/// AccessBinding compares with the clusters it knows list the group.
pub fn clusters_digest<'a>(clusters: impl IntoIterator<Item = &'a str>) -> String {
    let set: BTreeSet<&str> = clusters.into_iter().collect();
    let joined = set.into_iter().collect::<Vec<_>>().join("\n");
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, joined.as_bytes()).to_string()
}

/// `Service account EMAIL does not exist.`: the member IAM refused, as a policy member.
pub fn missing_member(e: &CloudError) -> Option<String> {
    if !e.is(ErrorClass::InvalidArgument) {
        return None;
    }
    let email = e
        .message
        .strip_prefix("Service account ")?
        .strip_suffix(" does not exist.")?;
    Some(format!("serviceAccount:{email}"))
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
    let wanted: Vec<Binding> = bindings(owner, wanted);
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Whether the policy had to change.
    pub changed: bool,
    /// How many rounds were refused because of a concurrent change.
    pub conflicts: u32,
    /// Members IAM refused as not existing (deleted service accounts): left out, so that the
    /// group's other members keep their grants.
    pub missing: Vec<String>,
    /// The bindings of the group now in the policy.
    pub bindings: usize,
}

/// The conditional IAM grants of the groups, per project.
#[async_trait]
pub trait Grants: Send + Sync {
    /// Make `owner`'s bindings in `project` exactly `wanted` (empty: remove them all), within
    /// IAM's limits (see [`check_limits`]); never touch a binding of anyone else.
    async fn apply(&self, project: &str, owner: &GrantOwner, wanted: &[Grant]) -> Result<Applied>;
}

#[async_trait]
impl Grants for PolicyEditor {
    async fn apply(&self, project: &str, owner: &GrantOwner, wanted: &[Grant]) -> Result<Applied> {
        self.write(project, owner, wanted).await
    }
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

    /// See [`Grants::apply`].
    async fn write(&self, project: &str, owner: &GrantOwner, wanted: &[Grant]) -> Result<Applied> {
        let lock = self.lock(project);
        let _held = lock.lock().await;
        let mut conflicts = 0;
        let mut missing: Vec<String> = Vec::new();
        loop {
            let now: Vec<Grant> = wanted
                .iter()
                .map(|g| Grant {
                    cluster: g.cluster.clone(),
                    members: g
                        .members
                        .iter()
                        .filter(|m| !missing.contains(m))
                        .cloned()
                        .collect(),
                })
                .collect();
            let bindings = bindings(owner, &now).len();
            let policy = self.rm.get_iam_policy(project).await?;
            let Some(next) = edit(&policy, owner, &now) else {
                return Ok(Applied {
                    changed: false,
                    conflicts,
                    missing,
                    bindings,
                });
            };
            check_limits(&next, owner, project)?;
            match self.rm.set_iam_policy(project, &next).await {
                Ok(_) => {
                    return Ok(Applied {
                        changed: true,
                        conflicts,
                        missing,
                        bindings,
                    });
                }
                Err(e) if e.is(ErrorClass::Conflict) && conflicts + 1 < ATTEMPTS => {
                    conflicts += 1;
                    // Someone else wrote in between: read again after a short, jittered pause.
                    let ms = rand::rng().random_range(20..=100) * u64::from(conflicts);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                // A member that does not exist (a deleted service account): leave it out and
                // write the rest, so one member does not cost the group every grant.
                Err(e) => match missing_member(&e) {
                    Some(m)
                        if !missing.contains(&m)
                            && wanted.iter().any(|g| g.members.contains(&m)) =>
                    {
                        missing.push(m);
                    }
                    _ => return Err(e),
                },
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

    #[test]
    fn valkey_instances_get_their_own_role_in_their_own_bindings() {
        let instance = Grant {
            cluster: "projects/p/locations/r/instances/orders".into(),
            members: vec!["user:amy@example.com".into()],
        };
        let both = [
            grant("sessions", &["user:amy@example.com"]),
            instance.clone(),
        ];
        let next = edit(&policy(others()), &owner(), &both).expect("a change");
        let ours: Vec<&Binding> = next.bindings.iter().filter(|b| owner().owns(b)).collect();
        let roles: Vec<&str> = ours.iter().map(|b| b.role.as_str()).collect();
        assert_eq!(roles, [VALKEY_CONNECTION_ROLE, CONNECTION_ROLE]);
        let valkey = ours[0].condition.as_ref().unwrap();
        assert_eq!(
            valkey.expression,
            "resource.name == \"projects/p/locations/r/instances/orders\" || resource.name.startsWith(\"projects/p/locations/r/instances/orders/\")"
        );
        assert!(edit(&next, &owner(), &both).is_none(), "applied once");
        assert!(valkey_accepts("serviceAccount:a@p.iam.gserviceaccount.com"));
        assert!(!valkey_accepts("group:devs@example.com"));
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

    fn clusters(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("projects/p/locations/r/clusters/c{i:03}"))
            .collect()
    }

    fn group_grants(clusters: &[String], members: &[String]) -> Vec<Grant> {
        clusters
            .iter()
            .map(|c| Grant {
                cluster: c.clone(),
                members: members.to_vec(),
            })
            .collect()
    }

    fn members(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("serviceAccount:m{i}@p.iam.gserviceaccount.com"))
            .collect()
    }

    #[test]
    fn one_binding_covers_several_clusters_within_the_operator_limit() {
        let b = bindings(&owner(), &group_grants(&clusters(13), &members(2)));
        assert_eq!(b.len(), 3, "6 + 6 + 1 clusters");
        for binding in &b {
            let c = binding.condition.as_ref().unwrap();
            assert!(
                logical_operators(&c.expression) <= MAX_LOGICAL_OPERATORS,
                "{c:?}"
            );
            assert_eq!(binding.members, members(2));
        }
        assert_eq!(
            logical_operators(&b[0].condition.as_ref().unwrap().expression),
            11
        );
        assert!(b[0].condition.as_ref().unwrap().title.ends_with("c000 +5"));
        assert_eq!(logical_operators("!(a && b) || c != d"), 3);
    }

    #[test]
    fn a_thousand_members_on_three_clusters_fit_and_on_seven_say_why_not() {
        let big = members(1000);
        let fits = edit(
            &policy(others()),
            &owner(),
            &group_grants(&clusters(3), &big),
        )
        .unwrap();
        let ours: Vec<&Binding> = fits.bindings.iter().filter(|b| owner().owns(b)).collect();
        assert_eq!(ours.len(), 1, "one binding for three clusters");
        check_limits(&fits, &owner(), "p").expect("1,000 occurrences and 3 others fit");

        let over = edit(
            &policy(others()),
            &owner(),
            &group_grants(&clusters(7), &big),
        )
        .unwrap();
        let e = check_limits(&over, &owner(), "p").unwrap_err();
        assert_eq!(e.code, POLICY_LIMIT);
        assert_eq!(e.class, ErrorClass::QuotaExceeded);
        for number in [
            "2000 principal occurrences",
            "1000 member(s) in 2 binding(s)",
            "other bindings 4",
            "2004 in all",
            "limit of 1500",
        ] {
            assert!(e.message.contains(number), "{number}: {}", e.message);
        }
    }

    #[test]
    fn a_member_in_too_many_conditional_bindings_is_refused() {
        let one = members(1);
        let next = edit(
            &policy(others()),
            &owner(),
            &group_grants(&clusters(121), &one),
        )
        .unwrap();
        let e = check_limits(&next, &owner(), "p").unwrap_err();
        assert!(
            e.message.contains("21 conditional bindings"),
            "{}",
            e.message
        );
        let next = edit(
            &policy(others()),
            &owner(),
            &group_grants(&clusters(120), &one),
        )
        .unwrap();
        check_limits(&next, &owner(), "p").expect("20 bindings of 6 clusters fit");
    }

    #[test]
    fn a_refused_member_is_read_from_the_services_words() {
        let e = CloudError::new(
            ErrorClass::InvalidArgument,
            "INVALID_ARGUMENT",
            "Service account gone@p.iam.gserviceaccount.com does not exist.",
            "iam setIamPolicy",
        );
        assert_eq!(
            missing_member(&e).as_deref(),
            Some("serviceAccount:gone@p.iam.gserviceaccount.com")
        );
        let other = CloudError::new(ErrorClass::InvalidArgument, "X", "Invalid policy.", "iam");
        assert_eq!(missing_member(&other), None);
    }

    #[test]
    fn the_clusters_digest_is_a_set() {
        assert_eq!(
            clusters_digest(["a", "b", "a"]),
            clusters_digest(["b", "a"])
        );
        assert_ne!(clusters_digest(["a"]), clusters_digest(["a", "b"]));
    }
}
