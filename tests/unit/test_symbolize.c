/* Symbolization: a frame of this program gets its function, file and line
 * from DWARF; the C library's start-up frames (the one that called main(),
 * the one that started a thread) are named from the symbol table without
 * reading libc's DWARF; a libc frame in the middle of a stack (qsort
 * calling back) still goes through DWARF. Names from the symbol table lose
 * their symbol version ("__libc_start_main@@GLIBC_2.34"). The program is
 * linked with a library that wraps __libc_start_main (start_wrapper.c), as
 * a preloaded tool may: libc's start-up code is still recognized. */
#include "report.h"
#include "tap.h"

#include <pthread.h>
#include <libunwind.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

static uintptr_t thread_start_ra, qsort_ra;

static void *thread_routine(void *arg)
{
    thread_start_ra = (uintptr_t)__builtin_return_address(0);
    return arg;
}

static int compare_ints(const void *a, const void *b)
{
    if (!qsort_ra)
        qsort_ra = (uintptr_t)__builtin_return_address(0);
    return *(const int *)a - *(const int *)b;
}

NOINLINE static uintptr_t own_return_address(void)
{
    return (uintptr_t)__builtin_return_address(0);
}

/* Whatever version suffix the name carries: a name that kept one must
 * reach the check that it was cut off, not be skipped. */
static bool is_start_name(const char *name)
{
    static const char *const names[] = {"__libc_start_call_main", "__libc_start_main",
                                         "__libc_start_main_impl", "start_thread",
                                         "clone", "clone3", "__clone", "__clone3"};
    size_t len = name ? strcspn(name, "@") : 0;
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && strncmp(name, names[i], len) == 0)
            return true;
    return false;
}

/* Symbolize RA and check it was named from the symbol table alone. Returns
 * whether libc's symbol table knew the start-up function by name. */
static bool check_start_frame(const char *what, uintptr_t ra)
{
    bc_symbolize_stats_t before = bc_symbolize_stats();
    bc_frame_info_t frame;
    size_t n = bc_symbolize(ra, &frame, 1);
    bc_symbolize_stats_t after = bc_symbolize_stats();
    tap_diag("%s: %s in %s", what, frame.function ? frame.function : "?", frame.module);
    if (n != 1 || !is_start_name(frame.function)) {
        tap_skip(what, "libc's symbol table does not name its start-up code here");
        tap_skip(what, "libc's symbol table does not name its start-up code here");
        tap_skip(what, "libc's symbol table does not name its start-up code here");
        return false;
    }
    tap_is_uint(after.symtab_only - before.symtab_only, 1, "%s: named from the symbol table", what);
    tap_is_uint(after.dwarf_lookups - before.dwarf_lookups, 0, "%s: libc's DWARF not read", what);
    tap_ok(frame.file == NULL && frame.line == 0 && strstr(frame.module, "libc"),
           "%s: no line, module is libc", what);
    return true;
}

int main(void)
{
    tap_plan(14);
    uintptr_t main_caller_ra = (uintptr_t)__builtin_return_address(0);
    void *stack[8];
    int depth = unw_backtrace(stack, 8); /* main, __libc_start_call_main, __libc_start_main */
    uintptr_t main_ra = own_return_address();
    pthread_t thread;
    if (pthread_create(&thread, NULL, thread_routine, NULL) == 0)
        pthread_join(thread, NULL);
    int numbers[] = {3, 1, 2};
    qsort(numbers, 3, sizeof numbers[0], compare_ints);

    /* A frame of this program: DWARF, with its line. */
    bc_symbolize_stats_t before = bc_symbolize_stats();
    bc_frame_info_t frames[BC_MAX_INLINE];
    size_t n = bc_symbolize(main_ra, frames, BC_MAX_INLINE);
    bc_symbolize_stats_t after = bc_symbolize_stats();
    tap_is_uint(after.dwarf_lookups - before.dwarf_lookups, 1, "own frame: looked up in DWARF");
    tap_ok(n >= 1 && frames[n - 1].function && strcmp(frames[n - 1].function, "main") == 0 &&
               frames[n - 1].file && strstr(frames[n - 1].file, "test_symbolize.c") &&
               frames[n - 1].line > 0,
           "own frame: main in test_symbolize.c with a line");

    bool named = check_start_frame("main's caller", main_caller_ra);
    check_start_frame("thread start", thread_start_ra);
    if (depth < 3)
        for (int i = 0; i < 3; i++)
            tap_skip("__libc_start_main", "libunwind found no frame below main's caller");
    if (depth >= 3 && check_start_frame("__libc_start_main", (uintptr_t)stack[2])) {
        bc_frame_info_t frame;
        bc_symbolize((uintptr_t)stack[2], &frame, 1);
        tap_is_str(frame.function, "__libc_start_main", "the symbol version is cut off");
    } else {
        tap_skip("the symbol version is cut off", "no such frame");
    }

    /* A libc frame in the middle of a stack still goes through DWARF. */
    before = bc_symbolize_stats();
    n = bc_symbolize(qsort_ra, frames, BC_MAX_INLINE);
    after = bc_symbolize_stats();
    tap_diag("qsort's frame: %s %s:%d", frames[n - 1].function ? frames[n - 1].function : "?",
             frames[n - 1].file ? frames[n - 1].file : "?", frames[n - 1].line);
    tap_is_uint(after.dwarf_lookups - before.dwarf_lookups, 1, "qsort's frame: looked up in DWARF");
    if (!strstr(frames[0].module, "libc"))
        tap_skip("qsort's frame: has a line", "qsort is interposed (a sanitizer?)");
    else if (named) /* libc's debug file is installed: its lines are there */
        tap_ok(frames[0].file != NULL && frames[0].line > 0, "qsort's frame: has a line");
    else
        tap_skip("qsort's frame: has a line", "no debug information for libc");
    bc_symbolize_end();
    return tap_done();
}
