#include "luashim.h"
#include <lua5.4/lualib.h>
#include <lua5.4/lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <stdatomic.h>

double sb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

sb_state *sb_getstate(lua_State *L) {
    sb_state *S;
    memcpy(&S, lua_getextraspace(L), sizeof(S));
    return S;
}

/* Lua allocates and frees small blocks at a high rate (an event's tables, strings and closures,
 * then a collection frees them in a burst). From glibc that pattern overflows the per-thread
 * cache and goes through the arena's slow paths; a state is only ever used by one thread at a
 * time, so its own lock-free pool serves it instead: a region reserved once (only touched pages
 * cost memory), carved by a bump pointer into 16-byte size classes, freed blocks kept on a list
 * per class. Larger blocks, and small ones once the region is used up, come from malloc; a
 * block's owner is told by its address. The accounting of the memory limit is unchanged. */
#define SB_POOL_BYTES ((size_t)4 << 20)
#define SB_POOL_MAX 256

static inline int sb_pool_owns(const sb_state *S, const void *p) {
    return (const char *)p >= S->pool_base && (const char *)p < S->pool_end;
}

static inline size_t sb_pool_class(size_t n) { return (n - 1) >> 4; } /* n in 1...SB_POOL_MAX */

static void *sb_small_alloc(sb_state *S, size_t n) {
    size_t c = sb_pool_class(n);
    void *p = S->pool_free[c];
    if (p != NULL) {
        memcpy(&S->pool_free[c], p, sizeof(void *));
        return p;
    }
    size_t size = (c + 1) << 4;
    if (S->pool_bump != NULL && (size_t)(S->pool_end - S->pool_bump) >= size) {
        p = S->pool_bump;
        S->pool_bump += size;
        return p;
    }
    return malloc(n);
}

static void sb_small_free(sb_state *S, void *p, size_t n) {
    if (!sb_pool_owns(S, p)) {
        free(p);
        return;
    }
    size_t c = sb_pool_class(n);
    memcpy(p, &S->pool_free[c], sizeof(void *));
    S->pool_free[c] = p;
}

static void *sb_realloc(sb_state *S, void *ptr, size_t old, size_t nsize) {
    if (ptr == NULL) return nsize <= SB_POOL_MAX ? sb_small_alloc(S, nsize) : malloc(nsize);
    if (!sb_pool_owns(S, ptr)) return realloc(ptr, nsize);
    if (nsize <= SB_POOL_MAX && sb_pool_class(nsize) == sb_pool_class(old)) return ptr;
    void *p = nsize <= SB_POOL_MAX ? sb_small_alloc(S, nsize) : malloc(nsize);
    if (p == NULL) return NULL; /* Lua keeps the old block, as with realloc */
    memcpy(p, ptr, old < nsize ? old : nsize);
    sb_small_free(S, ptr, old);
    return p;
}

static void sb_hook(lua_State *L, lua_Debug *ar);

/* Once a run is over its memory limit, small blocks are still granted up to this much beyond
 * it, until the count hook kills the run (within one instruction, see below): each refusal
 * makes Lua run a full emergency collection of the state's heap, and a hook that keeps
 * catching "not enough memory" would otherwise pay one per allocation. */
#define SB_TRIP_SLACK ((size_t)256 << 10)
#define SB_TRIP_SLACK_BLOCK ((size_t)4096)

static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    sb_state *S = (sb_state *)ud;
    size_t old = ptr ? osize : 0; /* when ptr is NULL, osize is a type tag */
    if (nsize == 0) {
        if (ptr != NULL) {
            if (old <= SB_POOL_MAX) sb_small_free(S, ptr, old); else free(ptr);
        }
        S->mem_used -= old;
        return NULL;
    }
    if (nsize > old && S->mem_limit && S->host_depth == 0 && S->trip == SB_TRIP_MEMORY &&
        nsize - old <= SB_TRIP_SLACK_BLOCK && S->mem_used - old + nsize <= S->mem_limit + SB_TRIP_SLACK) {
        /* The run is being killed; let it reach its next instruction without collections. */
    } else if (nsize > old && S->mem_limit && S->host_depth == 0 &&
        S->mem_used - old + nsize > S->mem_limit) {
        /* The first refusal is soft: Lua answers it with an emergency full collection and asks
         * again, and a run whose usage was mostly uncollected garbage (the heap is shared and
         * the collector paced by all of it) then fits. Refused again — or asking for more than
         * its whole budget at once, which no collection can help — the run is over its limit
         * for real: the trip makes that fatal, beyond the reach of pcall. The whole budget, not
         * what is left of it: garbage counted in an earlier turn of the run may be most of what
         * it has used, and a collection gives that back. */
        /* Soft refusals are counted too: a run whose live data keeps it near its limit can
         * otherwise tread water, each emergency collection freeing just enough garbage (of
         * other runs on the shared heap) for its next allocation. After 32 of them without
         * falling well under the limit, it is over it. */
        S->mem_soft_streak++;
        if ((S->mem_refused || nsize > S->mem_budget || S->mem_soft_streak > 32) && S->trip == SB_TRIP_NONE) {
            S->trip = SB_TRIP_MEMORY;
            /* Make the kill immediate on the run's thread: its next instruction raises (a
             * coroutine of the run follows within its next count-hook interval).
             * lua_sethook only sets fields, which is safe here (Lua documents it as safe
             * even in a signal handler). */
            if (S->run_thread != NULL) lua_sethook(S->run_thread, sb_hook, LUA_MASKCOUNT, 1);
        }
        S->mem_refused = 1;
        return NULL;
    }
    if (nsize > old) {
        S->mem_refused = 0;
        /* Well under the limit again (an eighth of the budget below it): the streak is over. */
        if (S->mem_limit && S->mem_used - old + nsize + S->mem_budget / 8 < S->mem_limit) S->mem_soft_streak = 0;
    }
    void *p = sb_realloc(S, ptr, old, nsize);
    if (p == NULL) return NULL;
    S->mem_used = S->mem_used - old + nsize;
    if (S->mem_used > S->mem_peak) S->mem_peak = S->mem_used;
    return p;
}

void sb_close(lua_State *L, sb_state *S) {
    if (L != NULL) lua_close(L); /* frees every block, to the pool or to malloc */
    if (S->pool_base != NULL) munmap(S->pool_base, SB_POOL_BYTES);
    S->pool_base = S->pool_end = S->pool_bump = NULL;
    memset(S->pool_free, 0, sizeof(S->pool_free));
}

static int sb_panic(lua_State *L) {
    (void)L;
    abort(); /* unreachable by construction: Swift only enters Lua through protected calls */
}

lua_State *sb_newstate(sb_state *S) {
    void *region = mmap(NULL, SB_POOL_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (region != MAP_FAILED) { /* without it, every block comes from malloc */
        S->pool_base = region;
        S->pool_bump = region;
        S->pool_end = (char *)region + SB_POOL_BYTES;
    }
    lua_State *L = lua_newstate(sb_alloc, S);
    if (L == NULL) {
        sb_close(NULL, S);
        return NULL;
    }
    memcpy(lua_getextraspace(L), &S, sizeof(S));
    lua_atpanic(L, sb_panic);
    return L;
}

static const char *sb_trip_message(sb_state *S) {
    switch (S->trip) {
    case SB_TRIP_INSTRUCTIONS: return "instruction limit exceeded";
    case SB_TRIP_TIMEOUT: return "timeout";
    case SB_TRIP_MEMORY: return "memory limit exceeded";
    default: return "hook killed";
    }
}

/* Sticky: from now on every instruction of this thread raises, so no pcall can swallow the
 * kill for longer than one instruction. */
static int sb_raise_trip(lua_State *L, sb_state *S) {
    lua_sethook(L, sb_hook, LUA_MASKCOUNT, 1);
    return luaL_error(L, "%s", sb_trip_message(S));
}

static void sb_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    sb_state *S = sb_getstate(L);
    S->instr_count += S->trip ? 1 : S->hook_interval;
    if (S->trip == SB_TRIP_NONE) {
        if (S->instr_limit && S->instr_count > S->instr_limit) {
            S->trip = SB_TRIP_INSTRUCTIONS;
        } else if (S->deadline > 0 || S->slice_end > 0) {
            double now = sb_now();
            if (S->deadline > 0 && now >= S->deadline) {
                S->trip = SB_TRIP_TIMEOUT;
            } else if (S->slice_end > 0 && now >= S->slice_end && L == S->run_thread &&
                       lua_isyieldable(L)) {
                S->preempted = 1;
                lua_yield(L, 0); /* inside a hook this returns; Lua yields after the hook */
                return;
            }
        }
    }
    if (S->trip != SB_TRIP_NONE) sb_raise_trip(L, S);
}

int sb_trip(lua_State *L, int kind, const char *where) {
    sb_state *S = sb_getstate(L);
    if (S->trip == SB_TRIP_NONE) {
        S->trip = kind;
        S->trip_where = where;
    }
    return sb_raise_trip(L, S);
}

void sb_charge(lua_State *L, sb_state *S, long long steps, const char *where) {
    S->instr_count += steps;
    if (S->trip != SB_TRIP_NONE) sb_raise_trip(L, S);
    if (S->instr_limit && S->instr_count > S->instr_limit) sb_trip(L, SB_TRIP_INSTRUCTIONS, where);
    if (S->deadline > 0 && sb_now() >= S->deadline) sb_trip(L, SB_TRIP_TIMEOUT, where);
}

const char *sb_activity_call(sb_activity *activity) {
    return atomic_load_explicit(&activity->call, memory_order_relaxed);
}

static void sb_set_call(sb_state *S, const char *name) {
    if (S->activity != NULL) atomic_store_explicit(&S->activity->call, name, memory_order_relaxed);
}

void sb_install_hook(lua_State *L, int interval) {
    sb_state *S = sb_getstate(L);
    S->hook_interval = interval;
    lua_sethook(L, sb_hook, LUA_MASKCOUNT, interval);
}

void sb_begin_run(sb_state *S, lua_State *run, size_t mem_limit, long long instr_limit, double deadline) {
    S->mem_peak = S->mem_used;
    S->mem_limit = mem_limit ? S->mem_used + mem_limit : 0;
    S->mem_budget = mem_limit;
    S->mem_base = S->mem_used;
    S->mem_refused = 0;
    S->mem_soft_streak = 0;
    S->instr_limit = instr_limit;
    S->instr_count = 0;
    S->trip = SB_TRIP_NONE;
    S->deadline = deadline;
    S->slice_end = 0;
    S->run_thread = run;
    S->preempted = 0;
    S->trip_where = NULL;
}

static int sb_openlibs_protected(lua_State *L) {
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},          {LUA_TABLIBNAME, luaopen_table},
        {LUA_STRLIBNAME, luaopen_string},   {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},    {LUA_COLIBNAME, luaopen_coroutine},
        {LUA_OSLIBNAME, luaopen_os},        {NULL, NULL},
    };
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    sb_open_bounded_string(L);
    return 0;
}

int sb_openlibs(lua_State *L) {
    lua_pushcfunction(L, sb_openlibs_protected);
    return lua_pcall(L, 0, 0, 0);
}

static int sb_trampoline(lua_State *L) {
    sb_host_fn fn = (sb_host_fn)lua_touserdata(L, lua_upvalueindex(1));
    void *ctx = lua_touserdata(L, lua_upvalueindex(2));
    const char *name = (const char *)lua_touserdata(L, lua_upvalueindex(3));
    sb_state *S = sb_getstate(L);
    S->host_depth++;
    sb_set_call(S, name);
    int n = fn(L, ctx); /* Swift runs here and never raises */
    sb_set_call(S, NULL);
    S->host_depth--;
    /* A host call that ran out of the run's time or memory budget set the trip: the kill wins
     * over whatever the function returned, and stays beyond pcall's reach. */
    if (S->trip != SB_TRIP_NONE) {
        if (S->trip_where == NULL) S->trip_where = name;
        lua_settop(L, 0);
        return sb_raise_trip(L, S);
    }
    if (n == SB_HOST_ERROR) return lua_error(L);
    if (n == SB_HOST_YIELD) {
        if (L != S->run_thread || !lua_isyieldable(L)) {
            return luaL_error(L, "this function can only be called from the hook itself, "
                                 "not from inside a coroutine, metamethod or iterator");
        }
        return lua_yield(L, 0);
    }
    if (S->mem_limit && S->mem_used > S->mem_limit) {
        lua_settop(L, 0);
        lua_gc(L, LUA_GCCOLLECT);
        if (S->trip == SB_TRIP_NONE) {
            S->trip = SB_TRIP_MEMORY;
            S->trip_where = name;
        }
        return sb_raise_trip(L, S);
    }
    return n;
}

void sb_push_host(lua_State *L, sb_host_fn fn, void *ctx, const char *name) {
    lua_pushlightuserdata(L, (void *)fn);
    lua_pushlightuserdata(L, ctx);
    lua_pushlightuserdata(L, (void *)name);
    lua_pushcclosure(L, sb_trampoline, 3);
}


static int sb_bind(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    if (lua_setupvalue(L, 1, 1) == NULL) return luaL_error(L, "chunk has no _ENV upvalue");
    return 0;
}

void sb_push_bindfn(lua_State *L) { lua_pushcfunction(L, sb_bind); }

static int sb_msgh(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) msg = "(error object is not a string)";
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int sb_pcall(lua_State *L, int nargs, int nresults) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, sb_msgh);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    return status;
}

int sb_loadbuffer(lua_State *L, const char *buf, size_t len, const char *chunkname, const char *mode) {
    return luaL_loadbufferx(L, buf, len, chunkname, mode);
}

int sb_registryindex(void) { return LUA_REGISTRYINDEX; }
void sb_pop(lua_State *L, int n) { lua_pop(L, n); }
const char *sb_tostring(lua_State *L, int idx, size_t *len) { return lua_tolstring(L, idx, len); }
int sb_isinteger(lua_State *L, int idx) { return lua_isinteger(L, idx); }
