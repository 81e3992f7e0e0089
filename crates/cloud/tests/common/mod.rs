//! What the clients' tests against the cloud simulator share.

use std::time::{Duration, Instant};

/// The simulator in-process, provisioning in 50 ms; `redis` backs clusters with redis-server
/// (for tests that read data across upgrades and restores).
pub async fn sim(redis: bool) -> cloudsim::Running {
    cloudsim::Sim::start(cloudsim::Config {
        redis: if redis {
            cloudsim::RedisBacking::Binary(cloudsim::DEFAULT_REDIS_SERVER.into())
        } else {
            cloudsim::RedisBacking::Disabled
        },
        redis_cluster_mode: false,
        tunables: cloudsim::Tunables::default().with_provisioning_delay(Duration::from_millis(50)),
        ..Default::default()
    })
    .await
    .expect("cloudsim starts")
}

/// Poll `probe` until it yields a value (20 s at most).
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
