//! Leader election against a peer whose clock is far off, on the real kube-apiserver: the peer
//! writes `renewTime`s an hour in the past or an hour in the future. While it keeps renewing, a
//! standby must not take the Lease; once it stops, the standby takes it after the Lease duration
//! has passed on the standby's own clock — not at once (a clock behind) and not an hour later (a
//! clock ahead).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_operator::leader::{Elector, LeaseConfig};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

// Short, but long enough that a loaded machine's slow write is not a missed renewal.
const DURATION: Duration = Duration::from_secs(4);
const RENEW: Duration = Duration::from_millis(500);

/// A replica with a skewed clock holding `name`: renews every `RENEW` until `stop`; returns the
/// (local) instant just before its last successful write was sent.
fn skewed_peer(
    api: Api<Lease>,
    name: &str,
    skew: SignedDuration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<Instant> {
    let name = name.to_owned();
    tokio::spawn(async move {
        let mut last_write = Instant::now();
        while !stop.is_cancelled() {
            let sent = Instant::now();
            let their_now = MicroTime(Timestamp::now() + skew);
            let spec = LeaseSpec {
                holder_identity: Some("skewed-peer".into()),
                lease_duration_seconds: Some(DURATION.as_secs() as i32),
                acquire_time: Some(their_now.clone()),
                renew_time: Some(their_now),
                ..LeaseSpec::default()
            };
            let written = match api.get_opt(&name).await.unwrap() {
                Some(mut lease) => {
                    lease.spec = Some(spec);
                    api.replace(&name, &PostParams::default(), &lease).await
                }
                None => {
                    let lease = Lease {
                        metadata: ObjectMeta {
                            name: Some(name.clone()),
                            ..ObjectMeta::default()
                        },
                        spec: Some(spec),
                    };
                    api.create(&PostParams::default(), &lease).await
                }
            };
            match written {
                Ok(_) => last_write = sent,
                Err(e) => eprintln!("peer write: {e}"),
            }
            tokio::time::sleep(RENEW).await;
        }
        last_write
    })
}

async fn holder(api: &Api<Lease>, name: &str) -> Option<String> {
    api.get_opt(name)
        .await
        .unwrap()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

async fn standby_waits_for_the_skewed_peer(client: kube::Client, name: &str, skew: SignedDuration) {
    let api: Api<Lease> = Api::namespaced(client.clone(), "default");
    let stop = CancellationToken::new();
    let peer = skewed_peer(api.clone(), name, skew, stop.clone());
    let deadline = Instant::now() + Duration::from_secs(20);
    while holder(&api, name).await.as_deref() != Some("skewed-peer") {
        assert!(
            Instant::now() < deadline,
            "{name}: the peer never held the Lease"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let elector = Arc::new(Elector::new(
        client,
        LeaseConfig {
            name: name.into(),
            namespace: "default".into(),
            identity: "standby".into(),
            duration: DURATION,
            renew_every: RENEW,
        },
    ));
    let acquired_at = Arc::new(Mutex::new(None));
    let cancel = CancellationToken::new();
    let standby = tokio::spawn({
        let (elector, acquired_at, cancel) = (elector.clone(), acquired_at.clone(), cancel.clone());
        async move {
            if elector.acquire(&cancel).await.is_some() {
                *acquired_at.lock().unwrap() = Some(Instant::now());
            }
        }
    });

    // Two Lease durations of a live peer: the standby must keep standing by.
    tokio::time::sleep(DURATION * 2).await;
    assert_eq!(
        *acquired_at.lock().unwrap(),
        None,
        "{name}: the standby took the Lease from a peer that keeps renewing (clock skew {skew})"
    );
    assert_eq!(holder(&api, name).await.as_deref(), Some("skewed-peer"));

    stop.cancel();
    let last_write = peer.await.unwrap();
    let waited = tokio::time::timeout(DURATION + RENEW * 2 + Duration::from_secs(5), standby).await;
    cancel.cancel();
    assert!(
        waited.is_ok(),
        "{name}: the standby did not take over after the peer stopped (clock skew {skew})"
    );
    let acquired_at = acquired_at.lock().unwrap().expect("acquired");
    let after = acquired_at - last_write;
    assert!(
        after >= DURATION,
        "{name}: taken {after:?} after the peer's last renewal, before its Lease duration {DURATION:?} had passed"
    );
    assert_eq!(holder(&api, name).await.as_deref(), Some("standby"));
    let transitions = api.get(name).await.unwrap().spec.unwrap().lease_transitions;
    assert_eq!(transitions, Some(1), "{name}: one change of holder");
}

#[tokio::test]
async fn a_peer_with_a_skewed_clock_keeps_the_lease_while_it_renews_and_loses_it_on_our_clock() {
    let bin = control_plane::Binaries::ensure().expect("the control plane's binaries");
    let dir = tempfile::tempdir().unwrap();
    let cp =
        control_plane::ControlPlane::start(&bin, dir.path()).expect("the control plane starts");
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(cp.admin_kubeconfig()).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    // An hour behind: by its renewTime the Lease looks long expired.
    standby_waits_for_the_skewed_peer(client.clone(), "behind", SignedDuration::from_hours(-1))
        .await;
    // An hour ahead: by its renewTime the Lease looks valid for another hour.
    standby_waits_for_the_skewed_peer(client, "ahead", SignedDuration::from_hours(1)).await;
}
