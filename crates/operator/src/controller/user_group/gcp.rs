//! gcp: one conditional `roles/redis.dbConnectionUser` binding per cluster that lists the
//! group, written into the project IAM policy by read-modify-write; nothing else in the policy
//! is touched.

use std::collections::BTreeSet;
use std::sync::Arc;

use cache_operator_api::Provider;
use cache_operator_api::condition::{Summary, event, reason};
use cache_operator_api::model::GcpUserGroup;
use cache_operator_api::user_group::IamGrant;
use cache_operator_cloud::gcp::grants::{CONNECTION_ROLE, GrantOwner};
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::plan::{sorted, wanted_grants};
use super::status::Pass;
use crate::controller::error::{Error, Step};
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
    for project in &projects {
        let grants = wanted.get(project).cloned().unwrap_or_default();
        match pass
            .ctx
            .access
            .policies
            .apply(project, &owner, &grants)
            .await
        {
            Ok(applied) => {
                if applied.changed {
                    changed.push(project.clone());
                }
                // Record what holds now, project by project, so that a later failure never
                // forgets a grant that was written.
                pass.st.grants.retain(|x| &x.project != project);
                pass.st.grants.extend(grants.iter().map(|gr| IamGrant {
                    project: project.clone(),
                    cluster: gr.cluster.clone(),
                    members: sorted(&gr.members),
                }));
            }
            Err(e) => return pass.cloud_failure(e, Step::Apply).await,
        }
    }
    pass.st
        .grants
        .sort_by(|a, b| (&a.project, &a.cluster).cmp(&(&b.project, &b.cluster)));
    pass.st.clusters = cluster_names(&gcp_clusters);
    if !changed.is_empty() {
        let note = format!(
            "updated the {CONNECTION_ROLE} grants in project(s) {}: {} cluster(s), {} principal(s)",
            changed.join(", "),
            pass.st.grants.len(),
            g.members.len()
        );
        pass.note(EventType::Normal, event::GRANTS_UPDATED, "Grant", note)
            .await;
    }
    let msg = if pass.st.grants.is_empty() {
        "no gcp cluster lists this group in userGroupRefs yet; nothing is granted".to_owned()
    } else {
        format!(
            "{} principal(s) hold {CONNECTION_ROLE} on {} cluster(s)",
            g.members.len(),
            pass.st.grants.len()
        )
    };
    let then = Action::requeue(pass.ctx.resync());
    pass.finish(Summary::ready(reason::AVAILABLE, msg), then)
        .await
}

/// Remove every grant of the group, in the projects it granted in and those it would.
pub async fn cleanup(pass: &mut Pass<'_>, projects: BTreeSet<String>) -> Result<Cleanup, Error> {
    let owner = grant_owner(pass);
    for project in projects {
        if let Err(e) = pass.ctx.access.policies.apply(&project, &owner, &[]).await {
            return pass
                .cloud_failure(e, Step::Apply)
                .await
                .map(Cleanup::Pending);
        }
        pass.st.grants.retain(|g| g.project != project);
    }
    pass.note(
        EventType::Normal,
        event::GRANTS_REMOVED,
        "Delete",
        "removed every IAM grant this group held".into(),
    )
    .await;
    Ok(Cleanup::Done)
}
