//! `locations.get/list`, the same path for both Memorystore APIs.

use serde_json::{Value, json};

use super::error::RpcError;
use super::resource::LocationName;
use crate::sim::Shared;

/// Regions offering Memorystore that `locations.list` reports (others are accepted too).
const REGIONS: &[&str] = &[
    "asia-east1",
    "asia-northeast1",
    "asia-south1",
    "asia-southeast1",
    "australia-southeast1",
    "europe-west1",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "northamerica-northeast1",
    "southamerica-east1",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-west1",
    "us-west2",
];

fn location_json(project: &str, region: &str) -> Value {
    json!({"name": format!("projects/{project}/locations/{region}"), "locationId": region})
}

/// The known regions and every region the project has a cluster or instance in.
pub fn list(shared: &Shared, project: &str) -> Result<Value, RpcError> {
    let mut regions: Vec<String> = REGIONS.iter().map(|r| (*r).to_owned()).collect();
    let gcp = shared.gcp.lock().expect("gcp lock");
    let prefix = format!("projects/{project}/locations/");
    let names = gcp
        .clusters
        .keys()
        .chain(gcp.instances.keys())
        .filter(|k| k.starts_with(&prefix));
    for name in names {
        if let Some(region) = name.split('/').nth(3)
            && !regions.iter().any(|r| r == region)
        {
            regions.push(region.to_owned());
        }
    }
    regions.sort();
    Ok(json!({"locations": regions.iter().map(|r| location_json(project, r)).collect::<Vec<_>>()}))
}

pub fn get(project: &str, location: &str) -> Result<Value, RpcError> {
    LocationName::new(project, location)?;
    Ok(location_json(project, location))
}
