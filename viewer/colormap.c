/*
 * colormap.c: viridis, sampled at 17 points (matplotlib's table, every 16th
 * entry) and interpolated linearly between them: close enough to the
 * 256-entry table that no step is visible, and small enough to read.
 */
#include "colormap.h"

#include <math.h>

static const ColormapRgb viridis[] = {
    {0.267004, 0.004874, 0.329415}, {0.282327, 0.094955, 0.417331}, {0.278826, 0.175490, 0.483397},
    {0.258965, 0.251537, 0.524736}, {0.229739, 0.322361, 0.545706}, {0.199430, 0.387607, 0.554642},
    {0.172719, 0.448791, 0.557885}, {0.149039, 0.508051, 0.557250}, {0.127568, 0.566949, 0.550556},
    {0.120638, 0.625828, 0.533488}, {0.157851, 0.683765, 0.501686}, {0.246070, 0.738910, 0.452024},
    {0.369214, 0.788888, 0.382914}, {0.515992, 0.831158, 0.294279}, {0.678489, 0.863742, 0.189503},
    {0.845561, 0.887322, 0.099702}, {0.993248, 0.906157, 0.143936},
};

ColormapRgb colormap_heat(double heat) {
  if (!(heat > 0)) /* also NaN */
    heat = 0;
  if (heat > 1)
    heat = 1;
  const int last = (int)(sizeof viridis / sizeof viridis[0]) - 1;
  double pos = heat * last;
  int i = (int)pos;
  if (i >= last)
    return viridis[last];
  double t = pos - i;
  const ColormapRgb *a = &viridis[i], *b = &viridis[i + 1];
  return (ColormapRgb){a->r + (b->r - a->r) * t, a->g + (b->g - a->g) * t,
                       a->b + (b->b - a->b) * t};
}

/* Relative luminance as WCAG defines it, on gamma-encoded channels. */
static double channel(double c) {
  return c <= 0.03928 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

ColormapRgb colormap_text_on(ColormapRgb c) {
  double l = 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  /* Contrast with white (1.05 / (l + 0.05)) against black ((l + 0.05) / 0.05). */
  return 1.05 / (l + 0.05) > (l + 0.05) / 0.05 ? (ColormapRgb){1, 1, 1} : (ColormapRgb){0, 0, 0};
}
