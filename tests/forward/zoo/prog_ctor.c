/* Case 11's program, linked against the C++ runtime that uses itself in
 * its constructors and destructors (rt_ctor.cpp). It reads the BSTRs the
 * runtime made while loading, uses the runtime in an atexit handler and in
 * its own ELF destructor, and prints its last words from that destructor
 * without a newline: with stdout a pipe they sit in the stdio buffer until
 * exit() flushes it, after every destructor. With "leak", one planted
 * leak, so that the shim has to change the exit status too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zoo_prog.h"

typedef uint16_t OLECHAR;
typedef OLECHAR *BSTR;

BSTR SysAllocString(const OLECHAR *);
void SysFreeString(BSTR);
unsigned SysStringLen(BSTR);
BSTR RtConstructorString(void);
BSTR RtStaticString(void);

static void show(const char *what, BSTR b)
{
    unsigned len = SysStringLen(b);
    printf("%s: len=%u text=", what, len);
    zoo_print_text(b, len, 2);
    printf("\n");
}

NOINLINE static void leak_in_main(void)
{
    zoo_sink = (uintptr_t)SysAllocString(u"leaked in main");
}

static void at_exit(void)
{
    BSTR b = SysAllocString(u"atexit");
    printf("atexit: len=%u\n", SysStringLen(b));
    SysFreeString(b);
}

__attribute__((destructor)) static void last_words(void)
{
    BSTR b = SysAllocString(u"last words");
    printf("last words: len=%u ", SysStringLen(b));
    SysFreeString(b);
}

int main(int argc, char **argv)
{
    atexit(at_exit);
    show("constructor", RtConstructorString());
    show("static", RtStaticString());
    for (int i = 0; i < 10; i++) {
        BSTR b = SysAllocString(u"in main");
        if (SysStringLen(b) != 7)
            printf("wrong length\n");
        SysFreeString(b);
    }
    if (argc > 1 && strcmp(argv[1], "leak") == 0)
        leak_in_main();
    printf("main: done\n");
    return 0;
}
