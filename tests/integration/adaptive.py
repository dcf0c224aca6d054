#!/usr/bin/env python3
"""adaptive.py: `kiln run` in its default mode, auto, with kilnd, from the outside.

    adaptive.py CASE --kiln KILN --kilnd KILND --sample NAME=WASM:NATIVE...

Cases:
  tier-up   one agent: the script's output is its native build's, the run
            tiered up (its heat map's tier changes name a function that went
            hot, kilnd logged the partition), and --stats shows it; and
            inlining (tests/integration/inlining.c), whose small callee goes
            hot beside its hot caller.
  agents    after a first run, three agents at once on one kilnd, two of
            them on that module: each prints what its native build prints
            and tiers up; kilnd partitioned for each, and the two that
            started from the same kept heat map mapped one package segment
            (same file and inode).
  osr       mainloop, whose work is all in loops of main (called once),
            reaches compiled code mid-run: main goes hot, and the
            interpreter counts under half the iterations a cold run does.
  interim   twophase with a 20 ms period: while the agent waits for its
            first packages its heat maps go on as interim ones (kilnd's log),
            and it goes hot all the same, with native's output.
  compiled-loops
            mainloop compiled whole before it starts, at warm and at hot:
            main's samples are its loops' (the code names the loop it is
            in), in more than one loop, and the output is native's.
  hints     callbacks, whose event loop calls one handler through a table
            nine times in ten: an interpreted run's heat map names that
            dominant target, kilnd compiles hot code with the profile hint,
            the handler goes hot, and the output is the native one.
  absent    no kilnd and none can be started: the output is the same, with
            exactly one warning line.
  release   phases (tests/integration/phases.c), whose hot function changes
            halfway while its interpreted main goes on: phase 1's function
            goes hot, then back to the interpreter after --demote-after, and
            its package's segment leaves /proc/PID/maps while the script
            still runs (one --verbose line names it); phase 3 calls it again,
            and it goes hot again, from a segment mapped after the release;
            the output is native's.
  control   a live threshold change with three agents on one kilnd (kiln
            control, for every agent): confirmed, and kilnd re-partitions
            each agent at once, with the new settings; every output native's.

Each case uses a private XDG_RUNTIME_DIR and XDG_CACHE_HOME (service.py's Env).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

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
    check("--stats prints the table", "kiln: stats:" in err and " hot " in err, err)
    check("no warning", "warning" not in err, err)
    check("kilnd partitioned the heat map", "partition of" in read(e.log), read(e.log))
    # Its helpers with loops are called thousands of times: their next call
    # switches, and compiling OSR entries for them would only cost time.
    check("functions with short activations compile without OSR entries",
          "without OSR entries" in read(e.log), read(e.log))
    # main is entered once and is running: its OSR entry is the one body
    # it needs, and gcc compiles it once instead of twice.
    check("a long-running main compiles with only its OSR entry",
          "with only an OSR entry" in read(e.log), read(e.log))
    branches = hm.get("branches", [])
    check("the heat map has branch bias",
          branches and all(b["true"] + b["false"] > 0 and b["func"] in funcs for b in branches),
          branches[:5])
    check("hot code was compiled with branch hints", " branch hint" in read(e.log), read(e.log))
    # A small function that only its hot caller calls, too seldom to earn
    # a tier by its own time, goes hot with it (twophase's memcmp may go
    # hot on its share first, so that sample cannot tell).
    hm_path = os.path.join(e.tmp, "inlining.json")
    p = run_auto(e, "inlining", ["100000"], "--heatmap", hm_path, "--service", e.endpoint)
    same_as_native(e, "inlining", ["100000"], p, "inlining, auto")
    hot = went_hot(heat_map(hm_path))
    check("kilnd inlined a small callee into its hot caller",
          any("inlined into hot caller" in c.get("why", "") for c in hot), hot)


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


def case_compiled_loops(e):
    """The sampler charges compiled code's time to its loops too, from
    where the code says it is: mainloop compiled whole before it starts
    (--tier warm, hot), so no interpreter frame ever names a loop, and its
    main still has its samples in its loops."""
    e.start_kilnd()
    for tier in ("warm", "hot"):
        path = os.path.join(e.tmp, f"{tier}.json")
        p = run_auto(e, "mainloop", [], "--tier", tier, "--heatmap", path, "--service", e.endpoint)
        same_as_native(e, "mainloop", [], p, f"mainloop, {tier}")
        regions = [r for r in heat_map(path).get("regions", []) if r.get("name") == "main"]
        whole = sum(r.get("self_samples", 0) for r in regions if "loop" not in r)
        loops = sorted((r.get("self_samples", 0), r["loop"]) for r in regions if "loop" in r)
        print(f"{tier}: main {whole} samples, its loops {loops}")
        check(f"{tier}: main ran compiled, with samples", whole > 100, regions)
        # Its loops are nested: each sample is its innermost loop's.
        check(f"{tier}: most of main's samples are its loops'",
              sum(n for n, _ in loops) >= 0.8 * whole, (whole, loops))
        check(f"{tier}: more than one of its loops has samples",
              sum(1 for n, _ in loops if n) >= 2, loops)


def case_interim(e):
    """While the agent waits for a compile longer than its period, its heat
    maps go on, as interim ones (kilnd logs them, for the feed, and answers
    none); the run tiers up all the same, with native's output."""
    e.start_kilnd()
    hm_path = os.path.join(e.tmp, "heat.json")
    # A 20 ms period: twophase's first hot package takes kilnd 150 ms or more.
    p = run_auto(e, "twophase", ["40"], "--period", "20", "--heatmap", hm_path, "--service",
                 e.endpoint)
    same_as_native(e, "twophase", ["40"], p, "twophase, --period 20")
    log = read(e.log)
    interim = re.findall(r"interim heat map of \S+ from agent \d+, [1-9]\d* samples", log)
    print(f"{len(interim)} interim heat maps, {log.count('partition of')} partitions")
    check("heat maps went out while compiles were awaited", interim, log[-2000:])
    check("the run went hot all the same", went_hot(heat_map(hm_path)), heat_map(hm_path))


def function_names(hm):
    """A heat map's functions (its regions that are not loops): index to name."""
    return {r["func"]: r.get("name") for r in hm.get("regions", []) if "loop" not in r}


def main_index(hm):
    for r in hm.get("regions", []):
        if r.get("name") == "main" and "loop" not in r:
            return r["func"]
    return None


def case_hints(e):
    """callbacks hands nine events in ten to one handler through a table:
    the monitor finds that target, kilnd asks for hot code with the hint,
    and the output stays the native one. Hot covers 95% of self time, so
    that on_add is hot with the event loop whatever the split of a short
    run (at the default 80%, an ASan run once left it warm)."""
    e.start_kilnd("--hot", "95", "--warm", "99")
    hm_path = os.path.join(e.tmp, "heat.json")
    # The monitor's finding, from an interpreted run: in an auto run the
    # last heat map may come after the event loop went hot, and compiled
    # call sites are not counted.
    cold_path = os.path.join(e.tmp, "heat-cold.json")
    p = run_auto(e, "callbacks", ["5"], "--tier", "cold", "--heatmap", cold_path)
    same_as_native(e, "callbacks", ["5"], p, "callbacks, cold")
    hm = heat_map(cold_path)
    names = function_names(hm)
    dominant = [x for x in hm.get("edges", []) if x.get("indirect")
                and names.get(x["callee"]) == "on_add" and 2 * x["votes"] > x["calls"]]
    check("the event loop's call_indirect has on_add as its dominant target", dominant,
          [x for x in hm.get("edges", []) if x.get("indirect")])
    # Its other targets are edges of the same site, each with its own calls
    # (by which they join hot code as their caller's callees; whether the
    # first heat map of an auto run sees the event loop yet depends on the
    # machine's speed: under ASan it often does not).
    site = dominant[0]["site"] if dominant else None
    others = {names.get(x["callee"]): x for x in hm.get("edges", [])
              if x.get("indirect") and x.get("site") == site and x["votes"] == 0}
    check("the same site's other handlers have edges with their own calls",
          all(n in others and 0 < others[n]["calls"] < dominant[0]["calls"]
              for n in ("on_mix", "on_halve")), others)
    p = run_auto(e, "callbacks", ["40"], "--heatmap", hm_path, "--service", e.endpoint)
    same_as_native(e, "callbacks", ["40"], p, "callbacks, auto")
    hm = heat_map(hm_path)
    names = function_names(hm)
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


def gone_index(polls, seg):
    """The first poll that lacks seg after one that had it, or None."""
    seen = False
    for k, (_, maps) in enumerate(polls):
        if seg in maps:
            seen = True
        elif seen:
            return k
    return None


def case_release(e):
    """A package goes once nothing uses it: phase 1's hot function is
    demoted while phase 2 runs, and its segment leaves the process's maps
    while the process runs on; phase 3 tiers the function up again."""
    e.start_kilnd()
    n, seconds = "3000", "6"
    p = run_auto(e, "phases", [n, seconds], "--verbose", "--stats", "--demote-after", "300",
                 "--period", "100", "--service", e.endpoint)
    # Each poll: the segments mapped, read while the script still ran: its
    # last line ("done") had not come by the time they were read. (When the
    # script is over, the agent lets its packages go anyway.)
    os.set_blocking(p.stdout.fileno(), False)
    polls, out = [], b""
    while p.poll() is None:
        maps = segments(p.pid)
        out += p.stdout.read() or b""
        if b"done\n" in out:
            break
        polls.append((time.monotonic(), maps))
        # Often: phase 3 may map phase 1's package again soon after its
        # release (under ASan in CI, once no 50 ms poll saw it gone).
        time.sleep(0.01)
    os.set_blocking(p.stdout.fileno(), True)
    rest, err = p.communicate(timeout=60)
    out += rest
    err = err.decode(errors="replace")
    native = subprocess.run([e.samples["phases"][1], n, "0"], capture_output=True)
    check("phases, auto: exit status as native", p.returncode == native.returncode,
          (p.returncode, err[-500:]))
    check("phases, auto: stdout identical to native", out == native.stdout, out)
    # A segment that was mapped and then, in a later poll, was not.
    left = {seg for _, maps in polls for seg in maps if gone_index(polls, seg) is not None}
    check("a package was mapped", any(maps for _, maps in polls), polls[-3:])
    check("a package's segment left /proc/PID/maps while the script ran", left,
          [sorted(os.path.basename(path)[:16] for _, _, path in m) for _, m in polls[::20]])
    released = re.findall(r"released package (kiln-\S+\.so): (.*)", err)
    check("--verbose names each released package and why", released
          and all(why for _, why in released), err[-1500:])
    check("the segment that left is the one named",
          {os.path.basename(path) for _, _, path in left} <= {name for name, _ in released},
          (left, released))
    demoted = re.search(r"func (\d+) hot -> cold", err)
    check("phase 1's function went back to the interpreter first", demoted, err[-1500:])
    if demoted:
        again = re.search(rf"func {demoted.group(1)} cold -> (hot|warm)", err[demoted.end():])
        check("phase 3: it tiered up again after the release", again, err[-1500:])
    # Mapped after the release: a segment that no poll before the first
    # release showed, or one that left and came back (kilnd may answer
    # phase 3 with phase 1's very package, which then maps again).
    first_gone = min((gone_index(polls, seg) for seg in left), default=None)
    before = set().union(*(m for _, m in polls[:first_gone])) if first_gone else set()
    back = [seg for seg in left if any(seg in m for _, m in polls[gone_index(polls, seg):])]
    check("phase 3 runs from a package mapped after the release", first_gone is not None
          and (back or any(m - before for _, m in polls[first_gone:])),
          [sorted(os.path.basename(path)[:16] for _, _, path in m) for _, m in polls[::20]])
    check("--stats counts it", re.search(r"packages mapped, [1-9]\d* of them released", err), err)
    check("compiled code still ran at the end: a package stays mapped",
          polls and polls[-1][1], polls[-3:])


def case_control(e):
    """A live threshold change with several agents connected: kilnd confirms
    it and re-partitions each of them at once, from its last heat map."""
    e.start_kilnd()
    runs = [("twophase", ["1000"]), ("twophase", ["1000"]), ("phases", ["3000", "8"])]
    procs = [run_auto(e, name, args, "--service", e.endpoint) for name, args in runs]
    # A partition from a heat map (a start partition has none, and kilnd
    # re-partitions from the last heat map).
    heat = r"partition of \S+ for agent (\d+) from [1-9]\d* samples"
    def agents():
        return set(re.findall(heat, read(e.log)))
    check("kilnd partitioned a heat map of each of the three agents",
          wait_for(lambda: len(agents()) >= 3, 60), read(e.log))
    connected, before = agents(), len(read(e.log))
    c = subprocess.run([e.opts.kiln, "control", "--service", e.endpoint, "--hot", "50",
                        "--policy", "share"], env=e.env, capture_output=True, text=True,
                       timeout=30)
    check("the control is confirmed for every agent", c.returncode == 0
          and "every agent: policy share, hot 50%" in c.stdout, (c.stdout, c.stderr))
    def repartitioned():
        done = set(re.findall(r"new partition of \S+ for agent (\d+) .*\(share, hot 50%",
                              read(e.log)[before:]))
        return connected <= done
    check("kilnd re-partitioned each agent with the new settings",
          wait_for(repartitioned, 10), read(e.log)[before:])
    for (name, args), p in zip(runs, procs):
        if name == "phases":
            out, err = p.communicate(timeout=300)
            native = subprocess.run([e.samples[name][1], args[0], "0"], capture_output=True)
            check("phases under the new settings: output as native",
                  p.returncode == native.returncode and out == native.stdout, err[-500:])
        else:
            same_as_native(e, name, args, p, f"{name} under the new settings")


def main():
    ap = argparse.ArgumentParser()
    for flag in ("--kiln", "--kilnd"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--sample", action="append", default=[], help="NAME=WASM:NATIVE")
    ap.add_argument("case", choices=["tier-up", "agents", "osr", "hints", "absent", "release",
                                     "control", "compiled-loops", "interim"])
    opts = ap.parse_args()
    return run_case(opts, globals(), opts.sample)

if __name__ == "__main__":
    sys.exit(main())
