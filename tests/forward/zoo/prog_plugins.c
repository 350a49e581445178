/* Case 8's program: it links no BSTR runtime; the runtimes are plugins
 * (plug_rt.c builds) loaded with dlopen() and called through dlsym()
 * pointers.
 *   prog_plugins local PLUGIN      RTLD_LOCAL; the plugin's functions call
 *                                  its own Sys* through its PLT
 *   prog_plugins global PLUGIN     RTLD_GLOBAL; the program also calls the
 *                                  Sys* functions it finds with
 *                                  dlsym(RTLD_DEFAULT), on BSTRs of both
 *   prog_plugins tail PLUGIN       the plugin's one-line wrappers, which
 *                                  are jumps: the Sys* call seems to come
 *                                  from the program
 *   prog_plugins swap A B STEADY   A and B (different layouts, both
 *                                  wchar_t) are loaded, used by a second
 *                                  thread and unloaded in turn, so one may
 *                                  land where the other was; a third thread
 *                                  keeps calling STEADY all along
 *   prog_plugins leakclose PLUGIN  the plugin leaks a BSTR and is unloaded
 *                                  before exit */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "zoo_prog.h"

typedef wchar_t OLECHAR;
typedef OLECHAR *BSTR;

typedef struct plugin {
    void *handle;
    BSTR (*make)(const OLECHAR *);
    unsigned (*len)(BSTR);
    unsigned (*bytelen)(BSTR);
    int (*realloc_)(BSTR *, const OLECHAR *);
    void (*free_)(BSTR);
    void (*leak)(void);
    BSTR (*make_tail)(const OLECHAR *);
    unsigned (*len_tail)(BSTR);
    void (*free_tail)(BSTR);
    int (*owns)(BSTR);
} plugin_t;

static unsigned long allocations;

#define LOOKUP(handle, var, name) (sym = dlsym(handle, name), memcpy(&(var), &sym, sizeof(var)), sym != NULL)

static int load(plugin_t *p, const char *path, int flags)
{
    memset(p, 0, sizeof *p);
    p->handle = dlopen(path, flags);
    if (!p->handle) {
        printf("dlopen failed: %s\n", dlerror());
        return 0;
    }
    void *sym;
    int ok = LOOKUP(p->handle, p->make, "plug_make") && LOOKUP(p->handle, p->len, "plug_len") &&
             LOOKUP(p->handle, p->bytelen, "plug_bytelen") &&
             LOOKUP(p->handle, p->realloc_, "plug_realloc") && LOOKUP(p->handle, p->free_, "plug_free") &&
             LOOKUP(p->handle, p->leak, "plug_leak") && LOOKUP(p->handle, p->make_tail, "plug_make_tail") &&
             LOOKUP(p->handle, p->len_tail, "plug_len_tail") &&
             LOOKUP(p->handle, p->free_tail, "plug_free_tail") && LOOKUP(p->handle, p->owns, "plug_owns");
    if (!ok)
        printf("dlsym failed\n");
    return ok;
}

static void show_with(const char *what, BSTR b, unsigned len, unsigned bytes, int owns)
{
    printf("%s: len=%u bytes=%u prefix=%u terminated=%d text=", what, len, bytes,
           (unsigned)zoo_prefix(b), zoo_terminated(b, bytes, 4));
    zoo_print_text(b, len, 4);
    printf("\nlayout: %s align8=%u owned=%d\n", what, zoo_align8(b), owns);
}

static void show(const plugin_t *p, const char *what, BSTR b)
{
    show_with(what, b, p->len(b), p->bytelen(b), p->owns(b));
}

static BSTR counted(BSTR b)
{
    allocations += b != NULL;
    return b;
}

/* ---------------------------------------------------------------- local */

static int local(const char *path)
{
    plugin_t p;
    if (!load(&p, path, RTLD_NOW | RTLD_LOCAL))
        return 1;
    BSTR a = counted(p.make(L"made by a plugin"));
    show(&p, "made", a);
    allocations += p.realloc_(&a, L"re-made by the plugin") == 1;
    show(&p, "re-made", a);
    BSTR e = counted(p.make(L""));
    show(&p, "empty", e);
    p.free_(a);
    p.free_(e);
    p.leak();
    allocations++;
    printf("count: allocations=%lu\n", allocations);
    return 0;
}

/* --------------------------------------------------------------- global */

static BSTR (*g_alloc)(const OLECHAR *);
static unsigned (*g_len)(BSTR);
static unsigned (*g_bytelen)(BSTR);
static void (*g_free)(BSTR);
static int (*g_realloc)(BSTR *, const OLECHAR *);

NOINLINE static void leak_from_program(void)
{
    zoo_sink = (uintptr_t)counted(g_alloc(L"leaked by the program"));
}

NOINLINE static void double_free_from_program(void)
{
    BSTR b = counted(g_alloc(L"freed twice by the program"));
    g_free(b);
    g_free(b);
}

static int global(const char *path)
{
    plugin_t p;
    if (!load(&p, path, RTLD_NOW | RTLD_GLOBAL))
        return 1;
    void *sym;
    if (!(LOOKUP(RTLD_DEFAULT, g_alloc, "SysAllocString") && LOOKUP(RTLD_DEFAULT, g_len, "SysStringLen") &&
          LOOKUP(RTLD_DEFAULT, g_bytelen, "SysStringByteLen") &&
          LOOKUP(RTLD_DEFAULT, g_free, "SysFreeString") &&
          LOOKUP(RTLD_DEFAULT, g_realloc, "SysReAllocString"))) {
        printf("no global Sys* functions\n");
        return 1;
    }
    BSTR a = counted(g_alloc(L"made by the program"));
    show_with("program-made", a, g_len(a), g_bytelen(a), p.owns(a));
    show(&p, "program-made-seen-by-plugin", a);
    p.free_(a);
    BSTR b = counted(p.make(L"made by the plugin"));
    show_with("plugin-made-seen-by-program", b, g_len(b), g_bytelen(b), p.owns(b));
    g_free(b);
    BSTR c = counted(g_alloc(L"x"));
    allocations += g_realloc(&c, L"re-made by the program") == 1;
    show(&p, "program-re-made", c);
    p.free_(c);
    leak_from_program();
    double_free_from_program();
    printf("count: allocations=%lu\n", allocations);
    return 0;
}

/* ----------------------------------------------------------------- tail */

static plugin_t tp;

NOINLINE static void leak_via_tail(void)
{
    zoo_sink = (uintptr_t)counted(tp.make_tail(L"leaked through a tail jump"));
}

NOINLINE static void double_free_via_tail(void)
{
    BSTR b = counted(tp.make_tail(L"freed twice through a tail jump"));
    tp.free_tail(b);
    tp.free_tail(b);
}

static int tail(const char *path)
{
    if (!load(&tp, path, RTLD_NOW | RTLD_LOCAL))
        return 1;
    BSTR a = counted(tp.make_tail(L"made through a tail jump"));
    show_with("tail-made", a, tp.len_tail(a), tp.bytelen(a), tp.owns(a));
    show(&tp, "tail-made-seen-by-plugin", a);
    tp.free_tail(a);
    BSTR b = counted(tp.make(L"made normally"));
    show_with("made-seen-through-tail", b, tp.len_tail(b), tp.bytelen(b), tp.owns(b));
    tp.free_tail(b);
    BSTR c = counted(tp.make_tail(L"made by a jump, freed normally"));
    show(&tp, "jump-made", c);
    tp.free_(c);
    leak_via_tail();
    double_free_via_tail();
    printf("count: allocations=%lu\n", allocations);
    return 0;
}

/* ----------------------------------------------------------------- swap */

#define SWAP_ROUNDS 12
#define SWAP_CALLS 50

static pthread_mutex_t swap_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t swap_cond = PTHREAD_COND_INITIALIZER;
static plugin_t current;
static int loaded_round = -1, done_round = -1;
static int stop_steady;
static unsigned long user_width_errors, user_owner_errors;
static unsigned long steady_width_errors, steady_owner_errors, steady_calls;

static void check(const plugin_t *p, unsigned long *width_errors, unsigned long *owner_errors)
{
    BSTR b = p->make(L"swap");
    *width_errors += !(b && p->len(b) == 4 && p->bytelen(b) == 16 && zoo_prefix(b) == 16 &&
                       wcscmp(b, L"swap") == 0);
    *owner_errors += p->owns(b) != 1;
    p->free_(b);
}

static void *user(void *arg)
{
    (void)arg;
    for (int r = 0; r < SWAP_ROUNDS; r++) {
        pthread_mutex_lock(&swap_lock);
        while (loaded_round < r)
            pthread_cond_wait(&swap_cond, &swap_lock);
        plugin_t p = current;
        pthread_mutex_unlock(&swap_lock);
        for (int i = 0; i < SWAP_CALLS; i++)
            check(&p, &user_width_errors, &user_owner_errors);
        pthread_mutex_lock(&swap_lock);
        done_round = r;
        pthread_cond_broadcast(&swap_cond);
        pthread_mutex_unlock(&swap_lock);
    }
    return NULL;
}

static void *steady(void *arg)
{
    const plugin_t *p = arg;
    while (!__atomic_load_n(&stop_steady, __ATOMIC_ACQUIRE) || steady_calls < 100) {
        check(p, &steady_width_errors, &steady_owner_errors);
        steady_calls++;
    }
    return NULL;
}

static int swap(const char *path_a, const char *path_b, const char *path_steady)
{
    plugin_t s;
    if (!load(&s, path_steady, RTLD_NOW | RTLD_LOCAL))
        return 1;
    pthread_t user_tid, steady_tid;
    pthread_create(&user_tid, NULL, user, NULL);
    pthread_create(&steady_tid, NULL, steady, &s);
    uintptr_t last_base = 0;
    unsigned same_place = 0, main_errors = 0;
    for (int r = 0; r < SWAP_ROUNDS; r++) {
        plugin_t p;
        if (!load(&p, r % 2 ? path_b : path_a, RTLD_NOW | RTLD_LOCAL))
            return 1;
        Dl_info info;
        void *sym;
        memcpy(&sym, &p.make, sizeof sym);
        if (dladdr(sym, &info)) {
            same_place += (uintptr_t)info.dli_fbase == last_base;
            last_base = (uintptr_t)info.dli_fbase;
        }
        unsigned long width_errors = 0, owner_errors = 0;
        check(&p, &width_errors, &owner_errors);
        main_errors += (unsigned)(width_errors + owner_errors);
        pthread_mutex_lock(&swap_lock);
        current = p;
        loaded_round = r;
        pthread_cond_broadcast(&swap_cond);
        while (done_round < r)
            pthread_cond_wait(&swap_cond, &swap_lock);
        pthread_mutex_unlock(&swap_lock);
        dlclose(p.handle);
    }
    pthread_join(user_tid, NULL);
    __atomic_store_n(&stop_steady, 1, __ATOMIC_RELEASE);
    pthread_join(steady_tid, NULL);
    fprintf(stderr, "prog_plugins: %u of %d loads landed where the one before was\n", same_place,
            SWAP_ROUNDS - 1);
    printf("swap: rounds=%d width_errors=%lu steady_width_errors=%lu\n", SWAP_ROUNDS,
           user_width_errors, steady_width_errors);
    printf("layout: swap main_errors=%u owner_errors=%lu steady_owner_errors=%lu\n", main_errors,
           user_owner_errors, steady_owner_errors);
    return 0;
}

/* ------------------------------------------------------------ leakclose */

static int leakclose(const char *path)
{
    plugin_t p;
    if (!load(&p, path, RTLD_NOW | RTLD_LOCAL))
        return 1;
    BSTR a = counted(p.make(L"kept a while"));
    show(&p, "kept", a);
    p.free_(a);
    p.leak();
    allocations++;
    for (int i = 0; i < 20; i++)
        p.free_(counted(p.make(L"churn")));
    printf("dlclose: %d\n", dlclose(p.handle));
    printf("count: allocations=%lu\n", allocations);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 2 ? argv[1] : "";
    if (strcmp(cmd, "local") == 0)
        return local(argv[2]);
    if (strcmp(cmd, "global") == 0)
        return global(argv[2]);
    if (strcmp(cmd, "tail") == 0)
        return tail(argv[2]);
    if (strcmp(cmd, "swap") == 0 && argc > 4)
        return swap(argv[2], argv[3], argv[4]);
    if (strcmp(cmd, "leakclose") == 0)
        return leakclose(argv[2]);
    fprintf(stderr, "usage: %s local|global|tail|leakclose PLUGIN | swap A B STEADY\n", argv[0]);
    return 2;
}
