#!/usr/bin/env python3
"""run.py: WASI preview1 through `kiln run`, checked from the outside.

    run.py --kiln KILN --wasm-dir DIR [--node NODE --node-runner node-run.mjs] CASE

Each CASE runs one or more of the test programs (DIR/NAME.wasm) and checks
stdout, stderr and the exit status exactly. Where Node.js is given, the
cases that do not depend on sandboxing also run under node:wasi and must
print the same (node:wasi does not confine paths, so `escape` is kiln's
alone). Prints one line per check; exits 1 if any failed.
"""
import argparse
import os
import subprocess
import sys
import tempfile

FAILURES = []


def check(label, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + label)
    if not ok:
        FAILURES.append(label)
        if detail:
            print("     " + detail.replace("\n", "\n     "))


class Runner:
    def __init__(self, opts, tmp):
        self.kiln = opts.kiln
        self.wasm_dir = opts.wasm_dir
        self.node = opts.node
        self.node_runner = opts.node_runner
        # These are WASI's tests: kiln never meets a kilnd here (a runtime and
        # cache directory of their own, and no kilnd to start), so a run
        # past the warm-up stays interpreted without a word about it.
        run_dir = os.path.join(tmp, "run")
        os.mkdir(run_dir, 0o700)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=run_dir,
                        XDG_CACHE_HOME=os.path.join(tmp, "cache"))
        if opts.preload:
            # kiln alone gets the shim; an ASan build wants its runtime first
            # in the library list and would refuse to start otherwise.
            self.env["LD_PRELOAD"] = opts.preload
            asan = self.env.get("ASAN_OPTIONS", "")
            self.env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"

    def wasm(self, name):
        return os.path.join(self.wasm_dir, name + ".wasm")

    def kiln_run(self, options, name, args=(), stdin=b"", raw=False):
        """Runs `kiln run OPTIONS NAME.wasm ARGS`; returns (rc, stdout, stderr)."""
        tier = [] if any(o.startswith("--tier") for o in options) else ["--tier", "cold"]
        cmd = [self.kiln] + (options if raw else ["run"] + tier + options + [self.wasm(name)]
                             + list(args))
        p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=100, env=self.env)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def node_run(self, options, name, args=(), stdin=b""):
        cmd = [self.node, self.node_runner] + options + [self.wasm(name)] + list(args)
        p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=100)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def expect(self, label, got, rc=0, stdout=None, stderr=""):
        """Compares (rc, stdout, stderr) with the expectation; None skips a part."""
        g_rc, g_out, g_err = got
        check(f"{label}: exit status {rc}", g_rc == rc, f"got {g_rc}; stderr: {g_err.strip()}")
        if stdout is not None:
            check(f"{label}: stdout", g_out == stdout, diff(stdout, g_out))
        if stderr is not None:
            check(f"{label}: stderr", g_err == stderr, diff(stderr, g_err))

    def same_as_node(self, label, kiln_result, options, name, args=(), stdin=b"",
                     node_options=None):
        if not self.node:
            return
        got = self.node_run(node_options if node_options is not None else options, name, args, stdin)
        check(f"{label}: same exit status under node", got[0] == kiln_result[0],
              f"kiln {kiln_result[0]}, node {got[0]}: {got[2].strip()}")
        check(f"{label}: same stdout under node", got[1] == kiln_result[1],
              diff(got[1], kiln_result[1]))


def diff(want, got):
    w, g = want.splitlines(), got.splitlines()
    for i in range(max(len(w), len(g))):
        a = w[i] if i < len(w) else "<none>"
        b = g[i] if i < len(g) else "<none>"
        if a != b:
            return f"first difference at line {i + 1}:\n  expected: {a!r}\n  got:      {b!r}"
    return "(differs only in line endings)"


# --- cases -----------------------------------------------------------------

def case_args_env(r):
    opts = ["--env", "KILN_A=1", "--env", "B=two words", "--env=C="]
    args = ["x", "y z", "", "--not-an-option"]
    got = r.kiln_run(opts, "args_env", args)
    r.expect("args_env", got, 0,
             "argc=5\n"
             "argv[0] ends with args_env.wasm: yes\n"
             "argv[1]=[x]\n"
             "argv[2]=[y z]\n"
             "argv[3]=[]\n"
             "argv[4]=[--not-an-option]\n"
             "KILN_A=1\n"
             "HOME=(unset)\n"
             "environ: [KILN_A=1]\n"
             "environ: [B=two words]\n"
             "environ: [C=]\n")
    r.same_as_node("args_env", got, ["--env", "KILN_A=1", "--env", "B=two words", "--env", "C="],
                   "args_env", args)
    got = r.kiln_run(["--"], "args_env", ["--env"])
    r.expect("args_env after --", got, 0,
             "argc=2\nargv[0] ends with args_env.wasm: yes\nargv[1]=[--env]\nKILN_A=(unset)\n"
             "HOME=(unset)\n")


FILES_OUT = """\
empty at start:
mkdir d: ok
mkdir d again: EEXIST
fopen w: ok
read back: [hello world
]
lseek 6: 6
read 5: 5 [world]
tell: 11
lseek end: 12
write on read-only fd: EBADF
stat file: ok
regular 1, size 12, nlink 1
stat dir: ok
directory 1
stat missing: ENOENT
open missing: ENOENT
open excl existing: EEXIST
open dir for writing: EISDIR
open file as dir: ENOTDIR
size after append: 17
pwrite at 0: 5
pread at 6: 6 [world
]
position unchanged: 0
ftruncate 5: ok
fsync: ok
fdatasync: ok
fstat: ok
size after truncate: 5
after truncate: [HELLO]
utimensat: ok
atime 1000000000 mtime 1500000000
big file: wrote 300000, read 300000, same 1
rename: ok
stat old name: ENOENT
new name: [HELLO]
mkdir d/sub: ok
rename into sub: ok
symlink: ok
readlink: 5 [b.txt]
through link: [HELLO]
lstat link: ok
is symlink 1
hard link: ok
nlink after link: 2
dot-dot inside: [HELLO]
readdir d: b.txt f0 f1 f2 hard link@ sub/
readdir root: d/
rmdir non-empty: ENOTEMPTY
unlink dir: EISDIR
rmdir file: ENOTDIR
unlink link: ok
unlink hard: ok
unlink b.txt: ok
unlink missing: ENOENT
unlink big: ok
rmdir sub: ok
rmdir d: ok
mkdir m: ok
access mode write-only: 1
set O_APPEND: ok
O_APPEND set: 1
isatty(file): 0
posix_fallocate: ok
size after fallocate: 4096
ftruncate to grow: ok
size after growing: 10000
posix_fadvise: ok
access existing: ok
access missing: ENOENT
freopen: ok
written after freopen: [renumbered
]
r+ read: [renumbered]
readdir of 300 entries: 300 seen, index sum 44850
remove file: ok
remove file b: ok
remove dir: ok
empty at end:
files: done
"""


def case_files(r):
    with tempfile.TemporaryDirectory() as tmp:
        # The same program under the three ways of naming a preopen.
        for label, guest in [("guest /sandbox", "/sandbox"), ("guest .", "."),
                             ("guest = host path", None)]:
            box = tempfile.mkdtemp(dir=tmp)
            spec = box if guest is None else f"{box}::{guest}"
            where = box if guest is None else guest
            got = r.kiln_run(["--dir", spec], "files", [where])
            r.expect(f"files ({label})", got, 0, FILES_OUT)
            check(f"files ({label}): directory empty afterwards", os.listdir(box) == [],
                  str(os.listdir(box)))
            if guest == "/sandbox":
                box2 = tempfile.mkdtemp(dir=tmp)
                r.same_as_node(f"files ({label})", got, ["--dir", f"{box2}::{guest}"], "files",
                               [where])
        # Two preopens: each is reachable, by its own name.
        a, b = tempfile.mkdtemp(dir=tmp), tempfile.mkdtemp(dir=tmp)
        got = r.kiln_run(["--dir", f"{a}::/one", "--dir", f"{b}::/two"], "files", ["/two"])
        r.expect("files (second of two preopens)", got, 0, FILES_OUT)


ESCAPE_OUT = """\
open inside: OPENED (7 bytes: inside
)
open ../secret: ENOTCAPABLE
open sub/../../secret: ENOTCAPABLE
open out: ENOTCAPABLE
open abs: ENOTCAPABLE
open up/secret: ENOTCAPABLE
open out: ENOTCAPABLE
open ../created: ENOTCAPABLE
open /etc/passwd: ENOTCAPABLE
stat ../secret: ENOTCAPABLE
stat out (follows): ENOTCAPABLE
lstat out: ok
stat up/secret: ENOTCAPABLE
mkdir ../evil: ENOTCAPABLE
mkdir up/evil: ENOTCAPABLE
unlink ../secret: ENOTCAPABLE
unlink up/secret: ENOTCAPABLE
rename inside -> ../moved: ENOTCAPABLE
rename ../secret -> stolen: ENOTCAPABLE
link ../secret -> hard: ENOTCAPABLE
symlink mine -> ../secret (creating is allowed): ok
open mine: ENOTCAPABLE
readlink out: 9 [../secret]
utimensat up/.. : ENOTCAPABLE
unlink mine: ok
escape: done
"""


def case_escape(r):
    for guest in ["/sandbox", "."]:
        with tempfile.TemporaryDirectory() as tmp:
            box = os.path.join(tmp, "box")
            os.makedirs(os.path.join(box, "sub"))
            secret = os.path.join(tmp, "secret")
            with open(secret, "w") as f:
                f.write("SECRET\n")
            with open(os.path.join(box, "inside"), "w") as f:
                f.write("inside\n")
            os.symlink("../secret", os.path.join(box, "out"))
            os.symlink(secret, os.path.join(box, "abs"))
            os.symlink("..", os.path.join(box, "up"))
            before = sorted(os.listdir(tmp))
            got = r.kiln_run(["--dir", f"{box}::{guest}"], "escape", [guest])
            # An absolute path under no preopen is refused by wasi-libc itself,
            # which says ENOENT when the only preopen is ".".
            want = ESCAPE_OUT if guest != "." else ESCAPE_OUT.replace(
                "open /etc/passwd: ENOTCAPABLE", "open /etc/passwd: ENOENT")
            r.expect(f"escape (guest {guest})", got, 0, want)
            with open(secret) as f:
                check(f"escape (guest {guest}): secret unchanged", f.read() == "SECRET\n")
            check(f"escape (guest {guest}): nothing created or removed outside",
                  sorted(os.listdir(tmp)) == before, str(sorted(os.listdir(tmp))))
            check(f"escape (guest {guest}): sandbox as it was",
                  sorted(os.listdir(box)) == ["abs", "inside", "out", "sub", "up"],
                  str(sorted(os.listdir(box))))


def case_clock_random(r):
    got = r.kiln_run([], "clock_random")
    r.expect("clock_random", got, 0,
             "monotonic never goes back: yes\n"
             "monotonic advanced: yes\n"
             "monotonic resolution > 0: yes\n"
             "realtime is plausible: yes\n"
             "process cpu time readable: yes\n"
             "nanosleep(20ms) slept >= 20ms: yes\n"
             "usleep(5ms) slept >= 5ms: yes\n"
             "random_get works: yes\n"
             "random bytes differ: yes\n"
             "random bytes mostly nonzero: yes\n"
             "getentropy works: yes\n")


def case_exit_code(r):
    for mode in ["exit", "return"]:
        for n in [0, 3, 42, 255]:
            got = r.kiln_run([], "exit_code", [mode, str(n)])
            r.expect(f"exit_code {mode} {n}", got, n, f"before exit {n}\n",
                     f"stderr before exit {n}\n")
            if n == 42:
                r.same_as_node(f"exit_code {mode} {n}", got, [], "exit_code", [mode, str(n)])


def case_stdio(r):
    got = r.kiln_run([], "stdio", [], stdin=b"hello\nworld\n")
    r.expect("stdio echo", got, 0, "HELLO\nWORLD\n", "poll stdin: 1\n2 lines read\n")
    r.same_as_node("stdio echo", got, [], "stdio", [], stdin=b"hello\nworld\n")
    n = 200000
    got = r.kiln_run([], "stdio", [str(n)])
    lines = got[1].splitlines()
    check("stdio large output: exit status 0", got[0] == 0, got[2])
    check(f"stdio large output: all {n} lines, in order",
          len(lines) == n and lines[0] == "line 0" and lines[-1] == f"line {n - 1}"
          and lines == [f"line {i}" for i in range(n)], f"{len(lines)} lines")


def one_line(err):
    return err.count("\n") == 1 and err.endswith("\n")


def case_trap(r):
    rc, out, err = r.kiln_run([], "trap", ["unreachable"])
    check("trap unreachable: exit status 134", rc == 134, f"got {rc}: {err}")
    check("trap unreachable: output before the trap kept", out == "about to trap\n", repr(out))
    check("trap unreachable: one line 'kiln: trap: unreachable ...'",
          one_line(err) and err.startswith("kiln: trap: unreachable"), repr(err))
    rc, out, err = r.kiln_run([], "trap", ["runaway"])
    check("trap runaway recursion: exit status 134", rc == 134, f"got {rc}: {err}")
    check("trap runaway recursion: one line 'kiln: trap: call stack exhausted ...'",
          one_line(err) and err.startswith("kiln: trap: call stack exhausted"), repr(err))
    # Deep enough to overflow an ordinary 8 MiB thread stack in most
    # interpreters, and still within what an ASan build's bigger frames fit
    # (about 2.7 KB of the interpreter's each, in kiln's 64 MiB there).
    got = r.kiln_run([], "trap", ["deep", "20000"])
    r.expect("deep recursion (20000 calls)", got, 0, "sum of 1..20000 = 200010000\n")


BADPTR_OUT = """\
fd_write iovs out of memory: 21
fd_write buffer out of memory: 21
fd_write length out of memory: 21
fd_write many iovs: 21
fd_write result out of memory: 21
visible
fd_write good: 0
fd_write bad fd: 8
fd_write negative fd: 8
fd_read buffer out of memory: 21
args_get out of memory: 21
args_sizes_get out of memory: 21
environ_get out of memory: 21
clock_time_get out of memory: 21
clock_time_get bad clock: 28
random_get out of memory: 21
fd_fdstat_get out of memory: 21
fd_prestat_dir_name out of memory: 21
fd_prestat_dir_name not a preopen: 8
path_open path out of memory: 21
path_open result out of memory: 21
path_open on stdout: 54
path_open embedded NUL: 28
path_filestat_get out of memory: 21
poll_oneoff out of memory: 21
poll_oneoff none: 28
fd_readdir buffer out of memory: 21
fd_readdir on a file: 54
fd_seek bad whence: 28
sock_accept: 58
badptr: done
"""


def case_badptr(r):
    with tempfile.TemporaryDirectory() as tmp:
        got = r.kiln_run(["--dir", f"{tmp}::/box"], "badptr")
        r.expect("badptr", got, 0, BADPTR_OUT)
        check("badptr: created nothing", os.listdir(tmp) == [], str(os.listdir(tmp)))


# A module with no exports at all (so no _start), and one importing a
# function nobody defines: written as bytes, so no tool is needed.
EMPTY_MODULE = b"\0asm\1\0\0\0"
UNKNOWN_IMPORT = (b"\0asm\1\0\0\0"
                  b"\x01\x04\x01\x60\x00\x00"                        # type () -> ()
                  b"\x02\x0b\x01\x03env\x03foo\x00\x00")            # import env.foo


def case_usage(r):
    good = r.wasm("args_env")

    def refused(label, argv, exact=None, prefix="kiln: "):
        rc, out, err = r.kiln_run(argv, None, raw=True)
        check(f"usage {label}: exit status 2", rc == 2, f"got {rc}: {err}")
        check(f"usage {label}: nothing on stdout", out == "", repr(out))
        if exact is not None:
            check(f"usage {label}: says {exact!r}", err == exact + "\n", repr(err))
        else:
            check(f"usage {label}: one line starting {prefix!r}",
                  one_line(err) and err.startswith(prefix), repr(err))

    with tempfile.TemporaryDirectory() as tmp:
        def file(name, data):
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(data)
            return path

        missing = os.path.join(tmp, "missing.wasm")
        refused("no command", [], "kiln: no command given; try 'kiln --help'")
        refused("unknown command", ["frobnicate"],
                "kiln: unknown command 'frobnicate'; try 'kiln --help'")
        refused("run without file", ["run"], "kiln: run: no FILE.wasm given; try 'kiln --help'")
        refused("unknown option", ["run", "--fast", good],
                "kiln: run: unknown option '--fast'; try 'kiln --help'")
        refused("--idle 0", ["run", "--tier=hot", "--idle", "0", good],
                "kiln: --idle 0: expected a number of seconds from 1 to 31536000")
        refused("--service ''", ["run", "--tier", "warm", "--service=", good],
                "kiln: --service: empty endpoint")
        refused("--tier bogus", ["run", "--tier", "fast", good],
                "kiln: --tier fast: unknown tier (expected auto, cold, warm or hot)")
        refused("--dir without value", ["run", "--dir"], "kiln: --dir: missing value")
        refused("--dir empty guest", ["run", "--dir", tmp + "::", good],
                f"kiln: --dir {tmp}::: expected HOST or HOST::GUEST")
        refused("--env without =", ["run", "--env", "NOVALUE", good],
                "kiln: --env NOVALUE: expected NAME=VALUE")
        refused("--dir missing directory", ["run", "--dir", missing, good],
                f"kiln: preopened directory {missing}: No such file or directory")
        refused("missing file", ["run", missing], prefix=f"kiln: {missing}: ")
        refused("directory as file", ["run", tmp], prefix=f"kiln: {tmp}: ")
        refused("malformed module", ["run", file("junk.wasm", b"this is not wasm\n")],
                prefix=f"kiln: {tmp}/junk.wasm: ")
        refused("truncated module", ["run", file("cut.wasm", open(good, "rb").read()[:100])],
                prefix=f"kiln: {tmp}/cut.wasm: ")
        no_start = file("empty.wasm", EMPTY_MODULE)
        refused("no _start", ["run", no_start],
                f"kiln: {no_start}: no \"_start\" function of type [] -> [] exported "
                "(not a WASI command module)")
        refused("unknown import", ["run", file("import.wasm", UNKNOWN_IMPORT)],
                prefix=f"kiln: {tmp}/import.wasm: unknown import")

    rc, out, err = r.kiln_run(["--help"], None, raw=True)
    check("--help: exit 0, usage on stdout", rc == 0 and out.startswith("Usage: kiln run")
          and err == "", repr(out[:60]))
    rc, out, err = r.kiln_run(["run", "--help"], None, raw=True)
    check("run --help: exit 0, usage on stdout", rc == 0 and out.startswith("Usage: kiln run")
          and err == "", repr(out[:60]))
    rc, out, err = r.kiln_run(["--version"], None, raw=True)
    check("--version: exit 0, 'kiln VERSION'", rc == 0 and out.startswith("kiln ")
          and out.count("\n") == 1 and err == "", repr(out))
    got = r.kiln_run(["--tier", "cold"], "exit_code", ["exit", "5"])
    r.expect("--tier cold runs", got, 5, "before exit 5\n", "stderr before exit 5\n")


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--wasm-dir", required=True)
    ap.add_argument("--node")
    ap.add_argument("--node-runner")
    ap.add_argument("--preload", help="a shared library kiln runs with (LD_PRELOAD)")
    ap.add_argument("case", choices=sorted(CASES))
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        CASES[opts.case](Runner(opts, tmp))
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
