//! Steady state costs nothing: 100 Ready clusters over several resync periods make no cloud
//! writes and fewer cloud reads than there are clusters per period.

use std::time::Duration;

use cache_operator_testkit::cluster;
use e2e::{CloudSim, Env, Options, aws_region, gcp_project, gcp_region};
use serde_json::Value;

const CLUSTERS: usize = 100;
const RESYNC: Duration = Duration::from_secs(4);
const PERIODS: u32 = 3;

/// Cluster `s{i}`: gcp for even `i`, aws for odd, the smallest there is.
fn manifest(i: usize, run: u16) -> Value {
    let name = format!("s{i}");
    let m = if i.is_multiple_of(2) {
        cluster::gcp(&name)
            .region(&gcp_region())
            .project(&gcp_project())
    } else {
        cluster::aws(&name).region(&aws_region()).engine("redis")
    };
    m.instance_id(&format!("s{run:x}-{i}"))
        .auth("disabled")
        .tls(false)
        .into_json()
}

#[tokio::test]
async fn a_steady_state_of_100_clusters_makes_no_writes_and_few_reads() -> anyhow::Result<()> {
    let opts = Options {
        no_redis: true,
        provisioning_delay: Duration::ZERO,
        operator_args: vec!["--resync".into(), format!("{}s", RESYNC.as_secs())],
        ..Options::default()
    };
    let env = Env::start_with("steady", opts).await?;
    let run = rand::random::<u16>();
    for i in 0..CLUSTERS {
        env.apply(manifest(i, run)).await?;
    }
    for i in 0..CLUSTERS {
        env.wait_ready("RedisCluster", &format!("s{i}"), Duration::from_secs(120))
            .await?;
    }
    // Let the last transitions settle into resyncs, then count.
    tokio::time::sleep(RESYNC).await;
    env.sim().reset_counters().await?;
    tokio::time::sleep(RESYNC * PERIODS).await;
    let counters = env.sim().counters().await?;
    let is_read = |op: &str| {
        op.ends_with(".get")
            || op.ends_with(".list")
            || op.ends_with(".getCertificateAuthority")
            || op.starts_with("Describe")
            || op.starts_with("List")
    };
    let all = |_: &str| true;
    let reads = CloudSim::sum(&counters, "memorystore", is_read, all)
        + CloudSim::sum(&counters, "elasticache", is_read, all);
    let writes = CloudSim::sum(&counters, "memorystore", |op| !is_read(op), all)
        + CloudSim::sum(&counters, "elasticache", |op| !is_read(op), all);
    let per_period = reads as f64 / f64::from(PERIODS);
    println!(
        "steady state, {CLUSTERS} clusters, {PERIODS} resync periods of {RESYNC:?}: {writes} cloud writes, {reads} cloud reads ({per_period:.1} per period, {:.3} per object per period)",
        per_period / CLUSTERS as f64
    );
    assert_eq!(writes, 0, "no writes in steady state: {counters:#}");
    assert!(
        per_period < CLUSTERS as f64,
        "fewer reads than clusters per resync: {counters:#}"
    );
    Ok(())
}
