/*
 * test_treemap.c: the heat map's layout (viewer/treemap.c). For 1, 10 and
 * 2,000 functions: every cell inside the area, no two overlapping, every
 * function a cell of its own or in the group, each cell's area in
 * proportion to its weight.
 */
#include <math.h>
#include <stdlib.h>

#include "test_viewer.h"
#include "treemap.h"

static const TreemapRect AREA = {10, 20, 800, 500};
#define MIN_CELL (24.0 * 18.0)
#define EPS 1e-6

static double area_of(const TreemapRect *r) {
  return r->w * r->h;
}

/* Checks what holds for every layout; returns the area per unit weight of
 * the cells of their own (all the same, or the test fails). */
static double check_layout(const double *w, size_t n, const TreemapLayout *l) {
  /* inside, and the whole area covered */
  double covered = 0;
  for (size_t i = 0; i < l->n_cells; i++) {
    const TreemapRect *r = &l->cells[i].rect;
    ck_assert_msg(r->w >= -EPS && r->h >= -EPS, "cell %zu has a negative side", i);
    ck_assert_msg(r->x >= AREA.x - EPS && r->y >= AREA.y - EPS &&
                      r->x + r->w <= AREA.x + AREA.w + EPS && r->y + r->h <= AREA.y + AREA.h + EPS,
                  "cell %zu (%g,%g %gx%g) is outside the area", i, r->x, r->y, r->w, r->h);
    covered += area_of(r);
  }
  ck_assert_double_eq_tol(covered, area_of(&AREA), 1e-3);
  /* no overlap */
  for (size_t i = 0; i < l->n_cells; i++)
    for (size_t k = i + 1; k < l->n_cells; k++) {
      const TreemapRect *a = &l->cells[i].rect, *b = &l->cells[k].rect;
      double ox = fmin(a->x + a->w, b->x + b->w) - fmax(a->x, b->x);
      double oy = fmin(a->y + a->h, b->y + b->h) - fmax(a->y, b->y);
      ck_assert_msg(ox <= 1e-6 || oy <= 1e-6, "cells %zu and %zu overlap by %gx%g", i, k, ox, oy);
    }
  /* every item exactly once */
  int *seen = calloc(n, sizeof *seen);
  size_t groups = 0;
  for (size_t i = 0; i < l->n_cells; i++) {
    if (l->cells[i].item == TREEMAP_GROUP) {
      groups++;
      continue;
    }
    ck_assert_uint_lt(l->cells[i].item, n);
    seen[l->cells[i].item]++;
  }
  for (size_t i = 0; i < l->n_grouped; i++) {
    ck_assert_uint_lt(l->grouped[i], n);
    seen[l->grouped[i]]++;
  }
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(seen[i] == 1, "item %zu is accounted for %d times", i, seen[i]);
  free(seen);
  ck_assert_uint_eq(groups, l->n_grouped ? 1 : 0);
  ck_assert_uint_eq(l->n_cells - groups + l->n_grouped, n);
  /* areas in proportion */
  double per = -1;
  for (size_t i = 0; i < l->n_cells; i++) {
    size_t it = l->cells[i].item;
    if (it == TREEMAP_GROUP || w[it] <= 0)
      continue;
    double p = area_of(&l->cells[i].rect) / w[it];
    if (per < 0)
      per = p;
    ck_assert_msg(fabs(p - per) <= 1e-6 * per, "item %zu: %g per weight, others %g", it, p, per);
  }
  return per;
}

START_TEST(test_one_function) {
  double w[] = {42};
  TreemapLayout l;
  ck_assert_int_eq(treemap_layout(w, 1, AREA, MIN_CELL, &l), 0);
  ck_assert_uint_eq(l.n_cells, 1);
  ck_assert_uint_eq(l.n_grouped, 0);
  ck_assert_uint_eq(l.cells[0].item, 0);
  ck_assert_double_eq_tol(l.cells[0].rect.x, AREA.x, EPS);
  ck_assert_double_eq_tol(l.cells[0].rect.w, AREA.w, EPS);
  ck_assert_double_eq_tol(l.cells[0].rect.h, AREA.h, EPS);
  check_layout(w, 1, &l);
  ck_assert_ptr_eq(treemap_hit(&l, AREA.x + 1, AREA.y + 1), &l.cells[0]);
  ck_assert_ptr_null(treemap_hit(&l, AREA.x - 1, AREA.y + 1));
  treemap_layout_clear(&l);
}
END_TEST

START_TEST(test_ten_functions) {
  double w[10], total = 0;
  for (int i = 0; i < 10; i++)
    total += w[i] = 10 - i + (i == 3 ? 0.5 : 0);
  TreemapLayout l;
  ck_assert_int_eq(treemap_layout(w, 10, AREA, MIN_CELL, &l), 0);
  ck_assert_uint_eq(l.n_cells, 10);
  ck_assert_uint_eq(l.n_grouped, 0);
  double per = check_layout(w, 10, &l);
  /* no group, so the whole area is shared by weight */
  ck_assert_double_eq_tol(per, area_of(&AREA) / total, 1e-6);
  ck_assert_uint_eq(l.cells[0].item, 0); /* heaviest first */
  /* squarified: no sliver */
  for (size_t i = 0; i < l.n_cells; i++) {
    const TreemapRect *r = &l.cells[i].rect;
    double ratio = fmax(r->w / r->h, r->h / r->w);
    ck_assert_msg(ratio < 4, "cell %zu has aspect ratio %g", i, ratio);
  }
  treemap_layout_clear(&l);
}
END_TEST

START_TEST(test_two_thousand_functions) {
  enum { N = 2000 };
  double *w = malloc(N * sizeof *w);
  /* Zipf-like, as real programs are, in a shuffled order, with a few that
   * never had a sample (they must still be counted, in the group). */
  for (size_t i = 0; i < N; i++)
    w[(i * 7919) % N] = i % 97 == 5 ? 0 : 1000.0 / (double)(i + 1);
  TreemapLayout l;
  ck_assert_int_eq(treemap_layout(w, N, AREA, MIN_CELL, &l), 0);
  ck_assert_uint_gt(l.n_grouped, 0);
  ck_assert_uint_eq(l.cells[l.n_cells - 1].item, TREEMAP_GROUP);
  ck_assert(area_of(&l.cells[l.n_cells - 1].rect) >= MIN_CELL - EPS);
  check_layout(w, N, &l);
  /* the heaviest is a cell of its own, the lightest are grouped */
  ck_assert_uint_eq(l.cells[0].item, 0);
  for (size_t i = 0; i + 1 < l.n_cells; i++)
    ck_assert(area_of(&l.cells[i].rect) >= MIN_CELL * 0.5);
  treemap_layout_clear(&l);
  free(w);
}
END_TEST

START_TEST(test_all_zero_and_empty) {
  double w[4] = {0, 0, 0, 0};
  TreemapLayout l;
  ck_assert_int_eq(treemap_layout(w, 4, AREA, MIN_CELL, &l), 0);
  ck_assert_uint_eq(l.n_cells, 4);
  for (size_t i = 0; i < 4; i++)
    ck_assert_double_eq_tol(area_of(&l.cells[i].rect), area_of(&AREA) / 4, 1e-6);
  treemap_layout_clear(&l);
  ck_assert_int_eq(treemap_layout(w, 0, AREA, MIN_CELL, &l), 0);
  ck_assert_uint_eq(l.n_cells, 0);
  treemap_layout_clear(&l);
}
END_TEST

Suite *treemap_suite(void) {
  Suite *s = suite_create("treemap");
  TCase *tc = tcase_create("layout");
  tcase_add_test(tc, test_one_function);
  tcase_add_test(tc, test_ten_functions);
  tcase_add_test(tc, test_two_thousand_functions);
  tcase_add_test(tc, test_all_zero_and_empty);
  suite_add_tcase(s, tc);
  return s;
}
