#!/usr/bin/env python3
"""Integration cases for hostile input, fault injection and report files:
run a program under the shim, then check its JSON report, its output and
its exit status.

Usage: reliability.py CASE   (prints TAP; the programs come from BC_*
variables set by tests/integration/meson.build)
"""
import json
import os
import re
import resource
import shutil
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import frame0, run, run_cases, scratch_dir  # noqa: E402  (the integration suite's helpers)


# ------------------------------------------------------------ hostile input

def expected_counts(stdout):
    m = re.search(r"^expect (.*)$", stdout, re.M)
    return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())} if m else {}


def hostile(t, section, options="", status=23):
    r = run("BC_HOSTILE", [section], options)
    t.eq(r.status, status, f"{section}: exit status {status}, no crash")
    t.ok("still running" in r.stdout, f"{section}: the program went on", r.stdout + r.stderr)
    t.ok("bad=0" in r.stdout, f"{section}: every call returned what it should", r.stdout)
    expect = expected_counts(r.stdout)
    t.ok(bool(expect), f"{section}: the program said what to expect", r.stdout)
    for kind, n in expect.items():
        t.eq(r.summary(kind), n, f"{section}: summary.{kind}")
    t.eq(r.summary("leaked"), 0, f"{section}: nothing leaked")
    for f in (r.report or {}).get("findings", []):
        if not f.get("detail"):
            t.ok(False, f"{section}: a finding without detail", f)
            break
    return r


def case_hostile_pointers(t):
    r = hostile(t, "pointers")
    inside = [f for f in r.findings("invalid_free") if "inside the BSTR" in f["detail"]]
    t.eq(len(inside), 2, "frees inside a live BSTR name it")
    before = [f for f in r.findings("invalid_free") if "before the BSTR" in f["detail"]]
    t.eq(len(before), 1, "a free of the length prefix says 'before the BSTR'")
    t.ok(all(frame0(f, "free").get("function") == "not_a_bstr" for f in r.findings("invalid_free")),
         "free stacks start in the caller")


def case_hostile_args(t):
    r = hostile(t, "args")
    details = " ".join(f["detail"] for f in r.findings("invalid_bstr"))
    t.ok("psz 0x1 cannot point to memory the program owns" in details, "an impossible psz is named", details)
    t.ok("SysReAllocString: pbstr 0x1 cannot point" in details, "an impossible pbstr is named", details)


def case_hostile_freed(t):
    hostile(t, "freed")


def case_hostile_reused(t):
    r = hostile(t, "reused", "quarantine_kb=0")
    t.ok("reused=1" in r.stdout, "malloc did reuse the freed BSTR's block", r.stdout)


def case_hostile_lengths(t):
    # meson sets MALLOC_PERTURB_, which makes glibc's calloc write zeros over
    # a huge fresh mapping: the gigabytes touched would be glibc's, not ours
    os.environ.pop("MALLOC_PERTURB_", None)
    start = time.monotonic()
    hostile(t, "lengths", status=0)
    elapsed = time.monotonic() - start
    t.ok(elapsed < 10, f"huge strings are freed without touching them ({elapsed:.2f} s)")
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    t.ok(rss_mb < 512, f"peak memory stays small ({rss_mb:.0f} MiB)")


def case_hostile_guard_pages(t):
    os.environ.pop("MALLOC_PERTURB_", None)
    hostile(t, "pointers", "guard_pages=1")
    hostile(t, "args", "guard_pages=1")
    hostile(t, "lengths", "guard_pages=1", status=0)


# ----------------------------------------------------------- fault injection

def sequence(options, n=1000):
    r = run("BC_OOM_PATHS", ["sequence", str(n)], options)
    m = re.search(r"nulls=(\d+) digest=(\w+)", r.stdout)
    return r, (int(m.group(1)), m.group(2)) if m else (None, None)


def case_fault_nth(t):
    r, (nulls, _) = sequence("fail_nth=3", 10)
    t.ok("null at: 3\n" in r.stdout, "exactly the third allocation returned NULL", r.stdout)
    t.eq(r.summary("injected_failures"), 1, "summary.injected_failures counts it")
    t.eq(r.summary("allocations"), 9, "the failed one is no allocation")
    t.eq((r.status, r.report["findings"]), (0, []), "an injected failure is no finding")


def case_fault_rate(t):
    r, (nulls, digest) = sequence("fail_rate=0.25")
    t.ok(nulls is not None and 180 <= nulls <= 320, f"about a quarter failed ({nulls} of 1000)")
    t.eq(r.summary("injected_failures"), nulls, "each one counted")
    t.eq(r.summary("allocations"), 1000 - nulls, "the rest were made")
    _, again = sequence("fail_rate=0.25")
    t.eq(again, (nulls, digest), "the same run fails the same allocations (default seed)")
    _, seeded = sequence("fail_rate=0.25:fail_seed=0")
    t.eq(seeded, (nulls, digest), "fail_seed=0 is the default seed")
    _, other = sequence("fail_rate=0.25:fail_seed=7")
    t.ok(other[1] != digest, "another seed fails other allocations", (digest, other))
    _, same = sequence("fail_rate=0.25:fail_seed=7")
    t.eq(same, other, "and that seed is reproducible too")
    r, (nulls, _) = sequence("fail_rate=1", 100)
    t.eq(nulls, 100, "fail_rate=1 fails every allocation")
    t.eq(r.summary("injected_failures"), 100, "all counted")
    _, (nulls, _) = sequence("fail_rate=0", 100)
    t.eq(nulls, 0, "fail_rate=0 fails none")
    _, (nulls, _) = sequence("fail_rate=.5", 400)
    t.ok(100 < nulls < 300, f"'.5' is a decimal too ({nulls} of 400)")


def case_fault_realloc(t):
    r = run("BC_OOM_PATHS", ["realloc"], "fail_nth=2")
    t.ok("realloc=0 untouched=1" in r.stdout, "a failed SysReAllocString returns FALSE, *pbstr untouched", r.stdout)
    r = run("BC_OOM_PATHS", ["realloc"], "fail_nth=3")
    t.ok("realloc=1 untouched=0 realloc_len=0 untouched=1" in r.stdout,
         "a failed SysReAllocStringLen returns FALSE, *pbstr untouched", r.stdout)
    r = run("BC_OOM_PATHS", ["realloc"], "fail_nth=4")
    t.ok("byte_len=null" in r.stdout, "SysAllocStringByteLen fails too", r.stdout)
    t.eq((r.status, r.summary("leaked"), r.summary("injected_failures")), (0, 0, 1), "clean, one injected")


def case_fault_once_per_stack(t):
    r = run("BC_OOM_PATHS", ["walk", "10"], "fail_once_per_stack=1")
    t.ok("ok=7 oom=3 other=0" in r.stdout, "each of the three allocation sites failed once", r.stdout)
    t.eq(r.summary("injected_failures"), 3, "three injected failures")
    t.eq((r.status, r.report["findings"]), (0, []), "every error path cleans up: no leak, no error")
    bare = run("BC_OOM_PATHS", ["walk_buggy", "10"])
    t.eq((bare.status, bare.report["findings"]), (0, []), "without injection the buggy path never runs")
    r = run("BC_OOM_PATHS", ["walk_buggy", "10"], "fail_once_per_stack=1")
    t.ok("ok=8 oom=2" in r.stdout, "its two sites failed once each", r.stdout)
    t.eq(r.status, 23, "the leak on the error path fails the run")
    leaks = r.findings("leak")
    t.eq([f["count"] for f in leaks], [1], "one leaked BSTR")
    if leaks:
        t.eq(frame0(leaks[0], "alloc").get("function"), "make_person_buggy", "allocated in the buggy function")


def case_fault_bad_values(t):
    r, (nulls, _) = sequence("fail_rate=1.5:fail_rate=-1:fail_rate=nan:fail_rate=0,5:fail_rate=1e-1:"
                             "fail_nth=-1:fail_seed=x:fail_once_per_stack=2", 50)
    warnings = [l for l in r.stderr.splitlines() if "bstrcheck: warning" in l]
    t.eq(len(warnings), 8, "one warning per bad value", r.stderr)
    t.ok(all("valid:" in w for w in warnings), "each names the valid values", warnings)
    t.eq(nulls, 0, "the defaults stay: nothing is failed")
    t.eq(r.status, 0, "the program runs normally")


# --------------------------------------------------------------- report files

def case_symlink_refused(t):
    work = scratch_dir("bstrcheck-link-")
    target = os.path.join(work, "precious.txt")
    with open(target, "w") as f:
        f.write("precious")
    link = os.path.join(work, "report.json")
    os.symlink(target, link)
    r = run("BC_SCENARIOS", ["leak_groups"], f"json_path={link}:log_path={link}", json_report=False)
    t.ok(f"refusing to write report '{link}': it is a symbolic link" in r.stderr,
         "a symlink at the report path is refused with one clear line", r.stderr)
    with open(target) as f:
        t.eq(f.read(), "precious", "the link's target is untouched")
    t.ok(os.path.islink(link), "the link itself is left in place")
    t.ok("SUMMARY: bstrcheck: 6 leaked" in r.stderr, "the text report falls back to stderr")
    t.eq(r.status, 23, "the run keeps its findings status")
    t.eq(sorted(os.listdir(work)), ["precious.txt", "report.json"], "no temporary file left")
    shutil.rmtree(work, ignore_errors=True)


def read_fifo(path, out):
    with open(path, "rb") as f:
        out.append(f.read())


def case_fifo_report(t):
    work = scratch_dir("bstrcheck-fifo-")
    for option in ("json_path", "log_path"):
        fifo = os.path.join(work, option + ".fifo")
        os.mkfifo(fifo)
        got = []
        reader = threading.Thread(target=read_fifo, args=(fifo, got))
        reader.start()
        time.sleep(0.05)  # the reader is waiting for a writer
        r = run("BC_SCENARIOS", ["leak_groups"], f"{option}={fifo}", json_report=False)
        reader.join(30)
        t.ok(not reader.is_alive() and got, f"{option}: the report was written into the FIFO")
        data = got[0].decode("utf-8") if got else ""
        if option == "json_path":
            try:
                report = json.loads(data)
            except ValueError as exc:
                report = {}
                t.ok(False, "the FIFO carried valid JSON", exc)
            t.eq(report.get("summary", {}).get("leaked"), 6, "json_path: a whole, valid JSON report")
        else:
            t.ok("SUMMARY: bstrcheck: 6 leaked" in data, "log_path: the whole text report", data)
            t.ok("SUMMARY" not in r.stderr, "and nothing on stderr", r.stderr)
        t.ok(stat.S_ISFIFO(os.lstat(fifo).st_mode), f"{option}: the FIFO is still a FIFO (not replaced)")
        t.eq(r.status, 23, f"{option}: findings status")
    shutil.rmtree(work, ignore_errors=True)


def case_fifo_no_reader(t):
    work = scratch_dir("bstrcheck-fifo-")
    fifo = os.path.join(work, "nobody.fifo")
    os.mkfifo(fifo)
    start = time.monotonic()
    r = run("BC_SCENARIOS", ["leak_groups"], f"json_path={fifo}", json_report=False)
    t.ok(time.monotonic() - start < 20, "the exit does not wait for a reader")
    t.ok(f"cannot write report '{fifo}': it is a FIFO that no process has open for reading" in r.stderr,
         "one clear warning", r.stderr)
    t.eq(r.status, 23, "the run keeps its findings status")
    t.ok(stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO is left as it was")
    shutil.rmtree(work, ignore_errors=True)


def case_no_shell(t):
    """The shim starts no process: no shell, no popen, no exec."""
    shim = os.environ["BC_SHIM"]
    nm = shutil.which("nm")
    if not nm:
        print("1..0 # SKIP nm (binutils) is not installed")
        sys.exit(0)
    out = subprocess.run([nm, "-D", "--undefined-only", shim], capture_output=True, text=True,
                         check=True).stdout
    imported = {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}
    t.ok(len(imported) > 20, "nm listed the shim's imports", out)
    for name in ("system", "popen", "execl", "execle", "execlp", "execv", "execve", "execvp",
                 "execvpe", "fexecve", "posix_spawn", "posix_spawnp", "fork", "vfork", "clone",
                 "getenv"):
        t.ok(name not in imported, f"the shim does not import {name}()")
    t.ok("exit" not in imported, "the shim never calls exit() (uthash's out-of-memory default)")
    t.ok("secure_getenv" in imported, "options are read with secure_getenv()")


def main():
    run_cases(globals())


if __name__ == "__main__":
    main()
