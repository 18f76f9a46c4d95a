#!/usr/bin/env bash
# The 3-member etcd cluster the tests use, on loopback: client ports 23791-23793, peer ports
# 23801-23803, data under $OPTIMIST_ETCD_DIR (default /dev/shm/optimist-etcd, or
# ${TMPDIR:-/tmp}/optimist-etcd where /dev/shm is missing).
#
#   bash .ci/etcd-cluster.sh install   # etcd-server, etcd-client and protoc from Debian, if missing
#   bash .ci/etcd-cluster.sh start     # start the members (or keep a healthy running cluster)
#   bash .ci/etcd-cluster.sh url       # print OPTIMIST_ETCD_URL for this cluster
#   bash .ci/etcd-cluster.sh stop      # stop the members and remove their data
#
# The members run with etcd's defaults (fsync on every commit, --max-txn-ops 128,
# --grpc-keepalive-min-time 5s); on /dev/shm an fsync costs nothing, which keeps CI fast, and a
# kill -9 still loses nothing the page cache holds, as on a real disk.
set -euo pipefail

if [[ -z ${OPTIMIST_ETCD_DIR:-} ]]; then
  if [[ -d /dev/shm && -w /dev/shm ]]; then
    OPTIMIST_ETCD_DIR=/dev/shm/optimist-etcd
  else
    OPTIMIST_ETCD_DIR=${TMPDIR:-/tmp}/optimist-etcd
  fi
fi
DIR=$OPTIMIST_ETCD_DIR
MEMBERS=(1 2 3)
client_port() { echo $((23790 + $1)); }
peer_port() { echo $((23800 + $1)); }

endpoints() { # host:port,host:port,...
  local out=() i
  for i in "${MEMBERS[@]}"; do out+=("127.0.0.1:$(client_port "$i")"); done
  (IFS=,; echo "${out[*]}")
}

healthy() {
  ETCDCTL_API=3 etcdctl --endpoints="$(endpoints)" --dial-timeout=1s --command-timeout=2s \
    endpoint health >/dev/null 2>&1
}

install() {
  if command -v etcd >/dev/null && command -v etcdctl >/dev/null && command -v protoc >/dev/null; then
    return 0
  fi
  echo "installing etcd-server, etcd-client and protobuf-compiler from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq etcd-server etcd-client protobuf-compiler >/dev/null
}

start() {
  if healthy; then
    echo "etcd cluster already up at $(endpoints)"
    return 0
  fi
  stop >/dev/null 2>&1 || true
  mkdir -p "$DIR"
  local initial=() i
  for i in "${MEMBERS[@]}"; do initial+=("m$i=http://127.0.0.1:$(peer_port "$i")"); done
  initial=$(IFS=,; echo "${initial[*]}")
  for i in "${MEMBERS[@]}"; do
    local c p
    c=$(client_port "$i")
    p=$(peer_port "$i")
    setsid etcd --name "m$i" --data-dir "$DIR/m$i" \
      --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
      --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
      --initial-cluster "$initial" --initial-cluster-state new \
      --initial-cluster-token optimist-ci --log-level warn \
      >"$DIR/m$i.log" 2>&1 </dev/null &
    echo $! >"$DIR/m$i.pid"
  done
  for _ in $(seq 1 60); do
    if healthy; then
      echo "etcd cluster is up at $(endpoints)"
      return 0
    fi
    sleep 0.5
  done
  echo "etcd cluster did not come up; member logs:" >&2
  tail -n 20 "$DIR"/m*.log >&2 || true
  return 1
}

stop() {
  local i pid
  for i in "${MEMBERS[@]}"; do
    if [[ -f $DIR/m$i.pid ]]; then
      pid=$(cat "$DIR/m$i.pid")
      kill "$pid" 2>/dev/null || true
    fi
  done
  for i in "${MEMBERS[@]}"; do
    if [[ -f $DIR/m$i.pid ]]; then
      pid=$(cat "$DIR/m$i.pid")
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$DIR"
  echo "etcd cluster stopped"
}

case ${1:-} in
  install) install ;;
  start) start ;;
  stop) stop ;;
  url) echo "etcd://$(endpoints)" ;;
  *) echo "usage: $0 install|start|url|stop" >&2; exit 2 ;;
esac
