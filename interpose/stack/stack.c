/* Stack capture. Only raw return addresses are taken while the program runs
 * (symbols are resolved once, at report time). Two walkers:
 *   unwind=libunwind  unw_backtrace with its per-thread cache of unwind
 *                     info: works on any code;
 *   unwind=fp         the frame-pointer chain, validated frame by frame
 *                     (inside this thread's stack, strictly upwards, return
 *                     addresses in executable segments): several times
 *                     faster, and stops cleanly where code has no frame
 *                     pointers.
 * The shim's own frames, and libunwind's, are cut so a stack starts at the
 * program's frame that called the Sys* function.
 *
 * libunwind is not linked: a process that never makes a BSTR must not pay
 * for mapping it (and liblzma), nor for the pipe it opens. It is loaded by
 * bc_stack_init, at the first Sys* call, before any shim lock is taken;
 * a capture never loads anything itself (it may run under a lock, in a
 * signal handler, or inside free()). */
#include "stack.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct address_range {
    uintptr_t lo, hi;
} address_range_t;

static address_range_t self_range;     /* the shim's own module */
static address_range_t unwinder_range; /* libunwind */

static void module_range_of(const void *addr, address_range_t *out)
{
    bc_module_t m;
    if (bc_platform_module_of((uintptr_t)addr, &m)) {
        out->lo = m.lo;
        out->hi = m.hi;
    }
}

static bool in_range(const address_range_t *r, uintptr_t pc)
{
    return pc >= r->lo && pc < r->hi;
}

static void refresh_exec_ranges(void);

/* What the shim uses of libunwind. The header makes most names macros for
 * the exported ones (with UNW_LOCAL_ONLY, unw_set_caching_policy is
 * _ULx86_64_set_caching_policy): each is looked up as its expansion. Each
 * field points at the object: a function, or unw_local_addr_space. */
#define UNWIND_SYMBOLS(X)      \
    X(unw_backtrace)           \
    X(unw_set_caching_policy)  \
    X(unw_local_addr_space)

#define EXPORTED_NAME(name) STRINGIFY(name)
#define STRINGIFY(name) #name

typedef struct unwind_fns {
#define FIELD(name) __typeof__(name) *name;
    UNWIND_SYMBOLS(FIELD)
#undef FIELD
} unwind_fns_t;

/* Written once, under the arm gate, before unwind_ready is set. */
static unwind_fns_t unwind;
/* Set once libunwind is loaded and set up; read by every capture. */
static bool unwind_ready;

static int warned_no_libunwind;

/* dlopen and dlsym: no shim lock held (another thread may be inside
 * dlopen, with the dynamic linker's lock, and call Sys* from a
 * constructor). Threads that arm at once each get the same answers. */
static bool load_libunwind(unwind_fns_t *out, char *why, size_t why_size)
{
    void *lib = bc_platform_library_open(BC_LIBUNWIND_SONAME, why, why_size);
    if (!lib)
        return false;
    void *sym;
#define RESOLVE(name)                                                        \
    if (!(sym = bc_platform_library_symbol(lib, EXPORTED_NAME(name)))) {     \
        snprintf(why, why_size, "%s has no %s", BC_LIBUNWIND_SONAME,         \
                 EXPORTED_NAME(name));                                       \
        return false; /* (kept loaded: unloading may run its destructors) */ \
    }                                                                        \
    memcpy(&out->name, &sym, sizeof sym);
    UNWIND_SYMBOLS(RESOLVE)
#undef RESOLVE
    return true;
}

/* libunwind's first use opens a pipe it keeps (to validate addresses), and
 * opens it again when it finds it closed. Its pipe2 slot is pointed here,
 * so that the pipe never takes the lowest free numbers, which the program
 * expects to get: moved above them, close-on-exec. Other threads may open
 * files meanwhile, so the numbers are moved after the fact, never held. */
#define UNWIND_FD_FLOOR 64
static int (*real_pipe2)(int[2], int);
static bool pipe_redirected;

static int unwind_pipe2(int fds[2], int flags)
{
    int rc = __atomic_load_n(&real_pipe2, __ATOMIC_ACQUIRE)(fds, flags);
    if (rc != 0)
        return rc;
    int saved = errno;
    for (int i = 0; i < 2; i++) {
        int high = fcntl(fds[i], F_DUPFD_CLOEXEC, UNWIND_FD_FLOOR);
        if (high >= 0) {
            close(fds[i]);
            fds[i] = high;
        }
    }
    errno = saved;
    return 0;
}

/* Before libunwind's first use: its calls to pipe2 come to unwind_pipe2. */
static void redirect_pipe(const void *in_libunwind)
{
    bc_module_t m;
    void *next = bc_platform_global_symbol("pipe2");
    if (!next || !bc_platform_module_of((uintptr_t)in_libunwind, &m))
        return;
    int (*next_fn)(int[2], int);
    memcpy(&next_fn, &next, sizeof next);
    __atomic_store_n(&real_pipe2, next_fn, __ATOMIC_RELEASE); /* (the same for every thread) */
    static const char *const names[] = {"pipe2"};
    void *to[] = {(void *)(uintptr_t)unwind_pipe2};
    void *from[] = {next};
    bc_patch_t patch = {.names = names, .to = to, .from = from, .n = 1};
    if (bc_platform_patch_calls(&m, &patch) > 0)
        __atomic_store_n(&pipe_redirected, true, __ATOMIC_RELEASE);
}

static void start_libunwind(void)
{
    unwind.unw_set_caching_policy(*unwind.unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

void bc_stack_init(void)
{
    address_range_t self = {0, 0}, unwinder = {0, 0};
    module_range_of((const void *)(uintptr_t)&bc_stack_init, &self);
    if (bc_opt.unwind == BC_UNWIND_LIBUNWIND && !bc_stack_libunwind_loaded()) {
        char why[256];
        unwind_fns_t found;
        if (load_libunwind(&found, why, sizeof why)) {
            module_range_of((const void *)(uintptr_t)found.unw_backtrace, &unwinder);
            redirect_pipe((const void *)(uintptr_t)found.unw_backtrace);
            /* libunwind's set-up takes its own lock: a fork meanwhile
             * would leave the child unable to arm (fork.c) */
            bc_arm_gate_lock();
            if (!__atomic_load_n(&unwind_ready, __ATOMIC_ACQUIRE)) {
                unwind = found;
                self_range = self;
                unwinder_range = unwinder;
                if (__atomic_load_n(&pipe_redirected, __ATOMIC_ACQUIRE))
                    start_libunwind();
                else /* (a libunwind that imports no pipe2: the slower way) */
                    bc_platform_with_high_fds(start_libunwind);
                __atomic_store_n(&unwind_ready, true, __ATOMIC_RELEASE);
            }
            bc_arm_gate_unlock();
        } else {
            if (!__atomic_exchange_n(&warned_no_libunwind, 1, __ATOMIC_RELAXED))
                bc_warn("cannot use libunwind (%s): stacks come from the frame-pointer "
                        "walker (unwind=fp), and end at code built without frame pointers",
                        why);
            bc_opt.unwind = BC_UNWIND_FP;
        }
    }
    if (!self_range.hi) {
        bc_arm_gate_lock();
        self_range = self;
        bc_arm_gate_unlock();
    }
    if (bc_opt.unwind == BC_UNWIND_FP)
        refresh_exec_ranges();
}

bool bc_stack_libunwind_loaded(void)
{
    return __atomic_load_n(&unwind_ready, __ATOMIC_ACQUIRE);
}

/* ---- the frame-pointer walker ---- */

#define MAX_EXEC_RANGES 512

/* Executable segments of every loaded module, sorted, as an immutable
 * snapshot that readers load without a lock. A return address outside all
 * of them rebuilds it when modules were added or removed since
 * (dl_iterate_phdr's counters say so); old snapshots are never freed, since
 * a reader may still hold one, and rebuilds are rare. */
typedef struct exec_snapshot {
    int count;
    unsigned long long generation;
    address_range_t ranges[MAX_EXEC_RANGES];
} exec_snapshot_t;

static exec_snapshot_t *exec_now;
static pthread_mutex_t exec_lock BC_FORK_STATE = PTHREAD_MUTEX_INITIALIZER;

static bool collect_exec(uintptr_t lo, uintptr_t hi, void *arg)
{
    exec_snapshot_t *snap = arg;
    if (snap->count < MAX_EXEC_RANGES)
        snap->ranges[snap->count++] = (address_range_t){lo, hi};
    return true;
}

static int by_start(const void *a, const void *b)
{
    const address_range_t *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

BC_NOINLINE static void refresh_exec_ranges(void)
{
    pthread_mutex_lock(&exec_lock);
    exec_snapshot_t *old = __atomic_load_n(&exec_now, __ATOMIC_ACQUIRE);
    exec_snapshot_t *snap = mmap(NULL, sizeof *snap, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (snap != MAP_FAILED) {
        snap->generation = bc_platform_segments(BC_SEGMENTS_CODE, collect_exec, snap);
        if (!old || snap->generation != old->generation) {
            qsort(snap->ranges, (size_t)snap->count, sizeof snap->ranges[0], by_start);
            __atomic_store_n(&exec_now, snap, __ATOMIC_RELEASE);
        } else {
            munmap(snap, sizeof *snap); /* nothing changed */
        }
    }
    pthread_mutex_unlock(&exec_lock);
}

void bc_stack_lock(void)
{
    pthread_mutex_lock(&exec_lock);
}

void bc_stack_unlock(void)
{
    pthread_mutex_unlock(&exec_lock);
}

void bc_stack_child_after_fork(void)
{
    exec_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
}

/* The executable range holding PC in SNAP, or NULL. */
static const address_range_t *find_exec(const exec_snapshot_t *snap, uintptr_t pc)
{
    int lo = 0, hi = snap ? snap->count - 1 : -1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (pc < snap->ranges[mid].lo)
            hi = mid - 1;
        else if (pc >= snap->ranges[mid].hi)
            lo = mid + 1;
        else
            return &snap->ranges[mid];
    }
    return NULL;
}

/* This thread's last two hits (a walk alternates between a program and
 * its libraries), and its stack's bounds. */
static __thread address_range_t last_exec[2] BC_TLS;
static __thread address_range_t thread_stack BC_TLS;

static bool is_code(uintptr_t pc)
{
    if (pc >= last_exec[0].lo && pc < last_exec[0].hi)
        return true;
    if (pc >= last_exec[1].lo && pc < last_exec[1].hi)
        return true;
    const address_range_t *r = find_exec(__atomic_load_n(&exec_now, __ATOMIC_ACQUIRE), pc);
    if (!r) {
        refresh_exec_ranges(); /* a module loaded since? */
        r = find_exec(__atomic_load_n(&exec_now, __ATOMIC_ACQUIRE), pc);
    }
    if (!r)
        return false;
    last_exec[1] = last_exec[0];
    last_exec[0] = *r;
    return true;
}

BC_NOINLINE static void find_thread_stack(void)
{
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &addr, &size) == 0)
            thread_stack = (address_range_t){(uintptr_t)addr, (uintptr_t)addr + size};
        pthread_attr_destroy(&attr);
    }
    if (!thread_stack.hi) /* unknown: allow nothing but this frame's page */
        thread_stack = (address_range_t){(uintptr_t)__builtin_frame_address(0),
                                         (uintptr_t)__builtin_frame_address(0) + 4096};
}

/* Can a frame record (two words) lie at A on this thread's stack? */
static bool on_thread_stack(uintptr_t a)
{
    return a >= thread_stack.lo && a <= thread_stack.hi - 2 * sizeof(uintptr_t) &&
           !(a & (sizeof(uintptr_t) - 1));
}

/* Walk the frame-pointer chain from frame FP (this function's own when 0).
 * With WORDS, also note every stack word read: the walk is a function of
 * those words and FP, so the same words at the same addresses walk to the
 * same frames (stack_cache.c). */
BC_RAW_STACK_READ static uint32_t walk_frame_pointers(uintptr_t fp, uintptr_t *out,
                                                      uint32_t max, bc_stack_words_t *words)
{
    if (BC_UNLIKELY(!thread_stack.hi))
        find_thread_stack();
    if (!fp)
        fp = (uintptr_t)__builtin_frame_address(0);
    uint32_t n = 0;
    while (n < max) {
        if (!on_thread_stack(fp))
            break;
        const uintptr_t *frame = (const uintptr_t *)fp;
        uintptr_t next = frame[0], ra = frame[1];
        if (words) {
            bc_stack_words_note(words, fp, next);
            bc_stack_words_note(words, fp + sizeof(uintptr_t), ra);
        }
        if (!is_code(ra))
            break;
        out[n++] = ra;
        if (next <= fp) /* callers' frames lie above: anything else is no chain */
            break;
        fp = next;
    }
    return n;
}

/* ---- libunwind walks ---- */

/* libunwind's caches keep a mutex of their own (its global cache: Debian
 * builds it without the per-thread one, and asking for that gives the
 * global one), which a fork in the middle of another thread's walk would
 * leave locked in the child: the child's first walk would wait forever. So
 * a walk is work a fork waits for (base/state.h). */
static int unwind_backtrace(void **raw, int max)
{
    bc_fork_unsafe_begin();
    int n = unwind.unw_backtrace(raw, max);
    bc_fork_unsafe_end();
    return n;
}

/* ---- the common entry ---- */

uint32_t bc_stack_capture(uintptr_t *frames, uint32_t max)
{
    enum { SHIM_FRAMES_SLACK = 12 };
    void *raw[BC_MAX_FRAMES + SHIM_FRAMES_SLACK];
    if (max > BC_MAX_FRAMES)
        max = BC_MAX_FRAMES;
    int n;
    if (bc_opt.unwind == BC_UNWIND_FP && bc_depth == 1 && bc_entry_frame)
        return walk_frame_pointers(bc_entry_frame, frames, max, NULL); /* starts at the caller */
    if (bc_opt.unwind == BC_UNWIND_FP)
        n = (int)walk_frame_pointers(0, (uintptr_t *)raw, max + SHIM_FRAMES_SLACK, NULL);
    else if (BC_LIKELY(__atomic_load_n(&unwind_ready, __ATOMIC_ACQUIRE)))
        n = unwind_backtrace(raw, (int)(max + SHIM_FRAMES_SLACK));
    else /* not armed (a capture before any Sys* call): nothing is loaded from here */
        n = (int)walk_frame_pointers(0, (uintptr_t *)raw, max + SHIM_FRAMES_SLACK, NULL);
    int first = 0;
    while (first < n && (in_range(&self_range, (uintptr_t)raw[first]) ||
                         in_range(&unwinder_range, (uintptr_t)raw[first])))
        first++;
    uint32_t count = 0;
    for (int i = first; i < n && count < max; i++)
        frames[count++] = (uintptr_t)raw[i];
    return count;
}

/* Where a libunwind walk's words are looked for again: above FLOOR, and on
 * the frame-pointer chain as far as it matches the walk (RECORD, the last
 * frame record used, 0 when the chain broke; NEXT, its saved frame
 * pointer). */
typedef struct slot_search {
    uintptr_t floor; /* the next slot lies at or above */
    uintptr_t record, next;
} slot_search_t;

enum { SCAN_LIMIT = 16384 };

/* The stack word holding return address RA: the frame record the chain
 * reaches when it holds RA, else the first word at or above the floor that
 * holds RA, searched for at most SCAN_LIMIT bytes (*SEARCHED is then set).
 * A record's saved frame pointer is a word the walk may have read: noted
 * when the chain goes on through it, or when it leaves the chain pointing
 * into the stack (code without frame pointers passes it on, untouched, to
 * frames that use it); any other value is a variable of a caller without
 * frame pointers, which the walk never read. */
BC_RAW_STACK_READ static uintptr_t find_slot(uintptr_t ra, slot_search_t *s,
                                             bc_stack_words_t *words, bool *searched)
{
    const uintptr_t w = sizeof(uintptr_t);
    uintptr_t r = s->next;
    *searched = false;
    if (s->record && r >= s->floor && on_thread_stack(r) && ((const uintptr_t *)r)[1] == ra) {
        bc_stack_words_note(words, s->record, r);
        s->record = r;
        s->next = ((const uintptr_t *)r)[0];
        return r + w;
    }
    if (s->record && on_thread_stack(r))
        bc_stack_words_note(words, s->record, r);
    s->record = 0;
    *searched = true;
    uintptr_t end = s->floor + SCAN_LIMIT < thread_stack.hi ? s->floor + SCAN_LIMIT
                                                             : thread_stack.hi;
    for (uintptr_t a = s->floor; a + w <= end; a += w)
        if (*(const uintptr_t *)a == ra)
            return a;
    return 0;
}

/* A search may find a stale copy of RA, left below its slot in a buffer by
 * an earlier call. The word found at SLOT is taken for the slot only when
 * RA does not occur again before END (the next frame's slot): else the real
 * slot may be the later one, and the stack is not cached. */
BC_RAW_STACK_READ static bool alone_up_to(uintptr_t ra, uintptr_t slot, uintptr_t end)
{
    const uintptr_t w = sizeof(uintptr_t);
    for (uintptr_t a = slot + w; a + w <= end; a += w)
        if (*(const uintptr_t *)a == ra)
            return false;
    return true;
}

BC_RAW_STACK_READ bool bc_stack_capture_at_entry(uintptr_t *frames, uint32_t max,
                                                 uint32_t *nframes, bc_stack_words_t *words)
{
    if (BC_UNLIKELY(!thread_stack.hi))
        find_thread_stack();
    words->count = 0;
    if (!on_thread_stack(bc_entry_frame)) {
        /* another stack (a signal stack, a coroutine's): no cache */
        *nframes = bc_stack_capture(frames, max);
        return false;
    }
    if (bc_opt.unwind == BC_UNWIND_FP) {
        *nframes = walk_frame_pointers(bc_entry_frame, frames, max, words);
        return words->count <= words->cap;
    }
    /* libunwind walks, one frame further than kept when it can (that frame's
     * slot bounds the last kept one's); the words it read are then found
     * again: each return address's slot, above the previous one, starting
     * with the entry point's own frame record. */
    uint32_t walked = bc_stack_capture(frames, max < BC_MAX_FRAMES ? max + 1 : max);
    *nframes = walked < max ? walked : max;
    const uintptr_t w = sizeof(uintptr_t);
    const uintptr_t *entry = (const uintptr_t *)bc_entry_frame;
    if (walked == 0 || entry[1] != frames[0])
        return false;
    bc_stack_words_note(words, bc_entry_frame + w, entry[1]);
    slot_search_t s = {bc_entry_frame + 2 * w, bc_entry_frame, entry[0]};
    uintptr_t prev_slot = bc_entry_frame + w;
    bool prev_searched = false;
    for (uint32_t k = 1; k < walked; k++) {
        bool searched;
        uintptr_t slot = find_slot(frames[k], &s, words, &searched);
        if (!slot || (prev_searched && !alone_up_to(frames[k - 1], prev_slot, slot)))
            return false;
        if (k < *nframes)
            bc_stack_words_note(words, slot, frames[k]);
        s.floor = slot + w;
        prev_slot = slot;
        prev_searched = searched;
    }
    uintptr_t top = prev_slot + SCAN_LIMIT < thread_stack.hi ? prev_slot + SCAN_LIMIT
                                                              : thread_stack.hi;
    if (prev_searched && !alone_up_to(frames[walked - 1], prev_slot, top))
        return false;
    return words->count <= words->cap;
}

uintptr_t bc_stack_code_version(void)
{
    return (uintptr_t)__atomic_load_n(&exec_now, __ATOMIC_ACQUIRE);
}
