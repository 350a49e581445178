/* A malloc-heavy workload with no BSTRs at all: what catch_free's free()
 * and realloc() wrappers cost every other pointer. `malloc_churn OPS`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long ops = argc > 1 ? atol(argv[1]) : 20000000;
    enum { SLOTS = 4096 };
    static void *slots[SLOTS];
    uint64_t x = 88172645463325252ull, sum = 0;
    for (long i = 0; i < ops; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t slot = x % SLOTS;
        size_t size = 16 + (x >> 32) % 496;
        if (i % 8 == 0 && slots[slot])
            slots[slot] = realloc(slots[slot], size);
        else {
            free(slots[slot]);
            slots[slot] = malloc(size);
        }
        if (slots[slot])
            sum += ((unsigned char *)slots[slot])[0] = (unsigned char)i;
    }
    for (size_t i = 0; i < SLOTS; i++)
        free(slots[i]);
    printf("%llu\n", (unsigned long long)sum);
    return 0;
}
