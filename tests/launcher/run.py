#!/usr/bin/env python3
"""Launcher cases: run programs and process trees through `bstrcheck`, then
check the merged JSON and SARIF reports, the text summary and the exit
status; also the documentation's checkpoints example, meson's --wrapper,
and an installed tree.

Usage: run.py CASE   (prints TAP; paths come from BC_* variables set by
tests/launcher/meson.build)
"""
import atexit
import glob
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from run import run_cases  # noqa: E402  (the integration suite's TAP helpers)


LAUNCHER = os.environ.get("BC_LAUNCHER", "")
SCENARIOS = os.environ.get("BC_SCENARIOS", "")


class Launch:
    def __init__(self, proc, report, sarif, tmpdir):
        self.status = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.report = report
        self.sarif = sarif
        self.tmpdir = tmpdir

    def processes(self):
        return (self.report or {}).get("processes", [])

    def summary_lines(self):
        return [l for l in self.stderr.splitlines() if l.startswith("bstrcheck: process ")]


def clean_env(**extra):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("BSTRCHECK_OPTIONS", None)
    env.update(extra)
    return env


WORKDIRS = []
atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in WORKDIRS])


def workdir(prefix):
    """A temporary directory, removed when the case ends."""
    path = tempfile.mkdtemp(prefix=prefix)
    WORKDIRS.append(path)
    return path


def launch(args, flags=(), env=None, launcher=LAUNCHER, json_report=True, sarif=False,
           timeout=90):
    """bstrcheck [--json=...] [--sarif=...] FLAGS -- ARGS, in a private TMPDIR."""
    work = workdir("bstrcheck-lt-")
    tmpdir = os.path.join(work, "tmp")
    os.mkdir(tmpdir)
    json_path = os.path.join(work, "merged.json")
    sarif_path = os.path.join(work, "merged.sarif")
    cmd = [launcher]
    if json_report:
        cmd.append(f"--json={json_path}")
    if sarif:
        cmd.append(f"--sarif={sarif_path}")
    cmd += [*flags, "--", *args]
    env = dict(env if env is not None else clean_env())
    env["TMPDIR"] = tmpdir
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, errors="replace",
                          timeout=timeout, cwd=work)
    report = sarif_log = None
    if os.path.exists(json_path):
        with open(json_path, encoding="utf-8") as f:
            report = json.load(f)
    if os.path.exists(sarif_path):
        with open(sarif_path, encoding="utf-8") as f:
            sarif_log = json.load(f)
    return Launch(proc, report, sarif_log, tmpdir)


def sh(script):
    """sh -c SCRIPT with $S the scenarios program."""
    return ["sh", "-c", f"S={shlex.quote(SCENARIOS)}; {script}"]


def case_merged_report(t):
    r = launch([SCENARIOS, "leak_groups"])
    t.eq(r.status, 23, "the command's own status (23 from the shim) is kept")
    rep = r.report or {}
    for key in ("tool", "version", "command", "exit_status", "summary", "processes"):
        t.ok(key in rep, f"merged report has '{key}'", list(rep))
    t.eq(rep.get("tool"), "bstrcheck", "tool")
    t.eq(rep.get("command"), [SCENARIOS, "leak_groups"], "command as given")
    t.eq(rep.get("exit_status"), 23, "exit_status")
    t.eq(len(r.processes()), 1, "one process")
    if r.processes():
        p = r.processes()[0]
        t.eq(p.get("tool"), "bstrcheck", "the process's own report, verbatim")
        t.eq(p["summary"]["leaked"], 6, "its leaks")
        t.eq(len(p["findings"]), 3, "its leak groups with stacks")
        t.eq(p["findings"][0]["stacks"]["alloc"][0]["function"], "alloc_site_b",
             "stacks are symbolized")
    t.eq(rep.get("summary", {}).get("leaked"), 6, "summed summary")
    t.eq(rep.get("summary", {}).get("allocations"), 7, "summed allocations")
    t.eq(len(r.summary_lines()), 1, "one summary line per process with findings", r.stderr)
    last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    t.ok(last.startswith("SUMMARY: bstrcheck (all processes): 6 leaked BSTR(s) (75 bytes)"),
         "total SUMMARY line last", last)
    t.ok("Leak of 2 BSTR(s), 44 bytes" in r.stderr, "the process's text report still on stderr")
    t.eq(os.listdir(r.tmpdir), [], "the private report directory is removed")

    clean = launch([SCENARIOS, "clean"])
    t.eq(clean.status, 0, "clean command: status 0")
    t.eq(clean.stderr, "", "clean run prints nothing")
    t.eq(len(clean.processes()), 1, "a process that used BSTRs is in the report")
    t.eq(clean.report.get("summary", {}).get("leaked"), 0, "nothing leaked")

    r = subprocess.run([LAUNCHER, "--json=stdout", "--", SCENARIOS, "leak_groups"],
                       capture_output=True, text=True, timeout=60, env=clean_env())
    t.eq(json.loads(r.stdout).get("summary", {}).get("leaked"), 6, "--json=stdout")

    quiet = launch(["sh", "-c", "exit 0"])
    t.eq(quiet.processes(), [], "processes that never touched a BSTR are left out")
    t.eq(quiet.report.get("summary"), {}, "empty summary without processes")


def case_exit_status(t):
    t.eq(launch(sh("$S leak_groups; exit 0")).status, 23,
         "command succeeded but findings remain: 23")
    t.eq(launch(sh("$S leak_groups; exit 7")).status, 7, "a failing command keeps its status")
    t.eq(launch(sh("$S clean; exit 0")).status, 0, "no findings: 0")
    t.eq(launch(sh("$S clean; exit 4")).status, 4, "no findings: the command's status")
    t.eq(launch([SCENARIOS, "leak_groups"], ["--exitcode=1"]).status, 1,
         "--exitcode=1 (the shim and the launcher)")
    t.eq(launch(sh("$S leak_groups; exit 0"), ["--exitcode=1"]).status, 1,
         "--exitcode=1 when the command itself succeeds")
    t.eq(launch([SCENARIOS, "leak_and_exit_5"], ["--exitcode=0"]).status, 5,
         "--exitcode=0 leaves every status alone")
    r = launch(sh("$S leak_groups; exit 0"), ["--exitcode=0"])
    t.eq(r.status, 0, "--exitcode=0: findings do not change a 0")
    t.eq(r.report["exit_status"], 0, "exit_status in the report is the command's")
    t.eq(r.report["launcher_exit_status"], 0, "launcher_exit_status: the launcher's own")
    r = launch(sh("$S leak_groups; exit 0"))
    t.eq((r.report["exit_status"], r.report["launcher_exit_status"]), (0, 23),
         "exit_status 0 from the command, launcher_exit_status 23")
    t.ok("SUMMARY: bstrcheck (all processes)" in r.stderr, "findings still summarized")
    env = clean_env(BSTRCHECK_OPTIONS="exitcode=9")
    t.eq(launch(sh("$S leak_groups; exit 0"), env=env).status, 9,
         "exitcode from an existing BSTRCHECK_OPTIONS")
    t.eq(launch(sh("$S leak_groups; exit 0"), ["--exitcode=4"], env=env).status, 4,
         "the launcher's flag wins over the environment")
    r = launch(["sh", "-c", "kill -TERM $$"])
    t.eq(r.status, 128 + 15, "killed by SIGTERM: 143, like a shell")
    t.eq(r.report["exit_status"], 143, "exit_status 143 in the report")
    r = launch(["sh", "-c", 'trap "exit 42" TERM; kill -TERM $PPID; '
                'sleep 5 >/dev/null 2>&1 & wait'])
    t.eq(r.status, 42, "SIGTERM to the launcher is passed on to the command")
    t.ok(r.report is not None, "and the launcher still writes the merged report")
    r = launch(["sh", "-c", "kill -INT $PPID; sleep 0.2; exit 3"])
    t.eq(r.status, 3, "SIGINT to the launcher alone does not stop it")
    r = launch(["/nonexistent/program"])
    t.eq(r.status, 127, "command not found: 127")
    t.ok("cannot run '/nonexistent/program'" in r.stderr, "one message naming it", r.stderr)
    r = launch(["/dev/null"])
    t.eq(r.status, 126, "not executable: 126")


def case_bad_usage(t):
    def usage_with(launcher, *argv):
        return subprocess.run([launcher, *argv], capture_output=True, text=True, timeout=30,
                              env=clean_env())

    def usage(*argv):
        return usage_with(LAUNCHER, *argv)

    r = usage("--foo=1", "--", "true")
    t.eq(r.returncode, 2, "unknown --foo: exit 2")
    t.eq(r.stderr, "bstrcheck: unknown option '--foo' (bstrcheck --help lists them)\n",
         "one clear line")
    r = usage("--foo", "true")
    t.eq(r.returncode, 2, "unknown --foo without value: exit 2")
    t.eq(len(r.stderr.splitlines()), 1, "one line", r.stderr)
    r = usage("--olechar=3", "true")
    t.eq(r.returncode, 2, "bad value: exit 2")
    t.ok("'3'" in r.stderr and "--olechar" in r.stderr and "2|4" in r.stderr,
         "names the value, the option and the choices", r.stderr)
    r = usage("--exitcode", "true")
    t.eq(r.returncode, 2, "option without value: exit 2")
    t.ok("--exitcode=VALUE" in r.stderr, "says how", r.stderr)
    r = usage("--json_path=x", "true")
    t.eq(r.returncode, 2, "--json_path is the launcher's own")
    t.ok("--json=FILE" in r.stderr, "points to --json", r.stderr)
    r = usage("--json=", "true")
    t.eq(r.returncode, 2, "--json= without a file")
    r = usage("--log_path=a:b", "true")
    t.eq(r.returncode, 2, "a value with ':' cannot travel in BSTRCHECK_OPTIONS")
    r = usage()
    t.eq(r.returncode, 2, "no command: exit 2")
    t.ok("usage:" in r.stderr, "one usage line", r.stderr)
    r = usage("-x", "true")
    t.eq(r.returncode, 2, "unknown short flag: exit 2")
    r = subprocess.run([LAUNCHER, "true"], capture_output=True, text=True, timeout=30,
                       env=clean_env(BSTRCHECK_OPTIONS="max_frames=8:" * 400))
    t.eq(r.returncode, 2, "BSTRCHECK_OPTIONS too long for the shim: exit 2")
    t.ok("more than the shim reads" in r.stderr, "says so", r.stderr)
    alone = os.path.join(workdir("bstrcheck-alone-"), "bstrcheck")
    shutil.copy(LAUNCHER, alone)
    r = usage_with(alone, "true")
    t.eq(r.returncode, 2, "no shim next to the launcher: exit 2")
    t.ok(r.stderr.startswith("bstrcheck: cannot find libbstrcheck.so: looked in ") and
         len(r.stderr.splitlines()) == 1, "one line saying where it looked", r.stderr)
    r = usage("-y", "true")
    t.eq(r.returncode, 2, "unknown short flag: exit 2")
    for result in (usage("--foo=1", "true"), usage("--olechar=3", "true"), usage()):
        t.eq(len(result.stderr.splitlines()), 1, "exactly one line of error")


def option_names():
    """The shim's option names, from interpose/base/options.inc."""
    path = os.path.join(os.environ["BC_SOURCE_ROOT"], "interpose", "base", "options.inc")
    with open(path, encoding="utf-8") as f:
        return re.findall(r"^BC_OPTION\(\w+, (\w+), \"([^\"]*)\"", f.read(), re.M)


def check_help_columns(t, text):
    """Every row of both tables keeps its columns two spaces apart."""
    lines = text.splitlines()
    flags = [l for l in lines if l.startswith("  --")]
    t.ok(len(flags) >= 5, "the launcher flags table is there", text)
    for line in flags:
        t.ok(re.match(r"^  (--[a-z]+(=FILE)?) {2,}\S", line) is not None,
             f"flag row '{line.split()[0]}': two spaces before its description", line)
    rows = {}
    for line in lines:
        m = re.match(r"^  (\w+) {2,}default (\S+) {2,}\S", line)
        if m:
            rows[m.group(1)] = m.group(2)
    for name, deflt in option_names():
        t.eq(rows.get(name), deflt or "(none)",
             f"option row '{name}': name, default and meaning two spaces apart")


def case_help_version(t):
    r = r_help = subprocess.run([LAUNCHER, "--help"], capture_output=True, text=True,
                                timeout=30)
    t.eq(r.returncode, 0, "--help exits 0")
    for flag in ("--json=FILE", "--sarif=FILE", "--help", "--version"):
        t.ok(flag in r.stdout, f"--help shows {flag}", r.stdout)
    for name in ("exitcode", "olechar", "report_empty", "json_path"):
        t.ok(f"  {name} " in r.stdout, f"--help lists the shim option {name}")
    r = subprocess.run([LAUNCHER, "--version"], capture_output=True, text=True, timeout=30)
    t.eq(r.returncode, 0, "--version exits 0")
    t.ok(r.stdout.startswith("bstrcheck ") and r.stdout.strip().split()[1][0].isdigit(),
         "--version prints the version", r.stdout)
    check_help_columns(t, r_help.stdout)
    man = os.path.join(os.environ["BC_SOURCE_ROOT"], "docs", "bstrcheck.1")
    with open(man, encoding="utf-8") as f:
        page = f.read()
    t.ok(page.startswith(".TH BSTRCHECK 1"), "man page header")
    for flag in ("json", "sarif", "help", "version", "exitcode"):
        t.ok(f"\\-\\-{flag}" in page, f"man page documents --{flag}")


def case_process_tree(t):
    r = launch(sh("$S leak_groups; $S leak_and_exit_5; $S leak_sample; exit 0"))
    t.eq(r.status, 23, "command 0 with findings: 23")
    procs = r.processes()
    pids = [p["pid"] for p in procs]
    t.eq(len(procs), 3, "three leaking children, the shell left out", pids)
    t.eq(len(set(pids)), 3, "three distinct pids")
    t.eq(sorted(p["summary"]["leaked"] for p in procs), [1, 1, 6], "each child's own leaks")
    t.eq(r.report["summary"]["leaked"], 8, "summed over the tree")
    t.eq(len(set(p["parent_pid"] for p in procs)), 1, "all children of the one shell")
    t.eq(len(r.summary_lines()), 3, "one line per process with findings", r.stderr)
    for pid in pids:
        t.ok(any(f"process {pid} " in l for l in r.summary_lines()), f"pid {pid} summarized")


def case_fork(t):
    r = launch([SCENARIOS, "fork"])
    procs = {p["pid"]: p for p in r.processes()}
    t.eq(len(procs), 2, "parent and child each report", sorted(procs))
    line = next((l for l in r.stdout.splitlines() if l.startswith("parent=")), "")
    fields = dict(kv.split("=") for kv in line.split())
    parent, child = int(fields.get("parent", -1)), int(fields.get("child", -2))
    t.ok(parent in procs and child in procs, "reports under the parent's and the child's pids",
         (line, sorted(procs)))
    if parent in procs and child in procs:
        p, c = procs[parent], procs[child]
        t.eq(p["summary"]["leaked"], 1, "parent: its one leak")
        t.eq(c["summary"]["leaked"], 2, "child: its own two leaks, not the inherited one")
        t.eq((c["summary"]["allocations"], c["summary"]["frees"], c["summary"]["double_free"]),
             (2, 0, 0), "child's counters and events cover only its own activity")
        t.eq((p["summary"]["allocations"], p["summary"]["frees"], p["summary"]["double_free"]),
             (2, 1, 1), "parent's allocations, free and double free")
        t.eq([f["kind"] for f in c["findings"]], ["leak", "leak"], "no inherited event in the child")
        t.eq([f["sample"] for f in p["findings"] if f["kind"] == "leak"], ["parent"],
             "parent's leak is 'parent'")
        t.eq(sorted(f["sample"] for f in c["findings"]), ["child", "child"],
             "child's leaks are 'child' only: no duplicate of the parent's")
        t.eq(c["parent_pid"], parent, "child's parent_pid")
    t.eq(r.report["summary"]["leaked"], 3, "3 leaks in the tree, none counted twice")
    t.eq(fields.get("child_status"), "23", "the child's own exit status reflects its leaks")


def case_fork_busy(t):
    env = clean_env(LD_PRELOAD=os.environ["BC_SHIM"])
    proc = subprocess.run([SCENARIOS, "fork_busy"], env=env, capture_output=True, text=True,
                          timeout=110)
    t.ok("hung=0 failed=0" in proc.stdout,
         "fork while threads use the table: no child hangs, no child reports inherited BSTRs",
         proc.stdout + proc.stderr[-2000:])
    t.eq(proc.returncode, 0, "exit 0")


def case_exec(t):
    r = launch([SCENARIOS, "exec_leak"])
    procs = r.processes()
    t.eq(len(procs), 1, "one process: exec keeps the pid, the old image never reports")
    if procs:
        t.eq(procs[0]["summary"]["leaked"], 6, "the new image is under the shim (its 6 leaks)")
        samples = [f.get("sample") for f in procs[0]["findings"]]
        t.ok("c" not in samples, "the old image's leak is gone with it", samples)
    t.eq(r.status, 23, "status from the new image")


def case_env_merge(t):
    shim = os.path.realpath(os.environ["BC_SHIM"])
    script = 'printf "%s\\n%s\\n" "$LD_PRELOAD" "$BSTRCHECK_OPTIONS"'
    env = clean_env(LD_PRELOAD="/nonexistent/libother.so",
                    BSTRCHECK_OPTIONS="olechar=4:exitcode=9")
    r = launch(["sh", "-c", script], ["--exitcode=3", "--max_frames=8"], env=env)
    lines = r.stdout.splitlines()
    preload = lines[0] if lines else ""
    options = lines[1] if len(lines) > 1 else ""
    t.eq(preload, f"{shim}:/nonexistent/libother.so",
         "shim prepended to the existing LD_PRELOAD")
    items = options.split(":")
    t.ok("olechar=4" in items and "exitcode=9" in items, "existing options kept", options)
    t.ok(items.index("exitcode=3") > items.index("exitcode=9") if "exitcode=3" in items else False,
         "the launcher's flags come after (and so win)", options)
    t.ok("max_frames=8" in items, "every --name=value is passed", options)
    t.ok(items[0] == "report_empty=0", "report_empty=0 first (the environment may override)",
         options)
    t.ok(items[-1].startswith("json_path=") and items[-1].endswith("%p.json"),
         "json_path last, per pid", options)
    env = clean_env(LD_PRELOAD=shim)
    r = launch(["sh", "-c", script], env=env)
    t.eq(r.stdout.splitlines()[0] if r.stdout else "", shim, "the shim is not preloaded twice")


def case_asan_program(t):
    """An AddressSanitizer program runs under the launcher: libasan first."""
    asan = os.environ.get("BC_ASAN_PROGRAM", "")
    if not asan:
        print("1..0 # SKIP the compiler cannot build -fsanitize=address programs")
        sys.exit(77)
    asan_env = dict(ASAN_OPTIONS="detect_leaks=0")

    def notes(r):
        return [l for l in r.stderr.splitlines() if l.startswith("bstrcheck: note:")]

    def runs(r, how):
        t.ok("does not come first" not in r.stderr, f"{how}: ASan does not abort", r.stderr)
        t.ok("length 5" in r.stdout, f"{how}: the program ran", r.stdout + r.stderr)
        t.eq(r.status, 23, f"{how}: exit status 23 (the shim's leak)", r.stderr)
        leaks = [f for p in r.processes() for f in p["findings"] if f["kind"] == "leak"]
        t.eq([f.get("sample") for f in leaks], ["kept by asan_program"],
             f"{how}: the shim reports the leaked BSTR", r.stderr)

    ldd = subprocess.run(["ldd", asan], capture_output=True, text=True).stdout
    libasan = next((l.split("=>")[1].split()[0] for l in ldd.splitlines()
                    if re.search(r"lib(asan|clang_rt\.asan)", l) and "=>" in l), "")
    if not libasan:
        # clang links its ASan runtime in by default: nothing must go first
        r = launch([asan], env=clean_env(**asan_env))
        runs(r, "ASan runtime linked in")
        t.eq(notes(r), [], "no note: no runtime to put first", r.stderr)
    else:
        r = launch([asan], env=clean_env(**asan_env))
        runs(r, "DT_NEEDED libasan")
        t.eq(len(notes(r)), 1, "one note says why", r.stderr)
        t.ok(notes(r) and "libasan.so" in notes(r)[0] and "first" in notes(r)[0],
             "the note names libasan and says it goes first", notes(r))
        # found through PATH, as posix_spawnp finds it
        env = clean_env(**asan_env)
        env["PATH"] = os.path.dirname(asan) + os.pathsep + env.get("PATH", "")
        runs(launch([os.path.basename(asan)], env=env), "found through PATH")
        # the user preloads libasan already: it stays first, the shim after it
        t.ok(libasan.startswith("/"), "ldd gives libasan's path", ldd)
        script = 'printf "%s\\n" "$LD_PRELOAD"; exec "$0"'
        r = launch(["sh", "-c", script, asan], env=clean_env(LD_PRELOAD=libasan, **asan_env))
        shim = os.path.realpath(os.environ["BC_SHIM"])
        t.eq(r.stdout.splitlines()[0] if r.stdout else "", f"{libasan}:{shim}",
             "LD_PRELOAD: the user's libasan, then the shim")
        t.eq(len(notes(r)), 1, "one note says the shim goes after it", r.stderr)
    # no note for a program without a sanitizer
    r = launch([SCENARIOS, "clean"])
    t.eq(notes(r), [], "no note for a program without AddressSanitizer")
    # a damaged program: the launcher reads it without crashing
    with open(asan, "rb") as f:
        image = f.read()
    work = workdir("bstrcheck-lt-elf-")
    blobs = [image[:64], image[:4096], image[:64] + bytes(4096), image[:16] + b"\xff" * 4096]
    rng = random.Random(15)  # headers and dynamic section with random bytes
    for _ in range(12):
        blob = bytearray(image)
        for _ in range(48):
            blob[rng.randrange(16, min(len(blob), 16384))] = rng.randrange(256)
        blobs.append(bytes(blob))
    for i, blob in enumerate(blobs):
        bad = os.path.join(work, f"bad{i}")
        with open(bad, "wb") as f:
            f.write(blob)
        os.chmod(bad, 0o755)
        r = launch([bad])
        # the command may fail or crash; the launcher still writes its report
        t.ok(r.report is not None and r.report.get("exit_status") == r.status,
             f"damaged ELF #{i}: the launcher read it without crashing", r.stderr)


def case_late_process(t):
    """A process that outlives the command finds the report directory gone:
    one plain line, no 'No such file or directory'."""
    # The background process writes a marker once it has reported, so the
    # test knows it ran; stderr stays open until it exits, so run() sees
    # everything it prints.
    work = workdir("bstrcheck-late-")
    done = os.path.join(work, "done")
    script = f'(sleep 1; "$S" leak_sample; echo $? > {shlex.quote(done)}) & exit 0'
    r = launch(sh(script))
    t.eq(r.status, 0, "the command itself exited 0 with nothing to report", r.stderr)
    t.ok(os.path.exists(done), "the late process ran to its end", r.stderr)
    t.ok("Leak of" in r.stderr, "its own text report is still printed", r.stderr)
    t.ok("No such file or directory" not in r.stderr and "cannot write report" not in r.stderr,
         "no error about the removed report directory", r.stderr)
    said = [l for l in r.stderr.splitlines() if "launcher has finished" in l]
    t.eq(len(said), 1, "one line says the launcher has finished", r.stderr)
    # two late processes: each says it once (per process), nothing else
    script = (f'for i in 1 2; do (sleep 1; "$S" leak_sample) & done; exit 0')
    r = launch(sh(script))
    said = [l for l in r.stderr.splitlines() if "launcher has finished" in l]
    t.eq(len(said), 2, "one line per late process", r.stderr)
    t.ok("cannot write report" not in r.stderr, "and no other complaint", r.stderr)
    # a report path outside a launcher's directory still says why it failed
    env = clean_env(BSTRCHECK_OPTIONS=f"json_path={work}/missing/report.json")
    proc = subprocess.run([SCENARIOS, "leak_sample"], env=dict(env, LD_PRELOAD=os.environ["BC_SHIM"]),
                          capture_output=True, text=True, timeout=60)
    t.ok("cannot write report" in proc.stderr and "No such file or directory" in proc.stderr,
         "a user's missing directory: the plain error, as before", proc.stderr)


def case_tmpdir(t):
    """TMPDIR is where the report directory goes, unless BSTRCHECK_OPTIONS cannot carry it."""
    base = workdir("bstrcheck-tmpdir-")
    odd = os.path.join(base, "a:b c")
    os.mkdir(odd)
    out = os.path.join(base, "merged.json")
    env = clean_env(TMPDIR=odd)
    script = ('printf %s "$BSTRCHECK_OPTIONS"; '
              f'{shlex.quote(SCENARIOS)} leak_groups 2>/dev/null; exit 0')
    r = subprocess.run([LAUNCHER, f"--json={out}", "--", "sh", "-c", script], env=env,
                       capture_output=True, text=True, timeout=60)
    t.ok("json_path=/tmp/bstrcheck." in r.stdout, "a TMPDIR with ':' or a space: /tmp instead",
         r.stdout)
    with open(out, encoding="utf-8") as f:
        t.eq(len(json.load(f)["processes"]), 1, "and the report is collected")
    plain = os.path.join(base, "plain")
    os.mkdir(plain)
    r = subprocess.run([LAUNCHER, "--", "sh", "-c", script], env=clean_env(TMPDIR=plain),
                       capture_output=True, text=True, timeout=60)
    t.ok(f"json_path={plain}/bstrcheck." in r.stdout, "a plain TMPDIR is used", r.stdout)
    t.eq(os.listdir(plain), [], "and left empty")


def case_sarif(t):
    r = launch(sh("$S leak_groups; $S double_free; exit 0"), sarif=True)
    log = r.sarif or {}
    t.eq(log.get("version"), "2.1.0", "version 2.1.0")
    t.ok("sarif" in log.get("$schema", "") and "2.1.0" in log.get("$schema", ""), "$schema",
         log.get("$schema"))
    runs = log.get("runs", [])
    t.eq(len(runs), 1, "one run")
    run = runs[0] if runs else {}
    driver = run.get("tool", {}).get("driver", {})
    t.eq(driver.get("name"), "bstrcheck", "tool.driver.name")
    rules = [rule["id"] for rule in driver.get("rules", [])]
    for kind in ("leak", "double_free", "invalid_free", "use_after_free", "invalid_bstr"):
        t.ok(kind in rules, f"rule {kind}", rules)
    results = run.get("results", [])
    findings = sum(len(p["findings"]) for p in r.processes())
    t.eq(len(results), findings, "one result per finding of every process")
    t.eq(findings, 4, "3 leak groups + 1 double free")
    for res in results:
        idx = res.get("ruleIndex")
        t.ok(isinstance(idx, int) and rules[idx] == res.get("ruleId"),
             f"ruleIndex matches ruleId {res.get('ruleId')}")
        t.ok(res.get("level") in ("error", "warning", "note") and res["message"]["text"],
             "level and message")
        loc = res.get("locations", [{}])[0].get("physicalLocation", {})
        uri = loc.get("artifactLocation", {}).get("uri", "")
        t.ok(uri.startswith("file:///") and uri.endswith("scenarios.c"),
             "location: the first frame with a file", uri)
        t.ok(isinstance(loc.get("region", {}).get("startLine"), int), "startLine")
    dfree = [res for res in results if res.get("ruleId") == "double_free"]
    if dfree:
        fqn = dfree[0]["locations"][0].get("logicalLocations", [{}])[0].get("fullyQualifiedName")
        t.eq(fqn, "second_free_site", "double free located at the second free")
    inv = run.get("invocations", [{}])[0]
    t.eq(inv.get("exitCode"), 23, "invocation exit code")
    t.eq(inv.get("executionSuccessful"), True, "executionSuccessful")


def case_sarif_matches_shim(t):
    """The shim's per-process SARIF and the launcher's merged SARIF come from one
    writer: the same rules, and for each finding the same location, stacks and
    code flows; the merged message adds the process."""
    from run import sarif_validator, schema_errors
    shim_dir = workdir("bstrcheck-lt-shim-")
    r = launch([SCENARIOS, "mixed"], [f"--sarif_path={shim_dir}/shim.%p.sarif"], sarif=True)
    shim_files = glob.glob(os.path.join(shim_dir, "shim.*.sarif"))
    if not t.eq(len(shim_files), 1, "the shim wrote its own SARIF", r.stderr):
        return
    with open(shim_files[0], encoding="utf-8") as f:
        shim = json.load(f)
    merged = r.sarif or {"runs": [{}]}
    shim_run, merged_run = shim["runs"][0], merged["runs"][0]
    t.eq(merged_run.get("tool", {}).get("driver", {}).get("rules"),
         shim_run["tool"]["driver"]["rules"], "identical rules")
    validator, which = sarif_validator()
    t.eq(schema_errors(validator, merged), [], f"the merged log passes {which}")
    shim_results = {x["partialFingerprints"]["bstrcheckFingerprint/v1"]: x
                    for x in shim_run["results"]}
    merged_results = merged_run.get("results", [])
    t.eq(len(merged_results), len(shim_results), "one merged result per shim result")
    pid = (r.processes() or [{}])[0].get("pid")
    for res in merged_results:
        mine = shim_results.get(res["partialFingerprints"]["bstrcheckFingerprint/v1"], {})
        for key in ("ruleId", "ruleIndex", "locations", "stacks", "codeFlows"):
            t.eq(res.get(key), mine.get(key), f"{res['ruleId']}: the same {key}")
        t.eq(res["message"]["text"], mine.get("message", {}).get("text", "") +
             f" In process {pid} ({SCENARIOS}).", f"{res['ruleId']}: the message, and the process")


def case_bad_reports(t):
    """Files in the report directory that are not reports are skipped with a warning."""
    plant = ("import os\n"
             "opts = os.environ['BSTRCHECK_OPTIONS'].split(':')\n"
             "d = os.path.dirname([o for o in opts if o.startswith('json_path=')][-1][10:])\n"
             "open(os.path.join(d, 'report.99998.json'), 'w').write('{\"tool\": \"bstrcheck\", ')\n"
             "open(os.path.join(d, 'report.99999.json'), 'w').write('{\"a\": [1, 2]}')\n"
             "open(os.path.join(d, 'report.99997.json'), 'wb').write(b'\\xff\\x00' * 100)\n"
             "open(os.path.join(d, 'report.99996.json.tmp.99996'), 'w').write('{')\n")
    r = launch(sh(f"python3 -c {shlex.quote(plant)}; $S leak_groups; exit 0"))
    warnings = [l for l in r.stderr.splitlines() if "skipping report" in l]
    t.eq(len(warnings), 3, "one warning per bad file (half-written ones dropped silently)",
         r.stderr)
    t.ok(all(l.startswith("bstrcheck: warning: skipping report 'report.9999") for l in warnings),
         "each names the file", warnings)
    t.eq(len(r.processes()), 1, "the good report is merged")
    t.eq(r.status, 23, "status still from the findings")
    t.eq(os.listdir(r.tmpdir), [], "directory removed, bad files too")


def case_checkpoints_example(t):
    example = os.environ["BC_CHECKPOINTS"]
    bare = subprocess.run([example], capture_output=True, text=True, timeout=30, env=clean_env())
    t.eq(bare.returncode, 0, "without the shim: every test passes")
    t.eq([l for l in bare.stdout.splitlines() if l.startswith(("ok", "not ok"))],
         ["ok 1 - length", "ok 2 - forgets_to_free", "ok 3 - empty"], "all ok", bare.stdout)
    r = launch([example])
    lines = [l for l in r.stdout.splitlines() if l.startswith(("ok", "not ok"))]
    t.eq(lines, ["ok 1 - length", "not ok 2 - forgets_to_free (leaked 1 BSTR(s))",
                 "ok 3 - empty"], "under the shim only the leaking test fails", r.stdout)
    t.ok("since the checkpoint" in r.stderr and 'sample: "never freed"' in r.stderr,
         "the checkpoint printed the leak", r.stderr)
    t.ok("checkpoints.md:" in r.stderr, "its stack points into docs/checkpoints.md", r.stderr)
    t.ok(r.status != 0, "the run fails", r.status)


def meson_cmd():
    return os.environ.get("BC_MESON", "meson")


def case_meson_wrapper(t):
    work = workdir("bstrcheck-mw-")
    build = os.path.join(work, "build")
    source = os.path.join(os.environ["BC_SOURCE_ROOT"], "tests", "launcher", "wrapper_project")
    env = clean_env()
    setup = subprocess.run([meson_cmd(), "setup", build, source], capture_output=True,
                           text=True, env=env, timeout=120)
    if not t.eq(setup.returncode, 0, "tiny project configured"):
        print("# " + setup.stdout[-2000:].replace("\n", "\n# "))
        return
    wrapper = f"{shlex.quote(LAUNCHER)} --exitcode=1 --"
    r = subprocess.run([meson_cmd(), "test", "-C", build, f"--wrapper={wrapper}"],
                       capture_output=True, text=True, env=env, timeout=120)
    t.ok(r.returncode != 0, "meson test fails: a test leaked", r.stdout[-2000:])
    results = {}
    # meson names the log after the wrapper: testlog-bstrcheck.json
    logs = glob.glob(os.path.join(build, "meson-logs", "testlog*.json"))
    t.eq(len(logs), 1, "one test log", logs)
    with open(logs[0], encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            results[entry["name"]] = (entry["result"], entry["returncode"])
    t.eq(results.get("frees"), ("OK", 0), "the clean test passes under the wrapper")
    t.eq(results.get("leaks"), ("FAIL", 1), "the leaking test fails with --exitcode=1")

    r = launch([meson_cmd(), "test", "-C", build], env=env, timeout=120)
    t.eq(r.status, 1, "bstrcheck -- meson test: meson's own status (a test failed)")
    exes = sorted(os.path.basename(p["exe"]) for p in r.processes())
    t.eq(exes, ["frees", "leaks"], "the tests' processes are in the merged report; meson, "
         "python and ninja used no BSTR and are left out", exes)
    t.eq(r.report["summary"].get("leaked"), 1, "one leak in the tree")


def case_install(t):
    dest = workdir("bstrcheck-inst-")
    build_root = os.environ["BC_BUILD_ROOT"]
    r = subprocess.run([meson_cmd(), "install", "-C", build_root, "--no-rebuild", "--quiet",
                        "--destdir", dest], capture_output=True, text=True, timeout=120,
                       env=clean_env())
    if not t.eq(r.returncode, 0, "meson install --destdir"):
        print("# " + (r.stdout + r.stderr)[-2000:].replace("\n", "\n# "))
        return

    def one(pattern):
        found = glob.glob(os.path.join(dest, "**", pattern), recursive=True)
        return found[0] if len(found) == 1 else None

    launcher = one("bin/bstrcheck")
    shim = one("libbstrcheck.so")
    t.ok(launcher, "launcher installed in bin/")
    t.ok(shim, "shim installed")
    t.ok(one("include/bstrcheck.h"), "header installed")
    t.ok(one("man1/bstrcheck.1"), "man page installed")
    pc = one("pkgconfig/bstrcheck.pc")
    t.ok(pc, "pkg-config file installed")
    if not (launcher and shim and pc):
        return
    # What the installed launcher preloads: the installed shim, not the build tree's.
    r = launch(["sh", "-c", 'printf %s "$LD_PRELOAD"'], launcher=launcher)
    t.eq(r.stdout, os.path.realpath(shim), "the installed launcher finds the installed shim")
    r = launch([os.environ["BC_PRELOAD_ONLY"]], launcher=launcher)
    t.eq(r.status, 23, "and it works: the leak is found")
    t.eq(r.report["summary"]["leaked"] if r.report else None, 1, "one leak")
    # pkg-config gives the header's directory; a program built with it alone
    # sees the shim only under the launcher.
    env = clean_env(PKG_CONFIG_PATH=os.path.dirname(pc), PKG_CONFIG_SYSROOT_DIR=dest)
    cflags = subprocess.run(["pkg-config", "--cflags", "bstrcheck"], capture_output=True,
                            text=True, env=env, timeout=30)
    t.eq(cflags.returncode, 0, "pkg-config --cflags bstrcheck")
    t.ok(cflags.stdout.strip().startswith("-I" + dest), "Cflags point at the installed include",
         cflags.stdout)
    libs = subprocess.run(["pkg-config", "--libs", "bstrcheck"], capture_output=True,
                          text=True, env=env, timeout=30)
    t.eq(libs.stdout.strip(), "", "no Libs: the header links nothing")
    src = os.path.join(dest, "probe.c")
    with open(src, "w", encoding="utf-8") as f:
        f.write('#include <bstrcheck.h>\n#include <stdio.h>\n'
                'int main(void) { printf("active=%d\\n", bstrcheck_is_active()); return 0; }\n')
    exe = os.path.join(dest, "probe")
    cc = subprocess.run([os.environ.get("CC", "cc"), *shlex.split(cflags.stdout), "-o", exe, src],
                        capture_output=True, text=True, timeout=60)
    if t.eq(cc.returncode, 0, "a program builds with the pkg-config flags", cc.stderr):
        bare = subprocess.run([exe], capture_output=True, text=True, timeout=30, env=clean_env())
        t.eq(bare.stdout.strip(), "active=0", "without the shim")
        t.eq(launch([exe], launcher=launcher).stdout.strip(), "active=1",
             "under the installed launcher")


def main():
    run_cases(globals())


if __name__ == "__main__":
    main()
