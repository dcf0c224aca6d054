/*
 * colormap.h: heat in [0, 1] to a colour on a perceptual scale (viridis:
 * lightness grows steadily with heat, and it reads for the common kinds of
 * colour blindness and in grey), and the text colour that reads on it.
 */
#ifndef KILN_VIEWER_COLORMAP_H
#define KILN_VIEWER_COLORMAP_H

typedef struct {
  double r, g, b;
} ColormapRgb;

/* heat outside [0, 1] is clamped; NaN is 0. */
ColormapRgb colormap_heat(double heat);

/* Black or white, whichever contrasts more with c. */
ColormapRgb colormap_text_on(ColormapRgb c);

#endif
