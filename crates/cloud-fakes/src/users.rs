//! ElastiCache users and user groups in memory, with the service's rules the controllers meet:
//! users are active at once, changes and group creation take until [`FakeUsers::settle`], a
//! busy user or group refuses another change, a redis group needs a `default` user, and an
//! ID is taken only once.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use cache_operator_api::model::AwsEngine;
use cache_operator_cloud::aws::users::{
    NewUser, ObservedAuth, ObservedUser, ObservedUserGroup, UserAuth, UserChange, Users,
};
use cache_operator_cloud::error::Result;
use cache_operator_cloud::{CloudError, ErrorClass};

use crate::{Script, error};

/// The users and user groups of one account, in every region. Calls are recorded as
/// `Operation id` (`CreateUser app`, `DescribeUsers`, `ModifyUserGroup users`).
#[derive(Default)]
pub struct FakeUsers {
    script: Script,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// By (region, user ID).
    users: BTreeMap<(String, String), User>,
    /// By (region, group ID).
    groups: BTreeMap<(String, String), Group>,
}

struct User {
    observed: ObservedUser,
    passwords: Vec<String>,
    tags: Vec<(String, String)>,
    /// What a change in progress makes of it.
    pending: Option<(String, ObservedAuth, Vec<String>)>,
}

struct Group {
    observed: ObservedUserGroup,
    engine: AwsEngine,
    tags: Vec<(String, String)>,
}

fn call(op: &str) -> String {
    format!("elasticache {op}")
}

fn user_arn(region: &str, id: &str) -> String {
    format!("arn:aws:elasticache:{region}:123456789012:user:{id}")
}

fn group_arn(region: &str, id: &str) -> String {
    format!("arn:aws:elasticache:{region}:123456789012:usergroup:{id}")
}

fn auth_of(auth: &UserAuth) -> (ObservedAuth, Vec<String>) {
    match auth {
        UserAuth::Iam => (ObservedAuth::Iam, Vec::new()),
        UserAuth::Passwords(ps) => (
            ObservedAuth::Password {
                count: u32::try_from(ps.len()).unwrap_or(u32::MAX),
            },
            ps.iter().map(|p| p.expose().to_owned()).collect(),
        ),
    }
}

impl FakeUsers {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fake users lock")
    }

    /// Finish every change under way: users and groups become active with what was asked,
    /// deleted ones are gone.
    pub fn settle(&self) {
        let mut st = self.state();
        st.users.retain(|_, u| u.observed.status != "deleting");
        for u in st.users.values_mut() {
            if let Some((access, auth, passwords)) = u.pending.take() {
                u.observed.access_string = access;
                u.observed.auth = auth;
                u.passwords = passwords;
            }
            u.observed.status = "active".into();
        }
        st.groups.retain(|_, g| g.observed.status != "deleting");
        for g in st.groups.values_mut() {
            let add = std::mem::take(&mut g.observed.pending_add);
            let remove = std::mem::take(&mut g.observed.pending_remove);
            g.observed.user_ids.retain(|u| !remove.contains(u));
            g.observed.user_ids.extend(add);
            g.observed.status = "active".into();
        }
    }

    /// The passwords a user accepts now.
    pub fn passwords(&self, region: &str, user_id: &str) -> Vec<String> {
        self.state()
            .users
            .get(&(region.to_owned(), user_id.to_owned()))
            .map(|u| u.passwords.clone())
            .unwrap_or_default()
    }

    /// A user as the service describes it.
    pub fn user(&self, region: &str, user_id: &str) -> Option<ObservedUser> {
        self.state()
            .users
            .get(&(region.to_owned(), user_id.to_owned()))
            .map(|u| u.observed.clone())
    }

    /// A group as the service describes it.
    pub fn group(&self, region: &str, group_id: &str) -> Option<ObservedUserGroup> {
        self.state()
            .groups
            .get(&(region.to_owned(), group_id.to_owned()))
            .map(|g| g.observed.clone())
    }

    /// Someone else's user group (no tags of ours), or one attached to replication groups.
    pub fn put_group(&self, region: &str, group: ObservedUserGroup) {
        let key = (region.to_owned(), group.user_group_id.clone());
        self.state().groups.insert(
            key,
            Group {
                observed: group,
                engine: AwsEngine::Redis,
                tags: Vec::new(),
            },
        );
    }

    /// See [`Script::fail`].
    pub fn fail(&self, call: &str, e: CloudError) {
        self.script.fail(call, e);
    }

    /// See [`Script::heal`].
    pub fn heal(&self) {
        self.script.heal();
    }

    /// See [`Script::asked`].
    pub fn asked(&self) -> Vec<String> {
        self.script.asked()
    }

    /// The members a group may have: users that exist, and a `default` one in a redis group.
    fn check_members(
        st: &State,
        region: &str,
        engine: AwsEngine,
        ids: &[String],
        op: &str,
    ) -> Result<()> {
        let mut has_default = false;
        for id in ids {
            let Some(u) = st.users.get(&(region.to_owned(), id.clone())) else {
                return Err(error(ErrorClass::NotFound, "UserNotFound", &call(op)));
            };
            has_default |= u.observed.user_name == "default";
        }
        if engine == AwsEngine::Redis && !has_default {
            return Err(error(
                ErrorClass::InvalidArgument,
                "DefaultUserRequired",
                &call(op),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Users for FakeUsers {
    async fn tags(&self, region: &str, arn: &str) -> Result<Vec<(String, String)>> {
        self.script.ask("ListTagsForResource", arn)?;
        let st = self.state();
        let users = st.users.iter().filter(|((r, _), _)| r == region);
        if let Some((_, u)) = users.into_iter().find(|(_, u)| u.observed.arn == arn) {
            return Ok(u.tags.clone());
        }
        let groups = st.groups.iter().filter(|((r, _), _)| r == region);
        match groups.into_iter().find(|(_, g)| g.observed.arn == arn) {
            Some((_, g)) => Ok(g.tags.clone()),
            None => Err(error(
                ErrorClass::InvalidArgument,
                "InvalidARN",
                &call("ListTagsForResource"),
            )),
        }
    }

    async fn describe_users(
        &self,
        region: &str,
        user_ids: &[String],
    ) -> Result<BTreeMap<String, ObservedUser>> {
        if user_ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        self.script.ask("DescribeUsers", "")?;
        let st = self.state();
        Ok(user_ids
            .iter()
            .filter_map(|id| {
                let u = st
                    .users
                    .get(&(region.to_owned(), id.to_ascii_lowercase()))?;
                Some((id.to_ascii_lowercase(), u.observed.clone()))
            })
            .collect())
    }

    async fn create_user(&self, region: &str, user: &NewUser) -> Result<()> {
        self.script.ask("CreateUser", &user.user_id)?;
        let mut st = self.state();
        let key = (region.to_owned(), user.user_id.to_ascii_lowercase());
        if st.users.contains_key(&key) {
            return Err(error(
                ErrorClass::AlreadyExists,
                "UserAlreadyExists",
                &call("CreateUser"),
            ));
        }
        let (auth, passwords) = auth_of(&user.auth);
        st.users.insert(
            key.clone(),
            User {
                observed: ObservedUser {
                    user_id: key.1.clone(),
                    user_name: user.user_name.clone(),
                    status: "active".into(),
                    access_string: user.access_string.clone(),
                    auth,
                    user_group_ids: Vec::new(),
                    arn: user_arn(region, &key.1),
                },
                passwords,
                tags: user.tags.clone(),
                pending: None,
            },
        );
        Ok(())
    }

    async fn modify_user(&self, region: &str, user_id: &str, change: &UserChange) -> Result<()> {
        self.script.ask("ModifyUser", user_id)?;
        let mut st = self.state();
        let Some(u) = st.users.get_mut(&(region.to_owned(), user_id.to_owned())) else {
            return Err(error(
                ErrorClass::NotFound,
                "UserNotFound",
                &call("ModifyUser"),
            ));
        };
        if u.observed.status != "active" {
            return Err(error(
                ErrorClass::FailedPrecondition,
                "InvalidUserState",
                &call("ModifyUser"),
            ));
        }
        let access = change
            .access_string
            .clone()
            .unwrap_or_else(|| u.observed.access_string.clone());
        let (auth, passwords) = match &change.auth {
            Some(a) => auth_of(a),
            None => (u.observed.auth, u.passwords.clone()),
        };
        u.pending = Some((access, auth, passwords));
        u.observed.status = "modifying".into();
        Ok(())
    }

    async fn delete_user(&self, region: &str, user_id: &str) -> Result<()> {
        self.script.ask("DeleteUser", user_id)?;
        let mut st = self.state();
        let in_group = st
            .groups
            .iter()
            .any(|((r, _), g)| r == region && g.observed.user_ids.iter().any(|u| u == user_id));
        let Some(u) = st.users.get_mut(&(region.to_owned(), user_id.to_owned())) else {
            return Ok(());
        };
        if u.observed.user_name == "default" && in_group {
            return Err(error(
                ErrorClass::FailedPrecondition,
                "DefaultUserAssociatedToUserGroup",
                &call("DeleteUser"),
            ));
        }
        u.observed.status = "deleting".into();
        Ok(())
    }

    async fn describe_user_group(
        &self,
        region: &str,
        user_group_id: &str,
    ) -> Result<Option<ObservedUserGroup>> {
        self.script.ask("DescribeUserGroups", user_group_id)?;
        Ok(self.group(region, user_group_id))
    }

    async fn create_user_group(
        &self,
        region: &str,
        user_group_id: &str,
        engine: AwsEngine,
        user_ids: &[String],
        tags: &[(String, String)],
    ) -> Result<ObservedUserGroup> {
        self.script.ask("CreateUserGroup", user_group_id)?;
        let mut st = self.state();
        let key = (region.to_owned(), user_group_id.to_owned());
        if st.groups.contains_key(&key) {
            return Err(error(
                ErrorClass::AlreadyExists,
                "UserGroupAlreadyExists",
                &call("CreateUserGroup"),
            ));
        }
        let ids: Vec<String> = user_ids.iter().map(|u| u.to_ascii_lowercase()).collect();
        Self::check_members(&st, region, engine, &ids, "CreateUserGroup")?;
        let observed = ObservedUserGroup {
            user_group_id: user_group_id.to_owned(),
            status: "creating".into(),
            engine: engine.as_str().into(),
            user_ids: ids,
            pending_add: Vec::new(),
            pending_remove: Vec::new(),
            replication_groups: Vec::new(),
            arn: group_arn(region, user_group_id),
        };
        st.groups.insert(
            key,
            Group {
                observed: observed.clone(),
                engine,
                tags: tags.to_vec(),
            },
        );
        Ok(observed)
    }

    async fn modify_user_group(
        &self,
        region: &str,
        user_group_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<()> {
        self.script.ask("ModifyUserGroup", user_group_id)?;
        let mut st = self.state();
        let key = (region.to_owned(), user_group_id.to_owned());
        let Some(g) = st.groups.get(&key) else {
            return Err(error(
                ErrorClass::NotFound,
                "UserGroupNotFound",
                &call("ModifyUserGroup"),
            ));
        };
        if g.observed.status != "active" {
            return Err(error(
                ErrorClass::FailedPrecondition,
                "InvalidUserGroupState",
                &call("ModifyUserGroup"),
            ));
        }
        let mut members = g.observed.user_ids.clone();
        members.retain(|u| !remove.contains(u));
        members.extend(add.iter().cloned());
        let engine = g.engine;
        Self::check_members(&st, region, engine, &members, "ModifyUserGroup")?;
        let g = st.groups.get_mut(&key).expect("the group is there");
        g.observed.pending_add = add.to_vec();
        g.observed.pending_remove = remove.to_vec();
        g.observed.status = "modifying".into();
        Ok(())
    }

    async fn delete_user_group(&self, region: &str, user_group_id: &str) -> Result<()> {
        self.script.ask("DeleteUserGroup", user_group_id)?;
        let mut st = self.state();
        let Some(g) = st
            .groups
            .get_mut(&(region.to_owned(), user_group_id.to_owned()))
        else {
            return Ok(());
        };
        if g.observed.status != "active" || !g.observed.replication_groups.is_empty() {
            return Err(error(
                ErrorClass::FailedPrecondition,
                "InvalidUserGroupState",
                &call("DeleteUserGroup"),
            ));
        }
        g.observed.status = "deleting".into();
        Ok(())
    }
}
