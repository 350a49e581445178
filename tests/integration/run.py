#!/usr/bin/env python3
"""Integration cases for bstrcheck: run a program under the shim, then check
its JSON report, its text report and its exit status.

Usage: run.py CASE   (prints TAP; the programs come from BC_* variables set
by tests/integration/meson.build)
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

SCRATCH = []


def scratch_dir(prefix):
    """A fresh temporary directory, removed when this test process ends:
    after a failed or crashed case too, and on meson's timeout (SIGTERM)."""
    path = tempfile.mkdtemp(prefix=prefix)
    SCRATCH.append(path)
    return path


def _remove_scratch():
    while SCRATCH:
        shutil.rmtree(SCRATCH.pop(), ignore_errors=True)


atexit.register(_remove_scratch)
if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))


class Tap:
    def __init__(self):
        self.count = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None, todo=None):
        """TODO: a known bug, said why; its failure is expected (meson
        counts a pass as unexpected, so the marker goes when it is fixed)."""
        self.count += 1
        print(f"{'ok' if cond else 'not ok'} {self.count} - {desc}" + (f" # TODO {todo}" if todo else ""))
        if not cond and not todo:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines():
                    print(f"# {line}")
        return cond

    def eq(self, got, expected, desc, diag=None):
        more = f"\n{diag}" if diag is not None else ""
        return self.ok(got == expected, desc, f"expected {expected!r}\ngot      {got!r}{more}")

    def finish(self):
        print(f"1..{self.count}")
        sys.exit(1 if self.failed or self.count == 0 else 0)


class Run:
    def __init__(self, proc, report, workdir, sarif=None):
        self.status = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.report = report
        self.workdir = workdir
        self.sarif = sarif

    def warnings(self):
        return [l for l in self.stderr.splitlines() if "bstrcheck: warning" in l]

    def suppression_lines(self):
        return [l.strip()[len("suppression: "):] for l in self.stderr.splitlines()
                if l.startswith("  suppression: ")]

    def findings(self, kind):
        return [f for f in (self.report or {}).get("findings", []) if f["kind"] == kind]

    def summary(self, name):
        return (self.report or {}).get("summary", {}).get(name)


def run(program, args=(), options="", preload=True, json_report=True, sarif=False):
    workdir = scratch_dir("bstrcheck-it-")
    json_path = os.path.join(workdir, "report.json")
    sarif_path = os.path.join(workdir, "report.sarif")
    opts = [f"json_path={json_path}"] if json_report else []
    if sarif:
        opts.append(f"sarif_path={sarif_path}")
    if options:
        opts.append(options)
    env = dict(os.environ)
    env["BSTRCHECK_OPTIONS"] = ":".join(opts)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = os.environ["BC_SHIM"]
    proc = subprocess.run([os.environ[program], *args], env=env, capture_output=True,
                          text=True, timeout=90, cwd=workdir)
    report = None
    if os.path.exists(json_path):
        with open(json_path, encoding="utf-8") as f:
            report = json.load(f)
    sarif_log = None
    if sarif and os.path.exists(sarif_path):
        with open(sarif_path, encoding="utf-8") as f:
            sarif_log = json.load(f)
    return Run(proc, report, workdir, sarif_log)


def temp_file(name, text):
    """A file NAME holding TEXT in a fresh directory; returns its path."""
    path = os.path.join(scratch_dir("bstrcheck-it-"), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def frame0(finding, role):
    stack = finding.get("stacks", {}).get(role) or [{}]
    return stack[0]


def check_frame(t, finding, role, function, source):
    frame = frame0(finding, role)
    t.eq(frame.get("function"), function, f"{role} stack starts in {function}")
    t.ok((frame.get("file") or "").endswith(source) and isinstance(frame.get("line"), int),
         f"{role} frame has {source}:line", frame)
    t.ok(frame.get("module", "").startswith("/") and frame.get("offset", "").startswith("0x"),
         f"{role} frame has module and offset", frame)


def case_clean(t):
    r = run("BC_SCENARIOS", ["clean"])
    t.eq(r.status, 0, "clean program exits 0")
    t.eq(r.report["findings"], [], "no findings")
    t.eq(r.summary("allocations"), 4, "4 allocations (2 allocs, 2 reallocs)")
    t.eq(r.summary("frees"), 4, "4 frees")
    t.eq(r.summary("leaked"), 0, "nothing leaked")
    t.ok("bstrcheck" not in r.stderr, "no text report on a clean run", r.stderr)
    for key in ("tool", "version", "pid", "parent_pid", "exe", "mode", "summary", "findings"):
        t.ok(key in r.report, f"report has '{key}'")
    t.eq(r.report["tool"], "bstrcheck", "tool name")
    t.eq(r.report["mode"], "own", "own mode without a real runtime")
    t.ok(r.report["exe"].endswith("scenarios"), "exe is the program", r.report["exe"])
    t.eq(r.report["parent_pid"], os.getpid(), "parent_pid is the runner")


def case_leak_groups(t):
    r = run("BC_SCENARIOS", ["leak_groups"])
    t.eq(r.status, 23, "leaks make the exit status 23")
    leaks = r.findings("leak")
    t.eq([(f["count"], f["bytes"]) for f in leaks], [(2, 44), (3, 30), (1, 1)],
         "three groups, largest first (count, bytes)")
    t.eq(r.summary("leaked"), 6, "summary.leaked counts BSTRs")
    t.eq(r.summary("leaked_bytes"), 75, "summary.leaked_bytes")
    t.eq(r.summary("allocations"), 7, "allocations")
    t.eq(r.summary("frees"), 1, "frees")
    if len(leaks) == 3:
        check_frame(t, leaks[0], "alloc", "alloc_site_b", "scenarios.c")
        check_frame(t, leaks[1], "alloc", "alloc_site_a", "scenarios.c")
        check_frame(t, leaks[2], "alloc", "alloc_site_c", "scenarios.c")
        t.eq(leaks[1]["sample"], "alpha", "sample of the leaked string")
        t.eq(frame0(leaks[1], "alloc")["inlined"], False, "frame not inlined")
        second = leaks[1]["stacks"]["alloc"][1]
        t.eq(second.get("function"), "leak_groups", "second frame is the caller")
    t.ok("Leak of 2 BSTR(s), 44 bytes, allocated from:" in r.stderr, "text leak heading", r.stderr)
    t.ok("in alloc_site_b " in r.stderr and "scenarios.c:" in r.stderr,
         "text frames show function and file:line", r.stderr)
    t.ok('sample: "alpha"' in r.stderr, "text sample")
    last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    t.ok(last.startswith("SUMMARY: bstrcheck: 6 leaked BSTR(s) (75 bytes) in 3 group(s)"),
         "one SUMMARY line at the end", last)
    t.eq(r.stderr.count("SUMMARY:"), 1, "exactly one SUMMARY line")


def case_double_free(t):
    r = run("BC_SCENARIOS", ["double_free"])
    t.eq(r.status, 23, "exit status 23")
    t.ok("still running after the double free" in r.stdout, "program went on")
    found = r.findings("double_free")
    t.eq(len(found), 1, "one double_free finding")
    t.eq(r.summary("double_free"), 1, "summary.double_free")
    t.eq(r.summary("leaked"), 0, "a double-freed BSTR is not a leak")
    if found:
        check_frame(t, found[0], "free", "second_free_site", "scenarios.c")
        check_frame(t, found[0], "previous_free", "first_free_site", "scenarios.c")
        check_frame(t, found[0], "alloc", "alloc_site_a", "scenarios.c")
        t.eq(found[0]["count"], 1, "count 1")
    text = r.stderr
    t.ok("ERROR: bstrcheck: double_free" in text, "text names the kind", text)
    i_free = text.find("in second_free_site")
    i_prev = text.find("previously freed at:")
    i_alloc = text.find("allocated at:")
    t.ok(0 <= i_free < i_prev < i_alloc, "text shows this free, the previous free, the allocation", text)


def case_invalid_free(t):
    r = run("BC_SCENARIOS", ["invalid_free"])
    t.eq(r.status, 23, "exit status 23")
    t.ok("still running after the invalid free" in r.stdout, "program went on")
    found = r.findings("invalid_free")
    t.eq(len(found), 1, "one invalid_free finding")
    if found:
        check_frame(t, found[0], "free", "bogus_free_site", "scenarios.c")
        t.ok("not a BSTR" in found[0]["detail"], "detail says why", found[0]["detail"])
    t.eq(r.summary("invalid_free"), 1, "summary.invalid_free")
    t.eq(r.summary("frees"), 0, "an invalid free is not counted as a free")


def case_threads(t):
    r = run("BC_SCENARIOS", ["threads"])
    t.eq(r.status, 0, "exit 0")
    expected = int(r.stdout.split("allocations=")[1].split()[0]) if "allocations=" in r.stdout else -1
    t.eq(r.summary("allocations"), expected, "every allocation of every thread counted")
    t.eq(r.summary("frees"), expected, "every cross-thread free counted")
    t.eq(r.summary("leaked"), 0, "no leaks")
    t.eq(r.report["findings"], [], "no findings")


def case_errno_kept(t):
    r = run("BC_SCENARIOS", ["errno_kept"], "exitcode=0")
    t.eq(r.status, 0, "exit 0", r.stderr)
    t.ok("errno kept everywhere" in r.stdout, "every Sys* call leaves errno as the program set it: "
         "the first (which sets the shim up), error paths, a second thread's", r.stdout)
    t.eq(r.summary("double_free"), 3, "each round's double free was reported")


def case_exit_status(t):
    t.eq(run("BC_SCENARIOS", ["leak_and_exit_5"]).status, 23, "default exitcode 23 on findings")
    t.eq(run("BC_SCENARIOS", ["leak_and_exit_5"], "exitcode=0").status, 5,
         "exitcode=0 leaves the program's status")
    t.eq(run("BC_SCENARIOS", ["leak_and_exit_5"], "exitcode=9").status, 9, "exitcode=9")
    t.eq(run("BC_SCENARIOS", ["clean"], "exitcode=9").status, 0, "no findings: status untouched")


def case_detect_leaks_off(t):
    r = run("BC_SCENARIOS", ["leak_and_exit_5"], "detect_leaks=0")
    t.eq(r.status, 5, "leaks not reported: the program's own status")
    t.eq(r.findings("leak"), [], "no leak findings")
    t.eq(r.summary("allocations"), 1, "allocation still counted")


def check_sample(t, r, expected, text_expected):
    leaks = r.findings("leak")
    t.eq(len(leaks), 1, "one leak")
    if leaks:
        t.eq(leaks[0]["sample"], expected, "sample converted to UTF-8 with NUL kept")
        t.eq(leaks[0]["bytes"], 8 * (2 if "wide" not in text_expected else 4), "bytes")
    t.ok(f'sample: "{text_expected.replace("wide", "")}"' in r.stderr, "text sample escaped", r.stderr)


def case_leak_sample(t):
    r = run("BC_SCENARIOS", ["leak_sample"])
    check_sample(t, r, 'q"\\\n\u00e9\u4e2d\u0000z', 'q\\"\\\\\\n\u00e9\u4e2d\\0z')


def case_leak_sample_wide(t):
    r = run("BC_SCENARIOS_WIDE", ["leak_sample"], "olechar=4")
    check_sample(t, r, 'q"\\\n\u00e9\u4e2d\u0000z', 'q\\"\\\\\\n\u00e9\u4e2d\\0zwide')
    r = run("BC_SCENARIOS_WIDE", ["clean"], "olechar=4")
    t.eq(r.status, 0, "wchar_t program is clean with olechar=4")
    t.eq(r.report["findings"], [], "no findings at width 4")


def case_static_destructors(t):
    r = run("BC_STATIC_DTOR")
    t.eq(r.status, 0, "exit 0: static destructors freed their BSTRs before the report")
    t.eq(r.summary("allocations"), 3, "three held BSTRs allocated")
    t.eq(r.summary("frees"), 3, "all three freed by destructors")
    t.eq(r.findings("leak"), [], "no leaks")


def case_preload_only(t):
    bare = run("BC_PRELOAD_ONLY", preload=False, json_report=False)
    t.eq(bare.status, 3, "without the shim the program has no BSTR runtime")
    r = run("BC_PRELOAD_ONLY")
    t.eq(r.status, 23, "under LD_PRELOAD the shim is its runtime and finds the leak")
    t.eq(r.summary("allocations"), 2, "allocations")
    t.eq(r.summary("leaked"), 1, "one leak")
    t.ok("9" in r.stdout, "SysStringLen answered", r.stdout)


def case_fd_numbers(t):
    """The shim keeps descriptors of its own (libunwind's validation pipe)
    above the numbers a program expects: its first open() gives what it
    gives without the shim, and a closed stdin stays closed."""
    script = ('import os, subprocess\n'
              'print("first fd", os.open("/dev/null", os.O_RDONLY))\n'
              'p = subprocess.run(["cat"], stdin=subprocess.DEVNULL if False else None, '
              'stderr=subprocess.PIPE, text=True, pass_fds=(), close_fds=True, '
              'preexec_fn=lambda: os.close(0))\n'
              'print("cat with stdin closed:", p.returncode, p.stderr.strip())\n')
    outs = []
    for preload in (False, True):
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        env["BSTRCHECK_OPTIONS"] = "report_empty=0"
        if preload:
            env["LD_PRELOAD"] = os.environ["BC_SHIM"]
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, timeout=60)
        outs.append(proc.stdout)
    t.ok("first fd 3" in outs[0], "premise: without the shim the first open() gives 3", outs[0])
    t.eq(outs[1], outs[0], "the same descriptor numbers and closed-stdin behaviour under the shim")


def case_log_path(t):
    workdir = scratch_dir("bstrcheck-log-")
    r = run("BC_SCENARIOS", ["leak_groups"], f"log_path={workdir}/log.%p")
    t.ok("SUMMARY" not in r.stderr, "report left stderr", r.stderr)
    pid = r.report["pid"] if r.report else None
    path = f"{workdir}/log.{pid}"
    t.ok(os.path.exists(path), "log written to the %p-expanded path", os.listdir(workdir))
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            t.ok("SUMMARY: bstrcheck: 6 leaked" in f.read(), "log holds the report")
    t.eq([n for n in os.listdir(workdir) if ".tmp." in n], [], "no temporary file left")
    r2 = run("BC_SCENARIOS", ["leak_groups"], "log_path=/nonexistent-dir/x.log")
    t.ok("cannot write report" in r2.stderr and "SUMMARY" in r2.stderr,
         "unwritable log_path: one warning, report falls back to stderr", r2.stderr)
    t.eq(r2.status, 23, "still the findings status")
    shutil.rmtree(workdir, ignore_errors=True)


def case_bad_options(t):
    r = run("BC_SCENARIOS", ["clean"], "bogus=1:olechar=3:exitcode=abc:noequals")
    t.eq(r.status, 0, "bad options never stop the program")
    lines = [l for l in r.stderr.splitlines() if "bstrcheck: warning" in l]
    t.eq(len(lines), 4, "one warning line per bad item")
    t.ok(any("'bogus'" in l for l in lines), "names the unknown option", lines)
    t.ok(any("'olechar'" in l and "2|4" in l for l in lines), "names the bad value and valid choices", lines)
    t.eq(r.summary("allocations"), 4, "defaults kept, program tracked")


def case_help(t):
    r = run("BC_SCENARIOS", ["clean"], "help=1")
    for name in ("mode", "olechar", "exitcode", "detect_leaks", "log_path", "json_path",
                 "sarif_path", "suppressions", "max_findings", "gen_suppressions",
                 "report_empty", "max_frames", "quarantine_kb", "help"):
        t.ok(f"  {name} " in r.stderr, f"help lists {name}", r.stderr)
    t.eq(r.status, 0, "help does not change the run")


def case_options_documented(t):
    """help=1 and the README's options table come from the same declaration."""
    r = run("BC_SCENARIOS", ["clean"], "help=1")
    helped = {}
    for line in r.stderr.splitlines():
        parts = line.split()
        if line.startswith("  ") and len(parts) >= 3 and parts[1] == "default":
            helped[parts[0]] = parts[2]
    readme = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")
    documented = {}
    with open(readme, encoding="utf-8") as f:
        in_table = False
        for line in f:
            if line.startswith("| name | default | meaning |"):
                in_table = True
                continue
            if in_table and not line.startswith("|"):
                break
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if in_table and len(cells) >= 2 and not cells[0].startswith("---"):
                documented[cells[0]] = cells[1]
    t.ok(len(helped) >= 9, "help=1 printed the table", r.stderr)
    t.eq(sorted(documented), sorted(helped), "README documents exactly the options help=1 lists")
    for name, default in helped.items():
        t.eq(documented.get(name), default, f"README default of {name}")


def case_report_empty(t):
    r = run("BC_SCENARIOS", [])
    t.eq(r.status, 2, "no scenario: the program's usage error, no BSTR touched")
    t.ok(r.report is not None, "by default even an empty report is written")
    r = run("BC_SCENARIOS", [], "report_empty=0")
    t.eq(r.report, None, "report_empty=0: no JSON for a process that touched no BSTR")
    r = run("BC_SCENARIOS", ["clean"], "report_empty=0")
    t.ok(r.report is not None and r.summary("allocations") == 4,
         "report_empty=0 still writes a process that allocated")
    r = run("BC_SCENARIOS", ["invalid_free"], "report_empty=0")
    t.ok(r.report is not None and r.summary("invalid_free") == 1,
         "report_empty=0 still writes a process with an event and no allocation")


def case_quarantine_off(t):
    r = run("BC_SCENARIOS", ["double_free"], "quarantine_kb=0")
    t.ok("still running after the double free" in r.stdout, "program went on")
    t.eq(len(r.findings("invalid_free")) + len(r.findings("double_free")), 1,
         "without quarantine the second free is still reported (as invalid_free)")
    t.eq(r.status, 23, "exit status 23")


def case_example(t):
    r = run("BC_GREETER")
    t.eq(r.status, 23, "the example's planted bugs fail the run")
    leaks = r.findings("leak")
    t.eq([(f["count"]) for f in leaks], [3], "one leak group of 3 [out] greetings")
    if leaks:
        t.eq(leaks[0]["sample"], "Hello, Ada", "the sample is the group's oldest BSTR")
        functions = [f.get("function") for f in leaks[0]["stacks"]["alloc"]]
        t.ok("Greeter::GetGreeting(char16_t**)" in functions, "demangled C++ method in the stack", functions)
    t.eq(r.summary("double_free"), 2, "callee-freed [out] and [in] freed twice")
    first_frees = sorted(frame0(f, "previous_free").get("function") or "" for f in r.findings("double_free"))
    t.eq(first_frees, ["Greeter::GetTitle(char16_t**)", "Greeter::Log(char16_t*)"],
         "the callees that freed first")


def case_client_api(t):
    bare = run("BC_CLIENT_API", preload=False, json_report=False)
    t.eq(bare.status, 0, "runs without the shim")
    t.ok("active=0 leaked=0 none=0 after_free=0" in bare.stdout, "every call is a no-op returning 0", bare.stdout)
    r = run("BC_CLIENT_API")
    t.ok("active=1 leaked=2 none=0 after_free=0" in r.stdout, "checkpoint counts BSTRs live since the marker", r.stdout)
    t.ok("since the checkpoint" in r.stderr and "SUMMARY: bstrcheck: 2 leaked BSTR(s)" in r.stderr,
         "leaks_since(marker, 1) reports them", r.stderr)
    t.ok('sample: "one"' in r.stderr and 'sample: "three"' in r.stderr, "both leaked strings shown")
    t.eq(r.status, 0, "everything freed before exit: exit 0")


def misuse(t, scenario, options="", expect_status=23, goes_on=True):
    r = run("BC_MISUSE", [scenario], options)
    if expect_status is not None:
        t.eq(r.status, expect_status, f"{scenario}: exit status {expect_status}")
    if goes_on:
        t.ok("still running" in r.stdout, f"{scenario}: the program went on after the report", r.stdout)
    return r


def one_finding(t, r, kind):
    found = r.findings(kind)
    t.eq(len(found), 1, f"one {kind} finding")
    t.eq(r.summary(kind), 1, f"summary.{kind} counts it")
    return found[0] if found else {"stacks": {}, "detail": ""}


def case_use_after_free(t):
    r = misuse(t, "uaf_len")
    f = one_finding(t, r, "use_after_free")
    check_frame(t, f, "access", "read_len", "misuse.c")
    check_frame(t, f, "previous_free", "free_it", "misuse.c")
    check_frame(t, f, "alloc", "make_string", "misuse.c")
    t.ok("len=7" in r.stdout, "SysStringLen of the freed BSTR still answers its length", r.stdout)
    r = misuse(t, "uaf_pin")
    t.eq(r.summary("use_after_free"), 2, "SysAddRefString and SysReleaseString on a freed BSTR")


def case_write_after_free(t):
    r = misuse(t, "write_after_free")
    f = one_finding(t, r, "use_after_free")
    t.ok("write after free" in f["detail"] and "offset 2" in f["detail"] and "at exit" in f["detail"],
         "detail: a write after free, where, found at exit", f["detail"])
    check_frame(t, f, "previous_free", "free_it", "misuse.c")
    check_frame(t, f, "alloc", "make_string", "misuse.c")
    r = misuse(t, "write_after_free_evicted", "quarantine_kb=64")
    f = one_finding(t, r, "use_after_free")
    t.ok("left the quarantine" in f["detail"] and "offset 0" in f["detail"],
         "found when the BSTR left the quarantine", f["detail"])


def case_overflow(t):
    r = misuse(t, "overflow_at_free")
    f = one_finding(t, r, "overflow")
    t.ok("4 byte(s) past the end" in f["detail"] and "when it was freed" in f["detail"],
         "detail: how far past the end, found at free", f["detail"])
    check_frame(t, f, "alloc", "make_string", "misuse.c")
    check_frame(t, f, "access", "free_it", "misuse.c")
    r = misuse(t, "overflow_at_exit")
    f = one_finding(t, r, "overflow")
    t.ok("at exit" in f["detail"] and "4 byte(s) past the end" in f["detail"], "found at exit", f["detail"])
    t.eq(r.summary("leaked"), 1, "the overflowed BSTR also leaked")


def case_prefix_corrupt(t):
    r = misuse(t, "prefix_corrupt")
    f = one_finding(t, r, "prefix_corrupt")
    t.ok("is 9999" in f["detail"] and "14 bytes were allocated" in f["detail"],
         "detail gives the found and the recorded value", f["detail"])
    check_frame(t, f, "access", "read_len", "misuse.c")
    t.ok("len=7" in r.stdout, "SysStringLen answers the recorded length", r.stdout)
    t.eq(r.summary("leaked"), 0, "freed afterwards: no leak")


def case_invalid_free_inside(t):
    r = misuse(t, "free_inside")
    f = one_finding(t, r, "invalid_free")
    t.ok("4 bytes inside the BSTR" in f["detail"], "detail: how far inside", f["detail"])
    check_frame(t, f, "free", "free_it", "misuse.c")
    check_frame(t, f, "alloc", "make_string", "misuse.c")
    t.ok("len=7" in r.stdout, "that BSTR stays live", r.stdout)
    t.eq(r.summary("leaked"), 0, "and is freed later without a leak")


def case_invalid_bstr(t):
    r = misuse(t, "invalid_bstr")
    t.ok("0 0 0" in r.stdout, "readers return 0 for non-BSTRs, without crashing", r.stdout)
    t.eq(r.summary("invalid_bstr"), 3, "a literal, a stack buffer and a wild pointer")
    functions = sorted(frame0(f, "access").get("function") or "" for f in r.findings("invalid_bstr"))
    t.eq(functions, ["invalid_bstr", "invalid_bstr", "read_len"], "access stacks name the callers")


def case_mismatched_free(t):
    for scenario, options in (("mismatched_free", ""), ("mismatched_block", ""),
                              ("mismatched_after_alloc", "unwind=libunwind"),
                              ("mismatched_after_alloc", "unwind=fp")):
        r = misuse(t, scenario, options)
        f = one_finding(t, r, "mismatched_free")
        check_frame(t, f, "free", "c_free", "misuse.c")
        check_frame(t, f, "alloc", "make_string", "misuse.c")
        t.eq(r.summary("leaked"), 0, f"{scenario}: the BSTR counts as released, not leaked")
    r = misuse(t, "mismatched_realloc")
    one_finding(t, r, "mismatched_free")
    t.ok("copied=1" in r.stdout, "realloc() returned a block holding the old bytes", r.stdout)
    r = misuse(t, "mismatched_free", "catch_free=0:quarantine_kb=0", expect_status=None, goes_on=False)
    t.eq(r.findings("mismatched_free"), [], "catch_free=0 turns the watch off")


def case_pins(t):
    r = misuse(t, "pins")
    t.ok("len=7" in r.stdout, "a pinned BSTR survives SysFreeString", r.stdout)
    t.eq(r.summary("leaked"), 0, "freed when the last pin is released: no leak")
    t.eq(r.summary("use_after_free"), 0, "no use after free while pinned")
    f = one_finding(t, r, "invalid_bstr")
    t.ok("without a matching SysAddRefString" in f["detail"], "an unbalanced release is reported", f["detail"])


def case_guard_pages(t):
    r = misuse(t, "guard_overflow", "guard_pages=1", expect_status=-11)
    f = one_finding(t, r, "overflow")
    # "payload" is 14 bytes; the terminator fills the rest of the 16 accessible ones
    t.ok("guard page" in f["detail"] and "3 bytes past the end" in f["detail"],
         "the read past the end faulted at the guard page", f["detail"])
    check_frame(t, f, "access", "guard_overflow", "misuse.c")
    check_frame(t, f, "alloc", "make_string", "misuse.c")
    t.ok("SUMMARY" in r.stderr, "text report written before dying", r.stderr)
    r = misuse(t, "guard_uaf", "guard_pages=1", expect_status=-11)
    f = one_finding(t, r, "use_after_free")
    check_frame(t, f, "access", "guard_uaf", "misuse.c")
    check_frame(t, f, "previous_free", "free_it", "misuse.c")
    r = misuse(t, "guard_other_fault", "guard_pages=1", expect_status=7)
    t.ok("program's own SIGSEGV handler" in r.stdout, "other faults reach the program's handler", r.stdout)
    r = run("BC_MISUSE", ["guard_clean"], "guard_pages=1")
    t.eq(r.status, 0, "a clean program is clean in page-heap mode")
    t.ok("len=5" in r.stdout, "SysReAllocStringLen from inside works with guard pages", r.stdout)
    t.eq(r.report and r.report["findings"], [], "no findings")


def case_abort_on_error(t):
    r = misuse(t, "double_free_abort", "abort_on_error=1", expect_status=-6, goes_on=False)
    t.ok("still running" not in r.stdout, "stopped at the first error")
    t.ok("ERROR: bstrcheck: double_free" in r.stderr and "in free_it" in r.stderr,
         "the error was printed with its stacks first", r.stderr)


def bare_run(program, args=()):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return subprocess.run([os.environ[program], *args], env=env, capture_output=True, text=True,
                          timeout=90)


def case_forward_linked(t):
    bare = bare_run("BC_FORWARD_LINKED")
    t.eq(bare.returncode, 0, "runs with fakeole alone")
    clean = run("BC_FORWARD_LINKED")
    t.eq(clean.stdout, bare.stdout, "return values are the same as without the shim")
    t.eq((clean.status, clean.report["findings"]), (0, []), "a correct run is clean")
    t.eq(clean.summary("allocations"), clean.summary("frees"), "as many frees as allocations")
    r = run("BC_FORWARD_LINKED", ["bugs"])
    t.eq(r.status, 23, "findings fail the run")
    t.eq(r.report["mode"], "forward", "the report says mode forward")
    t.eq(r.summary("allocations"), 6, "every allocation counted, reallocs included")
    t.eq(r.summary("frees"), 4, "frees")
    leaks = r.findings("leak")
    t.eq([f["count"] for f in leaks], [2], "one group of two leaks")
    if leaks:
        check_frame(t, leaks[0], "alloc", "client_leak", "client.c")
        t.eq(leaks[0]["sample"], "client leak", "sample read with the width the runtime uses (4)")
        t.eq(leaks[0]["bytes"], 2 * 11 * 4, "bytes from the runtime's SysStringByteLen")
    f = one_finding(t, r, "double_free")
    check_frame(t, f, "free", "client_free", "client.c")
    check_frame(t, f, "previous_free", "client_free", "client.c")
    t.ok(f["stacks"]["free"][1]["line"] != f["stacks"]["previous_free"][1]["line"],
         "the two frees come from different lines")


def case_forward_dlopen(t):
    bare = bare_run("BC_FORWARD_DLOPEN", [os.environ["BC_FAKEOLE"]])
    t.eq(bare.returncode, 0, "runs without the shim")
    clean = run("BC_FORWARD_DLOPEN", [os.environ["BC_FAKEOLE"]])
    t.eq(clean.stdout, bare.stdout, "return values are the same as without the shim")
    t.eq((clean.status, clean.report["findings"]), (0, []), "a correct run is clean")
    r = run("BC_FORWARD_DLOPEN", [os.environ["BC_FAKEOLE"], "bugs"])
    t.eq(r.status, 23, "findings fail the run")
    t.eq(r.report["mode"], "forward", "mode forward: the module's own runtime")
    t.eq(r.summary("allocations"), 5, "allocations made inside the RTLD_LOCAL module are tracked")
    t.eq(r.summary("untracked_frees"), 1, "a free of a BSTR made out of sight is untracked, not an error")
    t.eq(r.summary("released_by_free"), 1, "a private free() of the block releases the record")
    t.eq(r.summary("mismatched_free"), 0, "and is not a mismatched free")
    t.eq(r.summary("leaked"), 1, "one leak")
    leaks = r.findings("leak")
    if leaks:
        check_frame(t, leaks[0], "alloc", "fake_leak", "fakeole.c")
        t.eq(leaks[0]["sample"], "leaked in fakeole", "sample")
    f = one_finding(t, r, "double_free")
    check_frame(t, f, "free", "fake_double_free", "fakeole.c")
    t.eq(r.summary("invalid_free"), 0, "no invalid frees")


def case_forward_dlclose(t):
    r = run("BC_FORWARD_DLOPEN", [os.environ["BC_FAKEOLE"], "close"], "quarantine_kb=4")
    t.ok("survived the unload" in r.stdout, "no call into the unloaded runtime", r.stderr[-2000:])
    t.eq(r.status, 0, "clean exit")
    t.eq(r.report and r.report["findings"], [], "no findings")


def case_auto_without_runtime(t):
    r = run("BC_SCENARIOS", ["clean"])
    t.eq(r.report["mode"], "own", "auto: no real runtime, so own")
    r = run("BC_SCENARIOS", ["clean"], "mode=forward")
    t.eq(r.report["mode"], "own", "forward asked, nothing to forward to: own")
    t.ok("mode=forward: no real BSTR runtime" in r.stderr, "with one warning", r.stderr)
    t.eq(r.status, 0, "and the run is clean")
    r = run("BC_FORWARD_LINKED", ["bugs"], "mode=own")
    t.eq(r.report["mode"], "own", "mode=own ignores the real runtime")
    t.eq(r.summary("leaked"), 2, "and still finds the leaks")


def tree_digest(root):
    import hashlib
    digest = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                digest[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return digest


def case_p7zip_roundtrip(t):
    seven = "/usr/lib/p7zip/7z"
    if not os.path.exists(seven):
        print("1..0 # SKIP p7zip-full is not installed")
        sys.exit(77)
    work = scratch_dir("bstrcheck-7z-")
    src = os.path.join(work, "src")
    for rel, data in [("données/été.txt", "été " * 100), ("日本語/ファイル.bin", "\x00\x01" * 300),
                      ("plain/readme.txt", "hello\n"), ("Ωmega/ß/ümlaut.md", "# ü\n" * 50)]:
        path = os.path.join(src, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(data)
    env = dict(os.environ, LD_PRELOAD=os.environ["BC_SHIM"])
    reports = []
    for step, args in (("a", ["a", "-bd", os.path.join(work, "t.7z"), "."]),
                       ("x", ["x", "-bd", "-o" + os.path.join(work, "out"), os.path.join(work, "t.7z")])):
        json_path = os.path.join(work, f"{step}.json")
        env["BSTRCHECK_OPTIONS"] = f"json_path={json_path}"
        proc = subprocess.run([seven, *args], env=env, cwd=src, capture_output=True, text=True, timeout=120)
        t.eq(proc.returncode, 0, f"7z {step} succeeds under the shim")
        if proc.returncode:
            print("# " + proc.stderr[-1500:].replace("\n", "\n# "))
        with open(json_path, encoding="utf-8") as f:
            reports.append(json.load(f))
    t.eq(tree_digest(os.path.join(work, "out")), tree_digest(src), "byte-identical round trip, non-ASCII names")
    for step, report in zip("ax", reports):
        s = report["summary"]
        t.ok(s["allocations"] > 0, f"7z {step}: BSTRs allocated inside 7z.so were tracked", s)
        t.eq(report["findings"], [], f"7z {step}: no leaks and no errors")
        t.eq(report["mode"], "forward", f"7z {step}: forwarded to 7z.so's runtime")
    shutil.rmtree(work, ignore_errors=True)


def case_dlclose(t):
    """A plugin leaks a BSTR and is dlclose()d before exit: its frames resolve."""
    r = run("BC_SCENARIOS", ["dlclose_leak"])
    t.ok("dlclose=0 errno_kept=1 unloaded=1" in r.stdout,
         "plugin really unloaded; dlclose's result and errno pass through", r.stdout + r.stderr)
    t.eq(r.status, 23, "the plugin's leak fails the run")
    leaks = r.findings("leak")
    t.eq(len(leaks), 1, "one leak")
    if leaks:
        check_frame(t, leaks[0], "alloc", "plugin_leak_site", "plugin_lib.c")
        t.ok(frame0(leaks[0], "alloc").get("module", "").endswith("libplugin.so"),
             "frame names the unloaded module", frame0(leaks[0], "alloc"))
        t.eq(leaks[0]["stacks"]["alloc"][1].get("function"), "plugin_leak",
             "second frame: the plugin's exported function")
    t.ok(" in plugin_leak_site " in r.stderr and "plugin_lib.c:" in r.stderr,
         "text report shows function and file:line", r.stderr)


def leak_blocks(text):
    return text.count("Leak of ")


def case_max_findings(t):
    full = run("BC_SCENARIOS", ["mixed"])
    t.eq(len(full.report["findings"]), 4, "mixed: one double_free and three leak groups")
    t.eq(leak_blocks(full.stderr), 3, "default cap (100) shows every leak group")
    t.ok("not shown" not in full.stderr, "no note without a cut", full.stderr)

    r = run("BC_SCENARIOS", ["mixed"], "max_findings=2", sarif=True)
    t.eq(r.stderr.count("ERROR: bstrcheck: double_free"), 1, "the error is shown first")
    t.eq(leak_blocks(r.stderr), 1, "then the largest leak group only")
    t.ok("Leak of 2 BSTR(s), 44 bytes" in r.stderr, "the largest group is the one kept", r.stderr)
    t.ok("2 more finding(s) not shown" in r.stderr, "note counts the findings cut", r.stderr)
    last = r.stderr.strip().splitlines()[-1]
    t.ok(last.startswith("SUMMARY: bstrcheck: 6 leaked BSTR(s) (75 bytes) in 3 group(s), 1 double_free"),
         "SUMMARY still counts everything, and comes last", last)
    t.eq(len(r.report["findings"]), 4, "JSON keeps every finding")
    t.eq(len((r.sarif or {"runs": [{"results": []}]})["runs"][0]["results"]), 4,
         "SARIF keeps every finding")

    r = run("BC_SCENARIOS", ["mixed"], "max_findings=1")
    t.eq(leak_blocks(r.stderr), 0, "max_findings=1: no leak block")
    t.ok("detected BSTR leaks" not in r.stderr, "no leak heading when no leak is shown", r.stderr)
    t.ok("3 more finding(s) not shown" in r.stderr, "three findings cut", r.stderr)

    r = run("BC_SCENARIOS", ["mixed"], "max_findings=0")
    t.eq(leak_blocks(r.stderr), 3, "max_findings=0: no cap")
    t.ok("not shown" not in r.stderr, "no note with max_findings=0", r.stderr)


def sarif_validator():
    """(validator, description) for the official schema if the machine has a
    copy, else for tests/integration/sarif-2.1.0-subset.schema.json."""
    import jsonschema  # Debian: python3-jsonschema (scripts/bootstrap)
    official = os.environ.get("BC_SARIF_SCHEMA", "")
    here = os.path.dirname(os.path.abspath(__file__))
    path = official or os.path.join(here, "sarif-2.1.0-subset.schema.json")
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema), ("the official schema " if official else "bstrcheck's subset schema ") + path


def schema_errors(validator, doc):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def locations_function(location):
    names = [l.get("fullyQualifiedName") for l in location.get("logicalLocations", [])]
    return names[0] if names else None


def case_sarif(t):
    r = run("BC_SCENARIOS", ["mixed"], sarif=True)
    log = r.sarif
    if not t.ok(log is not None, "SARIF report written", r.stderr):
        return
    try:
        validator, which = sarif_validator()
    except ImportError:
        t.ok(False, "python3-jsonschema is installed (scripts/bootstrap installs it)")
        validator = None
    if validator:
        errors = schema_errors(validator, log)
        t.eq(errors, [], f"valid against {which}")
    t.eq(log.get("version"), "2.1.0", "version 2.1.0")
    t.ok("sarif" in log.get("$schema", "") and "2.1.0" in log.get("$schema", ""), "$schema names SARIF 2.1.0")
    run0 = log["runs"][0]
    driver = run0["tool"]["driver"]
    t.eq(driver.get("name"), "bstrcheck", "tool.driver.name")
    t.eq(driver.get("version"), r.report["version"], "driver version is bstrcheck's")
    kinds = ["leak", "double_free", "invalid_free", "use_after_free", "overflow",
             "prefix_corrupt", "invalid_bstr", "mismatched_free"]
    t.eq([rule["id"] for rule in driver.get("rules", [])], kinds, "one rule per finding kind of INTERFACE.md")
    t.ok(all(rule.get("shortDescription", {}).get("text") for rule in driver.get("rules", [])),
         "every rule has a shortDescription")
    t.eq(run0["invocations"][0].get("processId"), r.report["pid"], "invocation names the process")

    results = run0.get("results", [])
    t.eq(sorted(x["ruleId"] for x in results), sorted(f["kind"] for f in r.report["findings"]),
         "one result per finding, ruleId = kind")
    t.ok(all(driver["rules"][x["ruleIndex"]]["id"] == x["ruleId"] for x in results),
         "ruleIndex points at the result's rule")
    t.ok(all(x.get("level") in ("none", "note", "warning", "error") for x in results), "levels are SARIF levels")

    leak_b = next((f for f in r.report["findings"] if f["kind"] == "leak" and f["count"] == 2), None)
    res_b = next((x for x in results if x["ruleId"] == "leak" and "2 BSTR(s)" in x["message"]["text"]), None)
    if t.ok(leak_b and res_b, "the 2-BSTR leak is a result", results):
        jframe = leak_b["stacks"]["alloc"][0]
        phys = res_b["locations"][0]["physicalLocation"]
        t.eq(phys["artifactLocation"]["uri"], "file://" + jframe["file"], "location: the user's source file as a file URI")
        t.eq(phys["region"]["startLine"], jframe["line"], "location: its line")
        t.eq(locations_function(res_b["locations"][0]), "alloc_site_b", "location: its function")
        text = res_b["message"]["text"]
        t.ok("44 bytes" in text and "bravo-bravo" in text, "message gives bytes and the sample", text)
        flow = res_b["codeFlows"][0]["threadFlows"][0]["locations"]
        t.eq(len(flow), len(leak_b["stacks"]["alloc"]), "code flow holds the full alloc stack")
        t.eq(locations_function(flow[-1]["location"]), "alloc_site_b", "code flow ends at the allocation")
        t.eq([l["nestingLevel"] for l in flow], list(range(len(flow))), "code flow goes from outermost call inwards")
        t.eq(locations_function(res_b["stacks"][0]["frames"][0]["location"]), "alloc_site_b",
             "stacks[0] starts at the innermost frame")

    df = next((x for x in results if x["ruleId"] == "double_free"), None)
    if t.ok(df is not None, "double_free result"):
        t.eq(locations_function(df["locations"][0]), "second_free_site", "located at the second free")
        t.eq([c["message"]["text"] for c in df["codeFlows"]],
             ["freed at", "previously freed at", "allocated at"], "one code flow per stack")
        t.eq([locations_function(c["threadFlows"][0]["locations"][-1]["location"]) for c in df["codeFlows"]],
             ["second_free_site", "first_free_site", "alloc_site_a"], "each flow ends at its call")
        t.eq(len(df["stacks"]), 3, "three SARIF stacks")
        # a freed BSTR's memory is never read, so a double free has no sample
        t.ok("(1 event(s))" in df["message"]["text"] and "already freed" in df["message"]["text"],
             "message gives the count and the detail", df["message"]["text"])


def case_sarif_schema_rejects(t):
    """The schema check has teeth: broken copies of a real report fail it."""
    import copy
    r = run("BC_SCENARIOS", ["mixed"], sarif=True)
    try:
        validator, which = sarif_validator()
    except ImportError:
        t.ok(False, "python3-jsonschema is installed (scripts/bootstrap installs it)")
        return
    t.eq(schema_errors(validator, r.sarif), [], f"the real report passes {which}")

    def broken(desc, mutate):
        doc = copy.deepcopy(r.sarif)
        mutate(doc)
        t.ok(schema_errors(validator, doc) != [], f"rejected: {desc}")

    res = lambda d: d["runs"][0]["results"][0]
    broken("version 2.0.0", lambda d: d.update(version="2.0.0"))
    broken("no runs", lambda d: d.pop("runs"))
    broken("no tool.driver.name", lambda d: d["runs"][0]["tool"]["driver"].pop("name"))
    broken("level 'fatal'", lambda d: res(d).update(level="fatal"))
    broken("message without text", lambda d: res(d).update(message={}))
    broken("misspelt physicalLocation",
           lambda d: res(d)["locations"][0].update(physicalLocations=res(d)["locations"][0].pop("physicalLocation")))
    broken("region startLine 0",
           lambda d: res(d)["locations"][0]["physicalLocation"]["region"].update(startLine=0))
    broken("empty threadFlow", lambda d: res(d)["codeFlows"][0]["threadFlows"][0].update(locations=[]))
    broken("stack without frames", lambda d: res(d)["stacks"][0].pop("frames"))


def case_three_reports(t):
    """log_path, json_path and sarif_path, all with %p, in one run."""
    workdir = scratch_dir("bstrcheck-three-")
    opts = f"log_path={workdir}/log.%p:json_path={workdir}/r.%p.json:sarif_path={workdir}/r.%p.sarif"
    r = run("BC_SCENARIOS", ["leak_groups"], opts, json_report=False)
    t.eq(r.status, 23, "findings status")
    names = sorted(os.listdir(workdir))
    pids = {n.split(".")[1] for n in names}
    t.eq(len(names), 3, "three files", names)
    t.eq(len(pids), 1, "all named with the same pid", names)
    pid = pids.pop() if len(pids) == 1 else "?"
    t.ok(pid.isdigit(), "%p became a number", names)
    try:
        with open(f"{workdir}/log.{pid}", encoding="utf-8") as f:
            t.ok("SUMMARY: bstrcheck: 6 leaked" in f.read(), "text report in log_path")
        with open(f"{workdir}/r.{pid}.json", encoding="utf-8") as f:
            j = json.load(f)
        t.eq(j["pid"], int(pid), "JSON report of this process")
        with open(f"{workdir}/r.{pid}.sarif", encoding="utf-8") as f:
            sl = json.load(f)
        t.eq(len(sl["runs"][0]["results"]), 3, "SARIF report with the three leak groups")
    except (OSError, ValueError) as exc:
        t.ok(False, "all three reports readable", exc)
    t.ok("SUMMARY" not in r.stderr, "nothing on stderr", r.stderr)
    shutil.rmtree(workdir, ignore_errors=True)


def case_reports_replaced_whole(t):
    """Report files are written aside and renamed: an old file linked at the
    path keeps its content (it is never written through), and no temporary
    file stays behind."""
    workdir = scratch_dir("bstrcheck-whole-")
    names = ("log.txt", "r.json", "r.sarif")
    for name in names:
        with open(f"{workdir}/old-{name}", "w", encoding="utf-8") as f:
            f.write("old content\n")
        os.link(f"{workdir}/old-{name}", f"{workdir}/{name}")
    opts = f"log_path={workdir}/log.txt:json_path={workdir}/r.json:sarif_path={workdir}/r.sarif"
    r = run("BC_SCENARIOS", ["leak_groups"], opts, json_report=False)
    t.eq(r.status, 23, "findings status")
    for name in names:
        with open(f"{workdir}/old-{name}", encoding="utf-8") as f:
            t.eq(f.read(), "old content\n", f"{name}: the old file was replaced, not written through")
        with open(f"{workdir}/{name}", encoding="utf-8") as f:
            text = f.read()
        t.ok(text != "old content\n" and os.stat(f"{workdir}/{name}").st_nlink == 1,
             f"{name}: a new file at the path")
        if name != "log.txt":
            try:
                json.loads(text)
                t.ok(True, f"{name}: complete JSON")
            except ValueError as exc:
                t.ok(False, f"{name}: complete JSON", exc)
    t.eq([n for n in os.listdir(workdir) if ".tmp." in n], [], "no temporary file left")
    shutil.rmtree(workdir, ignore_errors=True)


def suppressed_run(program, args, rules, options="", **kw):
    path = temp_file("bstrcheck.supp", rules)
    opts = f"suppressions={path}" + (f":{options}" if options else "")
    return run(program, args, opts, **kw), path


def case_suppress_function(t):
    r, _ = suppressed_run("BC_SCENARIOS", ["leak_groups"], "leak:alloc_site_b\n", sarif=True)
    t.eq([(f["count"], f["bytes"]) for f in r.findings("leak")], [(3, 30), (1, 1)],
         "alloc_site_b's group is gone, the others stay")
    t.eq(r.summary("suppressed"), 2, "summary.suppressed counts the group's 2 BSTRs")
    t.eq(r.summary("leaked"), 4, "summary.leaked counts unsuppressed BSTRs")
    t.eq(r.summary("leaked_bytes"), 31, "and their bytes")
    t.eq(r.status, 23, "remaining leaks still fail the run")
    t.ok("alloc_site_b" not in r.stderr, "text report leaves it out", r.stderr)
    t.ok("in 2 group(s), 2 suppressed;" in r.stderr, "SUMMARY counts the suppressed", r.stderr)
    t.eq(len(r.sarif["runs"][0]["results"]) if r.sarif else -1, 2, "SARIF leaves it out")
    t.eq(r.warnings(), [], "no warnings for a good file")


def case_suppress_kind(t):
    r, _ = suppressed_run("BC_SCENARIOS", ["mixed"], "double_free:alloc_site_a\n")
    t.eq(r.findings("double_free"), [], "double_free rule suppresses the double free")
    t.eq(len(r.findings("leak")), 3, "but not the leaks from the same function")
    t.eq(r.summary("double_free"), 0, "summary.double_free counts unsuppressed events")
    t.eq(r.summary("suppressed"), 1, "one event suppressed")

    r, _ = suppressed_run("BC_SCENARIOS", ["mixed"], "*:alloc_site_a\n")
    t.eq(r.findings("double_free"), [], "'*' applies to the double free")
    t.eq([f["count"] for f in r.findings("leak")], [2, 1], "and to alloc_site_a's leak group")
    t.eq(r.summary("suppressed"), 4, "1 event + 3 BSTRs")

    r, _ = suppressed_run("BC_SCENARIOS", ["mixed"], "leak:second_free_site\n")
    t.eq(len(r.report["findings"]), 4, "a leak rule naming a frame of the double free only: nothing suppressed")
    t.eq(r.summary("suppressed"), 0, "suppressed 0")


def case_suppress_module_and_file(t):
    exe = os.environ["BC_SCENARIOS"]
    for rule, desc in (("leak:scenarios", "module basename"), (f"leak:{exe}", "module full path"),
                       ("leak:scenarios.c", "file basename"), ("leak:*/integration/scenarios.c", "file path glob"),
                       ("leak:alloc_site_*", "function glob"), ("leak:*site*", "wildcards on both ends")):
        r, _ = suppressed_run("BC_SCENARIOS", ["leak_groups"], rule + "\n")
        t.eq((r.findings("leak"), r.summary("suppressed"), r.status), ([], 6, 0),
             f"{desc} ({rule}) suppresses all leaks, exit 0")
    for rule, desc in (("leak:alloc_site", "a prefix without '*'"), ("leak:scen", "part of a module name"),
                       ("leak:Alloc_site_a", "another case")):
        r, _ = suppressed_run("BC_SCENARIOS", ["leak_groups"], rule + "\n")
        t.eq(r.summary("suppressed"), 0, f"{desc} ({rule}) matches nothing: patterns match whole names")


def case_suppress_all(t):
    r, _ = suppressed_run("BC_SCENARIOS", ["leak_groups"], "# all of them\nleak:alloc_site_a\nleak:alloc_site_b\n\nleak:alloc_site_c\n", sarif=True)
    t.eq(r.status, 0, "everything suppressed: exit status untouched")
    t.eq(r.report["findings"], [], "JSON has no findings")
    t.eq(r.summary("suppressed"), 6, "summary.suppressed 6")
    t.eq(r.summary("leaked"), 0, "summary.leaked 0")
    t.ok("SUMMARY" not in r.stderr, "no text report, as for a clean run", r.stderr)
    t.eq(r.sarif["runs"][0]["results"] if r.sarif else None, [], "SARIF has no results")


def case_suppress_cpp(t):
    r, _ = suppressed_run("BC_GREETER", [], "leak:Greeter::GetGreeting\n")
    t.eq(r.findings("leak"), [], "a C++ method matches without its parameter list (LeakSanitizer's form)")
    t.eq(r.summary("suppressed"), 3, "the group's 3 BSTRs")
    t.eq(r.summary("double_free"), 2, "double frees untouched")
    t.eq(r.status, 23, "they still fail the run")
    r, _ = suppressed_run("BC_GREETER", [], "double_free:Greeter::Log(char16_t*)\n")
    t.eq(r.summary("double_free"), 1, "the full demangled name matches too")


def case_suppress_checkpoint(t):
    r, _ = suppressed_run("BC_CLIENT_API", [], "leak:main\n")
    t.ok("active=1 leaked=0 " in r.stdout, "bstrcheck_leaks_since counts unsuppressed leaks only", r.stdout)
    t.ok("since the checkpoint" not in r.stderr, "nothing to report at the checkpoint", r.stderr)


def case_suppress_bad_file(t):
    for path, desc in (("/nonexistent-dir/rules.supp", "a missing file"),
                       (scratch_dir("bstrcheck-dir-"), "a directory")):
        r = run("BC_SCENARIOS", ["leak_groups"], f"suppressions={path}")
        w = r.warnings()
        t.eq(len(w), 1, f"{desc}: one warning", r.stderr)
        t.ok(w and "cannot read suppressions file" in w[0] and path in w[0], f"{desc}: it names the file", w)
        t.eq(len(r.findings("leak")), 3, f"{desc}: the run goes on without suppressions")
        t.eq(r.status, 23, f"{desc}: findings status")


def case_suppress_malformed(t):
    rules = "# comment\n\nbogus line\nnokind:foo\nleak:\n   leak:alloc_site_b   \n"
    r, path = suppressed_run("BC_SCENARIOS", ["leak_groups"], rules)
    w = r.warnings()
    t.eq(len(w), 3, "one warning per malformed line", r.stderr)
    for line in (3, 4, 5):
        t.ok(any(f"{path}:{line}:" in x for x in w), f"a warning names {path}:{line}", w)
    t.eq(r.summary("suppressed"), 2, "the good rule (spaces trimmed) still applies")
    t.eq(r.status, 23, "the run goes on")


def case_gen_suppressions(t):
    r = run("BC_SCENARIOS", ["mixed"])
    t.eq(r.suppression_lines(), [], "no rules printed by default")
    r = run("BC_SCENARIOS", ["mixed"], "gen_suppressions=1")
    rules = r.suppression_lines()
    t.eq(sorted(rules), ["double_free:second_free_site", "leak:alloc_site_a", "leak:alloc_site_b",
                         "leak:alloc_site_c"], "one rule per finding, naming its user frame")
    again, _ = suppressed_run("BC_SCENARIOS", ["mixed"], "\n".join(rules) + "\n")
    t.eq((again.report["findings"], again.summary("suppressed"), again.status), ([], 7, 0),
         "the generated rules suppress every finding")
    g = run("BC_GREETER", [], "gen_suppressions=1")
    t.ok("leak:Greeter::GetGreeting" in g.suppression_lines(), "C++: the method without parameters",
         g.suppression_lines())
    again, _ = suppressed_run("BC_GREETER", [], "\n".join(g.suppression_lines()) + "\n")
    t.eq((again.report["findings"], again.status), ([], 0), "and they suppress the example's findings")


def case_unwind_fp(t):
    r = run("BC_SCENARIOS", ["leak_groups"], "unwind=fp")
    leaks = r.findings("leak")
    t.eq([(f["count"], f["bytes"]) for f in leaks], [(2, 44), (3, 30), (1, 1)],
         "the same groups as with libunwind")
    if len(leaks) == 3:
        check_frame(t, leaks[0], "alloc", "alloc_site_b", "scenarios.c")
        functions = [fr.get("function") for fr in leaks[0]["stacks"]["alloc"]]
        t.ok(functions[:2] == ["alloc_site_b", "leak_groups"] and "main" in functions,
             "the whole chain up to main, no shim frames", functions)
    r = run("BC_SCENARIOS", ["double_free"], "unwind=fp")
    f = one_finding(t, r, "double_free")
    check_frame(t, f, "free", "second_free_site", "scenarios.c")
    check_frame(t, f, "previous_free", "first_free_site", "scenarios.c")


def case_unwind_fp_garbage(t):
    # "stack": the bogus frame's return address is real code (main), so it is
    # kept; its link points down the stack, so the walk ends there.
    expected = {"unmapped": ["alloc_with_rbp"], "stack": ["alloc_with_rbp", "main"],
                "code": ["alloc_with_rbp"]}
    for kind in ("unmapped", "stack", "code"):
        r = run("BC_FP_GARBAGE", [kind], "unwind=fp")
        if r.status == 77:
            print("1..0 # SKIP x86-64 only")
            sys.exit(77)
        t.eq(r.status, 23, f"{kind}: no fault, the leak is reported")
        t.ok("len=2" in r.stdout, f"{kind}: the program went on", r.stdout)
        leaks = r.findings("leak")
        stack = leaks[0]["stacks"]["alloc"] if leaks else []
        t.eq([fr.get("function") for fr in stack], expected[kind],
             f"{kind}: the walk keeps the good frames and stops at the bad one")


def case_stack_cache_same_report(t):
    """The stack cache changes no stack: with it and without it, every
    finding of a program with many call chains is the same."""
    def findings(report):
        out = []
        for f in (report or {}).get("findings", []):
            stacks = {role: [(fr.get("function"), fr.get("line")) for fr in frames]
                      for role, frames in f.get("stacks", {}).items()}
            out.append((f["kind"], f["count"], f["bytes"], sorted(stacks.items())))
        return sorted(out)
    for unwind in ("libunwind", "fp"):
        cached = run("BC_STACK_MIX", options=f"unwind={unwind}:max_findings=0")
        plain = run("BC_STACK_MIX", options=f"unwind={unwind}:max_findings=0:stack_cache=0")
        t.eq(cached.status, 23, f"{unwind}: findings fail the run")
        mine = findings(cached.report)
        t.ok(len(mine) > 40, f"{unwind}: many distinct findings ({len(mine)})")
        t.ok(mine == findings(plain.report), f"{unwind}: the same findings without the cache",
             [m for m in mine if m not in findings(plain.report)][:3])
        t.eq(cached.warnings(), [], f"{unwind}: no warning (no self-check failed)")


def case_dlopen_after_static_tls(t):
    """The shim can be dlopen()ed after another library took 1 KiB of the
    spare static TLS: its own initial-exec TLS stays small."""
    shim, heavy = os.environ["BC_SHIM"], os.environ["BC_TLS_HEAVY_LIB"]
    r = run("BC_DLOPEN_LIBS", [heavy, shim], preload=False, json_report=False)
    t.eq(r.stdout.splitlines(), [f"{heavy}: ok", f"{shim}: ok"],
         "both load, the heavy one first", r.stdout + r.stderr)


def source_line(path, marker):
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if marker in line:
                return number
    return None


def case_inlined_frames(t):
    r = run("BC_INLINE_FRAMES")
    leaks = r.findings("leak")
    t.eq(len(leaks), 1, "one leak")
    stack = leaks[0]["stacks"]["alloc"] if leaks else [{}, {}]
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inline_frames.c")
    first, second = stack[0], stack[1] if len(stack) > 1 else {}
    t.eq((first.get("function"), first.get("inlined")), ("make_label", True),
         "the inlined function has a frame of its own, marked inlined")
    t.eq(first.get("line"), source_line(source, "INLINE-CALL-LINE"), "its line: the Sys* call")
    t.eq((second.get("function"), second.get("inlined")), ("build_label", False),
         "then the function it was inlined into")
    t.eq(second.get("line"), source_line(source, "OUTER-CALL-LINE"), "at the line of the inlined call")
    t.eq(first.get("pc"), second.get("pc"), "both frames come from one return address")
    t.ok("in make_label " in r.stderr and "in build_label " in r.stderr, "the text report shows both",
         r.stderr)


def case_free_stacks_off(t):
    r = run("BC_SCENARIOS", ["double_free"], "free_stacks=0")
    f = one_finding(t, r, "double_free")
    check_frame(t, f, "free", "second_free_site", "scenarios.c")
    t.ok("previous_free" not in f["stacks"], "no stack kept for the first free", f["stacks"].keys())


def run_cases(namespace, tap_class=Tap):
    """Run the case named on the command line: the function case_NAME in
    NAMESPACE (a suite's globals()), reporting through TAP_CLASS."""
    case = sys.argv[1] if len(sys.argv) > 1 else ""
    fn = namespace.get(f"case_{case}")
    if not fn:
        print(f"unknown case {case!r}", file=sys.stderr)
        sys.exit(2)
    t = tap_class()
    try:
        fn(t)
    except Exception as exc:  # a crash in a case is a failure, not an error
        t.ok(False, f"case {case} raised {type(exc).__name__}", exc)
    t.finish()


def main():
    run_cases(globals())


if __name__ == "__main__":
    main()
