/* unwind=fp against code without a usable frame-pointer chain: SysAllocString
 * is called with %rbp holding garbage, as code built without frame pointers
 * may leave it. The walk must stop cleanly at the first bad frame, keeping
 * the frames before it, and never fault. x86-64 only (the test skips
 * elsewhere). `fp_garbage unmapped|stack|code` picks the garbage. */
#include "oleauto.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const OLECHAR text[] = {'f', 'p', 0};

#if defined(__x86_64__)
__attribute__((noinline)) static BSTR alloc_with_rbp(uintptr_t fake_rbp)
{
    BSTR result;
    uintptr_t fake = fake_rbp;
    /* %rbx keeps %rsp while it is aligned to 16 for the call; the file is
     * built with -mno-red-zone, so nothing lives below %rsp. */
    __asm__ volatile("push %%rbp\n\t"
                     "push %%rbx\n\t"
                     "mov %%rsp, %%rbx\n\t"
                     "and $-16, %%rsp\n\t"
                     "mov %%rsi, %%rbp\n\t"
                     "call SysAllocString@PLT\n\t"
                     "mov %%rbx, %%rsp\n\t"
                     "pop %%rbx\n\t"
                     "pop %%rbp\n\t"
                     : "=a"(result), "+S"(fake)
                     : "D"(text)
                     : "rcx", "rdx", "r8", "r9", "r10", "r11", "memory", "cc");
    return result;
}

int main(int argc, char **argv)
{
    const char *kind = argc > 1 ? argv[1] : "unmapped";
    uintptr_t frame[4];
    uintptr_t fake = 0xdeadbeef000;
    if (strcmp(kind, "stack") == 0) {
        /* a stack address whose "next frame" points down the stack */
        frame[0] = (uintptr_t)&frame[0] - 64;
        frame[1] = (uintptr_t)main + 1;
        fake = (uintptr_t)frame;
    } else if (strcmp(kind, "code") == 0) {
        /* a plausible chain whose return address is not code */
        frame[0] = (uintptr_t)&frame[2];
        frame[1] = 0x1234;
        fake = (uintptr_t)frame;
    }
    BSTR b = alloc_with_rbp(fake);
    printf("len=%u\n", SysStringLen(b)); /* b leaks: its stack is in the report */
    return 0;
}
#else
int main(void)
{
    puts("skip: x86-64 only");
    return 77;
}
#endif
