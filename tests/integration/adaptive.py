#!/usr/bin/env python3
"""adaptive.py: `kiln run` in its default mode, auto, with kilnd, from the outside.

    adaptive.py CASE --kiln KILN --kilnd KILND --sample NAME=WASM:NATIVE...

Cases:
  tier-up   one agent: the script's output is its native build's, the run
            tiered up (its heat map's tier changes name a function that went
            hot, kilnd logged the partition), and --stats shows it.
  agents    after a first run, three agents at once on one kilnd, two of
            them on that module: each prints what its native build prints
            and tiers up; kilnd partitioned for each, and the two that
            started from the same kept heat map mapped one package segment
            (same file and inode).
  osr       mainloop, whose work is all in loops of main (called once),
            reaches compiled code mid-run: main goes hot, and the
            interpreter counts under half the iterations a cold run does.
  hints     callbacks, whose event loop calls one handler through a table
            nine times in ten: the heat map names that dominant target, kilnd
            compiles hot code with the profile hint, the handler goes hot, and
            the output is the native one.
  absent    no kilnd and none can be started: the output is the same, with
            exactly one warning line.

Each case uses a private XDG_RUNTIME_DIR and XDG_CACHE_HOME (service.py's Env).
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from service import check, read, run_case, segments, wait_for  # noqa: E402


def native_of(e, name, args):
    return subprocess.run([e.samples[name][1], *args], capture_output=True)


def run_auto(e, name, args, *opts):
    return e.kiln(*opts, e.samples[name][0], *args)


def same_as_native(e, name, args, p, what, timeout=300):
    out, err = p.communicate(timeout=timeout)
    native = native_of(e, name, args)
    check(f"{what}: exit status as native", p.returncode == native.returncode,
          (p.returncode, native.returncode, err[-500:]))
    check(f"{what}: stdout identical to native", out == native.stdout, out[-300:])
    return err.decode(errors="replace")


def heat_map(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as ex:
        return {"error": str(ex)}


def went_hot(hm):
    return [c for c in hm.get("tier_changes", []) if c.get("tier") == "hot"]


def case_tier_up(e):
    e.start_kilnd()
    hm_path = os.path.join(e.tmp, "heat.json")
    p = run_auto(e, "twophase", ["40"], "--stats", "--heatmap", hm_path, "--service", e.endpoint)
    err = same_as_native(e, "twophase", ["40"], p, "twophase, auto")
    hm = heat_map(hm_path)
    hot = went_hot(hm)
    check("some function went hot while the script ran", hot, hm)
    check("each change says why", all(c.get("why") for c in hm.get("tier_changes", [])), hm)
    check("the heat map has self time", hm.get("samples", 0) > 0, hm)
    regions = hm.get("regions", [])
    check("regions are hottest first",
          [r["self_samples"] for r in regions if "loop" not in r]
          == sorted((r["self_samples"] for r in regions if "loop" not in r), reverse=True))
    check("loops are regions of their own", any("loop" in r for r in regions), regions[:3])
    funcs = {r["func"] for r in regions if "loop" not in r}
    edges = hm.get("edges", [])
    check("call edges between functions that ran",
          edges and all(x["caller"] in funcs and x["callee"] in funcs and x["calls"] > 0
                        for x in edges), edges[:5])
    check("edges are busiest first",
          [x["calls"] for x in edges] == sorted((x["calls"] for x in edges), reverse=True))
    check("memory pages are reported", hm.get("memory_pages", 0) > 0, hm.get("memory_pages"))
    # A small function that only hot callers call goes hot with them.
    check("kilnd inlined a small callee into its hot caller",
          any("inlined into hot caller" in c.get("why", "") for c in hot), hot)
    check("--stats prints the table", "kiln: stats:" in err and " hot " in err, err)
    check("no warning", "warning" not in err, err)
    check("kilnd partitioned the heat map", "partition of" in read(e.log), read(e.log))
    # Its helpers with loops are called thousands of times: their next call
    # switches, and compiling OSR entries for them would only cost time.
    check("functions with short activations compile without OSR entries",
          "without OSR entries" in read(e.log), read(e.log))
    branches = hm.get("branches", [])
    check("the heat map has branch bias",
          branches and all(b["true"] + b["false"] > 0 and b["func"] in funcs for b in branches),
          branches[:5])
    check("hot code was compiled with branch hints", " branch hint" in read(e.log), read(e.log))


def case_agents(e):
    e.start_kilnd()
    # A first run leaves its heat map with kilnd: the two agents of that
    # module then start from the same partition, so they ask for the same
    # packages, which they share (later partitions are each agent's own).
    same_as_native(e, "twophase", ["40"], run_auto(e, "twophase", ["40"], "--service", e.endpoint),
                   "first run")
    runs = [("twophase", ["40"]), ("twophase", ["40"]), ("nbody", ["1000000"])]
    procs = []
    for n, (name, args) in enumerate(runs):
        hm = os.path.join(e.tmp, f"heat{n}.json")
        procs.append((name, args, hm, run_auto(e, name, args, "--heatmap", hm,
                                                "--service", e.endpoint)))
    # What each agent maps, as long as it runs: the two of one module must
    # have had one segment (file and inode) in common.
    seen = [set() for _ in procs]
    def all_done():
        for n, (_, _, _, p) in enumerate(procs):
            seen[n] |= segments(p.pid)
        return all(p.poll() is not None for _, _, _, p in procs)
    wait_for(all_done, 240)
    shared = seen[0] & seen[1]
    for n, (name, args, hm_path, p) in enumerate(procs):
        same_as_native(e, name, args, p, f"agent {n + 1} ({name})")
        check(f"agent {n + 1} tiered up", went_hot(heat_map(hm_path)), heat_map(hm_path))
    check("the two agents of one module mapped the same segment", shared, seen)
    check("one compile served both", "answered from the package index" in read(e.log)
          or "compile joined job" in read(e.log), read(e.log))
    log = read(e.log)
    check("kilnd partitioned for every agent", log.count("partition of") >= 3, log)


def case_osr(e):
    """mainloop does all its work in loops of main, which is called once:
    only on-stack replacement can move it to compiled code. Its loops must
    stop being interpreted mid-run."""
    e.start_kilnd()
    cold_path, auto_path = os.path.join(e.tmp, "cold.json"), os.path.join(e.tmp, "auto.json")
    p = run_auto(e, "mainloop", [], "--tier", "cold", "--heatmap", cold_path)
    same_as_native(e, "mainloop", [], p, "mainloop, cold")
    p = run_auto(e, "mainloop", [], "--heatmap", auto_path, "--service", e.endpoint)
    same_as_native(e, "mainloop", [], p, "mainloop, auto")
    cold, auto = heat_map(cold_path), heat_map(auto_path)
    check("main went hot while it ran",
          any(c.get("tier") == "hot" and c.get("func") == main_index(auto)
              for c in auto.get("tier_changes", [])), auto.get("tier_changes"))
    def iterations(hm):
        return sum(r.get("iterations", 0) for r in hm.get("regions", [])
                   if "loop" in r and r.get("name") == "main")
    check("main's loops ran mostly compiled (the interpreter counted under half)",
          0 < iterations(auto) < iterations(cold) / 2, (iterations(auto), iterations(cold)))
    osr = [r for r in auto.get("regions", []) if "loop" in r and r.get("name") == "main"
           and r.get("osr_entries", 0) > 0]
    check("the heat map counts the OSR transfers into main's loops", osr, auto.get("regions"))


def main_index(hm):
    for r in hm.get("regions", []):
        if r.get("name") == "main" and "loop" not in r:
            return r["func"]
    return None


def case_hints(e):
    """callbacks hands nine events in ten to one handler through a table:
    the monitor finds that target, kilnd asks for hot code with the hint,
    and the output stays the native one."""
    e.start_kilnd()
    hm_path = os.path.join(e.tmp, "heat.json")
    p = run_auto(e, "callbacks", ["40"], "--heatmap", hm_path, "--service", e.endpoint)
    same_as_native(e, "callbacks", ["40"], p, "callbacks, auto")
    hm = heat_map(hm_path)
    names = {r["func"]: r.get("name") for r in hm.get("regions", []) if "loop" not in r}
    dominant = [x for x in hm.get("edges", []) if x.get("indirect")
                and names.get(x["callee"]) == "on_add" and 2 * x["votes"] > x["calls"]]
    check("the event loop's call_indirect has on_add as its dominant target", dominant,
          [x for x in hm.get("edges", []) if x.get("indirect")])
    log = read(e.log)
    check("kilnd compiled hot code with a call hint", " call hint" in log, log)
    check("on_add went hot with its caller",
          any(names.get(c.get("func")) == "on_add" and c.get("tier") == "hot"
              for c in hm.get("tier_changes", [])), hm.get("tier_changes"))


def case_absent(e):
    e.env["KILN_KILND"] = "/bin/false"
    p = run_auto(e, "twophase", ["40"])
    err = same_as_native(e, "twophase", ["40"], p, "no kilnd")
    lines = err.splitlines()
    check("one warning line", len(lines) == 1 and lines[0].startswith("kiln: warning: "), lines)
    check("the warning names the endpoint", lines and "kilnd.sock" in lines[0], lines)


def main():
    ap = argparse.ArgumentParser()
    for flag in ("--kiln", "--kilnd"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--sample", action="append", default=[], help="NAME=WASM:NATIVE")
    ap.add_argument("case", choices=["tier-up", "agents", "osr", "hints", "absent"])
    opts = ap.parse_args()
    return run_case(opts, globals(), opts.sample)

if __name__ == "__main__":
    sys.exit(main())
