/*
 * detail_view.c: KvDetailView (detail_view.h); its layout is
 * data/viewer/detail.ui.
 *
 * It refreshes after the model's "changed" a few times a second at most
 * (REFRESH_MS): labels need nothing faster, and each change of their size
 * lays the whole window out again.
 */
#include "detail_view.h"

#include <math.h>
#include <string.h>

#include "colormap.h"
#include "frame.h"
#include "heatmap_view.h"

/* Callers and callees listed, heaviest first; branches, busiest first. */
#define EDGES_SHOWN 5
#define BRANCHES_SHOWN 3
#define LOOPS_SHOWN 4
#define PACKAGES_SHOWN 3 /* newest first */

struct _KvDetailView {
  GtkBox parent;
  GtkLabel *title, *hint, *tier, *placement, *calls, *self, *compiled, *loops, *branches, *callers,
      *callees, *history, *package, *heat_caption;
  GtkWidget *grid, *sparkline;
  KvHeatModel *model;
  gulong changed_id;
  guint index;
  guint refresh_timer; /* pending refresh after the model changed */
};

#define REFRESH_MS 100

G_DEFINE_FINAL_TYPE(KvDetailView, kv_detail_view, GTK_TYPE_BOX)

static int heavier_edge(gconstpointer x, gconstpointer y) {
  const KvEdge *a = *(const KvEdge *const *)x, *b = *(const KvEdge *const *)y;
  return (a->count < b->count) - (a->count > b->count);
}

/* Callers (or callees) of index, from the heat map's edges. */
static char *edges_text(KvHeatModel *m, guint index, bool callers) {
  size_t n;
  const KvEdge *e = kv_heat_model_edges(m, &n);
  if (!n)
    return g_strdup("no data (this agent sends no call edges)");
  GPtrArray *mine = g_ptr_array_new();
  for (size_t i = 0; i < n; i++)
    if ((callers ? e[i].callee : e[i].caller) == index)
      g_ptr_array_add(mine, (gpointer)&e[i]);
  if (!mine->len) {
    g_ptr_array_unref(mine);
    return g_strdup(callers ? "none seen (entered from the host, or only by compiled code)"
                            : "none seen");
  }
  g_ptr_array_sort(mine, heavier_edge);
  GString *s = g_string_new(NULL);
  char buf[32];
  for (guint i = 0; i < mine->len && i < EDGES_SHOWN; i++) {
    const KvEdge *x = mine->pdata[i];
    g_string_append_printf(s, "%s%s: %llu calls%s", i ? "\n" : "",
                           kv_heat_model_name(m, callers ? x->caller : x->callee, buf, sizeof buf),
                           (unsigned long long)x->count, x->indirect ? " (indirect)" : "");
  }
  if (mine->len > EDGES_SHOWN)
    g_string_append_printf(s, "\nand %u more", mine->len - EDGES_SHOWN);
  g_ptr_array_unref(mine);
  return g_string_free(s, FALSE);
}

static void refresh(KvDetailView *self) {
  const KvFunction *f = self->model && self->index != KV_NO_FUNCTION
                            ? kv_heat_model_lookup(self->model, self->index)
                            : NULL;
  gtk_widget_set_visible(self->grid, f != NULL);
  gtk_widget_set_visible(self->sparkline, f != NULL);
  gtk_widget_set_visible(GTK_WIDGET(self->heat_caption), f != NULL);
  gtk_widget_set_visible(GTK_WIDGET(self->hint), f == NULL);
  if (!f) {
    gtk_label_set_text(self->title, "No function selected");
    return;
  }
  char buf[32], *t;
  KvHeatSummary sum;
  kv_heat_model_summary(self->model, &sum);
  t = g_strdup_printf("%s (func %u)", kv_heat_model_name(self->model, f->index, buf, sizeof buf),
                      f->index);
  gtk_label_set_text(self->title, t);
  g_free(t);

  t = g_strdup_printf("%s, heat %.2f%s", kiln_tier_name(f->tier), f->heat,
                      f->present ? "" : " (not in the latest heat map)");
  gtk_label_set_text(self->tier, t);
  g_free(t);
  if (f->reason)
    t = g_strdup_printf("%s: %s", kiln_tier_name(f->placed), f->reason);
  else
    t = g_strdup(sum.policy ? "not placed by the latest partition" : "no partition yet");
  gtk_label_set_text(self->placement, t);
  g_free(t);
  t = g_strdup_printf("%llu", (unsigned long long)f->calls);
  gtk_label_set_text(self->calls, t);
  g_free(t);
  t = g_strdup_printf("%.1f%% of the module's recent self time (%llu samples of %u us)",
                      f->share * 100, (unsigned long long)f->self_samples, sum.sample_us);
  gtk_label_set_text(self->self, t);
  g_free(t);
  t = g_strdup_printf(
      "%.0f%% of its self time",
      f->self_samples ? 100.0 * (double)f->compiled_samples / (double)f->self_samples : 0.0);
  gtk_label_set_text(self->compiled, t);
  g_free(t);

  GString *s = g_string_new(NULL);
  size_t order[LOOPS_SHOWN], shown = kv_function_busiest_loops(f, order, LOOPS_SHOWN);
  for (size_t i = 0; i < shown; i++) {
    const KvLoop *l = &f->loops[order[i]];
    /* Compiled code counts no iterations: theirs are the interpreter's. */
    g_string_append_printf(s, "%sat +%u: heat %.2f, %llu iterations interpreted", i ? "\n" : "",
                           l->offset, l->heat, (unsigned long long)l->iterations);
    if (l->osr_entries)
      g_string_append_printf(s, ", %llu OSR entr%s", (unsigned long long)l->osr_entries,
                             l->osr_entries == 1 ? "y" : "ies");
  }
  if (f->n_loops > shown)
    g_string_append_printf(s, "\nand %zu more, less busy", f->n_loops - shown);
  gtk_label_set_text(self->loops, s->len ? s->str : "none ran");
  g_string_truncate(s, 0);
  for (size_t i = 0; i < f->n_branches && i < BRANCHES_SHOWN; i++) {
    const KvBranch *b = &f->branches[i];
    uint64_t all = b->true_count + b->false_count;
    g_string_append_printf(s, "%sat +%u: %.0f%% true of %llu", i ? "\n" : "", b->offset,
                           all ? 100.0 * (double)b->true_count / (double)all : 0.0,
                           (unsigned long long)all);
  }
  if (f->n_branches > BRANCHES_SHOWN)
    g_string_append_printf(s, "\nand %zu more", f->n_branches - BRANCHES_SHOWN);
  gtk_label_set_text(self->branches,
                     s->len ? s->str : "none counted (counted over a function's first runs)");
  g_string_truncate(s, 0);
  t = edges_text(self->model, f->index, true);
  gtk_label_set_text(self->callers, t);
  g_free(t);
  t = edges_text(self->model, f->index, false);
  gtk_label_set_text(self->callees, t);
  g_free(t);
  for (size_t i = 0; i < f->n_steps; i++) {
    const KvTierStep *st = &f->steps[i];
    g_string_append_printf(s, "%s%.1f s: %s -> %s", i ? "\n" : "", st->at_s,
                           kiln_tier_name(st->from), kiln_tier_name(st->to));
    if (st->compile_ms > 0)
      g_string_append_printf(s, ", compiled in %.1f ms", st->compile_ms);
    else if (kv_heat_model_tier_rank(st->to) > kv_heat_model_tier_rank(st->from))
      g_string_append(s, ", from the cache");
    if (st->latency_ms > 0)
      g_string_append_printf(s, ", switched %.1f ms after its heat map", st->latency_ms);
    if (st->why && *st->why)
      g_string_append_printf(s, " (%s)", st->why);
  }
  gtk_label_set_text(self->history, s->len ? s->str : "none seen since the viewer started");
  g_string_truncate(s, 0);
  const KvPackage *pkgs[PACKAGES_SHOWN];
  size_t npkgs = kv_heat_model_packages_of(self->model, f->index, pkgs, PACKAGES_SHOWN);
  for (size_t i = 0; i < npkgs; i++) {
    const KvPackage *p = pkgs[i];
    /* Segment names end in a 64-digit key: its start tells them apart. */
    if (strlen(p->segment) > 24)
      g_string_append_printf(s, "%s%s, %.18s\xe2\x80\xa6.so", i ? "\n" : "",
                             kiln_tier_name(p->tier), p->segment);
    else
      g_string_append_printf(s, "%s%s, %s", i ? "\n" : "", kiln_tier_name(p->tier), p->segment);
    g_string_append_printf(s, ": %llu bytes, %zu function%s, ", (unsigned long long)p->size,
                           p->n_functions, p->n_functions == 1 ? "" : "s");
    if (p->cache_hit)
      g_string_append(s, "from the cache");
    else
      g_string_append_printf(s, "compiled in %.0f ms", p->duration_s * 1000);
  }
  if (!npkgs)
    g_string_append(s, kv_heat_model_tier_rank(f->tier)
                           ? "not seen on the feed since the viewer started"
                           : "none: interpreted");
  gtk_label_set_text(self->package, s->str);
  g_string_free(s, TRUE);
  gtk_widget_queue_draw(self->sparkline);
}

static void draw_sparkline(GtkDrawingArea *area, cairo_t *cr, int w, int h, gpointer data) {
  (void)area;
  KvDetailView *self = data;
  const KvFunction *f = self->model && self->index != KV_NO_FUNCTION
                            ? kv_heat_model_lookup(self->model, self->index)
                            : NULL;
  GdkRGBA fg;
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS /* gtk_widget_get_color is 4.10 */
      gtk_style_context_get_color(gtk_widget_get_style_context(GTK_WIDGET(area)), &fg);
  G_GNUC_END_IGNORE_DEPRECATIONS
  gdk_cairo_set_source_rgba(cr, &fg);
  cairo_set_line_width(cr, 1);
  cairo_set_source_rgba(cr, fg.red, fg.green, fg.blue, 0.3);
  cairo_rectangle(cr, 0.5, 0.5, w - 1, h - 1);
  cairo_stroke(cr);
  if (!f || f->n_history == 0)
    return;
  double step = f->n_history > 1 ? (w - 4.0) / (double)(KV_HISTORY - 1) : 0;
  double x0 = w - 2 - step * (double)(f->n_history - 1);
  /* Each point in the colour of its heat, joined by the line. */
  cairo_set_line_width(cr, 2);
  gdk_cairo_set_source_rgba(cr, &fg);
  for (size_t i = 0; i < f->n_history; i++) {
    double x = x0 + step * (double)i, y = h - 3 - (h - 6) * f->history[i];
    if (i == 0)
      cairo_move_to(cr, x, y);
    else
      cairo_line_to(cr, x, y);
  }
  cairo_stroke(cr);
  for (size_t i = 0; i < f->n_history; i++) {
    ColormapRgb c = colormap_heat(f->history[i]);
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
    cairo_arc(cr, x0 + step * (double)i, h - 3 - (h - 6) * f->history[i], 2.5, 0, 2 * M_PI);
    cairo_fill(cr);
  }
}

static gboolean refresh_later(gpointer data) {
  KvDetailView *self = data;
  self->refresh_timer = 0;
  refresh(self);
  return G_SOURCE_REMOVE;
}

static void on_model_changed(KvHeatModel *m, gpointer data) {
  (void)m;
  KvDetailView *self = data;
  if (!self->refresh_timer)
    self->refresh_timer = g_timeout_add(REFRESH_MS, refresh_later, self);
}

void kv_detail_view_show(KvDetailView *self, KvHeatModel *model, guint index) {
  if (self->model != model) {
    if (self->model) {
      g_signal_handler_disconnect(self->model, self->changed_id);
      g_object_unref(self->model);
    }
    self->model = model ? g_object_ref(model) : NULL;
    if (model)
      self->changed_id = g_signal_connect(model, "changed", G_CALLBACK(on_model_changed), self);
  }
  self->index = index;
  refresh(self);
}

const char *kv_detail_view_title(KvDetailView *self) {
  return gtk_label_get_text(self->title);
}

static void kv_detail_view_dispose(GObject *o) {
  KvDetailView *self = KV_DETAIL_VIEW(o);
  if (self->refresh_timer)
    g_source_remove(self->refresh_timer);
  self->refresh_timer = 0;
  if (self->model) {
    g_signal_handler_disconnect(self->model, self->changed_id);
    g_clear_object(&self->model);
  }
  gtk_widget_dispose_template(GTK_WIDGET(o), KV_TYPE_DETAIL_VIEW);
  G_OBJECT_CLASS(kv_detail_view_parent_class)->dispose(o);
}

static void kv_detail_view_class_init(KvDetailViewClass *c) {
  G_OBJECT_CLASS(c)->dispose = kv_detail_view_dispose;
  GtkWidgetClass *w = GTK_WIDGET_CLASS(c);
  gtk_widget_class_set_template_from_resource(w, "/org/kiln/Viewer/detail.ui");
#define BIND(name) gtk_widget_class_bind_template_child(w, KvDetailView, name)
  BIND(title);
  BIND(hint);
  BIND(tier);
  BIND(placement);
  BIND(calls);
  BIND(self);
  BIND(compiled);
  BIND(loops);
  BIND(branches);
  BIND(callers);
  BIND(callees);
  BIND(history);
  BIND(package);
  BIND(heat_caption);
  BIND(grid);
  BIND(sparkline);
#undef BIND
}

static void kv_detail_view_init(KvDetailView *self) {
  gtk_widget_init_template(GTK_WIDGET(self));
  self->index = KV_NO_FUNCTION;
  gtk_drawing_area_set_draw_func(GTK_DRAWING_AREA(self->sparkline), draw_sparkline, self, NULL);
}
