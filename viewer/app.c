/*
 * app.c: kiln-viewer's command line and application (app.h).
 *
 *   kiln-viewer [--service ENDPOINT] [--style auto|light|dark]
 *               [--screenshot FILE.png] [--dump-model FILE.json] [--after SECONDS]
 *               [--set-hot N] [--set-warm N] [--set-policy P] [--for-selected]
 *               [--select NAME] [--bench-frames N]
 *
 * The --set-* options move the controls and press Apply once the first
 * heat map has come, through the same handlers a click reaches, so a test
 * exercises the viewer's own control path.
 */
#include "app.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "bench_feed.h"
#include "control_client.h"
#include "detail_view.h"
#include "feed_client.h"
#include "frame.h"
#include "model_dump.h"
#include "style.h"
#include "window.h"

enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

#define BENCH_FUNCTIONS 500
#define BENCH_WARMUP 5
/* A screenshot or dump without --after waits this long for a first round. */
#define DEFAULT_AFTER_S 3.0

typedef struct {
  char *service, *style, *screenshot, *dump, *set_policy, *select;
  double after;
  int set_hot, set_warm, bench_frames;
  gboolean for_selected, version;
} Options;

typedef struct {
  Options o;
  int status;
  void *zctx;
  KvFeedModel *model;
  FeedClient *feed;
  ControlClient *control;
  KvWindow *window;
  guint control_timer, select_timer;
  bool control_sent;
  gint64 ready_at, applied_at; /* g_get_monotonic_time(): a partition came; Apply */
  int replies, end_tries;
  KvServiceState said; /* the state of kilnd last printed */
  gboolean last_ok;
  char *last_reply;
  /* the bench */
  guint frame;
  gint64 tick_at, last_paint;
  GArray *intervals, *work, *draw; /* double, ms */
  gint64 feed_us; /* the latest heat map's way into the model */
} Viewer;

__attribute__((format(printf, 2, 3))) static int fail(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("kiln-viewer: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return status;
}

/* --- the end: screenshot, dump, quit -------------------------------------- */

/* 0 written; 1 failed (said); -1 nothing to render yet: the window is
 * between an allocation and its next paint, so try again a frame later. */
static int write_screenshot(Viewer *v, bool last_try) {
  GtkWidget *w = GTK_WIDGET(v->window);
  int width = gtk_widget_get_width(w), height = gtk_widget_get_height(w);
  GdkPaintable *p = gtk_widget_paintable_new(w);
  GtkSnapshot *s = gtk_snapshot_new();
  gdk_paintable_snapshot(p, s, width, height);
  GskRenderNode *node = gtk_snapshot_free_to_node(s);
  g_object_unref(p);
  GskRenderer *r = gtk_native_get_renderer(GTK_NATIVE(w));
  if (!node || !r || width <= 0 || height <= 0) {
    if (node)
      gsk_render_node_unref(node);
    if (!last_try)
      return -1;
    return fail(EXIT_FAILED, "--screenshot %s: the window was never drawn (no display?)",
                v->o.screenshot);
  }
  GdkTexture *t = gsk_renderer_render_texture(r, node, &GRAPHENE_RECT_INIT(0, 0, width, height));
  gsk_render_node_unref(node);
  gboolean ok = gdk_texture_save_to_png(t, v->o.screenshot);
  g_object_unref(t);
  if (!ok)
    return fail(EXIT_FAILED, "--screenshot %s: cannot write the PNG: %s", v->o.screenshot,
                g_strerror(errno));
  return 0;
}

static int write_dump(Viewer *v) {
  GtkWidget *focus = gtk_root_get_focus(GTK_ROOT(v->window));
  ModelDumpView view = {
      .banner = kv_window_banner(v->window),
      .selected_agent = kv_window_selected_agent(v->window),
      .heatmap_cells = kv_heatmap_view_cells(kv_window_heatmap(v->window)),
      .controls_sent = v->replies,
      .last_reply_ok = v->last_ok,
      .last_reply = v->last_reply,
      .selected_function = kv_heatmap_view_get_selected(kv_window_heatmap(v->window)),
      .detail_title = kv_detail_view_title(kv_window_detail(v->window)),
      .focus = focus ? gtk_widget_get_css_name(focus) : NULL,
  };
  char err[512];
  if (model_dump_write(v->model, &view, v->o.dump, err, sizeof err) != 0)
    return fail(EXIT_FAILED, "--dump-model: %s", err);
  return 0;
}

/* Tries at the end wait for a paint: 50 ms apart, for at most 5 s. */
#define END_RETRY_MS 50
#define END_TRIES 100

static gboolean on_the_end(gpointer data) {
  Viewer *v = data;
  int shot = v->o.screenshot ? write_screenshot(v, ++v->end_tries >= END_TRIES) : 0;
  if (shot < 0) {
    g_timeout_add(END_RETRY_MS, on_the_end, v);
    return G_SOURCE_REMOVE;
  }
  if (shot > 0)
    v->status = EXIT_FAILED;
  if (v->o.dump && write_dump(v) != 0)
    v->status = EXIT_FAILED;
  gtk_window_destroy(GTK_WINDOW(v->window));
  return G_SOURCE_REMOVE;
}

/* --- the control hook ---------------------------------------------------------- */

static void on_replied(KvControlPanel *panel, gboolean ok, const char *text, gpointer data) {
  (void)panel;
  Viewer *v = data;
  v->replies++;
  v->last_ok = ok;
  g_free(v->last_reply);
  v->last_reply = g_strdup(text);
  /* A test reads it here too: the viewer's own account of the answer. */
  printf("kiln-viewer: control: %s\n", text);
  fflush(stdout);
}

/* Whether kilnd is heard, said on stdout as it changes: for an operator's
 * terminal, and a test waits for it before it starts the agents. */
static void on_service_changed(KvService *service, gpointer data) {
  Viewer *v = data;
  const KvServiceInfo *s = kv_service_info(service);
  if (s->state == v->said)
    return;
  v->said = s->state;
  if (s->state == KV_SERVICE_CONNECTED)
    printf("kiln-viewer: kilnd is there, feed %s\n", s->feed);
  else if (s->state == KV_SERVICE_LOST)
    printf("kiln-viewer: kilnd went silent, feed %s\n", s->feed);
  fflush(stdout);
}

/* How soon a control shows: from Apply to each agent's partition after it
 * reaching the model its heat map is drawn from. Said once per agent. */
static void on_heat_after_apply(KvHeatModel *heat, gpointer data) {
  Viewer *v = data;
  KvHeatSummary s;
  kv_heat_model_summary(heat, &s);
  if (!s.after_control || g_object_get_data(G_OBJECT(heat), "kv-shown-after-apply"))
    return;
  g_object_set_data(G_OBJECT(heat), "kv-shown-after-apply", GINT_TO_POINTER(1));
  printf("kiln-viewer: new partition (%s, hot %.0f%%, warm %.0f%%) in the view %.0f ms after "
         "Apply\n",
         s.policy, s.hot * 100, s.warm * 100,
         (double)(g_get_monotonic_time() - v->applied_at) / 1000.0);
  fflush(stdout);
}

/* A second after an agent's first partition came (kilnd has something to
 * re-partition, and the window has drawn it: its first frames compile the
 * renderer's shaders, which in software holds the main loop for a while),
 * moves the controls and presses Apply. */
#define APPLY_AFTER_US G_USEC_PER_SEC
static gboolean on_control_timer(gpointer data) {
  Viewer *v = data;
  GListModel *agents = G_LIST_MODEL(kv_feed_model_agents(v->model));
  bool ready = false;
  for (guint i = 0, n = g_list_model_get_n_items(agents); i < n && !ready; i++) {
    KvAgent *a = g_list_model_get_item(agents, i);
    KvHeatSummary s;
    kv_heat_model_summary(kv_agent_heat(a), &s);
    ready = s.policy != NULL;
    g_object_unref(a);
  }
  if (ready && !v->ready_at)
    v->ready_at = g_get_monotonic_time();
  if (!ready || g_get_monotonic_time() - v->ready_at < APPLY_AFTER_US)
    return G_SOURCE_CONTINUE;
  KvControlPanel *panel = kv_window_controls(v->window);
  kv_control_panel_move(panel, (guint)v->o.set_hot, (guint)v->o.set_warm, v->o.set_policy,
                        v->o.for_selected);
  v->applied_at = g_get_monotonic_time();
  for (guint i = 0, n = g_list_model_get_n_items(agents); i < n; i++) {
    KvAgent *a = g_list_model_get_item(agents, i);
    g_signal_connect(kv_agent_heat(a), "changed", G_CALLBACK(on_heat_after_apply), v);
    g_object_unref(a);
  }
  kv_control_panel_apply(panel);
  v->control_timer = 0;
  return G_SOURCE_REMOVE;
}

/* Selects --select's function once an agent has it, as clicks on the
 * agent's row and on the function's cell would. */
static gboolean on_select_timer(gpointer data) {
  Viewer *v = data;
  GListModel *agents = G_LIST_MODEL(kv_feed_model_agents(v->model));
  for (guint k = 0, na = g_list_model_get_n_items(agents); k < na; k++) {
    KvAgent *a = g_list_model_get_item(agents, k);
    size_t n;
    const KvFunction *const *f = kv_heat_model_functions(kv_agent_heat(a), &n);
    guint found = KV_NO_FUNCTION;
    for (size_t i = 0; i < n && found == KV_NO_FUNCTION; i++)
      if (f[i]->name && strcmp(f[i]->name, v->o.select) == 0)
        found = f[i]->index;
    guint id = kv_agent_info(a)->id;
    g_object_unref(a);
    if (found != KV_NO_FUNCTION && kv_window_select_agent(v->window, id)) {
      kv_heatmap_view_select(kv_window_heatmap(v->window), found);
      v->select_timer = 0;
      return G_SOURCE_REMOVE;
    }
  }
  return G_SOURCE_CONTINUE;
}

/* --- the bench ------------------------------------------------------------------- */

static int by_value(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

static double percentile(GArray *a, double p) {
  if (!a->len)
    return 0;
  size_t i = (size_t)ceil(p / 100.0 * a->len);
  return g_array_index(a, double, i ? i - 1 : 0);
}

static void bench_report(Viewer *v) {
  qsort(v->intervals->data, v->intervals->len, sizeof(double), by_value);
  qsort(v->work->data, v->work->len, sizeof(double), by_value);
  qsort(v->draw->data, v->draw->len, sizeof(double), by_value);
  GskRenderer *r = gtk_native_get_renderer(GTK_NATIVE(v->window));
  printf("bench: %u frames of %d functions (each a new heat map) with %s: frame interval p50 "
         "%.1f ms, p95 %.1f ms, max %.1f ms; heat map in to frame painted p50 %.1f ms, p95 %.1f "
         "ms, max %.1f ms; of which the heat map's layout and drawing p50 %.1f ms, p95 %.1f ms\n",
         v->intervals->len, BENCH_FUNCTIONS, r ? G_OBJECT_TYPE_NAME(r) : "no renderer",
         percentile(v->intervals, 50), percentile(v->intervals, 95), percentile(v->intervals, 100),
         percentile(v->work, 50), percentile(v->work, 95), percentile(v->work, 100),
         percentile(v->draw, 50), percentile(v->draw, 95));
  fflush(stdout);
}

static void on_after_paint(GdkFrameClock *clock, gpointer data) {
  (void)clock;
  Viewer *v = data;
  if (!v->tick_at)
    return;
  gint64 now = g_get_monotonic_time();
  if (v->frame > BENCH_WARMUP) {
    g_array_append_val(v->work, (double){(double)(now - v->tick_at) / 1000.0});
    g_array_append_val(
        v->draw,
        (double){(double)kv_heatmap_view_last_draw_us(kv_window_heatmap(v->window)) / 1000.0});
    if (v->last_paint)
      g_array_append_val(v->intervals, (double){(double)(now - v->last_paint) / 1000.0});
  }
  v->last_paint = now;
  v->tick_at = 0;
  if (v->intervals->len >= (guint)v->o.bench_frames) {
    bench_report(v);
    g_idle_add(on_the_end, v);
    g_signal_handlers_disconnect_by_func(clock, on_after_paint, v);
  }
}

/* Each frame: a new heat map of BENCH_FUNCTIONS into the model, as the
 * feed would deliver it. */
static gboolean on_bench_tick(GtkWidget *w, GdkFrameClock *clock, gpointer data) {
  (void)w, (void)clock;
  Viewer *v = data;
  if (v->intervals->len >= (guint)v->o.bench_frames)
    return G_SOURCE_REMOVE;
  if (v->frame == 0)
    g_signal_connect(clock, "after-paint", G_CALLBACK(on_after_paint), v);
  v->tick_at = g_get_monotonic_time();
  bench_feed_heat_map(v->model, BENCH_FUNCTIONS, v->frame++);
  v->feed_us = g_get_monotonic_time() - v->tick_at;
  return G_SOURCE_CONTINUE;
}

/* --- start ------------------------------------------------------------------------- */

static void on_activate(GtkApplication *app, gpointer data) {
  Viewer *v = data;
  GtkCssProvider *css = gtk_css_provider_new();
  gtk_css_provider_load_from_resource(css, "/org/kiln/Viewer/style.css");
  gtk_style_context_add_provider_for_display(gdk_display_get_default(), GTK_STYLE_PROVIDER(css),
                                             GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
  g_object_unref(css);
  viewer_style_apply(v->o.style);
  gtk_window_set_default_icon_name("org.kiln.Viewer");

  if (v->o.bench_frames) {
    v->model = kv_feed_model_new("(synthetic, --bench-frames)", "(synthetic)");
    v->window = kv_window_new(app, v->model, NULL);
    bench_feed_start(v->model);
    v->intervals = g_array_new(FALSE, FALSE, sizeof(double));
    v->work = g_array_new(FALSE, FALSE, sizeof(double));
    v->draw = g_array_new(FALSE, FALSE, sizeof(double));
    gtk_widget_add_tick_callback(GTK_WIDGET(kv_window_heatmap(v->window)), on_bench_tick, v, NULL);
    gtk_window_present(GTK_WINDOW(v->window));
    return;
  }

  char endpoint[4200], feed[4300], err[512];
  if (v->o.service) {
    g_snprintf(endpoint, sizeof endpoint, "%s", v->o.service);
  } else if (kiln_default_endpoint(endpoint, sizeof endpoint, err, sizeof err) != 0) {
    v->status = fail(EXIT_FAILED, "%s", err);
    return;
  }
  if (kiln_feed_endpoint(endpoint, feed, sizeof feed) != 0) {
    v->status = fail(EXIT_USAGE, "--service %s: endpoint too long", endpoint);
    return;
  }
  v->zctx = zmq_ctx_new();
  v->model = kv_feed_model_new(endpoint, feed);
  v->feed = feed_client_new(v->zctx, feed, v->model, err, sizeof err);
  if (!v->feed) {
    v->status = fail(EXIT_FAILED, "%s", err);
    return;
  }
  g_signal_connect(kv_feed_model_service(v->model), "changed", G_CALLBACK(on_service_changed), v);
  v->control = control_client_new(v->zctx, endpoint);
  v->window = kv_window_new(app, v->model, v->control);
  g_signal_connect(kv_window_controls(v->window), "replied", G_CALLBACK(on_replied), v);
  if (v->o.set_hot || v->o.set_warm || v->o.set_policy)
    v->control_timer = g_timeout_add(100, on_control_timer, v);
  if (v->o.select)
    v->select_timer = g_timeout_add(100, on_select_timer, v);
  if (v->o.screenshot || v->o.dump)
    g_timeout_add((guint)(v->o.after * 1000), on_the_end, v);
  gtk_window_present(GTK_WINDOW(v->window));
}

/* --- the command line ------------------------------------------------------------ */

/* -1: not given (GOption cannot tell 0 from absent), which becomes 0,
 * "unchanged" as in Control. */
static int percent_of(const char *opt, int *value) {
  if (*value == -1) {
    *value = 0;
    return 0;
  }
  if (*value < 1 || *value > 100)
    return fail(EXIT_USAGE, "%s %d: expected a percentage from 1 to 100", opt, *value);
  return 0;
}

static int parse(int *argc, char ***argv, Options *o) {
  char *after = NULL;
  o->set_hot = o->set_warm = -1;
  GOptionEntry entries[] = {
      {"service", 0, 0, G_OPTION_ARG_STRING, &o->service,
       "kilnd's endpoint (default ipc://$XDG_RUNTIME_DIR/kiln/kilnd.sock); its feed is beside it",
       "ENDPOINT"},
      {"style", 0, 0, G_OPTION_ARG_STRING, &o->style,
       "auto (the desktop's, the default), light or dark", "STYLE"},
      {"screenshot", 0, 0, G_OPTION_ARG_FILENAME, &o->screenshot,
       "render the window to FILE.png after --after seconds, then exit", "FILE.png"},
      {"dump-model", 0, 0, G_OPTION_ARG_FILENAME, &o->dump,
       "write what the viewer knows as JSON after --after seconds, then exit", "FILE.json"},
      {"after", 0, 0, G_OPTION_ARG_STRING, &after,
       "seconds from the start for --screenshot and --dump-model (default 3)", "SECONDS"},
      {"set-hot", 0, 0, G_OPTION_ARG_INT, &o->set_hot,
       "move the hot slider to N and press Apply once a partition has come", "N"},
      {"set-warm", 0, 0, G_OPTION_ARG_INT, &o->set_warm, "the same for the warm slider", "N"},
      {"set-policy", 0, 0, G_OPTION_ARG_STRING, &o->set_policy,
       "the same for the policy: coverage or share", "POLICY"},
      {"select", 0, 0, G_OPTION_ARG_STRING, &o->select,
       "select the function of that name in the heat map once it shows (its detail pane)", "NAME"},
      {"for-selected", 0, 0, G_OPTION_ARG_NONE, &o->for_selected,
       "apply the --set-* settings to the selected agent only", NULL},
      {"bench-frames", 0, 0, G_OPTION_ARG_INT, &o->bench_frames,
       "draw N frames of synthetic heat maps of 500 functions, print frame times, exit", "N"},
      {"version", 0, 0, G_OPTION_ARG_NONE, &o->version, "print the version and exit", NULL},
      {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  GOptionContext *ctx = g_option_context_new(NULL);
  g_option_context_set_summary(ctx,
                               "Shows kilnd's agents and their heat maps live, and moves kilnd's "
                               "thresholds.");
  g_option_context_add_main_entries(ctx, entries, NULL);
  GError *error = NULL;
  int rc = 0;
  if (!g_option_context_parse(ctx, argc, argv, &error)) {
    rc = fail(EXIT_USAGE, "%s; try 'kiln-viewer --help'", error->message);
    g_error_free(error);
  } else if (*argc > 1) {
    rc = fail(EXIT_USAGE, "unexpected argument '%s'; try 'kiln-viewer --help'", (*argv)[1]);
  }
  g_option_context_free(ctx);
  if (rc)
    return rc;
  if (!o->style)
    o->style = g_strdup("auto");
  if (strcmp(o->style, "auto") && strcmp(o->style, "light") && strcmp(o->style, "dark"))
    return fail(EXIT_USAGE, "--style %s: expected auto, light or dark", o->style);
  if (o->service && !*o->service)
    return fail(EXIT_USAGE, "--service: empty endpoint");
  o->after = DEFAULT_AFTER_S;
  if (after) {
    char *end;
    errno = 0;
    o->after = strtod(after, &end);
    if (errno || end == after || *end || !(o->after >= 0) || o->after > 86400)
      return fail(EXIT_USAGE, "--after %s: expected seconds, from 0 to 86400", after);
    g_free(after);
    if (!o->screenshot && !o->dump)
      return fail(EXIT_USAGE, "--after: only with --screenshot or --dump-model");
  }
  if ((rc = percent_of("--set-hot", &o->set_hot)) || (rc = percent_of("--set-warm", &o->set_warm)))
    return rc;
  if (o->set_policy && strcmp(o->set_policy, "coverage") && strcmp(o->set_policy, "share"))
    return fail(EXIT_USAGE, "--set-policy %s: expected coverage or share", o->set_policy);
  if (o->bench_frames < 0 || o->bench_frames > 100000)
    return fail(EXIT_USAGE, "--bench-frames %d: expected 1 to 100000 frames", o->bench_frames);
  if (o->bench_frames && (o->service || o->set_hot || o->set_warm || o->set_policy))
    return fail(EXIT_USAGE, "--bench-frames draws synthetic heat maps: no --service or --set-*");
  if (o->screenshot && !g_str_has_suffix(o->screenshot, ".png"))
    return fail(EXIT_USAGE, "--screenshot %s: the file name must end in .png", o->screenshot);
  return 0;
}

/* Without a GPU, GTK's GL renderer runs in software (Mesa's llvmpipe) over
 * the whole window every frame: 60 ms a frame on 2 cores under Xvfb, where
 * its cairo renderer takes 15. So where no render node is there, cairo is
 * the default; GSK_RENDERER still chooses. */
static void prefer_cairo_without_gpu(void) {
  if (g_getenv("GSK_RENDERER"))
    return;
  GDir *dri = g_dir_open("/dev/dri", 0, NULL);
  bool gpu = false;
  for (const char *name; dri && !gpu && (name = g_dir_read_name(dri));) {
    char *path = g_build_filename("/dev/dri", name, NULL);
    gpu = g_str_has_prefix(name, "renderD") && access(path, R_OK | W_OK) == 0;
    g_free(path);
  }
  if (dri)
    g_dir_close(dri);
  if (!gpu)
    g_setenv("GSK_RENDERER", "cairo", FALSE);
}

/* Without a session bus (none named, none at $XDG_RUNTIME_DIR/bus: a
 * server, a container, CI), GTK's accessibility has nothing to register
 * on and warns at every start; no screen reader could reach the viewer
 * there, so accessibility is off. GTK_A11Y still chooses. */
static void no_a11y_without_session_bus(void) {
  if (g_getenv("GTK_A11Y") || g_getenv("DBUS_SESSION_BUS_ADDRESS"))
    return;
  char *bus = g_build_filename(g_get_user_runtime_dir(), "bus", NULL);
  GStatBuf st;
  bool there = g_stat(bus, &st) == 0 && S_ISSOCK(st.st_mode);
  g_free(bus);
  if (!there)
    g_setenv("GTK_A11Y", "none", FALSE);
}

int viewer_app_run(int argc, char **argv) {
  Viewer v = {0};
  int rc = parse(&argc, &argv, &v.o);
  if (rc)
    return rc;
  if (v.o.version) {
    printf("kiln-viewer %s (GTK %u.%u.%u)\n", KILN_VERSION, gtk_get_major_version(),
           gtk_get_minor_version(), gtk_get_micro_version());
    return 0;
  }
  prefer_cairo_without_gpu();
  no_a11y_without_session_bus();
  if (!gtk_init_check())
    return fail(EXIT_FAILED, "cannot open a display (is DISPLAY or WAYLAND_DISPLAY set?)");
  GtkApplication *app = gtk_application_new("org.kiln.Viewer", G_APPLICATION_NON_UNIQUE);
  g_signal_connect(app, "activate", G_CALLBACK(on_activate), &v);
  char *args[] = {argv[0], NULL};
  int status = g_application_run(G_APPLICATION(app), 1, args);
  g_object_unref(app);
  if (v.control_timer)
    g_source_remove(v.control_timer);
  if (v.select_timer)
    g_source_remove(v.select_timer);
  feed_client_free(v.feed);
  control_client_free(v.control);
  g_clear_object(&v.model);
  if (v.zctx)
    zmq_ctx_term(v.zctx);
  if (v.intervals)
    g_array_unref(v.intervals);
  if (v.work)
    g_array_unref(v.work);
  if (v.draw)
    g_array_unref(v.draw);
  g_free(v.last_reply);
  g_free(v.o.service);
  g_free(v.o.style);
  g_free(v.o.screenshot);
  g_free(v.o.dump);
  g_free(v.o.set_policy);
  g_free(v.o.select);
  return v.status ? v.status : status;
}
