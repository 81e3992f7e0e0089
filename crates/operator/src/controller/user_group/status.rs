//! Status: what a UserGroup's pass reports from what was done — the users and user group it
//! holds (aws), the grants per project (gcp), the clusters that list it, the events of the
//! writes made — and how the pass ends.

use cache_operator_api::UserGroup;
use cache_operator_api::condition::{Summary, reason};
use cache_operator_api::user_group::{Granted, IamGrants, STATUS_CLUSTERS_MAX, UserGroupStatus};
use cache_operator_cloud::gcp::grants::{CONNECTION_ROLE, POLICY_LIMIT};
use cache_operator_cloud::{CloudError, ErrorClass};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::execute::{Applied, AwsApplied, GcpApplied, Left};
use super::plan::{AwsPlan, Clusters, GcpPlan, Leave, Note, Plan, Stopping, Write};
use crate::controller::Ctx;
use crate::controller::ending::{Ending, Next, OnFailure, Outcome, cloud_failure};
use crate::controller::error::{Error, Step};
use crate::controller::skeleton::Cleanup;
use crate::controller::status::Draft;

/// A group's pass and the status it drafts.
pub type Pass<'a> = Draft<'a, UserGroup>;

/// Write the status of a pass over `obj` that did what `applied` says of `plan`, and end it.
pub async fn conclude(
    obj: &UserGroup,
    ctx: &Ctx,
    plan: Plan,
    applied: Applied,
) -> Result<Action, Error> {
    let pass = &mut Pass::new(obj, ctx);
    let ending = match (plan, applied) {
        (Plan::Stop(Stopping::Outcome(o)), _) => Ending::Report(o),
        (Plan::Stop(Stopping::Unreadable(e, clusters)), _) => {
            record_clusters(&mut pass.st, &clusters);
            failed(&pass.st, e, Step::Observe)
        }
        (Plan::Aws(plan), Applied::Aws(applied)) => aws(pass, *plan, applied).await,
        (Plan::Gcp(plan), Applied::Gcp(applied)) => gcp(pass, plan, applied).await,
        // Not a pairing `execute` makes; nothing was done.
        (Plan::Aws(_) | Plan::Gcp(_), _) => Ending::Quiet(Next::Now),
    };
    pass.end(ending).await
}

/// Record the clusters that list the group: a few names and the count, so the status stays
/// small however many there are.
fn record_clusters(st: &mut UserGroupStatus, clusters: &Clusters) {
    st.cluster_count = (clusters.count > 0).then(|| count(clusters.count));
    st.clusters = clusters
        .names
        .iter()
        .take(STATUS_CLUSTERS_MAX)
        .cloned()
        .collect();
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A failed cloud call: refusals stall until the spec changes, denials until permissions
/// change; a busy cloud is waited for; the rest backs off.
fn failed(st: &UserGroupStatus, e: CloudError, step: Step) -> Ending {
    let busy = Outcome::new(
        (),
        Summary::Progressing {
            reason: progress(st).into(),
            message: format!("the cloud is busy: {}", e.message),
        },
        Next::Soon,
    );
    let on = OnFailure {
        stalled: (),
        busy,
        retrying: Some(()),
    };
    cloud_failure(e, step, on)
}

/// How progress reads: an update once the group has an ID in the cloud, else its creation.
fn progress(st: &UserGroupStatus) -> &'static str {
    if st.user_group_id.is_some() {
        reason::UPDATING
    } else {
        reason::CREATING
    }
}

async fn publish(pass: &Pass<'_>, notes: &[Note]) {
    for n in notes {
        pass.note(EventType::Normal, n.reason, n.action, n.text.clone())
            .await;
    }
}

async fn aws(pass: &mut Pass<'_>, plan: AwsPlan, applied: AwsApplied) -> Ending {
    let st = &mut pass.st;
    record_clusters(st, &plan.clusters);
    st.users = plan.users.clone();
    for write in &plan.writes[..applied.made] {
        if let Write::DeleteUser { user_id, .. } = write {
            st.users.retain(|u| u != user_id);
        }
    }
    if let Some(group) = applied.created.as_ref().or(plan.group.as_ref()) {
        st.user_group_id = Some(group.user_group_id.clone());
        if !group.arn.is_empty() {
            st.cloud_resource = Some(group.arn.clone());
        }
    }
    publish(pass, &plan.notes).await;
    publish(pass, &applied.notes).await;
    let Some(e) = applied.failed else {
        return Ending::Report(plan.outcome);
    };
    match plan.writes.get(applied.made) {
        // Someone else made it between our look and our create: not ours.
        Some(Write::CreateUser { user, .. }) if e.is(ErrorClass::AlreadyExists) => {
            let id = &user.user_id;
            pass.st.users.retain(|u| u != id);
            Ending::Report(Outcome::new(
                (),
                Summary::Progressing {
                    reason: progress(&pass.st).into(),
                    message: format!("user {id} appeared meanwhile"),
                },
                Next::Soon,
            ))
        }
        _ => failed(&pass.st, e, Step::Apply),
    }
}

async fn gcp(pass: &mut Pass<'_>, plan: GcpPlan, applied: GcpApplied) -> Ending {
    let mut changed = Vec::new();
    let mut missing = std::collections::BTreeSet::new();
    // What holds now, project by project, so that a later failure never forgets a project
    // that was written.
    for (project, grants, granted) in &applied.written {
        if granted.changed {
            changed.push(project.clone());
        }
        missing.extend(granted.missing.iter().cloned());
        pass.st.grants.retain(|x| &x.project != project);
        if *grants > 0 {
            pass.st.grants.push(IamGrants {
                project: project.clone(),
                clusters: count(*grants),
                bindings: count(granted.bindings),
                members: count(plan.members.saturating_sub(granted.missing.len())),
            });
        }
    }
    if let Some(e) = applied.failed {
        if e.code == POLICY_LIMIT {
            // The group cannot fit: nothing of it was written in this project. Permissions of
            // others may shrink, so look again after the longest backoff.
            pass.st.granted = None;
            return Ending::Report(Outcome::new(
                (),
                Summary::stalled(reason::IAM_POLICY_LIMIT, e.message.clone()),
                Next::MaxBackoff,
            ));
        }
        return failed(&pass.st, e, Step::Apply);
    }
    pass.st.grants.sort_by(|a, b| a.project.cmp(&b.project));
    record_clusters(&mut pass.st, &plan.clusters);
    pass.st.missing_members = missing.iter().cloned().collect();
    pass.st.granted = Some(Granted {
        generation: pass.obj.metadata.generation.unwrap_or(0),
        clusters: plan.digest.clone(),
    });
    let covered = plan.covered;
    let holding = plan.members.saturating_sub(missing.len());
    if !changed.is_empty() {
        let note = format!(
            "updated the {CONNECTION_ROLE} grants in project(s) {}: {covered} cluster(s), {holding} principal(s)",
            changed.join(", "),
        );
        pass.note(
            EventType::Normal,
            cache_operator_api::condition::event::GRANTS_UPDATED,
            "Grant",
            note,
        )
        .await;
    }
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(String::as_str).collect();
        let msg = format!(
            "IAM refused {} member(s) that do not exist (deleted service accounts?): {}; the other {holding} member(s) hold {CONNECTION_ROLE} on {covered} cluster(s). Remove them from spec.gcp.members or create the accounts again",
            names.len(),
            names.join(", "),
        );
        return Ending::Report(Outcome::new(
            (),
            Summary::stalled(reason::MEMBER_NOT_FOUND, msg),
            Next::MaxBackoff,
        ));
    }
    let msg = if covered == 0 {
        "no gcp cluster lists this group in userGroupRefs yet; nothing is granted".to_owned()
    } else {
        format!(
            "{} principal(s) hold {CONNECTION_ROLE} on {covered} cluster(s)",
            plan.members
        )
    };
    Ending::Report(Outcome::new(
        (),
        Summary::ready(reason::AVAILABLE, msg),
        Next::Resync,
    ))
}

/// Say how a deletion stands: done (the finalizer may go), or still under way.
pub async fn left(obj: &UserGroup, ctx: &Ctx, plan: Leave, left: Left) -> Result<Cleanup, Error> {
    let pass = &mut Pass::new(obj, ctx);
    publish(pass, &left.notes).await;
    if left.done {
        return Ok(Cleanup::Done);
    }
    pass.st
        .grants
        .retain(|g| !left.ungranted.contains(&g.project));
    let ending = match (left.failed, plan) {
        (Some(e), _) => failed(&pass.st, e, Step::Apply),
        (None, Leave::InUse(o) | Leave::Attached(o) | Leave::DeleteGroup { outcome: o, .. }) => {
            Ending::Report(o)
        }
        (None, _) if !left.kept.is_empty() => Ending::Report(Outcome::new(
            (),
            Summary::Progressing {
                reason: progress(&pass.st).into(),
                message: format!("waiting to delete user(s) {}", left.kept.join(", ")),
            },
            Next::Soon,
        )),
        // Every other deletion is done when nothing failed.
        (None, _) => return Ok(Cleanup::Done),
    };
    pass.end(ending).await.map(Cleanup::Pending)
}
