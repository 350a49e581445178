/* Case 10, a runtime with a lock of its own: one recursive pthread mutex,
 * held across the whole of SysAllocString (which calls SysAllocStringLen
 * through the PLT while holding it), SysFreeString (which asks
 * SysStringByteLen through the PLT while holding it), SysAddRefString and
 * SysReleaseString; and RtClear(BSTR *), which takes the same lock and
 * calls SysFreeString through the PLT. With the shim in between, a thread in
 * RtClear holds this lock and enters the shim, while another enters the shim
 * first and then waits for this lock inside the real SysFreeString: if the
 * shim holds a lock of its own across its call into the runtime, that is an
 * ABBA deadlock. 16-bit OLECHAR, 8-byte header (zoo_rt16.h). */
#include <pthread.h>

#include "zoo_rt16.h"

static pthread_mutex_t lock;
static unsigned long live_bytes;

__attribute__((constructor)) static void init_lock(void)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&lock, &attr);
    pthread_mutexattr_destroy(&attr);
}

BSTR SysAllocStringByteLen(const char *psz, unsigned len)
{
    pthread_mutex_lock(&lock);
    BSTR b = zoo_make(psz, len);
    if (b)
        live_bytes += len;
    pthread_mutex_unlock(&lock);
    return b;
}

BSTR SysAllocStringLen(const OLECHAR *psz, unsigned len)
{
    if (len >= 0x3FFFFFF0u)
        return NULL;
    pthread_mutex_lock(&lock);
    BSTR b = zoo_make(psz, len * 2u);
    if (b)
        live_bytes += len * 2u;
    pthread_mutex_unlock(&lock);
    return b;
}

BSTR SysAllocString(const OLECHAR *psz)
{
    if (!psz)
        return NULL;
    pthread_mutex_lock(&lock);
    BSTR b = SysAllocStringLen(psz, (unsigned)zoo_units(psz));
    pthread_mutex_unlock(&lock);
    return b;
}

unsigned SysStringByteLen(BSTR b)
{
    return b ? zoo_hdr(b)->bytes : 0;
}

unsigned SysStringLen(BSTR b)
{
    return b ? zoo_hdr(b)->bytes / 2 : 0;
}

#ifdef ZOO_REENTER
/* Case 10b: the free also journals itself, making and freeing a scratch
 * BSTR through the PLT while holding the lock (only the outermost free, or
 * it would never end). Under the shim, a free that leaves the quarantine
 * runs this: the runtime calls back into the shim from inside the shim's
 * own eviction. */
static __thread int journaling;
void SysFreeString(BSTR b);

static void journal(unsigned bytes)
{
    if (journaling)
        return;
    journaling = 1;
    OLECHAR note[2] = {(OLECHAR)('a' + bytes % 26), 0};
    BSTR scratch = SysAllocStringLen(note, 1);
    if (SysStringLen(scratch) != 1)
        abort();
    SysFreeString(scratch);
    journaling = 0;
}
#else
static void journal(unsigned bytes)
{
    (void)bytes;
}
#endif

void SysFreeString(BSTR b)
{
    if (!b)
        return;
    pthread_mutex_lock(&lock);
    unsigned bytes = SysStringByteLen(b);
    if (zoo_kill(b)) {
        live_bytes -= bytes;
        zoo_bury(zoo_hdr(b));
        journal(bytes);
    }
    pthread_mutex_unlock(&lock);
}

int SysReAllocStringLen(BSTR *pb, const OLECHAR *psz, unsigned len)
{
    if (!pb)
        return 0;
    pthread_mutex_lock(&lock);
    BSTR fresh = SysAllocStringLen(psz, len);
    if (fresh) {
        SysFreeString(*pb);
        *pb = fresh;
    }
    pthread_mutex_unlock(&lock);
    return fresh != NULL;
}

int SysReAllocString(BSTR *pb, const OLECHAR *psz)
{
    int ok = SysReAllocStringLen(pb, psz, psz ? (unsigned)zoo_units(psz) : 0);
    return ok;
}

HRESULT SysAddRefString(BSTR b)
{
    pthread_mutex_lock(&lock);
    HRESULT hr = zoo_pin(b);
    pthread_mutex_unlock(&lock);
    return hr;
}

void SysReleaseString(BSTR b)
{
    if (!b)
        return;
    pthread_mutex_lock(&lock);
    if (zoo_unpin(b))
        SysFreeString(b);
    pthread_mutex_unlock(&lock);
}

/* Not a Sys* function: frees *PB under the runtime's lock and clears it,
 * after some bookkeeping of its own (a checksum of the text, its length
 * asked through the PLT): the lock is held a while before the free. */
static volatile unsigned checksum;

void RtClear(BSTR *pb)
{
    pthread_mutex_lock(&lock);
    unsigned n = SysStringLen(*pb), sum = 0;
    for (unsigned i = 0; i < n; i++)
        sum = sum * 31 + (*pb)[i];
    checksum = sum;
    SysFreeString(*pb);
    *pb = NULL;
    pthread_mutex_unlock(&lock);
}

int ZooOwns(BSTR b)
{
    return b && zoo_hdr(b)->state == ZOO_LIVE;
}
