/*
 * reader.h: a bounded byte reader for the WebAssembly binary format, shared
 * by the decoder and the validator (internal to core/).
 *
 * The reader never reads past `end`. The first failure is remembered (message
 * and offset) and moves the cursor to `end`, so every later read fails too and
 * callers may check for an error once after a group of reads instead of after
 * each one. Offsets are counted from `base`, the start of the binary, so
 * they can be shown to the user as they are.
 */
#ifndef KILN_READER_H
#define KILN_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
  const uint8_t *base; /* start of the whole binary */
  const uint8_t *p, *end;
  const char *err; /* first error, NULL while all reads succeeded */
  size_t err_off;
} Reader;

static inline Reader rd_make(const uint8_t *base, const uint8_t *p, const uint8_t *end) {
  Reader r = {base, p, end, NULL, 0};
  return r;
}

static inline size_t rd_off(const Reader *r) {
  return (size_t)(r->p - r->base);
}
static inline size_t rd_left(const Reader *r) {
  return (size_t)(r->end - r->p);
}
static inline bool rd_ok(const Reader *r) {
  return r->err == NULL;
}

/* Record the first error at offset off and stop the reader. */
static inline void rd_fail_at(Reader *r, size_t off, const char *msg) {
  if (!r->err) {
    r->err = msg;
    r->err_off = off;
  }
  r->p = r->end;
}

static inline void rd_fail(Reader *r, const char *msg) {
  rd_fail_at(r, rd_off(r), msg);
}

static inline uint8_t rd_u8(Reader *r) {
  if (r->p >= r->end) {
    rd_fail(r, "unexpected end");
    return 0;
  }
  return *r->p++;
}

/* LEB128 of at most `bits` bits. The spec bounds the encoding to
 * ceil(bits / 7) bytes, and the unused high bits of the last byte must be
 * zero (unsigned) or copies of the sign bit (signed). */
static inline uint64_t rd_leb(Reader *r, unsigned bits, bool is_signed) {
  const unsigned maxlen = (bits + 6) / 7;
  const size_t start = rd_off(r);
  uint64_t v = 0;
  for (unsigned i = 0; i < maxlen; i++) {
    if (r->p >= r->end) {
      rd_fail(r, "unexpected end");
      return 0;
    }
    uint8_t b = *r->p++;
    unsigned shift = 7 * i;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (i == maxlen - 1) {
      if (b & 0x80) {
        rd_fail_at(r, start, "integer representation too long");
        return 0;
      }
      unsigned used = bits - shift; /* value bits held by this byte */
      if (used < 7) {
        uint8_t rest = (uint8_t)((b & 0x7f) >> used);
        uint8_t want = 0;
        if (is_signed && ((b >> (used - 1)) & 1))
          want = (uint8_t)(0x7f >> used);
        if (rest != want) {
          rd_fail_at(r, start, "integer too large");
          return 0;
        }
      }
    }
    if (!(b & 0x80)) {
      shift += 7;
      if (is_signed && shift < 64 && (b & 0x40))
        v |= ~(uint64_t)0 << shift;
      return v;
    }
  }
  return v; /* not reached: the last byte either returns or fails */
}

static inline uint32_t rd_u32(Reader *r) {
  return (uint32_t)rd_leb(r, 32, false);
}
static inline int32_t rd_s32(Reader *r) {
  return (int32_t)(uint32_t)rd_leb(r, 32, true);
}
static inline int64_t rd_s33(Reader *r) {
  return (int64_t)rd_leb(r, 33, true);
}
static inline int64_t rd_s64(Reader *r) {
  return (int64_t)rd_leb(r, 64, true);
}

/* n raw bytes; NULL (with an error) when fewer remain. */
static inline const uint8_t *rd_bytes(Reader *r, size_t n) {
  if (n > rd_left(r)) {
    rd_fail(r, "unexpected end");
    return NULL;
  }
  const uint8_t *p = r->p;
  r->p += n;
  return p;
}

/* Little-endian fixed-width values (float constants), as raw bits. */
static inline uint64_t rd_fixed(Reader *r, unsigned n) {
  const uint8_t *p = rd_bytes(r, n);
  uint64_t v = 0;
  for (unsigned i = 0; p && i < n; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* A vector count that announces at least `min_size` bytes per element must
 * fit in what is left; checking this first keeps a forged count from causing
 * a huge allocation before the bytes to back it exist. */
static inline uint32_t rd_count(Reader *r, size_t min_size) {
  size_t off = rd_off(r);
  uint32_t n = rd_u32(r);
  if (rd_ok(r) && min_size && n > rd_left(r) / min_size)
    rd_fail_at(r, off, "length out of bounds");
  return rd_ok(r) ? n : 0;
}

/* Internal pseudo-opcodes the decoder leaves in a WasmConstExpr that is not
 * a single constant instruction; the validator turns them into errors. No
 * valid constant expression uses these opcodes, so a validated module never
 * contains them. */
enum {
  KILN_CONST_NOT_CONST = 0x00, /* value: the offending opcode */
  KILN_CONST_EMPTY = 0x0b, /* no instruction before `end` */
  KILN_CONST_TOO_MANY = 0x01, /* more than one constant instruction */
};

#endif
