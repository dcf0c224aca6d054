/*
 * trap.c: the one way a running script stops abnormally.
 *
 * Every tier reports a trap the same way: trap_raise writes the line the user
 * sees into the thread and longjmps to the boundary where the host entered
 * (kiln_call, or instantiation). Nothing on the way needs cleanup, which is
 * what lets compiled code and the interpreter share the mechanism.
 */
#include <stdio.h>
#include <stdlib.h>

#include "runtime.h"

/* The spec's own wording, so the conformance runner and users see the same
 * text as every other engine prints. */
const char *trap_text(TrapCode code) {
  switch (code) {
  case TRAP_NONE:
    return "no trap";
  case TRAP_UNREACHABLE:
    return "unreachable";
  case TRAP_INT_DIV_ZERO:
    return "integer divide by zero";
  case TRAP_INT_OVERFLOW:
    return "integer overflow";
  case TRAP_INVALID_CONVERSION:
    return "invalid conversion to integer";
  case TRAP_MEMORY_OOB:
    return "out of bounds memory access";
  case TRAP_TABLE_OOB:
    return "out of bounds table access";
  case TRAP_UNDEFINED_ELEMENT:
    return "undefined element";
  case TRAP_UNINITIALIZED_ELEMENT:
    return "uninitialized element";
  case TRAP_INDIRECT_MISMATCH:
    return "indirect call type mismatch";
  case TRAP_STACK_EXHAUSTED:
    return "call stack exhausted";
  case TRAP_HOST:
    return "host function trapped";
  case TRAP_EXIT:
    return "exit";
  }
  return "unknown trap";
}

char *trap_name_text(char *dst, size_t size, const char *name, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len && n + 1 < size; i++) {
    unsigned char c = (unsigned char)name[i];
    dst[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
  }
  if (size)
    dst[n] = '\0';
  return dst;
}

/* " in $name (func 12)", " in func 12", or " in host function "m" "n"". */
static void describe_place(const FuncInst *f, char *buf, size_t size) {
  buf[0] = '\0';
  if (!f)
    return;
  if (f->host) {
    const char *name = host_func_name(f);
    snprintf(buf, size, " in host function %s", name ? name : "?");
    return;
  }
  if (!f->inst || !f->inst->module || !f->inst->module->wasm)
    return;
  const WasmModule *m = f->inst->module->wasm;
  const WasmName *name = f->index < m->nfuncs ? &m->funcs[f->index].name : NULL;
  char text[200];
  if (name && name->str)
    snprintf(buf, size, " in $%s (func %u)",
             trap_name_text(text, sizeof text, name->str, name->len), f->index);
  else
    snprintf(buf, size, " in func %u", f->index);
}

_Noreturn void trap_raise(Thread *t, const FuncInst *where, TrapCode code) {
  t->trap = code;
  /* A host trap arrives with its message already written by the host
   * (kiln_caller_trap); an exit is no error and needs no line. */
  if (code != TRAP_HOST && code != TRAP_EXIT) {
    char place[300];
    describe_place(where, place, sizeof place);
    snprintf(t->message, sizeof t->message, "trap: %s%s", trap_text(code), place);
  } else if (code == TRAP_HOST && t->message[0] == '\0') {
    snprintf(t->message, sizeof t->message, "trap: %s", trap_text(code));
  }
  if (!t->boundary) {
    /* Only reachable through a bug: code ran outside any kiln_call. */
    fprintf(stderr, "kiln: internal error: %s outside of a call\n", t->message);
    abort();
  }
  longjmp(*t->boundary, 1);
}
