//! AWS's own ElastiCache controller (ACK `elasticache-controller` v1.8.0), unchanged and given
//! only the endpoint flags, against `cloudsim` on the real control plane: each of the kinds it
//! manages that the simulator serves — CacheSubnetGroup, CacheParameterGroup, User, UserGroup,
//! ReplicationGroup, Snapshot, ServerlessCache — goes create → `ACK.ResourceSynced` True → a spec update the cloud
//! shows → delete → gone from the cloud, and every call ACK made was one the simulator has.
//!
//! ACK comes from the peers folder (`ACK_PEERS_DIR`, default `../shared/peers` next to the
//! repository); without it the test fails naming the folder and its `build.sh`.

use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_elasticache::Client as Elasticache;
use aws_sdk_elasticache::error::ProvideErrorMetadata as _;
use e2e::ack::{self, Ack};
use e2e::{Env, Options, aws_region};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(240);

fn manifest(kind: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": format!("{}/{}", ack::GROUP, ack::VERSION),
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    })
}

struct World {
    env: Env,
    ack: Ack,
    ec: Elasticache,
}

impl World {
    async fn apply(&self, kind: &str, name: &str, spec: Value) -> anyhow::Result<()> {
        self.env.apply(manifest(kind, name, spec)).await?;
        Ok(())
    }

    async fn patch(&self, kind: &str, name: &str, spec: Value) -> anyhow::Result<()> {
        ack::api(&self.env.client, &self.env.namespace, kind)
            .patch(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(json!({ "spec": spec })),
            )
            .await?;
        Ok(())
    }

    /// Waits until ACK reports the object synced.
    async fn synced(&self, kind: &str, name: &str) -> anyhow::Result<()> {
        let api = ack::api(&self.env.client, &self.env.namespace, kind);
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let obj = api.get(name).await?;
            if ack::synced(&obj) == Some(true) {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                self.ack.process.print_tail(40);
                anyhow::bail!(
                    "{kind}/{name} not {} within {WAIT:?}: {:?}; status {:#}",
                    ack::SYNCED,
                    ack::trouble(&obj),
                    obj.data["status"]
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn delete(&self, kind: &str, name: &str) -> anyhow::Result<()> {
        ack::api(&self.env.client, &self.env.namespace, kind)
            .delete(name, &Default::default())
            .await?;
        Ok(())
    }

    /// Waits until the object is gone from Kubernetes (ACK removed its finalizer).
    async fn gone(&self, kind: &str, name: &str) -> anyhow::Result<()> {
        let api = ack::api(&self.env.client, &self.env.namespace, kind);
        self.env
            .wait_for_value(WAIT, || async {
                api.get_opt(name).await.ok()?.is_none().then_some(())
            })
            .await
            .with_context(|| format!("{kind}/{name} still in Kubernetes"))
    }

    /// Polls the cloud until `probe` holds.
    async fn cloud<F, Fut>(&self, what: &str, probe: F) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<()>>,
    {
        self.env
            .wait_for_value(WAIT, probe)
            .await
            .with_context(|| format!("the cloud never showed {what}"))
    }
}

fn param<'a>(params: &'a [aws_sdk_elasticache::types::Parameter], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|p| p.parameter_name() == Some(name))?
        .parameter_value()
}

#[tokio::test]
async fn ack_runs_each_kind_through_its_lifecycle_against_cloudsim() -> anyhow::Result<()> {
    let build = ack::build()?;
    let env = Env::start_with(
        "ack-lifecycle",
        Options {
            operator: false,
            no_redis: true,
            ..Options::default()
        },
    )
    .await?;
    ack::install_crds(&env.client, build).await?;
    let region = aws_region();
    let ack = Ack::start(
        "ack",
        build,
        &env.kubeconfig,
        env.sim().base_url(),
        &ack::Options::new(&env.namespace, &region),
        &env.logs,
    )
    .await?;
    let ec = env.sim().elasticache(&region).await;
    let w = World { env, ack, ec };
    let suffix = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    let (sg, pg, rg) = (
        format!("ack-subnets-{suffix}"),
        format!("ack-params-{suffix}"),
        format!("ack-rg-{suffix}"),
    );
    let (user, other, group) = (
        format!("ack-user-{suffix}"),
        format!("ack-other-{suffix}"),
        format!("ack-group-{suffix}"),
    );
    let (snap, copy) = (format!("ack-snap-{suffix}"), format!("ack-copy-{suffix}"));

    // ---- create: the groups and users first (the replication group uses two of them).
    w.env
        .apply(json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ack-password"},
            "stringData": {"password": "an-ack-password-of-some-length"},
        }))
        .await?;
    w.apply(
        "CacheSubnetGroup",
        &sg,
        json!({"cacheSubnetGroupName": sg, "cacheSubnetGroupDescription": "subnets for ack",
               "subnetIDs": ["subnet-0a1b2c3d", "subnet-1a2b3c4d"]}),
    )
    .await?;
    w.apply(
        "CacheParameterGroup",
        &pg,
        json!({"cacheParameterGroupName": pg, "cacheParameterGroupFamily": "redis7",
               "description": "parameters for ack",
               "parameterNameValues": [{"parameterName": "maxmemory-policy", "parameterValue": "allkeys-lru"}]}),
    )
    .await?;
    w.apply(
        "User",
        &user,
        json!({"userID": user, "userName": user, "engine": "redis", "accessString": "on ~app::* +@read",
               "passwords": [{"namespace": w.env.namespace, "name": "ack-password", "key": "password"}]}),
    )
    .await?;
    w.apply(
        "User",
        &other,
        json!({"userID": other, "userName": other, "engine": "redis", "accessString": "on ~* +@all",
               "noPasswordRequired": true}),
    )
    .await?;
    w.apply(
        "UserGroup",
        &group,
        json!({"userGroupID": group, "engine": "redis", "userIDs": ["default"]}),
    )
    .await?;
    for (kind, name) in [
        ("CacheSubnetGroup", &sg),
        ("CacheParameterGroup", &pg),
        ("User", &user),
        ("User", &other),
        ("UserGroup", &group),
    ] {
        w.synced(kind, name).await?;
    }
    w.apply(
        "ReplicationGroup",
        &rg,
        json!({"replicationGroupID": rg, "description": "created by ack", "engine": "redis",
               "engineVersion": "7.1", "cacheNodeType": "cache.t4g.micro",
               "numNodeGroups": 1, "replicasPerNodeGroup": 1,
               "cacheSubnetGroupName": sg, "cacheParameterGroupName": pg}),
    )
    .await?;
    w.synced("ReplicationGroup", &rg).await?;

    let subnets =
        w.ec.describe_cache_subnet_groups()
            .cache_subnet_group_name(&sg)
            .send()
            .await?;
    assert_eq!(subnets.cache_subnet_groups()[0].subnets().len(), 2);
    let params =
        w.ec.describe_cache_parameters()
            .cache_parameter_group_name(&pg)
            .source("user")
            .send()
            .await?;
    assert_eq!(
        param(params.parameters(), "maxmemory-policy"),
        Some("allkeys-lru")
    );
    let members =
        w.ec.describe_cache_clusters()
            .cache_cluster_id(format!("{rg}-001"))
            .send()
            .await?;
    let member = &members.cache_clusters()[0];
    assert_eq!(member.cache_subnet_group_name(), Some(sg.as_str()));
    assert_eq!(
        member
            .cache_parameter_group()
            .and_then(|g| g.cache_parameter_group_name()),
        Some(pg.as_str())
    );
    let groups =
        w.ec.describe_replication_groups()
            .replication_group_id(&rg)
            .send()
            .await?;
    assert_eq!(groups.replication_groups()[0].member_clusters().len(), 2);

    // ---- update: one spec change per object, each seen in the cloud.
    w.patch(
        "CacheSubnetGroup",
        &sg,
        json!({"cacheSubnetGroupDescription": "changed by ack",
               "subnetIDs": ["subnet-0a1b2c3d", "subnet-1a2b3c4d", "subnet-2a2b3c4d"]}),
    )
    .await?;
    w.patch(
        "CacheParameterGroup",
        &pg,
        json!({"parameterNameValues": [
            {"parameterName": "maxmemory-policy", "parameterValue": "volatile-ttl"},
            {"parameterName": "timeout", "parameterValue": "300"}]}),
    )
    .await?;
    w.patch(
        "User",
        &user,
        json!({"accessString": "on ~app::* +@read +@write"}),
    )
    .await?;
    w.patch("UserGroup", &group, json!({"userIDs": ["default", other]}))
        .await?;
    w.patch(
        "ReplicationGroup",
        &rg,
        json!({"description": "changed by ack"}),
    )
    .await?;
    w.cloud("the subnet group's new subnets and description", || async {
        let g =
            w.ec.describe_cache_subnet_groups()
                .cache_subnet_group_name(&sg)
                .send()
                .await
                .ok()?;
        let g = g.cache_subnet_groups().first()?;
        (g.subnets().len() == 3 && g.cache_subnet_group_description() == Some("changed by ack"))
            .then_some(())
    })
    .await?;
    w.cloud("the parameter group's new values", || async {
        let p =
            w.ec.describe_cache_parameters()
                .cache_parameter_group_name(&pg)
                .source("user")
                .send()
                .await
                .ok()?;
        (param(p.parameters(), "maxmemory-policy") == Some("volatile-ttl")
            && param(p.parameters(), "timeout") == Some("300"))
        .then_some(())
    })
    .await?;
    w.cloud("the user's new access string", || async {
        let u = w.ec.describe_users().user_id(&user).send().await.ok()?;
        let u = u.users().first()?;
        (u.access_string() == Some("on ~app::* +@read +@write") && u.status() == Some("active"))
            .then_some(())
    })
    .await?;
    w.cloud("the user group's new member", || async {
        let g =
            w.ec.describe_user_groups()
                .user_group_id(&group)
                .send()
                .await
                .ok()?;
        let g = g.user_groups().first()?;
        (g.user_ids().contains(&other) && g.status() == Some("active")).then_some(())
    })
    .await?;
    w.cloud("the replication group's new description", || async {
        let g =
            w.ec.describe_replication_groups()
                .replication_group_id(&rg)
                .send()
                .await
                .ok()?;
        (g.replication_groups().first()?.description() == Some("changed by ack")).then_some(())
    })
    .await?;
    for (kind, name) in [
        ("CacheSubnetGroup", &sg),
        ("CacheParameterGroup", &pg),
        ("User", &user),
        ("UserGroup", &group),
        ("ReplicationGroup", &rg),
    ] {
        w.synced(kind, name).await?;
    }

    // ---- snapshots: ACK's Snapshot has no field it updates in place; its second path,
    // CopySnapshot (`sourceSnapshotName`), is the change exercised after the create.
    w.apply(
        "Snapshot",
        &snap,
        json!({"snapshotName": snap, "replicationGroupID": rg}),
    )
    .await?;
    w.synced("Snapshot", &snap).await?;
    w.apply(
        "Snapshot",
        &copy,
        json!({"snapshotName": copy, "sourceSnapshotName": snap}),
    )
    .await?;
    w.synced("Snapshot", &copy).await?;
    for name in [&snap, &copy] {
        w.cloud("an available snapshot", || async {
            let s =
                w.ec.describe_snapshots()
                    .snapshot_name(name)
                    .send()
                    .await
                    .ok()?;
            (s.snapshots().first()?.snapshot_status() == Some("available")).then_some(())
        })
        .await?;
    }

    // ---- delete: snapshots and the group first, then what it used.
    for name in [&snap, &copy] {
        w.delete("Snapshot", name).await?;
    }
    w.delete("ReplicationGroup", &rg).await?;
    for name in [&snap, &copy] {
        w.gone("Snapshot", name).await?;
        w.cloud("the snapshot gone", || async {
            let s =
                w.ec.describe_snapshots()
                    .snapshot_name(name)
                    .send()
                    .await
                    .ok()?;
            s.snapshots().is_empty().then_some(())
        })
        .await?;
    }
    w.gone("ReplicationGroup", &rg).await?;
    w.cloud("the replication group gone", || async {
        let e =
            w.ec.describe_replication_groups()
                .replication_group_id(&rg)
                .send()
                .await
                .err()?;
        (e.code() == Some("ReplicationGroupNotFoundFault")).then_some(())
    })
    .await?;
    w.delete("UserGroup", &group).await?;
    w.delete("CacheParameterGroup", &pg).await?;
    w.delete("CacheSubnetGroup", &sg).await?;
    w.gone("UserGroup", &group).await?;
    for name in [&user, &other] {
        w.delete("User", name).await?;
    }
    for (kind, name) in [
        ("CacheParameterGroup", &pg),
        ("CacheSubnetGroup", &sg),
        ("User", &user),
        ("User", &other),
    ] {
        w.gone(kind, name).await?;
    }
    w.cloud(
        "the user group, users, parameter and subnet groups gone",
        || async {
            let missing = |e: Option<&str>, code: &str| e == Some(code);
            let g =
                w.ec.describe_user_groups()
                    .user_group_id(&group)
                    .send()
                    .await
                    .err()?;
            let u = w.ec.describe_users().user_id(&user).send().await.err()?;
            let o = w.ec.describe_users().user_id(&other).send().await.err()?;
            let p =
                w.ec.describe_cache_parameter_groups()
                    .cache_parameter_group_name(&pg)
                    .send()
                    .await
                    .err()?;
            let s =
                w.ec.describe_cache_subnet_groups()
                    .cache_subnet_group_name(&sg)
                    .send()
                    .await
                    .err()?;
            (missing(g.code(), "UserGroupNotFound")
                && missing(u.code(), "UserNotFound")
                && missing(o.code(), "UserNotFound")
                && missing(p.code(), "CacheParameterGroupNotFound")
                && missing(s.code(), "CacheSubnetGroupNotFoundFault"))
            .then_some(())
        },
    )
    .await?;

    // Every call ACK made is one the simulator serves: none answered as unknown.
    let counters = w.env.sim().counters().await?;
    eprintln!("cloud calls of the run: {counters:#}");
    for api in ["elasticache", "sts"] {
        let unknown = e2e::CloudSim::sum(
            &counters,
            api,
            |_| true,
            |o| matches!(o, "InvalidAction" | "MissingAction"),
        );
        assert_eq!(
            unknown, 0,
            "ACK called {api} actions cloudsim lacks: {counters:#}"
        );
    }
    assert!(
        e2e::CloudSim::sum(
            &counters,
            "sts",
            |op| op == "GetCallerIdentity",
            |o| o == "ok"
        ) >= 1,
        "ACK asks STS for its account at start: {counters:#}"
    );
    Ok(())
}

/// ACK's ServerlessCache reconciler, unchanged: create → synced → an update of two fields (ACK
/// sends one per reconcile, as the service demands) → the cloud shows both → delete → gone.
#[tokio::test]
async fn ack_runs_a_serverless_cache_through_its_lifecycle_against_cloudsim() -> anyhow::Result<()>
{
    let build = ack::build()?;
    let env = Env::start_with(
        "ack-serverless",
        Options {
            operator: false,
            no_redis: true,
            ..Options::default()
        },
    )
    .await?;
    ack::install_crds(&env.client, build).await?;
    let region = aws_region();
    let ack = Ack::start(
        "ack",
        build,
        &env.kubeconfig,
        env.sim().base_url(),
        &ack::Options::new(&env.namespace, &region),
        &env.logs,
    )
    .await?;
    let ec = env.sim().elasticache(&region).await;
    let w = World { env, ack, ec };
    let name = format!("ack-sls-{:06x}", rand::random::<u32>() & 0xff_ffff);
    w.apply(
        "ServerlessCache",
        &name,
        json!({"serverlessCacheName": name, "engine": "valkey", "majorEngineVersion": "8",
               "description": "serverless for ack",
               "cacheUsageLimits": {"dataStorage": {"maximum": 10, "unit": "GB"},
                                    "eCPUPerSecond": {"maximum": 5000}},
               "snapshotRetentionLimit": 1}),
    )
    .await?;
    w.synced("ServerlessCache", &name).await?;
    let shown = |retention: i32, time: Option<&'static str>| {
        let (ec, name) = (w.ec.clone(), name.clone());
        move || {
            let (ec, name) = (ec.clone(), name.clone());
            async move {
                let out = ec
                    .describe_serverless_caches()
                    .serverless_cache_name(&name)
                    .send()
                    .await
                    .ok()?;
                let c = out.serverless_caches().first()?;
                (c.status() == Some("available")
                    && c.snapshot_retention_limit() == Some(retention)
                    && (time.is_none() || c.daily_snapshot_time() == time))
                    .then_some(())
            }
        }
    };
    w.cloud("the serverless cache available", shown(1, None))
        .await?;

    w.patch(
        "ServerlessCache",
        &name,
        json!({"snapshotRetentionLimit": 3, "dailySnapshotTime": "04:00"}),
    )
    .await?;
    w.cloud(
        "both updated fields on the serverless cache",
        shown(3, Some("04:00")),
    )
    .await?;
    w.synced("ServerlessCache", &name).await?;

    w.delete("ServerlessCache", &name).await?;
    w.gone("ServerlessCache", &name).await?;
    w.cloud("the serverless cache gone", || async {
        let e =
            w.ec.describe_serverless_caches()
                .serverless_cache_name(&name)
                .send()
                .await
                .err()?;
        (e.code() == Some("ServerlessCacheNotFoundFault")).then_some(())
    })
    .await?;
    let counters = w.env.sim().counters().await?;
    let unknown = e2e::CloudSim::sum(
        &counters,
        "elasticache",
        |_| true,
        |o| matches!(o, "InvalidAction" | "MissingAction"),
    );
    assert_eq!(
        unknown, 0,
        "ACK called actions cloudsim lacks: {counters:#}"
    );
    Ok(())
}
