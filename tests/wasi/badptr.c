/* badptr.c: WASI calls with pointers and lengths outside linear memory get
 * EFAULT (21), never a crash; bad descriptors get EBADF (8). The imports are
 * declared raw, so wasi-libc does not touch the bad pointers first. */
#include <stdint.h>
#include <stdio.h>

#define WASI(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))

WASI(fd_write) int32_t raw_fd_write(int32_t fd, int32_t iovs, int32_t n, int32_t nwritten);
WASI(fd_read) int32_t raw_fd_read(int32_t fd, int32_t iovs, int32_t n, int32_t nread);
WASI(args_get) int32_t raw_args_get(int32_t argv, int32_t buf);
WASI(args_sizes_get) int32_t raw_args_sizes_get(int32_t argc, int32_t size);
WASI(environ_get) int32_t raw_environ_get(int32_t env, int32_t buf);
WASI(clock_time_get) int32_t raw_clock_time_get(int32_t id, int64_t precision, int32_t out);
WASI(random_get) int32_t raw_random_get(int32_t buf, int32_t len);
WASI(fd_fdstat_get) int32_t raw_fd_fdstat_get(int32_t fd, int32_t out);
WASI(fd_prestat_dir_name) int32_t raw_fd_prestat_dir_name(int32_t fd, int32_t buf, int32_t len);
WASI(path_open)
int32_t raw_path_open(int32_t fd, int32_t dirflags, int32_t path, int32_t len, int32_t oflags,
                      int64_t base, int64_t inh, int32_t fdflags, int32_t out);
WASI(path_filestat_get)
int32_t raw_path_filestat_get(int32_t fd, int32_t flags, int32_t path, int32_t len, int32_t out);
WASI(poll_oneoff) int32_t raw_poll_oneoff(int32_t in, int32_t out, int32_t n, int32_t nevents);
WASI(fd_readdir)
int32_t raw_fd_readdir(int32_t fd, int32_t buf, int32_t len, int64_t cookie, int32_t used);
WASI(sock_accept) int32_t raw_sock_accept(int32_t fd, int32_t flags, int32_t out);
WASI(fd_seek) int32_t raw_fd_seek(int32_t fd, int64_t offset, int32_t whence, int32_t out);

#define OUT ((int32_t)0xfffffff0) /* far beyond any memory this program has */
#define P(x) ((int32_t)(uintptr_t)(x))

static uint32_t iov[2];
static uint32_t word;
static char msg[] = "visible\n";
static uint8_t buf[256];

int main(void) {
  printf("fd_write iovs out of memory: %d\n", raw_fd_write(1, OUT, 1, P(&word)));
  iov[0] = (uint32_t)OUT;
  iov[1] = 4;
  printf("fd_write buffer out of memory: %d\n", raw_fd_write(1, P(iov), 1, P(&word)));
  iov[0] = (uint32_t)P(msg);
  iov[1] = 0x7fffffff;
  printf("fd_write length out of memory: %d\n", raw_fd_write(1, P(iov), 1, P(&word)));
  printf("fd_write many iovs: %d\n", raw_fd_write(1, P(iov), 0x7fffffff, P(&word)));
  iov[1] = 8;
  printf("fd_write result out of memory: %d\n", raw_fd_write(1, P(iov), 1, OUT));
  fflush(stdout);
  printf("fd_write good: %d\n", raw_fd_write(1, P(iov), 1, P(&word)));
  printf("fd_write bad fd: %d\n", raw_fd_write(99, P(iov), 1, P(&word)));
  printf("fd_write negative fd: %d\n", raw_fd_write(-1, P(iov), 1, P(&word)));
  iov[0] = (uint32_t)OUT;
  printf("fd_read buffer out of memory: %d\n", raw_fd_read(0, P(iov), 1, P(&word)));
  printf("args_get out of memory: %d\n", raw_args_get(OUT, OUT));
  printf("args_sizes_get out of memory: %d\n", raw_args_sizes_get(P(&word), OUT));
  printf("environ_get out of memory: %d\n", raw_environ_get(OUT, P(buf)));
  printf("clock_time_get out of memory: %d\n", raw_clock_time_get(1, 0, OUT));
  printf("clock_time_get bad clock: %d\n", raw_clock_time_get(99, 0, P(buf)));
  printf("random_get out of memory: %d\n", raw_random_get(P(buf), 0x7fffffff));
  printf("fd_fdstat_get out of memory: %d\n", raw_fd_fdstat_get(1, OUT));
  printf("fd_prestat_dir_name out of memory: %d\n", raw_fd_prestat_dir_name(3, OUT, 8));
  printf("fd_prestat_dir_name not a preopen: %d\n", raw_fd_prestat_dir_name(1, P(buf), 8));
  printf("path_open path out of memory: %d\n",
         raw_path_open(3, 0, OUT, 100, 0, 0x3fffffff, 0x3fffffff, 0, P(&word)));
  printf("path_open result out of memory: %d\n",
         raw_path_open(3, 0, P("x"), 1, 1, 0x3fffffff, 0x3fffffff, 0, OUT));
  printf("path_open on stdout: %d\n",
         raw_path_open(1, 0, P("x"), 1, 0, 0x3fffffff, 0x3fffffff, 0, P(&word)));
  printf("path_open embedded NUL: %d\n",
         raw_path_open(3, 0, P("a\0b"), 3, 0, 0x3fffffff, 0x3fffffff, 0, P(&word)));
  printf("path_filestat_get out of memory: %d\n", raw_path_filestat_get(3, 0, P("."), 1, OUT));
  printf("poll_oneoff out of memory: %d\n", raw_poll_oneoff(OUT, P(buf), 1, P(&word)));
  printf("poll_oneoff none: %d\n", raw_poll_oneoff(P(buf), P(buf + 64), 0, P(&word)));
  printf("fd_readdir buffer out of memory: %d\n", raw_fd_readdir(3, OUT, 64, 0, P(&word)));
  printf("fd_readdir on a file: %d\n", raw_fd_readdir(1, P(buf), 64, 0, P(&word)));
  printf("fd_seek bad whence: %d\n", raw_fd_seek(3, 0, 7, P(buf)));
  printf("sock_accept: %d\n", raw_sock_accept(3, 0, P(&word)));
  printf("badptr: done\n");
  return 0;
}
