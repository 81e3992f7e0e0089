//! gcp: conditional `roles/redis.dbConnectionUser` bindings for the members, one per few
//! clusters that list the group, written into each project's IAM policy by read-modify-write;
//! nothing else in the policy is touched. A group that cannot fit IAM's limits is refused
//! before anything is written and says so with the numbers; a member IAM does not know
//! (a deleted service account) is left out and named.

use std::collections::BTreeSet;
use std::sync::Arc;

use cache_operator_api::Provider;
use cache_operator_api::condition::{Summary, event, reason};
use cache_operator_api::model::GcpUserGroup;
use cache_operator_api::user_group::{Granted, IamGrants, STATUS_CLUSTERS_MAX};
use cache_operator_cloud::gcp::grants::{CONNECTION_ROLE, GrantOwner, POLICY_LIMIT};
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::plan::{sorted, wanted_grants};
use super::status::Pass;
use crate::controller::error::{Error, Step};
use crate::controller::refs::granted_clusters_digest;
use crate::controller::shared::{ClusterGuard, parsed};
use crate::controller::skeleton::Cleanup;

fn grant_owner(pass: &Pass<'_>) -> GrantOwner {
    GrantOwner {
        uid: pass.obj.uid().unwrap_or_default(),
        namespace: pass.obj.namespace().unwrap_or_default(),
        name: pass.obj.name_any(),
    }
}

pub fn cluster_names(clusters: &[Arc<ClusterGuard>]) -> Vec<String> {
    clusters
        .iter()
        .map(|c| format!("{}/{}", c.namespace().unwrap_or_default(), c.name_any()))
        .collect()
}

/// Record the clusters that list the group: a few names and the count, so the status stays
/// small however many there are.
pub fn record_clusters(
    st: &mut cache_operator_api::user_group::UserGroupStatus,
    names: Vec<String>,
) {
    st.cluster_count = (!names.is_empty()).then(|| i32::try_from(names.len()).unwrap_or(i32::MAX));
    st.clusters = names.into_iter().take(STATUS_CLUSTERS_MAX).collect();
}

pub fn on(clusters: &[Arc<ClusterGuard>], provider: Provider) -> Vec<Arc<ClusterGuard>> {
    clusters
        .iter()
        .filter(|c| parsed(c).is_some_and(|c| c.spec.provider == provider))
        .cloned()
        .collect()
}

pub async fn apply(
    pass: &mut Pass<'_>,
    g: &GcpUserGroup,
    clusters: &[Arc<ClusterGuard>],
) -> Result<Action, Error> {
    let gcp_clusters = on(clusters, Provider::Gcp);
    let wanted = wanted_grants(g, &gcp_clusters);
    let mut projects: BTreeSet<String> = wanted.keys().cloned().collect();
    projects.extend(pass.st.grants.iter().map(|g| g.project.clone()));
    let owner = grant_owner(pass);
    let mut changed = Vec::new();
    let mut missing: BTreeSet<String> = BTreeSet::new();
    for project in &projects {
        let grants = wanted.get(project).cloned().unwrap_or_default();
        match pass
            .ctx
            .clouds
            .gcp
            .grants
            .apply(project, &owner, &grants)
            .await
        {
            Ok(applied) => {
                if applied.changed {
                    changed.push(project.clone());
                }
                missing.extend(applied.missing.iter().cloned());
                // Record what holds now, project by project, so that a later failure never
                // forgets a project that was written.
                pass.st.grants.retain(|x| &x.project != project);
                if !grants.is_empty() {
                    let members = sorted(&g.members)
                        .len()
                        .saturating_sub(applied.missing.len());
                    pass.st.grants.push(IamGrants {
                        project: project.clone(),
                        clusters: count(grants.len()),
                        bindings: count(applied.bindings),
                        members: count(members),
                    });
                }
            }
            Err(e) if e.code == POLICY_LIMIT => {
                // The group cannot fit: nothing of it was written in this project. Permissions
                // of others may shrink, so look again after the longest backoff.
                pass.st.granted = None;
                let summary = Summary::stalled(reason::IAM_POLICY_LIMIT, e.message.clone());
                let then = Action::requeue(pass.ctx.timing.max_backoff);
                return pass.finish(summary, then).await;
            }
            Err(e) => return pass.cloud_failure(e, Step::Apply).await,
        }
    }
    pass.st.grants.sort_by(|a, b| a.project.cmp(&b.project));
    record_clusters(&mut pass.st, cluster_names(&gcp_clusters));
    pass.st.missing_members = missing.iter().cloned().collect();
    pass.st.granted = Some(Granted {
        generation: pass.obj.metadata.generation.unwrap_or(0),
        clusters: granted_clusters_digest(&gcp_clusters),
    });
    let covered: usize = wanted.values().map(Vec::len).sum();
    if !changed.is_empty() {
        let note = format!(
            "updated the {CONNECTION_ROLE} grants in project(s) {}: {covered} cluster(s), {} principal(s)",
            changed.join(", "),
            g.members.len().saturating_sub(missing.len())
        );
        pass.note(EventType::Normal, event::GRANTS_UPDATED, "Grant", note)
            .await;
    }
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(String::as_str).collect();
        let msg = format!(
            "IAM refused {} member(s) that do not exist (deleted service accounts?): {}; the other {} member(s) hold {CONNECTION_ROLE} on {covered} cluster(s). Remove them from spec.gcp.members or create the accounts again",
            names.len(),
            names.join(", "),
            g.members.len().saturating_sub(missing.len()),
        );
        let then = Action::requeue(pass.ctx.timing.max_backoff);
        return pass
            .finish(Summary::stalled(reason::MEMBER_NOT_FOUND, msg), then)
            .await;
    }
    let msg = if covered == 0 {
        "no gcp cluster lists this group in userGroupRefs yet; nothing is granted".to_owned()
    } else {
        format!(
            "{} principal(s) hold {CONNECTION_ROLE} on {covered} cluster(s)",
            g.members.len()
        )
    };
    let then = Action::requeue(pass.ctx.resync());
    pass.finish(Summary::ready(reason::AVAILABLE, msg), then)
        .await
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Remove every grant of the group, in the projects it granted in and those it would.
pub async fn cleanup(pass: &mut Pass<'_>, projects: BTreeSet<String>) -> Result<Cleanup, Error> {
    let owner = grant_owner(pass);
    for project in projects {
        if let Err(e) = pass
            .ctx
            .clouds
            .gcp
            .grants
            .apply(&project, &owner, &[])
            .await
        {
            return pass
                .cloud_failure(e, Step::Apply)
                .await
                .map(Cleanup::Pending);
        }
        pass.st.grants.retain(|g| g.project != project);
    }
    pass.st.granted = None;
    pass.note(
        EventType::Normal,
        event::GRANTS_REMOVED,
        "Delete",
        "removed every IAM grant this group held".into(),
    )
    .await;
    Ok(Cleanup::Done)
}
