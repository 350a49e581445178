#!/usr/bin/env python3
"""The stress suite: nothing lost, nothing crashed, under load.

Each case runs tests/stress/stress.c (or a scenario program) under the shim
and compares the JSON report with what the program counted itself.

Usage: run.py CASE   (prints TAP)
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from run import run, run_cases, scratch_dir  # noqa: E402  (the integration suite's helpers)


def counted(stdout):
    m = re.search(r"allocations=(\d+) frees=(\d+) leaked=(\d+) ops=(\d+) errors=(\d+)", stdout)
    return dict(zip(("allocations", "frees", "leaked", "ops", "errors"), map(int, m.groups()))) if m else {}


def exact(t, r, what):
    """The report's allocations, frees and leaked are the program's own counts."""
    mine = counted(r.stdout)
    t.ok(bool(mine), f"{what}: the program printed its counts", r.stdout + r.stderr[-2000:])
    t.eq(mine.get("errors"), 0, f"{what}: every length and content the program checked was right")
    for key in ("allocations", "frees", "leaked"):
        t.eq(r.summary(key), mine.get(key), f"{what}: summary.{key} is exactly the program's count")
    kinds = sorted({f["kind"] for f in (r.report or {}).get("findings", [])})
    t.eq(kinds, ["leak"], f"{what}: the only findings are the planted leaks")
    t.eq(r.status, 23, f"{what}: exit status 23 (the leaks)")
    return mine


def timed(t, what, fn):
    start = time.monotonic()
    result = fn()
    print(f"# {what}: {time.monotonic() - start:.2f} s")
    return result


def case_stress_threads(t):
    """8 threads, a million operations; again with a tiny quarantine (records
    leave it all the time, under the same locks), frame-pointer unwinding,
    and page-heap mode (200,000 operations: each BSTR is two mappings)."""
    for options, ops in (("", 1000000), ("quarantine_kb=16", 1000000), ("unwind=fp", 1000000),
                         ("mode=own:guard_pages=1", 200000)):
        what = f"threads ({options or 'defaults'})"
        r = timed(t, f"{ops:,} operations on 8 threads, {options or 'defaults'}",
                  lambda: run("BC_STRESS", ["threads", str(ops)], options))
        mine = exact(t, r, what)
        t.eq(mine.get("ops"), ops, f"{what}: {ops:,} operations")
        print(f"# allocations={mine.get('allocations')} frees={mine.get('frees')} "
              f"leaked={mine.get('leaked')}")


def case_stress_fork(t):
    children = 200
    work = scratch_dir("bstrcheck-fork-")
    pattern = os.path.join(work, "report-%p.json")
    r = timed(t, f"fork storm, {children} children",
              lambda: run("BC_STRESS", ["fork", "0", str(children)],
                          # 3 frames: the children's reports symbolize only the
                          # test program, not the C library's debug information
                          f"json_path={pattern}:log_path=/dev/null:max_frames=3",
                          json_report=False))
    parent_pid = None
    reports = {}
    for path in glob.glob(os.path.join(work, "report-*.json")):
        try:
            with open(path, encoding="utf-8") as f:
                reports[path] = json.load(f)
        except ValueError as exc:
            t.ok(False, f"{os.path.basename(path)} is valid JSON", exc)
    t.eq(len(reports), children + 1, "one report per process: the parent and every child")
    t.ok(not glob.glob(os.path.join(work, "*.tmp.*")), "no temporary file left behind")
    by_pid = {rep["pid"]: rep for rep in reports.values()}
    parents = [rep for rep in reports.values() if rep["parent_pid"] not in by_pid]
    t.eq(len(parents), 1, "exactly one report is the parent's")
    if parents:
        r.report = parents[0]
        parent_pid = parents[0]["pid"]
        mine = exact(t, r, "fork storm parent")
        print(f"# parent: ops={mine.get('ops')} allocations={mine.get('allocations')}")
    t.ok("children=%d bad_children=0" % children in r.stdout, "every child exited normally", r.stdout + r.stderr[-2000:])
    kids = [rep for rep in reports.values() if rep["pid"] != parent_pid]
    t.ok(all(rep["parent_pid"] == parent_pid for rep in kids), "every child report names the parent")
    own = [(rep["summary"]["allocations"], rep["summary"]["frees"], rep["summary"]["leaked"])
           for rep in kids]
    t.eq(sorted(set(own)), [(3, 2, 1)],
         "every child counted exactly its own BSTRs (3 made, 2 freed, 1 leaked), none inherited")
    shutil.rmtree(work, ignore_errors=True)


def case_stress_signals(t):
    r = timed(t, "signals, handler without Sys*", lambda: run("BC_STRESS", ["signals", "1000000"]))
    exact(t, r, "signals")
    m = re.search(r"signals=(\d+)", r.stdout)
    t.ok(m and int(m.group(1)) > 100, "the workers were interrupted often", r.stdout)


def case_stress_signals_sys(t):
    for round_ in range(3):
        r = timed(t, f"signals, handler calling Sys* (round {round_ + 1})",
                  lambda: run("BC_STRESS", ["signals_sys", "1000000"]))
        exact(t, r, f"signals_sys round {round_ + 1}")
        m = re.search(r"signals=(\d+) handler_frees_of_pool=(\d+)", r.stdout)
        t.ok(m and int(m.group(1)) > 100 and int(m.group(2)) > 0,
             "handlers allocated, freed their own and the workers' BSTRs", r.stdout)
        t.ok("could not look their BSTR up" not in r.stderr or "answered 0" in r.stderr,
             "unchecked calls, if any, are warned about", r.stderr[-1000:])


def case_stress_exit_load(t):
    """exit() from main while 8 threads call Sys*: 20 runs with the default
    options (the report finds the BSTRs the workers hold: status 23), then 5
    with detect_leaks=0 and 5 with exitcode=0, where the shim's destructor
    returns and the C library finishes exit() while the workers still run."""
    statuses = []
    runs = [""] * 20 + ["detect_leaks=0"] * 5 + ["exitcode=0"] * 5
    for i, options in enumerate(runs):
        start = time.monotonic()
        r = run("BC_STRESS", ["exit_load", "30"], options)
        elapsed = time.monotonic() - start
        statuses.append(r.status)
        ok = r.report is not None and elapsed < 20
        if ok:
            s = r.report["summary"]
            findings = r.report["findings"]
            expected = 23 if findings and options != "exitcode=0" else 0
            ok = (r.status == expected and {f["kind"] for f in findings} <= {"leak"}
                  and (options == "detect_leaks=0" or s["allocations"] - s["frees"] == s["leaked"]))
        t.ok(ok, f"run {i + 1} ({options or 'defaults'}): complete JSON, consistent counts, "
                 f"status {r.status} in {elapsed:.2f} s", (r.stdout + r.stderr)[-1500:])
    print(f"# exit statuses: {statuses}")


def case_stress_exit_in_handler(t):
    """exit() from a signal handler that interrupted a Sys* call: 20 runs,
    never a hang; a report when the interrupted call held nothing the
    report needs, else one warning after the watchdog's seconds."""
    watchdog = 0
    for i in range(20):
        start = time.monotonic()
        try:
            r = run("BC_STRESS", ["exit_in_handler"])
        except subprocess.TimeoutExpired:
            t.ok(False, f"run {i + 1}: the process hung")
            continue
        elapsed = time.monotonic() - start
        fired = "the exit report did not finish" in r.stderr
        watchdog += fired
        if fired:
            ok = r.status == 23 and r.report is None
        else:
            s = (r.report or {}).get("summary", {})
            ok = r.status == 23 and s and s["allocations"] - s["frees"] == s["leaked"]
        t.ok(ok, f"run {i + 1}: status {r.status} in {elapsed:.2f} s, "
                 f"{'watchdog' if fired else 'full report'}", (r.stdout + r.stderr)[-1500:])
    print(f"# {watchdog} of 20 runs ended by the watchdog")


def case_many_processes(t):
    """100 concurrent processes, each its own complete report (json_path with %p)."""
    work = scratch_dir("bstrcheck-many-")
    env = dict(os.environ)
    env["LD_PRELOAD"] = os.environ["BC_SHIM"]
    env["BSTRCHECK_OPTIONS"] = "json_path=" + os.path.join(work, "r-%p.json") + ":log_path=/dev/null"
    start = time.monotonic()
    procs = [subprocess.Popen([os.environ["BC_SCENARIOS"], "leak_groups"], env=env, cwd=work,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(100)]
    pids = {p.pid for p in procs}
    statuses = [p.wait(timeout=120) for p in procs]
    print(f"# 100 processes in {time.monotonic() - start:.2f} s")
    t.eq(statuses, [23] * 100, "every process exited with the findings status")
    files = glob.glob(os.path.join(work, "r-*.json"))
    t.eq(len(files), 100, "100 report files")
    seen, good = set(), 0
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                rep = json.load(f)
        except ValueError:
            continue
        seen.add(rep["pid"])
        good += (path.endswith(f"r-{rep['pid']}.json") and rep["summary"]["leaked"] == 6
                 and rep["summary"]["allocations"] == 7 and len(rep["findings"]) == 3)
    t.eq(good, 100, "each is valid JSON, named after its own pid, and complete")
    t.eq(seen, pids, "one per process")
    t.ok(not glob.glob(os.path.join(work, "*.tmp.*")), "no temporary file left behind")
    shutil.rmtree(work, ignore_errors=True)


def main():
    run_cases(globals())


if __name__ == "__main__":
    main()
