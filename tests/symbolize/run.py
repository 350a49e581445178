#!/usr/bin/env python3
"""Symbolization at report time (issue 15): libdw is loaded by a report
only, an unloaded plugin's frames are read from its file at report time,
and debuginfod is never asked unless debuginfod=1.

Usage: run.py CASE   (prints TAP; programs come from BC_* variables set by
tests/symbolize/meson.build)
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from run import Tap, run_cases  # noqa: E402

LIBDW_FAMILY = ("libdw.so", "libelf.so", "libz.so", "libbz2.so")


class Result:
    def __init__(self, proc, report, seconds):
        self.status = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.report = report
        self.seconds = seconds

    def leaks(self):
        return [f for f in (self.report or {}).get("findings", []) if f["kind"] == "leak"]

    def loaded(self, soname):
        """LD_DEBUG=files lines where SONAME is mapped (once per load)."""
        return [l for l in self.stderr.splitlines() if f"file={soname}" in l and
                "generating link map" in l]

    def wanted(self, soname):
        """LD_DEBUG=files lines that say who asked for SONAME."""
        return [l for l in self.stderr.splitlines() if f"file={soname}" in l and
                ("needed by" in l or "dynamically loaded by" in l)]


def run(args, options="", env_extra=None, timeout=60):
    work = tempfile.mkdtemp(prefix="bstrcheck-sym-")
    try:
        json_path = os.path.join(work, "report.json")
        env = dict(os.environ)
        env.pop("DEBUGINFOD_URLS", None)
        # the fake libdw's directory only where a case puts it
        fake = os.environ["BC_FAKE_LIBDW_DIR"]
        paths = [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p and
                 os.path.realpath(p) != os.path.realpath(fake)]
        env["LD_LIBRARY_PATH"] = ":".join(paths)
        env["LD_PRELOAD"] = os.environ["BC_SHIM"]
        env["BSTRCHECK_OPTIONS"] = ":".join(o for o in (f"json_path={json_path}", options) if o)
        env["DEBUGINFOD_CACHE_PATH"] = os.path.join(work, "debuginfod-cache")
        env.update(env_extra or {})
        start = time.monotonic()
        proc = subprocess.run([os.environ["BC_LAZY_PROG"], *args], env=env, capture_output=True,
                              text=True, timeout=timeout, cwd=work)
        seconds = time.monotonic() - start
        report = None
        if os.path.exists(json_path):
            with open(json_path, encoding="utf-8") as f:
                report = json.load(f)
        return Result(proc, report, seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def first_frame(finding):
    return (finding.get("stacks", {}).get("alloc") or [{}])[0]


def case_libdw_not_needed(t):
    out = subprocess.run(["readelf", "-d", os.environ["BC_SHIM"]], capture_output=True,
                         text=True, check=True).stdout
    needed = [l.split("[")[1].rstrip("]") for l in out.splitlines() if "(NEEDED)" in l]
    t.ok(len(needed) > 0, "readelf lists the shim's needed libraries", out)
    for lib in LIBDW_FAMILY:
        t.eq([n for n in needed if n.startswith(lib)], [], f"the shim does not link {lib}*")


def case_libdw_only_when_reporting(t):
    lazy = {"LD_DEBUG": "files"}
    r = run(["clean"], env_extra=lazy)
    t.eq(r.status, 0, "clean run exits 0", r.stderr[-2000:])
    t.eq(r.report and r.report["summary"]["allocations"], 1, "its BSTR was tracked")
    t.eq(r.loaded("libdw.so.1"), [], "a clean run never loads libdw")
    r = run(["plugin", os.environ["BC_LAZY_PLUGIN"], "clean"], env_extra=lazy)
    t.ok("unloaded=1" in r.stdout, "the plugin was unloaded", r.stdout + r.stderr[-2000:])
    t.eq(r.status, 0, "a plugin that frees its BSTR: clean")
    t.eq(r.loaded("libdw.so.1"), [], "dlclose() of a plugin symbolizes nothing (libdw not loaded)")
    r = run(["leak"], env_extra=lazy)
    t.eq(r.status, 23, "a leak fails the run")
    loads = r.loaded("libdw.so.1")
    t.eq(len(loads), 1, "the report loads libdw, once", r.stderr[-3000:])
    wanted = r.wanted("libdw.so.1")
    t.ok(wanted and all("dynamically loaded" in l for l in wanted),
         "with dlopen, not as a dependency", wanted)
    leaks = r.leaks()
    frame = first_frame(leaks[0]) if leaks else {}
    t.eq(frame.get("function"), "main_leak_site", "the leak's frame is named", frame)
    t.ok((frame.get("file") or "").endswith("lazy_prog.c") and isinstance(frame.get("line"), int),
         "and has file:line", frame)


def case_libdw_missing(t):
    fake = {"LD_LIBRARY_PATH": os.environ["BC_FAKE_LIBDW_DIR"]}
    r = run(["leak"], env_extra=fake)
    t.eq(r.status, 23, "without a usable libdw the leak still fails the run", r.stderr[-2000:])
    warnings = [l for l in r.stderr.splitlines() if "cannot load libdw" in l]
    t.eq(len(warnings), 1, "one warning says libdw could not be loaded", r.stderr[-2000:])
    leaks = r.leaks()
    t.eq(len(leaks), 1, "the leak is reported")
    frame = first_frame(leaks[0]) if leaks else {}
    t.ok(frame.get("module", "").endswith("/lazy-prog") and frame.get("offset", "").startswith("0x"),
         "its frame reads module+offset", frame)
    t.ok("file" not in frame or frame.get("file") is None, "and has no source file", frame)
    t.ok("Leak of 1 BSTR(s)" in r.stderr and "/lazy-prog+0x" in r.stderr,
         "the text report prints module+offset frames", r.stderr[-2000:])
    r = run(["plugin", os.environ["BC_LAZY_PLUGIN"], "leak"], env_extra=fake)
    leaks = r.leaks()
    frame = first_frame(leaks[0]) if leaks else {}
    t.ok(frame.get("module", "").endswith("liblazy-plugin.so") and frame.get("offset", "").startswith("0x"),
         "an unloaded plugin's frame reads module+offset too", frame)


def case_unloaded_plugin_lines(t):
    r = run(["plugin", os.environ["BC_LAZY_PLUGIN"], "leak"], env_extra={"LD_DEBUG": "files"})
    t.ok("unloaded=1" in r.stdout, "the plugin was unloaded before exit", r.stdout + r.stderr[-2000:])
    t.eq(r.status, 23, "its leak fails the run")
    leaks = r.leaks()
    t.eq(len(leaks), 1, "one leak")
    stack = (leaks[0]["stacks"]["alloc"] if leaks else [{}, {}]) + [{}, {}]
    t.eq(stack[0].get("function"), "lazy_plugin_leak_site", "function of the unloaded plugin", stack[0])
    t.ok((stack[0].get("file") or "").endswith("lazy_plugin.c") and isinstance(stack[0].get("line"), int),
         "with file:line", stack[0])
    t.ok(stack[0].get("module", "").endswith("liblazy-plugin.so"), "and its module", stack[0])
    t.eq(stack[1].get("function"), "plugin_work", "its caller in the plugin", stack[1])
    t.ok(" in lazy_plugin_leak_site " in r.stderr and "lazy_plugin.c:" in r.stderr,
         "the text report shows function and file:line", r.stderr[-3000:])
    # the plugin's DWARF is read at exit, after the unload: libdw came with the report
    lines = r.stderr.splitlines()
    unloaded_at = next((i for i, l in enumerate(lines) if "calling fini" in l and "liblazy-plugin.so" in l),
                       None)
    libdw_at = next((i for i, l in enumerate(lines) if "file=libdw.so.1" in l), None)
    t.ok(unloaded_at is not None and libdw_at is not None and libdw_at > unloaded_at,
         "libdw is loaded after the plugin's unload, by the report",
         f"unload at line {unloaded_at}, libdw at line {libdw_at}")


def case_unloaded_plugin_rebuilt(t):
    """The plugin's file is replaced after its unload: its frames are not
    read from a file that is no longer the module that ran."""
    work = tempfile.mkdtemp(prefix="bstrcheck-sym-")
    try:
        path = os.path.join(work, "libreplaced.so")
        newer = os.path.join(work, "libreplaced.so.new")
        shutil.copy(os.environ["BC_LAZY_PLUGIN"], path)
        shutil.copy(os.environ["BC_LAZY_PLUGIN_REBUILT"], newer)
        r = run(["plugin", path, "leak", newer])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    t.ok("unloaded=1" in r.stdout, "the plugin was unloaded, then its file replaced",
         r.stdout + r.stderr[-2000:])
    t.eq(r.status, 23, "its leak fails the run")
    warnings = [l for l in r.stderr.splitlines() if "changed on disk" in l]
    t.eq(len(warnings), 1, "one warning: the file's build-id differs", r.stderr[-2000:])
    leaks = r.leaks()
    frame = first_frame(leaks[0]) if leaks else {}
    t.ok(frame.get("module", "").endswith("/libreplaced.so") and frame.get("offset", "").startswith("0x"),
         "its frame reads module+offset", frame)
    t.ok(not frame.get("file") and not (frame.get("function") or "").startswith("rebuilt_"),
         "and nothing read from the new file", frame)


class Listener:
    """A TCP port that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)  # kept open, never read or written
            except socket.timeout:
                pass
            except OSError:
                return

    def close(self):
        self.stop = True
        self.thread.join()
        for c in self.accepted:
            c.close()
        self.sock.close()


def stripped_plugin_run(options="", env_extra=None, timeout=60):
    return run(["plugin", os.environ["BC_LAZY_PLUGIN_STRIPPED"], "leak"], options,
               env_extra, timeout)


def case_debuginfod_off(t):
    bare = [stripped_plugin_run() for _ in range(3)]
    t.eq(bare[0].status, 23, "the stripped plugin's leak fails the run", bare[0].stderr[-2000:])
    listener = Listener()
    try:
        env = {"DEBUGINFOD_URLS": f"http://127.0.0.1:{listener.port}", "LD_DEBUG": "files"}
        try:
            runs = [stripped_plugin_run(env_extra=env, timeout=30) for _ in range(3)]
        except subprocess.TimeoutExpired:
            t.ok(False, "the run finished within 30 s with DEBUGINFOD_URLS set")
            return
        time.sleep(0.3)  # let the listener's accept loop see a late connection
        connections = len(listener.accepted)
    finally:
        listener.close()
    r = runs[0]
    t.ok("unloaded=1" in r.stdout, "the plugin was unloaded", r.stdout)
    t.eq(r.status, 23, "the leak fails the run")
    leaks = r.leaks()
    frame = first_frame(leaks[0]) if leaks else {}
    t.ok(frame.get("module", "").endswith("liblazy-plugin-stripped.so"),
         "the leak's frame names the stripped plugin", frame)
    t.eq(connections, 0, "debuginfod=0: the server of DEBUGINFOD_URLS was never contacted")
    t.eq(r.loaded("libdebuginfod"), [], "libdebuginfod was never loaded", r.stderr[-2000:])
    fast = min(x.seconds for x in runs)
    base = min(x.seconds for x in bare)
    # 5x, with a floor for a busy machine: the hang it guards against is 90 s
    t.ok(fast < max(5 * base, 1.0), f"as fast as without DEBUGINFOD_URLS "
         f"({fast * 1000:.0f} ms against {base * 1000:.0f} ms)")


def case_debuginfod_on(t):
    """The control: with debuginfod=1 the same run does ask the server, so
    debuginfod_off would see it."""
    listener = Listener()
    try:
        env = {"DEBUGINFOD_URLS": f"http://127.0.0.1:{listener.port}", "DEBUGINFOD_TIMEOUT": "1"}
        r = stripped_plugin_run("debuginfod=1", env, timeout=100)
        time.sleep(0.3)
        connections = len(listener.accepted)
    finally:
        listener.close()
    t.eq(r.status, 23, "the leak fails the run", r.stderr[-2000:])
    t.ok(connections > 0, "debuginfod=1: the server was asked for the plugin's debug info",
         connections)
    leaks = r.leaks()
    frame = first_frame(leaks[0]) if leaks else {}
    t.ok(frame.get("module", "").endswith("liblazy-plugin-stripped.so") and
         frame.get("offset", "").startswith("0x"),
         "the report still names the module and offset", frame)


if __name__ == "__main__":
    run_cases(globals())
