#!/usr/bin/env python3
"""The shim's layering, as the build enforces it (interpose/meson.build).

Each area of interpose/ compiles with the include directories of itself and
the areas below it only, so a call upward names a header the compiler does
not find. This test reads the build's compile_commands.json and checks:

  include_dirs  every source of an area sees no directory of an area it may
                not call (report/ sees only the core's snapshot; the
                launcher only base/ and report/shared/);
  upward_fails  a probe compiled with an area's real command fails when it
                includes the header of an area above it, and builds when it
                includes its own (so the check above means what it says);
  system        only platform/ and the libdw symbolizer include <dlfcn.h>,
                <link.h>, <ucontext.h> or elfutils;
  hot_path      the files of the Sys* and free() paths include no report/
                header, even indirectly.
Usage: check.py CASE (TAP output)."""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

SOURCE = os.path.realpath(os.environ["BC_SOURCE_ROOT"])
BUILD = os.path.realpath(os.environ["BC_BUILD_ROOT"])

# area -> (its directory, its header, the areas it may include)
AREAS = {
    "base": ("interpose/base", "base.h", []),
    "platform": ("interpose/platform", "platform.h", ["base"]),
    "stack": ("interpose/stack", "stack.h", ["platform", "base"]),
    "table": ("interpose/table", "table.h", ["platform", "base"]),
    "runtime": ("interpose/runtime", "runtime.h", ["platform", "base"]),
    "view": ("interpose/check/view", "snapshot.h", ["base"]),
    "check": ("interpose/check", "check.h",
              ["view", "stack", "table", "runtime", "platform", "base"]),
    "report_shared": ("report/shared", "output.h", ["base"]),
    "report": ("report", "report.h", ["report_shared", "view", "platform", "base"]),
    "hooks": ("interpose/hooks", "hooks.h",
              ["report", "report_shared", "check", "view", "stack", "table", "runtime",
               "platform", "base"]),
    "launcher": ("launcher", "launcher.h", ["report_shared", "base"]),
}
# An area above each, whose header a probe tries to include.
ABOVE = {
    "base": "platform", "platform": "stack", "stack": "table", "table": "runtime",
    "runtime": "check", "check": "hooks", "report_shared": "report",
    "report": "check", "launcher": "report",
}
SYSTEM_ONLY = re.compile(r'#\s*include\s*<(dlfcn\.h|link\.h|ucontext\.h|elfutils/[^>]*)>')
SYSTEM_ALLOWED = ("interpose/platform/", "report/symbolize.c")

results = []


def ok(cond, what, detail=""):
    results.append((bool(cond), what, detail))


def done():
    print(f"1..{len(results)}")
    failed = 0
    for i, (good, what, detail) in enumerate(results, 1):
        print(f"{'ok' if good else 'not ok'} {i} - {what}")
        if not good:
            failed += 1
            for line in str(detail).splitlines()[:20]:
                print(f"# {line}")
    return 1 if failed else 0


def area_of(path):
    """The area of a source path relative to SOURCE (the deepest match).
    view/ is a header the report sees; its source is check's."""
    if path.startswith("interpose/check/view/") and path.endswith(".c"):
        return "check"
    best = None
    for name, (directory, _, _) in AREAS.items():
        if path.startswith(directory + "/") and "/" not in path[len(directory) + 1:]:
            best = name
    return best


def commands():
    with open(os.path.join(BUILD, "compile_commands.json"), encoding="utf-8") as f:
        for entry in json.load(f):
            src = os.path.realpath(os.path.join(entry["directory"], entry["file"]))
            if not src.startswith(SOURCE + "/"):
                continue
            rel = src[len(SOURCE) + 1:]
            area = area_of(rel)
            if area and not rel.startswith("tests/"):
                yield rel, area, entry


def include_dirs(entry):
    args = shlex.split(entry["command"])
    dirs = []
    for i, a in enumerate(args):
        d = None
        if a == "-I" and i + 1 < len(args):
            d = args[i + 1]
        elif a.startswith("-I"):
            d = a[2:]
        if d is not None:
            dirs.append(os.path.realpath(os.path.join(entry["directory"], d)))
    return dirs


def case_include_dirs():
    seen = set()
    for rel, area, entry in commands():
        allowed = {area, *AREAS[area][2]}
        forbidden = {os.path.join(SOURCE, AREAS[a][0]) for a in AREAS if a not in allowed}
        bad = [d for d in include_dirs(entry) if d in forbidden]
        ok(not bad, f"{rel} ({area}) sees no area above it", "\n".join(bad))
        seen.add(area)
    for area in AREAS:
        if area != "view":
            ok(area in seen, f"the build compiles sources of {area}")


def compile_probe(entry, text):
    """Compile TEXT with ENTRY's command in place of its source: (rc, stderr)."""
    args = shlex.split(entry["command"])
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.c")
        with open(probe, "w", encoding="utf-8") as f:
            f.write(text)
        out = []
        skip = False
        for a in args:
            if skip:
                skip = False
                continue
            if a in ("-o", "-MF", "-MQ", "-c"):
                skip = True
                continue
            if a.startswith("-MD") or os.path.realpath(os.path.join(entry["directory"], a)) == \
                    os.path.realpath(os.path.join(entry["directory"], entry["file"])):
                continue
            out.append(a)
        out += ["-fsyntax-only", probe]
        r = subprocess.run(out, cwd=entry["directory"], capture_output=True, text=True)
        return r.returncode, r.stderr


def case_upward_fails():
    first = {}
    for rel, area, entry in commands():
        first.setdefault(area, entry)
    for area, above in ABOVE.items():
        entry = first.get(area)
        ok(entry is not None, f"a source of {area} to take its command from")
        if entry is None:
            continue
        own = AREAS[area][1]
        rc, err = compile_probe(entry, f'#include "{own}"\nint probe_ok;\n')
        ok(rc == 0, f"{area}: its own {own} compiles", err)
        header = AREAS[above][1]
        rc, err = compile_probe(entry, f'#include "{header}"\nint probe_up;\n')
        ok(rc != 0 and header in err, f"{area}: including {header} ({above}) does not compile",
           err or "it compiled")
        by_path = AREAS[above][0] + "/" + header
        rc, err = compile_probe(entry, f'#include "{by_path}"\nint probe_up;\n')
        ok(rc != 0, f"{area}: nor does it by its path from the top ({by_path})",
           err or "it compiled")


def case_system():
    for top in ("interpose", "report", "launcher"):
        for dirpath, _, files in os.walk(os.path.join(SOURCE, top)):
            for name in files:
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                rel = path[len(SOURCE) + 1:]
                with open(path, encoding="utf-8") as f:
                    found = SYSTEM_ONLY.findall(f.read())
                allowed = rel.startswith(SYSTEM_ALLOWED)
                ok(allowed or not found, f"{rel}: no dynamic-linker or machine header",
                   ", ".join(found))


HOT_PATH = ("interpose/hooks/entry.c", "interpose/hooks/catch_free.c",
            "interpose/check/track.c", "interpose/table/table.c",
            "interpose/stack/stack_cache.c", "interpose/runtime/own_runtime.c",
            "interpose/runtime/forward.c")


def headers_of(entry):
    """The headers a compile command reads (gcc/clang -H), as paths."""
    args = [a for a in shlex.split(entry["command"])]
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MQ"):
            skip = True
            continue
        if a.startswith("-MD") or a.startswith("-flto"):
            continue
        out.append(a)
    out += ["-fsyntax-only", "-H"]
    r = subprocess.run(out, cwd=entry["directory"], capture_output=True, text=True)
    # "... PATH": the dots give the depth, then one space
    heads = [l.split(" ", 1)[1].strip() for l in r.stderr.splitlines()
             if l.startswith(".") and " " in l]
    return r.returncode, [os.path.realpath(os.path.join(entry["directory"], h)) for h in heads]


def case_hot_path():
    found = {rel: entry for rel, _, entry in commands() if rel in HOT_PATH}
    report_dir = os.path.join(SOURCE, "report") + "/"
    for rel in HOT_PATH:
        ok(rel in found, f"{rel} is compiled")
        if rel not in found:
            continue
        rc, heads = headers_of(found[rel])
        ok(rc == 0 and heads, f"{rel}: its headers are listed")
        bad = [h for h in heads if h.startswith(report_dir)]
        ok(not bad, f"{rel} includes no report/ header", "\n".join(bad))


CASES = {"include_dirs": case_include_dirs, "upward_fails": case_upward_fails,
         "system": case_system, "hot_path": case_hot_path}

if __name__ == "__main__":
    CASES[sys.argv[1]]()
    sys.exit(done())
