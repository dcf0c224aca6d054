/*
 * no-openat2.c: an LD_PRELOAD shim that makes openat2 look absent (ENOSYS),
 * as on kernels before 5.6 or under seccomp filters that do not know it, so
 * the tests also cover wasi.c's component-by-component path walk.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

long syscall(long number, ...) {
  if (number == SYS_openat2) {
    errno = ENOSYS;
    return -1;
  }
  /* Anything else goes to the real syscall(); none takes more than six
   * word-sized arguments. */
  long (*real)(long, ...) = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (int i = 0; i < 6; i++)
    a[i] = va_arg(ap, long);
  va_end(ap);
  return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
