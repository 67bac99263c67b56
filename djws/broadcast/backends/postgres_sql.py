"""The SQL statements of the PostgreSQL broadcast backend (:mod:`.postgres`).

Every table is unlogged and created on first use under an advisory lock
(:data:`TABLES_SQL`): a crash truncates them, which the backend reports as a
new epoch. ``grp`` is always the group's name behind the project's prefix.

One function publishes, ``djws_broadcast_publish()``: it numbers the message
(the group's row in ``djws_broadcast_stream``, whose lock orders concurrent
publishers), stores it in the history and notifies. It runs either at once, on
djws's own autocommit connection (:data:`PUBLISH_SQL`), or when the caller's
transaction commits: :data:`STAGE_SQL` writes the message into
``djws_broadcast_outbox`` on the caller's connection, and a deferred constraint
trigger publishes the transaction's staged messages during its ``COMMIT``.
Numbering at commit, not at the ``INSERT``, is what keeps offsets gapless and
in delivery order: a transaction that staged first but commits last is numbered
last, and the group's row is locked only for the instant of the commit, not for
the whole transaction. A rollback (of the transaction, or of the savepoint that
staged a message) discards both the staged row and its trigger event.
"""

__all__ = [
    "CLEANUP_HISTORY_SQL",
    "CLEANUP_SQL",
    "HEARTBEAT_SQL",
    "PRESENCE_SQL",
    "PUBLISH_SQL",
    "READ_SQL",
    "STAGE_SQL",
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
    CREATE UNLOGGED TABLE IF NOT EXISTS djws_broadcast_outbox (
        id bigserial PRIMARY KEY,
        grp text NOT NULL,
        epoch text NOT NULL,
        data bytea NOT NULL,
        keep bigint NOT NULL,
        channel text NOT NULL,
        payload text NOT NULL
    );
    CREATE OR REPLACE FUNCTION djws_broadcast_publish(
        p_grp text, p_epoch text, p_data bytea, p_keep bigint, p_channel text, p_payload text,
        OUT out_epoch text, OUT out_head bigint
    ) LANGUAGE plpgsql AS $fn$
    BEGIN
        INSERT INTO djws_broadcast_stream AS s (grp, epoch, head) VALUES (p_grp, p_epoch, 1)
        ON CONFLICT (grp) DO UPDATE SET head = s.head + 1, updated = now()
        RETURNING s.epoch, s.head INTO out_epoch, out_head;
        INSERT INTO djws_broadcast_history (grp, "offset", data) VALUES (p_grp, out_head, p_data);
        DELETE FROM djws_broadcast_history h
        WHERE h.grp = p_grp AND h."offset" <= out_head - p_keep;
        PERFORM pg_notify(
            p_channel,
            out_epoch || ':' || out_head || ':'
            || floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint || ':' || p_payload
        );
    END
    $fn$;
    -- The first deferred event of a committing transaction publishes all its staged
    -- messages (the later ones find none): group by group, so that every transaction
    -- locks the groups' rows in one order (no deadlock), and each group's in order.
    CREATE OR REPLACE FUNCTION djws_broadcast_outbox_commit() RETURNS trigger
    LANGUAGE plpgsql AS $fn$
    DECLARE
        m record;
    BEGIN
        FOR m IN
            WITH staged AS (DELETE FROM djws_broadcast_outbox RETURNING *)
            SELECT * FROM staged ORDER BY grp, id
        LOOP
            PERFORM djws_broadcast_publish(m.grp, m.epoch, m.data, m.keep, m.channel, m.payload);
        END LOOP;
        RETURN NULL;
    END
    $fn$;
    IF NOT EXISTS (
        SELECT 1 FROM pg_trigger
        WHERE tgname = 'djws_broadcast_outbox_commit'
        AND tgrelid = 'djws_broadcast_outbox'::regclass
    ) THEN
        CREATE CONSTRAINT TRIGGER djws_broadcast_outbox_commit
        AFTER INSERT ON djws_broadcast_outbox DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION djws_broadcast_outbox_commit();
    END IF;
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
SELECT out_epoch, out_head FROM djws_broadcast_publish(
    %(grp)s, %(epoch)s, %(data)s, %(keep)s, %(channel)s, %(payload)s
)
"""

# On the caller's connection, inside its transaction: published when it commits.
STAGE_SQL = """
INSERT INTO djws_broadcast_outbox (grp, epoch, data, keep, channel, payload)
VALUES (%(grp)s, %(epoch)s, %(data)s, %(keep)s, %(channel)s, %(payload)s)
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
