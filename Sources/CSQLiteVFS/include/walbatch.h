#ifndef SLOTH_WALBATCH_H
#define SLOTH_WALBATCH_H

/* A VFS that wraps the default one and gathers the writes of a WAL transaction. SQLite writes
 * each WAL frame as two pwrite calls (24-byte header, then the page), so a commit of ~100 pages
 * costs ~200 system calls; here it costs a few 64 KiB writes, issued as soon as the commit frame
 * is complete — before SQLite publishes the frames to readers through the WAL index, and with
 * any error returned to the commit. Reads, syncs, truncation, size queries and closing the
 * WAL write out what is pending first. Database and other files are the default VFS's own. */

#define SLOTH_WALBATCH_VFS "sloth-walbatch"

/* Registers the VFS (not as the default); returns an SQLite result code. Idempotent. */
int sloth_walbatch_register(void);

#endif
