#!/usr/bin/env python3
"""Keeps the workspace's layers (issue 15): fails on either of

(a) an import cycle among the modules of asyncio-http/src: module A names
    module B (`use crate::b::...`, `crate::b::...` in code, `super::` from a
    nested module, or a name lib.rs re-exports from B, `crate::Name`) and B
    reaches A back, directly or through others;
(b) a path from asyncio/src/runtime/ (the engine) into the facade: any
    `crate::x` (or `super::` climbing out of `runtime`) whose first segment
    is not `runtime`.

Comments and string literals are skipped: an intra-doc link such as
[`Task`](crate::Task) explains, it does not import. `$crate` in macros is
not a path of the file that holds the macro. Edges between a module and its
own ancestor (a parent declares and re-exports its children) are nesting,
not layering, and are not counted.

Usage: python3 .ci/check_layers.py [workspace root]   (stdlib only)
"""

import os
import re
import sys

TOKEN = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*|::|[{}();,*]|.", re.S)


def word_start(text, i):
    """True if text[i] does not continue an identifier."""
    return i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")


def strip(text):
    """The source with comments, strings and char literals blanked out
    (newlines kept, so line numbers stay right)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (
            word_start(text, i) or (text[i - 1] == "b" and word_start(text, i - 1))
        ):
            # A raw string, r"..." or r#"..."# (or br"...": the b was kept).
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            j = n if end < 0 else end + 1 + len(hashes)
            out.append(" " + "\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(" " + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}'), not a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:i + 12])
            if m:
                out.append(" ")
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def tokens(text):
    """(token, line) pairs of stripped source, whitespace dropped."""
    line = 1
    for m in TOKEN.finditer(text):
        t = m.group(0)
        if t.isspace():
            line += t.count("\n")
            continue
        yield t, line


def use_tree(toks, i):
    """Parses the path tree that starts at toks[i] (just after `crate::` or
    `super::`): returns (list of paths as segment lists, next index)."""
    paths = []
    if i < len(toks) and toks[i][0] == "{":
        i += 1
        while i < len(toks) and toks[i][0] != "}":
            sub, i = use_tree(toks, i)
            paths.extend(sub)
            if i < len(toks) and toks[i][0] == ",":
                i += 1
        return paths, i + 1
    segs = []
    while i < len(toks) and re.match(r"[A-Za-z_]", toks[i][0]):
        segs.append(toks[i][0])
        if i + 1 < len(toks) and toks[i + 1][0] == "::":
            if i + 2 < len(toks) and toks[i + 2][0] in "{*":
                if toks[i + 2][0] == "*":
                    return [segs], i + 3
                sub, j = use_tree(toks, i + 2)
                return [segs + s for s in sub] or [segs], j
            i += 2
            continue
        i += 1
        break
    return [segs], i


def references(path, module):
    """Every crate path a file names, resolved to absolute segment lists:
    (segments, line). `module` is the file's module path (list)."""
    text = strip(open(path, encoding="utf-8").read())
    toks = list(tokens(text))
    # Inline modules (`mod tests { ... }`): where `super::` starts from.
    stack = []  # (module path, brace depth at which it closes)
    depth = 0
    out = []
    i = 0
    while i < len(toks):
        t, line = toks[i]
        here = stack[-1][0] if stack else module
        if t == "mod" and i + 2 < len(toks) and toks[i + 2][0] == "{":
            stack.append((here + [toks[i + 1][0]], depth))
            depth += 1
            i += 3
            continue
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            if stack and stack[-1][1] == depth:
                stack.pop()
        elif t in ("crate", "super", "self") and i + 1 < len(toks) and toks[i + 1][0] == "::":
            prev = toks[i - 1][0] if i else ""
            if prev == "::":  # the middle of a path (`super::super::x`), read from its start
                i += 1
                continue
            base = [] if t == "crate" else list(here)
            j = i
            while toks[j][0] in ("super", "self") and j + 1 < len(toks) and toks[j + 1][0] == "::":
                if toks[j][0] == "super":
                    if not base:
                        out.append((["<above the crate>"], line))
                    base = base[:-1]
                j += 2
            if t == "crate":
                j = i + 2
            paths, i = use_tree(toks, j)
            for p in paths:
                if p:
                    out.append((base + p, line))
            continue
        i += 1
    return out


def modules_of(src):
    """{module path tuple: file} for a crate's src folder."""
    mods = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["lib"], ["main"]):
                rel = []
            mods[tuple(rel)] = os.path.join(dirpath, f)
    return mods


def reexports(lib_path):
    """Names the crate root re-exports from its own modules: {name: module}."""
    text = strip(open(lib_path, encoding="utf-8").read())
    names = {}
    for m in re.finditer(r"\bpub\s+use\s+(?:self::|crate::)?([A-Za-z_][A-Za-z0-9_]*)::([^;]*);", text):
        module, rest = m.group(1), m.group(2)
        for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", rest.replace(" as ", " as_ ")):
            names.setdefault(name, module)
        for alias in re.findall(r"\bas\s+([A-Za-z_][A-Za-z0-9_]*)", rest):
            names[alias] = module
    return names


def check_cycles(src):
    mods = modules_of(src)
    root = mods.get(())
    exported = reexports(root) if root else {}
    graph = {m: set() for m in mods if m}
    for m, path in mods.items():
        if not m:
            continue
        for segs, _ in references(path, list(m)):
            target = None
            for k in range(len(segs), 0, -1):
                if tuple(segs[:k]) in mods:
                    target = tuple(segs[:k])
                    break
            if target is None and len(segs) >= 1 and segs[0] in exported:
                target = (exported[segs[0]],)
            if target is None or target not in graph:
                continue
            if target[: len(m)] == m or m[: len(target)] == target:
                continue  # itself, a child or an ancestor
            graph[m].add(target)
    # Cycles: Tarjan's strongly connected components, then one cycle in each.
    index, low, on, stack, sccs = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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
            if len(comp) > 1:
                sccs.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    name = lambda m: "::".join(m)
    failures = []
    for comp in sccs:
        members = set(comp)
        start = min(comp)
        # A shortest way from `start` back to itself inside the component.
        prev, frontier, found = {start: None}, [start], None
        while frontier and not found:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v]):
                    if w == start:
                        found = v
                        break
                    if w in members and w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if found:
                    break
            frontier = nxt
        cycle, v = [start], found
        while v is not None and v != start:
            cycle.insert(1, v)
            v = prev[v]
        others = ", ".join(name(m) for m in sorted(comp))
        failures.append(" -> ".join(name(m) for m in cycle + [start]) + f"   (all tangled: {others})")
    return graph, failures


def check_engine(src, root):
    failures = []
    mods = modules_of(src)
    for m, path in sorted(mods.items()):
        if not m or m[0] != "runtime":
            continue
        for segs, line in references(path, list(m)):
            if segs[0] != "runtime":
                rel = os.path.relpath(path, root)
                failures.append(f"{rel}:{line}: crate::{'::'.join(segs)}")
    return failures


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    ok = True
    http_src = os.path.join(root, "asyncio-http", "src")
    graph, cycles = check_cycles(http_src)
    if cycles:
        ok = False
        print("asyncio-http/src: import cycles (each module names the next):")
        for c in cycles:
            print(f"  {c}")
    else:
        print(f"asyncio-http/src: {len(graph)} modules, no import cycle")
    engine = check_engine(os.path.join(root, "asyncio", "src"), root)
    if engine:
        ok = False
        print("asyncio/src/runtime: paths into the facade (the engine may name only crate::runtime):")
        for f in engine:
            print(f"  {f}")
    else:
        print("asyncio/src/runtime: no path into the facade")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
