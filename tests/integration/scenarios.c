/* Scenario programs for the integration suite: `scenarios NAME` runs one
 * scenario; run.py checks its JSON report and exit status. Each call site
 * that a test looks for in a stack lives in its own noinline function. */
#include "oleauto.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

static NOINLINE BSTR alloc_site_a(void) { return SysAllocString(OLESTR("alpha")); }
static NOINLINE BSTR alloc_site_b(void) { return SysAllocStringLen(OLESTR("bravo-bravo"), 11); }
static NOINLINE BSTR alloc_site_c(void) { return SysAllocStringByteLen("c", 1); }
static NOINLINE void first_free_site(BSTR b) { SysFreeString(b); }
static NOINLINE void second_free_site(BSTR b) { SysFreeString(b); }
static NOINLINE void bogus_free_site(void *p) { SysFreeString((BSTR)p); }

static int clean(void)
{
    BSTR a = alloc_site_a();
    BSTR b = SysAllocStringLen(NULL, 100);
    SysReAllocString(&b, OLESTR("replaced"));
    SysReAllocStringLen(&b, b, 3);
    if (SysStringLen(a) != 5 || SysStringLen(b) != 3)
        return 1;
    SysFreeString(a);
    SysFreeString(b);
    SysFreeString(NULL);
    return 0;
}

/* 3 leaks from site a, 2 from b, 1 from c: three groups. */
static int leak_groups(void)
{
    for (int i = 0; i < 3; i++)
        alloc_site_a();
    for (int i = 0; i < 2; i++)
        alloc_site_b();
    alloc_site_c();
    BSTR freed = alloc_site_a(); /* not a leak */
    SysFreeString(freed);
    return 0;
}

static int double_free(void)
{
    BSTR b = alloc_site_a();
    first_free_site(b);
    second_free_site(b);
    puts("still running after the double free");
    return 0;
}

static int invalid_free(void)
{
    OLECHAR not_a_bstr[8] = {'x', 0};
    bogus_free_site(not_a_bstr + 2);
    puts("still running after the invalid free");
    return 0;
}

/* Producers allocate, a different thread frees: the table must follow
 * BSTRs across threads. */
enum { THREADS = 4, PER_THREAD = 5000 };
static BSTR handoff[THREADS][PER_THREAD];

static void *producer(void *arg)
{
    BSTR *slots = arg;
    for (int i = 0; i < PER_THREAD; i++)
        slots[i] = SysAllocStringLen(OLESTR("threaded"), (UINT)(i % 8));
    return NULL;
}

static void *consumer(void *arg)
{
    BSTR *slots = arg;
    for (int i = 0; i < PER_THREAD; i++)
        SysFreeString(slots[i]);
    return NULL;
}

static int threads(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, producer, handoff[i]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    /* thread i frees what thread i+1 allocated */
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, consumer, handoff[(i + 1) % THREADS]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("allocations=%d\n", THREADS * PER_THREAD);
    return 0;
}

/* Leaks and a non-zero status of the program's own. */
static int leak_and_exit_5(void)
{
    alloc_site_a();
    return 5;
}

/* A string with characters that need escaping and converting. */
static int leak_sample(void)
{
    static const OLECHAR text[] = {'q', '"', '\\', '\n', 0xE9, 0x4E2D, 0, 'z'};
    SysAllocStringLen(text, 8);
    return 0;
}

/* An error and three leak groups: for suppressions by kind, max_findings
 * and SARIF. */
static int mixed(void)
{
    double_free();
    return leak_groups();
}

/* Is a module whose path contains NAME still mapped? */
static int module_mapped(struct dl_phdr_info *info, size_t size, void *name)
{
    (void)size;
    return info->dlpi_name && strstr(info->dlpi_name, name) != NULL;
}

/* A plugin (BC_PLUGIN) leaks a BSTR and is unloaded before exit. Prints
 * dlclose's result, whether errno survived and whether the plugin is gone. */
static int dlclose_leak(void)
{
    const char *path = getenv("BC_PLUGIN");
    void *handle = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (!handle) {
        fprintf(stderr, "dlopen %s: %s\n", path ? path : "(BC_PLUGIN unset)", dlerror());
        return 1;
    }
    void *sym = dlsym(handle, "plugin_leak");
    int (*plugin_leak)(void);
    memcpy(&plugin_leak, &sym, sizeof plugin_leak);
    if (!plugin_leak || !plugin_leak())
        return 1;
    errno = EDOM;
    int rc = dlclose(handle);
    int errno_kept = errno == EDOM;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    printf("dlclose=%d errno_kept=%d unloaded=%d\n", rc, errno_kept,
           !dl_iterate_phdr(module_mapped, (void *)base));
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(void);
    } scenarios[] = {
        {"clean", clean},
        {"leak_groups", leak_groups},
        {"double_free", double_free},
        {"invalid_free", invalid_free},
        {"threads", threads},
        {"leak_and_exit_5", leak_and_exit_5},
        {"leak_sample", leak_sample},
        {"mixed", mixed},
        {"dlclose_leak", dlclose_leak},
    };
    for (size_t i = 0; argc > 1 && i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(argv[1], scenarios[i].name) == 0)
            return scenarios[i].run();
    fprintf(stderr, "usage: scenarios NAME\n");
    return 2;
}
