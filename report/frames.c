/* Walking a finding's stacks as symbolized frames, and telling the
 * program's own frames from the runtime's: the first frame in the user's
 * code is where SARIF points and what a generated suppression names. */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const bc_role_t bc_role_display_order[BC_ROLE_COUNT] = {
    BC_ROLE_ACCESS, BC_ROLE_FREE, BC_ROLE_PREVIOUS_FREE, BC_ROLE_ALLOC,
};

unsigned bc_frames_walk(bc_stack_id_t id,
                        bool (*fn)(const bc_frame_info_t *, unsigned, void *), void *arg)
{
    bc_stack_t stack = bc_snapshot_stack(id);
    unsigned number = 0;
    for (uint32_t i = 0; i < stack.nframes; i++) {
        bc_frame_info_t frames[BC_MAX_INLINE];
        size_t n = bc_symbolize(stack.frames[i], frames, BC_MAX_INLINE);
        for (size_t k = 0; k < n; k++) {
            if (!fn(&frames[k], number, arg))
                return number + 1;
            number++;
        }
    }
    return number;
}

/* Append to BUF (CAP bytes, *LEN used), cutting at the end. */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t cap, size_t *len,
                                                         const char *fmt, ...)
{
    if (*len + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

void bc_frame_format(const bc_frame_info_t *f, unsigned number, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    append(buf, cap, &len, "#%u 0x%lx", number, (unsigned long)f->pc);
    if (f->function)
        append(buf, cap, &len, " in %s", f->function);
    if (f->file && f->line > 0)
        append(buf, cap, &len, " %s:%d", f->file, f->line);
    else if (f->file)
        append(buf, cap, &len, " %s", f->file);
    else if (f->module[0])
        append(buf, cap, &len, " (%s+0x%lx)", f->module, (unsigned long)f->offset);
}

const char *bc_path_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Modules that are the runtime, not the program: matched on the basename,
 * so a copy anywhere (a container, a sysroot) counts as well. */
static bool is_runtime_module(const char *module)
{
    static const char *const runtime[] = {
        "libc.so",    "libc-",      "ld-linux",  "ld64.so",     "libstdc++.so",
        "libgcc_s.so", "libm.so",   "libdl.so",  "libpthread.so", "libbstrcheck.so",
        "libunwind",
    };
    const char *base = bc_path_basename(module);
    for (size_t i = 0; i < BC_ARRAY_LEN(runtime); i++)
        if (has_prefix(base, runtime[i]))
            return true;
    return false;
}

bool bc_frame_is_user(const bc_frame_info_t *f)
{
    if (!f->file || !f->file[0])
        return false;
    if (has_prefix(f->file, "/usr/include/"))
        return false; /* a standard header inlined into the program */
    return !is_runtime_module(f->module);
}

typedef struct primary_search {
    bc_frame_info_t user, with_file, any;
    bool have_user, have_file, have_any;
} primary_search_t;

static bool look_at_frame(const bc_frame_info_t *f, unsigned number, void *arg)
{
    (void)number;
    primary_search_t *s = arg;
    if (!s->have_any) {
        s->any = *f;
        s->have_any = true;
    }
    if (!s->have_file && f->file && f->file[0]) {
        s->with_file = *f;
        s->have_file = true;
    }
    if (bc_frame_is_user(f)) {
        s->user = *f;
        s->have_user = true;
        return false;
    }
    return true;
}

bool bc_finding_primary_frame(const bc_finding_t *f, bc_frame_info_t *out)
{
    primary_search_t s;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < BC_ROLE_COUNT && !s.have_user; i++) {
        bc_stack_id_t id = f->stacks[bc_role_display_order[i]];
        if (id)
            bc_frames_walk(id, look_at_frame, &s);
    }
    if (s.have_user)
        *out = s.user;
    else if (s.have_file)
        *out = s.with_file;
    else if (s.have_any)
        *out = s.any;
    return s.have_any;
}

static bool fingerprint_frame(const bc_frame_info_t *f, unsigned number, void *arg)
{
    (void)number;
    return bc_fingerprint_frame(arg, f->function, f->file, f->module);
}

void bc_finding_fingerprint(const bc_finding_t *f, char out[BC_FINGERPRINT_LEN])
{
    bc_fingerprint_t fp;
    bc_fingerprint_begin(&fp, bc_kind_names[f->kind]);
    /* bc_fingerprint_roles lists the roles in bc_role_t order */
    for (int role = 0; role < BC_ROLE_COUNT; role++) {
        if (!f->stacks[role] || bc_snapshot_stack(f->stacks[role]).nframes == 0)
            continue;
        bc_fingerprint_stack(&fp, bc_fingerprint_roles[role]);
        bc_frames_walk(f->stacks[role], fingerprint_frame, &fp);
    }
    bc_fingerprint_end(&fp, out);
}
