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

/* One entry this load made in the sampler's code map (monitor.c). */
typedef struct {
  uintptr_t lo, hi;
  FuncProfile *prof;
} LoadedSpan;

typedef struct {
  void *handle; /* dlopen's */
  bool guarded; /* registered with the fault handler (guard.c) */
  uintptr_t lo, hi; /* the object's mapped extent: what an entry into it points to */
  LoadedSpan *spans; /* owned */
  size_t nspans;
  uint32_t *funcs; /* the functions it was mapped for (owned) */
  size_t nfuncs;
  char segment[128]; /* the segment's file name, for messages */
} LoadedPackage;

/* Checks kilnd's reply p for instance in, maps the package and switches
 * each function it lists to it (tier and entry, atomically: the script may
 * be running). Safe on any thread. False: one line in err, nothing changed. */
bool package_load(Instance *in, const Kiln__PackageReady *p, LoadedPackage *out, char *err,
                  size_t n);
/* Keeps the package mapped until rt is freed. On the thread that owns rt.
 * False: out of memory. */
bool package_keep(kiln_runtime *rt, LoadedPackage pkg);
/* True when no function of in has its entry or OSR entry in pkg (they all
 * moved to another package or tier), with why it is so in why. Atomic
 * loads: any thread. A package can only become used again by a new load
 * (its own LoadedPackage: dlopen counts). */
bool package_unused(const Instance *in, const LoadedPackage *pkg, char *why, size_t n);
/* Forgets pkg's code (the code map, the fault handler) and dlcloses it:
 * unmapped unless another load holds the object too. Only where no frame
 * runs its code and no entry into it is held (release.c). */
void package_release(LoadedPackage *pkg);

#endif
