#!/usr/bin/env python3
"""viewer.py: kiln-viewer from the outside, on a headless X server (xvfb-run).

    viewer.py CASE --viewer KILN-VIEWER --xvfb-run XVFB-RUN --dbus-run-session DBUS-RUN-SESSION
              --fake-portal FAKE-PORTAL --kiln KILN --kilnd KILND --sample NAME=WASM:NATIVE...

Cases:
  control   kilnd, the viewer, and once it hears kilnd two agents running
            twophase (restarted as they end, so two are always running); the
            viewer moves the hot slider to 50 and the policy to share
            through its own controls (--set-hot, --set-policy: the handlers a
            click reaches) and presses Apply: kilnd confirms, re-partitions (its log, `kiln status
            --json`), the viewer's model shows the new partition for the
            agents (--dump-model) and the control on its timeline, and its
            screenshot shows heat-map cells in the viridis scale.
  waiting   no kilnd: the window says "waiting for kilnd at ENDPOINT (its feed
            FEED)", and its screenshot is a drawn window.
  restart   the viewer starts before kilnd, connects when it appears, sees it
            go silent when it stops, and connects to the next kilnd.
  keyboard  no mouse: xdotool types Tab to the hot slider, Right, Tab to Apply,
            Return; kilnd confirms hot 81% and the model has it (skipped
            without xdotool).
  heatmap-keys
            no mouse, an agent running callbacks: Tab focuses the heat map;
            End selects its last cell, Home its first, Right from Home the
            second, Escape none, in the layout's order (heaviest first), and
            the detail pane names the selection; from the model's dump, one
            run of the viewer per sequence of keys (skipped without xdotool).
  bench     --bench-frames: 500 functions changing every frame; the viewer
            counts the frames asked for and reports consistent percentiles
            (their size against the 100 ms target: bench/viewer), and its
            renderer: cairo where there is no GPU's render node.
  style     the desktop's style, on a session bus of the test's own
            (dbus-run-session) with a fake portal (tests/viewer/fake_portal.c),
            each time over the other style as the user's default: portal dark,
            a dark window; light, a light one; light changing to dark after
            the viewer has read it, dark; --style light over a dark portal,
            light; no preference, at the start or after light, the user's
            default (skipped without dbus-run-session).
  bad-usage bad options: one "kiln-viewer: " line each, exit 2.

Skipped (77) when xvfb-run is absent. Each case uses service.py's Env: a
private XDG_RUNTIME_DIR, XDG_CACHE_HOME and XDG_CONFIG_HOME.
"""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from service import check, read, run_case, wait_for  # noqa: E402

# viewer/colormap.c's table: a cell's fill is on this curve.
VIRIDIS = [
    (0.267004, 0.004874, 0.329415), (0.282327, 0.094955, 0.417331), (0.278826, 0.175490, 0.483397),
    (0.258965, 0.251537, 0.524736), (0.229739, 0.322361, 0.545706), (0.199430, 0.387607, 0.554642),
    (0.172719, 0.448791, 0.557885), (0.149039, 0.508051, 0.557250), (0.127568, 0.566949, 0.550556),
    (0.120638, 0.625828, 0.533488), (0.157851, 0.683765, 0.501686), (0.246070, 0.738910, 0.452024),
    (0.369214, 0.788888, 0.382914), (0.515992, 0.831158, 0.294279), (0.678489, 0.863742, 0.189503),
    (0.845561, 0.887322, 0.099702), (0.993248, 0.906157, 0.143936),
]


def viewer_env(e, bus=None):
    env = dict(e.env)
    # Under AddressSanitizer, GTK, fontconfig and Mesa keep caches to exit
    # that LeakSanitizer reports; the viewer's own models are leak-checked
    # by the unit tests (viewer-models). Memory errors still abort.
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "abort_on_error=1") + ":detect_leaks=0"
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # the desktop's style is not the test's
    if bus:
        env["DBUS_SESSION_BUS_ADDRESS"] = bus  # the test's own (case_style)
    return env


def run_viewer(e, *args, timeout=120, bus=None):
    return subprocess.run([e.opts.xvfb_run, "-a", "-s", "-screen 0 1400x900x24", e.opts.viewer,
                           *args], env=viewer_env(e, bus), capture_output=True, text=True,
                          timeout=timeout)


def start_viewer(e, *args):
    return subprocess.Popen([e.opts.xvfb_run, "-a", "-s", "-screen 0 1400x900x24", e.opts.viewer,
                             *args], env=viewer_env(e), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


class Viewer:
    """A viewer running under xvfb-run, its output read as it comes."""

    def __init__(self, e, *args):
        self.p = start_viewer(e, *args)
        self.out, self.err = [], []
        self.readers = [threading.Thread(target=lambda f=f, to=to: to.extend(f), daemon=True)
                        for f, to in ((self.p.stdout, self.out), (self.p.stderr, self.err))]
        for t in self.readers:
            t.start()

    stdout = property(lambda self: "".join(self.out))
    stderr = property(lambda self: "".join(self.err))
    returncode = property(lambda self: self.p.returncode)

    def wait(self, timeout):
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        for t in self.readers:
            t.join(timeout=10)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as ex:
        return {"error": str(ex)}


def png_pixels(path):
    """(width, height, [(r, g, b), ...]) of an 8- or 16-bit RGB(A) PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    if ctype not in (2, 6) or depth not in (8, 16) or interlace:
        raise ValueError(f"unexpected PNG format {hdr}")
    channels = 4 if ctype == 6 else 3
    bpp = channels * depth // 8
    stride = w * bpp
    raw = zlib.decompress(idat)
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    step = depth // 8
    pixels = []
    for row in rows:
        for x in range(w):
            o = x * bpp
            pixels.append((row[o], row[o + step], row[o + 2 * step]))
    return w, h, pixels


def viridis_set():
    """Every 8-bit colour within a small distance of the viridis curve,
    quantised to 4 levels per step, for membership tests."""
    near = set()
    for k in range(256):
        t = k / 255 * (len(VIRIDIS) - 1)
        i = min(int(t), len(VIRIDIS) - 2)
        f = t - i
        rgb = [VIRIDIS[i][c] + (VIRIDIS[i + 1][c] - VIRIDIS[i][c]) * f for c in range(3)]
        q = [int(v * 255) >> 2 for v in rgb]
        for dr in (-1, 0, 1):
            for dg in (-1, 0, 1):
                for db in (-1, 0, 1):
                    near.add((q[0] + dr, q[1] + dg, q[2] + db))
    return near


def screenshot_stats(path):
    w, h, px = png_pixels(path)
    near = viridis_set()
    cells = sum(1 for r, g, b in px if (r >> 2, g >> 2, b >> 2) in near
                and not (abs(r - g) < 12 and abs(g - b) < 12))  # greys are the theme's
    return {"width": w, "height": h, "colours": len(set(px)), "viridis_share": cells / len(px)}


def luminance(path):
    """The mean relative luminance of a PNG's pixels, 0 black to 1 white."""
    _, _, px = png_pixels(path)
    return sum(0.2126 * r + 0.7152 * g + 0.0722 * b for r, g, b in px) / len(px) / 255


def feed_of(e):
    return e.endpoint[:-len(".sock")] + ".feed"


class Agents:
    """Two `kiln run` agents at all times: each restarts its script as it ends."""

    def __init__(self, e, name, args, lanes=2):
        self.e, self.name, self.args = e, name, args
        self.stop = threading.Event()
        self.runs, self.failures = [], []
        self.threads = [threading.Thread(target=self.lane, daemon=True) for _ in range(lanes)]
        # Staggered: runs of one script take about as long as each other, so
        # lanes started together would restart together, and a dump taken
        # then would find no agent with a heat map yet.
        for t in self.threads:
            t.start()
            time.sleep(0.6)

    def lane(self):
        wasm = self.e.samples[self.name][0]
        while not self.stop.is_set():
            p = subprocess.Popen([self.e.opts.kiln, "run", "--service", self.e.endpoint, wasm,
                                  *self.args], env=self.e.env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            self.runs.append(p.pid)
            out, err = p.communicate(timeout=300)
            if p.returncode != 0:
                self.failures.append((p.returncode, err[-300:]))

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=300)


def case_control(e):
    e.start_kilnd()
    shot, dump = os.path.join(e.tmp, "viewer.png"), os.path.join(e.tmp, "model.json")
    # The agents start once the viewer hears kilnd: its subscription is in
    # effect then, and their first compiles (over in a second or two) are
    # on its timeline.
    v = Viewer(e, "--service", e.endpoint, "--set-hot", "50", "--set-policy", "share",
               "--after", "14", "--screenshot", shot, "--dump-model", dump)
    heard = wait_for(lambda: "kiln-viewer: kilnd is there" in v.stdout, 60)
    check("the viewer says it hears kilnd", heard, (v.stdout, v.stderr[-1000:]))
    agents = Agents(e, "twophase", ["1000"])
    try:
        v.wait(120)
    finally:
        agents.finish()
    check("the viewer exits 0", v.returncode == 0, (v.returncode, v.stderr[-1000:]))
    # GTK's criticals are bugs of ours (a long answer under the controls
    # once made GtkPaned warn of overlapping widgets at every frame).
    check("GTK reported no critical", "-CRITICAL" not in v.stderr, v.stderr[-1500:])
    check("its controls got kilnd's confirmation",
          "kiln-viewer: control: kilnd: every agent now share, hot 50%, warm 20%" in v.stdout,
          (v.stdout, v.stderr[-500:]))
    check("the agents ran to the end", not agents.failures, agents.failures)
    shown_ms = [float(ms) for ms in re.findall(
        r"kiln-viewer: new partition \(share, hot 50%, warm 20%\) in the view (\d+) ms after Apply",
        v.stdout)]
    print("new partition in the view, ms after Apply:", shown_ms)
    check("the new partition was in the view within a second of Apply, for each agent there",
          shown_ms and max(shown_ms) < 1000, (shown_ms, v.stdout))
    log = read(e.log)
    check("kilnd re-partitioned with the new settings",
          re.search(r"new partition of \S+ .*\(share, hot 50%, warm 20%\)", log) is not None,
          log[-2000:])
    st = subprocess.run([e.opts.kiln, "status", "--service", e.endpoint, "--json"], env=e.env,
                        capture_output=True, text=True, timeout=30)
    doc = json.loads(st.stdout) if st.returncode == 0 else {}
    check("kiln status shows kilnd's new settings",
          doc.get("service", {}).get("policy") == "share"
          and doc.get("service", {}).get("hot_percent") == 50, (st.returncode, st.stdout[:500]))

    m = load(dump)
    check("the model was dumped", "error" not in m, m)
    svc = m.get("service", {})
    check("the viewer's model: kilnd connected, with the new settings",
          svc.get("state") == "connected" and svc.get("policy") == "share"
          and svc.get("hot_percent") == 50, svc)
    shown = [a for a in m.get("agents", []) if a.get("functions")]
    check("the viewer's model has agents with their functions", shown, m.get("agents"))
    news = [a for a in shown if a.get("partition", {}).get("policy") == "share"
            and a["partition"].get("hot_percent") == 50]
    check("the viewer's model shows the new partition", news and len(news) == len(
        [a for a in shown if a.get("partition")]), [a.get("partition") for a in shown])
    check("its functions have names and tiers",
          any(f.get("name") == "main" for a in shown for f in a["functions"])
          and all(f["tier"] in ("hot", "warm", "cold") for a in shown for f in a["functions"]),
          shown[:1])
    compiled = [(f, p) for a in shown for f in a["functions"] if f["tier"] in ("hot", "warm")
                for p in f.get("packages", [])[:1]]
    check("compiled functions name the packages that compiled them, of their tier",
          any(f["tier"] == p["tier"] and p["segment"].endswith(".so") for f, p in compiled),
          [(f.get("name"), f["tier"], f.get("packages")) for a in shown for f in a["functions"]])
    # The sampler charges compiled loops too, and the agent sends their
    # recent self time with the functions'.
    looped = [(f.get("name"), f["heat"], f["busiest_loop"]) for a in shown
              for f in a["functions"] if f["tier"] != "cold" and f.get("busiest_loop")]
    check("a compiled function's busiest loop has recent self time",
          any(b["self_samples"] > 0 and b["heat"] > 0 for _, _, b in looped), looped)
    check("a loop is never hotter than its function (both recent)",
          all(b["heat"] <= heat + 1e-6 for _, heat, b in looped), looped)
    check("placements carry kilnd's reasons",
          any(f.get("reason") for a in news for f in a["functions"]), news[:1])
    timeline = m.get("timeline", [])
    check("the timeline has the control",
          any(t["kind"] == "control" and "share, hot 50%, warm 20%" in t["text"]
              for t in timeline), timeline[:20])
    check("the timeline has compiles", any(t["kind"] == "compile" for t in timeline),
          timeline[:20])
    seen = {t["agent"] for t in timeline if t["agent"]}
    check("two agents were seen", len(seen) >= 2, seen)
    win = m.get("window", {})
    check("the window showed an agent's heat map",
          win.get("selected_agent") and win.get("heatmap_cells", 0) > 0, win)
    check("the window shows kilnd's answer", win.get("last_reply_ok") is True, win)

    try:
        s = screenshot_stats(shot)
    except (OSError, ValueError) as ex:
        s = {"error": str(ex)}
    print("screenshot:", s)
    # 1280x800 is the window's default size, its frame included.
    check("the screenshot is the whole window at about 1280x800",
          1260 <= s.get("width", 0) <= 1300 and 780 <= s.get("height", 0) <= 820, s)
    check("the screenshot shows heat-map cells (viridis fills)",
          s.get("viridis_share", 0) > 0.05 and s.get("colours", 0) > 50, s)


def need_xdotool():
    xdotool = shutil.which("xdotool")
    if not xdotool:
        print("SKIP: no xdotool (Debian's xdotool) to type into the window")
        sys.exit(77)
    return xdotool


def type_into_viewer(e, xdotool, keys, dump, after, wait=3, title="Kiln viewer", settle=0):
    """Runs the viewer for `after` seconds, dumping its model at the end,
    while xdotool types keys into its window on the same virtual display:
    from `wait` seconds on (the window is up and has kilnd's snapshot by
    then), once its title matches `title` and `settle` seconds more, 0.3 s
    apart."""
    typing = (f'"$0" --service "$1" --after {after} --dump-model "$2" & sleep {wait}; '
              f'w=$({xdotool} search --sync --name "{title}" | head -1); '
              f'sleep {settle}; {xdotool} windowfocus --sync "$w"; '
              f'for k in {" ".join(keys)}; do '
              f'{xdotool} key --window "$w" "$k"; sleep 0.3; done; wait')
    return subprocess.run([e.opts.xvfb_run, "-a", "-s", "-screen 0 1400x900x24", "sh", "-c", typing,
                           e.opts.viewer, e.endpoint, dump], env=viewer_env(e),
                          capture_output=True, text=True, timeout=120)


def case_keyboard(e):
    """The controls without a mouse: xdotool types into the viewer's window
    on the same virtual display; Tab reaches the hot slider, Right moves it
    one step, Tab reaches Apply and Return presses it. kilnd must confirm."""
    xdotool = need_xdotool()
    e.start_kilnd()
    dump = os.path.join(e.tmp, "model.json")
    v = type_into_viewer(e, xdotool, ["Tab", "Tab", "Tab", "Right", "Tab", "Tab", "Tab", "Tab",
                                      "Return"], dump, after=7)
    check("the viewer exits 0", v.returncode == 0, (v.returncode, v.stderr[-1000:]))
    check("the keys moved the hot threshold one step and applied it",
          "kiln-viewer: control: kilnd: every agent now coverage, hot 81%" in v.stdout,
          (v.stdout, v.stderr[-500:]))
    check("the viewer's model has kilnd's new setting",
          load(dump).get("service", {}).get("hot_percent") == 81, load(dump).get("service"))


# kilnd logs a partition for every heat map an agent sends (a start
# partition, asked for before any, is from 0 samples).
HEAT_MAP_LOGGED = re.compile(r"partition of \S+ for agent \d+ from [1-9]\d* samples")
# The agent's heat maps in case_heatmap_keys: one run of the viewer fits
# between two, and kilnd forgets an agent silent for 10 s.
KEYS_PERIOD_MS = 8000


def case_heatmap_keys(e):
    """The heat map without a mouse: Tab gives it the focus, and End, Home,
    Right and Escape move its selection along its cells in the layout's
    order, heaviest first (heatmap_view.c's on_key), the detail pane naming
    the function selected. Each sequence of keys is one run of the viewer,
    whose dump at the end has the selection and the cells' order. A new
    heat map can reorder the cells, so each run starts just after the
    agent sent one, and is again if the next came before its dump."""
    xdotool = need_xdotool()
    e.start_kilnd()
    # callbacks: a steady mix of functions (a sort, its comparators, event
    # handlers), run for far longer than the test; it is killed at the end.
    agent_log = os.path.join(e.tmp, "agent.log")
    with open(agent_log, "wb") as log:
        agent = subprocess.Popen([e.opts.kiln, "run", "--service", e.endpoint, "--period",
                                  str(KEYS_PERIOD_MS), e.samples["callbacks"][0], "100000"],
                                 env=e.env, stdout=subprocess.DEVNULL, stderr=log)
    # (keys after the Tab, what to find selected: a position in the cells' order or None)
    steps = [(["End"], -1), (["End", "Home"], 0), (["Home", "Right"], 1),
             (["Home", "Right", "Escape"], None)]
    try:
        # The first heat map is the warm-up's: a few samples, often of two
        # functions only (under ASan). The runs start from the second on.
        if not wait_for(lambda: HEAT_MAP_LOGGED.search(read(e.log)), 30):
            check("the agent sends heat maps", False, (agent.poll(), read(agent_log)[-1000:]))
            return
        for i, (keys, want) in enumerate(steps):
            what = " ".join(keys)
            dump = os.path.join(e.tmp, f"keys-{i}.json")
            for _ in range(3):
                logged = len(HEAT_MAP_LOGGED.findall(read(e.log)))
                if not wait_for(lambda: len(HEAT_MAP_LOGGED.findall(read(e.log))) > logged, 30):
                    check(f"{what}: the agent sends heat maps", False,
                          (agent.poll(), read(agent_log)[-1000:], read(e.log)[-2000:]))
                    return
                start = time.monotonic()
                # The title names the agent once it is shown: the keys go
                # from then on, leaving time before the dump even when the
                # viewer is slow to start (the first one under ASan is).
                # Its heat map comes in the next message of kilnd's snapshot,
                # and again a second later; keys that wait while a slow
                # frame holds the main loop are handled before it. So they
                # go after the next snapshot (End found no cells once).
                v = type_into_viewer(e, xdotool, ["Tab", *keys], dump, after=6.5, wait=1,
                                     title="Kiln viewer: .*agent", settle=1.2)
                m = load(dump)
                win = m.get("window", {})
                shown = next((a for a in m.get("agents", [])
                              if a.get("agent") == win.get("selected_agent")), {})
                print(f"{what}: {time.monotonic() - start:.1f} s, {shown.get('heat_maps')} heat "
                      f"map(s) seen")
                if shown.get("heat_maps", 0) <= 1:
                    break
                print(f"{what}: a new heat map came during the run: again")
            check(f"{what}: the viewer exits 0", v.returncode == 0,
                  (v.returncode, v.stderr[-1000:]))
            check(f"{what}: it showed one heat map throughout", shown.get("heat_maps") == 1,
                  (win, shown.get("heat_maps")))
            check(f"{what}: Tab gave the heat map the keyboard focus",
                  win.get("focus") == "heatmap", win)
            # Each function is a cell of its own or in the group, the last
            # cell: the cells are the first functions, heaviest first.
            functions = shown.get("functions", [])
            cells = win.get("heatmap_cells", 0)
            order = functions[:cells if cells == len(functions) else cells - 1]
            check(f"{what}: the dump has the functions heaviest first",
                  all(a["share"] >= b["share"] for a, b in zip(functions, functions[1:])),
                  functions)
            check(f"{what}: at least three cells to move through", len(order) >= 3,
                  (cells, functions))
            if len(order) < 3:
                continue
            f = order[want] if want is not None else None
            check(f"{what}: the selection is "
                  + (f"cell {want % len(order) + 1} of {len(order)}" if f else "none"),
                  win.get("selected_function") == (f["function"] if f else None),
                  (win.get("selected_function"), [(c["function"], c.get("name")) for c in order]))
            title = (f"{f.get('name', 'func %d' % f['function'])} (func {f['function']})" if f
                     else "No function selected")
            check(f"{what}: the detail pane says {title}", win.get("detail_title") == title, win)
    finally:
        agent.kill()
        agent.wait()


def case_waiting(e):
    shot, dump = os.path.join(e.tmp, "waiting.png"), os.path.join(e.tmp, "waiting.json")
    v = run_viewer(e, "--service", e.endpoint, "--after", "2", "--screenshot", shot,
                   "--dump-model", dump)
    check("without kilnd the viewer runs and exits 0", v.returncode == 0,
          (v.returncode, v.stderr[-800:]))
    m = load(dump)
    check("its banner says what it waits for",
          m.get("window", {}).get("banner")
          == f"waiting for kilnd at {e.endpoint} (its feed {feed_of(e)})", m)
    check("its model says waiting", m.get("service", {}).get("state") == "waiting", m)
    try:
        s = screenshot_stats(shot)
    except (OSError, ValueError) as ex:
        s = {"error": str(ex)}
    check("the screenshot is a drawn window", s.get("colours", 0) > 20
          and s.get("viridis_share", 1) < 0.05, s)


def case_restart(e):
    dump = os.path.join(e.tmp, "restart.json")
    v = start_viewer(e, "--service", e.endpoint, "--after", "16", "--dump-model", dump)
    try:
        time.sleep(2)
        e.start_kilnd()
        first = e.kilnd.pid
        time.sleep(4)
        e.stop_kilnd()
        time.sleep(5)  # three seconds without stats: silent
        e.log = os.path.join(e.tmp, "kilnd-2.log")
        e.start_kilnd()
        second = e.kilnd.pid
        out, err = v.communicate(timeout=60)
    finally:
        if v.poll() is None:
            v.kill()
            v.wait()
    check("the viewer ran through the restart, exit 0", v.returncode == 0,
          (v.returncode, err[-800:]))
    m = load(dump)
    svc = m.get("service", {})
    check("it is connected to the second kilnd", svc.get("state") == "connected"
          and svc.get("pid") == second, (svc, first, second))
    kinds = [t["text"] for t in m.get("timeline", []) if t["kind"] == "service"]
    check("its timeline: there, silent, there again",
          len(kinds) >= 3 and kinds[0].startswith("kilnd is there")
          and any("went silent" in k for k in kinds), kinds)
    check("and no banner once connected", m.get("window", {}).get("banner") == "", m)


def case_bench(e):
    v = run_viewer(e, "--bench-frames", "100", timeout=180)
    check("the bench runs", v.returncode == 0, (v.returncode, v.stderr[-800:]))
    print(v.stdout.strip())
    # The viewer runs here without a session bus (viewer_env): GTK's
    # accessibility, which needs one, is off instead of warning.
    check("no GTK warning without a session bus", "Gtk-WARNING" not in v.stderr, v.stderr[-800:])
    got = re.search(r"bench: (\d+) frames .*frame interval p50 ([\d.]+) ms, p95 ([\d.]+) ms, "
                    r"max ([\d.]+) ms; heat map in to frame painted p50 ([\d.]+) ms, "
                    r"p95 ([\d.]+) ms, max ([\d.]+) ms; of which the heat map's layout and "
                    r"drawing p50 ([\d.]+) ms", v.stdout)
    check("it prints frame-time percentiles", got, v.stdout)
    if not got:
        return
    frames = int(got.group(1))
    interval = [float(x) for x in got.group(2, 3, 4)]
    painted = [float(x) for x in got.group(5, 6, 7)]
    layout = float(got.group(8))
    # Its times, not their size: that moves with the machine (bench/viewer
    # checks the 100 ms target).
    check("it counted the 100 frames asked for", frames == 100, got.group(0))
    check("each time is positive and p50 <= p95 <= max",
          all(0 < a <= b <= c for a, b, c in (interval, painted)), got.group(0))
    check("the heat map's layout and drawing is part of heat map in to frame painted",
          0 < layout <= painted[0], got.group(0))
    renderer = re.search(r"\(each a new heat map\) with (\w+):", v.stdout)
    check("it names its renderer", renderer and renderer.group(1).startswith("Gsk"), v.stdout)
    # Without a GPU, GTK's GL renderer would run in software: cairo is the default.
    gpu = any(n.startswith("renderD") and os.access(os.path.join("/dev/dri", n), os.R_OK | os.W_OK)
              for n in (os.listdir("/dev/dri") if os.path.isdir("/dev/dri") else []))
    if renderer and not gpu and "GSK_RENDERER" not in os.environ:
        check("without a render node it draws with cairo", renderer.group(1) == "GskCairoRenderer",
              renderer.group(0))


def run_with_portal(e, portal_args, *viewer_args):
    """kiln-viewer VIEWER_ARGS on a session bus of its own, with the fake
    portal (FAKE-PORTAL PORTAL_ARGS) on it: the viewer's result, and the
    portal's exit status and output. dbus-run-session keeps the bus while
    its command runs, and its command here runs until its stdin closes."""
    bus = subprocess.Popen([e.opts.dbus_run_session, "--", "sh", "-c",
                            'echo "$DBUS_SESSION_BUS_ADDRESS"; exec cat >/dev/null'],
                           env=e.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    portal = None
    try:
        address = bus.stdout.readline().strip()
        portal = subprocess.Popen([e.opts.fake_portal, *portal_args],
                                  env=dict(e.env, DBUS_SESSION_BUS_ADDRESS=address),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready = portal.stdout.readline()  # its one line once it owns the name, or EOF
        if not ready.startswith("fake-portal: owns"):
            portal.wait(timeout=10)
            return None, portal.returncode, ready + portal.stdout.read() + portal.stderr.read()
        v = run_viewer(e, *viewer_args, bus=address)
        portal.terminate()
        out, err = portal.communicate(timeout=20)
        return v, portal.returncode, ready + out + err
    finally:
        if portal and portal.poll() is None:
            portal.kill()
            portal.wait()
        bus.stdin.close()
        bus.wait(timeout=20)


def case_style(e):
    """The desktop's dark or light style, from the portal's color-scheme
    (0 no preference, 1 prefer dark, 2 prefer light): read at the start,
    followed when it changes (SettingChanged), and --style over it. Each run
    starts from the other style as the user's own default (settings.ini),
    so only the portal, or the flag, can give the style it wants."""
    if not os.access(e.opts.dbus_run_session, os.X_OK):
        print("SKIP: no dbus-run-session (Debian's dbus-daemon) for a session bus with a portal")
        sys.exit(77)
    ini = os.path.join(e.env["XDG_CONFIG_HOME"], "gtk-4.0", "settings.ini")
    os.makedirs(os.path.dirname(ini))
    # (what, the portal's arguments, the viewer's flags, the user's default, the style wanted)
    # A change (SECONDS NEW-SCHEME) comes 1 s after the viewer's Read; the
    # screenshot is at 3 s.
    runs = [("the portal says dark", ["1"], [], "light", "dark"),
            ("the portal says light", ["2"], [], "dark", "light"),
            ("the portal says light, then dark", ["2", "1", "1"], [], "light", "dark"),
            ("--style light, the portal says dark", ["1"], ["--style", "light"], "dark", "light"),
            ("the portal has no preference", ["0"], [], "dark", "dark"),
            ("the portal says light, then no preference", ["2", "1", "0"], [], "dark", "dark")]
    for i, (what, portal_args, flags, default, want) in enumerate(runs):
        with open(ini, "w") as f:
            f.write(f"[Settings]\ngtk-application-prefer-dark-theme={int(default == 'dark')}\n")
        shot = os.path.join(e.tmp, f"style-{i}.png")
        start = time.monotonic()
        v, status, said = run_with_portal(e, portal_args, "--service", e.endpoint, *flags,
                                          "--after", "3", "--screenshot", shot)
        took = time.monotonic() - start
        check(f"{what}: the fake portal ran and ended on SIGTERM with 0", v and status == 0,
              (status, said))
        if not v:
            continue
        check(f"{what}: the viewer exits 0", v.returncode == 0, (v.returncode, v.stderr[-800:]))
        lines = said.splitlines()
        if not flags:
            check(f"{what}: the viewer read the portal's color-scheme",
                  f"fake-portal: Read color-scheme: {portal_args[0]}" in lines, said)
        if len(portal_args) == 3:
            # It read the first scheme and only then did the portal change:
            # only the signal can have brought the second.
            read, changed = (f"fake-portal: Read color-scheme: {portal_args[0]}",
                             f"fake-portal: SettingChanged color-scheme: {portal_args[2]}")
            check(f"{what}: the portal changed after the viewer's Read",
                  read in lines and changed in lines
                  and lines.index(changed) > lines.index(read), said)
        try:
            lum = luminance(shot)
        except (OSError, ValueError) as ex:
            lum = f"no screenshot: {ex}"
        print(f"{what}: mean luminance {round(lum, 3) if isinstance(lum, float) else lum}, "
              f"{took:.1f} s")
        if want == "dark":
            check(f"{what}: the window is dark (mean luminance under 0.35)",
                  isinstance(lum, float) and lum < 0.35, lum)
        else:
            check(f"{what}: the window is light (mean luminance over 0.65)",
                  isinstance(lum, float) and lum > 0.65, lum)


def case_bad_usage(e):
    bad = [(["--set-hot", "0"], "--set-hot 0: expected a percentage from 1 to 100"),
           (["--set-policy", "fast"], "--set-policy fast: expected coverage or share"),
           (["--screenshot", "x.jpg"], "--screenshot x.jpg: the file name must end in .png"),
           (["--after", "soon", "--screenshot", "x.png"], "--after soon: expected seconds"),
           (["--frobnicate"], "Unknown option --frobnicate"),
           (["--style", "pink"], "--style pink: expected auto, light or dark"),
           (["extra"], "unexpected argument 'extra'")]
    for args, want in bad:
        p = subprocess.run([e.opts.viewer, *args], env=viewer_env(e), capture_output=True,
                           text=True, timeout=30)
        check(f"{' '.join(args)}: exit 2 and one line",
              p.returncode == 2 and p.stderr.count("\n") == 1
              and p.stderr.startswith("kiln-viewer: ") and want in p.stderr,
              (p.returncode, p.stderr))


def main():
    ap = argparse.ArgumentParser()
    for flag in ("--viewer", "--xvfb-run", "--dbus-run-session", "--fake-portal", "--kiln",
                 "--kilnd"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--sample", action="append", default=[], help="NAME=WASM:NATIVE")
    ap.add_argument("case", choices=["control", "keyboard", "heatmap-keys", "waiting", "restart",
                                     "bench", "style", "bad-usage"])
    opts = ap.parse_args()
    if opts.case != "bad-usage" and not os.access(opts.xvfb_run, os.X_OK):
        print("SKIP: no xvfb-run (Debian's xvfb) to give the viewer a display")
        return 77
    return run_case(opts, globals(), opts.sample)


if __name__ == "__main__":
    sys.exit(main())
