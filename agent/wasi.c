/*
 * wasi.c: WASI preview1 ("wasi_snapshot_preview1") as host functions.
 *
 * Everything here works through kiln.h like any embedder would: each WASI
 * function is a kiln_define_func host function whose data is a WasiBinding
 * (the runtime's WASI state plus the function's implementation), so there is
 * no global state and several runtimes can each have their own WASI.
 *
 * Safety rules every function follows:
 * - Every guest pointer and length is checked against the caller's memory
 *   before use (mem_at); a bad one returns ERRNO_FAULT, never a crash.
 * - Files and directories are reached only through a preopened directory (or
 *   a directory opened under one): every guest path is resolved relative to
 *   that directory's host fd with openat2(RESOLVE_BENEATH), which refuses
 *   "..", absolute paths and symlinks that lead outside. Where the kernel has
 *   no openat2, resolve_walk does the same one component at a time.
 * - Output is never buffered here: fd_write on fd 1 is a write(2) on fd 1, so
 *   nothing is lost when the script exits or traps.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"
#include "runtime.h" /* runtime_error: the message kiln_error returns */

/* --- WASI preview1 constants (witx names, numbers from the spec) --------- */

/* The WASI errno values the code names; errno_to_wasi has them all. */
enum {
  ERRNO_SUCCESS = 0,
  ERRNO_BADF = 8,
  ERRNO_FAULT = 21,
  ERRNO_INVAL = 28,
  ERRNO_IO = 29,
  ERRNO_NAMETOOLONG = 37,
  ERRNO_NOENT = 44,
  ERRNO_NOMEM = 48,
  ERRNO_NOTDIR = 54,
  ERRNO_NOTSUP = 58,
  ERRNO_NOTCAPABLE = 76,
};

enum {
  FILETYPE_UNKNOWN = 0,
  FILETYPE_BLOCK_DEVICE = 1,
  FILETYPE_CHARACTER_DEVICE = 2,
  FILETYPE_DIRECTORY = 3,
  FILETYPE_REGULAR_FILE = 4,
  FILETYPE_SOCKET_DGRAM = 5,
  FILETYPE_SOCKET_STREAM = 6,
  FILETYPE_SYMBOLIC_LINK = 7,
};

enum {
  FDFLAG_APPEND = 1,
  FDFLAG_DSYNC = 2,
  FDFLAG_NONBLOCK = 4,
  FDFLAG_RSYNC = 8,
  FDFLAG_SYNC = 16
};
enum { OFLAG_CREAT = 1, OFLAG_DIRECTORY = 2, OFLAG_EXCL = 4, OFLAG_TRUNC = 8 };
enum { LOOKUP_SYMLINK_FOLLOW = 1 };
enum { FSTFLAG_ATIM = 1, FSTFLAG_ATIM_NOW = 2, FSTFLAG_MTIM = 4, FSTFLAG_MTIM_NOW = 8 };
enum { WHENCE_SET = 0, WHENCE_CUR = 1, WHENCE_END = 2 };
enum { CLOCK_ID_REALTIME = 0, CLOCK_ID_MONOTONIC = 1, CLOCK_ID_PROCESS = 2, CLOCK_ID_THREAD = 3 };
enum { EVENTTYPE_CLOCK = 0, EVENTTYPE_FD_READ = 1, EVENTTYPE_FD_WRITE = 2 };
enum { SUBCLOCK_ABSTIME = 1 };
enum { EVENTRWFLAG_HANGUP = 1 };

#define RIGHT_FD_READ (UINT64_C(1) << 1)
#define RIGHT_FD_SEEK (UINT64_C(1) << 2)
#define RIGHT_FD_TELL (UINT64_C(1) << 5)
#define RIGHT_FD_WRITE (UINT64_C(1) << 6)
#define RIGHT_FD_ALLOCATE (UINT64_C(1) << 8)
#define RIGHT_FD_READDIR (UINT64_C(1) << 14)
#define RIGHT_FD_FILESTAT_SET_SIZE (UINT64_C(1) << 22)
#define RIGHTS_ALL ((UINT64_C(1) << 30) - 1)
/* What opening for writing means to wasi-libc's open(): these rights come
 * together exactly when the script asked for O_WRONLY or O_RDWR. */
#define RIGHTS_WRITING (RIGHT_FD_WRITE | RIGHT_FD_ALLOCATE | RIGHT_FD_FILESTAT_SET_SIZE)

/* Sizes of the structures in guest memory (wasm32); the field offsets are
 * in the functions that fill them. */
enum {
  IOVEC_SIZE = 8,
  FDSTAT_SIZE = 24,
  FILESTAT_SIZE = 64,
  PRESTAT_SIZE = 8,
  DIRENT_SIZE = 24,
  SUBSCRIPTION_SIZE = 48,
  EVENT_SIZE = 32
};

/* --- state ---------------------------------------------------------------- */

typedef struct {
  char *name; /* d_name */
  uint64_t ino;
  uint8_t type; /* FILETYPE_* */
} WasiDirent;

typedef struct {
  bool open;
  bool is_stdio; /* the host's 0, 1 or 2: never closed by us */
  int host_fd;
  uint8_t filetype;
  uint64_t rights_base, rights_inheriting;
  char *preopen; /* guest name of a preopened directory, else NULL */
  WasiDirent *dirents; /* fd_readdir's snapshot, taken at cookie 0 */
  size_t ndirents;
} WasiFd;

typedef struct Wasi Wasi;
struct Wasi {
  char **argv;
  uint32_t argc;
  char **envp;
  uint32_t envc;
  WasiFd *fds;
  uint32_t nfds;
  bool no_openat2; /* the kernel refused openat2: use resolve_walk */
  struct WasiBinding *bindings;
};

/* What one call of a WASI function sees. */
typedef struct {
  Wasi *w;
  kiln_caller *caller;
  uint8_t *mem;
  uint64_t mem_size;
  kiln_status status; /* proc_exit and proc_raise end the script through this */
} WasiCall;

typedef uint32_t (*WasiImpl)(WasiCall *c, const kiln_value *a);

typedef struct {
  const char *name;
  const char *params; /* 'i' i32, 'I' i64 */
  uint32_t nresults; /* 1 (an errno), or 0 for proc_exit */
  WasiImpl impl;
} WasiDef;

typedef struct WasiBinding {
  Wasi *w;
  const WasiDef *def;
} WasiBinding;

/* --- errno ---------------------------------------------------------------- */

/* Host errno to WASI errno. WASI numbers its errors in this order (witx
 * `errno`: 1 is 2big, 2 acces, ... 76 notcapable), so the index of the host
 * value is the WASI value. */
// clang-format off
static const int host_errno_by_wasi[] = {
  0, E2BIG, EACCES, EADDRINUSE, EADDRNOTAVAIL, EAFNOSUPPORT, EAGAIN, EALREADY,
  EBADF, EBADMSG, EBUSY, ECANCELED, ECHILD, ECONNABORTED, ECONNREFUSED, ECONNRESET,
  EDEADLK, EDESTADDRREQ, EDOM, EDQUOT, EEXIST, EFAULT, EFBIG, EHOSTUNREACH,
  EIDRM, EILSEQ, EINPROGRESS, EINTR, EINVAL, EIO, EISCONN, EISDIR,
  ELOOP, EMFILE, EMLINK, EMSGSIZE, EMULTIHOP, ENAMETOOLONG, ENETDOWN, ENETRESET,
  ENETUNREACH, ENFILE, ENOBUFS, ENODEV, ENOENT, ENOEXEC, ENOLCK, ENOLINK,
  ENOMEM, ENOMSG, ENOPROTOOPT, ENOSPC, ENOSYS, ENOTCONN, ENOTDIR, ENOTEMPTY,
  ENOTRECOVERABLE, ENOTSOCK, ENOTSUP, ENOTTY, ENXIO, EOVERFLOW, EOWNERDEAD, EPERM,
  EPIPE, EPROTO, EPROTONOSUPPORT, EPROTOTYPE, ERANGE, EROFS, ESPIPE, ESRCH,
  ESTALE, ETIMEDOUT, ETXTBSY, EXDEV,
};
// clang-format on
_Static_assert(sizeof host_errno_by_wasi / sizeof host_errno_by_wasi[0] == ERRNO_NOTCAPABLE,
               "one host errno per WASI errno before notcapable");

/* Anything the table lacks is an I/O error to the script. */
static uint32_t errno_to_wasi(int e) {
  /* openat2(RESOLVE_BENEATH) says EXDEV when a path would leave the
   * directory: to the script that is a missing capability. */
  if (e == EXDEV)
    return ERRNO_NOTCAPABLE;
  for (uint32_t i = 1; i < sizeof host_errno_by_wasi / sizeof host_errno_by_wasi[0]; i++)
    if (host_errno_by_wasi[i] == e)
      return i;
  return ERRNO_IO;
}

static uint32_t host_error(void) {
  return errno_to_wasi(errno);
}

/* --- guest memory --------------------------------------------------------- */

/* The len bytes at ptr, or NULL when any of them lies outside memory. */
static uint8_t *mem_at(WasiCall *c, uint32_t ptr, uint64_t len) {
  static uint8_t empty;
  if ((uint64_t)ptr + len > c->mem_size)
    return NULL;
  return c->mem ? c->mem + ptr : &empty;
}

/* Little-endian stores and loads, whatever the host's byte order. */
static void put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get_u16(const uint8_t *p) {
  return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) {
  return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* Stores a result where the script asked for it. */
static uint32_t store_u32(WasiCall *c, uint32_t ptr, uint32_t v) {
  uint8_t *p = mem_at(c, ptr, 4);
  if (!p)
    return ERRNO_FAULT;
  put_u32(p, v);
  return ERRNO_SUCCESS;
}
static uint32_t store_u64(WasiCall *c, uint32_t ptr, uint64_t v) {
  uint8_t *p = mem_at(c, ptr, 8);
  if (!p)
    return ERRNO_FAULT;
  put_u64(p, v);
  return ERRNO_SUCCESS;
}

/* A guest path as a host C string (the caller frees *out). Embedded NULs
 * would silently shorten the path on the host, so they are refused. */
static uint32_t load_path(WasiCall *c, uint32_t ptr, uint32_t len, char **out) {
  const uint8_t *p = mem_at(c, ptr, len);
  if (!p)
    return ERRNO_FAULT;
  if (len >= PATH_MAX)
    return ERRNO_NAMETOOLONG;
  if (memchr(p, 0, len))
    return ERRNO_INVAL;
  char *s = malloc((size_t)len + 1);
  if (!s)
    return ERRNO_NOMEM;
  memcpy(s, p, len);
  s[len] = 0;
  *out = s;
  return ERRNO_SUCCESS;
}

/* Gathers the guest's iovec array into host iovecs pointing into memory.
 * More than IOV_MAX buffers is allowed by WASI; the rest is simply not
 * transferred this time (a short read or write, which callers retry). */
static uint32_t load_iovecs(WasiCall *c, uint32_t iovs, uint32_t n, struct iovec **out,
                            int *count) {
  if (!mem_at(c, iovs, (uint64_t)n * IOVEC_SIZE))
    return ERRNO_FAULT;
  uint32_t use = n > IOV_MAX ? IOV_MAX : n;
  struct iovec *v = calloc(use ? use : 1, sizeof *v);
  if (!v)
    return ERRNO_NOMEM;
  for (uint32_t i = 0; i < use; i++) {
    const uint8_t *e = c->mem + iovs + (size_t)i * IOVEC_SIZE;
    uint32_t buf = get_u32(e), len = get_u32(e + 4);
    uint8_t *p = mem_at(c, buf, len);
    if (!p) {
      free(v);
      return ERRNO_FAULT;
    }
    v[i].iov_base = p;
    v[i].iov_len = len;
  }
  *out = v;
  *count = (int)use;
  return ERRNO_SUCCESS;
}

/* --- the fd table --------------------------------------------------------- */

static WasiFd *fd_get(Wasi *w, uint32_t fd) {
  return fd < w->nfds && w->fds[fd].open ? &w->fds[fd] : NULL;
}

static void dirents_clear(WasiFd *f) {
  for (size_t i = 0; i < f->ndirents; i++)
    free(f->dirents[i].name);
  free(f->dirents);
  f->dirents = NULL;
  f->ndirents = 0;
}

static void fd_release(WasiFd *f) {
  if (!f->is_stdio)
    close(f->host_fd);
  dirents_clear(f);
  free(f->preopen);
  memset(f, 0, sizeof *f);
}

static uint8_t filetype_of_mode(mode_t m) {
  if (S_ISREG(m))
    return FILETYPE_REGULAR_FILE;
  if (S_ISDIR(m))
    return FILETYPE_DIRECTORY;
  if (S_ISCHR(m))
    return FILETYPE_CHARACTER_DEVICE;
  if (S_ISBLK(m))
    return FILETYPE_BLOCK_DEVICE;
  if (S_ISLNK(m))
    return FILETYPE_SYMBOLIC_LINK;
  if (S_ISSOCK(m))
    return FILETYPE_SOCKET_STREAM;
  return FILETYPE_UNKNOWN; /* FIFOs have no WASI type */
}

/* Puts host_fd in the lowest free slot, as POSIX open does. */
static uint32_t fd_insert(Wasi *w, int host_fd, bool is_stdio, uint64_t base, uint64_t inheriting,
                          uint32_t *out) {
  uint32_t i = 0;
  while (i < w->nfds && w->fds[i].open)
    i++;
  if (i == w->nfds) {
    uint32_t n = w->nfds ? w->nfds * 2 : 8;
    WasiFd *grown = realloc(w->fds, n * sizeof *grown);
    if (!grown)
      return ERRNO_NOMEM;
    memset(grown + w->nfds, 0, (n - w->nfds) * sizeof *grown);
    w->fds = grown;
    w->nfds = n;
  }
  struct stat st;
  WasiFd *f = &w->fds[i];
  f->open = true;
  f->is_stdio = is_stdio;
  f->host_fd = host_fd;
  f->filetype = fstat(host_fd, &st) == 0 ? filetype_of_mode(st.st_mode) : FILETYPE_UNKNOWN;
  f->rights_base = base;
  f->rights_inheriting = inheriting;
  /* wasi-libc's isatty() is "a character device that cannot seek": give a
   * terminal exactly that, so stdio line-buffers it as a native program would. */
  if (f->filetype == FILETYPE_CHARACTER_DEVICE && isatty(host_fd))
    f->rights_base &= ~(RIGHT_FD_SEEK | RIGHT_FD_TELL);
  *out = i;
  return ERRNO_SUCCESS;
}

/* --- path resolution, never outside the directory ------------------------- */

static int sys_openat2(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve) {
  /* openat2 refuses a mode where no file can be created (EINVAL). */
  if (!(flags & O_CREAT) && (flags & O_TMPFILE) != O_TMPFILE) /* O_TMPFILE has O_DIRECTORY's bit */
    mode = 0;
  struct open_how how = {.flags = (uint64_t)flags, .mode = mode, .resolve = resolve};
  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

enum { MAX_SYMLINKS = 40 }; /* as Linux's own limit */

/* The fallback for kernels without openat2: walks path one component at a
 * time from dirfd, never following ".." above the start, absolute paths or
 * absolute symlinks, and splicing relative symlink targets into what is left
 * to walk. Same result and errors as openat2(RESOLVE_BENEATH). */
typedef struct {
  int fds[PATH_MAX / 2 + 2]; /* the directories walked: fds[0] is the start */
  int depth;
  char *rest; /* owns the path still to walk */
  int links;
} Walk;

/* Replaces the component at *p (a symlink whose target is `target`) by its
 * target, keeping what followed it (tail, after a slash when had_slash);
 * *p then points at the new text. */
static bool walk_splice(Walk *w, char **p, const char *target, bool had_slash, const char *tail) {
  if (target[0] == '/' || ++w->links > MAX_SYMLINKS) {
    errno = target[0] == '/' ? EXDEV : ELOOP;
    return false;
  }
  size_t n = strlen(target), t = strlen(tail);
  char *joined = malloc(n + t + 2);
  if (!joined) {
    errno = ENOMEM;
    return false;
  }
  memcpy(joined, target, n);
  if (had_slash)
    joined[n++] = '/';
  memcpy(joined + n, tail, t + 1);
  free(w->rest);
  w->rest = *p = joined;
  return true;
}

/* A symlink's target, or false (errno kept) when name is not a symlink. */
static bool walk_readlink(int dirfd, const char *name, char *target) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK(st.st_mode))
    return false;
  ssize_t n = readlinkat(dirfd, name, target, PATH_MAX - 1);
  if (n < 0)
    return false;
  target[n] = 0;
  return true;
}

static int walk_step(Walk *w, int flags, mode_t mode) {
  char target[PATH_MAX];
  char *p = w->rest;
  for (;;) {
    while (*p == '/')
      p++;
    char *slash = strchr(p, '/');
    bool last = !slash || slash[strspn(slash, "/")] == 0;
    if (slash)
      *slash = 0;
    const char *name = *p ? p : ".";
    int cur = w->fds[w->depth];
    if (strcmp(name, "..") == 0) {
      if (w->depth == 0) {
        errno = EXDEV;
        return -1;
      }
      if (last) /* the directory we came from, never the host's ".." */
        return openat(w->fds[w->depth - 1], ".", flags, mode);
      close(w->fds[w->depth--]);
      p = slash + 1;
      continue;
    }
    if (!last && strcmp(name, ".") == 0) {
      p = slash + 1;
      continue;
    }
    /* Symlinks are followed by hand, so their targets stay beneath too. A
     * last component is followed unless the caller said O_NOFOLLOW, or
     * O_CREAT | O_EXCL (which never follows, as open(2)). */
    bool exclusive = (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL);
    bool follow = !last || !(flags & O_NOFOLLOW || exclusive);
    if (follow && walk_readlink(cur, name, target)) {
      if (!walk_splice(w, &p, target, slash != NULL, slash ? slash + 1 : ""))
        return -1;
      continue;
    }
    if (last) {
      int fl = flags | O_NOFOLLOW | (slash ? O_DIRECTORY : 0); /* "name/" is a directory */
      return openat(cur, name, fl, mode);
    }
    int fd = openat(cur, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return -1;
    if (w->depth + 1 >= (int)(sizeof w->fds / sizeof w->fds[0])) {
      close(fd);
      errno = ENAMETOOLONG;
      return -1;
    }
    w->fds[++w->depth] = fd;
    p = slash + 1;
  }
}

static int resolve_walk(int dirfd, const char *path, int flags, mode_t mode) {
  if (path[0] == '/') {
    errno = EXDEV;
    return -1;
  }
  Walk *w = calloc(1, sizeof *w);
  if (!w || !(w->rest = strdup(path))) {
    free(w);
    errno = ENOMEM;
    return -1;
  }
  w->fds[0] = dirfd;
  int fd = walk_step(w, flags, mode);
  int saved = errno;
  while (w->depth > 0)
    close(w->fds[w->depth--]);
  free(w->rest);
  free(w);
  errno = saved;
  return fd;
}

/* Whether openat2 does its job here. Seccomp filters that predate it (old
 * container runtimes) make it fail with EPERM, not ENOSYS, so that is
 * found out once, on a call that cannot fail otherwise. */
static bool openat2_works(int dirfd) {
  int fd = sys_openat2(dirfd, ".", O_PATH | O_CLOEXEC, 0, RESOLVE_BENEATH);
  if (fd < 0)
    return false;
  close(fd);
  return true;
}

/* openat(dirfd, path, flags) that cannot leave dirfd. */
static int open_beneath(Wasi *w, int dirfd, const char *path, int flags, mode_t mode) {
  if (!w->no_openat2) {
    int fd = sys_openat2(dirfd, path, flags | O_CLOEXEC, mode, RESOLVE_BENEATH);
    if (fd >= 0 || errno != ENOSYS)
      return fd;
    w->no_openat2 = true; /* old kernel, or a seccomp filter that hides it */
  }
  return resolve_walk(dirfd, path, flags | O_CLOEXEC, mode);
}

/* The directory fd a path-taking call starts from. */
static uint32_t dir_fd(WasiCall *c, uint32_t fd, WasiFd **out) {
  WasiFd *f = fd_get(c->w, fd);
  if (!f)
    return ERRNO_BADF;
  if (f->filetype != FILETYPE_DIRECTORY)
    return ERRNO_NOTDIR;
  *out = f;
  return ERRNO_SUCCESS;
}

/* For calls that act on a name inside a directory (mkdir, unlink, rename,
 * symlink, link, readlink): opens the parent directory of path beneath dirfd
 * and points *base at the last component. The last component itself is only
 * ever passed to the *at call with that parent, which does not follow it. */
typedef struct {
  int parent; /* host fd, to close */
  char *copy; /* owns the strings */
  const char *base;
} WasiParent;

static uint32_t open_parent(WasiCall *c, uint32_t fd, uint32_t ptr, uint32_t len, WasiParent *out) {
  WasiFd *d;
  uint32_t e = dir_fd(c, fd, &d);
  if (e)
    return e;
  char *path;
  if ((e = load_path(c, ptr, len, &path)))
    return e;
  if (!*path || path[0] == '/') {
    e = *path ? ERRNO_NOTCAPABLE : ERRNO_NOENT;
    free(path);
    return e;
  }
  /* A trailing slash names the directory itself: "a/b/" acts on "b". */
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/')
    path[--n] = 0;
  char *slash = strrchr(path, '/');
  const char *dir = ".";
  const char *base = path;
  if (slash) {
    *slash = 0;
    dir = path;
    base = slash + 1;
  }
  /* "x/.." as the last component names a directory that may be above the
   * sandbox; resolving the whole path first proves that it is not. */
  if (strcmp(base, "..") == 0) {
    if (slash)
      *slash = '/';
    int probe = open_beneath(c->w, d->host_fd, path, O_PATH, 0);
    if (slash)
      *slash = 0;
    if (probe < 0) {
      free(path);
      return host_error();
    }
    close(probe);
  }
  int parent = open_beneath(c->w, d->host_fd, dir, O_PATH | O_DIRECTORY, 0);
  if (parent < 0) {
    e = host_error();
    free(path);
    return e;
  }
  out->parent = parent;
  out->copy = path;
  out->base = base;
  return ERRNO_SUCCESS;
}

static void close_parent(WasiParent *p) {
  close(p->parent);
  free(p->copy);
}

/* --- args, environment, clocks, random ------------------------------------ */

static uint32_t strings_sizes(WasiCall *c, char **list, uint32_t n, uint32_t count_ptr,
                              uint32_t size_ptr) {
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < n; i++)
    bytes += strlen(list[i]) + 1;
  uint32_t e = store_u32(c, count_ptr, n);
  return e ? e : store_u32(c, size_ptr, (uint32_t)bytes);
}

static uint32_t strings_get(WasiCall *c, char **list, uint32_t n, uint32_t ptrs, uint32_t buf) {
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < n; i++)
    bytes += strlen(list[i]) + 1;
  uint8_t *pp = mem_at(c, ptrs, (uint64_t)n * 4), *bp = mem_at(c, buf, bytes);
  if (!pp || !bp)
    return ERRNO_FAULT;
  uint32_t at = buf;
  for (uint32_t i = 0; i < n; i++) {
    size_t len = strlen(list[i]) + 1;
    put_u32(pp + 4 * i, at);
    memcpy(c->mem + at, list[i], len);
    at += (uint32_t)len;
  }
  return ERRNO_SUCCESS;
}

static uint32_t wasi_args_sizes_get(WasiCall *c, const kiln_value *a) {
  return strings_sizes(c, c->w->argv, c->w->argc, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32);
}
static uint32_t wasi_args_get(WasiCall *c, const kiln_value *a) {
  return strings_get(c, c->w->argv, c->w->argc, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32);
}
static uint32_t wasi_environ_sizes_get(WasiCall *c, const kiln_value *a) {
  return strings_sizes(c, c->w->envp, c->w->envc, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32);
}
static uint32_t wasi_environ_get(WasiCall *c, const kiln_value *a) {
  return strings_get(c, c->w->envp, c->w->envc, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32);
}

static bool host_clock(uint32_t id, clockid_t *out) {
  switch (id) {
  case CLOCK_ID_REALTIME:
    *out = CLOCK_REALTIME;
    return true;
  case CLOCK_ID_MONOTONIC:
    *out = CLOCK_MONOTONIC;
    return true;
  case CLOCK_ID_PROCESS:
    *out = CLOCK_PROCESS_CPUTIME_ID;
    return true;
  case CLOCK_ID_THREAD:
    *out = CLOCK_THREAD_CPUTIME_ID;
    return true;
  default:
    return false;
  }
}

static uint64_t ns_of(const struct timespec *ts) {
  return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

static uint32_t wasi_clock_res_get(WasiCall *c, const kiln_value *a) {
  clockid_t id;
  struct timespec ts;
  if (!host_clock((uint32_t)a[0].of.i32, &id))
    return ERRNO_INVAL;
  if (clock_getres(id, &ts) != 0)
    return host_error();
  return store_u64(c, (uint32_t)a[1].of.i32, ns_of(&ts));
}

static uint32_t wasi_clock_time_get(WasiCall *c, const kiln_value *a) {
  clockid_t id;
  struct timespec ts;
  if (!host_clock((uint32_t)a[0].of.i32, &id))
    return ERRNO_INVAL;
  if (clock_gettime(id, &ts) != 0)
    return host_error();
  return store_u64(c, (uint32_t)a[2].of.i32, ns_of(&ts));
}

static uint32_t wasi_random_get(WasiCall *c, const kiln_value *a) {
  uint32_t len = (uint32_t)a[1].of.i32;
  uint8_t *p = mem_at(c, (uint32_t)a[0].of.i32, len);
  if (!p)
    return ERRNO_FAULT;
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return host_error();
    }
    p += n;
    len -= (uint32_t)n;
  }
  return ERRNO_SUCCESS;
}

/* --- fd calls ------------------------------------------------------------- */

static uint32_t wasi_fd_rw(WasiCall *c, const kiln_value *a, bool write, bool positioned) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f)
    return ERRNO_BADF;
  /* Every pointer is checked before any I/O: a write that happened must
   * never be reported as a fault. */
  uint32_t result_ptr = (uint32_t)(positioned ? a[4].of.i32 : a[3].of.i32);
  if (!mem_at(c, result_ptr, 4))
    return ERRNO_FAULT;
  struct iovec *iov;
  int n;
  uint32_t e = load_iovecs(c, (uint32_t)a[1].of.i32, (uint32_t)a[2].of.i32, &iov, &n);
  if (e)
    return e;
  off_t offset = positioned ? (off_t)a[3].of.i64 : 0;
  if (positioned && offset < 0) {
    free(iov);
    return ERRNO_INVAL;
  }
  ssize_t done;
  do {
    if (positioned)
      done = write ? pwritev(f->host_fd, iov, n, offset) : preadv(f->host_fd, iov, n, offset);
    else
      done = write ? writev(f->host_fd, iov, n) : readv(f->host_fd, iov, n);
  } while (done < 0 && errno == EINTR);
  e = done < 0 ? host_error() : ERRNO_SUCCESS;
  free(iov);
  return e ? e : store_u32(c, result_ptr, (uint32_t)done);
}

static uint32_t wasi_fd_read(WasiCall *c, const kiln_value *a) {
  return wasi_fd_rw(c, a, false, false);
}
static uint32_t wasi_fd_write(WasiCall *c, const kiln_value *a) {
  return wasi_fd_rw(c, a, true, false);
}
static uint32_t wasi_fd_pread(WasiCall *c, const kiln_value *a) {
  return wasi_fd_rw(c, a, false, true);
}
static uint32_t wasi_fd_pwrite(WasiCall *c, const kiln_value *a) {
  return wasi_fd_rw(c, a, true, true);
}

static uint32_t wasi_fd_seek(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f)
    return ERRNO_BADF;
  int whence;
  switch ((uint32_t)a[2].of.i32) {
  case WHENCE_SET:
    whence = SEEK_SET;
    break;
  case WHENCE_CUR:
    whence = SEEK_CUR;
    break;
  case WHENCE_END:
    whence = SEEK_END;
    break;
  default:
    return ERRNO_INVAL;
  }
  if (!mem_at(c, (uint32_t)a[3].of.i32, 8))
    return ERRNO_FAULT;
  if (f->filetype == FILETYPE_DIRECTORY)
    return ERRNO_BADF; /* directory positions are fd_readdir cookies */
  off_t pos = lseek(f->host_fd, (off_t)a[1].of.i64, whence);
  if (pos < 0)
    return host_error();
  return store_u64(c, (uint32_t)a[3].of.i32, (uint64_t)pos);
}

static uint32_t wasi_fd_tell(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f)
    return ERRNO_BADF;
  if (!mem_at(c, (uint32_t)a[1].of.i32, 8))
    return ERRNO_FAULT;
  off_t pos = lseek(f->host_fd, 0, SEEK_CUR);
  if (pos < 0)
    return host_error();
  return store_u64(c, (uint32_t)a[1].of.i32, (uint64_t)pos);
}

static uint32_t wasi_fd_close(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f)
    return ERRNO_BADF;
  fd_release(f);
  return ERRNO_SUCCESS;
}

static uint32_t wasi_fd_sync(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f)
    return ERRNO_BADF;
  return fsync(f->host_fd) == 0 ? ERRNO_SUCCESS : host_error();
}

static uint32_t wasi_fd_datasync(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f)
    return ERRNO_BADF;
  return fdatasync(f->host_fd) == 0 ? ERRNO_SUCCESS : host_error();
}

static uint32_t wasi_fd_fdstat_get(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f)
    return ERRNO_BADF;
  uint8_t *p = mem_at(c, (uint32_t)a[1].of.i32, FDSTAT_SIZE);
  if (!p)
    return ERRNO_FAULT;
  int fl = fcntl(f->host_fd, F_GETFL);
  if (fl < 0)
    return host_error();
  uint16_t flags =
      (uint16_t)((fl & O_APPEND ? FDFLAG_APPEND : 0) | (fl & O_NONBLOCK ? FDFLAG_NONBLOCK : 0) |
                 ((fl & O_SYNC) == O_SYNC ? FDFLAG_SYNC | FDFLAG_RSYNC : 0) |
                 (fl & O_DSYNC ? FDFLAG_DSYNC : 0));
  memset(p, 0, FDSTAT_SIZE);
  p[0] = f->filetype;
  put_u16(p + 2, flags);
  put_u64(p + 8, f->rights_base);
  put_u64(p + 16, f->rights_inheriting);
  return ERRNO_SUCCESS;
}

static uint32_t wasi_fd_fdstat_set_flags(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f)
    return ERRNO_BADF;
  uint32_t want = (uint32_t)a[1].of.i32 & 0xffff;
  /* Linux ignores the sync flags in F_SETFL; refuse rather than pretend. */
  if (want & (FDFLAG_DSYNC | FDFLAG_RSYNC | FDFLAG_SYNC))
    return ERRNO_NOTSUP;
  int fl = fcntl(f->host_fd, F_GETFL);
  if (fl < 0)
    return host_error();
  fl &= ~(O_APPEND | O_NONBLOCK);
  fl |= (want & FDFLAG_APPEND ? O_APPEND : 0) | (want & FDFLAG_NONBLOCK ? O_NONBLOCK : 0);
  return fcntl(f->host_fd, F_SETFL, fl) == 0 ? ERRNO_SUCCESS : host_error();
}

static uint32_t wasi_fd_fdstat_set_rights(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f)
    return ERRNO_BADF;
  uint64_t base = (uint64_t)a[1].of.i64, inh = (uint64_t)a[2].of.i64;
  /* Rights may only shrink. */
  if ((base & ~f->rights_base) || (inh & ~f->rights_inheriting))
    return ERRNO_NOTCAPABLE;
  f->rights_base = base;
  f->rights_inheriting = inh;
  return ERRNO_SUCCESS;
}

static void put_filestat(uint8_t *p, const struct stat *st) {
  memset(p, 0, FILESTAT_SIZE);
  put_u64(p, (uint64_t)st->st_dev);
  put_u64(p + 8, (uint64_t)st->st_ino);
  p[16] = filetype_of_mode(st->st_mode);
  put_u64(p + 24, (uint64_t)st->st_nlink);
  put_u64(p + 32, (uint64_t)st->st_size);
  put_u64(p + 40, ns_of(&st->st_atim));
  put_u64(p + 48, ns_of(&st->st_mtim));
  put_u64(p + 56, ns_of(&st->st_ctim));
}

static uint32_t wasi_fd_filestat_get(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f)
    return ERRNO_BADF;
  uint8_t *p = mem_at(c, (uint32_t)a[1].of.i32, FILESTAT_SIZE);
  if (!p)
    return ERRNO_FAULT;
  struct stat st;
  if (fstat(f->host_fd, &st) != 0)
    return host_error();
  put_filestat(p, &st);
  return ERRNO_SUCCESS;
}

static uint32_t wasi_fd_filestat_set_size(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f)
    return ERRNO_BADF;
  if (a[1].of.i64 < 0)
    return ERRNO_INVAL;
  return ftruncate(f->host_fd, (off_t)a[1].of.i64) == 0 ? ERRNO_SUCCESS : host_error();
}

/* WASI's (atim, mtim, fstflags) as utimensat's two timespecs. */
static uint32_t times_of(uint64_t atim, uint64_t mtim, uint32_t flags, struct timespec ts[2]) {
  if ((flags & FSTFLAG_ATIM && flags & FSTFLAG_ATIM_NOW) ||
      (flags & FSTFLAG_MTIM && flags & FSTFLAG_MTIM_NOW) || flags > 15)
    return ERRNO_INVAL;
  uint64_t t[2] = {atim, mtim};
  uint32_t set[2] = {FSTFLAG_ATIM, FSTFLAG_MTIM}, now[2] = {FSTFLAG_ATIM_NOW, FSTFLAG_MTIM_NOW};
  for (int i = 0; i < 2; i++) {
    if (flags & set[i]) {
      ts[i].tv_sec = (time_t)(t[i] / 1000000000u);
      ts[i].tv_nsec = (long)(t[i] % 1000000000u);
    } else {
      ts[i].tv_sec = 0;
      ts[i].tv_nsec = flags & now[i] ? UTIME_NOW : UTIME_OMIT;
    }
  }
  return ERRNO_SUCCESS;
}

static uint32_t wasi_fd_filestat_set_times(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f)
    return ERRNO_BADF;
  struct timespec ts[2];
  uint32_t e = times_of((uint64_t)a[1].of.i64, (uint64_t)a[2].of.i64, (uint32_t)a[3].of.i32, ts);
  if (e)
    return e;
  return futimens(f->host_fd, ts) == 0 ? ERRNO_SUCCESS : host_error();
}

static uint32_t wasi_fd_advise(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f)
    return ERRNO_BADF;
  static const int advice[] = {POSIX_FADV_NORMAL,   POSIX_FADV_SEQUENTIAL, POSIX_FADV_RANDOM,
                               POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED,   POSIX_FADV_NOREUSE};
  uint32_t which = (uint32_t)a[3].of.i32;
  if (which >= sizeof advice / sizeof advice[0] || a[1].of.i64 < 0 || a[2].of.i64 < 0)
    return ERRNO_INVAL;
  if (f->filetype == FILETYPE_DIRECTORY)
    return ERRNO_BADF;
  int r = posix_fadvise(f->host_fd, (off_t)a[1].of.i64, (off_t)a[2].of.i64, advice[which]);
  /* Advice is only advice: pipes and the like cannot take it, and that is fine. */
  return r == 0 || r == ESPIPE ? ERRNO_SUCCESS : errno_to_wasi(r);
}

static uint32_t wasi_fd_allocate(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f)
    return ERRNO_BADF;
  if (a[1].of.i64 < 0 || a[2].of.i64 <= 0)
    return ERRNO_INVAL;
  int r = posix_fallocate(f->host_fd, (off_t)a[1].of.i64, (off_t)a[2].of.i64);
  return r == 0 ? ERRNO_SUCCESS : errno_to_wasi(r);
}

static uint32_t wasi_fd_prestat_get(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f || !f->preopen)
    return ERRNO_BADF;
  uint8_t *p = mem_at(c, (uint32_t)a[1].of.i32, PRESTAT_SIZE);
  if (!p)
    return ERRNO_FAULT;
  memset(p, 0, PRESTAT_SIZE);
  p[0] = 0; /* preopentype dir */
  put_u32(p + 4, (uint32_t)strlen(f->preopen));
  return ERRNO_SUCCESS;
}

static uint32_t wasi_fd_prestat_dir_name(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f || !f->preopen)
    return ERRNO_BADF;
  uint32_t len = (uint32_t)a[2].of.i32;
  size_t name_len = strlen(f->preopen);
  uint8_t *p = mem_at(c, (uint32_t)a[1].of.i32, len);
  if (!p)
    return ERRNO_FAULT;
  if (len < name_len)
    return ERRNO_NAMETOOLONG;
  memcpy(p, f->preopen, name_len);
  return ERRNO_SUCCESS;
}

/* Reads the whole directory into f->dirents, so cookies are plain indexes
 * that stay valid however the script interleaves its calls. */
static uint32_t dirents_load(WasiFd *f) {
  dirents_clear(f);
  int fd = openat(f->host_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return host_error();
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return host_error();
  }
  size_t cap = 0;
  uint32_t e = ERRNO_SUCCESS;
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d))) {
    if (f->ndirents == cap) {
      cap = cap ? cap * 2 : 16;
      WasiDirent *grown = realloc(f->dirents, cap * sizeof *grown);
      if (!grown) {
        e = ERRNO_NOMEM;
        break;
      }
      f->dirents = grown;
    }
    WasiDirent *x = &f->dirents[f->ndirents];
    x->name = strdup(de->d_name);
    if (!x->name) {
      e = ERRNO_NOMEM;
      break;
    }
    x->ino = de->d_ino;
    struct stat st;
    if (de->d_type != DT_UNKNOWN)
      x->type = filetype_of_mode(DTTOIF(de->d_type));
    else
      x->type = fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0
                    ? filetype_of_mode(st.st_mode)
                    : FILETYPE_UNKNOWN;
    f->ndirents++;
    errno = 0;
  }
  if (!e && errno)
    e = host_error();
  closedir(d);
  return e;
}

static uint32_t wasi_fd_readdir(WasiCall *c, const kiln_value *a) {
  WasiFd *f = fd_get(c->w, (uint32_t)a[0].of.i32);
  if (!f)
    return ERRNO_BADF;
  if (f->filetype != FILETYPE_DIRECTORY)
    return ERRNO_NOTDIR;
  uint32_t buf = (uint32_t)a[1].of.i32, len = (uint32_t)a[2].of.i32;
  uint64_t cookie = (uint64_t)a[3].of.i64;
  uint8_t *out = mem_at(c, buf, len);
  if (!out || !mem_at(c, (uint32_t)a[4].of.i32, 4))
    return ERRNO_FAULT;
  if (cookie == 0 || !f->dirents) {
    uint32_t e = dirents_load(f);
    if (e)
      return e;
  }
  /* Entries are written whole while they fit; the last one may be cut short,
   * which tells the script (bufused == buf_len) to call again. */
  uint32_t used = 0;
  for (uint64_t i = cookie; i < f->ndirents && used < len; i++) {
    const WasiDirent *x = &f->dirents[i];
    uint32_t namelen = (uint32_t)strlen(x->name);
    uint8_t head[DIRENT_SIZE] = {0};
    put_u64(head, i + 1);
    put_u64(head + 8, x->ino);
    put_u32(head + 16, namelen);
    head[20] = x->type;
    uint32_t n = len - used < DIRENT_SIZE ? len - used : DIRENT_SIZE;
    memcpy(out + used, head, n);
    used += n;
    n = len - used < namelen ? len - used : namelen;
    memcpy(out + used, x->name, n);
    used += n;
  }
  return store_u32(c, (uint32_t)a[4].of.i32, used);
}

static uint32_t wasi_fd_renumber(WasiCall *c, const kiln_value *a) {
  uint32_t from = (uint32_t)a[0].of.i32, to = (uint32_t)a[1].of.i32;
  WasiFd *f = fd_get(c->w, from), *t = fd_get(c->w, to);
  if (!f || !t)
    return ERRNO_BADF;
  if (from == to)
    return ERRNO_SUCCESS;
  fd_release(t);
  *t = *f;
  memset(f, 0, sizeof *f);
  return ERRNO_SUCCESS;
}

/* --- path calls ----------------------------------------------------------- */

static uint32_t wasi_path_open(WasiCall *c, const kiln_value *a) {
  WasiFd *d;
  uint32_t e = dir_fd(c, (uint32_t)a[0].of.i32, &d);
  if (e)
    return e;
  uint32_t dirflags = (uint32_t)a[1].of.i32, oflags = (uint32_t)a[4].of.i32;
  uint64_t base = (uint64_t)a[5].of.i64, inheriting = (uint64_t)a[6].of.i64;
  uint32_t fdflags = (uint32_t)a[7].of.i32, result_ptr = (uint32_t)a[8].of.i32;
  if (!mem_at(c, result_ptr, 4))
    return ERRNO_FAULT;
  char *path;
  if ((e = load_path(c, (uint32_t)a[2].of.i32, (uint32_t)a[3].of.i32, &path)))
    return e;

  bool rd = base & (RIGHT_FD_READ | RIGHT_FD_READDIR), wr = base & RIGHTS_WRITING;
  int flags = wr ? (rd ? O_RDWR : O_WRONLY) : O_RDONLY;
  flags |= O_NOCTTY;
  flags |= oflags & OFLAG_CREAT ? O_CREAT : 0;
  flags |= oflags & OFLAG_DIRECTORY ? O_DIRECTORY : 0;
  flags |= oflags & OFLAG_EXCL ? O_EXCL : 0;
  flags |= oflags & OFLAG_TRUNC ? O_TRUNC : 0;
  flags |= fdflags & FDFLAG_APPEND ? O_APPEND : 0;
  flags |= fdflags & FDFLAG_NONBLOCK ? O_NONBLOCK : 0;
  flags |= fdflags & FDFLAG_DSYNC ? O_DSYNC : 0;
  flags |= fdflags & FDFLAG_SYNC ? O_SYNC : 0;
  flags |= fdflags & FDFLAG_RSYNC ? O_RSYNC : 0;
  flags |= dirflags & LOOKUP_SYMLINK_FOLLOW ? 0 : O_NOFOLLOW;

  int fd = open_beneath(c->w, d->host_fd, path, flags, 0666);
  free(path);
  if (fd < 0)
    return host_error();
  uint32_t slot;
  /* Rights are permissive (the host's open flags are what limit access);
   * the base is kept as asked so fcntl(F_GETFL) reads back the access mode. */
  if ((e = fd_insert(c->w, fd, false, base & RIGHTS_ALL, inheriting & RIGHTS_ALL, &slot))) {
    close(fd);
    return e;
  }
  return store_u32(c, result_ptr, slot);
}

static uint32_t wasi_path_filestat_get(WasiCall *c, const kiln_value *a) {
  WasiFd *d;
  uint32_t e = dir_fd(c, (uint32_t)a[0].of.i32, &d);
  if (e)
    return e;
  uint8_t *p = mem_at(c, (uint32_t)a[4].of.i32, FILESTAT_SIZE);
  if (!p)
    return ERRNO_FAULT;
  char *path;
  if ((e = load_path(c, (uint32_t)a[2].of.i32, (uint32_t)a[3].of.i32, &path)))
    return e;
  /* O_PATH|O_NOFOLLOW opens a final symlink itself: that is lstat. */
  bool follow = (uint32_t)a[1].of.i32 & LOOKUP_SYMLINK_FOLLOW;
  int fd = open_beneath(c->w, d->host_fd, path, O_PATH | (follow ? 0 : O_NOFOLLOW), 0);
  free(path);
  if (fd < 0)
    return host_error();
  struct stat st;
  e = fstatat(fd, "", &st, AT_EMPTY_PATH) == 0 ? ERRNO_SUCCESS : host_error();
  close(fd);
  if (!e)
    put_filestat(p, &st);
  return e;
}

static uint32_t wasi_path_filestat_set_times(WasiCall *c, const kiln_value *a) {
  struct timespec ts[2];
  uint32_t e = times_of((uint64_t)a[4].of.i64, (uint64_t)a[5].of.i64, (uint32_t)a[6].of.i32, ts);
  if (e)
    return e;
  WasiParent p;
  if ((e = open_parent(c, (uint32_t)a[0].of.i32, (uint32_t)a[2].of.i32, (uint32_t)a[3].of.i32, &p)))
    return e;
  bool follow = (uint32_t)a[1].of.i32 & LOOKUP_SYMLINK_FOLLOW;
  if (follow) {
    /* Following the last component must stay beneath too: open it that way
     * and set the times through /proc's view of the fd. */
    int fd = open_beneath(c->w, p.parent, p.base, O_PATH, 0);
    if (fd < 0) {
      e = host_error();
    } else {
      char proc[64];
      snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
      e = utimensat(AT_FDCWD, proc, ts, 0) == 0 ? ERRNO_SUCCESS : host_error();
      close(fd);
    }
  } else {
    e = utimensat(p.parent, p.base, ts, AT_SYMLINK_NOFOLLOW) == 0 ? ERRNO_SUCCESS : host_error();
  }
  close_parent(&p);
  return e;
}

static uint32_t wasi_path_create_directory(WasiCall *c, const kiln_value *a) {
  WasiParent p;
  uint32_t e =
      open_parent(c, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32, (uint32_t)a[2].of.i32, &p);
  if (e)
    return e;
  e = mkdirat(p.parent, p.base, 0777) == 0 ? ERRNO_SUCCESS : host_error();
  close_parent(&p);
  return e;
}

static uint32_t path_unlink(WasiCall *c, const kiln_value *a, int flags) {
  WasiParent p;
  uint32_t e =
      open_parent(c, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32, (uint32_t)a[2].of.i32, &p);
  if (e)
    return e;
  e = unlinkat(p.parent, p.base, flags) == 0 ? ERRNO_SUCCESS : host_error();
  close_parent(&p);
  return e;
}

static uint32_t wasi_path_remove_directory(WasiCall *c, const kiln_value *a) {
  return path_unlink(c, a, AT_REMOVEDIR);
}

static uint32_t wasi_path_unlink_file(WasiCall *c, const kiln_value *a) {
  return path_unlink(c, a, 0);
}

static uint32_t wasi_path_rename(WasiCall *c, const kiln_value *a) {
  WasiParent from, to;
  uint32_t e =
      open_parent(c, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32, (uint32_t)a[2].of.i32, &from);
  if (e)
    return e;
  if ((e = open_parent(c, (uint32_t)a[3].of.i32, (uint32_t)a[4].of.i32, (uint32_t)a[5].of.i32,
                       &to))) {
    close_parent(&from);
    return e;
  }
  e = renameat(from.parent, from.base, to.parent, to.base) == 0 ? ERRNO_SUCCESS : host_error();
  close_parent(&from);
  close_parent(&to);
  return e;
}

static uint32_t wasi_path_link(WasiCall *c, const kiln_value *a) {
  WasiParent from, to;
  uint32_t e =
      open_parent(c, (uint32_t)a[0].of.i32, (uint32_t)a[2].of.i32, (uint32_t)a[3].of.i32, &from);
  if (e)
    return e;
  if ((e = open_parent(c, (uint32_t)a[4].of.i32, (uint32_t)a[5].of.i32, (uint32_t)a[6].of.i32,
                       &to))) {
    close_parent(&from);
    return e;
  }
  /* Linking to what a symlink points at could reach outside: link the
   * symlink itself, whatever the script asked (as wasmtime does). */
  e = linkat(from.parent, from.base, to.parent, to.base, 0) == 0 ? ERRNO_SUCCESS : host_error();
  close_parent(&from);
  close_parent(&to);
  return e;
}

static uint32_t wasi_path_symlink(WasiCall *c, const kiln_value *a) {
  char *target;
  uint32_t e = load_path(c, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32, &target);
  if (e)
    return e;
  /* The target is only text: any later lookup through the link is resolved
   * beneath its directory, so a link pointing outside leads nowhere. */
  WasiParent p;
  if ((e = open_parent(c, (uint32_t)a[2].of.i32, (uint32_t)a[3].of.i32, (uint32_t)a[4].of.i32,
                       &p))) {
    free(target);
    return e;
  }
  e = symlinkat(target, p.parent, p.base) == 0 ? ERRNO_SUCCESS : host_error();
  close_parent(&p);
  free(target);
  return e;
}

static uint32_t wasi_path_readlink(WasiCall *c, const kiln_value *a) {
  uint32_t buf = (uint32_t)a[3].of.i32, len = (uint32_t)a[4].of.i32;
  uint8_t *out = mem_at(c, buf, len);
  if (!out || !mem_at(c, (uint32_t)a[5].of.i32, 4))
    return ERRNO_FAULT;
  WasiParent p;
  uint32_t e =
      open_parent(c, (uint32_t)a[0].of.i32, (uint32_t)a[1].of.i32, (uint32_t)a[2].of.i32, &p);
  if (e)
    return e;
  char target[PATH_MAX];
  ssize_t n = readlinkat(p.parent, p.base, target, sizeof target);
  e = n < 0 ? host_error() : ERRNO_SUCCESS;
  close_parent(&p);
  if (e)
    return e;
  /* Truncated to the buffer, as readlink(2) does. */
  uint32_t copy = (uint64_t)n < len ? (uint32_t)n : len;
  memcpy(out, target, copy);
  return store_u32(c, (uint32_t)a[5].of.i32, copy);
}

/* --- poll, process, sockets ----------------------------------------------- */

typedef struct {
  uint64_t userdata;
  uint8_t type;
  uint64_t deadline; /* EVENTTYPE_CLOCK: monotonic ns */
  int pollfd; /* fd events: index in the pollfd array, or -1 (bad fd) */
} WasiSub;

static uint64_t now_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return ns_of(&ts);
}

/* Reads subscription i: clocks become monotonic deadlines, fds pollfds. */
static uint32_t sub_load(WasiCall *c, const uint8_t *in, WasiSub *s, struct pollfd *pfd,
                         nfds_t *npfd) {
  s->userdata = get_u64(in);
  s->type = in[8];
  s->pollfd = -1;
  if (s->type == EVENTTYPE_CLOCK) {
    clockid_t id;
    if (!host_clock(get_u32(in + 16), &id))
      return ERRNO_INVAL;
    uint64_t timeout = get_u64(in + 24), now = now_ns(id);
    uint64_t rel =
        get_u16(in + 40) & SUBCLOCK_ABSTIME ? (timeout > now ? timeout - now : 0) : timeout;
    uint64_t mono = now_ns(CLOCK_MONOTONIC);
    s->deadline = rel > UINT64_MAX - mono ? UINT64_MAX : mono + rel;
    return ERRNO_SUCCESS;
  }
  if (s->type != EVENTTYPE_FD_READ && s->type != EVENTTYPE_FD_WRITE)
    return ERRNO_INVAL;
  WasiFd *f = fd_get(c->w, get_u32(in + 16));
  if (f) {
    pfd[*npfd].fd = f->host_fd;
    pfd[*npfd].events = s->type == EVENTTYPE_FD_READ ? POLLIN : POLLOUT;
    pfd[*npfd].revents = 0;
    s->pollfd = (int)(*npfd)++;
  }
  return ERRNO_SUCCESS;
}

/* Sleeps in poll() until an fd is ready or the earliest clock expires. */
static void poll_wait(const WasiSub *subs, uint32_t n, struct pollfd *pfd, nfds_t npfd) {
  uint64_t earliest = UINT64_MAX;
  bool bad_fd = false;
  for (uint32_t i = 0; i < n; i++) {
    if (subs[i].type == EVENTTYPE_CLOCK && subs[i].deadline < earliest)
      earliest = subs[i].deadline;
    if (subs[i].type != EVENTTYPE_CLOCK && subs[i].pollfd < 0)
      bad_fd = true; /* an error event is ready now */
  }
  for (;;) {
    uint64_t now = now_ns(CLOCK_MONOTONIC);
    int ms = bad_fd || earliest <= now ? 0
             : earliest == UINT64_MAX  ? -1
             : (earliest - now) / 1000000u >= INT_MAX
                 ? INT_MAX
                 : (int)((earliest - now + 999999u) / 1000000u);
    if (npfd == 0 && ms > 0 && earliest != UINT64_MAX) {
      /* Pure sleeps get nanosecond precision. */
      struct timespec ts = {.tv_sec = (time_t)(earliest / 1000000000u),
                            .tv_nsec = (long)(earliest % 1000000000u)};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
      }
      return;
    }
    int r = poll(pfd, npfd, ms);
    if (r >= 0 || errno != EINTR)
      return;
  }
}

static uint32_t wasi_poll_oneoff(WasiCall *c, const kiln_value *a) {
  uint32_t in = (uint32_t)a[0].of.i32, out = (uint32_t)a[1].of.i32, n = (uint32_t)a[2].of.i32;
  uint8_t *ip = mem_at(c, in, (uint64_t)n * SUBSCRIPTION_SIZE);
  uint8_t *op = mem_at(c, out, (uint64_t)n * EVENT_SIZE);
  if (!ip || !op || !mem_at(c, (uint32_t)a[3].of.i32, 4))
    return ERRNO_FAULT;
  if (n == 0)
    return ERRNO_INVAL;
  WasiSub *subs = calloc(n, sizeof *subs);
  struct pollfd *pfd = calloc(n, sizeof *pfd);
  nfds_t npfd = 0;
  uint32_t e = subs && pfd ? ERRNO_SUCCESS : ERRNO_NOMEM;
  for (uint32_t i = 0; i < n && !e; i++)
    e = sub_load(c, ip + (size_t)i * SUBSCRIPTION_SIZE, &subs[i], pfd, &npfd);
  if (!e) {
    poll_wait(subs, n, pfd, npfd);
    uint64_t now = now_ns(CLOCK_MONOTONIC);
    uint32_t nevents = 0;
    for (uint32_t i = 0; i < n; i++) {
      const WasiSub *s = &subs[i];
      uint16_t err = 0, rwflags = 0;
      if (s->type == EVENTTYPE_CLOCK) {
        if (s->deadline > now)
          continue;
      } else if (s->pollfd < 0) {
        err = ERRNO_BADF;
      } else {
        short rev = pfd[s->pollfd].revents;
        if (!rev)
          continue;
        if (rev & POLLNVAL)
          err = ERRNO_BADF;
        if (rev & POLLHUP)
          rwflags = EVENTRWFLAG_HANGUP;
      }
      uint8_t *ev = op + (size_t)nevents++ * EVENT_SIZE;
      memset(ev, 0, EVENT_SIZE);
      put_u64(ev, s->userdata);
      put_u16(ev + 8, err);
      ev[10] = s->type;
      put_u16(ev + 24, rwflags);
      if (s->type != EVENTTYPE_CLOCK && s->pollfd >= 0 && s->type == EVENTTYPE_FD_READ) {
        int avail = 0;
        if (ioctl(pfd[s->pollfd].fd, FIONREAD, &avail) == 0 && avail > 0)
          put_u64(ev + 16, (uint64_t)avail);
      }
    }
    e = store_u32(c, (uint32_t)a[3].of.i32, nevents);
  }
  free(subs);
  free(pfd);
  return e;
}

static uint32_t wasi_proc_exit(WasiCall *c, const kiln_value *a) {
  c->status = kiln_caller_exit(c->caller, a[0].of.i32);
  return 0;
}

static uint32_t wasi_proc_raise(WasiCall *c, const kiln_value *a) {
  /* Raising a real signal would take the host down with the script: the
   * script stops with a trap instead, which is what a default action does. */
  static const char *const names[] = {
      NULL,   "HUP",  "INT",  "QUIT",   "ILL",  "TRAP",  "ABRT", "BUS",  "FPE",  "KILL", "USR1",
      "SEGV", "USR2", "PIPE", "ALRM",   "TERM", "CHLD",  "CONT", "STOP", "TSTP", "TTIN", "TTOU",
      "URG",  "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "POLL", "PWR",  "SYS",
  }; /* WASI's own numbering, not the host's */
  uint32_t sig = (uint32_t)a[0].of.i32;
  if (sig == 0 || sig >= sizeof names / sizeof names[0])
    return ERRNO_INVAL;
  c->status = kiln_caller_trap(c->caller, "proc_raise: SIG%s", names[sig]);
  return 0;
}

static uint32_t wasi_sched_yield(WasiCall *c, const kiln_value *a) {
  (void)c;
  (void)a;
  sched_yield();
  return ERRNO_SUCCESS;
}

/* Sockets only ever come from the host, and Kiln's WASI hands out none. */
static uint32_t wasi_sock_notsup(WasiCall *c, const kiln_value *a) {
  (void)c;
  (void)a;
  return ERRNO_NOTSUP;
}

/* --- definitions ---------------------------------------------------------- */

static const WasiDef wasi_defs[] = {
    {"args_get", "ii", 1, wasi_args_get},
    {"args_sizes_get", "ii", 1, wasi_args_sizes_get},
    {"environ_get", "ii", 1, wasi_environ_get},
    {"environ_sizes_get", "ii", 1, wasi_environ_sizes_get},
    {"clock_res_get", "ii", 1, wasi_clock_res_get},
    {"clock_time_get", "iIi", 1, wasi_clock_time_get},
    {"random_get", "ii", 1, wasi_random_get},
    {"fd_advise", "iIIi", 1, wasi_fd_advise},
    {"fd_allocate", "iII", 1, wasi_fd_allocate},
    {"fd_close", "i", 1, wasi_fd_close},
    {"fd_datasync", "i", 1, wasi_fd_datasync},
    {"fd_fdstat_get", "ii", 1, wasi_fd_fdstat_get},
    {"fd_fdstat_set_flags", "ii", 1, wasi_fd_fdstat_set_flags},
    {"fd_fdstat_set_rights", "iII", 1, wasi_fd_fdstat_set_rights},
    {"fd_filestat_get", "ii", 1, wasi_fd_filestat_get},
    {"fd_filestat_set_size", "iI", 1, wasi_fd_filestat_set_size},
    {"fd_filestat_set_times", "iIIi", 1, wasi_fd_filestat_set_times},
    {"fd_pread", "iiiIi", 1, wasi_fd_pread},
    {"fd_prestat_get", "ii", 1, wasi_fd_prestat_get},
    {"fd_prestat_dir_name", "iii", 1, wasi_fd_prestat_dir_name},
    {"fd_pwrite", "iiiIi", 1, wasi_fd_pwrite},
    {"fd_read", "iiii", 1, wasi_fd_read},
    {"fd_readdir", "iiiIi", 1, wasi_fd_readdir},
    {"fd_renumber", "ii", 1, wasi_fd_renumber},
    {"fd_seek", "iIii", 1, wasi_fd_seek},
    {"fd_sync", "i", 1, wasi_fd_sync},
    {"fd_tell", "ii", 1, wasi_fd_tell},
    {"fd_write", "iiii", 1, wasi_fd_write},
    {"path_create_directory", "iii", 1, wasi_path_create_directory},
    {"path_filestat_get", "iiiii", 1, wasi_path_filestat_get},
    {"path_filestat_set_times", "iiiiIIi", 1, wasi_path_filestat_set_times},
    {"path_link", "iiiiiii", 1, wasi_path_link},
    {"path_open", "iiiiiIIii", 1, wasi_path_open},
    {"path_readlink", "iiiiii", 1, wasi_path_readlink},
    {"path_remove_directory", "iii", 1, wasi_path_remove_directory},
    {"path_rename", "iiiiii", 1, wasi_path_rename},
    {"path_symlink", "iiiii", 1, wasi_path_symlink},
    {"path_unlink_file", "iii", 1, wasi_path_unlink_file},
    {"poll_oneoff", "iiii", 1, wasi_poll_oneoff},
    {"proc_exit", "i", 0, wasi_proc_exit},
    {"proc_raise", "i", 1, wasi_proc_raise},
    {"sched_yield", "", 1, wasi_sched_yield},
    {"sock_accept", "iii", 1, wasi_sock_notsup},
    {"sock_recv", "iiiiii", 1, wasi_sock_notsup},
    {"sock_send", "iiiii", 1, wasi_sock_notsup},
    {"sock_shutdown", "ii", 1, wasi_sock_notsup},
};
enum { WASI_NDEFS = sizeof wasi_defs / sizeof wasi_defs[0] };

/* The one host function behind every WASI import: fetches the caller's
 * memory, runs the implementation and returns its errno as the result. */
static kiln_status wasi_dispatch(kiln_caller *caller, void *data, const kiln_value *args,
                                 kiln_value *results) {
  const WasiBinding *b = data;
  WasiCall c = {.w = b->w, .caller = caller, .status = KILN_OK};
  c.mem = kiln_caller_memory(caller, &c.mem_size);
  if (!c.mem)
    c.mem_size = 0;
  uint32_t e = b->def->impl(&c, args);
  if (c.status != KILN_OK)
    return c.status;
  if (b->def->nresults)
    results[0] = KILN_I32_VAL((int32_t)e);
  return KILN_OK;
}

/* Defines wasi_defs[i] with fn and data. */
static kiln_status define_one(kiln_runtime *rt, size_t i, kiln_host_fn fn, void *data) {
  static const kiln_type result_i32[1] = {KILN_I32};
  const WasiDef *d = &wasi_defs[i];
  kiln_type params[16];
  uint32_t n = (uint32_t)strlen(d->params);
  for (uint32_t j = 0; j < n; j++)
    params[j] = d->params[j] == 'I' ? KILN_I64 : KILN_I32;
  return kiln_define_func(rt, "wasi_snapshot_preview1", d->name, params, n, result_i32, d->nresults,
                          fn, data);
}

static kiln_status define_all(kiln_runtime *rt, Wasi *w) {
  for (size_t i = 0; i < WASI_NDEFS; i++) {
    w->bindings[i] = (WasiBinding){w, &wasi_defs[i]};
    kiln_status s = define_one(rt, i, wasi_dispatch, &w->bindings[i]);
    if (s != KILN_OK)
      return s;
  }
  return KILN_OK;
}

/* --- lifetime ------------------------------------------------------------- */

static char **copy_strings(const char *const *src, int n) {
  char **out = calloc((size_t)(n > 0 ? n : 1), sizeof *out);
  if (!out)
    return NULL;
  for (int i = 0; i < n; i++) {
    if (!(out[i] = strdup(src[i] ? src[i] : ""))) {
      for (int j = 0; j < i; j++)
        free(out[j]);
      free(out);
      return NULL;
    }
  }
  return out;
}

static void free_strings(char **list, uint32_t n) {
  if (!list)
    return;
  for (uint32_t i = 0; i < n; i++)
    free(list[i]);
  free(list);
}

static void wasi_free(void *state) {
  Wasi *w = state;
  if (!w)
    return;
  for (uint32_t i = 0; i < w->nfds; i++)
    if (w->fds[i].open)
      fd_release(&w->fds[i]);
  free(w->fds);
  free_strings(w->argv, w->argc);
  free_strings(w->envp, w->envc);
  free(w->bindings);
  free(w);
}

/* stdio first (0, 1, 2), then the preopens in order (3, ...), as wasi-libc
 * expects when it scans for preopens from fd 3 on. */
static bool open_fds(Wasi *w, const kiln_wasi_config *cfg, char *why, size_t whylen) {
  uint32_t slot;
  for (int i = 0; i < 3; i++)
    if (fd_insert(w, i, true, RIGHTS_ALL, RIGHTS_ALL, &slot)) {
      snprintf(why, whylen, "WASI: out of memory");
      return false;
    }
  for (int i = 0; i < cfg->npreopens; i++) {
    const char *host = cfg->preopen_host[i];
    const char *guest = cfg->preopen_guest && cfg->preopen_guest[i] ? cfg->preopen_guest[i] : host;
    int fd = open(host, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      snprintf(why, whylen, "preopened directory %s: %s", host, strerror(errno));
      return false;
    }
    char *name = strdup(guest);
    if (!name || fd_insert(w, fd, false, RIGHTS_ALL, RIGHTS_ALL, &slot)) {
      free(name);
      close(fd);
      snprintf(why, whylen, "WASI: out of memory");
      return false;
    }
    w->fds[slot].preopen = name;
    if (i == 0)
      w->no_openat2 = !openat2_works(fd);
  }
  return true;
}

/* Every string the counts promise is there. */
static bool config_valid(const kiln_wasi_config *cfg) {
  if ((cfg->argc > 0 && !cfg->argv) || (cfg->envc > 0 && !cfg->envp) ||
      (cfg->npreopens > 0 && !cfg->preopen_host))
    return false;
  for (int i = 0; i < cfg->npreopens; i++)
    if (!cfg->preopen_host[i])
      return false;
  return true;
}

kiln_status kiln_wasi_define(kiln_runtime *rt, const kiln_wasi_config *cfg) {
  static const kiln_wasi_config none = {0};
  if (!rt)
    return KILN_ERROR;
  if (!cfg)
    cfg = &none;
  if (!config_valid(cfg)) {
    runtime_error(rt, "kiln_wasi_define: invalid arguments (a count without its strings)");
    return KILN_ERROR;
  }
  char why[400] = "WASI: out of memory";
  Wasi *w = calloc(1, sizeof *w);
  if (w) {
    w->argc = (uint32_t)(cfg->argc > 0 ? cfg->argc : 0);
    w->envc = (uint32_t)(cfg->envc > 0 ? cfg->envc : 0);
    w->argv = copy_strings(cfg->argv, (int)w->argc);
    w->envp = copy_strings(cfg->envp, (int)w->envc);
    w->bindings = calloc(WASI_NDEFS, sizeof *w->bindings);
    if (!w->argv)
      w->argc = 0;
    if (!w->envp)
      w->envc = 0;
  }
  if (!w || !w->argv || !w->envp || !w->bindings || !open_fds(w, cfg, why, sizeof why)) {
    wasi_free(w);
    runtime_error(rt, "%s", why);
    return KILN_ERROR;
  }
  if (!runtime_on_free(rt, wasi_free, w)) {
    wasi_free(w);
    runtime_error(rt, "WASI: out of memory");
    return KILN_ERROR;
  }
  /* From here on the runtime owns w, even if a definition fails. */
  return define_all(rt, w);
}
