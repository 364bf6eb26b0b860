/// Versioned migrations, tracked by `PRAGMA user_version`. The specification's tables keep
/// their names and columns; what the delivery guarantees need is added beside them.
enum SQLiteSchema {
    static let migrations: [String] = [
        """
        CREATE TABLE events (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            data TEXT NOT NULL,
            status TEXT DEFAULT 'pending',
            error TEXT,
            timestamp INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            processed_at INTEGER,
            stack TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_run_at INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_expires_at INTEGER,
            parent_id TEXT,
            chain_depth INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX idx_events_status ON events(status);
        CREATE INDEX idx_events_type ON events(type);
        CREATE INDEX idx_events_created_at ON events(created_at);
        -- Only pending events wait to be claimed; events claimed at dispatch never enter this
        -- index, which keeps the hot path to the fewest B-tree writes.
        CREATE INDEX idx_events_due ON events(next_run_at) WHERE status = 'pending';

        CREATE TABLE hooks (
            id TEXT PRIMARY KEY,
            name TEXT UNIQUE NOT NULL,
            description TEXT,
            event_type TEXT NOT NULL,
            file_path TEXT NOT NULL,
            stack TEXT,
            enabled INTEGER DEFAULT 1,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            last_run INTEGER,
            run_count INTEGER DEFAULT 0,
            source TEXT NOT NULL,
            source_hash TEXT NOT NULL,
            timeout_ms INTEGER NOT NULL,
            memory_limit_bytes INTEGER NOT NULL,
            instruction_limit INTEGER NOT NULL,
            max_attempts INTEGER NOT NULL,
            retry_delay_ms INTEGER NOT NULL
        );
        CREATE INDEX idx_hooks_event_type ON hooks(event_type);
        CREATE INDEX idx_hooks_stack ON hooks(stack);

        CREATE TABLE event_hook_executions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL,
            hook_id TEXT NOT NULL,
            hook_name TEXT NOT NULL,
            success INTEGER NOT NULL,
            output TEXT,
            error TEXT,
            duration_ms INTEGER NOT NULL,
            executed_at INTEGER NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            instructions INTEGER NOT NULL DEFAULT 0,
            peak_memory_bytes INTEGER NOT NULL DEFAULT 0,
            FOREIGN KEY (event_id) REFERENCES events(id) ON DELETE CASCADE,
            FOREIGN KEY (hook_id) REFERENCES hooks(id) ON DELETE CASCADE
        );
        CREATE INDEX idx_event_hook_executions_event_id ON event_hook_executions(event_id);
        CREATE INDEX idx_event_hook_executions_hook_id ON event_hook_executions(hook_id, executed_at);
        -- At most one successful run of a hook per event, whatever crashes happen.
        CREATE UNIQUE INDEX idx_event_hook_executions_once ON event_hook_executions(event_id, hook_id) WHERE success = 1;

        -- Failed attempts per event-hook pair; dead = 1 is the dead letter.
        CREATE TABLE hook_attempts (
            event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
            hook_id TEXT NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
            hook_name TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            dead INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (event_id, hook_id)
        );
        CREATE INDEX idx_hook_attempts_dead ON hook_attempts(dead) WHERE dead = 1;

        CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO meta(key, value) VALUES ('hooks_version', 0);
        """,
        // 2: capabilities a hook declares (JSON), for the modules' permission checks.
        """
        ALTER TABLE hooks ADD COLUMN permissions TEXT;
        """,
        // 3: the key-value state hooks share per stack ('' for hooks without a stack).
        """
        CREATE TABLE state (
            stack TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            expires_at INTEGER,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (stack, key)
        ) WITHOUT ROWID;
        CREATE INDEX idx_state_expires ON state(expires_at) WHERE expires_at IS NOT NULL;
        """,
        // 4: secrets, encrypted with AES-256-GCM (nonce and ciphertext+tag, base64).
        """
        CREATE TABLE secrets (
            name TEXT PRIMARY KEY,
            nonce TEXT NOT NULL,
            ciphertext TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        """,
        // 5: the message a hook returned with success (`return true, "sent"`).
        """
        ALTER TABLE event_hook_executions ADD COLUMN message TEXT;
        """,
        // 6: a hook's condition on event data (JSON), checked before it runs.
        """
        ALTER TABLE hooks ADD COLUMN filter TEXT;
        """,
        // 7: settings of the store itself (the check value of the key that seals its secrets);
        // the key of an event a hook dispatched — (parent event, hook, position in the run) —
        // so a retried or re-run parent stores each of its children at most once. Most events
        // have none and never enter the index.
        """
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        ALTER TABLE events ADD COLUMN origin_key TEXT;
        CREATE UNIQUE INDEX idx_events_origin_key ON events(origin_key) WHERE origin_key IS NOT NULL;
        """,
        // 8: indexes in the listings' own order (newest first, by id, which is time-ordered),
        // so `events list --type/--status/--stack` reads only the rows it shows instead of
        // sorting every match; the single-column ones they replace go.
        """
        CREATE INDEX idx_events_type_id ON events(type, id);
        CREATE INDEX idx_events_status_id ON events(status, id);
        CREATE INDEX idx_events_stack_id ON events(stack, id) WHERE stack IS NOT NULL;
        CREATE INDEX idx_events_finished ON events(status, created_at) WHERE status IN ('completed', 'failed');
        DROP INDEX idx_events_type;
        DROP INDEX idx_events_status;
        """,
        // 9: API tokens of the HTTP API: only the SHA-256 of each token is kept (the token is
        // shown once, at creation); a revoked token stays listed with when it was revoked.
        """
        CREATE TABLE api_tokens (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
            token_hash TEXT NOT NULL UNIQUE,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
        );
        """,
        // 10: webhooks: endpoints that turn verified deliveries into events (the key is a named
        // secret of the vault, never stored here).
        """
        CREATE TABLE webhooks (
            name TEXT PRIMARY KEY,
            event_type TEXT NOT NULL,
            verify TEXT NOT NULL,
            secret TEXT,
            stack TEXT,
            signature_header TEXT,
            delivery_header TEXT,
            created_at INTEGER NOT NULL
        );
        """,
        // 11: the change journal behind `GET /stream`: one row per event status change and per
        // hook run, numbered in commit order, so a client that reconnects with the last number it
        // saw gets exactly what it missed. Written by the store's own statements in the same
        // transaction as the change (so every process using the store — daemon, CLI — lands in
        // it); the number is the rowid (append-only, no AUTOINCREMENT bookkeeping: pruning always
        // keeps the newest row, so numbers never go back). `type`/`stack` are kept only for
        // deletions, whose event row is gone.
        """
        CREATE TABLE changes (
            seq INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            event_id TEXT NOT NULL,
            status TEXT,
            execution_id INTEGER,
            type TEXT,
            stack TEXT
        );
        """,
        // 12: webhooks declared in the config file (the file's path): `serve` makes the store
        // match the file at start — adds, changes, and removes the ones the file dropped.
        // (A development build created the journal with triggers; they cost a statement journal
        // per write and are dropped where present.)
        """
        ALTER TABLE webhooks ADD COLUMN declared_in TEXT;
        DROP TRIGGER IF EXISTS changes_event_inserted;
        DROP TRIGGER IF EXISTS changes_event_status;
        DROP TRIGGER IF EXISTS changes_hook_ran;
        """,
        // 13: the events a hook run dispatched, by their parent (the web UI's "events it
        // caused"); partial, since most events have no parent and never enter it.
        """
        CREATE INDEX idx_events_parent ON events(parent_id, id) WHERE parent_id IS NOT NULL;
        """,
        // 14: event sources. Schedules, each with the instant up to which its slots are handled
        // (moved in the same transaction as the events fired for them: a slot fires once across
        // crashes); `schedules_version` tells a running scheduler that the CLI changed them.
        // What each source of the running daemon reports of itself, for `sloth-runner sources`.
        """
        CREATE TABLE schedules (
            name TEXT PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            cron TEXT NOT NULL,
            timezone TEXT NOT NULL,
            event_type TEXT NOT NULL,
            data TEXT NOT NULL,
            stack TEXT,
            catch_up TEXT NOT NULL CHECK (catch_up IN ('skip', 'once', 'all')),
            max_catch_up INTEGER NOT NULL,
            enabled INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            fired_through INTEGER NOT NULL,
            declared_in TEXT
        );
        INSERT INTO meta(key, value) VALUES ('schedules_version', 0);
        CREATE TABLE source_status (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            error TEXT,
            last_event_at INTEGER,
            last_event_type TEXT,
            emitted INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        """,
        // 15: health checks (`check add`, or the config file's `checks:`, then `declared_in`).
        """
        CREATE TABLE checks (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('http', 'tcp', 'exec')),
            target TEXT NOT NULL,
            service TEXT NOT NULL,
            expect_status INTEGER NOT NULL,
            expect_body TEXT,
            interval_ms INTEGER NOT NULL,
            timeout_ms INTEGER NOT NULL,
            failures INTEGER NOT NULL,
            latency_threshold_ms INTEGER,
            emit_passed INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            declared_in TEXT
        );
        INSERT INTO meta(key, value) VALUES ('checks_version', 0);
        """,
        // 16: file watches, and each watch's snapshot of its tree (path, size, mtime, inode),
        // compared with the disk at start so changes made while no watcher ran are reported.
        """
        CREATE TABLE watches (
            name TEXT PRIMARY KEY,
            paths TEXT NOT NULL,
            recursive INTEGER NOT NULL,
            include TEXT NOT NULL,
            exclude TEXT NOT NULL,
            settle_ms INTEGER NOT NULL,
            stack TEXT,
            created_at INTEGER NOT NULL,
            declared_in TEXT
        );
        INSERT INTO meta(key, value) VALUES ('watches_version', 0);
        CREATE TABLE watch_files (
            watch TEXT NOT NULL,
            path TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            is_dir INTEGER NOT NULL,
            PRIMARY KEY (watch, path)
        ) WITHOUT ROWID;
        """,
        // 17: several nodes (the PostgreSQL store's reason; the same tables here so both
        // drivers behave alike): the tags a hook needs of the node that runs it, the tags an
        // event waits for (a hook of it needs a node this one is not), the nodes serving the
        // store with their heartbeats, and the leases of duties only one node may run.
        """
        ALTER TABLE hooks ADD COLUMN nodes TEXT;
        ALTER TABLE events ADD COLUMN needs_tags TEXT;
        CREATE TABLE nodes (
            owner TEXT PRIMARY KEY,
            node_id TEXT NOT NULL,
            hostname TEXT NOT NULL,
            version TEXT NOT NULL,
            tags TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started_at INTEGER NOT NULL,
            heartbeat_at INTEGER NOT NULL,
            state TEXT NOT NULL,
            in_flight INTEGER NOT NULL
        );
        CREATE TABLE singletons (
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at INTEGER NOT NULL
        );
        """,
        // 18: replays (`events replay`): a replay is a new event naming the one it replays
        // and the hooks it runs; partial index, most events are no replay.
        """
        ALTER TABLE events ADD COLUMN replay_of TEXT;
        ALTER TABLE events ADD COLUMN replay TEXT;
        CREATE INDEX idx_events_replay_of ON events(replay_of, id) WHERE replay_of IS NOT NULL;
        """,
        // 19: storm control and effects (`throttle`, `debounce`, `rate_limit`, `concurrency`,
        // `circuit_breaker`, `effects` of a hook, as JSON); the controls' state per hook and
        // group, changed by compare-and-set on `version`; the hooks settled without a run.
        """
        ALTER TABLE hooks ADD COLUMN controls TEXT;
        CREATE TABLE hook_controls (
            hook_id TEXT NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
            control TEXT NOT NULL,
            group_key TEXT NOT NULL,
            value TEXT NOT NULL,
            version INTEGER NOT NULL,
            expires_at INTEGER,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (hook_id, control, group_key)
        ) WITHOUT ROWID;
        CREATE TABLE hook_skips (
            event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
            hook_id TEXT NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
            hook_name TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            related_event_id TEXT,
            at INTEGER NOT NULL,
            PRIMARY KEY (event_id, hook_id)
        );
        """,
        // 20: the effect journal of hooks with `effects = "once"`: each completed exec/http
        // call by (event, hook, position), with its arguments' fingerprint and its result.
        """
        CREATE TABLE effect_journal (
            event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
            hook_id TEXT NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            kind TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            summary TEXT NOT NULL,
            result TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            recorded_at INTEGER NOT NULL,
            reused INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (event_id, hook_id, position)
        );
        """,
    ]
}
