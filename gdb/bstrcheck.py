# bstrcheck's gdb extension: two commands for a program running under the
# bstrcheck shim (libbstrcheck.so preloaded, or linked).
#
#   bstr EXPR    what bstrcheck knows of the address EXPR evaluates to: a
#                live BSTR (its allocation number {N}, length, pins, sample
#                and allocation stack), a freed one still in the quarantine
#                (its allocation and free stacks), an address inside or just
#                before a BSTR, or nothing.
#   bstr-leaks   the leak report so far: every BSTR live now, grouped by
#                allocation stack, written where the text report goes
#                (log_path, stderr by default); gdb prints how many.
#
# Load it with `source PREFIX/share/bstrcheck/gdb/bstrcheck.py` (or put that
# line in ~/.gdbinit). Both commands call into the stopped program
# (bstrcheck_describe, bstrcheck_leaks_since; `bstr` also malloc and free
# for its buffer), so the program must be running, and stopped outside the
# shim and outside malloc: a stop inside a Sys* call may hold a lock the
# call then waits for.
import gdb

_DESCRIBE = "((unsigned long (*)(const void *, char *, unsigned long))%d)"
_LEAKS = "((unsigned long (*)(unsigned long, int))%d)"
_MALLOC = "((void *(*)(unsigned long))malloc)"
_FREE = "((void (*)(void *))free)"


def _shim_function(name):
    """The shim's NAME, as the program's dlsym(RTLD_DEFAULT) finds it (what
    include/bstrcheck.h does): a program that includes the header has static
    copies of the same names, which are not the shim."""
    if not gdb.selected_inferior().pid:
        raise gdb.GdbError("bstrcheck: the program is not running")
    try:
        address = int(gdb.parse_and_eval(
            '(unsigned long)((void *(*)(void *, const char *))dlsym)((void *)0, "%s")' % name))
    except gdb.error as e:
        raise gdb.GdbError("bstrcheck: cannot call dlsym in the program (%s)" % e)
    if not address:
        raise gdb.GdbError("bstrcheck: the shim is not loaded in this program "
                           "(run it with LD_PRELOAD=libbstrcheck.so, or under `bstrcheck`)")
    return address


def _address(expr):
    value = gdb.parse_and_eval(expr)
    code = value.type.strip_typedefs().code
    if code == gdb.TYPE_CODE_ARRAY:
        value = value.address
    elif code not in (gdb.TYPE_CODE_PTR, gdb.TYPE_CODE_INT, gdb.TYPE_CODE_ENUM,
                      gdb.TYPE_CODE_CHAR, gdb.TYPE_CODE_BOOL):
        raise gdb.GdbError("bstr: EXPR must be a pointer or an address, not a %s" % value.type)
    return int(value.cast(gdb.lookup_type("unsigned long"))) & 0xFFFFFFFFFFFFFFFF


class BstrCommand(gdb.Command):
    """Describe an address as bstrcheck knows it: bstr EXPR

EXPR is a BSTR, any pointer or an address. The answer is one of: a live
BSTR (allocation number {N}, length, pins, sample, allocation stack), a
freed BSTR still in the quarantine (allocation and free stacks), an address
inside or just before a BSTR (the offset, and that BSTR), or unknown."""

    def __init__(self):
        super().__init__("bstr", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, argument, from_tty):
        if not argument.strip():
            raise gdb.GdbError("usage: bstr EXPR")
        describe = _DESCRIBE % _shim_function("bstrcheck_describe")
        address = _address(argument)
        needed = int(gdb.parse_and_eval("%s(%d, (char *)0, 0)" % (describe, address)))
        size = needed + 1
        buf = int(gdb.parse_and_eval("(unsigned long)%s(%d)" % (_MALLOC, size)))
        if not buf:
            raise gdb.GdbError("bstr: malloc(%d) failed in the program" % size)
        try:
            written = int(gdb.parse_and_eval("%s(%d, (char *)%d, %d)"
                                             % (describe, address, buf, size)))
            length = min(written, size - 1)
            text = bytes(gdb.selected_inferior().read_memory(buf, length))
        finally:
            gdb.parse_and_eval("%s((void *)%d)" % (_FREE, buf))
        gdb.write(text.decode("utf-8", "replace"))
        if not text.endswith(b"\n"):
            gdb.write("\n")


class BstrLeaksCommand(gdb.Command):
    """Report every BSTR live now, grouped by allocation stack: bstr-leaks

The report goes where bstrcheck's text report goes (log_path: stderr unless
set otherwise); gdb prints how many BSTRs are live."""

    def __init__(self):
        super().__init__("bstr-leaks", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def invoke(self, argument, from_tty):
        if argument.strip():
            raise gdb.GdbError("usage: bstr-leaks")
        leaks_since = _LEAKS % _shim_function("bstrcheck_leaks_since")
        live = int(gdb.parse_and_eval("%s(0, 1)" % leaks_since))
        gdb.flush()
        gdb.write("bstrcheck: %d BSTR(s) live now%s\n"
                  % (live, "; the leak report went to the program's log_path (stderr by default)"
                     if live else ""))


BstrCommand()
BstrLeaksCommand()
