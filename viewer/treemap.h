/*
 * treemap.h: the heat map's layout, a squarified treemap (Bruls, Huizing and
 * van Wijk, 2000) of weights into a rectangle. Pure: no GTK, no allocation
 * kept between calls, so the tests can check it without a display.
 *
 * Items too small to be seen or read (area under min_cell_area) are not
 * dropped: they share one group cell, whose weight is theirs together, so
 * every item is either a cell of its own or listed in the group.
 */
#ifndef KILN_VIEWER_TREEMAP_H
#define KILN_VIEWER_TREEMAP_H

#include <stddef.h>

#define TREEMAP_GROUP ((size_t)-1)

typedef struct {
  double x, y, w, h;
} TreemapRect;

typedef struct {
  size_t item; /* index into the weights, or TREEMAP_GROUP */
  TreemapRect rect;
} TreemapCell;

typedef struct {
  TreemapCell *cells; /* heaviest first; the group, if any, last */
  size_t n_cells;
  size_t *grouped; /* the items inside the group cell, heaviest first */
  size_t n_grouped;
} TreemapLayout;

/* Lays n weights (negative ones count as 0) out in area. A group holds
 * every item whose share of the area would be under min_cell_area, and
 * gets at least three times that area itself so it can be seen, labelled
 * and pointed at.
 * When every weight is 0 they count as equal. Returns 0, or -1 when out
 * of memory (out is then empty). Free with treemap_layout_clear. */
int treemap_layout(const double *weights, size_t n, TreemapRect area, double min_cell_area,
                   TreemapLayout *out);

void treemap_layout_clear(TreemapLayout *layout);

/* The cell at (x, y), or NULL. */
const TreemapCell *treemap_hit(const TreemapLayout *layout, double x, double y);

#endif
