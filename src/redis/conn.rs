//! The connection: one managed connection to a single server, or a Redis Cluster client; and
//! the `redis+cluster://` URL form that picks the latter.

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClientBuilder;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Client, Cmd, Pipeline, RedisFuture, Value};

use super::RedisOptions;
use super::error::connect_error;
use crate::StoreError;

/// A connection of either kind; clones share it.
#[derive(Clone)]
pub(super) enum Conn {
    /// A single server (or a primary): one multiplexed connection that reconnects.
    Single(ConnectionManager),
    /// A Redis Cluster: routes each command by its keys' slot, follows redirects and resends
    /// after a dropped connection.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The scheme prefixes naming a cluster, and the scheme each node's URL gets.
const CLUSTER_SCHEMES: [(&str, &str); 2] = [
    ("redis+cluster://", "redis://"),
    ("rediss+cluster://", "rediss://"),
];

/// The nodes of a cluster URL (`redis+cluster://[user:pass@]host:port[,host:port...][/...]`)
/// as one `redis://` URL each, every one with the user information and the path and query;
/// `None` when `url` is not a cluster URL.
pub(super) fn cluster_nodes(url: &str) -> Option<Result<Vec<String>, StoreError>> {
    let (rest, scheme) = CLUSTER_SCHEMES
        .iter()
        .find_map(|(cluster, node)| url.strip_prefix(cluster).map(|rest| (rest, *node)))?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let nodes: Vec<String> = hosts
        .split(',')
        .map(|host| format!("{scheme}{userinfo}{host}{tail}"))
        .collect();
    if hosts.split(',').any(str::is_empty) {
        return Some(Err(StoreError::backend(format!(
            "invalid Redis Cluster URL: expected redis+cluster://HOST:PORT[,HOST:PORT...], \
             got {} node(s) with an empty one",
            nodes.len()
        ))));
    }
    Some(Ok(nodes))
}

/// Opens the connection `url` names.
pub(super) async fn open(url: &str, options: &RedisOptions) -> Result<Conn, StoreError> {
    match cluster_nodes(url) {
        Some(nodes) => {
            let client = ClusterClientBuilder::new(nodes?)
                .connection_timeout(options.connection_timeout)
                .response_timeout(options.response_timeout)
                .retries(options.cluster_retries)
                .min_retry_wait(50)
                .max_retry_wait(1_000)
                .build()
                .map_err(StoreError::backend)?;
            let conn = client.get_async_connection().await.map_err(connect_error)?;
            Ok(Conn::Cluster(conn))
        }
        None => {
            let client = Client::open(url).map_err(StoreError::backend)?;
            let config = ConnectionManagerConfig::new()
                .set_response_timeout(options.response_timeout)
                .set_connection_timeout(options.connection_timeout)
                .set_number_of_retries(options.reconnect_retries)
                // backon semantics: the first retry waits 1-2 s, the delay then doubles up to
                // 2 s (plus jitter).
                .set_factor(2)
                .set_max_delay(2_000);
            let conn = ConnectionManager::new_with_config(client, config)
                .await
                .map_err(connect_error)?;
            Ok(Conn::Single(conn))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::cluster_nodes;

    #[test]
    fn cluster_urls_become_node_urls() {
        assert!(cluster_nodes("redis://127.0.0.1:6379").is_none());
        let nodes = cluster_nodes("redis+cluster://127.0.0.1:30001,127.0.0.1:30002")
            .unwrap()
            .unwrap();
        assert_eq!(
            nodes,
            ["redis://127.0.0.1:30001", "redis://127.0.0.1:30002"]
        );
        let nodes = cluster_nodes("rediss+cluster://u:p@a:1,b:2/0?protocol=resp3")
            .unwrap()
            .unwrap();
        assert_eq!(
            nodes,
            [
                "rediss://u:p@a:1/0?protocol=resp3",
                "rediss://u:p@b:2/0?protocol=resp3"
            ]
        );
        assert!(cluster_nodes("redis+cluster://a:1,,b:2").unwrap().is_err());
        assert!(cluster_nodes("redis+cluster://").unwrap().is_err());
    }
}
