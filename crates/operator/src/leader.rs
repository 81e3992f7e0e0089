//! Leader election on a `coordination.k8s.io/v1` Lease: only the holder reconciles, a standby
//! takes over when the holder stops renewing.
//!
//! Safe under clock skew, by client-go's rule: another replica's `renewTime` is its own clock's
//! reading and is never compared with ours. A standby notes, on its own monotonic clock, when it
//! last saw the Lease change (a new resourceVersion: every renewal writes one), and takes over only
//! once `leaseDurationSeconds` have passed on that clock without a change. The holder, in turn,
//! stops acting once its last successful renewal (timed from before the request was sent) is
//! older than the Lease duration less one renewal period, so it stops before any standby may
//! start.

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::time::Instant;
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
    /// The Lease as last read, and when (on this replica's clock) it last changed.
    seen: Mutex<Option<Observed>>,
}

/// What this replica knows of the Lease from its own reads.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Observed {
    /// The resourceVersion read; a change means someone wrote the Lease.
    version: String,
    /// Empty when nobody holds it (released).
    holder: String,
    /// The holder's `leaseDurationSeconds`.
    duration: Duration,
    /// When this replica first read `version`: the start of the holder's term as seen from here.
    changed_at: Instant,
}

/// What a read of the Lease allows this replica to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    /// This replica holds it: write a new `renewTime`.
    Renew,
    /// Nobody holds it, or its holder let `leaseDurationSeconds` pass (on our clock) without a
    /// write: take it over.
    TakeOver,
    /// Another replica holds it.
    StandBy,
}

/// Fold one read of the Lease into what was known: the change time moves only when the
/// resourceVersion does, so a holder's `renewTime` (its own clock) plays no part.
fn observe(prev: Option<&Observed>, lease: &Lease, now: Instant, default: Duration) -> Observed {
    let version = lease.metadata.resource_version.clone().unwrap_or_default();
    let spec = lease.spec.as_ref();
    let changed_at = match prev {
        Some(p) if p.version == version => p.changed_at,
        _ => now,
    };
    Observed {
        holder: spec
            .and_then(|s| s.holder_identity.clone())
            .unwrap_or_default(),
        duration: spec
            .and_then(|s| s.lease_duration_seconds)
            .map_or(default, |s| Duration::from_secs(s.max(0) as u64)),
        version,
        changed_at,
    }
}

fn decide(seen: &Observed, identity: &str, now: Instant) -> Decision {
    if seen.holder == identity {
        Decision::Renew
    } else if seen.holder.is_empty() || now.duration_since(seen.changed_at) > seen.duration {
        Decision::TakeOver
    } else {
        Decision::StandBy
    }
}

impl Elector {
    pub fn new(client: kube::Client, cfg: LeaseConfig) -> Self {
        Elector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            seen: Mutex::new(None),
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
        let mut last_renewed = Instant::now();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(self.cfg.renew_every) => {}
            }
            // A standby times our term from when it reads our write, which is after we sent it.
            let sent = Instant::now();
            match self.try_hold().await {
                Ok(true) => last_renewed = sent,
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
        let duration_secs = self.cfg.duration.as_secs().max(1) as i32;
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            let now = MicroTime(Timestamp::now());
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.cfg.identity.clone()),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
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
        let decision = {
            let now = Instant::now();
            let mut seen = self.seen.lock().expect("lease observation lock");
            let observed = observe(seen.as_ref(), &lease, now, self.cfg.duration);
            let decision = decide(&observed, &self.cfg.identity, now);
            *seen = Some(observed);
            decision
        };
        // renewTime and acquireTime are for people reading the Lease; no replica trusts them.
        let now = MicroTime(Timestamp::now());
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        match decision {
            Decision::StandBy => return Ok(false),
            Decision::TakeOver => {
                spec.holder_identity = Some(self.cfg.identity.clone());
                spec.acquire_time = Some(now.clone());
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
            Decision::Renew => {}
        }
        spec.lease_duration_seconds = Some(duration_secs);
        spec.renew_time = Some(now);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(version: &str, holder: Option<&str>, secs: i32, renew: Option<Timestamp>) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("cache-operator".into()),
                resource_version: Some(version.into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                lease_duration_seconds: Some(secs),
                renew_time: renew.map(MicroTime),
                ..LeaseSpec::default()
            }),
        }
    }

    const DEFAULT: Duration = Duration::from_secs(15);

    /// A replica's reads of the Lease (at seconds on its own clock) and what it may do after each.
    #[test]
    fn a_standby_times_the_holder_on_its_own_clock() {
        let far_past = Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(1);
        let far_future = Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_hours(1);
        struct Case {
            what: &'static str,
            reads: Vec<(u64, Lease)>,
            want: Decision,
        }
        let cases = [
            Case {
                what: "a fresh Lease of a peer whose renewTime is an hour old (its clock is behind)",
                reads: vec![(0, lease("1", Some("peer"), 15, Some(far_past)))],
                want: Decision::StandBy,
            },
            Case {
                what: "a peer whose renewTime is an hour old, renewing every 5 s",
                reads: (0..10)
                    .map(|i| {
                        (
                            i * 5,
                            lease(&i.to_string(), Some("peer"), 15, Some(far_past)),
                        )
                    })
                    .collect(),
                want: Decision::StandBy,
            },
            Case {
                what: "the same peer stopped: 15 s without a write, not yet more",
                reads: vec![
                    (0, lease("1", Some("peer"), 15, Some(far_past))),
                    (5, lease("2", Some("peer"), 15, Some(far_past))),
                    (20, lease("2", Some("peer"), 15, Some(far_past))),
                ],
                want: Decision::StandBy,
            },
            Case {
                what: "the same peer stopped more than 15 s ago on our clock",
                reads: vec![
                    (0, lease("1", Some("peer"), 15, Some(far_past))),
                    (5, lease("2", Some("peer"), 15, Some(far_past))),
                    (21, lease("2", Some("peer"), 15, Some(far_past))),
                ],
                want: Decision::TakeOver,
            },
            Case {
                what: "a peer whose renewTime is an hour ahead (its clock is ahead), stopped",
                reads: vec![
                    (0, lease("1", Some("peer"), 15, Some(far_future))),
                    (16, lease("1", Some("peer"), 15, Some(far_future))),
                ],
                want: Decision::TakeOver,
            },
            Case {
                what: "the peer's own leaseDurationSeconds counts, not ours",
                reads: vec![
                    (0, lease("1", Some("peer"), 60, Some(far_past))),
                    (59, lease("1", Some("peer"), 60, Some(far_past))),
                ],
                want: Decision::StandBy,
            },
            Case {
                what: "a released Lease",
                reads: vec![(0, lease("3", None, 15, None))],
                want: Decision::TakeOver,
            },
            Case {
                what: "our own Lease, whatever its renewTime",
                reads: vec![(0, lease("4", Some("me"), 15, Some(far_future)))],
                want: Decision::Renew,
            },
        ];
        let start = Instant::now();
        for case in cases {
            let mut seen: Option<Observed> = None;
            let mut last = None;
            for (at, l) in &case.reads {
                let now = start + Duration::from_secs(*at);
                let o = observe(seen.as_ref(), l, now, DEFAULT);
                last = Some(decide(&o, "me", now));
                seen = Some(o);
            }
            assert_eq!(last, Some(case.want), "{}", case.what);
        }
    }

    #[test]
    fn the_change_time_moves_only_with_the_resource_version() {
        let start = Instant::now();
        let t = Timestamp::now();
        let a = observe(None, &lease("7", Some("peer"), 15, Some(t)), start, DEFAULT);
        assert_eq!(a.changed_at, start);
        let b = observe(
            Some(&a),
            &lease("7", Some("peer"), 15, Some(t)),
            start + Duration::from_secs(9),
            DEFAULT,
        );
        assert_eq!(b.changed_at, start, "same version: no news from the holder");
        let c = observe(
            Some(&b),
            &lease("8", Some("peer"), 15, Some(t)),
            start + Duration::from_secs(10),
            DEFAULT,
        );
        assert_eq!(c.changed_at, start + Duration::from_secs(10));
        let missing = Lease {
            spec: None,
            ..lease("9", None, 0, None)
        };
        assert_eq!(observe(None, &missing, start, DEFAULT).duration, DEFAULT);
    }
}
