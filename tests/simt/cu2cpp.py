#!/usr/bin/env python3
"""Rewrite CUDA C++ (.cu / .cuh) into plain C++ for simt/simt.h.

Only the constructs a C++ compiler cannot take are touched; line numbers are
kept (a `#line` directive names the original file), so compiler messages,
sanitizer reports and __FILE__/__LINE__ point at the original source.

  k<<<g, b, s, st>>>(args)          k ->* ::simt::launch_config(__FILE__, __LINE__, g, b, s, st)(args)
  __shared__ T a[N], b;             auto& a = ::simt::shared<T[N]>("file:line:a"); auto& b = ...;
  extern __shared__ T buf[];        T* const buf = static_cast<T*>(::simt::shared_dynamic(align));
  __launch_bounds__(n) f(...) {     f(...) { ::simt::check_launch_bounds((n), __func__);
  __global__ ... f(...) {           ... f(...) { SIMT_KERNEL_ENTRY();   (coverage: simt.h)

Comments and string literals are left alone.

usage: cu2cpp.py IN OUT   (OUT's directory is created; OUT.kernels lists the kernels defined)
"""

import os
import re
import sys


def code_mask(src):
    """True for characters that are code (not comment, string or char literal)."""
    mask = [True] * len(src)
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                mask[k] = False
            i = j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                mask[k] = False
            i = j
        elif c in "\"'":
            # A digit separator (1'000) is not a literal.
            if c == "'" and i > 0 and src[i - 1].isalnum():
                i += 1
                continue
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            for k in range(i, min(j + 1, n)):
                mask[k] = False
            i = j + 1
        else:
            i += 1
    return mask


def find_code(src, mask, pattern, start=0):
    for m in re.finditer(pattern, src[start:]):
        if mask[start + m.start()]:
            yield start + m.start(), start + m.end(), m


def balanced_end(src, i, open_ch="(", close_ch=")"):
    """Index just past the bracket that closes the one at src[i]."""
    depth = 0
    for j in range(i, len(src)):
        if src[j] == open_ch:
            depth += 1
        elif src[j] == close_ch:
            depth -= 1
            if depth == 0:
                return j + 1
    raise ValueError("unbalanced %s at offset %d" % (open_ch, i))


def split_top(s, sep=","):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "(<[{":
            depth += 1
        elif ch in ")>]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def body_start(src, mask, i):
    """Index of the '{' that opens the function body after src[i], or None for a declaration (';' first).

    Only code counts (comments and strings are skipped), and only at parenthesis depth 0."""
    depth = 0
    for j in range(i, len(src)):
        if not mask[j]:
            continue
        if src[j] == "(":
            depth += 1
        elif src[j] == ")":
            depth -= 1
        elif depth == 0 and src[j] == ";":
            return None
        elif depth == 0 and src[j] == "{":
            return j
    return None


def line_of(src, i):
    return src.count("\n", 0, i) + 1


def rewrite(src, path):
    edits = []  # (start, end, replacement)
    kernels = []  # names of the __global__ functions defined here
    mask = code_mask(src)
    base = os.path.basename(path)

    # Kernel launches. The configuration ends at the first '>>>' at bracket depth 0.
    for s, e, _ in find_code(src, mask, r"<<<"):
        depth, j = 0, e
        while j < len(src):
            if mask[j]:
                if src[j] in "([{":
                    depth += 1
                elif src[j] in ")]}":
                    depth -= 1
                elif depth == 0 and src.startswith(">>>", j):
                    break
            j += 1
        else:
            raise ValueError("%s:%d: unterminated <<<" % (path, line_of(src, s)))
        edits.append((s, e, " ->* ::simt::launch_config(__FILE__, __LINE__, "))
        edits.append((j, j + 3, ")"))

    # __shared__ declarations.
    for s, e, _ in find_code(src, mask, r"\b(extern\s+)?__shared__\b"):
        # `static __shared__` is still block-scoped on the device: the `static` must go, or the reference
        # would bind to the first block's memory for the whole program.
        st = re.search(r"\bstatic\s+$", src[max(0, s - 16) : s])
        if st:
            edits.append((s - (len(src[max(0, s - 16) : s]) - st.start()), s, ""))
        semi = src.index(";", e)
        decl = src[e:semi]
        newlines = decl.count("\n")
        align = "0"
        am = re.search(r"__align__\s*\(([^)]*)\)|alignas\s*\(([^)]*)\)", decl)
        if am:
            align = am.group(1) or am.group(2)
            decl = decl[: am.start()] + decl[am.end() :]
        decl = " ".join(decl.split())
        extern = src[s:e].startswith("extern")
        parts = [p.strip() for p in split_top(decl)]
        m = re.match(r"^(.*?[\w>*&\s])\s*\b([A-Za-z_]\w*)\s*((?:\[[^\]]*\])*)$", parts[0])
        if not m:
            raise ValueError("%s:%d: cannot parse __shared__ declaration %r" % (path, line_of(src, s), decl))
        type_ = m.group(1).strip()
        decls = [(m.group(2), m.group(3))]
        for p in parts[1:]:
            pm = re.match(r"^([A-Za-z_]\w*)\s*((?:\[[^\]]*\])*)$", p)
            if not pm:
                raise ValueError("%s:%d: cannot parse declarator %r" % (path, line_of(src, s), p))
            decls.append((pm.group(1), pm.group(2)))
        out = []
        for name, dims in decls:
            if extern:
                if dims != "[]":
                    raise ValueError(
                        "%s:%d: extern __shared__ must be an unsized array" % (path, line_of(src, s))
                    )
                out.append(
                    "%s* const %s = static_cast<%s*>(::simt::shared_dynamic(%s))"
                    % (type_, name, type_, align if align != "0" else "alignof(%s)" % type_)
                )
            else:
                tag = "%s:%d:%s" % (base, line_of(src, s), name)
                out.append(
                    'auto& %s = ::simt::shared<%s%s>("%s"%s)'
                    % (name, type_, dims, tag, ", " + align if align != "0" else "")
                )
        edits.append((s, semi, "; ".join(out) + "\n" * newlines))

    # __launch_bounds__(args): a run-time check at the top of the body (none on a declaration).
    for s, e, _ in find_code(src, mask, r"\b__launch_bounds__\s*\("):
        close = balanced_end(src, e - 1)
        args = split_top(src[e : close - 1])
        body = body_start(src, mask, close)
        edits.append((s, close, ""))
        if body is not None:
            edits.append(
                (body + 1, body + 1, " ::simt::check_launch_bounds((%s), __func__);" % args[0].strip())
            )

    # Kernel bodies: SIMT_KERNEL_ENTRY() registers the instantiation (coverage).
    for s, e, _ in find_code(src, mask, r"\b__global__\b"):
        j = body_start(src, mask, e)
        if j is None:
            continue  # a declaration
        head = re.sub(r"__launch_bounds__\s*\([^{]*?\)\s(?=\s*\w+\s*\()", " ", src[e:j])
        name = re.search(r"([A-Za-z_]\w*)\s*\(", head)
        if not name:
            raise ValueError("%s:%d: cannot find the kernel's name" % (path, line_of(src, s)))
        kernels.append(name.group(1))
        edits.append((j + 1, j + 1, " SIMT_KERNEL_ENTRY();"))

    edits.sort()
    out, pos = [], 0
    for s, e, r in edits:
        if s < pos:
            raise ValueError("%s: overlapping rewrites at line %d" % (path, line_of(src, s)))
        out.append(src[pos:s])
        out.append(r)
        pos = e
    out.append(src[pos:])
    return '#line 1 "%s"\n' % os.path.abspath(path) + "".join(out), kernels


def main():
    src_path, out_path = sys.argv[1], sys.argv[2]
    with open(src_path) as f:
        src = f.read()
    out, kernels = rewrite(src, src_path)
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path, "w") as f:
        f.write(out)
    # OUT.kernels: the __global__ functions the file defines, one a line.
    with open(out_path + ".kernels", "w") as f:
        f.write("".join(k + "\n" for k in kernels))


if __name__ == "__main__":
    main()
