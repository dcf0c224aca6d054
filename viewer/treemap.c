/*
 * treemap.c: the squarified treemap of treemap.h.
 *
 * Rows are laid along the shorter side of what is left, and an item joins
 * the current row only while that makes the row's worst aspect ratio
 * better: cells stay close to square, which is what makes names fit and
 * areas comparable by eye.
 */
#include "treemap.h"

#include <stdbool.h>
#include <stdlib.h>

/* The group is at least this many small cells, so its label fits and it
 * can be pointed at wherever it lands. */
#define GROUP_MIN_CELLS 3

typedef struct {
  double area;
  size_t item;
} Entry;

static int heavier_first(const void *x, const void *y) {
  const Entry *a = x, *b = y;
  if (a->area != b->area)
    return a->area < b->area ? 1 : -1;
  return (a->item > b->item) - (a->item < b->item); /* stable for equal weights */
}

/* The worst aspect ratio of a row of total `sum` whose largest and smallest
 * cells are `big` and `small`, laid along a side of length `side`. */
static double worst_ratio(double sum, double big, double small, double side) {
  double s2 = side * side, sum2 = sum * sum;
  if (small <= 0 || sum2 <= 0)
    return 1e300;
  double a = s2 * big / sum2, b = sum2 / (s2 * small);
  return a > b ? a : b;
}

static void squarify(const Entry *e, size_t m, TreemapRect r, TreemapCell *cells) {
  size_t i = 0;
  while (i < m) {
    double side = r.w < r.h ? r.w : r.h;
    double sum = e[i].area, big = e[i].area, small = e[i].area;
    double worst = worst_ratio(sum, big, small, side);
    size_t j = i + 1;
    for (; j < m; j++) {
      double nb = e[j].area > big ? e[j].area : big, ns = e[j].area < small ? e[j].area : small;
      double w = worst_ratio(sum + e[j].area, nb, ns, side);
      if (w > worst)
        break;
      worst = w, sum += e[j].area, big = nb, small = ns;
    }
    /* The last row takes what is left exactly, so rounding leaves no gap. */
    bool last = j == m;
    bool column = r.w >= r.h; /* the row stands along the left edge */
    double extent = column ? r.h : r.w;
    double thick = last ? (column ? r.w : r.h) : (extent > 0 ? sum / extent : 0);
    double pos = column ? r.y : r.x;
    for (size_t k = i; k < j; k++) {
      double len = k + 1 == j ? (column ? r.y + r.h : r.x + r.w) - pos
                              : (sum > 0 ? extent * e[k].area / sum : 0);
      TreemapCell *c = &cells[k];
      c->item = e[k].item;
      c->rect = column ? (TreemapRect){r.x, pos, thick, len} : (TreemapRect){pos, r.y, len, thick};
      pos += len;
    }
    if (column)
      r.x += thick, r.w -= thick;
    else
      r.y += thick, r.h -= thick;
    if (r.w < 0)
      r.w = 0;
    if (r.h < 0)
      r.h = 0;
    i = j;
  }
}

int treemap_layout(const double *weights, size_t n, TreemapRect area, double min_cell_area,
                   TreemapLayout *out) {
  *out = (TreemapLayout){0};
  if (n == 0)
    return 0;
  Entry *e = malloc(n * sizeof *e);
  if (!e)
    return -1;
  double total = 0;
  for (size_t i = 0; i < n; i++)
    total += weights[i] > 0 ? weights[i] : 0;
  double full = area.w * area.h;
  for (size_t i = 0; i < n; i++) {
    double w = total > 0 ? (weights[i] > 0 ? weights[i] : 0) : 1;
    e[i] = (Entry){w * full / (total > 0 ? total : (double)n), i};
  }
  qsort(e, n, sizeof *e, heavier_first);

  /* Heaviest first, so the small ones are a tail. One lone small item
   * needs no group: it is its own cell. */
  size_t keep = n;
  while (keep > 0 && e[keep - 1].area < min_cell_area)
    keep--;
  if (n - keep == 1)
    keep = n;
  size_t n_group = n - keep;
  out->cells = malloc((keep + (n_group ? 1 : 0)) * sizeof *out->cells);
  out->grouped = n_group ? malloc(n_group * sizeof *out->grouped) : NULL;
  Entry *laid = malloc((keep + 1) * sizeof *laid);
  if (!out->cells || (n_group && !out->grouped) || !laid) {
    free(laid);
    free(e);
    treemap_layout_clear(out);
    return -1;
  }
  double group_area = 0;
  for (size_t i = keep; i < n; i++) {
    group_area += e[i].area;
    out->grouped[out->n_grouped++] = e[i].item;
  }
  size_t m = keep;
  for (size_t i = 0; i < keep; i++)
    laid[i] = e[i];
  if (n_group) {
    /* Raising the group to the minimum takes that area from the others in
     * proportion, so theirs stay comparable with each other. */
    double want =
        group_area < GROUP_MIN_CELLS * min_cell_area ? GROUP_MIN_CELLS * min_cell_area : group_area;
    if (want > full)
      want = full;
    double scale = full - group_area > 0 ? (full - want) / (full - group_area) : 0;
    for (size_t i = 0; i < keep; i++)
      laid[i].area *= scale;
    laid[m++] = (Entry){want, TREEMAP_GROUP};
  }
  squarify(laid, m, area, out->cells);
  out->n_cells = m;
  free(laid);
  free(e);
  return 0;
}

void treemap_layout_clear(TreemapLayout *layout) {
  free(layout->cells);
  free(layout->grouped);
  *layout = (TreemapLayout){0};
}

const TreemapCell *treemap_hit(const TreemapLayout *layout, double x, double y) {
  for (size_t i = 0; i < layout->n_cells; i++) {
    const TreemapRect *r = &layout->cells[i].rect;
    if (x >= r->x && x < r->x + r->w && y >= r->y && y < r->y + r->h)
      return &layout->cells[i];
  }
  return NULL;
}
