//! Project IAM policies reduced to what the operator writes: each group's grants per project.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use cache_operator_cloud::CloudError;
use cache_operator_cloud::error::Result;
use cache_operator_cloud::gcp::grants::{Applied, Grant, GrantOwner, Grants, bindings};

use crate::Script;

/// The groups' grants, by project and owner UID. Calls are recorded as `apply project`.
#[derive(Default)]
pub struct FakeGrants {
    script: Script,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    granted: BTreeMap<(String, String), Vec<Grant>>,
    /// Members IAM does not know (deleted service accounts).
    unknown: BTreeSet<String>,
}

impl FakeGrants {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fake grants lock")
    }

    /// IAM refuses `member` as not existing from now on.
    pub fn forget_member(&self, member: &str) {
        self.state().unknown.insert(member.to_owned());
    }

    /// What `owner_uid` holds in `project`.
    pub fn granted(&self, project: &str, owner_uid: &str) -> Vec<Grant> {
        self.state()
            .granted
            .get(&(project.to_owned(), owner_uid.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// See [`Script::fail`] (the call is `apply`).
    pub fn fail(&self, e: CloudError) {
        self.script.fail("apply", e);
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

#[async_trait]
impl Grants for FakeGrants {
    async fn apply(&self, project: &str, owner: &GrantOwner, wanted: &[Grant]) -> Result<Applied> {
        self.script.ask("apply", project)?;
        let mut st = self.state();
        let mut missing = BTreeSet::new();
        let now: Vec<Grant> = wanted
            .iter()
            .map(|g| Grant {
                cluster: g.cluster.clone(),
                members: g
                    .members
                    .iter()
                    .filter(|m| {
                        let unknown = st.unknown.contains(*m);
                        if unknown {
                            missing.insert((*m).clone());
                        }
                        !unknown
                    })
                    .cloned()
                    .collect(),
            })
            .collect();
        let key = (project.to_owned(), owner.uid.clone());
        let before = st.granted.get(&key).cloned().unwrap_or_default();
        let changed = before != now;
        let count = bindings(owner, &now).len();
        if now.is_empty() {
            st.granted.remove(&key);
        } else {
            st.granted.insert(key, now);
        }
        Ok(Applied {
            changed,
            conflicts: 0,
            missing: missing.into_iter().collect(),
            bindings: count,
        })
    }
}
