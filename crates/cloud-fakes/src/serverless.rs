//! ElastiCache Serverless in memory: caches by name, with the service's rules a controller
//! meets — one field per modify, only while `available`; `creating`, `modifying` and `deleting`
//! last until the test calls [`FakeServerless::settle`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use cache_operator_api::model::serverless::DesiredServerless;
use cache_operator_cloud::aws::serverless::{
    ObservedServerless, ServerlessCaches, ServerlessChange,
};
use cache_operator_cloud::error::Result;
use cache_operator_cloud::provider::{Endpoint, Owner};
use cache_operator_cloud::{CloudError, ErrorClass};

use crate::{Script, error};

/// Serverless caches. Calls are recorded as `list REGION`, `get NAME`, `create NAME`,
/// `owner_uid NAME`, `modify NAME FIELD` (the change's description), `delete NAME [SNAPSHOT]`.
#[derive(Default)]
pub struct FakeServerless {
    script: Script,
    caches: Mutex<BTreeMap<String, (ObservedServerless, Option<String>)>>,
    /// Final snapshots taken.
    snapshots: Mutex<Vec<String>>,
}

impl FakeServerless {
    fn caches(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<String, (ObservedServerless, Option<String>)>> {
        self.caches.lock().expect("fake serverless lock")
    }

    /// A cache the cloud reports from now on, owned by `owner_uid`.
    pub fn put(&self, cache: ObservedServerless, owner_uid: Option<&str>) {
        self.caches()
            .insert(cache.name.clone(), (cache, owner_uid.map(str::to_owned)));
    }

    /// The cache as the cloud holds it.
    pub fn cache(&self, name: &str) -> Option<ObservedServerless> {
        self.caches().get(name).map(|(c, _)| c.clone())
    }

    /// Set a cache's status (`create-failed`, …).
    pub fn status(&self, name: &str, status: &str) {
        if let Some((c, _)) = self.caches().get_mut(name) {
            c.status = status.to_owned();
        }
    }

    /// Every transition ends: creating and modifying caches become available, deleting ones go.
    pub fn settle(&self) {
        let mut caches = self.caches();
        caches.retain(|_, (c, _)| c.status != "deleting");
        for (c, _) in caches.values_mut() {
            if c.status == "creating" || c.status == "modifying" {
                c.status = "available".into();
            }
        }
    }

    /// The final snapshots taken.
    pub fn snapshots(&self) -> Vec<String> {
        self.snapshots.lock().expect("snapshots lock").clone()
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
}

fn not_found(call: &str) -> CloudError {
    error(
        ErrorClass::NotFound,
        "ServerlessCacheNotFoundFault",
        &format!("elasticache {call}"),
    )
}

fn busy(call: &str) -> CloudError {
    error(
        ErrorClass::FailedPrecondition,
        "InvalidServerlessCacheStateFault",
        &format!("elasticache {call}"),
    )
}

#[async_trait]
impl ServerlessCaches for FakeServerless {
    async fn list(&self, region: &str) -> Result<Vec<ObservedServerless>> {
        self.script.ask("list", region)?;
        Ok(self.caches().values().map(|(c, _)| c.clone()).collect())
    }

    async fn get(&self, _region: &str, name: &str) -> Result<Option<ObservedServerless>> {
        self.script.ask("get", name)?;
        Ok(self.cache(name))
    }

    async fn create(&self, d: &DesiredServerless, owner: &Owner) -> Result<ObservedServerless> {
        self.script.ask("create", &d.name)?;
        let mut caches = self.caches();
        if caches.contains_key(&d.name) {
            return Err(error(
                ErrorClass::AlreadyExists,
                "ServerlessCacheAlreadyExistsFault",
                "elasticache CreateServerlessCache",
            ));
        }
        let major = d.major_engine_version.clone().unwrap_or_else(|| "8".into());
        let cache = ObservedServerless {
            name: d.name.clone(),
            arn: format!(
                "arn:aws:elasticache:{}:123456789012:serverlesscache:{}",
                d.region, d.name
            ),
            status: "creating".into(),
            engine: d.engine.as_str().into(),
            full_engine_version: format!("{major}.0"),
            major_engine_version: major,
            description: d.description.clone(),
            usage_limits: d.usage_limits,
            snapshot_retention_limit: d.snapshot_retention_limit,
            daily_snapshot_time: d.daily_snapshot_time.clone(),
            security_group_ids: d.security_group_ids.clone(),
            subnet_ids: d.subnet_ids.clone(),
            kms_key_id: d.kms_key_id.clone(),
            user_group_id: d.user_group_id.clone(),
            endpoint: Some(Endpoint {
                host: format!("{}.serverless.cache.amazonaws.com", d.name),
                port: 6379,
            }),
            reader_endpoint: Some(Endpoint {
                host: format!("{}.serverless.cache.amazonaws.com", d.name),
                port: 6380,
            }),
        };
        caches.insert(d.name.clone(), (cache.clone(), Some(owner.uid.clone())));
        Ok(cache)
    }

    async fn owner_uid(&self, _region: &str, arn: &str) -> Result<Option<String>> {
        let name = arn.rsplit(':').next().unwrap_or_default();
        self.script.ask("owner_uid", name)?;
        match self.caches().get(name) {
            Some((c, _)) if c.status != "available" => Err(busy("ListTagsForResource")),
            Some((_, uid)) => Ok(uid.clone()),
            None => Err(not_found("ListTagsForResource")),
        }
    }

    async fn modify(&self, _region: &str, name: &str, change: &ServerlessChange) -> Result<()> {
        self.script
            .ask("modify", &format!("{name} {}", change.describe()))?;
        let mut caches = self.caches();
        let Some((c, _)) = caches.get_mut(name) else {
            return Err(not_found("ModifyServerlessCache"));
        };
        if c.status != "available" {
            return Err(busy("ModifyServerlessCache"));
        }
        match change {
            ServerlessChange::Engine { engine, major } => {
                c.engine = engine.as_str().into();
                if let Some(m) = major {
                    c.major_engine_version = m.clone();
                }
            }
            ServerlessChange::UsageLimits(l) => c.usage_limits = Some(*l),
            ServerlessChange::SecurityGroups(ids) => c.security_group_ids = ids.clone(),
            ServerlessChange::UserGroup(g) => c.user_group_id = Some(g.clone()),
            ServerlessChange::RemoveUserGroup => c.user_group_id = None,
            ServerlessChange::SnapshotRetention(d) => c.snapshot_retention_limit = Some(*d),
            ServerlessChange::DailySnapshotTime(t) => c.daily_snapshot_time = Some(t.clone()),
            ServerlessChange::Description(d) => c.description = Some(d.clone()),
        }
        c.status = "modifying".into();
        Ok(())
    }

    async fn delete(&self, _region: &str, name: &str, final_snapshot: Option<&str>) -> Result<()> {
        let subject = match final_snapshot {
            Some(s) => format!("{name} {s}"),
            None => name.to_owned(),
        };
        self.script.ask("delete", &subject)?;
        let mut caches = self.caches();
        let Some((c, _)) = caches.get_mut(name) else {
            return Err(not_found("DeleteServerlessCache"));
        };
        let deletable =
            c.status == "available" || (c.status == "create-failed" && final_snapshot.is_none());
        if !deletable {
            return Err(busy("DeleteServerlessCache"));
        }
        c.status = "deleting".into();
        if let Some(s) = final_snapshot {
            self.snapshots
                .lock()
                .expect("snapshots lock")
                .push(s.to_owned());
        }
        Ok(())
    }
}
