#!/usr/bin/env python3
"""Integration cases for bstrcheck: run a program under the shim, then check
its JSON report, its text report and its exit status.

Usage: run.py CASE   (prints TAP; the programs come from BC_* variables set
by tests/integration/meson.build)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


class Tap:
    def __init__(self):
        self.count = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.count += 1
        print(f"{'ok' if cond else 'not ok'} {self.count} - {desc}")
        if not cond:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines():
                    print(f"# {line}")
        return cond

    def eq(self, got, expected, desc):
        return self.ok(got == expected, desc, f"expected {expected!r}\ngot      {got!r}")

    def finish(self):
        print(f"1..{self.count}")
        sys.exit(1 if self.failed or self.count == 0 else 0)


class Run:
    def __init__(self, proc, report, workdir):
        self.status = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.report = report
        self.workdir = workdir

    def findings(self, kind):
        return [f for f in (self.report or {}).get("findings", []) if f["kind"] == kind]

    def summary(self, name):
        return (self.report or {}).get("summary", {}).get(name)


def run(program, args=(), options="", preload=True, json_report=True):
    workdir = tempfile.mkdtemp(prefix="bstrcheck-it-")
    json_path = os.path.join(workdir, "report.json")
    opts = [f"json_path={json_path}"] if json_report else []
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
    return Run(proc, report, workdir)


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


def case_log_path(t):
    workdir = tempfile.mkdtemp(prefix="bstrcheck-log-")
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
        functions = [f.get("function") for f in leaks[0]["stacks"]["alloc"]]
        t.ok("Greeter::GetGreeting(char16_t**)" in functions, "demangled C++ method in the stack", functions)
    t.eq(r.summary("double_free"), 2, "callee-freed [out] and [in] freed twice")
    samples = sorted(f.get("sample") for f in r.findings("double_free"))
    t.eq(samples, ["Dr.", "started"], "the two double-freed strings")


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


def main():
    case = sys.argv[1] if len(sys.argv) > 1 else ""
    fn = globals().get(f"case_{case}")
    if not fn:
        print(f"unknown case {case!r}", file=sys.stderr)
        sys.exit(2)
    t = Tap()
    try:
        fn(t)
    except Exception as exc:  # a crash in a case is a failure, not an error
        t.ok(False, f"case {case} raised {type(exc).__name__}", exc)
    t.finish()


if __name__ == "__main__":
    main()
