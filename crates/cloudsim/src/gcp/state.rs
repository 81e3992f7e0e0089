//! Everything the Google side keeps in memory: each product's resources, the operations and
//! `requestId` replays both APIs share, IAM, and the backups both products take.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::accounts::ServiceAccounts;
use super::backups::{Backup, BackupCollection};
use super::clusters::Cluster;
use super::iam::Policies;
use super::instances::Instance;
use super::operations::{OpResult, Operation, Replays, Verb};

#[derive(Debug, Default)]
pub struct GcpState {
    /// Memorystore for Redis Cluster clusters by full name.
    pub clusters: BTreeMap<String, Cluster>,
    /// Memorystore for Valkey instances by full name.
    pub instances: BTreeMap<String, Instance>,
    pub operations: BTreeMap<String, Operation>,
    /// Operations a client deleted that a remembered `requestId` still replays.
    pub retired: BTreeMap<String, Operation>,
    pub replays: Replays,
    pub policies: Policies,
    pub accounts: ServiceAccounts,
    /// Backup collections by full name; they outlive their resources.
    pub collections: BTreeMap<String, BackupCollection>,
    /// Backups by full name.
    pub backups: BTreeMap<String, Backup>,
}

impl GcpState {
    /// The operation a remembered `requestId` names, rendered, if it is still replayed.
    pub fn replay(
        &mut self,
        verb: Verb,
        target: &str,
        rid: &str,
        retention: Duration,
        now: Timestamp,
        ints: bool,
    ) -> Option<Value> {
        let op = self.replays.lookup(verb, target, rid, retention, now)?;
        self.operations
            .get(&op)
            .or_else(|| self.retired.get(&op))
            .map(|op| op.render(ints))
    }

    pub fn finish(&mut self, op: &str, result: OpResult) {
        if let Some(o) = self
            .operations
            .get_mut(op)
            .or_else(|| self.retired.get_mut(op))
        {
            o.finish(result);
        }
    }
}
