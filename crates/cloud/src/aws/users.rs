//! ElastiCache RBAC: users and user groups (Describe/Create/Modify/Delete), with typed results
//! and the same error classification as every other call.
//!
//! Passwords travel in [`Password`], whose `Debug` never shows the value; nothing here logs a
//! request.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_elasticache::types::{AuthenticationMode, AuthenticationType, InputAuthenticationType};
use cache_operator_api::model::AwsEngine;

use super::AwsClients;
use crate::error::{ErrorClass, Result};

/// A user's password. `Debug` is redacted; [`Password::expose`] is the only way to the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(value: impl Into<String>) -> Self {
        Password(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// How a user authenticates, as the cloud reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObservedAuth {
    /// With this many passwords (ElastiCache allows two, for rotation).
    Password {
        count: u32,
    },
    Iam,
    NoPassword,
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedUser {
    pub user_id: String,
    pub user_name: String,
    /// `active`, `modifying`, `deleting`.
    pub status: String,
    pub access_string: String,
    pub auth: ObservedAuth,
    pub user_group_ids: Vec<String>,
    pub arn: String,
}

impl ObservedUser {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedUserGroup {
    pub user_group_id: String,
    /// `creating`, `active`, `modifying`, `deleting`.
    pub status: String,
    pub engine: String,
    pub user_ids: Vec<String>,
    /// Users being added or removed right now.
    pub pending_add: Vec<String>,
    pub pending_remove: Vec<String>,
    /// Replication groups the user group is attached to.
    pub replication_groups: Vec<String>,
    pub arn: String,
}

impl ObservedUserGroup {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// How a new or changed user authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserAuth {
    Iam,
    /// One or two passwords (two while a rotation overlaps).
    Passwords(Vec<Password>),
}

impl UserAuth {
    fn mode(&self) -> AuthenticationMode {
        match self {
            UserAuth::Iam => AuthenticationMode::builder()
                .r#type(InputAuthenticationType::Iam)
                .build(),
            UserAuth::Passwords(ps) => AuthenticationMode::builder()
                .r#type(InputAuthenticationType::Password)
                .set_passwords(Some(ps.iter().map(|p| p.expose().to_owned()).collect()))
                .build(),
        }
    }
}

/// A user to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    pub user_id: String,
    pub user_name: String,
    pub engine: AwsEngine,
    pub access_string: String,
    pub auth: UserAuth,
    /// Tags recording the owner (key, value).
    pub tags: Vec<(String, String)>,
}

/// What to change on an existing user; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserChange {
    pub access_string: Option<String>,
    pub auth: Option<UserAuth>,
}

impl UserChange {
    pub fn is_empty(&self) -> bool {
        self.access_string.is_none() && self.auth.is_none()
    }
}

/// ElastiCache users and user groups of the operator's account, per region.
#[derive(Clone)]
pub struct AwsUsers {
    clients: AwsClients,
}

impl AwsUsers {
    pub fn new(clients: AwsClients) -> Self {
        AwsUsers { clients }
    }
}

/// ElastiCache users and user groups of one account, per region.
#[async_trait]
pub trait Users: Send + Sync {
    /// The tags of a user or user group, by ARN.
    async fn tags(&self, region: &str, arn: &str) -> Result<Vec<(String, String)>>;

    /// The users among `user_ids` that exist, keyed by lowercase user ID.
    async fn describe_users(
        &self,
        region: &str,
        user_ids: &[String],
    ) -> Result<BTreeMap<String, ObservedUser>>;

    async fn create_user(&self, region: &str, user: &NewUser) -> Result<()>;

    async fn modify_user(&self, region: &str, user_id: &str, change: &UserChange) -> Result<()>;

    /// Delete the user; one that is already gone counts as deleted.
    async fn delete_user(&self, region: &str, user_id: &str) -> Result<()>;

    /// The user group, `None` when it does not exist.
    async fn describe_user_group(
        &self,
        region: &str,
        user_group_id: &str,
    ) -> Result<Option<ObservedUserGroup>>;

    async fn create_user_group(
        &self,
        region: &str,
        user_group_id: &str,
        engine: AwsEngine,
        user_ids: &[String],
        tags: &[(String, String)],
    ) -> Result<ObservedUserGroup>;

    /// Add and remove members in one call (ElastiCache checks the `default` user rule on the
    /// result, so a swap of the default user must be one call).
    async fn modify_user_group(
        &self,
        region: &str,
        user_group_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<()>;

    /// Delete the user group; one that is already gone counts as deleted.
    async fn delete_user_group(&self, region: &str, user_group_id: &str) -> Result<()>;
}

#[async_trait]
impl Users for AwsUsers {
    /// The tags of a user or user group, by ARN.
    async fn tags(&self, region: &str, arn: &str) -> Result<Vec<(String, String)>> {
        let client = self.clients.client(region);
        let out = self
            .clients
            .call(
                "ListTagsForResource",
                client.list_tags_for_resource().resource_name(arn).send(),
            )
            .await?;
        Ok(out
            .tag_list()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }

    /// The users among `user_ids` that exist, in as few calls as the API allows (a `UserId`
    /// filter, paginated), keyed by lowercase user ID.
    async fn describe_users(
        &self,
        region: &str,
        user_ids: &[String],
    ) -> Result<BTreeMap<String, ObservedUser>> {
        let mut out = BTreeMap::new();
        if user_ids.is_empty() {
            return Ok(out);
        }
        let client = self.clients.client(region);
        let filter = aws_sdk_elasticache::types::Filter::builder()
            .name("UserId")
            .set_values(Some(user_ids.to_vec()))
            .build();
        let pages = client
            .describe_users()
            .filters(filter)
            .into_paginator()
            .send();
        for page in self.clients.pages("DescribeUsers", pages).await? {
            for u in page.users() {
                let u = observe_user(u);
                out.insert(u.user_id.to_ascii_lowercase(), u);
            }
        }
        Ok(out)
    }

    async fn create_user(&self, region: &str, user: &NewUser) -> Result<()> {
        let client = self.clients.client(region);
        let mut req = client
            .create_user()
            .user_id(&user.user_id)
            .user_name(&user.user_name)
            .engine(user.engine.as_str())
            .access_string(&user.access_string)
            .authentication_mode(user.auth.mode());
        for (k, v) in &user.tags {
            req = req.tags(
                aws_sdk_elasticache::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build(),
            );
        }
        self.clients.call("CreateUser", req.send()).await?;
        Ok(())
    }

    async fn modify_user(&self, region: &str, user_id: &str, change: &UserChange) -> Result<()> {
        let client = self.clients.client(region);
        let req = client
            .modify_user()
            .user_id(user_id)
            .set_access_string(change.access_string.clone())
            .set_authentication_mode(change.auth.as_ref().map(UserAuth::mode));
        self.clients.call("ModifyUser", req.send()).await?;
        Ok(())
    }

    /// Delete the user; one that is already gone counts as deleted.
    async fn delete_user(&self, region: &str, user_id: &str) -> Result<()> {
        let client = self.clients.client(region);
        match self
            .clients
            .call("DeleteUser", client.delete_user().user_id(user_id).send())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is(ErrorClass::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The user group, `None` when it does not exist.
    async fn describe_user_group(
        &self,
        region: &str,
        user_group_id: &str,
    ) -> Result<Option<ObservedUserGroup>> {
        let client = self.clients.client(region);
        match self
            .clients
            .call(
                "DescribeUserGroups",
                client
                    .describe_user_groups()
                    .user_group_id(user_group_id)
                    .send(),
            )
            .await
        {
            Ok(out) => Ok(out.user_groups().iter().map(observe_group).next()),
            Err(e) if e.is(ErrorClass::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_user_group(
        &self,
        region: &str,
        user_group_id: &str,
        engine: AwsEngine,
        user_ids: &[String],
        tags: &[(String, String)],
    ) -> Result<ObservedUserGroup> {
        let client = self.clients.client(region);
        let mut req = client
            .create_user_group()
            .user_group_id(user_group_id)
            .engine(engine.as_str())
            .set_user_ids((!user_ids.is_empty()).then(|| user_ids.to_vec()));
        for (k, v) in tags {
            req = req.tags(
                aws_sdk_elasticache::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build(),
            );
        }
        let out = self.clients.call("CreateUserGroup", req.send()).await?;
        Ok(ObservedUserGroup {
            user_group_id: out.user_group_id().unwrap_or(user_group_id).to_owned(),
            status: out.status().unwrap_or("creating").to_owned(),
            engine: out.engine().unwrap_or(engine.as_str()).to_owned(),
            user_ids: out.user_ids().to_vec(),
            pending_add: Vec::new(),
            pending_remove: Vec::new(),
            replication_groups: out.replication_groups().to_vec(),
            arn: out.arn().unwrap_or_default().to_owned(),
        })
    }

    /// Add and remove members in one call (ElastiCache checks the `default` user rule on the
    /// result, so a swap of the default user must be one call).
    async fn modify_user_group(
        &self,
        region: &str,
        user_group_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<()> {
        let client = self.clients.client(region);
        let req = client
            .modify_user_group()
            .user_group_id(user_group_id)
            .set_user_ids_to_add((!add.is_empty()).then(|| add.to_vec()))
            .set_user_ids_to_remove((!remove.is_empty()).then(|| remove.to_vec()));
        self.clients.call("ModifyUserGroup", req.send()).await?;
        Ok(())
    }

    /// Delete the user group; one that is already gone counts as deleted.
    async fn delete_user_group(&self, region: &str, user_group_id: &str) -> Result<()> {
        let client = self.clients.client(region);
        match self
            .clients
            .call(
                "DeleteUserGroup",
                client
                    .delete_user_group()
                    .user_group_id(user_group_id)
                    .send(),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is(ErrorClass::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn observe_user(u: &aws_sdk_elasticache::types::User) -> ObservedUser {
    let auth = match u.authentication() {
        Some(a) => match a.r#type() {
            Some(AuthenticationType::Password) => ObservedAuth::Password {
                count: a.password_count().unwrap_or(0).max(0) as u32,
            },
            Some(AuthenticationType::Iam) => ObservedAuth::Iam,
            Some(AuthenticationType::NoPassword) => ObservedAuth::NoPassword,
            _ => ObservedAuth::Unknown,
        },
        None => ObservedAuth::Unknown,
    };
    ObservedUser {
        user_id: u.user_id().unwrap_or_default().to_owned(),
        user_name: u.user_name().unwrap_or_default().to_owned(),
        status: u.status().unwrap_or_default().to_owned(),
        access_string: u.access_string().unwrap_or_default().to_owned(),
        auth,
        user_group_ids: u.user_group_ids().to_vec(),
        arn: u.arn().unwrap_or_default().to_owned(),
    }
}

fn observe_group(g: &aws_sdk_elasticache::types::UserGroup) -> ObservedUserGroup {
    let pending = g.pending_changes();
    ObservedUserGroup {
        user_group_id: g.user_group_id().unwrap_or_default().to_owned(),
        status: g.status().unwrap_or_default().to_owned(),
        engine: g.engine().unwrap_or_default().to_owned(),
        user_ids: g.user_ids().to_vec(),
        pending_add: pending
            .map(|p| p.user_ids_to_add().to_vec())
            .unwrap_or_default(),
        pending_remove: pending
            .map(|p| p.user_ids_to_remove().to_vec())
            .unwrap_or_default(),
        replication_groups: g.replication_groups().to_vec(),
        arn: g.arn().unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_debug_output() {
        let auth = UserAuth::Passwords(vec![Password::new("hunter2hunter2hunter2")]);
        let change = UserChange {
            access_string: Some("on ~* +@all".into()),
            auth: Some(auth),
        };
        let shown = format!("{change:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn users_are_read_from_the_sdk_shape() {
        let u = aws_sdk_elasticache::types::User::builder()
            .user_id("app")
            .user_name("app")
            .status("modifying")
            .access_string("on ~* +@all")
            .authentication(
                aws_sdk_elasticache::types::Authentication::builder()
                    .r#type(AuthenticationType::Password)
                    .password_count(2)
                    .build(),
            )
            .user_group_ids("g1")
            .arn("arn:aws:elasticache:us-east-1:123456789012:user:app")
            .build();
        let o = observe_user(&u);
        assert_eq!(o.auth, ObservedAuth::Password { count: 2 });
        assert!(!o.is_active());
        assert_eq!(o.user_group_ids, vec!["g1".to_owned()]);
    }
}
