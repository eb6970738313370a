#!/usr/bin/env python3
"""Fails when a source file includes against the direction of the layers:

    src/server -> src/client -> src/proxy -> src/backend -> src/base -> cache/, resp/, http/

A file may include its own folder and any folder below it; the leaves (cache, resp, http) include
only themselves. Run by ctest as `include_direction`; `--selftest` shows the check catching an
include that goes up and one between leaves."""
import os
import re
import sys
import tempfile

RANK = {"src/server": 5, "src/client": 4, "src/proxy": 3, "src/backend": 2, "src/base": 1}
LEAVES = ("cache", "resp", "http")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SOURCE = (".h", ".cpp")


def folder_of(path):
    """The layer folder of a repository-relative path, or None for files outside the layers."""
    parts = path.split("/")
    if parts[0] in LEAVES:
        return parts[0]
    if parts[0] == "src" and len(parts) > 2:
        return "src/" + parts[1]
    return None


def allowed(src, dst):
    if src == dst:
        return True
    if src in LEAVES or dst not in RANK and dst not in LEAVES:
        return False
    if dst in LEAVES:
        return True
    return RANK[dst] < RANK[src]


def check(root):
    problems = []
    for top in ("src",) + LEAVES:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if not name.endswith(SOURCE):
                    continue
                path = os.path.relpath(os.path.join(dirpath, name), root)
                src = folder_of(path)
                if src is None or (src.startswith("src/") and src not in RANK):
                    problems.append(f"{path}: not in a known layer folder")
                    continue
                with open(os.path.join(root, path), encoding="utf-8") as f:
                    for inc in INCLUDE.findall(f.read()):
                        dst = folder_of(inc)
                        if dst is not None and not allowed(src, dst):
                            problems.append(f"{path}: includes {inc} ({src} -> {dst} goes against the direction)")
    return problems


def selftest():
    with tempfile.TemporaryDirectory() as d:
        def write(path, text):
            os.makedirs(os.path.dirname(os.path.join(d, path)), exist_ok=True)
            with open(os.path.join(d, path), "w", encoding="utf-8") as f:
                f.write(text)
        write("src/proxy/a.h", '#include "src/backend/b.h"\n#include "cache/c.h"\n')
        write("src/backend/b.h", '#include "src/base/x.h"\n')
        assert check(d) == [], check(d)
        write("src/backend/bad.h", '#include "src/proxy/a.h"\n')
        write("resp/bad.h", '#include "cache/entry.h"\n')
        found = check(d)
        assert len(found) == 2 and any("src/backend -> src/proxy" in p for p in found) and \
            any("resp -> cache" in p for p in found), found
    print("selftest: an upward include and a leaf-to-leaf include are both caught")
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--selftest":
        return selftest()
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problems = check(root)
    for p in problems:
        print(p)
    print(f"{len(problems)} include(s) against the direction")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
