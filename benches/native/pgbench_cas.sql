-- The statement pair `optimist bench --store postgres://...` runs per increment: read the
-- row, then the conditional UPDATE of the PostgreSQL backend (src/postgres/schema.rs,
-- `update_versions`, with its per-key advisory lock) with the version read. Run by benches/native/compare.sh on the table
-- native_kv (same schema as the store's table, 1,024 keys).
\set k random(0, 1023)
SELECT version AS v, data AS d, modified AS m FROM native_kv WHERE key = 'pgbench:' || :k \gset
WITH l AS (SELECT pg_advisory_xact_lock(1869640819, hashtext('pgbench:' || :k))) UPDATE native_kv SET version = nextval('native_kv_version_seq'), data = convert_to('{"n":1,"pad":"xxxxxxxxxxxxxxxx"}', 'UTF8'), modified = clock_timestamp() FROM l WHERE key = 'pgbench:' || :k AND version = ANY(ARRAY[:v]::bigint[]) RETURNING version;
