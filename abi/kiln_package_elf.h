/*
 * kiln_package_elf.h: reading a package's own symbol tables, for both sides
 * of the package ABI: the compiler measures each entry's code size for the
 * manifest (dynamic symbols), the agent's sampler maps every function's
 * machine code, the hot tier's internal `kiln_i<index>` functions included
 * (the full symbol table), so self time in compiled code is charged to the
 * function whose code it is.
 *
 * Header only; the bytes are a whole shared object in memory, untrusted:
 * every offset is checked against its size.
 */
#ifndef KILN_PACKAGE_ELF_H
#define KILN_PACKAGE_ELF_H

#include <elf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kiln_package_abi.h"

/* The internal (hot, native signature) function of function <index>. */
#define KILN_PACKAGE_INTERNAL_PREFIX "kiln_i"
/* The exported entry of function <index>: kiln_f<index>[_<name>]. */
#define KILN_PACKAGE_ENTRY_PREFIX "kiln_f"

static inline bool kiln_elf_in_file(size_t size, uint64_t off, uint64_t len) {
  return off <= size && len <= size - off;
}

/* Calls fn(name, value, size, arg) for every function symbol of the table
 * of section type `type` (SHT_DYNSYM or SHT_SYMTAB). False: not a 64-bit
 * ELF file, or no such table. */
static inline bool kiln_elf_functions(const uint8_t *p, size_t size, uint32_t type,
                                      void (*fn)(const char *name, uint64_t value, uint64_t len,
                                                 void *arg),
                                      void *arg) {
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)p;
  if (size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
      !kiln_elf_in_file(size, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
    return false;
  const Elf64_Shdr *sh = (const Elf64_Shdr *)(p + eh->e_shoff);
  for (unsigned i = 0; i < eh->e_shnum; i++) {
    if (sh[i].sh_type != type || sh[i].sh_link >= eh->e_shnum)
      continue;
    const Elf64_Shdr *st = &sh[sh[i].sh_link];
    if (!kiln_elf_in_file(size, sh[i].sh_offset, sh[i].sh_size) ||
        !kiln_elf_in_file(size, st->sh_offset, st->sh_size))
      return false;
    const Elf64_Sym *syms = (const Elf64_Sym *)(p + sh[i].sh_offset);
    const char *strs = (const char *)(p + st->sh_offset);
    size_t nsyms = sh[i].sh_size / sizeof(Elf64_Sym), strsize = st->sh_size;
    for (size_t k = 0; k < nsyms; k++) {
      if (ELF64_ST_TYPE(syms[k].st_info) != STT_FUNC || syms[k].st_name >= strsize)
        continue;
      const char *name = strs + syms[k].st_name;
      if (strnlen(name, strsize - syms[k].st_name) == strsize - syms[k].st_name)
        continue; /* not terminated inside the table */
      fn(name, syms[k].st_value, syms[k].st_size, arg);
    }
    return true;
  }
  return false;
}

/* The function index a package symbol belongs to (kiln_f<index>...,
 * kiln_i<index>..., kiln_o<index>...; gcc may add a suffix such as ".constprop.0"), or -1. */
static inline int64_t kiln_elf_function_index(const char *name) {
  size_t n = strlen(KILN_PACKAGE_ENTRY_PREFIX);
  if (strncmp(name, KILN_PACKAGE_ENTRY_PREFIX, n) != 0 &&
      strncmp(name, KILN_PACKAGE_INTERNAL_PREFIX, n) != 0 &&
      strncmp(name, KILN_PACKAGE_OSR_PREFIX, n) != 0)
    return -1;
  const char *d = name + n;
  if (*d < '0' || *d > '9')
    return -1;
  uint64_t x = 0;
  for (; *d >= '0' && *d <= '9'; d++)
    if ((x = x * 10 + (uint64_t)(*d - '0')) > UINT32_MAX)
      return -1;
  return (int64_t)x;
}

#endif
