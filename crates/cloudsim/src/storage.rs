//! A minimal object store standing in for Cloud Storage and S3: the RDB files a cluster can be
//! created from (Memorystore `gcsSource`, ElastiCache `SnapshotArns`) and the files Memorystore
//! exports backups to. Objects are addressed as `gs://BUCKET/OBJECT` and `s3://BUCKET/KEY`; tests
//! and users put and read them through the admin API (`/_cloudsim/storage/{gs|s3}/BUCKET/OBJECT`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::dataplane::Rdb;

#[derive(Debug, Default)]
pub struct Storage {
    objects: Mutex<BTreeMap<String, Rdb>>,
}

impl Storage {
    pub fn get(&self, uri: &str) -> Option<Rdb> {
        self.objects.lock().expect("storage lock").get(uri).cloned()
    }

    pub fn put(&self, uri: String, data: Rdb) {
        self.objects.lock().expect("storage lock").insert(uri, data);
    }

    /// Every object: URI and size.
    pub fn list(&self) -> Vec<(String, usize)> {
        self.objects
            .lock()
            .expect("storage lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.len()))
            .collect()
    }

    pub fn clear(&self) {
        self.objects.lock().expect("storage lock").clear();
    }
}
