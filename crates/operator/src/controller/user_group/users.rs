//! aws users, one at a time: created when absent (never duplicated), brought to the spec, and
//! for password users the next step of the password cycle (`passwords::step`), each recorded
//! before the cloud call that depends on it.

use std::time::Duration;

use cache_operator_api::condition::event;
use cache_operator_api::model::AwsUserGroup;
use cache_operator_cloud::ErrorClass;
use cache_operator_cloud::aws::users::{
    NewUser, ObservedAuth, ObservedUser, Password, UserAuth, UserChange,
};
use jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::events::EventType;

use super::passwords::{self, CloudUser, PasswordEntry, Step as PasswordStep};
use super::plan::{
    UserKind, UserStep, WantedUser, access_change, humantime, name_conflict, user_step,
};
use super::records::Records;
use super::status::Pass;
use crate::controller::error::{Halt, HaltAt, Step};

/// Where one user stands after a pass.
pub enum UserState {
    Done,
    /// Not yet as the spec says.
    Busy(String),
    /// As the spec says, with a password rotation under way.
    Rotating(String),
}

pub fn tags(pass: &Pass<'_>) -> Vec<(String, String)> {
    use cache_operator_cloud::aws::{OWNER_TAG, OWNER_UID_TAG};
    vec![
        (OWNER_UID_TAG.into(), pass.obj.uid().unwrap_or_default()),
        (
            OWNER_TAG.into(),
            format!(
                "{}/{}",
                pass.obj.namespace().unwrap_or_default(),
                pass.obj.name_any()
            ),
        ),
    ]
}

/// One user of a pass: the group it is in, what the spec wants of it, what the cloud reports,
/// and how often its password rotates.
#[derive(Clone, Copy)]
pub struct User<'a> {
    pub group: &'a AwsUserGroup,
    pub wanted: &'a WantedUser,
    pub observed: Option<&'a ObservedUser>,
    pub interval: Duration,
}

/// Bring one user to its spec.
pub async fn ensure(
    pass: &mut Pass<'_>,
    records: &mut Records,
    user: User<'_>,
) -> Result<UserState, Halt> {
    let (u, observed) = (user.wanted, user.observed);
    if let Some((r, msg)) = name_conflict(u, observed) {
        return Err(Halt::Stalled(r, msg));
    }
    if u.kind == UserKind::Password {
        return ensure_password_user(pass, records, user).await;
    }
    match user_step(u, observed) {
        UserStep::Create => {
            let auth = if u.kind == UserKind::Iam {
                UserAuth::Iam
            } else {
                // Never stored or shown: nobody is meant to log in as the stand-in.
                UserAuth::Passwords(vec![Password::new(passwords::generate())])
            };
            create(pass, user, auth).await?;
            Ok(UserState::Done)
        }
        UserStep::Wait(why) => Ok(UserState::Busy(why)),
        UserStep::Done => Ok(UserState::Done),
        UserStep::Modify(change) => {
            let users = &pass.ctx.clouds.aws.users;
            users
                .modify_user(&user.group.region, &u.user_id, &change)
                .await
                .halt(Step::Apply)?;
            Ok(UserState::Busy(format!("updating user {}", u.user_id)))
        }
    }
}

/// Create the user with `auth`.
async fn create(pass: &mut Pass<'_>, user: User<'_>, auth: UserAuth) -> Result<(), Halt> {
    let (g, u) = (user.group, user.wanted);
    let user = NewUser {
        user_id: u.user_id.clone(),
        user_name: u.user_name.clone(),
        engine: g.engine,
        access_string: u.access_string.clone(),
        auth,
        tags: tags(pass),
    };
    let users = pass.ctx.clouds.aws.users.clone();
    match users.create_user(&g.region, &user).await {
        Ok(()) => {
            let note = format!("created user {} ({})", user.user_id, user.user_name);
            pass.note(EventType::Normal, event::USER_CREATED, "Create", note)
                .await;
            Ok(())
        }
        // Someone else made it between our look and our create: not ours.
        Err(e) if e.is(ErrorClass::AlreadyExists) => {
            pass.st.users.retain(|x| *x != user.user_id);
            pass.persist().await?;
            Err(Halt::Busy(format!(
                "user {} appeared meanwhile",
                user.user_id
            )))
        }
        Err(e) => Err(Halt::cloud(e, Step::Apply)),
    }
}

fn set(ps: Vec<String>) -> UserAuth {
    UserAuth::Passwords(ps.into_iter().map(Password::new).collect())
}

/// A change of the passwords alone.
fn passwords_only(ps: Vec<String>) -> UserChange {
    UserChange {
        access_string: None,
        auth: Some(set(ps)),
    }
}

async fn ensure_password_user(
    pass: &mut Pass<'_>,
    records: &mut Records,
    user: User<'_>,
) -> Result<UserState, Halt> {
    let User {
        group: g,
        wanted: u,
        observed,
        interval,
    } = user;
    let users = pass.ctx.clouds.aws.users.clone();
    let modify = |id: String, change: UserChange| {
        let users = users.clone();
        let region = g.region.clone();
        async move {
            users
                .modify_user(&region, &id, &change)
                .await
                .halt(Step::Apply)
        }
    };
    let now = Timestamp::now();
    let cloud = match observed {
        None => CloudUser::Absent,
        Some(o) => CloudUser::Present {
            active: o.is_active(),
            password_count: match o.auth {
                ObservedAuth::Password { count } => count,
                _ => 0,
            },
        },
    };
    let overlap = pass.ctx.settings.password_overlap;
    let entry = records.entries.get(&u.user_id).cloned();
    let step = passwords::step(entry.as_ref(), cloud, now, interval, overlap);
    // A rotation in flight is routine: it keeps the group Ready.
    let rotating = entry
        .as_ref()
        .is_some_and(|e| e.pending.is_some() || e.previous.is_some());
    tracing::debug!(user = %u.user_id, ?step, "password step");
    let id = u.user_id.clone();
    let rotation = || UserState::Rotating(format!("rotating the password of user {id}"));
    match step {
        PasswordStep::Initialize { new } => {
            match observed {
                None => create(pass, user, set(vec![new.clone()])).await?,
                Some(_) => {
                    let change = UserChange {
                        access_string: access_change(u, observed),
                        auth: Some(set(vec![new.clone()])),
                    };
                    modify(id.clone(), change).await?;
                }
            }
            let mut e = PasswordEntry::new(new, now);
            e.rotate_at = Some(passwords::next_rotation(&e, interval));
            records.entries.insert(id.clone(), e);
            records.save(pass).await?;
            Ok(match observed {
                Some(_) => UserState::Busy(format!("setting the password of user {id}")),
                None => UserState::Done,
            })
        }
        PasswordStep::Create => {
            let e = entry.expect("Create comes with a record");
            create(pass, user, set(e.accepted())).await?;
            Ok(UserState::Done)
        }
        PasswordStep::Wait => {
            let why = format!(
                "user {id} is {}",
                observed.map(|o| o.status.as_str()).unwrap_or("busy")
            );
            Ok(if rotating {
                UserState::Rotating(why)
            } else {
                UserState::Busy(why)
            })
        }
        PasswordStep::BeginRotation { new } => {
            let mut e = entry.expect("a rotation comes with a record");
            e.pending = Some(new.clone());
            let accepted = vec![e.current.clone(), new];
            records.entries.insert(id.clone(), e);
            // Recorded first: the cloud never holds a password the record does not know.
            records.save(pass).await?;
            modify(id.clone(), passwords_only(accepted)).await?;
            Ok(rotation())
        }
        PasswordStep::AddPending => {
            let e = entry.expect("pending comes with a record");
            let accepted = vec![e.current.clone(), e.pending.clone().unwrap_or_default()];
            modify(id.clone(), passwords_only(accepted)).await?;
            Ok(rotation())
        }
        PasswordStep::Promote => {
            let old = entry.expect("pending comes with a record");
            let mut e = PasswordEntry {
                current: old.pending.clone().unwrap_or_default(),
                previous: Some(old.current.clone()),
                pending: None,
                rotated_at: now,
                rotate_at: None,
            };
            e.rotate_at = Some(passwords::next_rotation(&e, interval));
            records.entries.insert(id.clone(), e);
            records.save(pass).await?;
            let overlap = passwords::overlap(overlap, interval);
            records.due(now + jiff::SignedDuration::try_from(overlap).unwrap_or_default());
            let note = format!(
                "user {id} has a new password; the previous one works for {} more",
                humantime(overlap)
            );
            pass.note(EventType::Normal, event::PASSWORD_ROTATED, "Rotate", note)
                .await;
            Ok(UserState::Done)
        }
        PasswordStep::DropPrevious { in_cloud: true } => {
            // The record keeps the old password until the cloud no longer holds it.
            let e = entry.expect("a previous password comes with a record");
            modify(id.clone(), passwords_only(vec![e.current.clone()])).await?;
            Ok(UserState::Rotating(format!(
                "removing the previous password of user {id}"
            )))
        }
        PasswordStep::DropPrevious { in_cloud: false } => {
            let mut e = entry.expect("a previous password comes with a record");
            e.previous = None;
            records.due(passwords::next_rotation(&e, interval));
            records.entries.insert(id.clone(), e);
            records.save(pass).await?;
            tracing::info!(group = %pass.obj.name_any(), user = %id, "the previous password is retired");
            Ok(UserState::Done)
        }
        PasswordStep::Heal => {
            let e = entry.expect("healing comes with a record");
            let change = UserChange {
                access_string: access_change(u, observed),
                auth: Some(set(e.accepted())),
            };
            modify(id.clone(), change).await?;
            Ok(UserState::Busy(format!(
                "restoring the passwords of user {id}"
            )))
        }
        PasswordStep::Idle { next } => {
            records.due(next);
            let mut e = entry.expect("idle comes with a record");
            let rotate_at = passwords::next_rotation(&e, interval);
            if e.rotate_at != Some(rotate_at) {
                e.rotate_at = Some(rotate_at);
                records.entries.insert(id.clone(), e);
            }
            if let Some(a) = access_change(u, observed) {
                let change = UserChange {
                    access_string: Some(a),
                    auth: None,
                };
                modify(id.clone(), change).await?;
                return Ok(UserState::Busy(format!("updating user {id}")));
            }
            Ok(UserState::Done)
        }
    }
}
