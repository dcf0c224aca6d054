/*
 * heatmap_view.c: KvHeatmapView (heatmap_view.h).
 *
 * The model's "changed" only queues a draw: GTK paints once per frame
 * clock tick, so a burst of heat maps costs one layout and one paint. The
 * layout is kept until the model's generation or the size moves.
 */
#include "heatmap_view.h"

#include <math.h>
#include <string.h>

#include "colormap.h"
#include "frame.h"
#include "treemap.h"

#define LEGEND_H 30.0
#define TIP_LOOPS 3 /* the busiest, in a cell's tooltip */
/* Below this a cell is too small to point at or label: grouped instead. */
#define MIN_CELL_AREA (38.0 * 22.0)
#define BADGE 14.0
#define LOOP_BAND_MAX 10.0
/* Loops with less of their function's self time than this are not drawn. */
#define LOOP_MIN_SHARE 0.05

struct _KvHeatmapView {
  GtkWidget parent;
  KvHeatModel *model;
  gulong changed_id;
  TreemapLayout layout;
  GPtrArray *items; /* const KvFunction *, the layout's input order */
  guint64 laid_generation;
  int laid_w, laid_h;
  bool laid;
  guint selected;
  gint64 last_draw_us;
};

G_DEFINE_FINAL_TYPE(KvHeatmapView, kv_heatmap_view, GTK_TYPE_WIDGET)

enum { SIGNAL_SELECTED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void forget_layout(KvHeatmapView *self) {
  treemap_layout_clear(&self->layout);
  g_ptr_array_set_size(self->items, 0);
  self->laid = false;
}

static void on_model_changed(KvHeatModel *model, gpointer data) {
  (void)model;
  gtk_widget_queue_draw(GTK_WIDGET(data));
}

void kv_heatmap_view_set_model(KvHeatmapView *self, KvHeatModel *model) {
  if (self->model == model)
    return;
  if (self->model) {
    g_signal_handler_disconnect(self->model, self->changed_id);
    g_object_unref(self->model);
  }
  self->model = model ? g_object_ref(model) : NULL;
  if (model)
    self->changed_id = g_signal_connect(model, "changed", G_CALLBACK(on_model_changed), self);
  forget_layout(self);
  self->selected = KV_NO_FUNCTION;
  g_signal_emit(self, signals[SIGNAL_SELECTED], 0, self->selected);
  gtk_widget_queue_draw(GTK_WIDGET(self));
}

guint kv_heatmap_view_get_selected(KvHeatmapView *self) {
  return self->selected;
}

void kv_heatmap_view_select(KvHeatmapView *self, guint index) {
  if (self->selected == index)
    return;
  self->selected = index;
  g_signal_emit(self, signals[SIGNAL_SELECTED], 0, index);
  gtk_widget_queue_draw(GTK_WIDGET(self));
}

gint64 kv_heatmap_view_last_draw_us(KvHeatmapView *self) {
  return self->last_draw_us;
}

guint kv_heatmap_view_cells(KvHeatmapView *self) {
  return (guint)self->layout.n_cells;
}

/* --- layout ---------------------------------------------------------------- */

static void ensure_layout(KvHeatmapView *self, int w, int h) {
  guint64 gen = kv_heat_model_generation(self->model);
  if (self->laid && gen == self->laid_generation && w == self->laid_w && h == self->laid_h)
    return;
  forget_layout(self);
  size_t n;
  const KvFunction *const *f = kv_heat_model_functions(self->model, &n);
  double *weights = g_new(double, n ? n : 1);
  for (size_t i = 0; i < n; i++) {
    g_ptr_array_add(self->items, (gpointer)f[i]);
    weights[i] = (double)f[i]->self_samples;
  }
  TreemapRect area = {0, 0, w, h - LEGEND_H};
  if (area.h < 1)
    area.h = 1;
  treemap_layout(weights, n, area, MIN_CELL_AREA, &self->layout);
  g_free(weights);
  self->laid = true;
  self->laid_generation = gen;
  self->laid_w = w;
  self->laid_h = h;
}

static const KvFunction *item_of(KvHeatmapView *self, const TreemapCell *c) {
  return c && c->item != TREEMAP_GROUP ? self->items->pdata[c->item] : NULL;
}

/* --- drawing ---------------------------------------------------------------- */

static void set_rgb(cairo_t *cr, ColormapRgb c, double alpha) {
  cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
}

static char tier_letter(Kiln__Tier t) {
  return t == KILN__TIER__TIER_HOT ? 'H' : t == KILN__TIER__TIER_WARM ? 'W' : 'C';
}

/* Draws text at (x, y) (baseline), cut with an ellipsis to max_w; false
 * when not even a few characters fit. */
static bool fitted_text(cairo_t *cr, const char *text, double x, double y, double max_w) {
  cairo_text_extents_t ext;
  cairo_text_extents(cr, text, &ext);
  if (ext.x_advance <= max_w) {
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, text);
    return true;
  }
  char buf[128];
  size_t len = strlen(text);
  if (len > sizeof buf - 4)
    len = sizeof buf - 4;
  while (len > 3) {
    len--;
    while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80) /* whole UTF-8 characters */
      len--;
    memcpy(buf, text, len);
    memcpy(buf + len, "\xe2\x80\xa6", 4); /* ... */
    cairo_text_extents(cr, buf, &ext);
    if (ext.x_advance <= max_w) {
      cairo_move_to(cr, x, y);
      cairo_show_text(cr, buf);
      return true;
    }
  }
  return false;
}

/* The tier's border: hot thick and solid, warm dashed, cold a thin line. */
static void tier_border(cairo_t *cr, const TreemapRect *r, Kiln__Tier tier, ColormapRgb ink) {
  double lw = tier == KILN__TIER__TIER_HOT ? 3 : tier == KILN__TIER__TIER_WARM ? 2 : 1;
  double inset = 1 + lw / 2;
  if (r->w <= 2 * inset || r->h <= 2 * inset)
    return;
  static const double dash[] = {5, 3};
  cairo_set_line_width(cr, lw);
  cairo_set_dash(cr, dash, tier == KILN__TIER__TIER_WARM ? 2 : 0, 0);
  set_rgb(cr, ink, tier == KILN__TIER__TIER_COLD ? 0.35 : 0.9);
  cairo_rectangle(cr, r->x + inset, r->y + inset, r->w - 2 * inset, r->h - 2 * inset);
  cairo_stroke(cr);
  cairo_set_dash(cr, NULL, 0, 0);
}

/* The loops of f, as a band along the bottom of its cell, each part as
 * wide as the loop's share of the function's self time, in its own heat. */
static void draw_loops(cairo_t *cr, const TreemapRect *r, const KvFunction *f, ColormapRgb ink) {
  if (!f->n_loops || !f->self_samples || r->h < 34 || r->w < 24)
    return;
  double band = fmin(LOOP_BAND_MAX, r->h / 5), x = r->x + 5, y = r->y + r->h - band - 5;
  double width = r->w - 10;
  for (size_t i = 0; i < f->n_loops; i++) {
    const KvLoop *l = &f->loops[i];
    double share = (double)l->self_samples / (double)f->self_samples;
    if (share < LOOP_MIN_SHARE)
      continue;
    double w = fmin(width * fmin(share, 1), r->x + r->w - 5 - x);
    if (w < 3)
      continue;
    set_rgb(cr, colormap_heat(l->heat), 1);
    cairo_rectangle(cr, x, y, w, band);
    cairo_fill_preserve(cr);
    set_rgb(cr, ink, 0.9);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    x += w + 2;
  }
}

static void draw_cell(KvHeatmapView *self, cairo_t *cr, const TreemapCell *c) {
  const TreemapRect *r = &c->rect;
  if (r->w < 1 || r->h < 1)
    return;
  const KvFunction *f = item_of(self, c);
  ColormapRgb fill = f ? colormap_heat(f->heat) : (ColormapRgb){0.45, 0.45, 0.48};
  ColormapRgb ink = colormap_text_on(fill);
  set_rgb(cr, fill, 1);
  cairo_rectangle(cr, r->x + 1, r->y + 1, r->w - 2, r->h - 2);
  cairo_fill(cr);
  if (!f) {
    /* The group: hatched, so it never reads as one function's heat. */
    cairo_save(cr);
    cairo_rectangle(cr, r->x + 1, r->y + 1, r->w - 2, r->h - 2);
    cairo_clip(cr);
    set_rgb(cr, ink, 0.25);
    cairo_set_line_width(cr, 1);
    for (double d = -r->h; d < r->w; d += 8) {
      cairo_move_to(cr, r->x + d, r->y + r->h);
      cairo_line_to(cr, r->x + d + r->h, r->y);
    }
    cairo_stroke(cr);
    cairo_restore(cr);
    char label[64];
    snprintf(label, sizeof label, "%zu small functions", self->layout.n_grouped);
    set_rgb(cr, ink, 1);
    cairo_set_font_size(cr, 11);
    if (r->h >= 16)
      fitted_text(cr, label, r->x + 5, r->y + 15, r->w - 10);
    return;
  }
  tier_border(cr, r, f->tier, ink);
  draw_loops(cr, r, f, ink);
  if (r->w < BADGE + 6 || r->h < BADGE + 6)
    return;
  /* The badge: the tier's letter, for whoever does not see the border. */
  double bx = r->x + 4, by = r->y + 4;
  set_rgb(cr, ink, 0.9);
  cairo_rectangle(cr, bx, by, BADGE, BADGE);
  cairo_fill(cr);
  set_rgb(cr, fill, 1);
  cairo_select_font_face(cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
  cairo_set_font_size(cr, 10.5);
  char letter[2] = {tier_letter(f->tier), 0};
  cairo_text_extents_t ext;
  cairo_text_extents(cr, letter, &ext);
  cairo_move_to(cr, bx + (BADGE - ext.x_advance) / 2, by + BADGE - 3.5);
  cairo_show_text(cr, letter);
  cairo_select_font_face(cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  char buf[32];
  const char *name = f->name ? f->name : (snprintf(buf, sizeof buf, "func %u", f->index), buf);
  set_rgb(cr, ink, 1);
  cairo_set_font_size(cr, 12);
  fitted_text(cr, name, bx + BADGE + 4, by + BADGE - 3, r->x + r->w - (bx + BADGE + 8));
  if (r->h >= 50) {
    char line[64];
    snprintf(line, sizeof line, "%.1f%% self, heat %.2f", f->share * 100, f->heat);
    cairo_set_font_size(cr, 10.5);
    fitted_text(cr, line, bx, by + BADGE + 14, r->w - 10);
  }
}

static void draw_legend(cairo_t *cr, double w, double y, GdkRGBA fg) {
  double x = 8, bar = fmin(180, w / 5);
  cairo_set_font_size(cr, 11);
  gdk_cairo_set_source_rgba(cr, &fg);
  cairo_move_to(cr, x, y + 19);
  cairo_show_text(cr, "heat 0");
  x += 46;
  cairo_pattern_t *grad = cairo_pattern_create_linear(x, 0, x + bar, 0);
  for (int i = 0; i <= 16; i++) {
    ColormapRgb c = colormap_heat(i / 16.0);
    cairo_pattern_add_color_stop_rgb(grad, i / 16.0, c.r, c.g, c.b);
  }
  cairo_set_source(cr, grad);
  cairo_rectangle(cr, x, y + 8, bar, 14);
  cairo_fill(cr);
  cairo_pattern_destroy(grad);
  x += bar + 6;
  gdk_cairo_set_source_rgba(cr, &fg);
  /* The longest key that fits; the legend's tooltip says it all. */
  static const char *const keys[] = {
      "1   [H] hot: thick border   [W] warm: dashed   [C] cold: thin   bottom band: loops",
      "1   [H] hot: thick   [W] warm: dashed   [C] cold: thin   band: loops",
      "1  [H] hot  [W] warm  [C] cold",
  };
  size_t k = 0;
  for (cairo_text_extents_t ext; k + 1 < G_N_ELEMENTS(keys); k++) {
    cairo_text_extents(cr, keys[k], &ext);
    if (ext.x_advance <= w - x - 4)
      break;
  }
  fitted_text(cr, keys[k], x, y + 19, w - x - 4);
}

static void draw_message(GtkWidget *w, cairo_t *cr, const char *text, GdkRGBA fg) {
  cairo_set_font_size(cr, 15);
  cairo_text_extents_t ext;
  cairo_text_extents(cr, text, &ext);
  gdk_cairo_set_source_rgba(cr, &fg);
  cairo_move_to(cr, (gtk_widget_get_width(w) - ext.x_advance) / 2, gtk_widget_get_height(w) / 2.0);
  cairo_show_text(cr, text);
}

static void kv_heatmap_view_snapshot(GtkWidget *widget, GtkSnapshot *snapshot) {
  KvHeatmapView *self = KV_HEATMAP_VIEW(widget);
  gint64 start = g_get_monotonic_time();
  int w = gtk_widget_get_width(widget), h = gtk_widget_get_height(widget);
  if (w <= 0 || h <= 0)
    return;
  GdkRGBA fg;
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS /* gtk_widget_get_color is 4.10 */
      gtk_style_context_get_color(gtk_widget_get_style_context(widget), &fg);
  G_GNUC_END_IGNORE_DEPRECATIONS
  cairo_t *cr = gtk_snapshot_append_cairo(snapshot, &GRAPHENE_RECT_INIT(0, 0, w, h));
  cairo_select_font_face(cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  if (!self->model) {
    draw_message(widget, cr, "Select an agent to see its heat map", fg);
  } else if (!kv_heat_model_has_data(self->model)) {
    draw_message(widget, cr, "no data: this agent has sent no heat map yet", fg);
  } else {
    ensure_layout(self, w, h);
    if (!self->layout.n_cells)
      draw_message(widget, cr, "no data: no function ran in the last heat map", fg);
    const TreemapCell *sel = NULL;
    for (size_t i = 0; i < self->layout.n_cells; i++) {
      draw_cell(self, cr, &self->layout.cells[i]);
      const KvFunction *f = item_of(self, &self->layout.cells[i]);
      if (f && f->index == self->selected)
        sel = &self->layout.cells[i];
    }
    if (sel) {
      /* Two rings, dark inside light, so the selection shows on any heat. */
      const TreemapRect *r = &sel->rect;
      cairo_set_line_width(cr, 4);
      cairo_set_source_rgb(cr, 1, 1, 1);
      cairo_rectangle(cr, r->x + 2, r->y + 2, r->w - 4, r->h - 4);
      cairo_stroke(cr);
      cairo_set_line_width(cr, 2);
      cairo_set_source_rgb(cr, 0.05, 0.35, 0.85);
      cairo_rectangle(cr, r->x + 5, r->y + 5, r->w - 10, r->h - 10);
      cairo_stroke(cr);
    }
    if (gtk_widget_has_focus(widget)) {
      static const double dots[] = {1, 2};
      cairo_set_dash(cr, dots, 2, 0);
      cairo_set_line_width(cr, 1);
      gdk_cairo_set_source_rgba(cr, &fg);
      cairo_rectangle(cr, 0.5, 0.5, w - 1, h - LEGEND_H - 1);
      cairo_stroke(cr);
      cairo_set_dash(cr, NULL, 0, 0);
    }
  }
  draw_legend(cr, w, h - LEGEND_H, fg);
  cairo_destroy(cr);
  self->last_draw_us = g_get_monotonic_time() - start;
}

/* --- tooltips, pointer, keyboard --------------------------------------------- */

/* The tooltip is one cell's: without its area GTK keeps it where it first
 * showed, with the next cell's text, as the pointer moves on. */
static gboolean show_tip(GtkTooltip *tooltip, TreemapRect r, const char *text) {
  GdkRectangle area = {(int)r.x, (int)r.y, (int)ceil(r.x + r.w) - (int)r.x,
                       (int)ceil(r.y + r.h) - (int)r.y};
  gtk_tooltip_set_tip_area(tooltip, &area);
  gtk_tooltip_set_text(tooltip, text);
  return TRUE;
}

static gboolean on_query_tooltip(GtkWidget *widget, int x, int y, gboolean keyboard,
                                 GtkTooltip *tooltip) {
  KvHeatmapView *self = KV_HEATMAP_VIEW(widget);
  (void)keyboard;
  int width = gtk_widget_get_width(widget), height = gtk_widget_get_height(widget);
  if (y >= height - LEGEND_H)
    return show_tip(tooltip, (TreemapRect){0, height - LEGEND_H, width, LEGEND_H},
                    "Each cell is a function; its area is its share of the recent self time.\n"
                    "Colour: heat, from 0 (dark) to 1, the hottest function (bright).\n"
                    "Tier: the badge letter and the border (hot thick, warm dashed, cold thin).\n"
                    "The band at a cell's bottom: its loops, as wide as their share of its time.\n"
                    "Hatched: the functions too small to draw, grouped.");
  if (!self->model || !self->laid)
    return FALSE;
  const TreemapCell *c = treemap_hit(&self->layout, x, y);
  if (!c)
    return FALSE;
  GString *s = g_string_new(NULL);
  char buf[32];
  const KvFunction *f = item_of(self, c);
  if (!f) {
    g_string_append_printf(s, "%zu small functions, grouped:", self->layout.n_grouped);
    for (size_t i = 0; i < self->layout.n_grouped && i < 20; i++) {
      const KvFunction *g = self->items->pdata[self->layout.grouped[i]];
      g_string_append_printf(s, "\n%s (%s, %.2f%%)",
                             kv_heat_model_name(self->model, g->index, buf, sizeof buf),
                             kiln_tier_name(g->tier), g->share * 100);
    }
    if (self->layout.n_grouped > 20)
      g_string_append_printf(s, "\nand %zu more", self->layout.n_grouped - 20);
  } else {
    g_string_append_printf(s, "%s (func %u)\n%s, heat %.2f, %.1f%% of self time, %llu calls",
                           kv_heat_model_name(self->model, f->index, buf, sizeof buf), f->index,
                           kiln_tier_name(f->tier), f->heat, f->share * 100,
                           (unsigned long long)f->calls);
    size_t order[TIP_LOOPS], shown = kv_function_busiest_loops(f, order, TIP_LOOPS);
    for (size_t i = 0; i < shown; i++)
      g_string_append_printf(s, "\nloop at +%u: heat %.2f", f->loops[order[i]].offset,
                             f->loops[order[i]].heat);
    if (f->n_loops > shown)
      g_string_append_printf(s, "\nand %zu more loops", f->n_loops - shown);
    if (f->reason)
      g_string_append_printf(s, "\npartition: %s, %s", kiln_tier_name(f->placed), f->reason);
  }
  show_tip(tooltip, c->rect, s->str);
  g_string_free(s, TRUE);
  return TRUE;
}

static void on_click(GtkGestureClick *g, int n, double x, double y, gpointer data) {
  (void)g, (void)n;
  KvHeatmapView *self = data;
  gtk_widget_grab_focus(GTK_WIDGET(self));
  const TreemapCell *c = self->laid ? treemap_hit(&self->layout, x, y) : NULL;
  const KvFunction *f = item_of(self, c);
  kv_heatmap_view_select(self, f ? f->index : KV_NO_FUNCTION);
}

/* The position of the selected function among the cells, or -1. */
static long selected_cell(KvHeatmapView *self) {
  for (size_t i = 0; i < self->layout.n_cells; i++) {
    const KvFunction *f = item_of(self, &self->layout.cells[i]);
    if (f && f->index == self->selected)
      return (long)i;
  }
  return -1;
}

static gboolean on_key(GtkEventControllerKey *k, guint key, guint code, GdkModifierType mods,
                       gpointer data) {
  (void)k, (void)code, (void)mods;
  KvHeatmapView *self = data;
  /* A key acts on the cells the next frame draws: a heat map that came
   * since the last frame (or before the first) is laid out now. */
  int w = gtk_widget_get_width(GTK_WIDGET(self)), h = gtk_widget_get_height(GTK_WIDGET(self));
  if (self->model && kv_heat_model_has_data(self->model) && w > 0 && h > 0)
    ensure_layout(self, w, h);
  long n = 0;
  for (size_t i = 0; i < self->layout.n_cells; i++)
    n += item_of(self, &self->layout.cells[i]) != NULL;
  if (!n)
    return FALSE;
  long at = selected_cell(self), to;
  switch (key) {
  case GDK_KEY_Right:
  case GDK_KEY_Down:
    to = at < 0 ? 0 : at + 1 < n ? at + 1 : at;
    break;
  case GDK_KEY_Left:
  case GDK_KEY_Up:
    to = at <= 0 ? 0 : at - 1;
    break;
  case GDK_KEY_Home:
    to = 0;
    break;
  case GDK_KEY_End:
    to = n - 1;
    break;
  case GDK_KEY_Escape:
    kv_heatmap_view_select(self, KV_NO_FUNCTION);
    return TRUE;
  default:
    return FALSE;
  }
  kv_heatmap_view_select(self, item_of(self, &self->layout.cells[to])->index);
  return TRUE;
}

static void on_focus_changed(GtkEventControllerFocus *f, gpointer data) {
  (void)f;
  gtk_widget_queue_draw(GTK_WIDGET(data));
}

static void kv_heatmap_view_dispose(GObject *o) {
  KvHeatmapView *self = KV_HEATMAP_VIEW(o);
  if (self->model) {
    g_signal_handler_disconnect(self->model, self->changed_id);
    g_clear_object(&self->model);
  }
  G_OBJECT_CLASS(kv_heatmap_view_parent_class)->dispose(o);
}

static void kv_heatmap_view_finalize(GObject *o) {
  KvHeatmapView *self = KV_HEATMAP_VIEW(o);
  treemap_layout_clear(&self->layout);
  g_ptr_array_unref(self->items);
  G_OBJECT_CLASS(kv_heatmap_view_parent_class)->finalize(o);
}

static void kv_heatmap_view_class_init(KvHeatmapViewClass *c) {
  G_OBJECT_CLASS(c)->dispose = kv_heatmap_view_dispose;
  G_OBJECT_CLASS(c)->finalize = kv_heatmap_view_finalize;
  GTK_WIDGET_CLASS(c)->snapshot = kv_heatmap_view_snapshot;
  GTK_WIDGET_CLASS(c)->query_tooltip = on_query_tooltip;
  gtk_widget_class_set_css_name(GTK_WIDGET_CLASS(c), "heatmap");
  gtk_widget_class_set_accessible_role(GTK_WIDGET_CLASS(c), GTK_ACCESSIBLE_ROLE_IMG);
  signals[SIGNAL_SELECTED] = g_signal_new("selected", G_TYPE_FROM_CLASS(c), G_SIGNAL_RUN_LAST, 0,
                                          NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
}

static void kv_heatmap_view_init(KvHeatmapView *self) {
  self->items = g_ptr_array_new();
  self->selected = KV_NO_FUNCTION;
  GtkWidget *w = GTK_WIDGET(self);
  gtk_widget_set_focusable(w, TRUE);
  gtk_widget_set_has_tooltip(w, TRUE);
  gtk_widget_set_hexpand(w, TRUE);
  gtk_widget_set_vexpand(w, TRUE);
  GtkGesture *click = gtk_gesture_click_new();
  g_signal_connect(click, "pressed", G_CALLBACK(on_click), self);
  gtk_widget_add_controller(w, GTK_EVENT_CONTROLLER(click));
  GtkEventController *key = gtk_event_controller_key_new();
  g_signal_connect(key, "key-pressed", G_CALLBACK(on_key), self);
  gtk_widget_add_controller(w, key);
  GtkEventController *focus = gtk_event_controller_focus_new();
  g_signal_connect(focus, "enter", G_CALLBACK(on_focus_changed), self);
  g_signal_connect(focus, "leave", G_CALLBACK(on_focus_changed), self);
  gtk_widget_add_controller(w, focus);
}

GtkWidget *kv_heatmap_view_new(void) {
  return g_object_new(KV_TYPE_HEATMAP_VIEW, NULL);
}
