#!/usr/bin/env python3
"""The runtime zoo: BSTR runtimes of many shapes (tail calls, -Bsymbolic,
aliases, caches, 16-byte headers, wchar_t, C++ exceptions, three-function
runtimes, plugins, two widths at once, locks of their own, use in
constructors and destructors, dlopen() races, threads), each with a
program, all built by meson.build next to this file.

The rule every case checks: the program behaves exactly as without the
shim, and only real misuse is reported. So each case runs its program bare
(no LD_PRELOAD) and then under the shim in modes auto, forward and own,
every run under a timeout (a timeout is a failure, "hang", never a skip),
and compares:
  - stdout and the exit status with the bare run (the status is 23 when
    the case plants bugs; the programs exit 0 bare);
  - the JSON report's findings exactly: kind and count per kind, the leak
    count, each planted leak's and double free's first frame, and where a
    case says so the leak's sample and bytes;
  - summary.allocations with the count the program prints (its last
    "count: allocations=N" line), and summary.frees with allocations minus
    leaks (every BSTR the programs make is freed but the planted leaks; a
    re-allocation frees the old one; a second free frees nothing).

Mode own, where bstrcheck itself is the runtime, cannot reproduce a
runtime's private choices. The programs print those on lines starting with
"layout:" (alignment, the runtime's own header, address reuse by a cache),
and each case states what own mode promises there instead (INTERFACE.md:
pointer-aligned BSTRs, no cache, freed BSTRs held back). The other
exceptions are named in their cases: the C++ runtime's exceptions (own mode
returns NULL as the contract says) and two widths in one process (own mode
has one width). The cached runtime's address reuse is also held back in
forward mode while the quarantine is on (INTERFACE.md: freed BSTRs are
"held back ... not reused"), so that case also runs with quarantine_kb=0.

Deadlocks are a matter of timing: the cases that hunt them (lock_*,
dlopen_ctor_race) run their program several times per mode and stop at
the first failure. Nothing a correct shim does depends on the timing:
every output line and count is fixed before the threads start or collected
after they are joined.

A hung run is killed after TIMEOUT seconds; its threads' stacks (gdb, when
it can attach; ZOO_HANG_STACKS=0 turns that off) go to the TAP diagnostics.

Usage: zoo.py CASE   (prints TAP; paths come from BC_* variables set by
meson.build)
"""
import difflib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "integration"))
from run import Tap, run_cases  # noqa: E402  (the integration suite's TAP helpers)

TIMEOUT = 20  # seconds per run; a program of the zoo takes well under one
MODES = ("auto", "forward", "own")

# What mode own promises where the programs print a runtime's private
# choices (applied to the bare run's stdout to get own mode's): BSTRs are
# pointer-aligned (BSTR-CONTRACT.md, Layout), a runtime's own header check
# finds nothing it made (bstrcheck made them), and freed BSTRs are held back,
# not reused (INTERFACE.md, quarantine_kb).
OWN_LAYOUT = [
    (r"align8=\d+", "align8=0"),
    (r"owned=1\b", "owned=0"),
    (r"reused=\d+", "reused=0"),
    (r"reuses=\d+", "reuses=0"),
]


class Result:
    def __init__(self, status, stdout, stderr, hang, stacks="", report=None):
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.hang = hang
        self.stacks = stacks
        self.report = report

    def summary(self, name):
        return (self.report or {}).get("summary", {}).get(name)

    def findings(self, kind=None):
        return [f for f in (self.report or {}).get("findings", []) if kind is None or f["kind"] == kind]


def hang_stacks(pid):
    """Every thread's innermost frames of a hung process, for the TAP
    diagnostics (gdb, when it is there and allowed to attach)."""
    gdb = shutil.which("gdb")
    if not gdb or os.environ.get("ZOO_HANG_STACKS", "1") == "0":
        return ""
    try:
        out = subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex", "thread apply all bt 10"],
                             capture_output=True, text=True, timeout=30).stdout
    except (subprocess.TimeoutExpired, OSError):
        return ""
    lines = [l for l in out.splitlines() if l.startswith("Thread ") or l.startswith("#")]
    return "\n".join(lines[:80])


def execute(argv, env, cwd):
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
        hang, stacks = False, ""
    except subprocess.TimeoutExpired:
        stacks = hang_stacks(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        hang = True
    return Result(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                  hang, stacks)


def base_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("BSTRCHECK_OPTIONS", None)
    return env


def bare(argv):
    with tempfile.TemporaryDirectory(prefix="bc-zoo-") as work:
        return execute(argv, base_env(), work)


def shimmed(argv, mode, options=""):
    with tempfile.TemporaryDirectory(prefix="bc-zoo-") as work:
        json_path = os.path.join(work, "report.json")
        env = base_env()
        env["LD_PRELOAD"] = os.environ["BC_SHIM"]
        env["BSTRCHECK_OPTIONS"] = ":".join(o for o in (f"json_path={json_path}", f"mode={mode}", options) if o)
        r = execute(argv, env, work)
        if os.path.exists(json_path):
            try:
                with open(json_path, encoding="utf-8") as f:
                    r.report = json.load(f)
            except ValueError as exc:
                r.stderr += f"\n(zoo.py: the JSON report does not parse: {exc})"
        return r


def diff(expected, got):
    lines = list(difflib.unified_diff(expected.splitlines(), got.splitlines(), "expected (bare run)",
                                      "got (under the shim)", lineterm="", n=1))
    return "\n".join(lines[:40]) if lines else f"(same lines; raw) {expected!r} vs {got!r}"


def tail(text, n=25):
    lines = text.strip().splitlines()
    return "\n".join(lines[-n:])


def substitute(text, rules):
    for pattern, repl in rules:
        text = re.sub(pattern, repl, text)
    return text


def program(name):
    return os.environ[name]


def plugin(name):
    return os.environ[name]


def expected_allocations(stdout):
    m = re.findall(r"^count: allocations=(\d+)$", stdout, re.M)
    return int(m[-1]) if m else None


def frame0_function(finding, role):
    stack = (finding.get("stacks") or {}).get(role) or [{}]
    return stack[0].get("function")


class Spec:
    """What one case expects of every run under the shim.
    findings:    {kind: total count}, exactly (no other kind may appear)
    leak_fns:    the first frame's function of each leak finding (a list,
                 order free)
    free_fns:    the same for the "free" stack of each double_free finding
    samples:     {first frame's function: sample} of leak findings
    sample_optional: functions in samples whose sample may also be absent
    leak_bytes:  {first frame's function: bytes} of leak findings
    allocations: summary.allocations when the program does not print it
    own_expect:  (regex, replacement) turning the bare stdout into what mode
                 own must print
    own_ignore:  regexes of stdout not compared in mode own (replaced by
                 <ignored> on both sides): by default align16, since own
                 mode promises pointer alignment only"""

    def __init__(self, findings=None, leak_fns=(), free_fns=(), samples=None, leak_bytes=None,
                 allocations=None, own_expect=OWN_LAYOUT, own_olechar=2, expect_mode=None,
                 own_ignore=(r"align16=\d+",), sample_optional=()):
        self.findings = findings or {}
        self.leak_fns = sorted(leak_fns)
        self.free_fns = sorted(free_fns)
        self.samples = samples or {}
        self.leak_bytes = leak_bytes or {}
        self.allocations = allocations
        self.own_expect = own_expect
        self.own_olechar = own_olechar
        self.expect_mode = expect_mode
        self.own_ignore = list(own_ignore)
        self.sample_optional = set(sample_optional)


class QuietTap(Tap):
    """Counts failures without printing (for repeated runs, of which only
    the first failing one is shown)."""

    def ok(self, cond, desc, diag=None):
        self.count += 1
        if not cond:
            self.failed += 1
        return cond


def check_bare(t, argv, label=""):
    b = bare(argv)
    ok = t.ok(not b.hang and b.status == 0 and b.stdout.strip() != "",
              f"{label}bare run: exits 0 with output, in time",
              f"status {b.status} hang {b.hang}\n{tail(b.stdout)}\n{tail(b.stderr)}")
    return b if ok else None


def check_run(t, spec, base, r, mode, name, compare_stdout=True, expect_stdout=None, ignore=()):
    """The checks of one run under the shim against the bare run BASE."""
    if not t.ok(not r.hang, f"{name}: finishes within {TIMEOUT} s",
                f"hang: killed after {TIMEOUT} s\n{r.stacks or '(no stacks)'}\nstderr:\n{tail(r.stderr)}"):
        return False
    planted = bool(spec.findings)
    want_status = 23 if planted else base.status
    crashed = r.status < 0 or r.status >= 128
    t.eq(r.status, want_status, f"{name}: exit status {want_status}" + (" (findings)" if planted else " (as bare)"),
         f"{'crash: signal ' + str(-r.status if r.status < 0 else r.status - 128) if crashed else ''}\n"
         f"stderr:\n{tail(r.stderr)}")
    if compare_stdout:
        expected = expect_stdout if expect_stdout is not None else base.stdout
        got = r.stdout
        for pattern in ignore:
            expected = re.sub(pattern, "<ignored>", expected)
            got = re.sub(pattern, "<ignored>", got)
        t.ok(got == expected, f"{name}: stdout as without the shim" + (" (own mode's layout)" if mode == "own" else ""),
             diff(expected, got) + ("\nstderr:\n" + tail(r.stderr, 12) if got != expected else ""))
    if not t.ok(r.report is not None, f"{name}: JSON report written", f"stderr:\n{tail(r.stderr)}"):
        return False
    # The shim says so when it calls a runtime or releases a block while it
    # holds a lock of its own (the lock rule): never in any case here.
    t.ok("internal error" not in r.stderr, f"{name}: no call into a runtime under a shim lock",
         tail(r.stderr))
    want_mode = spec.expect_mode or ("own" if mode == "own" else "forward")
    t.eq(r.report.get("mode"), want_mode, f"{name}: report says mode {want_mode}")
    got = {}
    for f in r.findings():
        got[f["kind"]] = got.get(f["kind"], 0) + f.get("count", 1)
    t.eq(got, spec.findings, f"{name}: findings exactly {spec.findings or 'none'}",
         "\n".join(f"{f['kind']} x{f.get('count')}: {f.get('detail')} (first frame {frame0_function(f, 'alloc')})"
                   for f in r.findings()[:8]))
    leaked = spec.findings.get("leak", 0)
    t.eq(r.summary("leaked"), leaked, f"{name}: summary.leaked {leaked}")
    leaks = r.findings("leak")
    if spec.leak_fns:
        # Which functions, not how many groups: a call site the compiler
        # duplicated (an unrolled loop) makes two groups of one function.
        t.eq(sorted({str(frame0_function(f, "alloc")) for f in leaks}), spec.leak_fns,
             f"{name}: each leak's alloc stack starts in {', '.join(spec.leak_fns)}",
             json.dumps([f.get("stacks", {}).get("alloc", [])[:3] for f in leaks], indent=1)[:1500])
    for f in leaks:
        fn = frame0_function(f, "alloc")
        if fn in spec.samples and fn in spec.sample_optional:
            t.ok(f.get("sample") in (None, spec.samples[fn]),
                 f"{name}: sample of the leak from {fn}: right or absent", f.get("sample"))
        elif fn in spec.samples:
            t.eq(f.get("sample"), spec.samples[fn], f"{name}: sample of the leak from {fn}")
        if fn in spec.leak_bytes:
            t.eq(f.get("bytes"), spec.leak_bytes[fn], f"{name}: bytes of the leak from {fn}")
    if spec.free_fns:
        t.eq(sorted({str(frame0_function(f, "free")) for f in r.findings("double_free")}), spec.free_fns,
             f"{name}: the double free's free stack starts in {', '.join(spec.free_fns)}")
    allocations = spec.allocations if spec.allocations is not None else expected_allocations(base.stdout)
    if allocations is not None:
        t.eq(r.summary("allocations"), allocations, f"{name}: summary.allocations {allocations}")
        t.eq(r.summary("frees"), allocations - leaked,
             f"{name}: summary.frees {allocations - leaked} (all but the leaks)")
    return True


def repeated_runs(t, spec, base, argvs, mode, options="", name=None, expect_stdout=None, ignore=()):
    """Runs under the shim for a defect that depends on timing: one run per
    argv in ARGVS, stopping at the first that fails. The first run's checks
    are printed; the others only when one fails."""
    name = name or f"mode={mode}" + (f" {options}" if options else "")
    for i, argv in enumerate(argvs):
        r = shimmed(argv, mode, options)
        sub = t if i == 0 else QuietTap()
        before = t.failed
        check_run(sub, spec, base, r, mode, name if i == 0 else f"{name} run {i + 1} of {len(argvs)}",
                  expect_stdout=expect_stdout, ignore=ignore)
        if i == 0 and t.failed > before:
            return
        if i > 0 and sub.failed:
            check_run(t, spec, base, r, mode, f"{name} run {i + 1} of {len(argvs)}",
                      expect_stdout=expect_stdout, ignore=ignore)
            return
    if len(argvs) > 1:
        t.ok(True, f"{name}: {len(argvs) - 1} more runs, each as the first")


def zoo_case(t, argv, spec, modes=MODES, options="", label=""):
    """Bare once, then each mode: stdout and status as bare, findings exact."""
    base = check_bare(t, argv, label)
    if not base:
        return None
    for mode in modes:
        opts = options
        if mode == "own" and spec.own_olechar != 2:
            opts = ":".join(o for o in (opts, f"olechar={spec.own_olechar}") if o)
        r = shimmed(argv, mode, opts)
        name = f"{label}mode={mode}" + (f" {options}" if options else "")
        if mode == "own":
            check_run(t, spec, base, r, mode, name, expect_stdout=substitute(base.stdout, spec.own_expect),
                      ignore=spec.own_ignore)
        else:
            check_run(t, spec, base, r, mode, name)
    return base


def disassembly(path, symbol):
    objdump = os.environ.get("BC_OBJDUMP") or shutil.which("objdump")
    if not objdump:
        return None
    out = subprocess.run([objdump, "-d", "--no-show-raw-insn", f"--disassemble={symbol}", path],
                         capture_output=True, text=True, timeout=30).stdout
    return out[out.find(f"<{symbol}>:"):] if f"<{symbol}>:" in out else ""


def premise(t, path, symbol, pattern, what):
    """The shape a case is about is really in the binary (the compiler could
    have done otherwise)."""
    text = disassembly(path, symbol)
    if text is None:
        t.ok(True, f"premise: {what} (objdump not found, not checked)")
        return
    t.ok(re.search(pattern, text) is not None, f"premise: {what}", text[:1200])


# ------------------------------------------------------------------- cases

SCRIPT16 = Spec({"leak": 1, "double_free": 1}, leak_fns=["leak_here"], free_fns=["double_free_here"],
                samples={"leak_here": "leaked on purpose"}, leak_bytes={"leak_here": 34})


def case_tail_single(t):
    """Case 1: SysAllocString, SysReAllocString and SysReleaseString of the
    runtime jump to SysAllocStringLen, SysReAllocStringLen and SysFreeString
    through the PLT. Under the shim that jump re-enters the shim with the
    shim's own return address: it used to spin there forever."""
    lib = plugin("BC_ZOO_LIB_TAIL")
    premise(t, lib, "SysAllocString", r"jmp\s+\S+\s+<SysAllocStringLen@plt>",
            "SysAllocString ends in jmp SysAllocStringLen@plt")
    premise(t, lib, "SysReAllocString", r"jmp\s+\S+\s+<SysReAllocStringLen@plt>",
            "SysReAllocString ends in jmp SysReAllocStringLen@plt")
    premise(t, lib, "SysReleaseString", r"jmp\s+\S+\s+<SysFreeString@plt>",
            "SysReleaseString ends in jmp SysFreeString@plt")
    zoo_case(t, [program("BC_ZOO_PROG16_TAIL"), "script"], SCRIPT16)


def case_tail_threads(t):
    """Case 1 with four threads: allocations through the tail jump, pinned
    frees released through the tail jump, cross-thread frees; one leak per
    thread."""
    zoo_case(t, [program("BC_ZOO_PROG16_TAIL"), "threads", "4", "1500"],
             Spec({"leak": 4}, leak_fns=["thread_leak"]))


def deleg_case(t, env_lib, env_prog, call_pattern, what, blind=False):
    premise(t, plugin(env_lib), "SysAllocString", call_pattern, what)
    zoo_case(t, [program(env_prog), "script"], SCRIPT16)
    # Where the shim can tell that it is blind, it says so, once.
    r = shimmed([program(env_prog), "script"], "auto")
    said = "-Bsymbolic" in r.stderr
    t.ok(said == blind, "a warning says the runtime's own calls are not seen" if blind
         else "no -Bsymbolic warning for a runtime that calls through its PLT", tail(r.stderr))


def case_deleg_plt(t):
    """Case 2: the runtime's functions call each other through the PLT, not
    in tail position: under the shim those calls are nested calls."""
    deleg_case(t, "BC_ZOO_LIB_DELEG_PLT", "BC_ZOO_PROG16_DELEG_PLT",
               r"call\s+\S+\s+<SysAllocStringLen@plt>", "SysAllocString calls SysAllocStringLen@plt")


def case_deleg_bsymbolic(t):
    """Case 2, linked -Wl,-Bsymbolic: the internal calls never reach the shim."""
    deleg_case(t, "BC_ZOO_LIB_DELEG_BSYM", "BC_ZOO_PROG16_DELEG_BSYM",
               r"call\s+\S+\s+<SysAllocStringLen>", "SysAllocString calls SysAllocStringLen directly",
               blind=True)


def case_deleg_alias(t):
    """Case 2 with hidden internal names; the exported names are aliases."""
    deleg_case(t, "BC_ZOO_LIB_DELEG_ALIAS", "BC_ZOO_PROG16_DELEG_ALIAS",
               r"call\s+\S+\s+<(zoo_impl_)?SysAllocStringLen>",
               "SysAllocString calls SysAllocStringLen's hidden alias directly, not through the PLT")


def case_cached(t):
    """Case 3: a caching runtime hands a freed BSTR's address out again.
    With the default quarantine the shim holds a freed BSTR back before the
    runtime's SysFreeString sees it ("freed BSTRs held back (poisoned, not
    reused)"), so the address cannot come back: the reuse lines must read 0
    in every mode then. With quarantine_kb=0 nothing is held back, the cache
    works as without the shim and the reuse lines must match the bare run:
    every address that comes back is a new BSTR, never a double free.
    The planted double free (the last thing the program does) must be found
    with the quarantine. Without it (quarantine_kb=0 turns off what "catches
    late use and double frees") forward mode no longer knows the address
    after the first free, and a free of an address it does not know is an
    untracked free, the runtime's business: there the double free may go
    unreported, or be reported as double_free or invalid_free (as own mode
    does, tests/integration run.py case quarantine_off), but nothing else
    may appear, and the leak must be found."""
    argv = [program("BC_ZOO_PROG_CACHE")]
    spec = Spec({"leak": 1, "double_free": 1}, leak_fns=["leak_cached"], free_fns=["double_free_cached"],
                samples={"leak_cached": "leaked from the cache"})
    base = check_bare(t, argv)
    if not base:
        return
    t.ok("layout: reused=1" in base.stdout and "layout: reuses=0" not in base.stdout,
         "premise: without the shim the cache hands addresses out again", base.stdout)
    held_back = substitute(base.stdout, OWN_LAYOUT[2:])
    for mode in MODES:
        r = shimmed(argv, mode)
        check_run(t, spec, base, r, mode, f"mode={mode}",
                  expect_stdout=substitute(base.stdout, OWN_LAYOUT) if mode == "own" else held_back,
                  ignore=spec.own_ignore if mode == "own" else ())
    for mode in ("auto", "forward"):
        r = shimmed(argv, mode, "quarantine_kb=0")
        name = f"mode={mode} quarantine_kb=0"
        either = Spec({"leak": 1}, leak_fns=["leak_cached"], samples={"leak_cached": "leaked from the cache"})
        if r.report is not None:
            for kind in ("double_free", "invalid_free"):
                if r.findings(kind):
                    either.findings[kind] = 1
        check_run(t, either, base, r, mode, name)


def case_hdr16(t):
    """Case 4: a 16-byte header, the prefix at p-4, the data 16-aligned.
    Mode own promises pointer alignment only, so align16 is not compared
    there."""
    base = zoo_case(t, [program("BC_ZOO_PROG16_HDR16"), "script"], SCRIPT16)
    if base:
        t.ok("align16=8" not in base.stdout and "align16=0" in base.stdout,
             "premise: the runtime's BSTRs are 16-aligned", base.stdout)


def case_wchar(t):
    """Case 5: a p7zip-like runtime, 4-byte characters, a bare prefix at
    malloc()+4 (so 4 mod 8, where own mode is pointer-aligned)."""
    base = zoo_case(t, [program("BC_ZOO_PROG_WCHAR")],
                    Spec({"leak": 1}, leak_fns=["leak_wide"], samples={"leak_wide": "leaked wide string"},
                         leak_bytes={"leak_wide": 18 * 4}, own_olechar=4))
    if base:
        t.ok("align8=4" in base.stdout, "premise: the runtime's BSTRs are 4 mod 8", base.stdout)


def case_cxx_throw(t):
    """Case 6: the C++ runtime throws std::bad_alloc through the shim, from
    SysAllocStringLen (three times) and SysReAllocStringLen (twice); the
    program catches it and goes on. The later leaks and double free must be
    reported (a throw used to leave the shim's depth at 1, so nothing after
    it was checked) and the report must come (a throw from
    SysReAllocStringLen used to leave a lock held, and the exit report hung).
    Mode own cannot throw a C++ exception for the runtime: it follows the
    contract (a length whose bytes do not fit the prefix gives NULL, and a
    failed re-allocation returns FALSE with *pbstr untouched)."""
    throw_case(t, [])


def throw_case(t, args, prog="BC_ZOO_PROG_THROW"):
    own = OWN_LAYOUT + [(r"rt: huge alloc threw bad_alloc", "rt: huge alloc returned NULL"),
                        (r"rt: huge realloc threw bad_alloc", "rt: huge realloc returned 0")]
    zoo_case(t, [program(prog), *args],
             Spec({"leak": 2, "double_free": 1}, leak_fns=["leak_after_throw"],
                  free_fns=["double_free_after_throw"], samples={"leak_after_throw": "leaked after the throw"},
                  own_expect=own))


def case_cxx_throw_realloc_first(t):
    """Case 6 with SysReAllocStringLen throwing first, before any other
    throw could have switched the shim's checks off (a throw from it used
    to leave a lock held: the exit report hung)."""
    throw_case(t, ["realloc-first"])


def case_cxx_throw_static_unwinder(t):
    """Case 6 with the C++ runtime and its unwinder linked into the runtime
    and the program (-static-libgcc -static-libstdc++), as some vendors ship
    them. libgcc_s's personality routine, which the shim's cleanup scopes
    name, aborts on that unwinder's frames: the program used to die at the
    first throw. The shim's own routine (personality.c) lets it pass, and
    the program's next call mends the thread's depth, so the later leaks and
    double free are still found."""
    prog = program("BC_ZOO_PROG_THROW_STATIC")
    maps = subprocess.run(["ldd", prog], capture_output=True, text=True).stdout
    t.ok("libgcc_s" not in maps and "libstdc++" not in maps,
         "premise: neither the program nor its runtime needs libgcc_s or libstdc++", maps)
    throw_case(t, [], prog="BC_ZOO_PROG_THROW_STATIC")


def case_dxc(t):
    """Case 7: only SysAllocString, SysFreeString and SysStringLen exist,
    4-byte characters: the leak's bytes are chars * 4 and its sample the
    text, though there is no SysStringByteLen to ask."""
    zoo_case(t, [program("BC_ZOO_PROG_DXC")],
             Spec({"leak": 1}, leak_fns=["leak_dxc"], samples={"leak_dxc": "leaked by dxc"},
                  leak_bytes={"leak_dxc": 13 * 4}, own_olechar=4))


PLUGIN_LEAK = {"leak": 1}


def case_plugin_local(t):
    """Case 8: a plugin that is a runtime, dlopen()ed RTLD_LOCAL; its own
    functions call its Sys* through its PLT."""
    zoo_case(t, [program("BC_ZOO_PROG_PLUGINS"), "local", plugin("BC_ZOO_PLUG_P7")],
             Spec(PLUGIN_LEAK, leak_fns=["plug_leak"], samples={"plug_leak": "leaked by plugin"},
                  leak_bytes={"plug_leak": 16 * 4}, own_olechar=4))


def case_plugin_global(t):
    """Case 8: the runtime plugin dlopen()ed RTLD_GLOBAL; the program calls
    the Sys* functions it finds with dlsym(RTLD_DEFAULT) too (the shim's,
    under the shim; the plugin's, bare), on BSTRs of both."""
    zoo_case(t, [program("BC_ZOO_PROG_PLUGINS"), "global", plugin("BC_ZOO_PLUG_G")],
             Spec({"leak": 1, "double_free": 1}, leak_fns=["leak_from_program"],
                  free_fns=["double_free_from_program"], samples={"leak_from_program": "leaked by the program"},
                  own_olechar=4))


# The planted bugs of prog_plugins.c's "tail" scenario.
TAIL_SPEC = Spec({"leak": 1, "double_free": 1}, leak_fns=["leak_via_tail"],
                 free_fns=["double_free_via_tail"],
                 samples={"leak_via_tail": "leaked through a tail jump"},
                 leak_bytes={"leak_via_tail": 26 * 4}, own_olechar=4)
TAIL_JUMP = r"jmp\s+\S+\s+<SysAllocString@plt>"


def plugin_tail_case(t, env_lib, make_pattern, make_what):
    lib = plugin(env_lib)
    premise(t, lib, "plug_make_tail", make_pattern, make_what)
    zoo_case(t, [program("BC_ZOO_PROG_PLUGINS"), "tail", lib], TAIL_SPEC)


def case_plugin_tail(t):
    """Case 8: the plugin's one-line wrappers are jumps, called through
    dlsym() pointers, so the shim sees the program's return address; the
    runtime to use is still the plugin's (without the shim the plugin's PLT
    goes there). The leak's first frame is the program's function: the
    wrapper left no frame."""
    premise(t, plugin("BC_ZOO_PLUG_A"), "plug_free_tail", r"jmp\s+\S+\s+<SysFreeString@plt>",
            "plug_free_tail is jmp SysFreeString@plt")
    plugin_tail_case(t, "BC_ZOO_PLUG_A", TAIL_JUMP, "plug_make_tail is jmp SysAllocString@plt")


def case_plugin_tail_bindnow(t):
    """Case 8 with the plugin bound at load (-z now) and its GOT made
    read-only (full RELRO): the shim must still point the plugin's own
    calls at its runtime."""
    plugin_tail_case(t, "BC_ZOO_PLUG_NOW", TAIL_JUMP, "plug_make_tail is jmp SysAllocString@plt")


def case_plugin_tail_noplt(t):
    """Case 8 with the plugin built -fno-plt: its calls, the tail jumps
    included, go through GOT slots (GLOB_DAT), not a PLT."""
    plugin_tail_case(t, "BC_ZOO_PLUG_NOPLT", r"jmp\s+\*",
                     "plug_make_tail is an indirect jump through the GOT")


def case_plugin_helper(t):
    """Case 8b: a helper library that defines no Sys* function but calls
    them, loaded RTLD_LOCAL with the runtime plugin it needs, and no runtime
    in the global scope: its calls reach the plugin's runtime (the local
    scope's), under the shim as without it."""
    zoo_case(t, [program("BC_ZOO_PROG_HELPER"), os.environ["BC_ZOO_LIB_HELPER"]],
             Spec({"leak": 1}, leak_fns=["helper_leak"],
                  samples={"helper_leak": "leaked by the helper"},
                  leak_bytes={"helper_leak": 20 * 4}, own_olechar=4))


def case_signal_handlers(t):
    """A signal handler calls an async-signal-safe runtime (a static pool, no
    malloc, no lock) while the main thread does too, so it often interrupts
    the shim inside a Sys* call, holding a lock of its own: the handler's
    call must reach the runtime without taking a shim lock (no hang, no
    crash, no internal error). The runs are repeated: the interruptions
    fall at random places."""
    argv = [program("BC_ZOO_PROG_SIGNALS"), "100000"]
    base = check_bare(t, argv)
    if not base:
        return
    spec = Spec({})
    for mode in ("auto", "forward"):
        repeated_runs(t, spec, base, [argv] * 3, mode, "")


def case_plugin_swap(t):
    """Case 8: two runtime plugins of different layouts are loaded, used by
    a second thread and unloaded in turn (one often lands where the other
    was), while a third thread keeps calling a plugin that stays loaded.
    Each call's result is checked in the program; the counts of wrong ones
    are printed. In mode own the plugins' header checks cannot succeed
    (bstrcheck made the BSTRs), so the layout line is not compared there."""
    zoo_case(t, [program("BC_ZOO_PROG_PLUGINS"), "swap", plugin("BC_ZOO_PLUG_A"), plugin("BC_ZOO_PLUG_B"),
                 plugin("BC_ZOO_PLUG_G")],
             Spec({}, own_olechar=4, own_ignore=[r"(?m)^layout: .*$"]))


def case_plugin_dlclose_leak(t):
    """Case 8: a runtime plugin leaks a BSTR and is dlclose()d before exit:
    the leak is reported with its stack (symbolized though the module is
    gone) and its bytes, exit 23, no crash (the report used to call into the
    unloaded runtime: SIGSEGV, exit 139). The sample is not promised in
    forward mode: a runtime's memory may leave with it (one that allocates
    from its own static arena), so the shim may decline to read it; if it
    gives one, it must be right. In mode own bstrcheck made the BSTR, so the
    sample is there."""
    zoo_case(t, [program("BC_ZOO_PROG_PLUGINS"), "leakclose", plugin("BC_ZOO_PLUG_P7")],
             Spec(PLUGIN_LEAK, leak_fns=["plug_leak"], samples={"plug_leak": "leaked by plugin"},
                  leak_bytes={"plug_leak": 16 * 4}, own_olechar=4, sample_optional=["plug_leak"]))


def case_two_widths(t):
    """Case 9: a 16-bit runtime linked normally and a wchar_t runtime
    dlopen()ed RTLD_LOCAL, in one process; each side leaks one BSTR, and the
    report reads each at its own width. Mode own has one width for the whole
    process (olechar), so it cannot serve both sides as they expect: there
    it must still not hang or crash, write its report, and find the two
    leaks (stdout is not compared)."""
    argv = [program("BC_ZOO_PROG_TWOWIDTH"), plugin("BC_ZOO_PLUG_WV")]
    spec = Spec({"leak": 2}, leak_fns=["leak16", "plug_leak"],
                samples={"leak16": "leaked sixteen", "plug_leak": "leaked by plugin"},
                leak_bytes={"leak16": 14 * 2, "plug_leak": 16 * 4})
    base = zoo_case(t, argv, spec, modes=("auto", "forward"))
    if not base:
        return
    t.ok("wide: len=15 bytes=60" in base.stdout and "narrow: len=12 bytes=24" in base.stdout,
         "premise: without the shim each side has its own width", base.stdout)
    r = shimmed(argv, "own")
    check_run(t, Spec({"leak": 2}), base, r, "own", "mode=own (one width: only no hang, no crash, the leaks)",
              compare_stdout=False)


def lock_case(t, threads):
    """Case 10: the runtime's own mutex and the shim's locks, taken in both
    orders by N threads (RtClear: the runtime's lock, then the shim;
    SysFreeString, SysAddRefString, SysReleaseString: the shim, then the
    runtime's lock). Also with quarantine_kb=0, where every free reaches the
    runtime at once. A shim that holds a lock of its own across its call into
    the runtime deadlocks only when two threads meet in the same part of its
    table at the wrong moment (the shim before the forward-mode rewrite hung
    in about one run in four), so each configuration runs four times. A
    correct shim passes whatever the timing."""
    argv = [program("BC_ZOO_PROG_LOCK"), str(threads), "3000"]
    spec = Spec({"leak": 1}, leak_fns=["lock_leak"], samples={"lock_leak": "leaked past the lock"})
    base = check_bare(t, argv)
    if not base:
        return
    for mode, options in (("auto", ""), ("forward", ""), ("own", ""), ("forward", "quarantine_kb=0")):
        repeated_runs(t, spec, base, [argv] * 4, mode, options,
                      expect_stdout=substitute(base.stdout, spec.own_expect) if mode == "own" else None,
                      ignore=spec.own_ignore if mode == "own" else ())


def case_lock_2(t):
    lock_case(t, 2)


def case_lock_4(t):
    lock_case(t, 4)


def case_reenter_evict(t):
    """Case 10b: case 10's runtime, whose SysFreeString also makes and frees
    a scratch BSTR through the PLT (holding its lock), and asks the length
    and free()s the block, all of which enter the shim again. With a
    quarantine of 1 KiB nearly every free pushes an older BSTR out into
    that SysFreeString, so the runtime calls back into the shim from inside
    the shim's eviction: the shim must hold none of its locks there (a
    debug build stops at once if it does; a release build says "internal
    error") and must not count the scratch BSTRs, which the runtime makes
    and frees inside its own free."""
    argv = [program("BC_ZOO_PROG_REENTER"), "4", "2000"]
    spec = Spec({"leak": 1}, leak_fns=["lock_leak"], samples={"lock_leak": "leaked past the lock"})
    base = check_bare(t, argv)
    if not base:
        return
    for mode in ("forward", "auto"):
        repeated_runs(t, spec, base, [argv] * 3, mode, "quarantine_kb=1")


def ctor_case(t, args, spec):
    """Case 11: the runtime makes BSTRs in its ELF constructor and a static
    object's constructor and frees them in the destructors; the program uses
    the runtime in atexit and in its own destructor and prints its last
    words there without a newline. Those BSTRs are no leaks (the report must
    come after every destructor), and the last words must reach stdout (if
    the shim changes the exit status it must not lose stdio's buffer)."""
    base = zoo_case(t, [program("BC_ZOO_PROG_CTOR"), *args], spec)
    if base:
        t.ok(re.search(r"\nlast words: len=10 [^\n]*\[runtime destructor: 21\]", base.stdout) is not None
             and "[static object: 23]" in base.stdout and not base.stdout.endswith("\n"),
             "premise: the destructors' output comes last, without a newline", base.stdout[-300:])


def case_ctor_dtor_clean(t):
    ctor_case(t, [], Spec({}, allocations=14))


def case_ctor_dtor_leak(t):
    ctor_case(t, ["leak"], Spec({"leak": 1}, leak_fns=["leak_in_main"], allocations=15))


def case_dlopen_ctor_race(t):
    """Case 12: thread A makes the process's first Sys* calls while thread B
    dlopen()s libraries whose constructors make a BSTR (with the dynamic
    linker's lock held): first a storm of loads of a runtime plugin whose
    constructor uses itself, then a plain library using the process's
    runtime. Then, each round, A makes the first calls from a module it has
    just loaded while B loads the plain library again. A lock of the shim
    held across a dl* call deadlocks there, but only when the timing meets
    it (the shim before the forward-mode rewrite hung in about one run in
    three), so the process runs eight times in each mode, A's first call
    delayed differently each time. A correct shim passes whatever the
    timing."""
    rounds = 20
    argv = [program("BC_ZOO_PROG_DLRACE"), plugin("BC_ZOO_LIB_CTOR"), plugin("BC_ZOO_LIB_CALLER"),
            plugin("BC_ZOO_PLUG_CTOR"), str(rounds)]
    spec = Spec({}, allocations=rounds * 11 + (rounds - 1) * 50 + 30)
    base = check_bare(t, argv)
    if not base:
        return
    delays = [0, 100, 200, 400, 700, 1000, 1500, 2500]
    for mode in MODES:
        repeated_runs(t, spec, base, [argv + [str(d)] for d in delays], mode)


def case_threads4(t):
    """Case 13: four threads allocate, re-allocate, pin and free (their own
    BSTRs and their neighbour's) through a forwarded runtime whose functions
    call each other through the PLT; every count exact."""
    zoo_case(t, [program("BC_ZOO_PROG16_DELEG_PLT"), "threads", "4", "2500"],
             Spec({"leak": 4}, leak_fns=["thread_leak"], samples={"thread_leak": "leaked by a thread"}))


def main():
    run_cases(globals())


if __name__ == "__main__":
    main()
