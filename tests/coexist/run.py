#!/usr/bin/env python3
"""Coexistence cases: the shim together with other allocators and
interposers. Each case runs a program under a combination and under the
shim alone, and compares the two: the same exit status and output, no
abort, no warning, and the same findings (kinds and counts) and counts.

Usage: run.py CASE   (prints TAP; programs come from BC_* variables set by
tests/coexist/meson.build)

  LIB-ORDER-PROGRAM  LIB: jemalloc, tcmalloc, mimalloc (the allocators) or
                     heaptrack (its preload library); ORDER: first
                     (LD_PRELOAD=LIB:shim) or after (LD_PRELOAD=shim:LIB);
                     PROGRAM: example (the Quick start greeter, three planted
                     bugs), catch_free (free() and realloc() of a BSTR) or
                     p7zip (7z a, then 7z x, trees compared)
  needed-ALLOC       the greeter linking ALLOC ahead of libbstrcheck.so
                     (DT_NEEDED), run as linked and with the shim preloaded
  valgrind           valgrind --trace-children=yes sh -c GREETER, the shim
                     preloaded (LD_PRELOAD in the environment)
  launcher           the launcher when LD_PRELOAD already holds an allocator,
                     heaptrack, or the shim after one of them
  split              a library ahead of the shim that defines free() alone:
                     one warning, free() and realloc() pass straight through

A case whose package is missing skips (exit 77) and says which;
scripts/bootstrap installs them all.
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

SHIM = os.environ.get("BC_SHIM", "")
GREETER = os.environ.get("BC_GREETER", "")
MISUSE = os.environ.get("BC_MISUSE", "")
LAUNCHER = os.environ.get("BC_LAUNCHER", "")
SEVEN = "/usr/lib/p7zip/7z"

# name -> (file, Debian package)
LIBS = {
    "jemalloc": ("libjemalloc.so.2", "libjemalloc2"),
    "tcmalloc": ("libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
    "mimalloc": ("libmimalloc.so.2", "libmimalloc2.0"),
    "heaptrack": ("heaptrack/libheaptrack_preload.so", "heaptrack"),
}

# Summary members compared between the runs (findings and exact counts;
# untracked_frees is left out: it depends on 7z's threads).
COUNTS = ("allocations", "frees", "leaked", "leaked_bytes", "double_free", "invalid_free",
          "use_after_free", "overflow", "prefix_corrupt", "invalid_bstr", "mismatched_free",
          "suppressed", "released_by_free", "injected_failures")


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
        sys.stdout.flush()
        return cond

    def eq(self, got, expected, desc, diag=None):
        more = f"\n{diag}" if diag is not None else ""
        return self.ok(got == expected, desc, f"expected {expected!r}\ngot      {got!r}{more}")

    def finish(self):
        print(f"1..{self.count}")
        sys.exit(1 if self.failed or self.count == 0 else 0)


def skip(why):
    print(f"1..0 # SKIP {why}")
    sys.exit(77)


def find_lib(name):
    """The library's path, or skip naming the Debian package to install."""
    file, package = LIBS[name]
    for pattern in (f"/usr/lib/*/{file}", f"/usr/lib/{file}", f"/lib/*/{file}",
                    f"/usr/lib64/{file}", f"/usr/local/lib/{file}"):
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    skip(f"{file} not found: install Debian's {package} (scripts/bootstrap does)")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "BSTRCHECK_OPTIONS", "DUMP_HEAPTRACK_OUTPUT")}
    env.update(extra)
    return env


class Result:
    def __init__(self, proc, reports):
        self.status = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.reports = reports

    def warnings(self):
        return [l for l in self.stderr.splitlines() if "bstrcheck: warning" in l]

    def aborted(self):
        return (self.status < 0 or self.status in (134, 139) or "invalid pointer" in self.stderr
                or "double free or corruption" in self.stderr)

    def digest(self):
        """Per process that used BSTRs: its findings' kinds and counts, and
        its summary counts; sorted, so the pids do not matter."""
        out = []
        for report in self.reports:
            s = report.get("summary", {})
            findings = sorted((f["kind"], f.get("count", 1)) for f in report.get("findings", []))
            counts = tuple((k, s.get(k)) for k in COUNTS)
            if findings or s.get("allocations"):
                out.append((tuple(findings), counts))
        return sorted(out)


_runs = 0


def run(argv, workdir, preload=None, options="", env=None, cwd=None, timeout=90):
    """Run ARGV with LD_PRELOAD=PRELOAD (None: unset), every process's JSON
    report in WORKDIR."""
    global _runs
    _runs += 1
    reports_dir = os.path.join(workdir, f"reports-{_runs}")
    os.mkdir(reports_dir)
    opts = f"json_path={reports_dir}/%p.json" + (f":{options}" if options else "")
    env = dict(env if env is not None else clean_env())
    env["BSTRCHECK_OPTIONS"] = opts
    env.pop("LD_PRELOAD", None)
    if preload is not None:
        env["LD_PRELOAD"] = preload
    proc = subprocess.run(argv, env=env, cwd=cwd or workdir, capture_output=True, text=True,
                          timeout=timeout)
    reports = []
    for name in sorted(os.listdir(reports_dir)):
        with open(os.path.join(reports_dir, name), encoding="utf-8") as f:
            reports.append(json.load(f))
    return Result(proc, reports)


def compare(t, label, got, base, expect_status=None):
    """The combination's run GOT against the shim-alone run BASE."""
    if expect_status is not None:
        t.eq(base.status, expect_status, f"{label}: shim alone exits {expect_status} (baseline)",
             base.stderr[-2000:])
    t.ok(not got.aborted(), f"{label}: no abort", f"status {got.status}\n{got.stderr[-3000:]}")
    t.eq(got.status, base.status, f"{label}: same exit status as under the shim alone",
         got.stderr[-3000:])
    t.eq(got.stdout, base.stdout, f"{label}: same program output")
    t.eq(got.warnings(), [], f"{label}: no bstrcheck warning")
    t.ok(len(got.digest()) > 0, f"{label}: the shim reported", got.stderr[-2000:])
    t.eq(got.digest(), base.digest(), f"{label}: same findings (kinds, counts) and counts")


def order_preload(lib, order):
    return f"{lib}:{SHIM}" if order == "first" else f"{SHIM}:{lib}"


def heaptrack_env(workdir, lib_name):
    """heaptrack's preload library writes its trace where this says."""
    if lib_name != "heaptrack":
        return clean_env(), None
    trace = os.path.join(workdir, f"heaptrack-{_runs + 1}.trace")
    return clean_env(DUMP_HEAPTRACK_OUTPUT=trace), trace


def check_heaptrack_trace(t, label, trace):
    if trace is None:
        return
    try:
        with open(trace, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        lines = []
        t.ok(False, f"{label}: heaptrack wrote its trace", e)
        return
    allocs = sum(1 for l in lines if l.startswith("+ "))
    frees = sum(1 for l in lines if l.startswith("- "))
    t.ok(allocs > 0 and frees > 0, f"{label}: heaptrack traced the program too "
         f"({allocs} allocations, {frees} frees)", "\n".join(lines[:20]))


# ----------------------------------------------------------------- programs

def program_example(t, workdir, lib_name, preload):
    for options in ("", "catch_free=0"):
        label = "greeter" + (f" ({options})" if options else "")
        base = run([GREETER], workdir, preload=SHIM, options=options)
        env, trace = heaptrack_env(workdir, lib_name)
        got = run([GREETER], workdir, preload=preload, options=options, env=env)
        compare(t, label, got, base, expect_status=23)
        kinds = sorted({f["kind"] for r in base.reports for f in r.get("findings", [])})
        t.eq(kinds, ["double_free", "leak"], f"{label}: the three planted bugs are found (baseline)")
        check_heaptrack_trace(t, label, trace)


def program_catch_free(t, workdir, lib_name, preload):
    for scenario in ("mismatched_free", "mismatched_realloc"):
        base = run([MISUSE, scenario], workdir, preload=SHIM)
        env, trace = heaptrack_env(workdir, lib_name)
        got = run([MISUSE, scenario], workdir, preload=preload, env=env)
        compare(t, scenario, got, base, expect_status=23)
        t.eq([f["kind"] for r in got.reports for f in r.get("findings", [])], ["mismatched_free"],
             f"{scenario}: the free()/realloc() wrapper caught it")
        check_heaptrack_trace(t, scenario, trace)


def tree_digest(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def make_tree(src):
    for rel, data in [("données/été.txt", "été " * 100), ("日本語/ファイル.bin", "\x00\x01" * 300),
                      ("plain/readme.txt", "hello\n"), ("Ωmega/ß/ümlaut.md", "# ü\n" * 50)]:
        path = os.path.join(src, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(data)
    # one time stamp for every run's tree: 7z stores them, and the archive's
    # size (which 7z prints) depends on them
    for dirpath, dirs, files in os.walk(src, topdown=False):
        for name in files + dirs:
            os.utime(os.path.join(dirpath, name), (1700000000, 1700000000))


def p7zip_round_trip(workdir, name, preload, env):
    """7z a, then 7z x, in WORKDIR/NAME (same relative paths for every
    run, so the output can be compared)."""
    top = os.path.join(workdir, name)
    src = os.path.join(top, "src")
    make_tree(src)
    results = []
    for args, cwd in ((["a", "-bd", "../t.7z", "."], src), (["x", "-bd", "-oout", "t.7z"], top)):
        results.append(run([SEVEN, *args], workdir, preload=preload, env=env, cwd=cwd, timeout=120))
    return results, tree_digest(src), tree_digest(os.path.join(top, "out"))


def program_p7zip(t, workdir, lib_name, preload):
    if not os.path.exists(SEVEN):
        skip(f"{SEVEN} not found: install Debian's p7zip-full (scripts/bootstrap does)")
    base, _, _ = p7zip_round_trip(workdir, "alone", SHIM, clean_env())
    env, trace = heaptrack_env(workdir, lib_name)
    got, src, out = p7zip_round_trip(workdir, "combined", preload, env)
    for step, g, b in zip("ax", got, base):
        compare(t, f"7z {step}", g, b, expect_status=0)
        rel = sum(r["summary"].get("released_by_free", 0) for r in g.reports)
        t.ok(rel > 0, f"7z {step}: the 7z program's private free() of tracked blocks was seen "
             f"({rel} released_by_free)")
    t.ok(len(src) == 4 and out == src, "byte-identical round trip", f"src {src}\nout {out}")
    check_heaptrack_trace(t, "7z", trace)


PROGRAMS = {"example": program_example, "catch_free": program_catch_free, "p7zip": program_p7zip}


def case_combination(t, workdir, lib_name, order, program):
    lib = find_lib(lib_name)
    PROGRAMS[program](t, workdir, lib_name, order_preload(lib, order))


# -------------------------------------------------------------- DT_NEEDED

def case_needed(t, workdir, alloc):
    exe = os.environ.get(f"BC_GREETER_NEEDS_{alloc.upper()}")
    lib = find_lib(alloc)
    if not exe or not os.path.exists(exe):
        skip(f"greeter-needs-{alloc} was not built: {LIBS[alloc][0]} was missing when Meson "
             f"configured this build directory (install {LIBS[alloc][1]}, then "
             f"meson setup --reconfigure)")
    needed = subprocess.run(["readelf", "-d", exe], capture_output=True, text=True).stdout
    libs = [l.split("[", 1)[1].rstrip("]") for l in needed.splitlines() if "(NEEDED)" in l]
    t.ok(LIBS[alloc][0] in libs and "libbstrcheck.so" in libs
         and libs.index(LIBS[alloc][0]) < libs.index("libbstrcheck.so"),
         f"the program needs {LIBS[alloc][0]} ahead of libbstrcheck.so", libs)
    base = run([GREETER], workdir, preload=SHIM)
    got = run([exe], workdir)
    compare(t, f"linked ({os.path.basename(lib)} first)", got, base, expect_status=23)
    got = run([exe], workdir, preload=SHIM)
    compare(t, "shim preloaded (shim first)", got, base)


# --------------------------------------------------------------- Valgrind

def case_valgrind(t, workdir):
    valgrind = shutil.which("valgrind")
    if not valgrind:
        skip("valgrind not found: install Debian's valgrind (scripts/bootstrap does)")
    script = '"$0"; status=$?; echo "greeter exited $status"; exit $status'
    base = run(["sh", "-c", script, GREETER], workdir, preload=SHIM)
    logs = os.path.join(workdir, "valgrind")
    os.mkdir(logs)
    got = run([valgrind, "--trace-children=yes", f"--log-file={logs}/vg.%p",
               f"--suppressions={os.environ['BC_VALGRIND_SUPP']}", "--error-exitcode=99",
               "sh", "-c", script, GREETER], workdir, preload=SHIM, timeout=110)
    compare(t, "valgrind sh -c greeter", got, base, expect_status=23)
    texts = []
    for name in sorted(os.listdir(logs)):
        with open(os.path.join(logs, name), encoding="utf-8", errors="replace") as f:
            texts.append(f.read())
    greeter_logs = [x for x in texts if f"Command: {GREETER}" in x]
    t.eq(len(greeter_logs), 1, "Valgrind followed sh into the greeter (--trace-children=yes)",
         "\n---\n".join(x[:600] for x in texts))
    for text in texts:
        command = next((l.split("Command: ", 1)[1] for l in text.splitlines() if "Command: " in l),
                       "?")
        summary = next((l.split("== ", 1)[1] for l in text.splitlines() if "ERROR SUMMARY" in l),
                       "no summary")
        t.ok(summary.startswith("ERROR SUMMARY: 0 errors"),
             f"Memcheck finds no error in {os.path.basename(command.split()[0])} "
             "(no block released by the wrong allocator)", text[-4000:])


# --------------------------------------------------------------- launcher

def launch(workdir, argv, preload, json_out=None, extra=None):
    env = clean_env(**(extra or {}))
    if preload is not None:
        env["LD_PRELOAD"] = preload
    flags = [f"--json={json_out}"] if json_out else []
    return subprocess.run([LAUNCHER, *flags, "--", *argv], env=env, capture_output=True,
                          text=True, timeout=90, cwd=workdir)


def merged_digest(path):
    with open(path, encoding="utf-8") as f:
        merged = json.load(f)
    out = []
    for report in merged.get("processes", []):
        s = report.get("summary", {})
        findings = sorted((x["kind"], x.get("count", 1)) for x in report.get("findings", []))
        out.append((tuple(findings), tuple((k, s.get(k)) for k in COUNTS)))
    return sorted(out)


def case_launcher(t, workdir):
    libs = {}
    for name, (file, _) in LIBS.items():
        for pattern in (f"/usr/lib/*/{file}", f"/usr/lib/{file}"):
            found = sorted(glob.glob(pattern))
            if found:
                libs[name] = found[0]
                break
    if not libs:
        skip("none of libjemalloc2, libtcmalloc-minimal4, libmimalloc2.0, heaptrack is "
             "installed (scripts/bootstrap installs them)")
    shim = os.path.realpath(SHIM)
    show = ["sh", "-c", 'printf %s "$LD_PRELOAD"']
    base_json = os.path.join(workdir, "alone.json")
    base = launch(workdir, [GREETER], None, base_json)
    t.eq(base.returncode, 23, "launcher, nothing preloaded: exit 23 (baseline)", base.stderr[-2000:])
    for name, lib in libs.items():
        for preset, expected in ((lib, f"{shim}:{lib}"), (f"{lib}:{shim}", f"{lib}:{shim}")):
            label = f"LD_PRELOAD={os.path.basename(preset.split(':')[0])}" + \
                    (":shim" if ":" in preset else "")
            trace = os.path.join(workdir, f"{name}-{len(preset)}.trace")
            extra = {"DUMP_HEAPTRACK_OUTPUT": trace} if name == "heaptrack" else {}
            if name != "heaptrack":  # heaptrack takes itself out of LD_PRELOAD as it starts
                r = launch(workdir, show, preset)
                t.eq(r.stdout, expected, f"{label}: the command's LD_PRELOAD", r.stderr[-1000:])
            out = os.path.join(workdir, f"{name}-{len(preset)}.json")
            r = launch(workdir, [GREETER], preset, out, extra)
            t.ok(r.returncode not in (134, 139) and "invalid pointer" not in r.stderr,
                 f"{label}: no abort", r.stderr[-2000:])
            t.eq(r.returncode, base.returncode, f"{label}: same exit status", r.stderr[-2000:])
            t.eq(r.stdout, base.stdout, f"{label}: same program output")
            t.eq([l for l in r.stderr.splitlines() if "bstrcheck: warning" in l], [],
                 f"{label}: no bstrcheck warning")
            try:
                t.eq(merged_digest(out), merged_digest(base_json),
                     f"{label}: same findings in the merged report")
            except (OSError, ValueError) as e:
                t.ok(False, f"{label}: same findings in the merged report", e)
            if name == "heaptrack":
                check_heaptrack_trace(t, label, trace)
    # AddressSanitizer's runtime refuses to start unless it comes first: the
    # launcher keeps it there and puts the shim right after it.
    asan = sorted(glob.glob("/usr/lib/*/libasan.so.[0-9]*"))
    if asan and "jemalloc" in libs:
        preset = f"{asan[0]}:{libs['jemalloc']}"
        r = launch(workdir, ["printenv", "LD_PRELOAD"], preset)
        t.eq(r.stdout.strip(), f"{asan[0]}:{shim}:{libs['jemalloc']}",
             "libasan stays first, the shim goes right after it", r.stderr[-1000:])


# ------------------------------------------------------------------ split

def case_split(t, workdir):
    """malloc() from glibc, free() from a layer ahead of the shim that
    defines nothing else: the family cannot be matched as a set."""
    layer = os.environ["BC_FREE_LAYER"]
    preload = f"{layer}:{SHIM}"
    base = run([GREETER], workdir, preload=SHIM)
    got = run([GREETER], workdir, preload=preload)
    t.ok(not got.aborted(), "greeter: no abort", got.stderr[-3000:])
    t.eq(got.status, base.status, "greeter: same exit status")
    t.eq(got.stdout, base.stdout, "greeter: same program output")
    t.eq(got.digest(), base.digest(), "greeter: same findings (kinds, counts) and counts")
    warnings = got.warnings()
    t.eq(len(warnings), 1, "one warning", got.stderr[-3000:])
    text = warnings[0] if warnings else ""
    t.ok(os.path.basename(layer) in text and "malloc()" in text and "free()" in text
         and "catch_free is off" in text,
         "it names the library that splits the family, and says catch_free is off", text)
    # free() of a BSTR's block (valid for the allocator): under the shim
    # alone a mismatched_free; here it goes straight to the allocator
    base = run([MISUSE, "mismatched_block"], workdir, preload=SHIM)
    t.eq([f["kind"] for r in base.reports for f in r.get("findings", [])], ["mismatched_free"],
         "free() of a BSTR's block, shim alone: mismatched_free (baseline)")
    got = run([MISUSE, "mismatched_block"], workdir, preload=preload)
    t.eq(got.stdout, "still running\n", "split: free() passes straight through, the program goes on",
         got.stderr[-3000:])
    t.ok("mismatched_free" not in [f["kind"] for r in got.reports for f in r.get("findings", [])],
         "split: and is not watched", got.stderr[-3000:])
    t.eq(len(got.warnings()), 1, "one warning in that process too", got.stderr[-3000:])


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    case = sys.argv[1]
    t = Tap()
    workdir = tempfile.mkdtemp(prefix="bstrcheck-coexist-")
    try:
        parts = case.split("-")
        if len(parts) == 3 and parts[0] in LIBS and parts[1] in ("first", "after") \
                and parts[2] in PROGRAMS:
            case_combination(t, workdir, *parts)
        elif len(parts) == 2 and parts[0] == "needed" and parts[1] in LIBS:
            case_needed(t, workdir, parts[1])
        elif case == "valgrind":
            case_valgrind(t, workdir)
        elif case == "launcher":
            case_launcher(t, workdir)
        elif case == "split":
            case_split(t, workdir)
        else:
            sys.exit(f"unknown case {case!r}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    t.finish()


if __name__ == "__main__":
    main()
