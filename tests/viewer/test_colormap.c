/*
 * test_colormap.c: the heat scale (viewer/colormap.c): viridis's ends,
 * lightness that grows with heat (so heat reads in grey too), clamping,
 * and text that contrasts with the cell under it.
 */
#include <math.h>

#include "colormap.h"
#include "test_viewer.h"

static double luminance(ColormapRgb c) {
  return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
}

START_TEST(test_ends_and_clamping) {
  ColormapRgb cold = colormap_heat(0), hot = colormap_heat(1);
  ck_assert_double_eq_tol(cold.r, 0.267004, 1e-6);
  ck_assert_double_eq_tol(cold.b, 0.329415, 1e-6);
  ck_assert_double_eq_tol(hot.r, 0.993248, 1e-6);
  ck_assert_double_eq_tol(hot.g, 0.906157, 1e-6);
  ColormapRgb below = colormap_heat(-3), above = colormap_heat(7), nan = colormap_heat(NAN);
  ck_assert_double_eq_tol(below.g, cold.g, 1e-12);
  ck_assert_double_eq_tol(above.g, hot.g, 1e-12);
  ck_assert_double_eq_tol(nan.g, cold.g, 1e-12);
}
END_TEST

START_TEST(test_lightness_grows_with_heat) {
  double last = -1;
  for (int i = 0; i <= 200; i++) {
    double l = luminance(colormap_heat(i / 200.0));
    ck_assert_msg(l > last, "lightness falls at heat %.3f (%g after %g)", i / 200.0, l, last);
    last = l;
  }
}
END_TEST

START_TEST(test_text_contrasts) {
  ColormapRgb on_cold = colormap_text_on(colormap_heat(0));
  ColormapRgb on_hot = colormap_text_on(colormap_heat(1));
  ck_assert_double_eq(on_cold.r, 1); /* white on dark purple */
  ck_assert_double_eq(on_hot.r, 0); /* black on yellow */
}
END_TEST

Suite *colormap_suite(void) {
  Suite *s = suite_create("colormap");
  TCase *tc = tcase_create("viridis");
  tcase_add_test(tc, test_ends_and_clamping);
  tcase_add_test(tc, test_lightness_grows_with_heat);
  tcase_add_test(tc, test_text_contrasts);
  suite_add_tcase(s, tc);
  return s;
}
