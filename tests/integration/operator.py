#!/usr/bin/env python3
"""operator.py: kilnd's operator surface from the outside: its feed through
`kiln status`, live changes through `kiln control`, its config file.

    operator.py CASE --kiln KILN --kilnd KILND --sample NAME=WASM:NATIVE...

Cases:
  status-control  one agent in auto on a private kilnd: `kiln status --json`
                  shows it, with named regions and their tiers; `kiln
                  control --hot 50 --policy share` is confirmed, and kilnd
                  re-partitions at once (its log, the status of kilnd and of
                  the agent); a control that makes no sense is refused with
                  its reason and exit 1; the agent's output is its native
                  build's; once it is done it leaves the status. Without a
                  kilnd, status and control say so in one line, exit 1.
  config          kilnd --config FILE: the file's settings apply (seen in
                  status), flags override them, the default file
                  ($XDG_CONFIG_HOME/kiln/kilnd.conf) is read; a bad key or
                  value is refused in one line naming FILE:LINE, exit 2.

Each case uses a private XDG_RUNTIME_DIR, XDG_CACHE_HOME and XDG_CONFIG_HOME.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from service import check, read, run_case, wait_for  # noqa: E402


def kiln(e, *args):
    return subprocess.run([e.opts.kiln, *args], env=e.env, capture_output=True, text=True,
                          timeout=30)


def status(e):
    """kiln status --json, parsed; None when it failed."""
    p = kiln(e, "status", "--service", e.endpoint, "--json")
    if p.returncode != 0:
        return None
    try:
        return json.loads(p.stdout)
    except ValueError:
        return None


def agent_with_tiers(doc):
    """The first agent whose regions show a compiled function, or None."""
    for a in (doc or {}).get("agents", []):
        if any(r.get("tier") in ("hot", "warm") and "loop" not in r for r in a["regions"]):
            return a
    return None


def case_status_control(e):
    p = kiln(e, "status", "--service", e.endpoint)
    check("no kilnd: status exits 1", p.returncode == 1, (p.returncode, p.stderr))
    check("no kilnd: one line naming the endpoint",
          p.stderr == f"kiln: status: no kilnd at {e.endpoint}\n", p.stderr)
    p = kiln(e, "control", "--service", e.endpoint, "--hot", "50")
    check("no kilnd: control exits 1 with one line",
          p.returncode == 1 and p.stderr.count("\n") == 1 and "no kilnd at" in p.stderr, p)

    e.start_kilnd()
    doc = status(e)
    check("status of an idle kilnd", doc and doc["agents"] == []
          and doc["service"]["policy"] == "coverage", doc)
    name, args = "twophase", ["1000"]
    wasm, native = e.samples[name]
    agent = subprocess.Popen([e.opts.kiln, "run", "--service", e.endpoint, wasm, *args],
                             env=e.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = {}

        def tiered():
            seen["doc"] = status(e)
            return agent_with_tiers(seen["doc"]) is not None or agent.poll() is not None
        wait_for(tiered, 60)
        a = agent_with_tiers(seen["doc"])
        check("status shows the agent with compiled regions", a, seen["doc"])
        if a:
            check("the agent's pid and name", a["pid"] == agent.pid and a["name"] == "libkiln", a)
            check("its module hash", len(a["module_hash"]) == 64, a)
            check("regions carry function names",
                  any(r.get("name") == "main" for r in a["regions"]), a["regions"][:5])
            check("regions carry heat", all(0 <= r["heat"] <= 1 for r in a["regions"]), a)
            check("its partition", a.get("partition", {}).get("policy") == "coverage", a)
        text = kiln(e, "status", "--service", e.endpoint)
        check("text status: service row and agent row",
              text.returncode == 0 and "workers " in text.stdout
              and f"pid {agent.pid}" in text.stdout and "#" in text.stdout, text.stdout)

        p = kiln(e, "control", "--service", e.endpoint, "--hot", "50", "--policy", "share")
        check("control is confirmed", p.returncode == 0
              and "every agent: policy share, hot 50%, warm 20%" in p.stdout, (p.stdout, p.stderr))
        check("kilnd re-partitioned at once",
              wait_for(lambda: "new partition of" in read(e.log)
                       and "(share, hot 50%, warm 20%)" in read(e.log), 5), read(e.log)[-2000:])

        p = kiln(e, "control", "--service", e.endpoint, "--warm", "90", "--hot", "50",
                 "--policy", "share")
        check("a control that makes no sense is refused, exit 1", p.returncode == 1, p)
        check("with its reason on one line", p.stderr.count("\n") == 1
              and "refused" in p.stderr and "warm (90%) must be below hot (50%)" in p.stderr,
              p.stderr)
        p = kiln(e, "control", "--service", e.endpoint, "--agent", "999", "--hot", "60")
        check("control of an unknown agent is refused",
              p.returncode == 1 and "no agent 999" in p.stderr, p)
        p = kiln(e, "control", "--service", e.endpoint, "--hot", "0")
        check("a bad percentage is bad usage", p.returncode == 2 and p.stderr.count("\n") == 1, p)

        def share_everywhere():
            doc = status(e)
            seen["doc"] = doc
            agents = (doc or {}).get("agents", [])
            return (doc and doc["service"]["policy"] == "share"
                    and doc["service"]["hot_percent"] == 50 and agents
                    and agents[0]["policy"] == "share"
                    and agents[0].get("partition", {}).get("policy") == "share")
        check("status shows the new settings and partition", wait_for(share_everywhere, 10),
              seen["doc"])
        if seen["doc"] and seen["doc"]["agents"]:
            n = seen["doc"]["agents"][0]["agent"]
            p = kiln(e, "control", "--service", e.endpoint, "--agent", str(n), "--hot", "60")
            check("control of one agent", p.returncode == 0 and f"agent {n}: policy share, hot 60%"
                  in p.stdout, p)
    finally:
        out, err = agent.communicate(timeout=300)
    ref = subprocess.run([native, *args], capture_output=True)
    check("the agent's output is its native build's",
          agent.returncode == ref.returncode and out == ref.stdout, (agent.returncode, err[-500:]))
    check("the agent leaves the status", wait_for(lambda: (status(e) or {}).get("agents") == [],
                                                  15), status(e))


def restart(e, *args):
    """A fresh kilnd with its own log (start_kilnd waits for its line)."""
    e.stop_kilnd()
    e.log = os.path.join(e.tmp, f"kilnd-{len(os.listdir(e.tmp))}.log")
    e.start_kilnd(*args)


def case_config(e):
    conf = os.path.join(e.tmp, "kilnd.conf")
    with open(conf, "w") as f:
        f.write("# settings\nworkers = 1\nfrobnicate = 3\n")
    p = subprocess.run([e.opts.kilnd, "--foreground", "--config", conf], env=e.env,
                       capture_output=True, text=True, timeout=30)
    check("a bad key: exit 2", p.returncode == 2, p)
    check("one line naming FILE:LINE", p.stderr == f"kilnd: {conf}:3: unknown key 'frobnicate' "
          "(the keys are kilnd's long options)\n", p.stderr)
    with open(conf, "w") as f:
        f.write("policy = share\nhot = 500\n")
    p = subprocess.run([e.opts.kilnd, "--foreground", "--config", conf], env=e.env,
                       capture_output=True, text=True, timeout=30)
    check("a bad value: exit 2, FILE:LINE", p.returncode == 2 and p.stderr.startswith(
        f"kilnd: {conf}:2: hot wants a whole number") and p.stderr.count("\n") == 1, p.stderr)

    with open(conf, "w") as f:
        f.write("workers = 1   # one is enough here\npolicy = share\nhot = 60\n")
    restart(e, "--config", conf)
    doc = status(e)
    check("the file's settings apply", doc and doc["service"]["policy"] == "share"
          and doc["service"]["hot_percent"] == 60 and doc["service"]["workers"] == 1, doc)
    restart(e, "--config", conf, "--hot", "70")
    doc = status(e)
    check("a flag overrides the file", doc and doc["service"]["hot_percent"] == 70
          and doc["service"]["policy"] == "share", doc)
    os.makedirs(os.path.join(e.env["XDG_CONFIG_HOME"], "kiln"))
    with open(os.path.join(e.env["XDG_CONFIG_HOME"], "kiln", "kilnd.conf"), "w") as f:
        f.write("warm = 90\n")
    restart(e)
    doc = status(e)
    check("the default file is read", doc and doc["service"]["warm_percent"] == 90, doc)


def main():
    ap = argparse.ArgumentParser()
    for flag in ("--kiln", "--kilnd"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--sample", action="append", default=[], help="NAME=WASM:NATIVE")
    ap.add_argument("case", choices=["status-control", "config"])
    opts = ap.parse_args()
    return run_case(opts, globals(), opts.sample)

if __name__ == "__main__":
    sys.exit(main())
