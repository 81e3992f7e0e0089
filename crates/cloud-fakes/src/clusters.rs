//! A cloud with at most one cluster, whatever the cloud: it reports the cluster a test sets,
//! creates by answering with an operation, and changes nothing by itself.

use std::sync::Mutex;

use async_trait::async_trait;
use cache_operator_api::model::{AwsCluster, GcpCluster};
use cache_operator_cloud::Clusters;
use cache_operator_cloud::error::Result;
use cache_operator_cloud::provider::{
    Change, Claim, Created, FinalBackup, ObservedBackup, ObservedCluster, OperationState, Owner,
    Progress,
};

use crate::Script;

/// The cluster API of either cloud (it implements both). Calls are recorded by their short
/// names: `list`, `get`, `create`, `claim`, `adopt`, `apply`, `delete`, `operation`, `ca`,
/// `backup`, `backups`, `final_backup`.
pub struct FakeClusters {
    script: Script,
    /// What `create` answers as the new resource's name.
    resource: String,
    state: Mutex<State>,
}

struct State {
    cluster: Option<ObservedCluster>,
    changes: Vec<Change>,
    operation: OperationState,
    claim: Claim,
    backups: Vec<ObservedBackup>,
    ca: Vec<String>,
}

impl FakeClusters {
    /// No cluster yet; a create will name `resource`.
    pub fn new(resource: &str) -> Self {
        FakeClusters {
            script: Script::default(),
            resource: resource.to_owned(),
            state: Mutex::new(State {
                cluster: None,
                changes: Vec::new(),
                operation: OperationState::Done,
                claim: Claim::Ours,
                backups: Vec::new(),
                ca: vec!["-----BEGIN CERTIFICATE-----".into()],
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fake clusters lock")
    }

    /// The cluster the cloud reports from now on (`None`: there is none).
    pub fn report(&self, cluster: Option<ObservedCluster>) {
        self.state().cluster = cluster;
    }

    /// The changes the spec asks of the reported cluster.
    pub fn differ(&self, changes: Vec<Change>) {
        self.state().changes = changes;
    }

    /// What every followed operation is.
    pub fn operation_is(&self, state: OperationState) {
        self.state().operation = state;
    }

    /// Whose the reported cluster is.
    pub fn claimed(&self, claim: Claim) {
        self.state().claim = claim;
    }

    /// The backups the cloud lists.
    pub fn backups_are(&self, backups: Vec<ObservedBackup>) {
        self.state().backups = backups;
    }

    /// See [`Script::fail`].
    pub fn fail(&self, call: &str, e: cache_operator_cloud::CloudError) {
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

    fn ask(&self, call: &str) -> Result<()> {
        self.script.ask(call, "")
    }
}

/// One implementation for both clouds: the desired cluster is not read.
macro_rules! clusters_of {
    ($desired:ty) => {
        #[async_trait]
        impl Clusters<$desired> for FakeClusters {
            fn changes(&self, _: &$desired, _: &ObservedCluster) -> Vec<Change> {
                self.state().changes.clone()
            }
            async fn list(&self, _: &$desired) -> Result<Vec<ObservedCluster>> {
                self.ask("list")?;
                Ok(self.state().cluster.clone().into_iter().collect())
            }
            async fn get(&self, _: &$desired) -> Result<Option<ObservedCluster>> {
                self.ask("get")?;
                Ok(self.state().cluster.clone())
            }
            async fn create(&self, _: &$desired, _: &Owner) -> Result<Created> {
                self.ask("create")?;
                Ok(Created {
                    progress: Progress::Operation("operations/op-1".into()),
                    resource: self.resource.clone(),
                })
            }
            async fn claim(&self, _: &$desired, _: &Owner, _: &ObservedCluster) -> Result<Claim> {
                self.ask("claim")?;
                Ok(self.state().claim.clone())
            }
            async fn adopt(&self, _: &$desired, _: &Owner, _: &ObservedCluster) -> Result<()> {
                self.ask("adopt")
            }
            async fn apply(&self, _: &$desired, _: &Change, _: &Owner) -> Result<Progress> {
                self.ask("apply")?;
                Ok(Progress::Started)
            }
            async fn delete(&self, _: &$desired, _: &Owner) -> Result<Progress> {
                self.ask("delete")?;
                Ok(Progress::Started)
            }
            async fn operation(&self, _: &str) -> Result<OperationState> {
                self.ask("operation")?;
                Ok(self.state().operation.clone())
            }
            async fn ca_certificates(&self, _: &$desired) -> Result<Vec<String>> {
                self.ask("ca")?;
                Ok(self.state().ca.clone())
            }
            async fn backup(&self, _: &$desired, _: &str) -> Result<Progress> {
                self.ask("backup")?;
                Ok(Progress::Started)
            }
            async fn backups(&self, _: &$desired) -> Result<Vec<ObservedBackup>> {
                self.ask("backups")?;
                Ok(self.state().backups.clone())
            }
            async fn final_backup(&self, _: &$desired, _: &Owner, _: &str) -> Result<FinalBackup> {
                self.ask("final_backup")?;
                Ok(FinalBackup::WithDelete(Progress::Started))
            }
        }
    };
}

clusters_of!(GcpCluster);
clusters_of!(AwsCluster);
