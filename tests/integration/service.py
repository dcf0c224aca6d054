#!/usr/bin/env python3
"""service.py: `kiln run` with kilnd, from the outside.

    service.py CASE --kiln KILN --kilnd KILND --stdio STDIO.wasm
               --sample SAMPLE.wasm --native SAMPLE-native [--args A...]

Cases:
  shared       two agents running one module at one tier map the same segment
               (same file and inode in both /proc/PID/maps), and kilnd
               compiled it once: the second agent's package came from the index.
  dies         kilnd is killed while it compiles: the script runs anyway,
               interpreted, prints exactly what its native build prints, and
               kiln says so in one warning line.
  absent       no kilnd and none can be started (no program, or nowhere to
               log): the same, and the warning says why.
  mute         something at the endpoint accepts connections but never
               answers: the same, within seconds.
  small-address-space
               hot under an address-space limit too small for the guard
               region that hot code relies on: the same, without compiling.
  evict        kilnd's bounds on shared memory and the disk cache: least
               recently used packages go, one log line each, never one an
               agent maps.

Each case uses a private XDG_RUNTIME_DIR, XDG_CACHE_HOME and XDG_CONFIG_HOME
(so a kilnd.conf of the user's own never applies).
"""
import argparse
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

failures = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(what)


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


class Env:
    def __init__(self, opts, tmp):
        self.opts = opts
        self.run_dir = os.path.join(tmp, "run")
        os.mkdir(self.run_dir, 0o700)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=self.run_dir,
                        XDG_CACHE_HOME=os.path.join(tmp, "cache"),
                        XDG_CONFIG_HOME=os.path.join(tmp, "config"),
                        # kilnd's workers keep the compiler's files there
                        # (a kilnd a case kills cannot remove them)
                        TMPDIR=tmp, KILN_KILND=opts.kilnd)
        self.sock = os.path.join(self.run_dir, "kiln", "kilnd.sock")
        self.endpoint = "ipc://" + self.sock
        self.log = os.path.join(tmp, "kilnd.log")
        self.kilnd = None
        self.tmp = tmp

    def start_kilnd(self, *args):
        os.makedirs(os.path.dirname(self.sock), mode=0o700, exist_ok=True)
        with open(self.log, "ab") as log:
            self.kilnd = subprocess.Popen(
                [self.opts.kilnd, "--foreground", "--endpoint", self.endpoint, *args],
                env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        if not wait_for(lambda: "listening on" in read(self.log), 20):
            raise SystemExit("kilnd did not start:\n" + read(self.log))

    def stop_kilnd(self):
        if self.kilnd and self.kilnd.poll() is None:
            self.kilnd.send_signal(signal.SIGTERM)
            try:
                self.kilnd.wait(20)
            except subprocess.TimeoutExpired:
                self.kilnd.kill()
                self.kilnd.wait()

    def kiln(self, *args, **kw):
        return subprocess.Popen([self.opts.kiln, "run", *args], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def segments(pid):
    """(device, inode, path) of every package segment mapped by pid."""
    found = set()
    for line in read(f"/proc/{pid}/maps").splitlines():
        f = line.split()
        if len(f) >= 6 and "/kiln-" in f[5] and f[5].endswith(".so"):
            found.add((f[3], f[4], f[5]))
    return found


def case_shared(e):
    e.start_kilnd()
    agents, errs = [], []
    for n in range(2):
        p = e.kiln("--tier", "hot", "--verbose", e.opts.stdio, stdin=subprocess.PIPE)
        os.set_blocking(p.stderr.fileno(), False)
        agents.append(p)
        errs.append(b"")
        # The script blocks reading stdin once its package is mapped.
        def mapped():
            errs[n] += p.stderr.read() or b""
            return b"kiln: hot tier:" in errs[n] or p.poll() is not None
        check(f"agent {n + 1} reports its package", wait_for(mapped, 120), errs[n])
    maps = [segments(p.pid) for p in agents]
    check("agent 1 maps a package segment", len(maps[0]) > 0, maps[0])
    check("both agents map the same file and inode", maps[0] == maps[1], maps)
    names = [re.search(rb"from (kiln-\S+\.so)", err) for err in errs]
    check("each maps the segment kilnd named",
          all(names) and all(any(path.endswith("/" + m.group(1).decode()) for _, _, path in s)
                             for m, s in zip(names, maps)), (names, maps))
    check("the second agent's package came from kilnd's index", b"cached" in errs[1], errs[1])
    for n, p in enumerate(agents):
        out, err = p.communicate(b"hello\n", timeout=60)
        check(f"agent {n + 1} runs compiled code to the end",
              p.returncode == 0 and out == b"HELLO\n", (p.returncode, out, errs[n] + err))
    log = read(e.log)
    check("kilnd compiled the package once", log.count("compile done") == 1, log)


def same_as_native(e, p, what, timeout=300):
    out, err = p.communicate(timeout=timeout)
    native = subprocess.run([e.opts.native, *e.opts.args], capture_output=True)
    check(f"{what}: exit status as native", p.returncode == native.returncode,
          (p.returncode, native.returncode))
    check(f"{what}: stdout identical to native", out == native.stdout, out[-300:])
    lines = err.decode(errors="replace").splitlines()
    check(f"{what}: one warning line",
          len(lines) == 1 and lines[0].startswith("kiln: warning: ")
          and lines[0].endswith("running interpreted"), lines)
    return lines


def case_dies(e):
    e.start_kilnd("--test-job-delay", "10000")
    e.env["KILN_KILND"] = "/bin/false"  # no second kilnd to fall back on
    p = e.kiln("--tier", "hot", "--service", e.endpoint, e.opts.sample, *e.opts.args)
    check("kilnd starts the compile", wait_for(lambda: "compile started" in read(e.log), 60),
          read(e.log))
    e.kilnd.kill()
    e.kilnd.wait()
    started = time.monotonic()
    lines = same_as_native(e, p, "kilnd killed mid-compile")
    check("the warning says kilnd went away", lines and "went away" in lines[0], lines)
    check("noticed at once, not after the timeout", time.monotonic() - started < 60)


def case_absent(e):
    e.env["KILN_KILND"] = "/bin/false"
    lines = same_as_native(e, e.kiln("--tier", "warm", e.opts.sample, *e.opts.args), "no kilnd")
    check("the warning names the endpoint", lines and e.endpoint in lines[0], lines)
    # A real kilnd, but an endpoint whose directory does not exist: the
    # warning must say why kilnd could not start, not point at a log that
    # could not be written.
    e.env["KILN_KILND"] = e.opts.kilnd
    missing = os.path.join(os.path.dirname(e.sock), "missing", "kilnd.sock")
    p = e.kiln("--tier", "warm", "--service", "ipc://" + missing, e.opts.sample, *e.opts.args)
    lines = same_as_native(e, p, "endpoint in a missing directory")
    check("the warning says why kilnd did not start",
          lines and "No such file or directory" in lines[0] and "kilnd.log" in lines[0], lines)


def case_mute(e):
    e.env["KILN_KILND"] = "/bin/false"
    os.makedirs(os.path.dirname(e.sock), mode=0o700, exist_ok=True)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(e.sock)
    srv.listen(8)
    started = time.monotonic()
    try:
        same_as_native(e, e.kiln("--tier", "hot", e.opts.sample, *e.opts.args), "mute endpoint")
    finally:
        srv.close()
    check("gave up within 30 s", time.monotonic() - started < 30)


def case_small_address_space(e):
    """Under an address-space limit too small for a memory's guard region,
    hot code cannot run unchecked: kiln must say so and run interpreted."""
    limit = 6 << 30
    def small():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    probe = subprocess.run([e.opts.kiln, "--version"], preexec_fn=small, capture_output=True)
    if probe.returncode != 0:
        # AddressSanitizer reserves terabytes of shadow memory up front.
        print("SKIP: kiln does not start under a 6 GiB address-space limit in this build:",
              probe.stderr.decode(errors="replace").strip()[:200])
        sys.exit(77)
    e.start_kilnd()
    p = e.kiln("--tier", "hot", "--service", e.endpoint, e.opts.sample, *e.opts.args,
               preexec_fn=small)
    lines = same_as_native(e, p, "hot under ulimit -v")
    check("the warning names the address space", lines and "address space" in lines[0], lines)
    check("kilnd was not asked to compile", "compile started" not in read(e.log), read(e.log))


def case_evict(e):
    """Under --max-segments 0 --max-cache 0, each compile evicts the
    segments and cached packages not used in the last seconds, each logged,
    never a segment an agent maps, and output stays the same."""
    e.start_kilnd("--max-segments", "0", "--max-cache", "0")
    holder = e.kiln("--tier", "hot", "--verbose", e.opts.stdio, stdin=subprocess.PIPE)
    os.set_blocking(holder.stderr.fileno(), False)
    err = [b""]
    def mapped():
        err[0] += holder.stderr.read() or b""
        return b"kiln: hot tier:" in err[0] or holder.poll() is not None
    check("the holding agent maps its package", wait_for(mapped, 120), err[0])
    held = segments(holder.pid)
    # More packages than 1 MiB holds: the sample at both compiled tiers,
    # with and without its arguments' effect on nothing (the same module),
    # then the stdio module warm.
    for tier in ("warm", "hot"):
        for module, args in ((e.opts.sample, e.opts.args), (e.opts.stdio, [])):
            if module == e.opts.stdio and tier == "hot":
                continue
            p = e.kiln("--tier", tier, "--service", e.endpoint, module, *args,
                       stdin=subprocess.DEVNULL)
            p.communicate(timeout=300)
    # The sample's packages: 3 more compiles of other function sets, by
    # auto runs that start interpreted and tier up.
    for _ in range(2):
        p = e.kiln("--service", e.endpoint, e.opts.sample, *e.opts.args)
        same_as_native_quiet(e, p)
    log = read(e.log)
    check("kilnd evicted segments, one line each", "evicted segment" in log, log[-3000:])
    check("kilnd evicted cached packages, one line each", "evicted cached package" in log,
          log[-3000:])
    check("the mapped segment was kept",
          all(os.path.exists(path) for _, _, path in held) and held, (held, log[-2000:]))
    cache = os.path.join(e.env["XDG_CACHE_HOME"], "kiln")
    size = sum(os.path.getsize(os.path.join(cache, f)) for f in os.listdir(cache)
               if f.endswith((".so", ".pkg")))
    newest = max((os.path.getmtime(os.path.join(cache, f)) for f in os.listdir(cache)
                  if f.endswith(".so")), default=0)
    check("the disk cache keeps only what was used in its last seconds",
          all(time.time() - os.path.getmtime(os.path.join(cache, f)) < 10
              for f in os.listdir(cache) if f.endswith(".so")), (size, newest))
    out, _ = holder.communicate(b"hello\n", timeout=60)
    check("the holding agent runs to the end", holder.returncode == 0 and out == b"HELLO\n",
          (holder.returncode, out))


def same_as_native_quiet(e, p, timeout=300):
    out, err = p.communicate(timeout=timeout)
    native = subprocess.run([e.opts.native, *e.opts.args], capture_output=True)
    check("a run after evictions prints what native does", out == native.stdout
          and p.returncode == native.returncode, (p.returncode, err[-300:]))


def run_case(opts, cases, samples=()):
    """Runs cases["case_" + opts.case] in an Env of its own, samples
    ("NAME=WASM:NATIVE") as its e.samples; the exit status."""
    with tempfile.TemporaryDirectory() as tmp:
        e = Env(opts, tmp)
        e.samples = {}
        for s in samples:
            name, paths = s.split("=", 1)
            e.samples[name] = paths.split(":", 1)
        try:
            cases["case_" + opts.case.replace("-", "_")](e)
        finally:
            e.stop_kilnd()
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser()
    for flag in ("--kiln", "--kilnd", "--stdio", "--sample", "--native"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--args", nargs="*", default=[])
    ap.add_argument("case", choices=["shared", "dies", "absent", "mute", "small-address-space",
                                     "evict"])
    return run_case(ap.parse_args(), globals())

if __name__ == "__main__":
    sys.exit(main())
