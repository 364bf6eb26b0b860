#include <sqlite3.h>

// sqlite3_config is variadic, which Swift cannot call: these wrappers are compiled by clang.

/// Turns off SQLite's memory statistics. With them on, every allocation SQLite makes takes a
/// global mutex (measured: ~10 % of the writer's time). Must run before SQLite initialises;
/// returns SQLITE_MISUSE (harmless) if it already has.
static inline int sloth_sqlite_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
