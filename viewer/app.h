/*
 * app.h: kiln-viewer's command line and its GtkApplication: the options,
 * the feed and control clients, the window, and the modes for tests and
 * the README (--screenshot, --dump-model, --set-hot..., --bench-frames).
 */
#ifndef KILN_VIEWER_APP_H
#define KILN_VIEWER_APP_H

/* The whole program: exit status 0; 1 when something failed at run time
 * (a screenshot not written); 2 for bad usage, with one line on stderr. */
int viewer_app_run(int argc, char **argv);

#endif
