#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fails on any #include cycle among the modules of runner/, shim/ and common/.

A module is a file's directory and stem (runner/jobs.c and runner/jobs.h are
one module, runner/jobs); an edge goes from a module to every module whose
header it includes. Modules call downward only, so this graph must be a tree
(a DAG): a cycle is printed with the files that make it, and the run fails.
Run by `make check` (tests/Makefile.inc) with srcdir set by automake.
"""
import os
import re
import sys

DIRS = ("runner", "shim", "common")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def modules(root):
    """{module: {included module: file that includes it}}"""
    graph = {}
    for d in DIRS:
        for name in sorted(os.listdir(os.path.join(root, d))):
            if not name.endswith((".c", ".h")):
                continue
            mod = f"{d}/{name.rsplit('.', 1)[0]}"
            text = open(os.path.join(root, d, name), encoding="utf-8").read()
            edges = graph.setdefault(mod, {})
            for inc in INCLUDE.findall(text):
                base = os.path.normpath(os.path.join(d, inc))
                for cand in (base, f"common/{os.path.basename(inc)}"):
                    if os.path.isfile(os.path.join(root, cand)):
                        target = cand.rsplit(".", 1)[0]
                        if target != mod:
                            edges.setdefault(target, f"{d}/{name}")
                        break
    return graph


def find_cycle(graph):
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, {})):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if state.get(n) is None:
                c = visit(n)
                if c:
                    return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if state.get(m) is None:
            c = visit(m)
            if c:
                return c
    return None


def main():
    root = os.environ.get("srcdir") or os.path.join(os.path.dirname(__file__), "..")
    root = os.path.abspath(os.path.join(root, "..") if os.path.basename(
        os.path.abspath(root)) == "tests" else root)
    graph = modules(root)
    cycle = find_cycle(graph)
    if cycle:
        print("include cycle: " + " -> ".join(cycle))
        for a, b in zip(cycle, cycle[1:]):
            print(f"  {graph[a][b]} includes {b}.h")
        return 1
    print(f"no include cycle among {len(graph)} modules of {', '.join(DIRS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
