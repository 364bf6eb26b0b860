import Foundation

/// Versioned migrations of the PostgreSQL store, tracked in `schema_migrations` and applied
/// under an advisory lock (several nodes starting at once migrate once). The tables and columns
/// are the SQLite store's (the specification's names), with PostgreSQL's types: `JSONB` for
/// data, `BIGINT` milliseconds, `BOOLEAN` flags. The first migration is the SQLite schema as it
/// stands at its 16th migration; later ones are appended, never edited. Event ids compare
/// byte-wise (`COLLATE "C"`) whatever the database's locale: they sort by creation time.
enum PostgresSchema {
    /// `pg_advisory_lock` keys, so two parts of sloth-runner never take each other's.
    static let migrationLock: Int64 = 0x534C_5448_0001
    /// Held from a transaction's journal insert to its commit: journal numbers follow commit order.
    static let journalLock: Int64 = 0x534C_5448_0002

    /// A migration's statements, one by one (the extended protocol takes one per query). The
    /// migrations end each statement with `;` at the end of a line and hold no `;` elsewhere.
    static func statements(of migration: String) -> [String] {
        migration.components(separatedBy: ";\n").map { chunk in
            chunk.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }.joined(separator: "\n")
        }.map { $0.trimmingCharacters(in: .whitespacesAndNewlines).trimmingCharacters(in: CharacterSet(charactersIn: ";")) }
        .filter { !$0.isEmpty }
    }

    static let migrations: [String] = [
        """
        CREATE TABLE events (
            id TEXT COLLATE "C" PRIMARY KEY,
            type TEXT NOT NULL,
            data JSONB NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            error TEXT,
            timestamp BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            processed_at BIGINT,
            stack TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_run_at BIGINT NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_expires_at BIGINT,
            parent_id TEXT COLLATE "C",
            chain_depth INTEGER NOT NULL DEFAULT 0,
            origin_key TEXT
        );
        CREATE INDEX idx_events_due ON events(next_run_at, id) WHERE status = 'pending';
        CREATE INDEX idx_events_type_id ON events(type, id);
        CREATE INDEX idx_events_status_id ON events(status, id);
        CREATE INDEX idx_events_stack_id ON events(stack, id) WHERE stack IS NOT NULL;
        CREATE INDEX idx_events_finished ON events(status, created_at) WHERE status IN ('completed', 'failed');
        CREATE INDEX idx_events_leased ON events(lease_expires_at) WHERE status = 'processing';
        CREATE UNIQUE INDEX idx_events_origin_key ON events(origin_key) WHERE origin_key IS NOT NULL;
        CREATE INDEX idx_events_parent ON events(parent_id, id) WHERE parent_id IS NOT NULL;

        CREATE TABLE hooks (
            id TEXT PRIMARY KEY,
            name TEXT UNIQUE NOT NULL,
            description TEXT,
            event_type TEXT NOT NULL,
            file_path TEXT NOT NULL,
            stack TEXT,
            enabled BOOLEAN NOT NULL DEFAULT TRUE,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            last_run BIGINT,
            run_count BIGINT NOT NULL DEFAULT 0,
            source TEXT NOT NULL,
            source_hash TEXT NOT NULL,
            timeout_ms BIGINT NOT NULL,
            memory_limit_bytes BIGINT NOT NULL,
            instruction_limit BIGINT NOT NULL,
            max_attempts INTEGER NOT NULL,
            retry_delay_ms BIGINT NOT NULL,
            permissions JSONB,
            filter JSONB
        );
        CREATE INDEX idx_hooks_stack ON hooks(stack);

        CREATE TABLE event_hook_executions (
            id BIGSERIAL PRIMARY KEY,
            event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
            hook_id TEXT NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
            hook_name TEXT NOT NULL,
            success BOOLEAN NOT NULL,
            output TEXT,
            error TEXT,
            duration_ms BIGINT NOT NULL,
            executed_at BIGINT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            instructions BIGINT NOT NULL DEFAULT 0,
            peak_memory_bytes BIGINT NOT NULL DEFAULT 0,
            message TEXT
        );
        CREATE INDEX idx_event_hook_executions_event_id ON event_hook_executions(event_id);
        CREATE INDEX idx_event_hook_executions_hook_id ON event_hook_executions(hook_id, executed_at);
        -- At most one successful run of a hook per event, whatever crashes happen, on any node.
        CREATE UNIQUE INDEX idx_event_hook_executions_once ON event_hook_executions(event_id, hook_id) WHERE success;

        CREATE TABLE hook_attempts (
            event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
            hook_id TEXT NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
            hook_name TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            dead BOOLEAN NOT NULL DEFAULT FALSE,
            last_error TEXT,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (event_id, hook_id)
        );
        CREATE INDEX idx_hook_attempts_dead ON hook_attempts(dead) WHERE dead;

        CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
        INSERT INTO meta(key, value) VALUES ('hooks_version', 0), ('schedules_version', 0), ('checks_version', 0), ('watches_version', 0);

        CREATE TABLE state (
            stack TEXT NOT NULL,
            key TEXT NOT NULL,
            value JSONB NOT NULL,
            expires_at BIGINT,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (stack, key)
        );
        CREATE INDEX idx_state_expires ON state(expires_at) WHERE expires_at IS NOT NULL;

        CREATE TABLE secrets (
            name TEXT PRIMARY KEY,
            nonce TEXT NOT NULL,
            ciphertext TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        );

        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        CREATE TABLE api_tokens (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
            token_hash TEXT NOT NULL UNIQUE,
            created_at BIGINT NOT NULL,
            revoked_at BIGINT
        );

        CREATE TABLE webhooks (
            name TEXT PRIMARY KEY,
            event_type TEXT NOT NULL,
            verify TEXT NOT NULL,
            secret TEXT,
            stack TEXT,
            signature_header TEXT,
            delivery_header TEXT,
            created_at BIGINT NOT NULL,
            declared_in TEXT
        );

        -- The change journal behind `GET /stream`. `seq` is taken under `journalLock`, held to
        -- commit, so numbers follow commit order across nodes (a reader never skips a number
        -- that commits later).
        CREATE SEQUENCE changes_seq;
        CREATE TABLE changes (
            seq BIGINT PRIMARY KEY,
            at BIGINT NOT NULL,
            event_id TEXT NOT NULL,
            status TEXT,
            execution_id BIGINT,
            type TEXT,
            stack TEXT
        );
        CREATE INDEX idx_changes_at ON changes(at);

        CREATE TABLE schedules (
            name TEXT PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            cron TEXT NOT NULL,
            timezone TEXT NOT NULL,
            event_type TEXT NOT NULL,
            data JSONB NOT NULL,
            stack TEXT,
            catch_up TEXT NOT NULL CHECK (catch_up IN ('skip', 'once', 'all')),
            max_catch_up INTEGER NOT NULL,
            enabled BOOLEAN NOT NULL,
            created_at BIGINT NOT NULL,
            fired_through BIGINT NOT NULL,
            declared_in TEXT
        );
        CREATE TABLE source_status (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            error TEXT,
            last_event_at BIGINT,
            last_event_type TEXT,
            emitted BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        );
        CREATE TABLE checks (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('http', 'tcp', 'exec')),
            target TEXT NOT NULL,
            service TEXT NOT NULL,
            expect_status INTEGER NOT NULL,
            expect_body TEXT,
            interval_ms BIGINT NOT NULL,
            timeout_ms BIGINT NOT NULL,
            failures INTEGER NOT NULL,
            latency_threshold_ms BIGINT,
            emit_passed BOOLEAN NOT NULL,
            created_at BIGINT NOT NULL,
            declared_in TEXT
        );
        CREATE TABLE watches (
            name TEXT PRIMARY KEY,
            paths JSONB NOT NULL,
            recursive BOOLEAN NOT NULL,
            include JSONB NOT NULL,
            exclude JSONB NOT NULL,
            settle_ms BIGINT NOT NULL,
            stack TEXT,
            created_at BIGINT NOT NULL,
            declared_in TEXT
        );
        CREATE TABLE watch_files (
            watch TEXT NOT NULL,
            path TEXT NOT NULL,
            size BIGINT NOT NULL,
            mtime_ns BIGINT NOT NULL,
            inode BIGINT NOT NULL,
            is_dir BOOLEAN NOT NULL,
            PRIMARY KEY (watch, path)
        );
        """,
        // 2: several nodes: the tags a hook needs of its node, the tags an event waits for,
        // the nodes serving the store, and the leases of duties only one node runs.
        """
        ALTER TABLE hooks ADD COLUMN nodes TEXT;
        ALTER TABLE events ADD COLUMN needs_tags JSONB;
        CREATE TABLE nodes (
            owner TEXT PRIMARY KEY,
            node_id TEXT NOT NULL,
            hostname TEXT NOT NULL,
            version TEXT NOT NULL,
            tags TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started_at BIGINT NOT NULL,
            heartbeat_at BIGINT NOT NULL,
            state TEXT NOT NULL,
            in_flight INTEGER NOT NULL
        );
        CREATE TABLE singletons (
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at BIGINT NOT NULL
        );
        """,
        // 3: the journal is pruned from its oldest number up (numbers follow time), so the
        // index on `at` — one more entry for every status change and hook run — goes.
        """
        DROP INDEX IF EXISTS idx_changes_at;
        """,
        // 4: replays (`events replay`): a new event naming the one it replays, and (as JSON
        // text: hooks, by, at) what the replay is; partial index, most events are no replay.
        """
        ALTER TABLE events ADD COLUMN replay_of TEXT COLLATE "C";
        ALTER TABLE events ADD COLUMN replay TEXT;
        CREATE INDEX idx_events_replay_of ON events(replay_of, id) WHERE replay_of IS NOT NULL;
        """,
        // 5: storm control and effects: a hook's controls (JSON text), their state per hook and
        // group (compare-and-set on version), the hooks settled without a run.
        """
        ALTER TABLE hooks ADD COLUMN controls TEXT;
        CREATE TABLE hook_controls (
            hook_id TEXT NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
            control TEXT NOT NULL,
            group_key TEXT NOT NULL,
            value TEXT NOT NULL,
            version BIGINT NOT NULL,
            expires_at BIGINT,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (hook_id, control, group_key)
        );
        CREATE TABLE hook_skips (
            event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
            hook_id TEXT NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
            hook_name TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            related_event_id TEXT,
            at BIGINT NOT NULL,
            PRIMARY KEY (event_id, hook_id)
        );
        """,
        // 6: the effect journal of hooks with `effects = "once"` (each completed exec/http call).
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
            recorded_at BIGINT NOT NULL,
            reused INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (event_id, hook_id, position)
        );
        """,
    ]
}
