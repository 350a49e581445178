/* Finding fingerprints, for baselines (the launcher's --baseline) and
 * SARIF's partialFingerprints: a hash of the kind and the names of the
 * first BC_FINGERPRINT_FRAMES frames of each of the finding's stacks, in a
 * fixed role order. A frame counts by its function's name (demangled, as
 * the reports print it); without one, by its source file's basename;
 * without either, by its module's basename. Never an address, an offset or
 * a line: a rebuild, another load address or an edit elsewhere in the file
 * keeps the fingerprint, a change of the functions involved changes it.
 *
 * This file is compiled into the shim and into the launcher, which
 * computes the same fingerprint from a JSON report's frames. */
#include "output.h"

#include <stdio.h>
#include <string.h>

const char *const bc_fingerprint_roles[] = {"alloc", "free", "previous_free", "access", NULL};

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static void mix(bc_fingerprint_t *fp, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        fp->hash ^= (unsigned char)s[i];
        fp->hash *= FNV_PRIME;
    }
    /* a separator no name contains */
    fp->hash ^= 0xFF;
    fp->hash *= FNV_PRIME;
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void bc_fingerprint_begin(bc_fingerprint_t *fp, const char *kind)
{
    fp->hash = FNV_OFFSET;
    fp->role = NULL;
    fp->frames = 0;
    mix(fp, "bstrcheck-fingerprint-1", sizeof "bstrcheck-fingerprint-1" - 1);
    mix(fp, kind, strlen(kind));
}

void bc_fingerprint_stack(bc_fingerprint_t *fp, const char *role)
{
    fp->role = role;
    fp->frames = 0;
    mix(fp, role, strlen(role));
}

bool bc_fingerprint_frame(bc_fingerprint_t *fp, const char *function, const char *file,
                          const char *module)
{
    if (fp->frames >= BC_FINGERPRINT_FRAMES)
        return false;
    fp->frames++;
    if (function && *function) {
        mix(fp, "f", 1);
        mix(fp, function, strlen(function));
    } else if (file && *file) {
        const char *base = basename_of(file);
        mix(fp, "s", 1);
        mix(fp, base, strlen(base));
    } else if (module && *module) {
        const char *base = basename_of(module);
        mix(fp, "m", 1);
        mix(fp, base, strlen(base));
    } else {
        mix(fp, "?", 1);
    }
    return fp->frames < BC_FINGERPRINT_FRAMES;
}

void bc_fingerprint_end(const bc_fingerprint_t *fp, char out[BC_FINGERPRINT_LEN])
{
    snprintf(out, BC_FINGERPRINT_LEN, "%016llx", (unsigned long long)fp->hash);
}
