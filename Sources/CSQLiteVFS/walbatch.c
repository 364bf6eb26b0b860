#include "walbatch.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* The WAL format (https://www.sqlite.org/fileformat2.html#walformat): a 32-byte header, then
 * frames of a 24-byte header and a page. Bytes 4..7 of a frame header hold the database size
 * after the commit for a commit frame, zero otherwise. */
#define WAL_FRAME_HEADER 24
#define MAX_PENDING (8 * 1024 * 1024)

typedef struct WalFile {
    sqlite3_file base;      /* our methods */
    sqlite3_file *real;     /* the default VFS's file, allocated right after this struct */
    unsigned char *buf;     /* pending bytes, to be written at `start` */
    sqlite3_int64 start;
    int len;
    int cap;
    int commit_page_next;   /* the last write was a commit frame's header: flush after its page */
} WalFile;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs walbatch_vfs;
static sqlite3_io_methods wal_methods;

/* The unix VFS writes at most 128 KiB - 1 per call (it masks the length with 0x1ffff and reports
 * the rest as a full disk), so pending bytes go out in chunks below that. */
#define MAX_WRITE (64 * 1024)

static int flush(WalFile *w) {
    int done = 0;
    int rc = SQLITE_OK;
    while (done < w->len && rc == SQLITE_OK) {
        int n = w->len - done < MAX_WRITE ? w->len - done : MAX_WRITE;
        rc = w->real->pMethods->xWrite(w->real, w->buf + done, n, w->start + done);
        done += n;
    }
    w->len = 0;
    return rc;
}

static int pend(WalFile *w, const void *data, int amt, sqlite3_int64 off) {
    if (w->len > 0 && off != w->start + w->len) {
        int rc = flush(w);
        if (rc != SQLITE_OK) return rc;
    }
    if (w->len + amt > MAX_PENDING) {
        int rc = flush(w);
        if (rc != SQLITE_OK) return rc;
        if (amt > MAX_WRITE) return w->real->pMethods->xWrite(w->real, data, amt, off);
    }
    if (w->len + amt > w->cap) {
        int cap = w->cap ? w->cap : 256 * 1024;
        while (cap < w->len + amt) cap *= 2;
        unsigned char *grown = realloc(w->buf, (size_t)cap);
        if (!grown) {
            int rc = flush(w);
            if (rc != SQLITE_OK) return rc;
            return w->real->pMethods->xWrite(w->real, data, amt, off);
        }
        w->buf = grown;
        w->cap = cap;
    }
    if (w->len == 0) w->start = off;
    memcpy(w->buf + w->len, data, (size_t)amt);
    w->len += amt;
    return SQLITE_OK;
}

static int wal_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 off) {
    WalFile *w = (WalFile *)f;
    int completes_commit = w->commit_page_next && amt != WAL_FRAME_HEADER;
    w->commit_page_next = 0;
    int rc = pend(w, data, amt, off);
    if (rc != SQLITE_OK) return rc;
    if (amt == WAL_FRAME_HEADER) {
        const unsigned char *h = data;
        w->commit_page_next = (h[4] | h[5] | h[6] | h[7]) != 0;
    }
    return completes_commit ? flush(w) : SQLITE_OK;
}

static int wal_close(sqlite3_file *f) {
    WalFile *w = (WalFile *)f;
    int rc = flush(w);
    int rc2 = w->real->pMethods ? w->real->pMethods->xClose(w->real) : SQLITE_OK;
    free(w->buf);
    w->buf = NULL;
    w->cap = 0;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wal_read(sqlite3_file *f, void *data, int amt, sqlite3_int64 off) {
    WalFile *w = (WalFile *)f;
    int rc = flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xRead(w->real, data, amt, off);
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size) {
    WalFile *w = (WalFile *)f;
    int rc = flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wal_sync(sqlite3_file *f, int flags) {
    WalFile *w = (WalFile *)f;
    int rc = flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size) {
    WalFile *w = (WalFile *)f;
    int rc = flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real, size);
}

static int wal_lock(sqlite3_file *f, int level) {
    WalFile *w = (WalFile *)f;
    return w->real->pMethods->xLock(w->real, level);
}

static int wal_unlock(sqlite3_file *f, int level) {
    WalFile *w = (WalFile *)f;
    return w->real->pMethods->xUnlock(w->real, level);
}

static int wal_check_reserved(sqlite3_file *f, int *out) {
    WalFile *w = (WalFile *)f;
    return w->real->pMethods->xCheckReservedLock(w->real, out);
}

static int wal_file_control(sqlite3_file *f, int op, void *arg) {
    WalFile *w = (WalFile *)f;
    int rc = flush(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileControl(w->real, op, arg);
}

static int wal_sector_size(sqlite3_file *f) {
    WalFile *w = (WalFile *)f;
    return w->real->pMethods->xSectorSize(w->real);
}

static int wal_device_characteristics(sqlite3_file *f) {
    WalFile *w = (WalFile *)f;
    return w->real->pMethods->xDeviceCharacteristics(w->real);
}

static int walbatch_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags) {
    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL)) {
        /* Not a WAL: the default VFS's file, in place (our szOsFile is at least its size). */
        return real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
    }
    WalFile *w = (WalFile *)f;
    memset(w, 0, sizeof(*w));
    w->real = (sqlite3_file *)(w + 1);
    int rc = real_vfs->xOpen(real_vfs, name, w->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        /* SQLite calls xClose only if pMethods is set; the real file cleaned up after itself. */
        w->base.pMethods = NULL;
        return rc;
    }
    w->base.pMethods = &wal_methods;
    return SQLITE_OK;
}

/* Everything but xOpen goes straight to the default VFS. */
static int vfs_delete(sqlite3_vfs *v, const char *n, int s) { (void)v; return real_vfs->xDelete(real_vfs, n, s); }
static int vfs_access(sqlite3_vfs *v, const char *n, int fl, int *o) { (void)v; return real_vfs->xAccess(real_vfs, n, fl, o); }
static int vfs_full_pathname(sqlite3_vfs *v, const char *n, int sz, char *o) { (void)v; return real_vfs->xFullPathname(real_vfs, n, sz, o); }
static void *vfs_dlopen(sqlite3_vfs *v, const char *n) { (void)v; return real_vfs->xDlOpen(real_vfs, n); }
static void vfs_dlerror(sqlite3_vfs *v, int n, char *m) { (void)v; real_vfs->xDlError(real_vfs, n, m); }
static void (*vfs_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) { (void)v; return real_vfs->xDlSym(real_vfs, h, s); }
static void vfs_dlclose(sqlite3_vfs *v, void *h) { (void)v; real_vfs->xDlClose(real_vfs, h); }
static int vfs_randomness(sqlite3_vfs *v, int n, char *o) { (void)v; return real_vfs->xRandomness(real_vfs, n, o); }
static int vfs_sleep(sqlite3_vfs *v, int us) { (void)v; return real_vfs->xSleep(real_vfs, us); }
static int vfs_current_time(sqlite3_vfs *v, double *o) { (void)v; return real_vfs->xCurrentTime(real_vfs, o); }
static int vfs_get_last_error(sqlite3_vfs *v, int n, char *o) { (void)v; return real_vfs->xGetLastError(real_vfs, n, o); }
static int vfs_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *o) { (void)v; return real_vfs->xCurrentTimeInt64(real_vfs, o); }

int sloth_walbatch_register(void) {
    if (sqlite3_vfs_find(SLOTH_WALBATCH_VFS)) return SQLITE_OK;
    real_vfs = sqlite3_vfs_find(NULL);
    if (!real_vfs) return SQLITE_ERROR;
    /* Version 1 file methods: no shared memory or mmap on the WAL file itself (SQLite keeps the
     * WAL index in the database file's shared memory). */
    wal_methods.iVersion = 1;
    wal_methods.xClose = wal_close;
    wal_methods.xRead = wal_read;
    wal_methods.xWrite = wal_write;
    wal_methods.xTruncate = wal_truncate;
    wal_methods.xSync = wal_sync;
    wal_methods.xFileSize = wal_file_size;
    wal_methods.xLock = wal_lock;
    wal_methods.xUnlock = wal_unlock;
    wal_methods.xCheckReservedLock = wal_check_reserved;
    wal_methods.xFileControl = wal_file_control;
    wal_methods.xSectorSize = wal_sector_size;
    wal_methods.xDeviceCharacteristics = wal_device_characteristics;

    int size = (int)sizeof(WalFile) + real_vfs->szOsFile;
    walbatch_vfs.iVersion = 2;
    walbatch_vfs.szOsFile = size > real_vfs->szOsFile ? size : real_vfs->szOsFile;
    walbatch_vfs.mxPathname = real_vfs->mxPathname;
    walbatch_vfs.zName = SLOTH_WALBATCH_VFS;
    walbatch_vfs.xOpen = walbatch_open;
    walbatch_vfs.xDelete = vfs_delete;
    walbatch_vfs.xAccess = vfs_access;
    walbatch_vfs.xFullPathname = vfs_full_pathname;
    walbatch_vfs.xDlOpen = vfs_dlopen;
    walbatch_vfs.xDlError = vfs_dlerror;
    walbatch_vfs.xDlSym = vfs_dlsym;
    walbatch_vfs.xDlClose = vfs_dlclose;
    walbatch_vfs.xRandomness = vfs_randomness;
    walbatch_vfs.xSleep = vfs_sleep;
    walbatch_vfs.xCurrentTime = vfs_current_time;
    walbatch_vfs.xGetLastError = vfs_get_last_error;
    walbatch_vfs.xCurrentTimeInt64 = vfs_current_time_int64;
    return sqlite3_vfs_register(&walbatch_vfs, 0);
}
