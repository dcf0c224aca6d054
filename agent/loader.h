/*
 * loader.h: the Dynamic Package Loader (loader.c), for kiln_instance_compile
 * and the tiering thread (tiering.c).
 */
#ifndef KILN_LOADER_H
#define KILN_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "kiln.pb-c.h"
#include "runtime.h"

typedef struct {
  void *handle; /* dlopen's */
  bool guarded; /* registered with the fault handler (guard.c) */
} LoadedPackage;

/* Checks kilnd's reply p for instance in, maps the package and switches
 * each function it lists to it (tier and entry, atomically: the script may
 * be running). Safe on any thread. False: one line in err, nothing changed. */
bool package_load(Instance *in, const Kiln__PackageReady *p, LoadedPackage *out, char *err,
                  size_t n);
/* Keeps the package mapped until rt is freed. On the thread that owns rt.
 * False: out of memory. */
bool package_keep(kiln_runtime *rt, LoadedPackage pkg);

#endif
