//! The group's password records: read from its Secret at the start of an aws pass, written
//! back (server-side apply, owned by the group) whenever they change — before the cloud call
//! that depends on them.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};

use super::passwords::{self, PasswordEntry};
use super::status::Pass;
use crate::controller::MANAGER;
use crate::controller::error::{At, Error, Step};

#[derive(Default)]
pub struct Records {
    pub entries: BTreeMap<String, PasswordEntry>,
    written: BTreeMap<String, PasswordEntry>,
    exists: bool,
    /// Earliest time a password step is due.
    pub next_due: Option<Timestamp>,
}

fn secrets(pass: &Pass<'_>) -> Api<Secret> {
    Api::namespaced(
        pass.ctx.client.clone(),
        &pass.obj.namespace().unwrap_or_default(),
    )
}

impl Records {
    /// Read the records. A fresh read, not the shared cache: the group must see its own last
    /// write, or it would hand out a new password for one it already set.
    pub async fn load(pass: &Pass<'_>) -> Result<Records, Error> {
        let name = passwords::secret_name(&pass.obj.name_any());
        let mut records = Records::default();
        if let Some(s) = secrets(pass).get_opt(&name).await.at(Step::Observe)? {
            records.entries = passwords::records(&s);
            records.written = records.entries.clone();
            records.exists = true;
        }
        Ok(records)
    }

    /// Write the password Secret if the records changed.
    pub async fn save(&mut self, pass: &Pass<'_>) -> Result<(), Error> {
        if self.entries == self.written && (self.exists || self.entries.is_empty()) {
            return Ok(());
        }
        let secret = passwords::render(pass.obj, &self.entries);
        let mut value = serde_json::to_value(&secret).expect("a Secret serializes");
        value["apiVersion"] = "v1".into();
        value["kind"] = "Secret".into();
        secrets(pass)
            .patch(
                &passwords::secret_name(&pass.obj.name_any()),
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(value),
            )
            .await
            .at(Step::Apply)?;
        self.written = self.entries.clone();
        self.exists = true;
        Ok(())
    }

    pub fn due(&mut self, at: Timestamp) {
        self.next_due = Some(self.next_due.map_or(at, |t| t.min(at)));
    }
}

/// Delete the group's password Secret (gone already is fine).
pub async fn delete(pass: &Pass<'_>) -> Result<(), Error> {
    let name = passwords::secret_name(&pass.obj.name_any());
    match secrets(pass).delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e).at(Step::Apply),
    }
}
