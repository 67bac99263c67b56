"""The SQL statements of the PostgreSQL broadcast backend (:mod:`.postgres`).

Every table is unlogged and created on first use under an advisory lock
(:data:`TABLES_SQL`): a crash truncates them, which the backend reports as a
new epoch. ``grp`` is always the group's name behind the project's prefix.
"""

__all__ = [
    "CLEANUP_HISTORY_SQL",
    "CLEANUP_SQL",
    "HEARTBEAT_SQL",
    "PRESENCE_SQL",
    "PUBLISH_SQL",
    "READ_SQL",
    "TABLES_SQL",
]

TABLES_SQL = """
DO $$
BEGIN
    PERFORM pg_advisory_xact_lock(7468111);
    CREATE UNLOGGED TABLE IF NOT EXISTS djws_broadcast_stream (
        grp text PRIMARY KEY,
        epoch text NOT NULL,
        head bigint NOT NULL,
        updated timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNLOGGED TABLE IF NOT EXISTS djws_broadcast_history (
        grp text NOT NULL,
        "offset" bigint NOT NULL,
        created timestamptz NOT NULL DEFAULT now(),
        data bytea NOT NULL,
        PRIMARY KEY (grp, "offset")
    );
    CREATE UNLOGGED TABLE IF NOT EXISTS djws_broadcast_worker (
        worker text PRIMARY KEY,
        expires timestamptz NOT NULL
    );
    CREATE UNLOGGED TABLE IF NOT EXISTS djws_broadcast_presence (
        grp text NOT NULL,
        connection text NOT NULL,
        worker text NOT NULL,
        entry text NOT NULL,
        PRIMARY KEY (grp, connection)
    );
END
$$
"""

HEARTBEAT_SQL = """
WITH old AS (
    SELECT expires > now() AS alive FROM djws_broadcast_worker WHERE worker = %s
), up AS (
    INSERT INTO djws_broadcast_worker (worker, expires)
    VALUES (%s, now() + make_interval(secs => %s))
    ON CONFLICT (worker) DO UPDATE SET expires = excluded.expires
)
SELECT alive FROM old
"""

# Workers silent for ten TTLs are certainly dead: drop them and their entries.
CLEANUP_SQL = """
WITH dead AS (
    DELETE FROM djws_broadcast_worker
    WHERE expires < now() - make_interval(secs => %s) RETURNING worker
)
DELETE FROM djws_broadcast_presence p
WHERE p.worker IN (SELECT worker FROM dead)
   OR NOT EXISTS (SELECT 1 FROM djws_broadcast_worker w WHERE w.worker = p.worker)
"""

# A batch of presence changes in one statement each, whatever its size (arrays of
# groups, connections and entries; psycopg adapts Python lists to them).
PRESENCE_REMOVE_SQL = """
DELETE FROM djws_broadcast_presence p
USING unnest(%s::text[], %s::text[]) AS r(grp, connection)
WHERE p.grp = r.grp AND p.connection = r.connection
"""

PRESENCE_ADD_SQL = """
INSERT INTO djws_broadcast_presence (grp, connection, worker, entry)
SELECT r.grp, r.connection, %s, r.entry
FROM unnest(%s::text[], %s::text[], %s::text[]) AS r(grp, connection, entry)
ON CONFLICT (grp, connection) DO UPDATE SET worker = excluded.worker, entry = excluded.entry
"""

PRESENCE_SQL = """
SELECT p.entry FROM djws_broadcast_presence p
JOIN djws_broadcast_worker w ON w.worker = p.worker
WHERE p.grp = %s AND w.expires > now()
"""

PUBLISH_SQL = """
WITH s AS (
    INSERT INTO djws_broadcast_stream AS s (grp, epoch, head) VALUES (%(grp)s, %(epoch)s, 1)
    ON CONFLICT (grp) DO UPDATE SET head = s.head + 1, updated = now()
    RETURNING s.epoch, s.head
), stored AS (
    INSERT INTO djws_broadcast_history (grp, "offset", data)
    SELECT %(grp)s, s.head, %(data)s FROM s
), pruned AS (
    DELETE FROM djws_broadcast_history h USING s
    WHERE h.grp = %(grp)s AND h."offset" <= s.head - %(keep)s
)
SELECT s.epoch, s.head, pg_notify(
    %(channel)s,
    s.epoch || ':' || s.head || ':'
    || floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint || ':' || %(payload)s
)
FROM s
"""

READ_SQL = """
SELECT s.epoch, s.head, h."offset", h.data FROM djws_broadcast_stream s
LEFT JOIN djws_broadcast_history h ON h.grp = s.grp AND h."offset" > %(after)s
    AND h.created >= now() - make_interval(secs => %(age)s)
WHERE s.grp = %(grp)s
ORDER BY h."offset"
"""

CLEANUP_HISTORY_SQL = """
WITH gone AS (
    DELETE FROM djws_broadcast_stream WHERE updated < now() - make_interval(secs => %(ttl)s)
    RETURNING grp
)
DELETE FROM djws_broadcast_history
WHERE created < now() - make_interval(secs => %(age)s) OR grp IN (SELECT grp FROM gone)
"""
