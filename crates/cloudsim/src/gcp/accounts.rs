//! Which service accounts exist. Like projects, they exist implicitly, so any
//! `serviceAccount:` member or impersonation works until the admin API deletes the account;
//! from then on the account behaves as a deleted one does on Google Cloud: setIamPolicy refuses
//! it as a member, the policies that named it show `deleted:serviceAccount:EMAIL?uid=UID`, its
//! keys and tokens stop working. Creating it again makes a new account (a new uid) that the old
//! bindings do not grant anything to.

use std::collections::BTreeMap;

use crate::util::random_digits;

#[derive(Debug, Default)]
pub struct ServiceAccounts {
    /// Deleted accounts by email (lowercase), with the unique id they had.
    deleted: BTreeMap<String, String>,
    /// Unique ids of accounts that were named explicitly (created, or used before a delete).
    ids: BTreeMap<String, String>,
}

impl ServiceAccounts {
    pub fn exists(&self, email: &str) -> bool {
        !self.deleted.contains_key(&email.to_ascii_lowercase())
    }

    /// Creates the account (again, after a delete: with a new unique id); returns its id.
    pub fn create(&mut self, email: &str) -> String {
        let email = email.to_ascii_lowercase();
        if self.deleted.remove(&email).is_some() {
            self.ids.remove(&email);
        }
        self.unique_id(&email)
    }

    /// Deletes the account; returns the unique id it had, or `None` if it was already deleted.
    pub fn delete(&mut self, email: &str) -> Option<String> {
        let email = email.to_ascii_lowercase();
        if self.deleted.contains_key(&email) {
            return None;
        }
        let uid = self.unique_id(&email);
        self.deleted.insert(email, uid.clone());
        Some(uid)
    }

    fn unique_id(&mut self, email: &str) -> String {
        self.ids
            .entry(email.to_owned())
            .or_insert_with(|| random_digits(21))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_exist_until_deleted_and_come_back_as_new_ones() {
        let mut a = ServiceAccounts::default();
        assert!(a.exists("App@p.iam.gserviceaccount.com"));
        let uid = a.create("app@p.iam.gserviceaccount.com");
        assert_eq!(a.delete("APP@p.iam.gserviceaccount.com"), Some(uid.clone()));
        assert!(!a.exists("app@p.iam.gserviceaccount.com"));
        assert_eq!(a.delete("app@p.iam.gserviceaccount.com"), None);
        let again = a.create("app@p.iam.gserviceaccount.com");
        assert_ne!(again, uid, "a new account, not the old one");
        assert!(a.exists("app@p.iam.gserviceaccount.com"));
    }
}
