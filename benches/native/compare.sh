#!/usr/bin/env bash
# One sitting: `optimist bench` against each backend next to the backend's native tool running
# the same statements, at 1 and 8 workers, uniform over 1,024 keys. Prints a table of
# successful CAS/s and the ratio optimist / native.
#
#   bash benches/native/compare.sh [SECONDS]      (default 10)
#
# Needs: PostgreSQL at $OPTIMIST_PG_URL (default postgres://postgres@127.0.0.1:5432/test)
# with pgbench and psql, Redis at 127.0.0.1:6379 with redis-cli and redis-benchmark, etcd at
# $OPTIMIST_ETCD_URL (default: the cluster of .ci/etcd-cluster.sh) next to `etcd_raw`, MariaDB
# at $OPTIMIST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test). MariaDB's native side is
# benches/mysql_raw.rs: the backend's transaction on a raw mysql_async connection per worker
# (mysqlslap cannot carry the version read into the compare). Redis Cluster at
# $OPTIMIST_REDIS_CLUSTER_URL (default: the cluster of .ci/redis-cluster.sh) next to
# `redis-benchmark --cluster`. BACKENDS="redis redis-cluster" runs only those rows.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
PG_URL=${OPTIMIST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
REDIS_URL=${OPTIMIST_REDIS_URL:-redis://127.0.0.1:6379}
ETCD_URL=${OPTIMIST_ETCD_URL:-etcd://127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793}
cargo build --release -q -p optimist-cli
cargo build --release -q --features sqlite --bench sqlite_raw
cargo build --release -q --features etcd --bench etcd_raw
RAW=$(ls -t target/release/deps/sqlite_raw-* | grep -v '\.d$' | head -n1)
ETCD_RAW=$(ls -t target/release/deps/etcd_raw-* | grep -v '\.d$' | head -n1)
MYSQL_URL=${OPTIMIST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}
cargo build --release -q --features mysql --bench mysql_raw
RAW_MYSQL=$(ls -t target/release/deps/mysql_raw-* | grep -v '\.d$' | head -n1)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# A copy: a build from elsewhere into the same target dir cannot swap the binary mid-run.
cp target/release/optimist "$TMP/optimist"
OPT=$TMP/optimist

ours() { # store workers -> successful CAS/s
  RUST_LOG=warn "$OPT" bench --store "$1" --workers "$2" --keys 1024 --duration "${SECS}s" --json \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["verification"]["ok"]; print(round(r["successful_cas_per_s"]))'
}

# --- PostgreSQL: pgbench with the same read + conditional UPDATE ------------------------------
psql -q -v ON_ERROR_STOP=1 "$PG_URL" 2>/dev/null <<'SQL'
DROP TABLE IF EXISTS native_kv; DROP SEQUENCE IF EXISTS native_kv_version_seq;
CREATE SEQUENCE native_kv_version_seq AS BIGINT CACHE 1;
CREATE TABLE native_kv (key TEXT COLLATE "C" NOT NULL PRIMARY KEY, version BIGINT NOT NULL,
  data BYTEA NOT NULL, modified TIMESTAMPTZ NOT NULL);
INSERT INTO native_kv SELECT 'pgbench:' || i, nextval('native_kv_version_seq'),
  convert_to('{"n":0}', 'UTF8'), clock_timestamp() FROM generate_series(0, 1023) i;
SQL
pg_native() { # workers -> tps
  pgbench -n -M prepared -c "$1" -j "$(( $1 < 2 ? $1 : 2 ))" -T "$SECS" -f benches/native/pgbench_cas.sql "$PG_URL" 2>/dev/null \
    | awk '/^tps/ {print int($3); exit}'
}

# --- Redis: redis-benchmark with the store's put script and its read --------------------------
# commit.lua is every write of the backend; a put of one key with `any`: 3 keys (data hash,
# counter, index), then n=1, no write id, no clock floor, and the op (p, any, 0 versions, data).
SHA=$(redis-cli -u "$REDIS_URL" SCRIPT LOAD "$(cat src/redis/commit.lua)")
rate() { grep -oE '[0-9.]+ requests per second' | tail -n1 | awk '{print int($1)}'; }
redis_native() { # workers -> combined rate of (HMGET + EVALSHA put) per increment
  local read put
  read=$(redis-benchmark -u "$REDIS_URL" -c "$1" -n 200000 -r 1024 -q HMGET native:k:__rand_int__ v m d | rate)
  put=$(redis-benchmark -u "$REDIS_URL" -c "$1" -n 200000 -r 1024 -q EVALSHA "$SHA" 3 native:k:__rand_int__ native:version native:index 1 '' 0 p any 0 '{"n":1,"pad":"xxxxxxxxxxxxxxxx"}' | rate)
  python3 -c "print(round(1 / (1 / $read + 1 / $put)))"
}

# --- Redis Cluster: redis-benchmark --cluster, the same read and script per node ------------------
# Its `{tag}` becomes a hash tag of a slot the node serves, so the data hash, counter and index
# share a slot, as the store's do. The script draws no version below the clock (ARGV[3] = 1) as
# in cluster mode; it carries no write id (redis-benchmark cannot make unique ones), so the
# native side skips the store's 10-minute write marker: it does less work than the store.
CLUSTER_URL=${OPTIMIST_REDIS_CLUSTER_URL:-redis+cluster://127.0.0.1:30001,127.0.0.1:30002,127.0.0.1:30003}
CLUSTER_NODES=${CLUSTER_URL#*://}
CLUSTER_PORT=${CLUSTER_NODES%%,*}; CLUSTER_PORT=${CLUSTER_PORT##*:}
redis_cluster_native() { # workers -> combined rate of (HMGET + EVALSHA put) per increment
  local read put node sha
  for node in ${CLUSTER_NODES//,/ }; do
    sha=$(redis-cli -h "${node%%:*}" -p "${node##*:}" SCRIPT LOAD "$(cat src/redis/commit.lua)")
  done
  read=$(redis-benchmark --cluster -p "$CLUSTER_PORT" -c "$1" -n 200000 -r 1024 -q HMGET 'native:{tag}:k:__rand_int__' v m d | rate)
  put=$(redis-benchmark --cluster -p "$CLUSTER_PORT" -c "$1" -n 200000 -r 1024 -q EVALSHA "$sha" 3 'native:{tag}:k:__rand_int__' 'native:{tag}:version' 'native:{tag}:index' 1 '' 1 p any 0 '{"n":1,"pad":"xxxxxxxxxxxxxxxx"}' | rate)
  python3 -c "print(round(1 / (1 / $read + 1 / $put)))"
}

sqlite_native() { # workers -> CAS/s
  "$RAW" "$1" "$SECS" 1024 | sed -E 's/.*: ([0-9]+) successful.*/\1/'
}

# --- etcd: etcd_raw, the same read + Txn straight on etcd-client ------------------------------
etcd_native() { # workers -> CAS/s
  "$ETCD_RAW" "$1" "$SECS" 1024 "$ETCD_URL" | sed -E 's/.*: ([0-9]+) successful.*/\1/'
}

mariadb_native() { # workers -> CAS/s
  OPTIMIST_MYSQL_URL="$MYSQL_URL" "$RAW_MYSQL" "$1" "$SECS" 1024 | sed -E 's/.*: ([0-9]+) successful.*/\1/'
}

printf '%-14s %7s %14s %14s %7s\n' backend workers optimist native ratio
for w in 1 8; do
  for backend in ${BACKENDS:-sqlite postgres redis redis-cluster etcd mariadb}; do
    case $backend in
      sqlite)   o=$(ours "sqlite:$TMP/bench.db" "$w"); n=$(sqlite_native "$w") ;;
      postgres) o=$(ours "$PG_URL" "$w");             n=$(pg_native "$w") ;;
      redis)    o=$(ours "$REDIS_URL" "$w");          n=$(redis_native "$w") ;;
      redis-cluster) o=$(ours "$CLUSTER_URL" "$w");   n=$(redis_cluster_native "$w") ;;
      etcd)     o=$(ours "$ETCD_URL" "$w");           n=$(etcd_native "$w") ;;
      mariadb)  o=$(ours "$MYSQL_URL" "$w");          n=$(mariadb_native "$w") ;;
    esac
    printf '%-14s %7s %14s %14s %7.2f\n' "$backend" "$w" "$o" "$n" "$(python3 -c "print($o / $n)")"
  done
done
redis-cli -u "$REDIS_URL" --scan --pattern 'native:*' | xargs -r redis-cli -u "$REDIS_URL" DEL >/dev/null
for node in ${CLUSTER_NODES//,/ }; do
  redis-cli -h "${node%%:*}" -p "${node##*:}" --scan --pattern 'native:*' \
    | xargs -r -n1 redis-cli -h "${node%%:*}" -p "${node##*:}" DEL >/dev/null 2>&1 || true
done
psql -q "$PG_URL" -c 'DROP TABLE IF EXISTS native_kv; DROP SEQUENCE IF EXISTS native_kv_version_seq;'
