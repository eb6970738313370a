#!/usr/bin/env python3
"""Fails when a source file includes against the direction of the layers:

    src/server -> src/client -> src/proxy -> src/backend -> src/net -> src/base -> cache/, resp/, http/

A file may include its own folder and any folder below it; the leaves (cache, resp, http) include
only themselves, and a wing includes only the leaves it has business with (NO_BUSINESS: the backend
speaks RESP to Redis, it knows nothing of the cache or of HTTP). A room (a .h and its .cpp) may not
be part of an include cycle with other rooms: dependencies between rooms inside a folder go one way
too. Run by ctest as `include_direction`; `--selftest` shows the check catching an include that goes
up, one between leaves, a leaf a wing has no business with, and a cycle between two rooms."""
import os
import re
import sys
import tempfile

RANK = {"src/server": 6, "src/client": 5, "src/proxy": 4, "src/backend": 3, "src/net": 2, "src/base": 1}
LEAVES = ("cache", "resp", "http")
# Leaves a layer must not include although they are below it.
NO_BUSINESS = {"src/base": ("cache", "http", "resp"), "src/net": ("cache", "http", "resp"),
               "src/backend": ("cache", "http")}
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
        return dst not in NO_BUSINESS.get(src, ())
    return RANK[dst] < RANK[src]


def room_of(path):
    """A room is a header and its source file: the path without its extension."""
    return os.path.splitext(path)[0]


def cycles(edges):
    """The strongly connected components of more than one room (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def check(root):
    problems = []
    edges = {}
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
                        if room_of(inc) != room_of(path) and os.path.exists(os.path.join(root, inc)):
                            edges.setdefault(room_of(path), set()).add(room_of(inc))
                        dst = folder_of(inc)
                        if dst is not None and not allowed(src, dst):
                            problems.append(f"{path}: includes {inc} ({src} -> {dst} goes against the direction)")
    for comp in cycles(edges):
        problems.append("include cycle between rooms: " + " <-> ".join(comp))
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
        os.remove(os.path.join(d, "src/backend/bad.h"))
        os.remove(os.path.join(d, "resp/bad.h"))
        write("src/backend/cache_user.cpp", '#include "cache/entry.h"\n')
        write("src/proxy/one.h", '#include "src/proxy/two.h"\n')
        write("src/proxy/two.h", "")
        write("src/proxy/two.cpp", '#include "src/proxy/two.h"\n#include "src/proxy/one.h"\n')
        write("src/proxy/one.cpp", "")
        found = check(d)
        assert len(found) == 2 and any("src/backend -> cache" in p for p in found) and \
            any("cycle" in p and "src/proxy/one" in p and "src/proxy/two" in p for p in found), found
    print("selftest: an upward include, a leaf-to-leaf include, a leaf a wing has no business with and a "
          "cycle between rooms are all caught")
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
