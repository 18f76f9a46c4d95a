#!/usr/bin/env bash
# The Redis Cluster the tests use, on loopback: 3 masters and 3 replicas on ports 30001-30006
# (cluster bus on 31001-31006: the default, port + 10000, lies in Linux's ephemeral range
# 32768-60999, where any outgoing connection may hold it and a node then fails to start),
# each node's files (nodes.conf, log) under $OPTIMIST_REDIS_CLUSTER_DIR (default a directory
# in ${TMPDIR:-/tmp}). Uses the installed redis-server and redis-cli; installs nothing.
#
#   bash .ci/redis-cluster.sh start   # start the nodes and create the cluster (or keep a healthy one)
#   bash .ci/redis-cluster.sh url     # print OPTIMIST_REDIS_CLUSTER_URL for this cluster
#   bash .ci/redis-cluster.sh stop    # stop the nodes and remove their files
#   bash .ci/redis-cluster.sh node P  # (re)start the node on port P with its files (after a kill)
#   bash .ci/redis-cluster.sh wait    # wait until cluster_state:ok and every master has a replica
#
# The nodes keep no data on disk (no RDB, no AOF: a test cluster) and fail over quickly
# (cluster-node-timeout 2000 ms), so the fault test's failover takes a few seconds.
set -euo pipefail

DIR=${OPTIMIST_REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/optimist-redis-cluster}
PORTS=(30001 30002 30003 30004 30005 30006)

url() {
  local out=() p
  for p in "${PORTS[@]}"; do out+=("127.0.0.1:$p"); done
  echo "redis+cluster://$(IFS=,; echo "${out[*]}")"
}

healthy() {
  local p
  for p in "${PORTS[@]}"; do
    redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
}

# Every master has a replica whose link to it is up (so a failover has someone to promote).
replicas_ready() {
  local p up=0
  for p in "${PORTS[@]}"; do
    if redis-cli -h 127.0.0.1 -p "$p" info replication 2>/dev/null | grep -q '^master_link_status:up'; then
      up=$((up + 1))
    fi
  done
  [[ $up -eq 3 ]]
}

node() { # port
  mkdir -p "$DIR/$1"
  redis-server --port "$1" --bind 127.0.0.1 --daemonize yes --dir "$DIR/$1" \
    --cluster-enabled yes --cluster-port "$(( $1 + 1000 ))" \
    --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --save "" --appendonly no --logfile "$DIR/$1/redis.log" --pidfile "$DIR/$1/redis.pid"
}

wait_ready() {
  for _ in $(seq 1 150); do
    if healthy && replicas_ready; then
      echo "Redis Cluster up: $(url)"
      return 0
    fi
    sleep 0.2
  done
  echo "Redis Cluster did not reach cluster_state:ok with 3 replicas in sync; see $DIR" >&2
  return 1
}

start() {
  if healthy; then
    echo "Redis Cluster already up: $(url)"
    return 0
  fi
  stop >/dev/null 2>&1 || true
  local p
  for p in "${PORTS[@]}"; do node "$p"; done
  for p in "${PORTS[@]}"; do
    for _ in $(seq 1 50); do
      redis-cli -h 127.0.0.1 -p "$p" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
  done
  local nodes=()
  for p in "${PORTS[@]}"; do nodes+=("127.0.0.1:$p"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/create.log"
  wait_ready
}

stop() {
  local p pid
  for p in "${PORTS[@]}"; do
    if [[ -f $DIR/$p/redis.pid ]]; then
      pid=$(cat "$DIR/$p/redis.pid")
      kill "$pid" 2>/dev/null || true
    fi
  done
  for p in "${PORTS[@]}"; do
    if [[ -f $DIR/$p/redis.pid ]]; then
      pid=$(cat "$DIR/$p/redis.pid")
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$DIR"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  url) url ;;
  node) node "${2:?usage: $0 node PORT}" ;;
  wait) wait_ready ;;
  *) echo "usage: $0 start|stop|url|node PORT|wait" >&2; exit 2 ;;
esac
