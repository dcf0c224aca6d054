/*
 * release.h: packages unmapped by the script's own thread (release.c), for
 * the tiering thread (tiering.c). release_run and the release points are
 * in runtime.h, where the interpreter sees them.
 */
#ifndef KILN_RELEASE_H
#define KILN_RELEASE_H

#include <stddef.h>

#include "loader.h"
#include "runtime.h"

typedef struct PackageRelease PackageRelease;
struct PackageRelease {
  PackageRelease *next;
  LoadedPackage pkg;
  const void *owner; /* who posted it: the Tiering */
  /* Called on the script's thread right after the package went (for the
   * log and the count); data and why are the poster's. */
  void (*done)(const PackageRelease *r);
  void *data;
  char why[120];
};

/* Hands r (malloc'ed) to t's thread, which unmaps its package and frees
 * it at its next release point with no compiled frame. Any thread. */
void release_post(Thread *t, PackageRelease *r);
/* Takes back what owner posted that t has not released yet: released now
 * when no compiled frame is running (counted in the result), else kept
 * mapped until rt is freed. On the thread that runs t, when owner stops. */
size_t release_withdraw(Thread *t, const void *owner, kiln_runtime *rt);

#endif
