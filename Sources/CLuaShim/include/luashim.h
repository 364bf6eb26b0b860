#ifndef SLOTH_LUASHIM_H
#define SLOTH_LUASHIM_H

#include <stddef.h>
#include <lua5.4/lua.h>

/* Why this C target exists: Lua raises errors and yields with longjmp. A jump that crosses a
 * Swift frame skips its cleanup (undefined behaviour). Swift host functions therefore never
 * raise: they return a status and the trampoline below raises or yields once Swift returned. */

typedef int (*sb_host_fn)(lua_State *L, void *ctx);

#define SB_HOST_ERROR -1 /* message on top of the stack; the trampoline raises it */
#define SB_HOST_YIELD -2 /* the trampoline yields with no values */

#define SB_TRIP_NONE 0
#define SB_TRIP_INSTRUCTIONS 1
#define SB_TRIP_TIMEOUT 2
#define SB_TRIP_MEMORY 3
#define SB_TRIP_KILLED 4

/* What an executor thread is doing inside Lua, for the watchdog on another thread: the name of
 * the host or library function running right now (NULL between calls). Owned by the executor,
 * so it outlives the Lua states that write to it. */
typedef struct sb_activity {
    const char *_Atomic call;
} sb_activity;

/* One per lua_State; the allocator's userdata, also reachable from every thread of the state. */
typedef struct sb_state {
    size_t mem_used;
    size_t mem_peak;
    size_t mem_limit;      /* 0: no limit */
    size_t mem_base;       /* mem_used when the current run's turn began: its budget is mem_limit - mem_base */
    size_t mem_budget;     /* the current run's whole memory limit (what is left of it can be less) */
    int mem_refused;       /* the last allocation over the limit was refused once (see sb_alloc) */
    int mem_soft_streak;   /* soft refusals since the run was last well under its limit */
    int host_depth;        /* > 0 while trusted host code runs: the allocator never fails then */
    long long instr_limit; /* 0: no limit */
    long long instr_count;
    int hook_interval;
    int trip;              /* SB_TRIP_*: once set, every thread of the state dies (sticky) */
    double deadline;       /* CLOCK_MONOTONIC seconds; 0: none */
    double slice_end;      /* preempt the run thread after this instant; 0: never */
    lua_State *run_thread; /* the only thread that may yield to Swift */
    int preempted;         /* set when the count hook yielded for preemption */
    const char *trip_where;  /* the library function a limit tripped in (NULL: in Lua code) */
    sb_activity *activity;   /* NULL: nobody watches */
    /* Small-block pool (see sb_alloc): a region reserved per state, carved into 16-byte size
     * classes up to SB_POOL_MAX bytes, with a free list per class. */
    char *pool_base;
    char *pool_end;
    char *pool_bump;
    void *pool_free[16];
} sb_state;

lua_State *sb_newstate(sb_state *S);
/* Closes the state and releases its small-block pool. */
void sb_close(lua_State *L, sb_state *S);
sb_state *sb_getstate(lua_State *L);
double sb_now(void);

/* Open the safe libraries (base, table, string, math, utf8, coroutine, os) under protection. */
int sb_openlibs(lua_State *L);
/* Install the count hook with the given granularity on this thread (new threads inherit it). */
void sb_install_hook(lua_State *L, int interval);
/* Reset the per-run limits before a run starts. */
void sb_begin_run(sb_state *S, lua_State *run, size_t mem_limit, long long instr_limit, double deadline);

/* Pushes a host function; `name` (a string that lives forever) is what the watchdog and the
 * limit messages call it, e.g. "template.render". */
void sb_push_host(lua_State *L, sb_host_fn fn, void *ctx, const char *name);

/* Records that a limit tripped inside library function `where`, makes the kill sticky and
 * raises it. For C library code only (it longjmps). */
int sb_trip(lua_State *L, int kind, const char *where);

/* Work a library function did, in steps (one pattern-matching step, one element moved, ...):
 * charged against the instruction budget and, every so often, checked against the deadline.
 * Raises the kill when a limit is passed. */
void sb_charge(lua_State *L, sb_state *S, long long steps, const char *where);

/* The call recorded in an activity (atomic read, for the watchdog thread). */
const char *sb_activity_call(sb_activity *activity);

/* Replaces string.find/match/gmatch/gsub with versions that charge their steps (see
 * boundedmatch.c); called while the libraries are opened. */
void sb_open_bounded_string(lua_State *L);
/* Push a C function bind(f, env) that sets f's first upvalue (its _ENV) to env. */
void sb_push_bindfn(lua_State *L);

int sb_pcall(lua_State *L, int nargs, int nresults);
int sb_loadbuffer(lua_State *L, const char *buf, size_t len, const char *chunkname, const char *mode);

/* Macro wrappers. */
int sb_registryindex(void);
void sb_pop(lua_State *L, int n);
const char *sb_tostring(lua_State *L, int idx, size_t *len);
int sb_isinteger(lua_State *L, int idx);

#endif
