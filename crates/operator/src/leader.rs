//! Leader election on a `coordination.k8s.io/v1` Lease: only the holder reconciles, a standby
//! takes over when the holder stops renewing.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// This replica's identity (pod name).
    pub identity: String,
    /// How long a holder keeps the Lease without renewing.
    pub duration: Duration,
    /// How often the holder renews (well inside `duration`).
    pub renew_every: Duration,
}

pub struct Elector {
    api: Api<Lease>,
    cfg: LeaseConfig,
}

impl Elector {
    pub fn new(client: kube::Client, cfg: LeaseConfig) -> Self {
        Elector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
        }
    }

    /// Wait until this replica holds the Lease; `None` when cancelled first.
    pub async fn acquire(&self, cancel: &CancellationToken) -> Option<()> {
        let mut announced = false;
        loop {
            match self.try_hold().await {
                Ok(true) => {
                    tracing::info!(lease = %self.cfg.name, identity = %self.cfg.identity, "acquired the leader Lease");
                    return Some(());
                }
                Ok(false) if !announced => {
                    tracing::info!(lease = %self.cfg.name, "another replica holds the leader Lease; standing by");
                    announced = true;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: could not read or write the Lease")
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return None,
                _ = tokio::time::sleep(self.cfg.renew_every) => {}
            }
        }
    }

    /// Renew until the Lease is lost (returns) or `cancel` fires (returns as well); the caller
    /// tells the two apart by `cancel.is_cancelled()`.
    pub async fn hold(&self, cancel: &CancellationToken) {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(self.cfg.renew_every) => {}
            }
            match self.try_hold().await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::error!(lease = %self.cfg.name, "the leader Lease was taken by another replica");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not renew the leader Lease");
                    // Stop acting before another replica may legitimately take over.
                    if last_renewed.elapsed() + self.cfg.renew_every >= self.cfg.duration {
                        tracing::error!(lease = %self.cfg.name, "leader Lease expired without renewal");
                        return;
                    }
                }
            }
        }
    }

    /// Give the Lease up so a standby takes over at once.
    pub async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.name).await {
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() == Some(self.cfg.identity.as_str()) {
                spec.holder_identity = None;
                spec.renew_time = None;
                match self
                    .api
                    .replace(&self.cfg.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(_) => tracing::info!(lease = %self.cfg.name, "released the leader Lease"),
                    Err(e) => tracing::warn!(error = %e, "could not release the leader Lease"),
                }
            }
        }
    }

    /// Create, renew or take over the Lease; `Ok(true)` when this replica holds it afterwards.
    async fn try_hold(&self) -> kube::Result<bool> {
        let now = Timestamp::now();
        let duration_secs = self.cfg.duration.as_secs().max(1) as i32;
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.cfg.identity.clone()),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        if holder != self.cfg.identity {
            let held_for = Duration::from_secs(
                spec.lease_duration_seconds.unwrap_or(duration_secs).max(0) as u64,
            );
            let expired = match &spec.renew_time {
                Some(MicroTime(t)) => now.duration_since(*t).unsigned_abs() > held_for && now > *t,
                None => true,
            };
            if !holder.is_empty() && !expired {
                return Ok(false);
            }
            spec.holder_identity = Some(self.cfg.identity.clone());
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.lease_duration_seconds = Some(duration_secs);
        spec.renew_time = Some(MicroTime(now));
        // The resourceVersion makes this a compare-and-swap: two replicas cannot both win.
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }
}
