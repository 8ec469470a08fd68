#!/usr/bin/env python3
"""Fails (exit 1) if the folders under src/ include one another in a cycle.

Folder A depends on folder B when a library file under src/A has `#include "B/..."` for a folder
src/B. Test files (`*_test.cc`) are not counted: a test binary sits above its module and links
src/testing, which itself builds on the libraries, so its includes cannot close a cycle between
libraries. Every strongly connected
component of more than one folder is a cycle, printed with one include per edge that makes it.

  python3 scripts/check-include-cycles.py
"""
import os
import re
import sys

# Folders compiled into another folder's module count as that folder: src/format is part of rf_core
# (src/core/CMakeLists.txt, EXTRA_DIRS).
MODULE_OF = {"format": "core"}

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"/]+)/[^"]+"', re.M)


def main():
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    dirs = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    folders = sorted({MODULE_OF.get(d, d) for d in dirs})
    edges = {f: {} for f in folders}  # folder -> {dep: "file: #include ..."}
    for src_dir in dirs:
        f = MODULE_OF.get(src_dir, src_dir)
        for d, _, names in os.walk(os.path.join(root, src_dir)):
            for name in names:
                if not name.endswith((".cc", ".h")) or name.endswith("_test.cc"):
                    continue
                path = os.path.join(d, name)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    for m in INCLUDE.finditer(fh.read()):
                        dep = MODULE_OF.get(m.group(1), m.group(1))
                        if dep != f and dep in edges and dep not in edges[f]:
                            edges[f][dep] = f"{os.path.relpath(path, os.path.dirname(root))}: {m.group(0).strip()}"
    # Tarjan's strongly connected components.
    index, low, on, stack, sccs = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in folders:
        if v not in index:
            visit(v)
    cycles = [c for c in sccs if len(c) > 1]
    for c in cycles:
        print("include cycle between src/ folders: " + ", ".join(c))
        for a in c:
            for b, why in sorted(edges[a].items()):
                if b in c:
                    print(f"  {a} -> {b}  ({why})")
    if cycles:
        return 1
    print(f"check-include-cycles: no cycle among {len(folders)} folders of src/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
