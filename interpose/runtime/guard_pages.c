/* Page-heap mode (guard_pages=1), as Windows' PageHeap or Electric Fence:
 * every BSTR gets its own mapping and ends flush against an inaccessible
 * page, so a read or write past the end faults at the exact instruction.
 * The data keeps pointer alignment, so up to 7 canary bytes may sit
 * between the terminator and the guard page; those are checked at free.
 * A freed BSTR's pages are made inaccessible while it is quarantined and
 * unmapped when it leaves. fault.c turns the faults into findings. */
#include "runtime.h"

#include <sys/mman.h>
#include <unistd.h>

static size_t page_size;

void bc_guard_init(void)
{
    page_size = (size_t)sysconf(_SC_PAGESIZE);
}

size_t bc_guard_data_room(uint32_t bytes)
{
    size_t align = sizeof(void *);
    return (bc_own_data_end(bytes) + align - 1) / align * align;
}

/* Pages of the accessible part (header + data room). */
static size_t body_pages(uint32_t bytes)
{
    return (BC_OWN_HEADER_SIZE + bc_guard_data_room(bytes) + page_size - 1) / page_size;
}

static char *mapping_of(bc_bstr_t bstr)
{
    return (char *)(((uintptr_t)bstr - BC_OWN_HEADER_SIZE) & ~(uintptr_t)(page_size - 1));
}

size_t bc_guard_footprint(uint32_t bytes)
{
    return (body_pages(bytes) + 1) * page_size;
}

bc_bstr_t bc_guard_alloc(uint32_t bytes)
{
    size_t pages = body_pages(bytes);
    char *map = mmap(NULL, (pages + 1) * page_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    if (mprotect(map + pages * page_size, page_size, PROT_NONE) != 0) {
        munmap(map, (pages + 1) * page_size);
        return NULL;
    }
    return map + pages * page_size - bc_guard_data_room(bytes);
}

void bc_guard_release(bc_bstr_t bstr, uint32_t bytes)
{
    munmap(mapping_of(bstr), (body_pages(bytes) + 1) * page_size);
}

void bc_guard_protect(bc_bstr_t bstr, uint32_t bytes)
{
    mprotect(mapping_of(bstr), body_pages(bytes) * page_size, PROT_NONE);
}

void bc_guard_span(bc_bstr_t bstr, uint32_t bytes, uintptr_t *lo, uintptr_t *hi)
{
    char *map = mapping_of(bstr);
    *lo = (uintptr_t)map;
    *hi = (uintptr_t)map + (body_pages(bytes) + 1) * page_size;
}
