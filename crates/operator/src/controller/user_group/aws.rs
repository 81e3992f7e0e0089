//! aws: the group's users (see `users`), the ElastiCache user group with its `default` user,
//! membership by difference, and deletion in dependency order. Attaching the group to
//! clusters is the RedisCluster controller's job.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use cache_operator_api::condition::{Summary, event, reason};
use cache_operator_api::model::AwsUserGroup;
use cache_operator_cloud::aws::OWNER_UID_TAG;
use cache_operator_cloud::aws::users::ObservedUserGroup;
use jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::dereference::rotation_interval;
use super::gcp::cluster_names;
use super::plan::{
    CloudStatus, Dropped, UserKind, WantedUser, dropped, membership_diff, wanted_users,
};
use super::records::{self, Records};
use super::status::Pass;
use super::users::{self, User, UserState};
use crate::controller::error::{Halt, HaltAt, Step};
use crate::controller::shared::ClusterGuard;
use crate::controller::skeleton::Cleanup;

fn record_group(pass: &mut Pass<'_>, group: &ObservedUserGroup) {
    pass.st.user_group_id = Some(group.user_group_id.clone());
    if !group.arn.is_empty() {
        pass.st.cloud_resource = Some(group.arn.clone());
    }
}

pub async fn apply(pass: &mut Pass<'_>, g: &AwsUserGroup) -> Result<Action, Halt> {
    let aws = pass.ctx.clouds.aws.users.clone();
    let wanted = wanted_users(g);
    let mut records = Records::load(pass).await?;
    // Forget password records of users that are no longer password users.
    let password_ids: BTreeSet<&str> = wanted
        .iter()
        .filter(|u| u.kind == UserKind::Password)
        .map(|u| u.user_id.as_str())
        .collect();
    records
        .entries
        .retain(|k, _| password_ids.contains(k.as_str()));

    let mut lookup: Vec<String> = wanted.iter().map(|u| u.user_id.clone()).collect();
    lookup.extend(pass.st.users.iter().cloned());
    lookup.sort();
    lookup.dedup();
    let observed = aws
        .describe_users(&g.region, &lookup)
        .await
        .halt(Step::Observe)?;

    // Record the users about to be created before creating them, so that a crash right
    // after never leaves a user this group made but does not know about.
    let absent: Vec<&WantedUser> = wanted
        .iter()
        .filter(|u| !observed.contains_key(&u.user_id))
        .collect();
    if !absent.is_empty() {
        for u in &absent {
            if !pass.st.users.contains(&u.user_id) {
                pass.st.users.push(u.user_id.clone());
            }
        }
        pass.st.users.sort();
        pass.persist().await?;
    }

    let mut busy: Vec<String> = Vec::new();
    let mut rotating: Vec<String> = Vec::new();
    for u in &wanted {
        let user = User {
            group: g,
            wanted: u,
            observed: observed.get(&u.user_id),
            interval: rotation_interval(pass.obj, &pass.ctx.stores, &u.user_id),
        };
        match users::ensure(pass, &mut records, user).await {
            Ok(UserState::Done) => {}
            Ok(UserState::Busy(why)) => busy.push(why),
            Ok(UserState::Rotating(why)) => rotating.push(why),
            Err(Halt::Busy(why)) => busy.push(format!("user {}: {why}", u.user_id)),
            Err(e) => {
                records.save(pass).await?;
                return Err(e);
            }
        }
    }
    records.save(pass).await?;

    // The group itself, once every user exists.
    let want_ids: Vec<String> = wanted.iter().map(|u| u.user_id.clone()).collect();
    let group = aws
        .describe_user_group(&g.region, &g.user_group_id)
        .await
        .halt(Step::Observe)?;
    let Some(group) = group else {
        if !absent.is_empty() && !busy.is_empty() {
            return Err(Halt::Busy(busy.join("; ")));
        }
        let created = aws
            .create_user_group(
                &g.region,
                &g.user_group_id,
                g.engine,
                &want_ids,
                &users::tags(pass),
            )
            .await
            .halt(Step::Apply)?;
        record_group(pass, &created);
        let note = format!(
            "creating user group {} with users {}",
            g.user_group_id,
            want_ids.join(", ")
        );
        pass.note(EventType::Normal, reason::CREATING, "Create", note)
            .await;
        return Err(Halt::Busy(format!(
            "creating user group {} in {}",
            g.user_group_id, g.region
        )));
    };
    record_group(pass, &group);
    if CloudStatus::of(&group.status) != CloudStatus::Active {
        return Err(Halt::Busy(format!(
            "user group {} is {}",
            group.user_group_id, group.status
        )));
    }
    let (add, remove) = membership_diff(&want_ids, &group.user_ids);
    if !add.is_empty() || !remove.is_empty() {
        if add.iter().any(|id| !observed.contains_key(id)) && !busy.is_empty() {
            return Err(Halt::Busy(busy.join("; ")));
        }
        aws.modify_user_group(&g.region, &g.user_group_id, &add, &remove)
            .await
            .halt(Step::Apply)?;
        let note = format!(
            "user group {}: adding [{}], removing [{}]",
            g.user_group_id,
            add.join(", "),
            remove.join(", ")
        );
        pass.note(EventType::Normal, reason::UPDATING, "Update", note.clone())
            .await;
        return Err(Halt::Busy(note));
    }

    // Users this group created and no longer lists: out of the group now, so delete them.
    let gone: Vec<String> = pass
        .st
        .users
        .iter()
        .filter(|id| !want_ids.contains(id))
        .cloned()
        .collect();
    for id in gone {
        match dropped(observed.get(&id)) {
            Dropped::Deleting => {
                busy.push(format!("user {id} is being deleted"));
                continue;
            }
            Dropped::Delete => {
                aws.delete_user(&g.region, &id).await.halt(Step::Apply)?;
                let note = format!("deleted user {id}, no longer listed in the group");
                pass.note(EventType::Normal, event::USER_DELETED, "Update", note)
                    .await;
            }
            Dropped::Forget => {}
        }
        pass.st.users.retain(|x| *x != id);
    }

    if !busy.is_empty() {
        return Err(Halt::Busy(busy.join("; ")));
    }
    let msg = format!(
        "user group {} is active with {} user(s){}",
        g.user_group_id,
        want_ids.len(),
        if pass.st.clusters.is_empty() {
            String::new()
        } else {
            let all = usize::try_from(pass.st.cluster_count.unwrap_or(0)).unwrap_or(0);
            let more = match all.saturating_sub(pass.st.clusters.len()) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            format!("; listed by {}{more}", pass.st.clusters.join(", "))
        }
    );
    let mut wait = pass.ctx.resync();
    if let Some(due) = records.next_due {
        let until = due.duration_since(Timestamp::now());
        let until = Duration::try_from(until).unwrap_or(Duration::ZERO);
        wait = wait.min(until.max(Duration::from_secs(1)));
    }
    if !rotating.is_empty() {
        tracing::debug!(group = %pass.obj.name_any(), rotating = %rotating.join("; "), "rotation under way");
        wait = wait.min(pass.ctx.timing.poll);
    }
    Ok(pass
        .finish(
            Summary::ready(reason::AVAILABLE, msg),
            Action::requeue(wait),
        )
        .await?)
}

/// Delete the user group (once no cluster uses it), then its users, then the password Secret.
pub async fn cleanup(pass: &mut Pass<'_>, clusters: &[Arc<ClusterGuard>]) -> Result<Cleanup, Halt> {
    if !clusters.is_empty() {
        let msg = format!(
            "cannot delete the user group while RedisCluster(s) {} list it in userGroupRefs",
            cluster_names(clusters).join(", ")
        );
        let then = Action::requeue(pass.ctx.resync());
        let action = pass
            .finish(Summary::progressing(reason::IN_USE, msg), then)
            .await?;
        return Ok(Cleanup::Pending(action));
    }
    let region = pass.obj.spec.region.clone().unwrap_or_default();
    let group_id = pass
        .st
        .user_group_id
        .clone()
        .unwrap_or_else(|| pass.obj.aws_user_group_id().to_owned());
    if region.is_empty() {
        return Ok(Cleanup::Done);
    }
    let aws = pass.ctx.clouds.aws.users.clone();
    let group = aws
        .describe_user_group(&region, &group_id)
        .await
        .halt(Step::Observe)?;
    if let Some(group) = group {
        if !group.replication_groups.is_empty() {
            let msg = format!(
                "cannot delete user group {group_id}: still attached to replication group(s) {}",
                group.replication_groups.join(", ")
            );
            let then = Action::requeue(pass.ctx.timing.poll.max(Duration::from_secs(5)));
            let action = pass
                .finish(Summary::progressing(reason::IN_USE, msg), then)
                .await?;
            return Ok(Cleanup::Pending(action));
        }
        let ours = group.arn.is_empty()
            || aws
                .tags(&region, &group.arn)
                .await
                .halt(Step::Observe)?
                .iter()
                .any(|(k, v)| k == OWNER_UID_TAG && Some(v) == pass.obj.uid().as_ref());
        if !ours {
            let note =
                format!("left user group {group_id} alone: it was not created for this object");
            pass.note(EventType::Normal, event::RELEASED, "Delete", note)
                .await;
            records::delete(pass).await?;
            return Ok(Cleanup::Done);
        }
        if CloudStatus::of(&group.status) != CloudStatus::Deleting {
            aws.delete_user_group(&region, &group_id)
                .await
                .halt(Step::Apply)?;
        }
        return Err(Halt::Busy(format!("deleting user group {group_id}")));
    }
    // The group is gone: now its users can go.
    let mut left = Vec::new();
    for id in pass.st.users.clone() {
        match aws.delete_user(&region, &id).await {
            Ok(()) => {}
            Err(e) if e.is(cache_operator_cloud::ErrorClass::FailedPrecondition) => {
                left.push(id.clone())
            }
            Err(e) => return Err(Halt::cloud(e, Step::Apply)),
        }
    }
    if !left.is_empty() {
        return Err(Halt::Busy(format!(
            "waiting to delete user(s) {}",
            left.join(", ")
        )));
    }
    records::delete(pass).await?;
    let note = format!(
        "deleted user group {group_id} and the {} user(s) created for it",
        pass.st.users.len()
    );
    pass.note(EventType::Normal, event::DELETED, "Delete", note)
        .await;
    Ok(Cleanup::Done)
}
