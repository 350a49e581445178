// Ownership-verdict scenarios: `verdicts NAME` runs one; run.py checks the
// rule each finding gets in the text, JSON and SARIF reports. The first
// group breaks one ownership rule in the exact shape a verdict needs; the
// second is built so that no verdict may be given (threads, recursion,
// inlining, a callee without debug information, a temporary leaked next to
// a returned BSTR, a member, ...). Built with -O0 -g: every call keeps its
// own frame.
#include "oleauto.h"

#include <pthread.h>
#include <cstdio>
#include <cstring>

#define NOINLINE __attribute__((noinline))

extern "C" void nodebug_free_in(BSTR message); // nodebug.c, built without -g

// ------------------------------------------------ verdict expected

// rule 1: a callee frees its [in] BSTR, the caller frees it again
NOINLINE static void LogMessage(BSTR message)
{
    std::printf("log: %u\n", SysStringLen(message));
    SysFreeString(message); // the bug
}

static int in_param_double_free()
{
    BSTR text = SysAllocString(u"started");
    LogMessage(text);
    SysFreeString(text);
    return 0;
}

// rule 1: ... the caller uses it after the call
NOINLINE static void Consume(BSTR value)
{
    SysFreeString(value); // the bug
}

static int in_param_use_after_free()
{
    BSTR text = SysAllocString(u"value");
    Consume(text);
    std::printf("%u\n", SysStringLen(text));
    return 0;
}

// rule 3: a callee frees the BSTR it returns through [out]; the caller frees it
struct Source {
    NOINLINE int GetTitle(BSTR *out)
    {
        *out = SysAllocString(u"Dr.");
        SysFreeString(*out); // the bug
        return 0;
    }
};

static int returned_then_freed()
{
    Source source;
    BSTR title = nullptr;
    source.GetTitle(&title);
    SysFreeString(title);
    return 0;
}

// rule 3: a function returns a BSTR it freed; the caller reads its length
NOINLINE static BSTR MakeLabel()
{
    BSTR label = SysAllocString(u"label");
    SysFreeString(label); // the bug
    return label;
}

static int returned_then_used()
{
    BSTR label = MakeLabel();
    std::printf("%u\n", SysStringLen(label));
    return 0;
}

// rule 2: the caller never frees an [out] BSTR
NOINLINE static int GetName(BSTR *out)
{
    BSTR scratch = SysAllocString(u"scratch"); // a temporary, freed here
    SysFreeString(scratch);
    *out = SysAllocString(u"name");
    return 0;
}

NOINLINE static void PrintName()
{
    BSTR name = nullptr;
    GetName(&name);
    std::printf("%u\n", SysStringLen(name)); // the bug: never freed
}

static int out_not_freed()
{
    PrintName();
    return 0;
}

// rule 2: the caller never frees a returned BSTR
NOINLINE static BSTR MakeGreeting()
{
    return SysAllocString(u"hello");
}

static int return_not_freed()
{
    BSTR greeting = MakeGreeting();
    std::printf("%u\n", SysStringLen(greeting)); // the bug: never freed
    return 0;
}

// a function that hands nothing out leaks its own BSTR
NOINLINE static int CountWords(int limit)
{
    BSTR copy = SysAllocString(u"one two");
    return (int)SysStringLen(copy) < limit; // the bug: never freed
}

static int local_leak()
{
    return CountWords(100) ? 0 : 1;
}

// ------------------------------------------------ no verdict allowed

// The rule-1 shape, but on another thread: stacks of threads cannot be
// told apart by their return addresses.
static void *in_param_thread_main(void *)
{
    in_param_double_free();
    return nullptr;
}

static int thread_double_free()
{
    pthread_t t;
    if (pthread_create(&t, nullptr, in_param_thread_main, nullptr) != 0)
        return 1;
    pthread_join(t, nullptr);
    return 0;
}

// Recursion: the rule-1 shape, one level down a recursive function. (The
// verdict would even be right here, but a function that is in a stack twice
// makes "the same frame" unreliable: no verdict.)
NOINLINE static void Nested(int depth)
{
    if (depth == 0) {
        Nested(1);
        return;
    }
    BSTR text = SysAllocString(u"deep");
    LogMessage(text);
    SysFreeString(text);
}

static int recursion()
{
    Nested(0);
    return 0;
}

// The callee that frees its [in] BSTR was inlined: its frame is not its own.
__attribute__((always_inline)) static inline void InlinedFree(BSTR value)
{
    SysFreeString(value);
}

static int inlined_callee()
{
    BSTR text = SysAllocString(u"inline");
    InlinedFree(text);
    SysFreeString(text);
    return 0;
}

// The callee has no debug information: nothing says it takes a BSTR.
static int callee_without_debug_info()
{
    BSTR text = SysAllocString(u"opaque");
    nodebug_free_in(text);
    SysFreeString(text);
    return 0;
}

// The [out] function also leaks a temporary of its own: which of its two
// BSTRs it handed out, the stacks cannot say.
NOINLINE static int GetValue(BSTR *out)
{
    BSTR temporary = SysAllocString(u"temporary"); // the leak: never freed
    (void)temporary;
    *out = SysAllocString(u"value");
    return 0;
}

static int out_leaks_temporary()
{
    BSTR value = nullptr;
    GetValue(&value);
    SysFreeString(value); // correct
    return 0;
}

// A method keeps its BSTR in a member: who should free it is the object's
// business, not a rule the stacks show.
struct Holder {
    BSTR kept = nullptr;
    NOINLINE void Keep(const OLECHAR *text) { kept = SysAllocString(text); }
};

static Holder *holder;

static int member_leak()
{
    holder = new Holder;
    holder->Keep(u"kept");
    return 0;
}

// A function without parameters keeps its BSTR in a global: it handed it
// on (to whoever owns the global), so it is no local leak of its own.
static BSTR g_settings;

NOINLINE static void LoadSettings()
{
    g_settings = SysAllocString(u"settings");
}

static int kept_in_global()
{
    LoadSettings();
    return 0;
}

// The receiver passes the BSTR on through its own [out] parameter: the
// leak is its caller's, two frames up, which no pattern covers.
NOINLINE static BSTR MakeCopy()
{
    return SysAllocString(u"copy");
}

NOINLINE static int Forward(BSTR *out)
{
    *out = MakeCopy();
    return 0;
}

static int passed_on()
{
    BSTR value = nullptr;
    Forward(&value);
    return 0; // never freed: but MakeCopy -> Forward is not where it went wrong
}

// The receiver of an [out] BSTR passes it on: it lands in a structure its
// own caller gave it (a COM GetInfo(INFO *) filling a field). Whose it is
// to free, FillInfo's caller's, no frame of the stack says.
struct Info {
    BSTR name;
    int size;
};

NOINLINE static int GetLabelInto(BSTR *out)
{
    *out = SysAllocString(u"label");
    return 0;
}

NOINLINE static int FillInfo(Info *info)
{
    info->size = 5;
    return GetLabelInto(&info->name);
}

static int struct_out()
{
    Info info;
    FillInfo(&info);
    return info.size == 5 ? 0 : 1; // info.name is never freed
}

// Freed twice, but from two frames that are not the allocating one.
NOINLINE static void FreeOnce(BSTR b) { SysFreeString(b); }
NOINLINE static void FreeAgain(BSTR b) { SysFreeString(b); }

static int two_other_frames()
{
    BSTR text = SysAllocString(u"twice");
    FreeOnce(text);
    FreeAgain(text);
    return 0;
}

// The rule-2 shape run with max_frames=3 (run.py): a stack cut before the
// C library's start-up code may be missing frames; it gets no verdict.
static int cut_stacks()
{
    return out_not_freed();
}

// The rule-2 shape run with quarantine_kb=0 (run.py): the temporary GetName
// freed has left the quarantine, so whether GetName handed out something
// else cannot be checked.
static int no_history()
{
    return out_not_freed();
}

struct Scenario {
    const char *name;
    int (*run)();
};

static const Scenario scenarios[] = {
    {"in_param_double_free", in_param_double_free},
    {"in_param_use_after_free", in_param_use_after_free},
    {"returned_then_freed", returned_then_freed},
    {"returned_then_used", returned_then_used},
    {"out_not_freed", out_not_freed},
    {"return_not_freed", return_not_freed},
    {"local_leak", local_leak},
    {"thread_double_free", thread_double_free},
    {"recursion", recursion},
    {"inlined_callee", inlined_callee},
    {"callee_without_debug_info", callee_without_debug_info},
    {"out_leaks_temporary", out_leaks_temporary},
    {"member_leak", member_leak},
    {"kept_in_global", kept_in_global},
    {"passed_on", passed_on},
    {"struct_out", struct_out},
    {"two_other_frames", two_other_frames},
    {"cut_stacks", cut_stacks},
    {"no_history", no_history},
};

int main(int argc, char **argv)
{
    for (const Scenario &s : scenarios)
        if (argc == 2 && std::strcmp(argv[1], s.name) == 0)
            return s.run();
    std::fprintf(stderr, "usage: verdicts SCENARIO\n");
    return 2;
}
