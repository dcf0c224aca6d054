/* files.c DIR: files and directories under a preopened DIR (which must be
 * empty): create, write, read, seek, stat, readdir, rename, unlink, mkdir,
 * symlinks, times, truncation. Prints one line per step. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common.h"

static char path_buf[4][512];
static int path_n;

/* DIR/rel, in one of a few rotating buffers. */
static const char *root;
static const char *P(const char *rel) {
  char *b = path_buf[path_n++ % 4];
  snprintf(b, 512, "%s/%s", root, rel);
  return b;
}

static void print_file(const char *label, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    printf("%s: %s\n", label, errname(errno));
    return;
  }
  char buf[256];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  printf("%s: [%s]\n", label, buf);
}

static int cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory, sorted, without "." and "..". */
static void list(const char *label, const char *path) {
  DIR *d = opendir(path);
  if (!d) {
    printf("%s: %s\n", label, errname(errno));
    return;
  }
  char *names[64];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 64)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, (size_t)n, sizeof names[0], cmp);
  printf("%s:", label);
  for (int i = 0; i < n; i++) {
    struct stat st;
    char full[600];
    snprintf(full, sizeof full, "%s/%s", path, names[i]);
    const char *kind = lstat(full, &st) != 0 ? "?"
                       : S_ISDIR(st.st_mode) ? "/"
                       : S_ISLNK(st.st_mode) ? "@"
                                             : "";
    printf(" %s%s", names[i], kind);
    free(names[i]);
  }
  printf("\n");
}

static long size_of(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Many entries with long names: fd_readdir must continue from its cookie
 * across several calls. */
static void many_entries(const char *dir) {
  char name[600];
  for (int i = 0; i < 300; i++) {
    snprintf(name, sizeof name, "%s/entry-with-a-rather-long-name-to-fill-buffers-%03d", dir, i);
    close(open(name, O_CREAT | O_WRONLY, 0644));
  }
  DIR *d = opendir(dir);
  int n = 0, sum = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    int k;
    if (sscanf(e->d_name, "entry-with-a-rather-long-name-to-fill-buffers-%d", &k) == 1) {
      n++;
      sum += k;
    }
  }
  closedir(d);
  printf("readdir of 300 entries: %d seen, index sum %d\n", n, sum);
  for (int i = 0; i < 300; i++) {
    snprintf(name, sizeof name, "%s/entry-with-a-rather-long-name-to-fill-buffers-%03d", dir, i);
    unlink(name);
  }
}

/* What else wasi-libc builds on WASI: fcntl flags, freopen (fd_renumber),
 * access, remove, fallocate, growing truncation, isatty. */
static void more(const char *dir) {
  char a[600], b[600];
  CHECK("mkdir m", mkdir(dir, 0755));
  snprintf(a, sizeof a, "%s/a", dir);
  snprintf(b, sizeof b, "%s/b", dir);
  int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  printf("access mode write-only: %d\n", (fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY);
  CHECK("set O_APPEND", fcntl(fd, F_SETFL, O_APPEND));
  printf("O_APPEND set: %d\n", (fcntl(fd, F_GETFL) & O_APPEND) != 0);
  printf("isatty(file): %d\n", isatty(fd));
  printf("posix_fallocate: %s\n", errname(posix_fallocate(fd, 0, 4096)));
  printf("size after fallocate: %ld\n", size_of(a));
  CHECK("ftruncate to grow", ftruncate(fd, 10000));
  printf("size after growing: %ld\n", size_of(a));
  printf("posix_fadvise: %s\n", errname(posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)));
  close(fd);
  CHECK("access existing", access(a, F_OK));
  CHECK("access missing", access(b, F_OK));

  FILE *f = fopen(a, "w");
  FILE *g = freopen(b, "w", f); /* opens b, then fd_renumber onto f's fd */
  printf("freopen: %s\n", g ? "ok" : errname(errno));
  fputs("renumbered\n", g);
  fclose(g);
  print_file("written after freopen", b);
  f = fopen(b, "r+");
  fseek(f, 0, SEEK_END);
  fputs("again\n", f);
  rewind(f);
  char line[64] = {0};
  printf("r+ read: [%s]\n", fgets(line, sizeof line, f) ? strtok(line, "\n") : "(none)");
  fclose(f);

  many_entries(dir);
  CHECK("remove file", remove(a));
  CHECK("remove file b", remove(b));
  CHECK("remove dir", remove(dir));
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: files DIR\n");
    return 100;
  }
  root = argv[1];
  list("empty at start", root);
  CHECK("mkdir d", mkdir(P("d"), 0755));
  CHECK("mkdir d again", mkdir(P("d"), 0755));

  FILE *f = fopen(P("d/a.txt"), "w");
  printf("fopen w: %s\n", f ? "ok" : errname(errno));
  fputs("hello world\n", f);
  fclose(f);
  print_file("read back", P("d/a.txt"));

  int fd = open(P("d/a.txt"), O_RDONLY);
  char buf[64] = {0};
  printf("lseek 6: %ld\n", (long)lseek(fd, 6, SEEK_SET));
  printf("read 5: %zd [%.5s]\n", read(fd, buf, 5), buf);
  printf("tell: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
  printf("lseek end: %ld\n", (long)lseek(fd, 0, SEEK_END));
  printf("write on read-only fd: %s\n", write(fd, "x", 1) < 0 ? errname(errno) : "wrote!");
  close(fd);

  struct stat st;
  CHECK("stat file", stat(P("d/a.txt"), &st));
  printf("regular %d, size %ld, nlink %ld\n", S_ISREG(st.st_mode), (long)st.st_size,
         (long)st.st_nlink);
  CHECK("stat dir", stat(P("d"), &st));
  printf("directory %d\n", S_ISDIR(st.st_mode));
  CHECK("stat missing", stat(P("d/missing"), &st));
  CHECK("open missing", open(P("d/missing"), O_RDONLY));
  CHECK("open excl existing", open(P("d/a.txt"), O_WRONLY | O_CREAT | O_EXCL, 0644));
  CHECK("open dir for writing", open(P("d"), O_WRONLY));
  CHECK("open file as dir", open(P("d/a.txt"), O_RDONLY | O_DIRECTORY));

  f = fopen(P("d/a.txt"), "a");
  fputs("more\n", f);
  fclose(f);
  printf("size after append: %ld\n", size_of(P("d/a.txt")));

  fd = open(P("d/a.txt"), O_RDWR);
  printf("pwrite at 0: %zd\n", pwrite(fd, "HELLO", 5, 0));
  memset(buf, 0, sizeof buf);
  printf("pread at 6: %zd [%s]\n", pread(fd, buf, 6, 6), buf);
  printf("position unchanged: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
  CHECK("ftruncate 5", ftruncate(fd, 5));
  CHECK("fsync", fsync(fd));
  CHECK("fdatasync", fdatasync(fd));
  CHECK("fstat", fstat(fd, &st));
  printf("size after truncate: %ld\n", (long)st.st_size);
  close(fd);
  print_file("after truncate", P("d/a.txt"));

  /* Times: set, then read back exactly. */
  struct timespec times[2] = {{1000000000, 123456789}, {1500000000, 987654321}};
  CHECK("utimensat", utimensat(AT_FDCWD, P("d/a.txt"), times, 0));
  stat(P("d/a.txt"), &st);
  /* Whole seconds only: Node.js keeps times as doubles and loses the rest. */
  printf("atime %lld mtime %lld\n", (long long)st.st_atim.tv_sec, (long long)st.st_mtim.tv_sec);

  /* A large file written and read back in pieces. */
  static uint8_t big[300000], back[300000];
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (uint8_t)(i * 7 + i / 251);
  f = fopen(P("d/big.bin"), "wb");
  size_t wrote = fwrite(big, 1, sizeof big, f);
  fclose(f);
  f = fopen(P("d/big.bin"), "rb");
  size_t got = fread(back, 1, sizeof back, f);
  fclose(f);
  printf("big file: wrote %zu, read %zu, same %d\n", wrote, got,
         memcmp(big, back, sizeof big) == 0);

  CHECK("rename", rename(P("d/a.txt"), P("d/b.txt")));
  CHECK("stat old name", stat(P("d/a.txt"), &st));
  print_file("new name", P("d/b.txt"));
  CHECK("mkdir d/sub", mkdir(P("d/sub"), 0755));
  CHECK("rename into sub", rename(P("d/big.bin"), P("d/sub/big.bin")));
  CHECK("symlink", symlink("b.txt", P("d/link")));
  char target[64] = {0};
  printf("readlink: %zd [%s]\n", readlink(P("d/link"), target, sizeof target - 1), target);
  print_file("through link", P("d/link"));
  CHECK("lstat link", lstat(P("d/link"), &st));
  printf("is symlink %d\n", S_ISLNK(st.st_mode));
  CHECK("hard link", link(P("d/b.txt"), P("d/hard")));
  stat(P("d/b.txt"), &st);
  printf("nlink after link: %ld\n", (long)st.st_nlink);
  print_file("dot-dot inside", P("d/sub/../hard"));

  for (int i = 0; i < 3; i++) {
    char name[32];
    snprintf(name, sizeof name, "d/f%d", i);
    close(open(P(name), O_CREAT | O_WRONLY, 0644));
  }
  list("readdir d", P("d"));
  list("readdir root", root);

  CHECK("rmdir non-empty", rmdir(P("d")));
  CHECK("unlink dir", unlink(P("d/sub")));
  CHECK("rmdir file", rmdir(P("d/b.txt")));
  CHECK("unlink link", unlink(P("d/link")));
  CHECK("unlink hard", unlink(P("d/hard")));
  CHECK("unlink b.txt", unlink(P("d/b.txt")));
  CHECK("unlink missing", unlink(P("d/b.txt")));
  CHECK("unlink big", unlink(P("d/sub/big.bin")));
  CHECK("rmdir sub", rmdir(P("d/sub")));
  for (int i = 0; i < 3; i++) {
    char name[32];
    snprintf(name, sizeof name, "d/f%d", i);
    unlink(P(name));
  }
  CHECK("rmdir d", rmdir(P("d")));
  more(P("m"));
  list("empty at end", root);
  printf("files: done\n");
  return 0;
}
