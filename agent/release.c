/*
 * release.c: unmapping packages that no function uses any more, on the
 * thread that runs the script, at a point where it cannot be running them.
 *
 * Why this is sound (runtime.h has the rules the calls follow):
 * - The tiering thread posts a package only when no FuncInst's entry or
 *   OSR entry points into it (package_unused), after its own stores that
 *   switched them away; it pushes with release order, the script thread
 *   takes the list with acquire order, so from then on every entry it
 *   loads is a later one, never into the package (a new load of the same
 *   object is a dlopen reference of its own).
 * - Entries are loaded right before their call, with no call in between,
 *   and a call into anything but the interpreter is counted in
 *   Thread.compiled_depth until it returns (release_call, the OSR gate in
 *   interp.c; runtime_protect puts the count back when a trap unwinds).
 *   So at compiled_depth 0 no frame of compiled code is on the stack, and
 *   no entry loaded earlier is still to be called.
 * - Only this thread runs release_run, and only at compiled_depth 0, from
 *   agent code that holds no entry: when compiled code returns to the
 *   interpreter or the host, at the interpreter's function entry, and as
 *   runtime_protect returns to the host.
 * The cost where nothing is pending: one load and a branch never taken.
 * What it does not see: which package a compiled frame runs. While any
 * compiled code runs (a main that moved into a package and never leaves),
 * nothing is released; the packages wait, mapped, for depth 0.
 */
#include <stdlib.h>

#include "release.h"

void release_post(Thread *t, PackageRelease *r) {
  PackageRelease *head = __atomic_load_n(&t->releasable, __ATOMIC_RELAXED);
  do
    r->next = head;
  while (!__atomic_compare_exchange_n(&t->releasable, &head, r, true, __ATOMIC_RELEASE,
                                      __ATOMIC_RELAXED));
}

static void release_one(PackageRelease *r) {
  package_release(&r->pkg);
  if (r->done)
    r->done(r);
  free(r);
}

void release_run(Thread *t) {
  if (t->compiled_depth != 0)
    return;
  PackageRelease *r = __atomic_exchange_n(&t->releasable, NULL, __ATOMIC_ACQUIRE);
  while (r) {
    PackageRelease *next = r->next;
    release_one(r);
    r = next;
  }
}

size_t release_withdraw(Thread *t, const void *owner, kiln_runtime *rt) {
  PackageRelease *r = __atomic_exchange_n(&t->releasable, NULL, __ATOMIC_ACQUIRE);
  size_t n = 0;
  while (r) {
    PackageRelease *next = r->next;
    if (r->owner != owner) {
      release_post(t, r); /* another instance's */
    } else if (t->compiled_depth == 0) {
      release_one(r);
      n++;
    } else {
      /* Called from inside the script (a host function): a frame may run
       * it yet, so it stays until the runtime goes. */
      if (!package_keep(rt, r->pkg))
        r->pkg.handle = NULL; /* out of memory: mapped for the process's life */
      free(r);
    }
    r = next;
  }
  return n;
}
