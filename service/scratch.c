/*
 * scratch.c: each worker's directory for the compiler's temporary files.
 *
 * libgccjit writes a compile's assembly and object into a directory of its
 * own under $TMPDIR and removes it when the compile ends. A compile cut
 * short (its worker killed at the job time limit, a compiler that crashed)
 * leaves it behind, and a long-running kilnd would fill /tmp with them. So
 * each worker points TMPDIR at a directory named after its pid, empties it
 * after every compile, and the broker removes it when the worker is gone.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kilnd.h"

void scratch_path(pid_t worker, char *buf, size_t size) {
  const char *tmp = getenv("TMPDIR");
  snprintf(buf, size, "%s/kilnd-w%d", tmp && *tmp ? tmp : "/tmp", (int)worker);
}

bool scratch_enter(char *dir, size_t size) {
  scratch_path(getpid(), dir, size);
  /* One left by an earlier worker of this pid (a kilnd killed outright)
   * is taken over, but only if it is ours alone: /tmp is everybody's. */
  struct stat st;
  if (mkdir(dir, 0700) != 0 && (errno != EEXIST || lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
                                st.st_uid != getuid() || (st.st_mode & 077) != 0))
    return false;
  scratch_clear(dir);
  return setenv("TMPDIR", dir, 1) == 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag;
  if (ftw->level > 0) /* the directory itself stays */
    remove(path);
  return 0;
}

void scratch_clear(const char *dir) {
  nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void scratch_remove(pid_t worker) {
  char dir[4096];
  scratch_path(worker, dir, sizeof dir);
  scratch_clear(dir);
  rmdir(dir);
}
