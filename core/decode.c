/*
 * decode.c: the WebAssembly binary format into a WasmModule.
 *
 * Every section is read with its own bounded Reader, so a lying size can
 * never make one section read into the next. Function bodies are not decoded
 * here: they stay byte ranges that the validator walks. Constant expressions
 * are read here, and anything in them that is not a single constant
 * instruction is left as a pseudo-opcode (reader.h) for the validator, since
 * the spec calls those modules invalid, not malformed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opcodes.h"
#include "reader.h"
#include "wasm.h"

typedef struct {
  Reader r;
  WasmModule *m;
  uint32_t cap[4]; /* capacity of each index space while imports arrive */
  uint32_t nfunc_decls; /* entries in the function section */
  bool have_code, have_data;
  int64_t cur_func; /* function whose code entry is being read, or -1 */
  const uint8_t *names; /* the first "name" custom section, read last */
  size_t names_len;
} Decoder;

/* ---------------------------------------------------------------- helpers */

/* Grow an index-space or section array from `used` to `used + more` zeroed
 * elements. Counts were checked against the bytes left before we get here,
 * so the size stays bounded by the input. */
static bool grow(Reader *r, void *arrp, size_t used, size_t more, size_t size) {
  void **arr = arrp;
  if (more == 0)
    return true;
  size_t total = used + more;
  if (total > SIZE_MAX / size) {
    rd_fail(r, "out of memory");
    return false;
  }
  void *p = realloc(*arr, total * size);
  if (!p) {
    rd_fail(r, "out of memory");
    return false;
  }
  memset((char *)p + used * size, 0, more * size);
  *arr = p;
  return true;
}

/* Room for one more element at arr[used], doubling the capacity, so memory
 * follows the entries actually read, not a count the module announces. */
static bool reserve(Reader *r, void *arrp, uint32_t *cap, uint32_t used, size_t size) {
  if (used < *cap)
    return true;
  uint32_t more = *cap ? *cap : 4;
  if (!grow(r, arrp, *cap, more, size))
    return false;
  *cap += more;
  return true;
}

static bool utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    uint32_t cp;
    size_t len;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false; /* stray continuation byte, overlong lead, or > U+10FFFF */
    }
    if (n - i < len)
      return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return false;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
      return false; /* overlong, or a UTF-16 surrogate */
    if (len == 4 && (cp < 0x10000 || cp > 0x10ffff))
      return false;
    i += len;
  }
  return true;
}

/* A NUL-terminated copy, so users may treat names as C strings too. */
static bool copy_name(Reader *r, WasmName *out, const uint8_t *p, uint32_t len) {
  char *s = malloc((size_t)len + 1);
  if (!s) {
    rd_fail(r, "out of memory");
    return false;
  }
  if (len)
    memcpy(s, p, len);
  s[len] = '\0';
  out->str = s;
  out->len = len;
  return true;
}

/* name ::= vec(byte), valid UTF-8; *p and *len give its bytes. */
static bool read_name_span(Reader *r, const uint8_t **p, uint32_t *len) {
  *len = rd_u32(r);
  if (!rd_ok(r))
    return false;
  if (*len > rd_left(r)) {
    rd_fail(r, "length out of bounds");
    return false;
  }
  size_t off = rd_off(r);
  *p = rd_bytes(r, *len);
  if (!utf8_valid(*p, *len)) {
    rd_fail_at(r, off, "malformed UTF-8 encoding");
    return false;
  }
  return true;
}

/* A name, copied into out unless out is NULL (then only checked). */
static bool read_name(Reader *r, WasmName *out) {
  const uint8_t *p;
  uint32_t len;
  if (!read_name_span(r, &p, &len))
    return false;
  return out ? copy_name(r, out, p, len) : true;
}

static bool is_valtype(uint8_t b) {
  return (b >= WASM_V128 && b <= WASM_I32) || b == WASM_FUNCREF || b == WASM_EXTERNREF;
}

static WasmValType read_valtype(Reader *r) {
  size_t off = rd_off(r);
  uint8_t b = rd_u8(r);
  if (rd_ok(r) && !is_valtype(b))
    rd_fail_at(r, off, "malformed value type");
  return b;
}

static WasmValType read_reftype(Reader *r) {
  size_t off = rd_off(r);
  uint8_t b = rd_u8(r);
  if (rd_ok(r) && b != WASM_FUNCREF && b != WASM_EXTERNREF)
    rd_fail_at(r, off, "malformed reference type");
  return b;
}

static WasmLimits read_limits(Reader *r) {
  WasmLimits l = {0, 0, false};
  size_t off = rd_off(r);
  uint8_t flags = rd_u8(r);
  if (rd_ok(r) && flags > 1) {
    /* 2 and 3 are the threads proposal's shared memories, 4.. memory64 */
    rd_fail_at(r, off, "malformed limits flags");
    return l;
  }
  l.min = rd_u32(r);
  if (flags == 1) {
    l.has_max = true;
    l.max = rd_u32(r);
  }
  return l;
}

static WasmTableType read_tabletype(Reader *r) {
  WasmTableType t;
  t.elem_type = read_reftype(r);
  t.limits = read_limits(r);
  return t;
}

static WasmGlobalType read_globaltype(Reader *r) {
  WasmGlobalType g;
  g.type = read_valtype(r);
  size_t off = rd_off(r);
  uint8_t mut = rd_u8(r);
  if (rd_ok(r) && mut > 1)
    rd_fail_at(r, off, "malformed mutability");
  g.mutable_ = mut == 1;
  return g;
}

/* --------------------------------------------------- constant expressions */

/* Skip the immediates of a non-constant instruction inside a constant
 * expression. It only has to find the expression's end (the module is
 * invalid anyway), but an unknown opcode is still malformed. The shapes are
 * opcodes.h's; unlike code_reader.h's skipper for validated bodies, every
 * read here is checked, since these bytes were never validated. */
static void skip_immediates(Reader *r, size_t off, uint8_t op) {
  WasmImm k = wasm_imm(op);
  if (k == WASM_IMM_PREFIX_FC)
    k = wasm_imm_fc(rd_u32(r));
  switch (k) {
  case WASM_IMM_NONE:
    return;
  case WASM_IMM_BLOCKTYPE:
    rd_s33(r);
    return;
  case WASM_IMM_U32:
    rd_u32(r);
    return;
  case WASM_IMM_U32_U32:
    rd_u32(r);
    rd_u32(r);
    return;
  case WASM_IMM_BYTE:
    rd_u8(r);
    return;
  case WASM_IMM_BYTE_BYTE:
    rd_u8(r);
    rd_u8(r);
    return;
  case WASM_IMM_U32_BYTE:
    rd_u32(r);
    rd_u8(r);
    return;
  case WASM_IMM_BR_TABLE: {
    uint32_t n = rd_count(r, 1);
    for (uint32_t i = 0; i <= n && rd_ok(r); i++)
      rd_u32(r);
    return;
  }
  case WASM_IMM_SELECT_T:
    rd_bytes(r, rd_count(r, 1));
    return;
  case WASM_IMM_S32:
    rd_s32(r);
    return;
  case WASM_IMM_S64:
    rd_s64(r);
    return;
  case WASM_IMM_F32:
    rd_bytes(r, 4);
    return;
  case WASM_IMM_F64:
    rd_bytes(r, 8);
    return;
  case WASM_IMM_PREFIX_FC:
  case WASM_IMM_ILLEGAL:
    break;
  }
  rd_fail_at(r, off, "illegal opcode");
}

/* constexpr ::= instr* 0x0b. WebAssembly 2.0 allows exactly one constant
 * instruction; other shapes are recorded as pseudo-opcodes. */
static WasmConstExpr read_const(Reader *r) {
  WasmConstExpr e = {KILN_CONST_EMPTY, 0, rd_off(r)};
  unsigned nconst = 0, depth = 0;
  bool nonconst = false;
  for (;;) {
    size_t off = rd_off(r);
    uint8_t op = rd_u8(r);
    if (!rd_ok(r))
      return e;
    uint64_t v = 0;
    switch (op) {
    case WASM_OP_END:
      if (depth == 0)
        return e;
      depth--;
      continue;
    case WASM_OP_I32_CONST:
      v = (uint32_t)rd_s32(r);
      break;
    case WASM_OP_I64_CONST:
      v = (uint64_t)rd_s64(r);
      break;
    case WASM_OP_F32_CONST:
      v = rd_fixed(r, 4);
      break;
    case WASM_OP_F64_CONST:
      v = rd_fixed(r, 8);
      break;
    case WASM_OP_GLOBAL_GET:
    case WASM_OP_REF_FUNC:
      v = rd_u32(r);
      break;
    case WASM_OP_REF_NULL:
      v = read_reftype(r);
      break;
    default:
      if (op >= WASM_OP_BLOCK && op <= WASM_OP_IF)
        depth++;
      skip_immediates(r, off, op);
      if (!nonconst) {
        e.op = KILN_CONST_NOT_CONST;
        e.value = op;
        e.offset = off;
        nonconst = true;
      }
      continue;
    }
    if (nonconst)
      continue;
    if (++nconst == 1) {
      e.op = op;
      e.value = v;
      e.offset = off;
    } else if (nconst == 2) {
      e.op = KILN_CONST_TOO_MANY;
      e.value = 0;
      e.offset = off;
    }
  }
}

/* --------------------------------------------------------------- sections */

static void read_types(Decoder *d, Reader *r) {
  WasmModule *m = d->m;
  uint32_t n = rd_count(r, 3);
  if (!grow(r, &m->types, 0, n, sizeof *m->types))
    return;
  for (uint32_t i = 0; i < n && rd_ok(r); i++) {
    size_t off = rd_off(r);
    if (rd_u8(r) != 0x60) {
      rd_fail_at(r, off, "malformed function type");
      return;
    }
    uint32_t np = rd_count(r, 1);
    const uint8_t *params = rd_bytes(r, np);
    uint32_t nr = rd_count(r, 1);
    const uint8_t *results = rd_bytes(r, nr);
    if (!rd_ok(r))
      return;
    for (size_t k = 0; k < (size_t)np + nr; k++) {
      const uint8_t *b = k < np ? &params[k] : &results[k - np];
      if (!is_valtype(*b)) {
        rd_fail_at(r, (size_t)(b - r->base), "malformed value type");
        return;
      }
    }
    WasmFuncType *t = &m->types[m->ntypes++];
    if (np + nr && !grow(r, &t->types, 0, (size_t)np + nr, 1))
      return;
    if (np)
      memcpy(t->types, params, np);
    if (nr)
      memcpy(t->types + np, results, nr);
    t->nparams = np;
    t->nresults = nr;
  }
}

static void read_imports(Decoder *d, Reader *r) {
  WasmModule *m = d->m;
  /* module name, name, kind and descriptor take at least four bytes */
  uint32_t n = rd_count(r, 4);
  if (!grow(r, &m->imports, 0, n, sizeof *m->imports))
    return;
  for (uint32_t i = 0; i < n && rd_ok(r); i++) {
    WasmImport *im = &m->imports[m->nimports++];
    if (!read_name(r, &im->module) || !read_name(r, &im->name))
      return;
    size_t off = rd_off(r);
    im->kind = rd_u8(r);
    switch (im->kind) {
    case WASM_EXTERN_FUNC:
      if (!reserve(r, &m->funcs, &d->cap[0], m->nfuncs, sizeof *m->funcs))
        return;
      m->funcs[m->nfuncs].type_index = rd_u32(r);
      m->funcs[m->nfuncs].imported = true;
      im->index = m->nfuncs++;
      m->nfunc_imports++;
      break;
    case WASM_EXTERN_TABLE:
      if (!reserve(r, &m->tables, &d->cap[1], m->ntables, sizeof *m->tables))
        return;
      m->tables[m->ntables].type = read_tabletype(r);
      m->tables[m->ntables].imported = true;
      im->index = m->ntables++;
      m->ntable_imports++;
      break;
    case WASM_EXTERN_MEMORY:
      if (!reserve(r, &m->memories, &d->cap[2], m->nmemories, sizeof *m->memories))
        return;
      m->memories[m->nmemories].limits = read_limits(r);
      m->memories[m->nmemories].imported = true;
      im->index = m->nmemories++;
      m->nmemory_imports++;
      break;
    case WASM_EXTERN_GLOBAL:
      if (!reserve(r, &m->globals, &d->cap[3], m->nglobals, sizeof *m->globals))
        return;
      m->globals[m->nglobals].type = read_globaltype(r);
      m->globals[m->nglobals].imported = true;
      im->index = m->nglobals++;
      m->nglobal_imports++;
      break;
    default:
      rd_fail_at(r, off, "malformed import kind");
      return;
    }
  }
}

static void read_functions(Decoder *d, Reader *r) {
  WasmModule *m = d->m;
  uint32_t n = rd_count(r, 1);
  if (!grow(r, &m->funcs, m->nfuncs, n, sizeof *m->funcs))
    return;
  for (uint32_t i = 0; i < n && rd_ok(r); i++)
    m->funcs[m->nfuncs++].type_index = rd_u32(r);
  d->nfunc_decls = n;
}

static void read_tables(Decoder *d, Reader *r) {
  WasmModule *m = d->m;
  uint32_t n = rd_count(r, 3);
  if (!grow(r, &m->tables, m->ntables, n, sizeof *m->tables))
    return;
  for (uint32_t i = 0; i < n && rd_ok(r); i++)
    m->tables[m->ntables++].type = read_tabletype(r);
}

static void read_memories(Decoder *d, Reader *r) {
  WasmModule *m = d->m;
  uint32_t n = rd_count(r, 2);
  if (!grow(r, &m->memories, m->nmemories, n, sizeof *m->memories))
    return;
  for (uint32_t i = 0; i < n && rd_ok(r); i++)
    m->memories[m->nmemories++].limits = read_limits(r);
}

static void read_globals(Decoder *d, Reader *r) {
  WasmModule *m = d->m;
  uint32_t n = rd_count(r, 3);
  if (!grow(r, &m->globals, m->nglobals, n, sizeof *m->globals))
    return;
  for (uint32_t i = 0; i < n && rd_ok(r); i++) {
    WasmGlobal *g = &m->globals[m->nglobals++];
    g->type = read_globaltype(r);
    g->init = read_const(r);
  }
}

static void read_exports(Decoder *d, Reader *r) {
  WasmModule *m = d->m;
  uint32_t n = rd_count(r, 3);
  if (!grow(r, &m->exports, 0, n, sizeof *m->exports))
    return;
  for (uint32_t i = 0; i < n && rd_ok(r); i++) {
    WasmExport *e = &m->exports[m->nexports++];
    if (!read_name(r, &e->name))
      return;
    size_t off = rd_off(r);
    e->kind = rd_u8(r);
    if (rd_ok(r) && e->kind > WASM_EXTERN_GLOBAL) {
      rd_fail_at(r, off, "malformed export kind");
      return;
    }
    e->index = rd_u32(r);
  }
}

static void read_start(Decoder *d, Reader *r) {
  d->m->start = rd_u32(r);
  d->m->has_start = rd_ok(r);
}

/* elem ::= flags:u32 then one of eight shapes. Bit 0: passive or
 * declarative (bit 1 says which); for active segments bit 1 means an
 * explicit table index. Bit 2: items are expressions, not function indices. */
static void read_elem(Reader *r, WasmElem *e) {
  size_t off = rd_off(r);
  uint32_t flags = rd_u32(r);
  if (!rd_ok(r))
    return;
  if (flags > 7) {
    rd_fail_at(r, off, "malformed elements segment kind");
    return;
  }
  e->mode = !(flags & 1) ? WASM_SEG_ACTIVE : (flags & 2) ? WASM_SEG_DECLARATIVE : WASM_SEG_PASSIVE;
  e->elem_type = WASM_FUNCREF;
  if (e->mode == WASM_SEG_ACTIVE) {
    e->table_index = (flags & 2) ? rd_u32(r) : 0;
    e->offset = read_const(r);
  }
  bool exprs = flags & 4;
  if (flags & 3) {
    if (exprs) {
      e->elem_type = read_reftype(r);
    } else {
      size_t koff = rd_off(r);
      if (rd_u8(r) != 0x00)
        rd_fail_at(r, koff, "malformed element kind");
    }
  }
  uint32_t n = rd_count(r, 1);
  if (!grow(r, &e->items, 0, n, sizeof *e->items))
    return;
  for (uint32_t i = 0; i < n && rd_ok(r); i++) {
    WasmConstExpr *it = &e->items[e->nitems++];
    if (exprs) {
      *it = read_const(r);
    } else {
      it->offset = rd_off(r);
      it->op = WASM_OP_REF_FUNC;
      it->value = rd_u32(r);
    }
  }
}

static void read_elems(Decoder *d, Reader *r) {
  WasmModule *m = d->m;
  uint32_t n = rd_count(r, 2);
  if (!grow(r, &m->elems, 0, n, sizeof *m->elems))
    return;
  for (uint32_t i = 0; i < n && rd_ok(r); i++)
    read_elem(r, &m->elems[m->nelems++]);
}

static void read_data_count(Decoder *d, Reader *r) {
  d->m->data_count = rd_u32(r);
  d->m->has_data_count = rd_ok(r);
}

/* code ::= size:u32 locals:vec(n:u32 t:valtype) expr. The expression stays a
 * byte range; the validator reads it. */
static void read_code_entry(Decoder *d, Reader *r, WasmFunc *f) {
  WasmModule *m = d->m;
  uint32_t size = rd_u32(r);
  if (!rd_ok(r))
    return;
  if (size > rd_left(r)) {
    rd_fail(r, "unexpected end of section or function");
    return;
  }
  Reader e = rd_make(r->base, r->p, r->p + size);
  r->p += size;
  uint32_t nparams = f->type_index < m->ntypes ? m->types[f->type_index].nparams : 0;
  uint32_t ngroups = rd_count(&e, 2);
  for (uint32_t g = 0; g < ngroups && rd_ok(&e); g++) {
    size_t off = rd_off(&e);
    uint32_t n = rd_u32(&e);
    WasmValType t = read_valtype(&e);
    if (!rd_ok(&e))
      break;
    /* checked before allocating: a two-byte group may announce 2^32 locals */
    if ((uint64_t)nparams + f->nlocals + n > WASM_MAX_LOCALS) {
      rd_fail_at(&e, off, "too many locals");
      break;
    }
    if (n == 0)
      continue;
    if (!grow(&e, &f->local_types, f->nlocals, n, 1))
      break;
    memset(f->local_types + f->nlocals, t, n);
    f->nlocals += n;
  }
  if (rd_ok(&e) && (uint64_t)nparams + f->nlocals > WASM_MAX_LOCALS)
    rd_fail_at(&e, rd_off(&e), "too many locals"); /* the parameters alone */
  if (!rd_ok(&e)) {
    rd_fail_at(r, e.err_off, e.err);
    return;
  }
  f->body = e.p;
  f->body_len = rd_left(&e);
  f->body_offset = rd_off(&e);
}

static void read_code(Decoder *d, Reader *r) {
  WasmModule *m = d->m;
  size_t off = rd_off(r);
  uint32_t n = rd_count(r, 2);
  if (rd_ok(r) && n != d->nfunc_decls) {
    rd_fail_at(r, off, "function and code section have inconsistent lengths");
    return;
  }
  d->have_code = true;
  for (uint32_t i = 0; i < n && rd_ok(r); i++) {
    d->cur_func = m->nfunc_imports + i;
    read_code_entry(d, r, &m->funcs[m->nfunc_imports + i]);
  }
  if (rd_ok(r))
    d->cur_func = -1;
}

static void read_data(Decoder *d, Reader *r) {
  WasmModule *m = d->m;
  size_t off = rd_off(r);
  uint32_t n = rd_count(r, 2);
  if (rd_ok(r) && m->has_data_count && n != m->data_count) {
    rd_fail_at(r, off, "data count and data section have inconsistent lengths");
    return;
  }
  d->have_data = true;
  if (!grow(r, &m->datas, 0, n, sizeof *m->datas))
    return;
  for (uint32_t i = 0; i < n && rd_ok(r); i++) {
    WasmData *s = &m->datas[m->ndatas++];
    size_t foff = rd_off(r);
    uint32_t flags = rd_u32(r);
    if (rd_ok(r) && flags > 2) {
      rd_fail_at(r, foff, "malformed data segment kind");
      return;
    }
    s->mode = flags == 1 ? WASM_SEG_PASSIVE : WASM_SEG_ACTIVE;
    if (flags == 2)
      s->memory_index = rd_u32(r);
    if (flags != 1)
      s->offset = read_const(r);
    s->len = rd_u32(r);
    if (rd_ok(r) && s->len > rd_left(r)) {
      rd_fail(r, "unexpected end of section or function");
      return;
    }
    s->bytes = rd_bytes(r, s->len);
  }
}

static void read_custom(Decoder *d, Reader *r) {
  const uint8_t *name;
  uint32_t len;
  if (!read_name_span(r, &name, &len))
    return;
  if (len == 4 && memcmp(name, "name", 4) == 0 && !d->names) {
    d->names = r->p;
    d->names_len = rd_left(r);
  }
  r->p = r->end; /* other custom sections carry nothing we use */
}

/* ------------------------------------------------------------ name section */

/* One pass over the name section; with commit false it only checks it.
 * Checking first means a malformed name section leaves no names behind: the
 * spec says such a section is ignored, never an error. */
static bool read_names(Decoder *d, bool commit) {
  WasmModule *m = d->m;
  Reader r = rd_make(d->r.base, d->names, d->names + d->names_len);
  int last_id = -1;
  while (rd_ok(&r) && rd_left(&r) > 0) {
    uint8_t id = rd_u8(&r);
    uint32_t size = rd_u32(&r);
    if (!rd_ok(&r) || size > rd_left(&r) || (int)id <= last_id)
      return false;
    last_id = id;
    Reader s = rd_make(r.base, r.p, r.p + size);
    r.p += size;
    if (id == 0) {
      if (!read_name(&s, commit ? &m->name : NULL))
        return false;
    } else if (id == 1) {
      uint32_t n = rd_count(&s, 2);
      uint32_t prev = 0;
      for (uint32_t i = 0; i < n && rd_ok(&s); i++) {
        uint32_t idx = rd_u32(&s);
        if (!rd_ok(&s) || idx >= m->nfuncs || (i > 0 && idx <= prev))
          return false;
        prev = idx;
        if (!read_name(&s, commit ? &m->funcs[idx].name : NULL))
          return false;
      }
    } else {
      s.p = s.end; /* local names and later subsections: not used */
    }
    if (!rd_ok(&s) || s.p != s.end)
      return false;
  }
  return rd_ok(&r);
}

/* Run after all sections: the name section may come before the function
 * section it names. Should allocation fail half-way, some names are simply
 * missing, which is harmless. */
static void read_name_section(Decoder *d) {
  if (d->names && read_names(d, false))
    read_names(d, true);
}

/* ----------------------------------------------------------------- module */

static const uint8_t section_rank[13] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 10};
static const char *const duplicate_msg[13] = {
    "",
    "multiple type sections",
    "multiple import sections",
    "multiple function sections",
    "multiple table sections",
    "multiple memory sections",
    "multiple global sections",
    "multiple export sections",
    "multiple start sections",
    "multiple element sections",
    "multiple code sections",
    "multiple data sections",
    "multiple data count sections",
};

static void read_section(Decoder *d, uint8_t id, Reader *s) {
  switch (id) {
  case 0:
    read_custom(d, s);
    break;
  case 1:
    read_types(d, s);
    break;
  case 2:
    read_imports(d, s);
    break;
  case 3:
    read_functions(d, s);
    break;
  case 4:
    read_tables(d, s);
    break;
  case 5:
    read_memories(d, s);
    break;
  case 6:
    read_globals(d, s);
    break;
  case 7:
    read_exports(d, s);
    break;
  case 8:
    read_start(d, s);
    break;
  case 9:
    read_elems(d, s);
    break;
  case 10:
    read_code(d, s);
    break;
  case 11:
    read_data(d, s);
    break;
  case 12:
    read_data_count(d, s);
    break;
  }
}

static void read_module(Decoder *d) {
  Reader *r = &d->r;
  const uint8_t *magic = rd_bytes(r, 4);
  if (!magic || memcmp(magic, "\0asm", 4) != 0) {
    rd_fail_at(r, 0, "magic header not detected");
    return;
  }
  const uint8_t *version = rd_bytes(r, 4);
  if (!version || memcmp(version, "\1\0\0\0", 4) != 0) {
    rd_fail_at(r, 4, "unknown binary version");
    return;
  }
  int last_rank = 0;
  while (rd_ok(r) && rd_left(r) > 0) {
    size_t off = rd_off(r);
    uint8_t id = rd_u8(r);
    uint32_t size = rd_u32(r);
    if (!rd_ok(r))
      return;
    if (id > 12) {
      rd_fail_at(r, off, "malformed section id");
      return;
    }
    if (size > rd_left(r)) {
      rd_fail(r, "length out of bounds: section size past the end");
      return;
    }
    if (id != 0) {
      if (section_rank[id] == last_rank) {
        rd_fail_at(r, off, duplicate_msg[id]);
        return;
      }
      if (section_rank[id] < last_rank) {
        rd_fail_at(r, off, "unexpected content after last section");
        return;
      }
      last_rank = section_rank[id];
    }
    Reader s = rd_make(r->base, r->p, r->p + size);
    r->p += size;
    read_section(d, id, &s);
    if (!rd_ok(&s))
      rd_fail_at(r, s.err_off, s.err);
    else if (s.p != s.end)
      rd_fail_at(r, rd_off(&s), "section size mismatch");
  }
  if (!rd_ok(r))
    return;
  if (!d->have_code && d->nfunc_decls > 0) {
    rd_fail(r, "function and code section have inconsistent lengths");
    return;
  }
  if (!d->have_data && d->m->has_data_count && d->m->data_count != 0) {
    rd_fail(r, "data count and data section have inconsistent lengths");
    return;
  }
  read_name_section(d);
}

WasmModule *wasm_decode(const uint8_t *bytes, size_t len, WasmError *err) {
  WasmModule *m = calloc(1, sizeof *m);
  uint8_t *copy = malloc(len ? len : 1);
  if (!m || !copy) {
    free(m);
    free(copy);
    if (err) {
      err->kind = WASM_ERR_MALFORMED;
      err->offset = 0;
      err->func = -1;
      strcpy(err->msg, "out of memory");
    }
    return NULL;
  }
  if (len)
    memcpy(copy, bytes, len);
  m->binary = copy;
  m->binary_len = len;
  wasm_module_hash(bytes, len, m->hash);

  Decoder d = {0};
  d.r = rd_make(copy, copy, copy + len);
  d.m = m;
  d.cur_func = -1;
  read_module(&d);
  if (rd_ok(&d.r))
    return m;
  if (err) {
    err->kind = WASM_ERR_MALFORMED;
    err->offset = d.r.err_off;
    err->func = d.cur_func;
    snprintf(err->msg, sizeof err->msg, "%s", d.r.err);
  }
  wasm_module_free(m);
  return NULL;
}
