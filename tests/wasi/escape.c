/* escape.c DIR: every way out of the preopened DIR must fail, and nothing
 * outside may change. The test driver puts beside DIR a file "secret" and,
 * inside DIR, the symlinks "out" -> ../secret, "abs" -> the secret's
 * absolute host path, "up" -> .., and an ordinary file "inside". */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

static const char *root;
static char bufs[4][512];
static int nb;
static const char *P(const char *rel) {
  char *b = bufs[nb++ % 4];
  snprintf(b, 512, "%s/%s", root, rel);
  return b;
}

static void try_open(const char *rel, int flags) {
  errno = 0;
  int fd = open(P(rel), flags, 0644);
  if (fd >= 0) {
    char buf[64] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    printf("open %s: OPENED (%zd bytes: %s)\n", rel, n, buf);
    close(fd);
  } else {
    printf("open %s: %s\n", rel, errname(errno));
  }
}

int main(int argc, char **argv) {
  if (argc != 2)
    return 100;
  root = argv[1];
  struct stat st;
  try_open("inside", O_RDONLY);
  try_open("../secret", O_RDONLY);
  try_open("sub/../../secret", O_RDONLY);
  try_open("out", O_RDONLY);
  try_open("abs", O_RDONLY);
  try_open("up/secret", O_RDONLY);
  try_open("out", O_WRONLY | O_TRUNC);
  try_open("../created", O_WRONLY | O_CREAT);
  errno = 0;
  int fd = open("/etc/passwd", O_RDONLY);
  printf("open /etc/passwd: %s\n", fd >= 0 ? "OPENED" : errname(errno));
  CHECK("stat ../secret", stat(P("../secret"), &st));
  CHECK("stat out (follows)", stat(P("out"), &st));
  CHECK("lstat out", lstat(P("out"), &st));
  CHECK("stat up/secret", stat(P("up/secret"), &st));
  CHECK("mkdir ../evil", mkdir(P("../evil"), 0755));
  CHECK("mkdir up/evil", mkdir(P("up/evil"), 0755));
  CHECK("unlink ../secret", unlink(P("../secret")));
  CHECK("unlink up/secret", unlink(P("up/secret")));
  CHECK("rename inside -> ../moved", rename(P("inside"), P("../moved")));
  CHECK("rename ../secret -> stolen", rename(P("../secret"), P("stolen")));
  CHECK("link ../secret -> hard", link(P("../secret"), P("hard")));
  CHECK("symlink mine -> ../secret (creating is allowed)", symlink("../secret", P("mine")));
  try_open("mine", O_RDONLY);
  char target[64] = {0};
  printf("readlink out: %zd [%s]\n", readlink(P("out"), target, sizeof target - 1), target);
  CHECK("utimensat up/.. ", utimensat(AT_FDCWD, P("up/.."), NULL, 0));
  CHECK("unlink mine", unlink(P("mine")));
  printf("escape: done\n");
  return 0;
}
