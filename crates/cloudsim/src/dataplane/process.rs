//! One redis-server process: started in a temp dir, reachable on a private unix socket, managed through an
//! admin ACL user, and stopped when the simulator stops — even if the simulator is killed with SIGKILL.
//!
//! The workspace forbids `unsafe`, so `prctl(PR_SET_PDEATHSIG)` in a `pre_exec` hook is not an option.
//! Instead redis-server runs under a tiny POSIX-sh watchdog whose stdin is a pipe from the simulator: when
//! the simulator dies for any reason the kernel closes the pipe, the watchdog's `read` returns, and it
//! terminates redis-server. The watchdog also exits (and reaps redis) when redis stops on its own.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use redis::aio::MultiplexedConnection;
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::process::{Child, ChildStdin, Command};

use crate::util::random_secret;

/// The ACL user the simulator manages redis-server through (never handed to clients).
pub const ADMIN_USER: &str = "cloudsim-admin";

// $0 = redis-server, $1 = its config file, $2 = its temp dir (removed once redis-server is gone, which
// matters when the simulator was killed and could not clean up itself).
const WATCHDOG: &str = r#"exec 3<&0 </dev/null
"$0" "$1" 3<&- &
r=$!
(read -r _ <&3; kill $r 2>/dev/null) &
w=$!
exec 3<&-
wait $r
s=$?
kill $w 2>/dev/null
rm -rf -- "$2"
exit $s
"#;

const START_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A running redis-server.
pub struct RedisProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    dir: TempDir,
    socket: PathBuf,
    admin_password: String,
}

impl std::fmt::Debug for RedisProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisProcess")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

fn quote(p: &Path) -> String {
    format!(
        "\"{}\"",
        p.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    )
}

impl RedisProcess {
    /// Starts redis-server and waits until it serves commands. With `cluster_announce_port`, the server
    /// runs in cluster mode with all 16384 slots and announces 127.0.0.1:<that port> to clients.
    pub async fn launch(binary: &Path, cluster_announce_port: Option<u16>) -> anyhow::Result<Self> {
        Self::launch_with(binary, cluster_announce_port, None).await
    }

    /// [`RedisProcess::launch`], starting from the data of an RDB file.
    async fn launch_with(
        binary: &Path,
        cluster_announce_port: Option<u16>,
        rdb: Option<&[u8]>,
    ) -> anyhow::Result<Self> {
        let mut last_err = anyhow!("redis-server did not start");
        // The cluster bus needs a TCP port; another process may grab the one we picked, so retry.
        for _ in 0..3 {
            match Self::launch_once(binary, cluster_announce_port, rdb).await {
                Ok(p) => return Ok(p),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    async fn launch_once(
        binary: &Path,
        cluster_announce_port: Option<u16>,
        rdb: Option<&[u8]>,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("cloudsim-redis-")
            .tempdir()?;
        if let Some(rdb) = rdb {
            // redis-server loads `dir/dump.rdb` at start (even with `save ""`).
            std::fs::write(dir.path().join("dump.rdb"), rdb)?;
        }
        let socket = dir.path().join("redis.sock");
        let admin_password = random_secret(24);
        let mut conf = format!(
            "port 0\nbind 127.0.0.1\nunixsocket {sock}\nunixsocketperm 700\ndir {dir}\nsave \"\"\nappendonly no\n\
             daemonize no\nlogfile {log}\nloglevel notice\n\
             user default off\nuser {ADMIN_USER} on #{hash} ~* &* +@all\n",
            sock = quote(&socket),
            dir = quote(dir.path()),
            log = quote(&dir.path().join("redis.log")),
            hash = sha256_hex(&admin_password),
        );
        if let Some(announce) = cluster_announce_port {
            let bus = free_port()?;
            conf.push_str(&format!(
                "cluster-enabled yes\ncluster-config-file {nodes}\ncluster-port {bus}\n\
                 cluster-announce-ip 127.0.0.1\ncluster-announce-port {announce}\ncluster-announce-bus-port {bus}\n",
                nodes = quote(&dir.path().join("nodes.conf")),
            ));
        }
        let conf_path = dir.path().join("redis.conf");
        std::fs::write(&conf_path, conf)?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg(binary)
            .arg(&conf_path)
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("could not run sh to start {}", binary.display()))?;
        let stdin = child.stdin.take();
        let mut p = Self {
            child,
            stdin,
            dir,
            socket,
            admin_password,
        };
        match p.wait_ready(cluster_announce_port.is_some()).await {
            Ok(()) => Ok(p),
            Err(e) => {
                let log =
                    std::fs::read_to_string(p.dir.path().join("redis.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(3).collect();
                p.stop().await;
                Err(e.context(format!(
                    "redis-server log: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                )))
            }
        }
    }

    async fn wait_ready(&mut self, cluster: bool) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let mut slots_assigned = false;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("redis-server exited during startup ({status})");
            }
            if tokio::time::Instant::now() > deadline {
                bail!("redis-server did not become ready within {START_TIMEOUT:?}");
            }
            if let Ok(mut con) = self.admin().await {
                if !cluster {
                    let pong: redis::RedisResult<String> =
                        redis::cmd("PING").query_async(&mut con).await;
                    if pong.is_ok() {
                        return Ok(());
                    }
                } else {
                    if !slots_assigned {
                        let r: redis::RedisResult<()> = redis::cmd("CLUSTER")
                            .arg("ADDSLOTSRANGE")
                            .arg(0)
                            .arg(16383)
                            .query_async(&mut con)
                            .await;
                        slots_assigned = r.is_ok();
                    }
                    let info: redis::RedisResult<String> = redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query_async(&mut con)
                        .await;
                    if info.is_ok_and(|i| i.contains("cluster_state:ok")) {
                        return Ok(());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The admin user's password (for the simulator's own raw connections, e.g. replication).
    pub(super) fn admin_password(&self) -> &str {
        &self.admin_password
    }

    /// The data as an RDB file, as a managed service's backup holds it (`SAVE`, then the file).
    pub async fn snapshot(&self) -> anyhow::Result<Vec<u8>> {
        let mut con = self.admin().await?;
        redis::cmd("SAVE")
            .query_async::<()>(&mut con)
            .await
            .context("SAVE")?;
        Ok(tokio::fs::read(self.dir.path().join("dump.rdb")).await?)
    }

    /// Copies every key of an RDB file into this server: the file is loaded by a scratch
    /// redis-server and its keys are moved with DUMP/RESTORE (so several files — one per shard
    /// of a backup — and cluster mode both work). Returns how many keys were restored.
    pub async fn seed(&self, binary: &Path, rdb: &[u8]) -> anyhow::Result<u64> {
        let scratch = Self::launch_with(binary, None, Some(rdb)).await?;
        let result = self.copy_from(&scratch).await;
        scratch.stop().await;
        result
    }

    async fn copy_from(&self, source: &RedisProcess) -> anyhow::Result<u64> {
        let mut src = source.admin().await?;
        let mut dst = self.admin().await?;
        let mut cursor = 0u64;
        let mut copied = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut src)
                .await?;
            for key in keys {
                let dump: Option<Vec<u8>> =
                    redis::cmd("DUMP").arg(&key).query_async(&mut src).await?;
                let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut src).await?;
                let Some(dump) = dump else { continue };
                redis::cmd("RESTORE")
                    .arg(&key)
                    .arg(ttl.max(0))
                    .arg(dump)
                    .arg("REPLACE")
                    .query_async::<()>(&mut dst)
                    .await?;
                copied += 1;
            }
            if next == 0 {
                return Ok(copied);
            }
            cursor = next;
        }
    }

    /// A connection as the admin user.
    pub async fn admin(&self) -> redis::RedisResult<MultiplexedConnection> {
        let info = ConnectionAddr::Unix(self.socket.clone())
            .into_connection_info()?
            .set_redis_settings(
                RedisConnectionInfo::default()
                    .set_username(ADMIN_USER)
                    .set_password(&self.admin_password)
                    .set_skip_set_lib_name(),
            );
        redis::Client::open(info)?
            .get_multiplexed_async_connection()
            .await
    }

    /// Stops redis-server (closing the watchdog's pipe makes it terminate redis) and waits for it.
    pub async fn stop(mut self) {
        self.stdin.take();
        if tokio::time::timeout(STOP_TIMEOUT, self.child.wait())
            .await
            .is_err()
        {
            tracing::warn!(socket = %self.socket.display(), "redis-server did not stop in time; killing its watchdog");
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}
