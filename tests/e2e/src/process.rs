//! Child processes with their output in log files.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

pub struct Process {
    pub label: String,
    pub log: PathBuf,
    /// The base URL the process announced on its first stdout line, if it does.
    pub url: Option<String>,
    /// The base URL of its HTTP endpoints, for processes started with a known port.
    pub http: Option<String>,
    child: Option<Child>,
}

impl Process {
    /// Start a server that prints its base URL as its first stdout line (`kubesim`, `cloudsim`).
    pub async fn start(
        label: &str,
        bin: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        logs: &Path,
    ) -> anyhow::Result<Process> {
        let log = logs.join(format!("{label}.log"));
        let err = File::create(&log)?;
        let mut child = Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let out_log = logs.join(format!("{label}.stdout.log"));
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = tx.send(first);
            // Keep draining so the child never blocks on a full pipe.
            if let Ok(mut f) = File::create(out_log) {
                for line in lines.map_while(Result::ok) {
                    let _ = writeln!(f, "{line}");
                }
            }
        });
        let mut p = Process {
            label: label.to_owned(),
            log,
            url: None,
            http: None,
            child: Some(child),
        };
        let first = tokio::time::timeout(Duration::from_secs(30), rx).await;
        match first {
            Ok(Ok(Some(line))) if line.starts_with("http") => {
                p.url = Some(line.trim().to_owned());
                Ok(p)
            }
            other => {
                p.print_tail(30);
                bail!("{label} did not announce its address (got {other:?})")
            }
        }
    }

    /// Start a process whose output all goes to its log.
    pub fn start_plain(
        label: &str,
        bin: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        logs: &Path,
    ) -> anyhow::Result<Process> {
        let mut cmd = Command::new(bin);
        cmd.args(args).envs(env.iter().copied());
        Process::start_command(label, cmd, logs)
    }

    /// Start a prepared command (arguments, environment) whose output all goes to its log.
    pub fn start_command(label: &str, mut cmd: Command, logs: &Path) -> anyhow::Result<Process> {
        let log = logs.join(format!("{label}.log"));
        let out = File::create(&log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", cmd.get_program().to_string_lossy()))?;
        Ok(Process {
            label: label.to_owned(),
            log,
            url: None,
            http: None,
            child: Some(child),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Poll an HTTP path of the process until it answers 2xx.
    pub async fn wait_http_ok(&mut self, path: &str, timeout: Duration) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.http.as_deref().context("no HTTP address")?);
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(r) = reqwest::get(&url).await
                && r.status().is_success()
            {
                return Ok(());
            }
            if !self.is_running() {
                self.print_tail(40);
                bail!("{} exited before {path} answered", self.label);
            }
            if Instant::now() > deadline {
                self.print_tail(40);
                bail!("{} did not answer {path} within {timeout:?}", self.label);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<String> {
        let url = format!(
            "{}{path}",
            self.http
                .as_deref()
                .or(self.url.as_deref())
                .context("no HTTP address")?
        );
        Ok(reqwest::get(&url).await?.error_for_status()?.text().await?)
    }

    fn signal(&self, sig: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
        }
    }

    /// SIGTERM, then wait for the exit.
    pub async fn terminate(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        self.signal("-TERM");
        self.wait_exit(timeout).await
    }

    /// SIGKILL: no chance to clean up, as when a node dies.
    pub async fn kill(&mut self) -> anyhow::Result<ExitStatus> {
        self.signal("-KILL");
        self.wait_exit(Duration::from_secs(10)).await
    }

    async fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.as_mut().context("not started")?.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("{} did not exit within {timeout:?}", self.label);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn print_tail(&self, lines: usize) {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        eprintln!(
            "---- last {} lines of {} ({})",
            lines.min(all.len()),
            self.label,
            self.log.display()
        );
        for l in &all[all.len().saturating_sub(lines)..] {
            eprintln!("{l}");
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                // A polite stop first, so servers can stop their own children.
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                let deadline = Instant::now() + Duration::from_secs(5);
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}
