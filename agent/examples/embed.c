/*
 * embed.c: the smallest useful program that embeds Kiln through kiln.h.
 *
 *   embed FILE.wasm A B
 *
 * Loads FILE.wasm, gives it a host function "host" "square" (i32) -> i32,
 * calls its export "sum_of_squares" with A and B and prints the result; then
 * calls "divide" with A and 0 to show how a trap is reported. Any failure
 * prints kiln_error's one line and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>

#include "kiln.h"

/* The host function: the script calls it like any of its own. data is
 * whatever pointer was given to kiln_define_func; here a call counter. */
static kiln_status square(kiln_caller *caller, void *data, const kiln_value *args,
                          kiln_value *results) {
  (void)caller;
  int *calls = data;
  ++*calls;
  results[0] = KILN_I32_VAL(args[0].of.i32 * args[0].of.i32);
  return KILN_OK;
}

static int fail(kiln_runtime *rt) {
  fprintf(stderr, "embed: %s\n", kiln_error(rt));
  kiln_runtime_free(rt);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: embed FILE.wasm A B\n");
    return 2;
  }
  int a = atoi(argv[2]), b = atoi(argv[3]), calls = 0;

  kiln_runtime *rt = kiln_runtime_new(NULL);
  if (!rt) {
    fprintf(stderr, "embed: out of memory\n");
    return 1;
  }
  const kiln_type i32 = KILN_I32;
  if (kiln_define_func(rt, "host", "square", &i32, 1, &i32, 1, square, &calls) != KILN_OK)
    return fail(rt);
  kiln_module *m = kiln_module_load(rt, argv[1]);
  kiln_instance *in = m ? kiln_instantiate(rt, m, "squares") : NULL;
  kiln_func *f = in ? kiln_instance_func(in, "sum_of_squares") : NULL;
  if (!in)
    return fail(rt);
  if (!f) {
    fprintf(stderr, "embed: %s: no export \"sum_of_squares\"\n", argv[1]);
    kiln_runtime_free(rt);
    return 1;
  }

  kiln_value args[2] = {KILN_I32_VAL(a), KILN_I32_VAL(b)}, result[1];
  if (kiln_call(rt, f, args, 2, result, 1) != KILN_OK)
    return fail(rt);
  printf("sum_of_squares(%d, %d) = %d (host function called %d times)\n", a, b, result[0].of.i32,
         calls);

  /* A trap is an ordinary return value, never a crash of the host. */
  kiln_func *divide = kiln_instance_func(in, "divide");
  args[1] = KILN_I32_VAL(0);
  if (divide && kiln_call(rt, divide, args, 2, result, 1) == KILN_TRAP)
    printf("divide(%d, 0) trapped: %s\n", a, kiln_error(rt));

  kiln_runtime_free(rt);
  return 0;
}
