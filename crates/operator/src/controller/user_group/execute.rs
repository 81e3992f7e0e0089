//! Execute: the only step of a UserGroup that writes — the plan's writes in order, each
//! recorded before the cloud call that depends on it (the users about to be created in the
//! status, a rotation's step in the password Secret), stopping at the first that fails. Returns
//! what was done.

use std::collections::BTreeMap;

use cache_operator_api::UserGroup;
use cache_operator_api::condition::event;
use cache_operator_cloud::aws::users::ObservedUserGroup;
use cache_operator_cloud::gcp::grants::{Applied as Granted, GrantOwner};
use cache_operator_cloud::{CloudError, ErrorClass};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::passwords::{self, PasswordEntry};
use super::plan::{AwsPlan, GcpPlan, Leave, Note, Plan, Write};
use crate::controller::error::{At, Error, Step};
use crate::controller::{Ctx, MANAGER};

/// What an aws pass did.
#[derive(Clone, Debug, Default)]
pub struct AwsApplied {
    /// How many of the plan's writes were made (the first ones).
    pub made: usize,
    /// Why the next one failed.
    pub failed: Option<CloudError>,
    /// The user group as its create answered.
    pub created: Option<ObservedUserGroup>,
    /// The events of the writes made.
    pub notes: Vec<Note>,
}

/// What a gcp pass did: each project written (its grants and what IAM did), and why the next
/// failed.
#[derive(Clone, Debug, Default)]
pub struct GcpApplied {
    pub written: Vec<(String, usize, Granted)>,
    pub failed: Option<CloudError>,
}

#[derive(Clone, Debug)]
pub enum Applied {
    Nothing,
    Aws(AwsApplied),
    Gcp(GcpApplied),
}

fn secrets(ctx: &Ctx, obj: &UserGroup) -> Api<Secret> {
    Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default())
}

/// The owner the grants of `obj` are written for.
pub fn grant_owner(obj: &UserGroup) -> GrantOwner {
    GrantOwner {
        uid: obj.uid().unwrap_or_default(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
    }
}

/// Carry out `plan` for `obj`.
pub async fn execute(ctx: &Ctx, obj: &UserGroup, plan: &Plan) -> Result<Applied, Error> {
    match plan {
        Plan::Stop(_) => Ok(Applied::Nothing),
        Plan::Gcp(p) => Ok(Applied::Gcp(gcp(ctx, obj, p).await)),
        Plan::Aws(p) => aws(ctx, obj, p).await.map(Applied::Aws),
    }
}

async fn aws(ctx: &Ctx, obj: &UserGroup, plan: &AwsPlan) -> Result<AwsApplied, Error> {
    let old = obj.status.clone().unwrap_or_default();
    if plan.users != old.users {
        record_users(ctx, obj, &plan.users).await?;
    }
    let api = secrets(ctx, obj);
    // The password Secret (server-side apply, owned by the group).
    let save = async |records: &BTreeMap<String, PasswordEntry>| {
        let secret = passwords::render(obj, records);
        let name = secret.metadata.name.clone().unwrap_or_default();
        let mut value = serde_json::to_value(&secret).expect("a Secret serializes");
        value["apiVersion"] = "v1".into();
        value["kind"] = "Secret".into();
        api.patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(value),
        )
        .await
        .at(Step::Apply)
        .map(|_| ())
    };
    if plan.save_records {
        save(&plan.records).await?;
    }
    let mut records = plan.records.clone();
    let mut applied = AwsApplied::default();
    let users = &ctx.clouds.aws.users;
    let (region, group) = (&plan.region, &plan.group_id);
    for write in &plan.writes {
        let result = match write {
            Write::CreateUser { user, record } => users.create_user(region, user).await.map(|()| {
                if let Some(r) = record {
                    records.insert(user.user_id.clone(), r.clone());
                }
            }),
            Write::ModifyUser {
                user_id,
                change,
                record,
            } => users.modify_user(region, user_id, change).await.map(|()| {
                if let Some(r) = record {
                    records.insert(user_id.clone(), r.clone());
                }
            }),
            Write::CreateGroup {
                engine,
                user_ids,
                tags,
            } => users
                .create_user_group(region, group, *engine, user_ids, tags)
                .await
                .map(|created| applied.created = Some(created)),
            Write::ModifyGroup { add, remove } => {
                users.modify_user_group(region, group, add, remove).await
            }
            Write::DeleteUser { gone: true, .. } => Ok(()),
            Write::DeleteUser { user_id, .. } => users.delete_user(region, user_id).await,
        };
        match result {
            Ok(()) => {
                applied.made += 1;
                applied.notes.extend(write.note(plan));
            }
            Err(e) => {
                applied.failed = Some(e);
                break;
            }
        }
    }
    // The passwords the cloud now holds are recorded, whatever failed after them.
    if records != plan.records {
        save(&records).await?;
    }
    Ok(applied)
}

/// The users the group made, recorded in the status before any is created.
async fn record_users(ctx: &Ctx, obj: &UserGroup, users: &[String]) -> Result<(), Error> {
    let mut st = obj.status.clone().unwrap_or_default();
    st.users = users.to_vec();
    st.observed_generation = obj.meta().generation;
    let patch = json!({
        "apiVersion": UserGroup::api_version(&()),
        "kind": UserGroup::kind(&()),
        "status": st,
    });
    Api::<UserGroup>::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default())
        .patch_status(
            &obj.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(patch),
        )
        .await
        .at(Step::Status)?;
    Ok(())
}

async fn gcp(ctx: &Ctx, obj: &UserGroup, plan: &GcpPlan) -> GcpApplied {
    let owner = grant_owner(obj);
    let mut applied = GcpApplied::default();
    for (project, grants) in &plan.projects {
        match ctx.clouds.gcp.grants.apply(project, &owner, grants).await {
            Ok(granted) => applied
                .written
                .push((project.clone(), grants.len(), granted)),
            Err(e) => {
                applied.failed = Some(e);
                break;
            }
        }
    }
    applied
}

/// What a deletion did.
#[derive(Clone, Debug, Default)]
pub struct Left {
    /// Why the cloud refused (the deletion waits or retries).
    pub failed: Option<CloudError>,
    /// Users the cloud would not delete yet (still in a group being deleted).
    pub kept: Vec<String>,
    /// Projects whose grants are gone.
    pub ungranted: Vec<String>,
    pub notes: Vec<Note>,
    /// Nothing of the group is left: the finalizer may go.
    pub done: bool,
}

/// Carry out a deletion.
pub async fn leave(ctx: &Ctx, obj: &UserGroup, plan: &Leave) -> Result<Left, Error> {
    let users = &ctx.clouds.aws.users;
    let region = obj.spec.region.clone().unwrap_or_default();
    let owner = grant_owner(obj);
    let api = secrets(ctx, obj);
    let records = passwords::secret_name(&obj.name_any());
    // The group's password Secret goes with it (gone already is fine).
    let delete_records = async || match api.delete(&records, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e).at(Step::Apply),
    };
    let mut left = Left::default();
    match plan {
        Leave::InUse(_) | Leave::Attached(_) => {}
        Leave::Release {
            note,
            forget_records,
        } => {
            if *forget_records {
                delete_records().await?;
            }
            left.notes.extend(note.clone());
            left.done = true;
        }
        Leave::DeleteGroup { already, .. } => {
            let group = obj
                .status
                .as_ref()
                .and_then(|s| s.user_group_id.clone())
                .unwrap_or_else(|| obj.aws_user_group_id().to_owned());
            if !already && let Err(e) = users.delete_user_group(&region, &group).await {
                left.failed = Some(e);
            }
        }
        Leave::DeleteUsers {
            users: ids,
            group_id,
        } => {
            for id in ids {
                match users.delete_user(&region, id).await {
                    Ok(()) => {}
                    Err(e) if e.is(ErrorClass::FailedPrecondition) => left.kept.push(id.clone()),
                    Err(e) => {
                        left.failed = Some(e);
                        return Ok(left);
                    }
                }
            }
            if left.kept.is_empty() {
                delete_records().await?;
                left.notes.push(Note {
                    reason: event::DELETED,
                    action: "Delete",
                    text: format!(
                        "deleted user group {group_id} and the {} user(s) created for it",
                        ids.len()
                    ),
                });
                left.done = true;
            }
        }
        Leave::Ungrant { projects } => {
            for project in projects {
                if let Err(e) = ctx.clouds.gcp.grants.apply(project, &owner, &[]).await {
                    left.failed = Some(e);
                    return Ok(left);
                }
                left.ungranted.push(project.clone());
            }
            left.notes.push(Note {
                reason: event::GRANTS_REMOVED,
                action: "Delete",
                text: "removed every IAM grant this group held".into(),
            });
            left.done = true;
        }
    }
    Ok(left)
}
