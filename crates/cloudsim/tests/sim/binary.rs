//! The `cloudsim` binary's contract: the base URL on the first stdout line, no redis-server left
//! behind after SIGTERM or even SIGKILL, and one clear line when valkey-server is missing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::common::*;

struct Binary {
    child: Child,
    base: String,
    http: reqwest::Client,
}

fn spawn() -> Binary {
    spawn_with(&[], Stdio::null())
}

fn spawn_with(extra: &[&str], stderr: Stdio) -> Binary {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloudsim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--provisioning-delay",
            "10ms",
            "--no-redis-cluster-mode",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("cloudsim runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.strip_suffix('\n').expect("a whole line").to_owned();
    let port = base
        .strip_prefix("http://127.0.0.1:")
        .expect("the line is exactly the base URL");
    assert!(port.parse::<u16>().is_ok_and(|p| p > 0), "{base}");
    Binary {
        child,
        base,
        http: reqwest::Client::new(),
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        // A failed assertion must not leave a simulator running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Binary {
    /// Creates a cluster and returns the unix socket of the redis-server behind it.
    async fn cluster_socket(&self) -> String {
        self.server_socket("clusters?clusterId=c").await
    }

    /// Creates `collection?idParam=id` (one shard) and returns the unix socket of its server.
    async fn server_socket(&self, create: &str) -> String {
        let url = format!("{}/v1/projects/p/locations/us-central1/{create}", self.base);
        let r = self
            .http
            .post(url)
            .json(&json!({"shardCount": 1}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        eventually("redis ready", || async {
            let v: Value = self
                .http
                .get(format!("{}/_cloudsim/clusters", self.base))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            v["clusters"][0]["redis"]["socket"]
                .as_str()
                .map(str::to_owned)
        })
        .await
    }

    fn signal(&self, sig: &str) {
        // The shell's builtin `kill`: no procps needed on the CI image.
        let script = format!("kill {sig} {}", self.child.id());
        let ok = Command::new("sh")
            .args(["-c", &script])
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
    }
}

async fn redis_answers(socket: &str) -> bool {
    let Ok(mut s) = tokio::net::UnixStream::connect(socket).await else {
        return false;
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf).await, Ok(n) if n > 0)
}

#[tokio::test]
async fn sigterm_stops_every_redis_server() {
    init();
    let mut b = spawn();
    let socket = b.cluster_socket().await;
    assert!(redis_answers(&socket).await);
    b.signal("-TERM");
    let deadline = std::time::Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = b.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "cloudsim did not exit on SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");
    assert!(
        !redis_answers(&socket).await,
        "redis-server stopped with the simulator"
    );
}

#[tokio::test]
async fn sigkill_of_the_simulator_still_ends_its_redis_servers() {
    init();
    let mut b = spawn();
    let socket = b.cluster_socket().await;
    assert!(redis_answers(&socket).await);
    b.signal("-KILL");
    b.child.wait().unwrap();
    eventually("the watchdog ends redis-server", || async {
        (!redis_answers(&socket).await).then_some(())
    })
    .await;
    let dir = std::path::Path::new(&socket).parent().unwrap().to_owned();
    eventually("the temp dir is removed", || async {
        (!dir.exists()).then_some(())
    })
    .await;
}

/// Without valkey-server the simulator says so once on stderr, and redis-server serves the
/// Valkey instance.
#[tokio::test]
async fn a_missing_valkey_server_is_said_once_and_redis_server_stands_in() {
    init();
    let mut b = spawn_with(
        &["--valkey-server", "/nonexistent/valkey-server"],
        Stdio::piped(),
    );
    let socket = b.server_socket("instances?instanceId=vk-1").await;
    let mut s = tokio::net::UnixStream::connect(&socket).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"INFO server\r\n").await.unwrap();
    let mut info = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&info).contains("redis_version") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&info));
        info.extend_from_slice(&buf[..n]);
    }
    let info = String::from_utf8_lossy(&info).into_owned();
    assert!(
        !info.contains("server_name:valkey"),
        "redis-server stands in: {info}"
    );
    b.signal("-TERM");
    b.child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut b.child.stderr.take().unwrap(), &mut stderr).unwrap();
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("valkey-server not found"))
        .collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(
        said[0].contains("/nonexistent/valkey-server")
            && said[0].contains("run redis-server instead"),
        "{}",
        said[0]
    );
}
