/*
 * report.h: `kiln run --stats` and `--heatmap FILE.json` (report.c).
 */
#ifndef KILN_REPORT_H
#define KILN_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "kiln.h"

/* Indexed by kiln_tier. */
extern const char *const report_tier_names[];

/* The heat map as a table: at most max_funcs functions, each with its
 * loops and the tier changes ev names for it. */
void report_stats(FILE *out, const kiln_heatmap *h, const kiln_tier_change *ev, size_t nev,
                  size_t max_funcs);
/* The heat map and the tier changes as JSON. False: one line in err. */
bool report_heatmap_json(const char *path, const char *module, const char *hash,
                         const kiln_heatmap *h, const kiln_tier_change *ev, size_t nev, char *err,
                         size_t n);

#endif
