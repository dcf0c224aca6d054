/*
 * model_dump.h: what the viewer's model holds, as JSON (--dump-model), so
 * a test can check from outside that the viewer saw what kilnd did.
 */
#ifndef KILN_VIEWER_MODEL_DUMP_H
#define KILN_VIEWER_MODEL_DUMP_H

#include "feed_model.h"

typedef struct {
  const char *banner; /* the window's banner ("" when connected) */
  guint selected_agent; /* 0: none */
  guint heatmap_cells; /* cells the heat map drew last */
  int controls_sent; /* replies (or failures) seen by the controls */
  gboolean last_reply_ok;
  const char *last_reply; /* NULL: none */
  guint selected_function; /* the heat map's selection; KV_NO_FUNCTION: none */
  const char *detail_title; /* the detail pane's heading, which names it */
  const char *focus; /* the CSS name of the widget with the keyboard focus; NULL: none */
} ModelDumpView;

/* Writes the model and what the window shows to path; 0, or -1 with a
 * one-line reason in err. */
int model_dump_write(KvFeedModel *model, const ModelDumpView *view, const char *path, char *err,
                     size_t errsize);

#endif
