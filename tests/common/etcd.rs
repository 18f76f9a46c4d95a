//! etcd helpers shared by the backend and fault tests: a plain client for checks and cleanup,
//! and a cluster of the test's own whose members it can kill -9 and restart.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, DeleteOptions, GetOptions};

/// The `host:port` members of an `etcd://a:1,b:2` URL.
pub fn endpoints_of(url: &str) -> Vec<String> {
    url.strip_prefix("etcd://")
        .expect("an etcd:// URL")
        .trim_end_matches('/')
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// A plain etcd-client connection to `endpoints`, with short timeouts.
pub async fn raw_client(endpoints: &[String]) -> Client {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(1))
        .with_timeout(Duration::from_secs(5));
    Client::connect(endpoints, Some(options))
        .await
        .expect("a plain etcd client")
}

/// The etcd keys under `prefix`, with their mod_revision and value.
pub async fn raw_entries(endpoints: &[String], prefix: &[u8]) -> Vec<(Vec<u8>, i64, Vec<u8>)> {
    let mut client = raw_client(endpoints).await;
    let reply = client
        .get(prefix, Some(GetOptions::new().with_prefix()))
        .await
        .expect("range read");
    reply
        .kvs()
        .iter()
        .map(|kv| (kv.key().to_vec(), kv.mod_revision(), kv.value().to_vec()))
        .collect()
}

/// Deletes every etcd key under `prefix` through `endpoints` when dropped (on a thread of its
/// own, so it also works while the test's runtime is unwinding).
pub struct Cleanup {
    endpoints: Vec<String>,
    prefix: String,
}

impl Cleanup {
    /// A guard removing the keys under `prefix`.
    pub fn prefix(endpoints: &[String], prefix: &str) -> Self {
        Self {
            endpoints: endpoints.to_vec(),
            prefix: prefix.to_owned(),
        }
    }

    /// Deletes the keys now; returns how many there were.
    pub fn run(&self) -> i64 {
        let (endpoints, prefix) = (self.endpoints.clone(), self.prefix.clone());
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for cleanup")
                .block_on(async {
                    let mut client = raw_client(&endpoints).await;
                    client
                        .delete(prefix, Some(DeleteOptions::new().with_prefix()))
                        .await
                        .map(|r| r.deleted())
                })
        })
        .join()
        .expect("cleanup thread")
        .unwrap_or_else(|e| {
            eprintln!("cleanup of {:?} failed: {e}", self.prefix);
            0
        })
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run();
    }
}

/// The etcd binary: `$OPTIMIST_ETCD_BIN`, else `etcd` on the PATH.
fn etcd_binary() -> PathBuf {
    std::env::var_os("OPTIMIST_ETCD_BIN").map_or_else(|| PathBuf::from("etcd"), PathBuf::from)
}

/// One member of a [`Cluster`].
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

/// A cluster of `n` etcd members on loopback that a test starts, kills and restarts (data on
/// /dev/shm when it exists); every member is killed and the data removed when dropped.
pub struct Cluster {
    dir: PathBuf,
    members: Vec<Member>,
    initial: String,
}

impl Cluster {
    /// Starts `n` members with client ports `client_base..` and peer ports `peer_base..`, and
    /// waits (at most 30 s) until they have a leader.
    pub async fn start(n: usize, client_base: u16, peer_base: u16) -> Self {
        let root = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = root.join(super::unique_name(&format!("optimist_etcd_{client_base}")));
        std::fs::create_dir_all(&dir).expect("cluster dir");
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("f{i}"),
                client_port: client_base + i as u16,
                peer_port: peer_base + i as u16,
                child: None,
            })
            .collect();
        let initial = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Self {
            dir,
            members,
            initial,
        };
        for i in 0..n {
            cluster.spawn(i);
        }
        cluster.wait_for_leader(Duration::from_secs(30)).await;
        // A leader on these ports that is not ours (a cluster left over on them) would make
        // the test kill the wrong processes: every member must still be running.
        let exited: Vec<String> = cluster
            .members
            .iter_mut()
            .filter_map(|m| match m.child.as_mut().expect("spawned").try_wait() {
                Ok(Some(status)) => Some(format!("{} ({status})", m.name)),
                _ => None,
            })
            .collect();
        assert!(
            exited.is_empty(),
            "etcd members exited: {exited:?} (ports in use?); logs:\n{}",
            cluster.logs()
        );
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let m = &self.members[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", m.name)))
            .expect("member log");
        let client = format!("http://127.0.0.1:{}", m.client_port);
        let peer = format!("http://127.0.0.1:{}", m.peer_port);
        let token = self.dir.file_name().unwrap().to_string_lossy().into_owned();
        let child = Command::new(etcd_binary())
            .arg("--name")
            .arg(&m.name)
            .arg("--data-dir")
            .arg(self.dir.join(&m.name))
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &self.initial])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", &token])
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start etcd ({e}): install etcd-server or set OPTIMIST_ETCD_BIN")
            });
        self.members[i].child = Some(child);
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Member `i`'s `host:port`.
    pub fn endpoint(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.members[i].client_port)
    }

    /// Every member's `host:port`.
    pub fn endpoints(&self) -> Vec<String> {
        (0..self.len()).map(|i| self.endpoint(i)).collect()
    }

    /// `etcd://` and every member.
    pub fn url(&self) -> String {
        format!("etcd://{}", self.endpoints().join(","))
    }

    /// Kills member `i` with SIGKILL and reaps it.
    pub fn kill(&mut self, i: usize) {
        let mut child = self.members[i].child.take().expect("member is running");
        child.kill().expect("kill -9");
        child.wait().expect("reap");
    }

    /// Starts member `i` again on its data directory (it rejoins with what it had).
    pub fn restart(&mut self, i: usize) {
        assert!(self.members[i].child.is_none(), "member {i} is running");
        self.spawn(i);
    }

    /// Member `i`'s status, or `None` when it does not answer.
    pub async fn status(&self, i: usize) -> Option<etcd_client::StatusResponse> {
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_millis(300))
            .with_timeout(Duration::from_millis(700));
        let mut client = Client::connect([self.endpoint(i)], Some(options))
            .await
            .ok()?;
        client.status().await.ok()
    }

    /// The index of the member that is leader, as the running members see it (`None` when
    /// they have none or disagree).
    pub async fn leader(&self) -> Option<usize> {
        let mut ids = Vec::new();
        let mut leaders = Vec::new();
        for i in 0..self.len() {
            if self.members[i].child.is_none() {
                ids.push(None);
                continue;
            }
            let status = self.status(i).await;
            ids.push(
                status
                    .as_ref()
                    .and_then(|s| s.header())
                    .map(|h| h.member_id()),
            );
            if let Some(s) = status {
                leaders.push(s.leader());
            }
        }
        let first = *leaders.first()?;
        if first == 0 || leaders.iter().any(|&l| l != first) {
            return None;
        }
        ids.iter().position(|id| *id == Some(first))
    }

    /// Waits until the running members agree on a leader; panics after `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> usize {
        let started = Instant::now();
        loop {
            if let Some(leader) = self.leader().await {
                return leader;
            }
            if started.elapsed() > timeout {
                panic!("no etcd leader within {timeout:?}; logs:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines of every member's log.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for m in &self.members {
            let text = std::fs::read_to_string(self.dir.join(format!("{}.log", m.name)))
                .unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- {} ---\n", m.name));
            for line in &lines[lines.len().saturating_sub(15)..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(mut child) = m.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
