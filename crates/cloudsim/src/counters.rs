//! Request counters by API, operation and outcome, as served by `GET /_cloudsim/counters`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use serde::Serialize;

/// The simulated APIs, named as in the counters document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    Memorystore,
    Iamcredentials,
    Cloudresourcemanager,
    Oauth2,
    Elasticache,
    Sts,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Memorystore => "memorystore",
            Api::Iamcredentials => "iamcredentials",
            Api::Cloudresourcemanager => "cloudresourcemanager",
            Api::Oauth2 => "oauth2",
            Api::Elasticache => "elasticache",
            Api::Sts => "sts",
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome recorded for a successful call.
pub const OK: &str = "ok";

type Table = BTreeMap<Api, BTreeMap<String, BTreeMap<String, u64>>>;

#[derive(Debug, Default)]
pub struct Counters {
    table: Mutex<Table>,
}

impl Counters {
    pub fn record(&self, api: Api, operation: &str, outcome: &str) {
        let mut t = self.table.lock().expect("counters lock");
        *t.entry(api)
            .or_default()
            .entry(operation.to_owned())
            .or_default()
            .entry(outcome.to_owned())
            .or_default() += 1;
    }

    pub fn snapshot(&self) -> serde_json::Value {
        let t = self.table.lock().expect("counters lock");
        serde_json::to_value(&*t).unwrap_or_default()
    }

    pub fn clear(&self) {
        self.table.lock().expect("counters lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_api_operation_and_outcome() {
        let c = Counters::default();
        c.record(Api::Memorystore, "clusters.create", OK);
        c.record(Api::Memorystore, "clusters.create", OK);
        c.record(Api::Memorystore, "clusters.get", "NOT_FOUND");
        c.record(Api::Elasticache, "CreateUser", "UserAlreadyExists");
        let v = c.snapshot();
        assert_eq!(v["memorystore"]["clusters.create"]["ok"], 2);
        assert_eq!(v["memorystore"]["clusters.get"]["NOT_FOUND"], 1);
        assert_eq!(v["elasticache"]["CreateUser"]["UserAlreadyExists"], 1);
        c.clear();
        assert_eq!(c.snapshot(), serde_json::json!({}));
    }
}
