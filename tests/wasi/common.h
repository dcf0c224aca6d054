/*
 * common.h: what the WASI test programs share. They print errno by name,
 * never by strerror text, so the expected output does not depend on
 * wasi-libc's wording.
 */
#ifndef WASI_TEST_COMMON_H
#define WASI_TEST_COMMON_H

#include <errno.h>
#include <stdio.h>

static inline const char *errname(int e) {
  switch (e) {
  case 0:
    return "ok";
  case EACCES:
    return "EACCES";
  case EBADF:
    return "EBADF";
  case EEXIST:
    return "EEXIST";
  case EFAULT:
    return "EFAULT";
  case EINVAL:
    return "EINVAL";
  case EISDIR:
    return "EISDIR";
  case ELOOP:
    return "ELOOP";
  case ENOENT:
    return "ENOENT";
  case ENOTCAPABLE:
    return "ENOTCAPABLE";
  case ENOTDIR:
    return "ENOTDIR";
  case ENOTEMPTY:
    return "ENOTEMPTY";
  case ENOTSUP:
    return "ENOTSUP";
  case EPERM:
    return "EPERM";
  case EXDEV:
    return "EXDEV";
  default:
    return "other";
  }
}

/* Prints "label: ok" or "label: ENAME" for a call that returns -1 on error. */
#define CHECK(label, call)                                                                         \
  do {                                                                                             \
    errno = 0;                                                                                     \
    int check_r_ = (call) < 0 ? errno : 0;                                                         \
    printf("%s: %s\n", (label), errname(check_r_));                                                \
  } while (0)

#endif
