/* Case 12, a library (not a runtime) that uses the process's runtime
 * through its PLT. Built twice:
 *   libzoo_ctorlib.so    its ELF constructor makes a BSTR, so its first
 *                        Sys* call happens inside dlopen(), with the
 *                        dynamic linker's lock held; the program takes that
 *                        BSTR and frees it
 *   libzoo_callerlib.so  (-DZOO_NO_CONSTRUCTOR) no constructor: the other
 *                        thread calls ctorlib_churn() right after loading
 *                        it, so each round its first calls come from a
 *                        module the shim has not seen yet */
#include <stdint.h>
#include <stddef.h>

typedef uint16_t OLECHAR;
typedef OLECHAR *BSTR;

BSTR SysAllocString(const OLECHAR *);
void SysFreeString(BSTR);
unsigned SysStringLen(BSTR);

static BSTR made;
static unsigned made_len;

#ifndef ZOO_NO_CONSTRUCTOR
__attribute__((constructor)) static void make_while_loading(void)
{
    made = SysAllocString(u"made while being loaded");
    made_len = SysStringLen(made);
}
#endif

BSTR ctorlib_take(void)
{
    BSTR b = made;
    made = NULL;
    return b;
}

unsigned ctorlib_len(void)
{
    return made_len;
}

/* N BSTRs made and freed; the number that read back wrong. */
unsigned ctorlib_churn(int n)
{
    unsigned errors = 0;
    for (int i = 0; i < n; i++) {
        BSTR b = SysAllocString(u"churned");
        errors += SysStringLen(b) != 7;
        SysFreeString(b);
    }
    return errors;
}
