/*
 * start_kilnd.h: the `kiln` command starts a kilnd when none answers.
 */
#ifndef KILN_START_KILND_H
#define KILN_START_KILND_H

#include <stddef.h>

/* Starts a detached `kilnd --idle SECONDS --endpoint ENDPOINT` (NULL: the
 * default endpoint) and waits until it listens. 0, or -1 with one line in
 * err. */
int start_kilnd(const char *endpoint, long idle_seconds, char *err, size_t n);

#endif
