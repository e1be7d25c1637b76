#!/usr/bin/env python3
"""check-style.py: the coding style of docs/conventions.md ("Coding style"), checked.

Usage:
  scripts/check-style.py [-p BUILD_DIR] [--fix] [--no-format] [-j N] [FILE.c ...]

Without FILE arguments it checks every product .c file (base/ registry/
backends/ erldist/ agent/; never tests/). BUILD_DIR holds compile_commands.json
(default: build/rel; CMake writes it, CMAKE_EXPORT_COMPILE_COMMANDS is on).
Findings are printed as file:line: [rule] text; exit status 1 if any.

Rules (libclang, python3-clang-14):
  not-bool    `!x` where x is not a bool (_Bool, a comparison, `&&`, `||`, `!`)
  truth-test  an if/while/for/do condition, a `?:` condition or an `&&`/`||`
              operand that is an implicit pointer or integer truth test
  decl-after  a declaration after a statement in the same block
              (a declaration in a `for (...)` header is fine)
  format      clang-format --dry-run -Werror (.clang-format) disagrees
Expressions that the preprocessor builds (inside a macro's body) are not
checked; a macro used as a condition (`if (FLAG(x))`) is.

--fix rewrites the simple cases in place, from the end of each file backwards:
  !p -> p == NULL (pointer), !n -> n == 0 (integer), !c -> c == '\\0' (char),
  if (p) -> if (p != NULL), if (n) -> if (n != 0), if (a & F) -> if ((a & F) != 0),
  `T x = e;` after a statement -> `T x;` at the top of the block and `x = e;`
  where it was (`T x;`, `char b[N];` move whole; `{...}` becomes `(T){...}`),
then runs clang-format -i on the files. What it cannot do simply (several
declarators, static/const/array declarations with an initializer, a VLA)
stays a finding; fix those by hand. Review the diff: a hoisted declaration
may deserve a better place, and the blank line after the declarations is yours.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

try:
    import clang.cindex as ci
except ImportError:
    # pyenv or venv interpreters do not see Debian's dist-packages.
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import clang.cindex as ci
    except ImportError:
        sys.stderr.write("check-style: python3 cannot import clang.cindex; "
                         "install python3-clang-14 (apt-get install python3-clang-14 libclang1-14)\n")
        sys.exit(2)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRODUCT_DIRS = ["base", "registry", "backends", "erldist", "agent"]
K = ci.CursorKind
BOOL_OPS = {"==", "!=", "<", ">", "<=", ">=", "&&", "||"}


def product_files():
    out = []
    for d in PRODUCT_DIRS:
        for dirpath, _, names in os.walk(os.path.join(ROOT, d)):
            out += [os.path.join(dirpath, n) for n in names if n.endswith(".c")]
    return sorted(out)


def load_compile_db(build):
    path = os.path.join(build, "compile_commands.json")
    if not os.path.exists(path):
        sys.stderr.write("check-style: %s missing; configure first: "
                         "cmake -S . -B %s -DCMAKE_EXPORT_COMPILE_COMMANDS=ON\n" % (path, build))
        sys.exit(2)
    db = {}
    with open(path) as f:
        for e in json.load(f):
            args = e.get("arguments") or shlex.split(e["command"])
            fn = os.path.realpath(os.path.join(e["directory"], e["file"]))
            keep, skip = [], False
            for a in args[1:]:
                if skip:
                    skip = False
                    continue
                if a in ("-o", "-c"):
                    skip = a == "-o"
                    continue
                if a == e["file"] or os.path.realpath(os.path.join(e["directory"], a)) == fn:
                    continue
                if a.startswith("-fsanitize") or a.startswith("-W") or a.startswith("-f"):
                    continue  # gcc-only flags; libclang needs none of them
                keep.append(a)
            db.setdefault(fn, (e["directory"], keep))
    return db


def strip(c):
    """The expression as written: without implicit casts (UNEXPOSED_EXPR with one child)."""
    while c.kind == K.UNEXPOSED_EXPR:
        ch = list(c.get_children())
        if len(ch) != 1:
            break
        c = ch[0]
    return c


class FileCheck:
    def __init__(self, path, tu):
        self.path = path
        self.tu = tu
        with open(path, "rb") as f:
            self.src = f.read()
        self.findings = []  # (line, rule, msg, fix or None); fix = list of (offset, del_len, text)
        self.macro_ranges = []
        # Every token of the file by offset; macro instantiation ranges.
        self.tok_at = {}
        self.toks = []
        for t in tu.get_tokens(extent=tu.cursor.extent):
            if t.location.file is None or t.location.file.name != tu.spelling:
                continue
            self.toks.append((t.extent.start.offset, t.extent.end.offset, t.spelling))
        self.toks.sort()
        self.tok_at = {s: (e, sp) for s, e, sp in self.toks}

    def in_file(self, c):
        f = c.extent.start.file
        return f is not None and f.name == self.tu.spelling

    def text(self, c):
        return self.src[c.extent.start.offset:c.extent.end.offset].decode()

    def tok(self, off):
        return self.tok_at.get(off, (None, None))[1]

    def next_tok_after(self, off):
        """First token starting at or after off."""
        import bisect
        i = bisect.bisect_left(self.toks, (off, -1, ""))
        return self.toks[i] if i < len(self.toks) else None

    def binop(self, c):
        """Spelling of a binary operator's operator token, or None when it is not in the file."""
        ch = list(c.get_children())
        if len(ch) != 2:
            return None
        t = self.next_tok_after(ch[0].extent.end.offset)
        if t is None or t[0] >= ch[1].extent.start.offset:
            return None
        return t[2]

    def is_boolish(self, c):
        c = strip(c)
        if c.kind == K.PAREN_EXPR:
            ch = list(c.get_children())
            return len(ch) == 1 and self.is_boolish(ch[0])
        if c.type.get_canonical().kind == ci.TypeKind.BOOL:
            return True
        if c.kind == K.BINARY_OPERATOR:
            return self.binop(c) in BOOL_OPS
        if c.kind == K.UNARY_OPERATOR:
            return self.tok(c.extent.start.offset) == "!"
        if c.kind == K.CONDITIONAL_OPERATOR:
            ch = list(c.get_children())
            return len(ch) == 3 and self.is_boolish(ch[1]) and self.is_boolish(ch[2])
        return False

    def zero_for(self, c):
        """What a truth test of c compares against, or None if it is neither pointer nor integer."""
        t = strip(c).type.get_canonical()
        k = t.kind
        if k in (ci.TypeKind.POINTER, ci.TypeKind.BLOCKPOINTER, ci.TypeKind.CONSTANTARRAY,
                 ci.TypeKind.INCOMPLETEARRAY, ci.TypeKind.FUNCTIONPROTO):
            return "NULL"
        if k in (ci.TypeKind.CHAR_S, ci.TypeKind.CHAR_U, ci.TypeKind.SCHAR):
            return "'\\0'"
        if k == ci.TypeKind.ENUM or (ci.TypeKind.CHAR_U.value <= k.value <= ci.TypeKind.INT128.value):
            return "0"
        return None

    def needs_parens(self, c):
        """Whether `c OP 0` needs parentheses around c."""
        c = strip(c)
        # Every binary operator gets them, also where C would not need them:
        # `(x & F) != 0`, `(v >> 56) != 0` read without a precedence table.
        return c.kind in (K.BINARY_OPERATOR, K.CONDITIONAL_OPERATOR, K.COMPOUND_ASSIGNMENT_OPERATOR)

    def add(self, c, rule, msg, fix=None):
        self.findings.append((c.extent.start.line, rule, msg, fix))

    def check_truth(self, cond, where):
        """cond: the expression used as a truth value."""
        if cond is None or not self.in_file(cond):
            return
        if self.is_boolish(cond):
            return
        zero = self.zero_for(cond)
        if zero is None:
            return
        s = strip(cond)
        if s.kind == K.INTEGER_LITERAL:
            kind = "constant"
        else:
            kind = "pointer" if zero == "NULL" else "integer"
        txt = self.text(cond)
        fix = None
        start, end = cond.extent.start.offset, cond.extent.end.offset
        if kind != "constant" and txt and self.tok(start) is not None:
            if self.needs_parens(cond):
                fix = [(end, 0, ") != " + zero), (start, 0, "(")]
            else:
                fix = [(end, 0, " != " + zero)]
        want = ("(%s) != %s" if self.needs_parens(cond) else "%s != %s") % (txt, zero)
        if kind == "constant":
            want = "for (;;)" if where in ("while", "for") else "no constant condition"
        self.add(cond, "truth-test", "%s `%s` is an implicit %s truth test; write `%s`" %
                 (where, txt, kind, want), fix)

    def check_not(self, c, parent):
        start = c.extent.start.offset
        if self.tok(start) != "!":
            return  # postfix / other unary, or built by a macro
        ch = list(c.get_children())
        if len(ch) != 1:
            return
        op = ch[0]
        if self.is_boolish(op):
            return
        zero = self.zero_for(op) or "0"
        otxt = self.text(op)
        fix = None
        if self.in_file(op) and op.extent.start.offset > start and self.tok(op.extent.start.offset):
            new = ("(%s) == %s" if self.needs_parens(op) else "%s == %s") % (otxt, zero)
            # `!p` inside an operator tighter than `==` keeps its parentheses.
            if parent is not None and (
                    (parent.kind == K.BINARY_OPERATOR and self.binop(parent) not in ("&&", "||", "=", "?"))
                    or parent.kind in (K.UNARY_OPERATOR, K.COMPOUND_ASSIGNMENT_OPERATOR,
                                       K.MEMBER_REF_EXPR, K.ARRAY_SUBSCRIPT_EXPR)
                    or (parent.kind == K.CONDITIONAL_OPERATOR and
                        list(parent.get_children())[0] != c)):
                new = "(" + new + ")"
            fix = [(start, c.extent.end.offset - start, new)]
        self.add(c, "not-bool", "`!%s`: `!` on a non-bool; write `%s == %s`" % (otxt, otxt, zero), fix)

    def check_block(self, c):
        seen_stmt = False
        top = None  # where hoisted declarations go: after the leading ones, else after `{`
        hoisted = []
        first = None
        for ch in c.get_children():
            if ch.kind == K.DECL_STMT:
                if not seen_stmt:
                    top = ch.extent.end.offset
                elif self.in_file(ch):
                    h = self.hoist(ch)
                    fix = None
                    if h is not None:
                        hoisted.append(h[0])
                        fix = h[1]
                    self.add(ch, "decl-after", "declaration after a statement: `%s`" %
                             self.text(ch).split("\n")[0][:60], fix)
                    if fix is not None and first is None:
                        first = self.findings[-1]
            elif ch.kind not in (K.NULL_STMT,):
                seen_stmt = True
        if first is not None and self.tok(c.extent.start.offset) == "{":
            text = "".join("\n" + h for h in hoisted)
            if top is None:  # no declarations yet: open the block with them and a blank line
                top, text = c.extent.start.offset + 1, text + "\n"
            first[3].append((top, 0, text))

    def hoist(self, d):
        """(`T x;`, edits) that move declaration d to the top of its block, leaving
        `x = init;` where it was; None when that is not simple (several declarators,
        static/const/array/VLA with an initializer)."""
        vs = list(d.get_children())
        if len(vs) != 1 or vs[0].kind != K.VAR_DECL or self.src[d.extent.end.offset - 1:d.extent.end.offset] != b";":
            return None
        v = vs[0]
        start, end = d.extent.start.offset, d.extent.end.offset
        if self.tok(start) in ("static", "extern", "register", "_Thread_local", "__thread", "typedef"):
            return None
        tk = v.type.get_canonical().kind
        if tk == ci.TypeKind.VARIABLEARRAY:
            return None
        name_end = self.tok_at.get(v.location.offset, (None, None))[0]
        if name_end is None or self.tok(v.location.offset) != v.spelling:
            return None
        import bisect
        i = bisect.bisect_left(self.toks, (name_end, -1, ""))
        nxt = None
        while i < len(self.toks) and self.toks[i][0] < end:
            if self.toks[i][2] == "=":
                nxt = self.toks[i]
                break
            i += 1
        if nxt is None:  # no initializer (`T x;`, `char buf[N];`): move it whole
            ls = self.src.rfind(b"\n", 0, start) + 1
            le = self.src.find(b"\n", end)
            if self.src[ls:start].strip() == b"" and le >= 0 and self.src[end:le].strip() == b"":
                return self.text(d), [(ls, le + 1 - ls, "")]
            return self.text(d), [(start, end - start, "")]
        if v.type.is_const_qualified() or tk in (ci.TypeKind.CONSTANTARRAY,
                                                  ci.TypeKind.INCOMPLETEARRAY):
            return None
        init = [x for x in v.get_children() if x.extent.start.offset >= nxt[1]]
        if len(init) != 1:
            return None
        lhs = v.spelling + " = "
        if "(unnamed" in v.type.spelling or "(anonymous" in v.type.spelling:
            return None
        if strip(init[0]).kind == K.INIT_LIST_EXPR:
            lhs += "(" + v.type.spelling + ")"
        head = self.src[start:name_end].decode()
        return head + ";", [(start, init[0].extent.start.offset - start, lhs)]

    def walk(self, c, parent=None):
        k = c.kind
        if k == K.COMPOUND_STMT:
            self.check_block(c)
        elif k in (K.IF_STMT, K.WHILE_STMT) and self.tok(c.extent.start.offset) in ("if", "while"):
            ch = list(c.get_children())
            if ch:
                self.check_truth(ch[0], self.tok(c.extent.start.offset))
        elif k == K.DO_STMT and self.tok(c.extent.start.offset) == "do":
            ch = list(c.get_children())
            if len(ch) == 2:
                self.check_truth(ch[1], "do-while")
        elif k == K.FOR_STMT and self.tok(c.extent.start.offset) == "for":
            self.check_for(c)
        elif k == K.CONDITIONAL_OPERATOR:
            ch = list(c.get_children())
            if len(ch) == 3:
                t = self.next_tok_after(ch[0].extent.end.offset)
                if t is not None and t[2] == "?" and t[0] < ch[1].extent.start.offset:
                    self.check_truth(ch[0], "?: condition")
        elif k == K.BINARY_OPERATOR:
            op = self.binop(c)
            if op in ("&&", "||"):
                for ch in c.get_children():
                    self.check_truth(ch, "`%s` operand" % op)
        elif k == K.UNARY_OPERATOR:
            self.check_not(c, parent)
        for ch in c.get_children():
            self.walk(ch, c)

    def check_for(self, c):
        # libclang gives a for's children without saying which is which; find the
        # condition as the expression between the two `;` of the header.
        body_start = None
        ch = list(c.get_children())
        if not ch:
            return
        lpar = self.next_tok_after(c.extent.start.offset + 3)
        if lpar is None or lpar[2] != "(":
            return
        depth, semis, off = 0, [], lpar[0]
        import bisect
        i = bisect.bisect_left(self.toks, (lpar[0], -1, ""))
        while i < len(self.toks):
            s, e, sp = self.toks[i]
            if sp == "(":
                depth += 1
            elif sp == ")":
                depth -= 1
                if depth == 0:
                    body_start = e
                    break
            elif sp == ";" and depth == 1:
                semis.append(s)
            i += 1
        if len(semis) != 2:
            return
        for x in ch:
            if x.extent.start.offset > semis[0] and x.extent.end.offset <= semis[1]:
                self.check_truth(x, "for")

    def run(self):
        for c in self.tu.cursor.get_children():
            if self.in_file(c) and c.kind == K.FUNCTION_DECL and c.is_definition():
                self.walk(c)
        return self.findings


def check_one(path, build, db, fix):
    rel = os.path.relpath(path, ROOT)
    directory, args = db.get(os.path.realpath(path), (ROOT, None))
    if args is None:
        args = ["-I" + os.path.join(ROOT, "include"), "-D_GNU_SOURCE", "-std=gnu11"]
        for d in PRODUCT_DIRS:
            args.append("-I" + os.path.join(ROOT, d))
    args = args + ["-Wno-everything"]
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        idx = ci.Index.create()
        tu = idx.parse(path, args=args)
    finally:
        os.chdir(cwd)
    errs = [d for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
    out, nfixed = [], 0
    for d in errs[:3]:
        out.append("%s:%d: [parse] %s" % (rel, d.location.line, d.spelling))
    if errs:
        return out, 0
    fc = FileCheck(path, tu)
    findings = fc.run()
    if fix:
        edits = []
        for f in findings:
            if f[3]:
                edits += f[3]
        if edits:
            src = fc.src
            # From the end of the file backwards, so that earlier offsets stay valid.
            # At one offset a replacement goes in before an insertion (which then precedes it).
            for off, dlen, txt in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
                src = src[:off] + txt.encode() + src[off + dlen:]
            with open(path, "wb") as f:
                f.write(src)
            nfixed = sum(1 for f in findings if f[3])
        findings = [f for f in findings if not f[3]]
    for line, rule, msg, _ in sorted(findings, key=lambda f: f[0]):
        out.append("%s:%d: [%s] %s" % (rel, line, rule, msg))
    return out, nfixed


def clang_format(files, fix):
    exe = "clang-format-14" if subprocess.call(["sh", "-c", "command -v clang-format-14 >/dev/null"]) == 0 \
        else "clang-format"
    if fix:
        subprocess.call([exe, "-i"] + files, cwd=ROOT)
    r = subprocess.run([exe, "--dry-run", "-Werror"] + files, cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    for line in r.stdout.splitlines():
        if ": error: code should be clang-formatted" in line:
            p = line.split(":")
            out.append("%s:%s: [format] code should be clang-formatted (clang-format -i %s)" %
                       (os.path.relpath(os.path.join(ROOT, p[0]), ROOT), p[1],
                        os.path.relpath(os.path.join(ROOT, p[0]), ROOT)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-p", "--build", default=os.path.join(ROOT, "build", "rel"),
                    help="build dir with compile_commands.json (default build/rel)")
    ap.add_argument("--fix", action="store_true", help="rewrite the simple cases, then clang-format -i")
    ap.add_argument("--no-format", action="store_true", help="skip the clang-format check")
    ap.add_argument("-j", type=int, default=os.cpu_count() or 1)
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    files = [os.path.abspath(f) for f in a.files] or product_files()
    for f in files:
        if os.path.relpath(f, ROOT).split(os.sep)[0] not in PRODUCT_DIRS:
            sys.stderr.write("check-style: %s is not product code (%s)\n" % (f, " ".join(PRODUCT_DIRS)))
            return 2
    db = load_compile_db(a.build)
    out, nfixed = [], 0
    with ProcessPoolExecutor(max_workers=max(1, a.j)) as ex:
        for o, n in ex.map(check_one, files, [a.build] * len(files), [db] * len(files),
                           [a.fix] * len(files)):
            out += o
            nfixed += n
    if not a.no_format:
        out += clang_format([os.path.relpath(f, ROOT) for f in files], a.fix)
    for line in out:
        print(line)
    if a.fix:
        print("check-style: %d finding(s) fixed, %d left" % (nfixed, len(out)), file=sys.stderr)
    else:
        print("check-style: %d file(s), %d finding(s)" % (len(files), len(out)), file=sys.stderr)
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
