//! The newcomer's first command, as they would see it: where things are on the first two lines,
//! the samples Ready in a table, the Secrets' key names (never their values), a clean stop.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

#[tokio::test]
async fn sandbox_starts_everything_and_shows_the_samples_ready() -> anyhow::Result<()> {
    sandbox_shows_the_samples_ready(&[]).await
}

/// `--kube real`: the same world on kube-apiserver, etcd and kube-controller-manager built from
/// source, the operator a ServiceAccount with the shipped RBAC.
#[tokio::test]
async fn sandbox_on_the_real_control_plane() -> anyhow::Result<()> {
    sandbox_shows_the_samples_ready(&["--kube", "real"]).await?;
    Ok(())
}

async fn sandbox_shows_the_samples_ready(extra: &[&str]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["--dir", dir.path().to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    while !lines
        .iter()
        .any(|l: &String| l.starts_with("sandbox running"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => lines.push(l),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the sandbox did not come up; it printed:\n{}",
                    lines.join("\n")
                );
            }
        }
    }
    let out = lines.join("\n");
    let kubeconfig = lines[0]
        .strip_prefix("KUBECONFIG=")
        .expect("first line names the kubeconfig");
    assert_eq!(
        kubeconfig,
        dir.path().join("kubeconfig").display().to_string()
    );
    let cloudsim = lines[1]
        .strip_prefix("CLOUDSIM=http://127.0.0.1:")
        .expect("second line names the simulator");
    assert!(cloudsim.parse::<u16>().is_ok(), "{out}");

    for name in [
        "orders-cache",
        "sessions-cache",
        "orders-clients",
        "sessions-users",
        "orders-api",
        "sessions-app",
        "inventory-cache",
        "inventory-clients",
        "inventory-api",
        "web-cache",
        "web-app",
        "orders-us",
        "orders-eu",
        "orders-api-us",
        "orders-api-eu",
    ] {
        let row = lines
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{out}"));
        assert!(
            row.split_whitespace().any(|c| c == "True"),
            "{name} is not Ready: {row}"
        );
    }
    assert!(
        out.contains("NODE TYPE")
            && out.contains("redis-highmem-medium")
            && out.contains("cache.r7g.large")
            && out.contains("standard-small"),
        "{out}"
    );

    // Key names are shown; the credentials themselves never are.
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?,
    )?;
    let secrets: Api<Secret> = Api::namespaced(client, "default");
    for name in [
        "orders-cache-redis",
        "sessions-cache-redis",
        "inventory-cache-valkey",
        "web-cache-redis",
        "orders-us-redis",
        "orders-eu-redis",
    ] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("Secret {name} ")))
            .unwrap_or_else(|| panic!("{out}"));
        let data = secrets.get(name).await?.data.unwrap_or_default();
        for (key, value) in &data {
            assert!(line.contains(key.as_str()), "{line} lacks {key}");
            let value = String::from_utf8_lossy(&value.0);
            if key == "password" {
                assert!(!value.is_empty());
                assert!(!out.contains(value.as_ref()), "a credential was printed");
            }
        }
    }

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the sandbox did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    Ok(())
}
