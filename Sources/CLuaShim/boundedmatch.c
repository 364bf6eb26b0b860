/* string.find, string.match, string.gmatch and string.gsub with a bounded amount of work.
 *
 * Why: Lua's own matcher backtracks without limit inside one C call, where neither the count
 * hook nor the allocator can stop it: `string.find(("a"):rep(5e4), ("a-"):rep(30) .. "b")` runs
 * for hours, past every timeout, holding an executor thread. These functions implement the same
 * pattern language (Lua 5.4 manual, section 6.4.1) and the same calling conventions, and charge
 * every matching step to the run's instruction budget; every few thousand steps they look at the
 * run's deadline. A hook that asks for too much is killed like one that loops in Lua: "timeout"
 * or "instruction limit", beyond the reach of pcall.
 *
 * Plain searches (`find` with plain = true, or a pattern without special characters) use glibc's
 * memmem, which is linear (Two-Way); the naive search is quadratic.
 */
#define _GNU_SOURCE
#include "luashim.h"
#include <lua5.4/lauxlib.h>
#include <lua5.4/lualib.h>
#include <ctype.h>
#include <string.h>

#define PAT_ESC '%'
#define PAT_SPECIALS "^$*+?.([%-"
#define MAX_CAPTURES 32
#define MAX_RECURSION 200
#define CAP_UNFINISHED (-1)
#define CAP_POSITION (-2)
/* Steps between two charges (and deadline checks): small enough that a run overshoots its
 * deadline by microseconds, large enough that the clock is read rarely. */
#define STEPS_PER_CHARGE 4096

typedef struct {
    const char *src_start;
    const char *src_end;
    const char *pat_end;
    lua_State *L;
    sb_state *S;
    const char *fname;
    int depth_left;
    int countdown;
    long long pending; /* steps taken since the last charge */
    int level;         /* captures opened so far */
    struct {
        const char *start;
        ptrdiff_t len;
    } capture[MAX_CAPTURES];
} Matcher;

static void step(Matcher *m) {
    m->pending++;
    if (--m->countdown == 0) {
        long long n = m->pending;
        m->pending = 0;
        m->countdown = STEPS_PER_CHARGE;
        sb_charge(m->L, m->S, n, m->fname);
    }
}

/* Charges the steps not yet charged (at the end of a call). */
static void settle(Matcher *m) {
    if (m->pending > 0) {
        long long n = m->pending;
        m->pending = 0;
        m->countdown = STEPS_PER_CHARGE;
        sb_charge(m->L, m->S, n, m->fname);
    }
}

static void matcher_init(Matcher *m, lua_State *L, const char *fname, const char *s, size_t ls, const char *p, size_t lp) {
    m->L = L;
    m->S = sb_getstate(L);
    m->fname = fname;
    m->src_start = s;
    m->src_end = s + ls;
    m->pat_end = p + lp;
    m->countdown = STEPS_PER_CHARGE;
    m->pending = 0;
    m->depth_left = MAX_RECURSION;
    m->level = 0;
}

static void matcher_reset(Matcher *m) {
    m->level = 0;
    m->depth_left = MAX_RECURSION;
}

/* Lua positions: 1-based, negative from the end, clamped like the reference library. */
static size_t start_index(lua_Integer pos, size_t len) {
    if (pos > 0) return (size_t)pos;
    if (pos == 0) return 1;
    if (pos < -(lua_Integer)len) return 1;
    return len + (size_t)pos + 1;
}

/* The end of the single-character class that starts at p. */
static const char *class_end(Matcher *m, const char *p) {
    char c = *p++;
    if (c == PAT_ESC) {
        if (p >= m->pat_end) luaL_error(m->L, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c == '[') {
        if (*p == '^') p++;
        do { /* the first character after '[' or '[^' is part of the set, even ']' */
            if (p >= m->pat_end) luaL_error(m->L, "malformed pattern (missing ']')");
            c = *p++;
            if (c == PAT_ESC && p < m->pat_end) p++;
        } while (*p != ']');
        return p + 1;
    }
    return p;
}

static int class_matches(int c, int cl) {
    int yes;
    switch (tolower(cl)) {
    case 'a': yes = isalpha(c); break;
    case 'c': yes = iscntrl(c); break;
    case 'd': yes = isdigit(c); break;
    case 'g': yes = isgraph(c); break;
    case 'l': yes = islower(c); break;
    case 'p': yes = ispunct(c); break;
    case 's': yes = isspace(c); break;
    case 'u': yes = isupper(c); break;
    case 'w': yes = isalnum(c); break;
    case 'x': yes = isxdigit(c); break;
    default: return cl == c;
    }
    if (isupper(cl)) yes = !yes;
    return yes;
}

/* Whether c is in the set [...] that spans p (at '[') to last (at ']'). */
static int set_matches(int c, const char *p, const char *last) {
    int found = 1;
    if (*(p + 1) == '^') {
        found = 0;
        p++;
    }
    while (++p < last) {
        if (*p == PAT_ESC) {
            p++;
            if (class_matches(c, (unsigned char)*p)) return found;
        } else if (*(p + 1) == '-' && p + 2 < last) {
            p += 2;
            if ((unsigned char)*(p - 2) <= c && c <= (unsigned char)*p) return found;
        } else if ((unsigned char)*p == c) {
            return found;
        }
    }
    return !found;
}

static int single_matches(Matcher *m, const char *s, const char *p, const char *ep) {
    if (s >= m->src_end) return 0;
    int c = (unsigned char)*s;
    switch (*p) {
    case '.': return 1;
    case PAT_ESC: return class_matches(c, (unsigned char)*(p + 1));
    case '[': return set_matches(c, p, ep - 1);
    default: return (unsigned char)*p == c;
    }
}

static const char *match(Matcher *m, const char *s, const char *p);

static const char *match_balance(Matcher *m, const char *s, const char *p) {
    if (p >= m->pat_end - 1) luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= m->src_end || *s != *p) return NULL;
    char open = *p, close = *(p + 1);
    int depth = 1;
    while (++s < m->src_end) {
        step(m);
        if (*s == close) {
            if (--depth == 0) return s + 1;
        } else if (*s == open) {
            depth++;
        }
    }
    return NULL;
}

static const char *expand_greedy(Matcher *m, const char *s, const char *p, const char *ep) {
    ptrdiff_t i = 0;
    while (single_matches(m, s + i, p, ep)) {
        step(m);
        i++;
    }
    while (i >= 0) { /* try the rest with as many repetitions as possible, then one fewer */
        step(m);
        const char *r = match(m, s + i, ep + 1);
        if (r != NULL) return r;
        i--;
    }
    return NULL;
}

static const char *expand_lazy(Matcher *m, const char *s, const char *p, const char *ep) {
    for (;;) {
        step(m);
        const char *r = match(m, s, ep + 1);
        if (r != NULL) return r;
        if (!single_matches(m, s, p, ep)) return NULL;
        s++;
    }
}

static const char *open_capture(Matcher *m, const char *s, const char *p, ptrdiff_t what) {
    if (m->level >= MAX_CAPTURES) luaL_error(m->L, "too many captures");
    m->capture[m->level].start = s;
    m->capture[m->level].len = what;
    m->level++;
    const char *r = match(m, s, p);
    if (r == NULL) m->level--; /* undo the capture */
    return r;
}

static const char *close_capture(Matcher *m, const char *s, const char *p) {
    int l = m->level - 1;
    while (l >= 0 && m->capture[l].len != CAP_UNFINISHED) l--;
    if (l < 0) luaL_error(m->L, "invalid pattern capture");
    m->capture[l].len = s - m->capture[l].start;
    const char *r = match(m, s, p);
    if (r == NULL) m->capture[l].len = CAP_UNFINISHED;
    return r;
}

static int capture_index(Matcher *m, int digit) {
    int l = digit - '1';
    if (l < 0 || l >= m->level || m->capture[l].len == CAP_UNFINISHED) luaL_error(m->L, "invalid capture index %%%d", l + 1);
    return l;
}

static const char *match_back_reference(Matcher *m, const char *s, int digit) {
    int l = capture_index(m, digit);
    ptrdiff_t len = m->capture[l].len;
    if (len < 0) return NULL; /* a position capture never matches text */
    if ((size_t)(m->src_end - s) >= (size_t)len && memcmp(m->capture[l].start, s, (size_t)len) == 0) return s + len;
    return NULL;
}

/* Matches pattern p at s; returns the end of the match or NULL. Tail positions loop instead of
 * recursing, so only real branching costs C stack. */
static const char *match(Matcher *m, const char *s, const char *p) {
    if (m->depth_left-- == 0) luaL_error(m->L, "pattern too complex");
    step(m);
    for (;;) {
        if (p == m->pat_end) break;
        switch (*p) {
        case '(':
            if (*(p + 1) == ')') s = open_capture(m, s, p + 2, CAP_POSITION);
            else s = open_capture(m, s, p + 1, CAP_UNFINISHED);
            goto done;
        case ')':
            s = close_capture(m, s, p + 1);
            goto done;
        case '$':
            if (p + 1 == m->pat_end) {
                if (s != m->src_end) s = NULL;
                goto done;
            }
            break; /* an ordinary character */
        case PAT_ESC:
            switch (*(p + 1)) {
            case 'b':
                s = match_balance(m, s, p + 2);
                if (s == NULL) goto done;
                p += 4;
                continue;
            case 'f': {
                p += 2;
                if (*p != '[') luaL_error(m->L, "missing '[' after '%%f' in pattern");
                const char *ep = class_end(m, p);
                int before = (s == m->src_start) ? '\0' : (unsigned char)*(s - 1);
                int here = (s < m->src_end) ? (unsigned char)*s : '\0';
                if (!set_matches(before, p, ep - 1) && set_matches(here, p, ep - 1)) {
                    p = ep;
                    continue;
                }
                s = NULL;
                goto done;
            }
            case '0': case '1': case '2': case '3': case '4':
            case '5': case '6': case '7': case '8': case '9':
                s = match_back_reference(m, s, (unsigned char)*(p + 1));
                if (s == NULL) goto done;
                p += 2;
                continue;
            default:
                break; /* a character class */
            }
            break;
        default:
            break;
        }
        /* A single character (class) with an optional quantifier. */
        const char *ep = class_end(m, p);
        char quantifier = (ep < m->pat_end) ? *ep : '\0';
        if (!single_matches(m, s, p, ep)) {
            if (quantifier == '*' || quantifier == '?' || quantifier == '-') {
                p = ep + 1; /* zero repetitions are fine */
                continue;
            }
            s = NULL;
            goto done;
        }
        switch (quantifier) {
        case '?': {
            const char *r = match(m, s + 1, ep + 1);
            if (r != NULL) {
                s = r;
                goto done;
            }
            p = ep + 1;
            continue;
        }
        case '+': s = expand_greedy(m, s + 1, p, ep); goto done;
        case '*': s = expand_greedy(m, s, p, ep); goto done;
        case '-': s = expand_lazy(m, s, p, ep); goto done;
        default:
            s++;
            p = ep;
            step(m);
            continue;
        }
    }
done:
    m->depth_left++;
    return s;
}

/* Pushes capture i (or the whole match s..e when the pattern has no captures). */
static void push_capture(Matcher *m, int i, const char *s, const char *e) {
    if (i >= m->level) {
        if (i != 0) luaL_error(m->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(m->L, s, (size_t)(e - s));
        return;
    }
    ptrdiff_t len = m->capture[i].len;
    if (len == CAP_UNFINISHED) luaL_error(m->L, "unfinished capture");
    if (len == CAP_POSITION) lua_pushinteger(m->L, (m->capture[i].start - m->src_start) + 1);
    else lua_pushlstring(m->L, m->capture[i].start, (size_t)len);
}

static int push_captures(Matcher *m, const char *s, const char *e) {
    int n = (m->level == 0 && s != NULL) ? 1 : m->level;
    luaL_checkstack(m->L, n, "too many captures");
    for (int i = 0; i < n; i++) push_capture(m, i, s, e);
    return n;
}

static int has_specials(const char *p, size_t lp) {
    size_t at = 0;
    do { /* strpbrk stops at a zero byte; a pattern may contain some */
        if (strpbrk(p + at, PAT_SPECIALS) != NULL) return 1;
        at += strlen(p + at) + 1;
    } while (at <= lp);
    return 0;
}

static int find_or_match(lua_State *L, int find) {
    const char *fname = find ? "string.find" : "string.match";
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
        /* Linear whatever the input; charged by its length. */
        sb_charge(L, sb_getstate(L), (long long)(ls - init) / 16 + 1, fname);
        const char *at = lp == 0 ? s + init : memmem(s + init, ls - init, p, lp);
        if (at != NULL) {
            lua_pushinteger(L, (at - s) + 1);
            lua_pushinteger(L, (at - s) + (lua_Integer)lp);
            return 2;
        }
        luaL_pushfail(L);
        return 1;
    }
    Matcher m;
    const char *start = s + init;
    int anchored = (*p == '^');
    if (anchored) {
        p++;
        lp--;
    }
    matcher_init(&m, L, fname, s, ls, p, lp);
    do {
        matcher_reset(&m);
        step(&m);
        const char *e = match(&m, start, p);
        if (e != NULL) {
            settle(&m);
            if (find) {
                lua_pushinteger(L, (start - s) + 1);
                lua_pushinteger(L, e - s);
                return push_captures(&m, NULL, NULL) + 2;
            }
            return push_captures(&m, start, e);
        }
    } while (start++ < m.src_end && !anchored);
    settle(&m);
    luaL_pushfail(L);
    return 1;
}

static int bounded_find(lua_State *L) { return find_or_match(L, 1); }
static int bounded_match(lua_State *L) { return find_or_match(L, 0); }

/* The iterator state of gmatch, kept in a userdata next to the string and pattern. */
typedef struct {
    const char *next;       /* where the next search starts */
    const char *last_match; /* end of the last match, to skip an empty match right there */
    Matcher m;
} GmatchState;

static int gmatch_next(lua_State *L) {
    GmatchState *g = (GmatchState *)lua_touserdata(L, lua_upvalueindex(3));
    /* The string and pattern are kept alive by the closure's upvalues 1 and 2. */
    const char *p = lua_tostring(L, lua_upvalueindex(2));
    g->m.L = L;
    g->m.S = sb_getstate(L);
    for (const char *src = g->next; src <= g->m.src_end; src++) {
        matcher_reset(&g->m);
        step(&g->m);
        const char *e = match(&g->m, src, p);
        if (e != NULL && e != g->last_match) {
            g->next = g->last_match = e;
            settle(&g->m);
            return push_captures(&g->m, src, e);
        }
    }
    settle(&g->m);
    return 0;
}

static int bounded_gmatch(lua_State *L) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) init = ls + 1; /* nothing will match */
    lua_settop(L, 2);
    GmatchState *g = (GmatchState *)lua_newuserdatauv(L, sizeof(GmatchState), 0);
    matcher_init(&g->m, L, "string.gmatch", s, ls, p, lp);
    g->next = s + init;
    g->last_match = NULL;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

/* Appends the replacement string (argument 3) with its %0-%9 and %% expanded. */
static void add_replacement_string(Matcher *m, luaL_Buffer *b, const char *s, const char *e) {
    lua_State *L = m->L;
    size_t l;
    const char *news = lua_tolstring(L, 3, &l);
    const char *p;
    while ((p = memchr(news, PAT_ESC, l)) != NULL) {
        luaL_addlstring(b, news, (size_t)(p - news));
        p++;
        if (*p == PAT_ESC) {
            luaL_addchar(b, *p);
        } else if (*p == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (isdigit((unsigned char)*p)) {
            push_capture(m, *p - '1', s, e);
            luaL_tolstring(L, -1, NULL); /* a position capture is an integer */
            lua_remove(L, -2);
            luaL_addvalue(b);
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", PAT_ESC);
        }
        l -= (size_t)(p + 1 - news);
        news = p + 1;
    }
    luaL_addlstring(b, news, l);
}

/* Adds the replacement of one match; returns whether the text changed. */
static int add_replacement(Matcher *m, luaL_Buffer *b, const char *s, const char *e, int kind) {
    lua_State *L = m->L;
    switch (kind) {
    case LUA_TFUNCTION: {
        lua_pushvalue(L, 3);
        int n = push_captures(m, s, e);
        lua_call(L, n, 1);
        break;
    }
    case LUA_TTABLE:
        push_capture(m, 0, s, e);
        lua_gettable(L, 3);
        break;
    default:
        add_replacement_string(m, b, s, e);
        return 1;
    }
    if (!lua_toboolean(L, -1)) { /* nil or false: keep the original text */
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return 0;
    }
    if (!lua_isstring(L, -1)) return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

static int bounded_gsub(lua_State *L) {
    size_t srcl, lp;
    const char *src = luaL_checklstring(L, 1, &srcl);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *last_match = NULL;
    int kind = lua_type(L, 3);
    lua_Integer max_n = luaL_optinteger(L, 4, (lua_Integer)srcl + 1);
    int anchored = (*p == '^');
    lua_Integer n = 0;
    int changed = 0;
    luaL_argexpected(L, kind == LUA_TNUMBER || kind == LUA_TSTRING || kind == LUA_TFUNCTION || kind == LUA_TTABLE, 3,
                     "string/function/table");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (anchored) {
        p++;
        lp--;
    }
    Matcher m;
    matcher_init(&m, L, "string.gsub", src, srcl, p, lp);
    while (n < max_n) {
        matcher_reset(&m);
        step(&m);
        const char *e = match(&m, src, p);
        if (e != NULL && e != last_match) {
            n++;
            changed = add_replacement(&m, &b, src, e, kind) | changed;
            src = last_match = e;
        } else if (src < m.src_end) {
            luaL_addchar(&b, *src++);
        } else {
            break;
        }
        if (anchored) break;
    }
    settle(&m);
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, src, (size_t)(m.src_end - src));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

void sb_open_bounded_string(lua_State *L) {
    static const luaL_Reg replacements[] = {
        {"find", bounded_find}, {"match", bounded_match}, {"gmatch", bounded_gmatch}, {"gsub", bounded_gsub}, {NULL, NULL},
    };
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, LUA_STRLIBNAME);
    luaL_setfuncs(L, replacements, 0);
    lua_pop(L, 2);
}
