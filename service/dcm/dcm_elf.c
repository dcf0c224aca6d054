/*
 * dcm_elf.c: code sizes for the manifest, read from the package itself.
 *
 * libgccjit does not report what it generated, but the shared object's
 * dynamic symbol table has each exported entry's st_size. In the hot tier
 * that is the wrapper plus whatever gcc inlined into it; the internal
 * functions are not exported, so their size is not counted.
 */
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dcm_int.h"

static bool in_file(size_t size, uint64_t off, uint64_t len) {
  return off <= size && len <= size - off;
}

/* The dynamic symbol table and its strings, or false. */
static bool find_dynsym(const uint8_t *p, size_t size, const Elf64_Sym **syms, size_t *nsyms,
                        const char **strs, size_t *strsize) {
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)p;
  if (size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
      !in_file(size, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
    return false;
  const Elf64_Shdr *sh = (const Elf64_Shdr *)(p + eh->e_shoff);
  for (unsigned i = 0; i < eh->e_shnum; i++) {
    if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)
      continue;
    const Elf64_Shdr *st = &sh[sh[i].sh_link];
    if (!in_file(size, sh[i].sh_offset, sh[i].sh_size) ||
        !in_file(size, st->sh_offset, st->sh_size))
      return false;
    *syms = (const Elf64_Sym *)(p + sh[i].sh_offset);
    *nsyms = sh[i].sh_size / sizeof(Elf64_Sym);
    *strs = (const char *)(p + st->sh_offset);
    *strsize = st->sh_size;
    return true;
  }
  return false;
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
  const Elf64_Sym *syms;
  const char *strs;
  size_t nsyms, strsize;
  if (find_dynsym(p, size, &syms, &nsyms, &strs, &strsize)) {
    for (size_t i = 0; i < nsyms; i++) {
      if (ELF64_ST_TYPE(syms[i].st_info) != STT_FUNC || syms[i].st_name >= strsize)
        continue;
      const char *name = strs + syms[i].st_name;
      if (strnlen(name, strsize - syms[i].st_name) == strsize - syms[i].st_name)
        continue; /* not terminated inside the table */
      for (uint32_t k = 0; k < man->nfuncs; k++)
        if (strcmp(man->funcs[k].symbol, name) == 0)
          man->funcs[k].code_size = syms[i].st_size;
    }
  }
  munmap((void *)p, size);
}
