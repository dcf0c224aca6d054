/*
 * dcm_elf.c: code sizes for the manifest, read from the package itself.
 *
 * libgccjit does not report what it generated, but the shared object's
 * dynamic symbol table has each exported entry's st_size. In the hot tier
 * that is the wrapper plus whatever gcc inlined into it; the internal
 * functions are not exported, so their size is not counted.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dcm_int.h"
#include "kiln_package_elf.h"

/* Each exported entry's size goes to its manifest line. */
static void measure(const char *name, uint64_t value, uint64_t len, void *arg) {
  (void)value;
  DcmManifest *man = arg;
  for (uint32_t k = 0; k < man->nfuncs; k++)
    if (strcmp(man->funcs[k].symbol, name) == 0)
      man->funcs[k].code_size = len;
}

void dcm_measure_code(const char *path, DcmManifest *man) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0)
    return;
  if (fstat(fd, &st) != 0 || st.st_size <= 0) {
    close(fd);
    return;
  }
  size_t size = (size_t)st.st_size;
  const uint8_t *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED)
    return;
  kiln_elf_functions(p, size, SHT_DYNSYM, measure, man);
  munmap((void *)p, size);
}
