/* args_env.c: the script sees exactly the arguments and environment given
 * to `kiln run`, and nothing of kiln's own environment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

int main(int argc, char **argv) {
  printf("argc=%d\n", argc);
  const char *base = strrchr(argv[0], '/');
  printf("argv[0] ends with args_env.wasm: %s\n",
         strcmp(base ? base + 1 : argv[0], "args_env.wasm") == 0 ? "yes" : "no");
  for (int i = 1; i < argc; i++)
    printf("argv[%d]=[%s]\n", i, argv[i]);
  const char *a = getenv("KILN_A");
  printf("KILN_A=%s\n", a ? a : "(unset)");
  const char *home = getenv("HOME");
  printf("HOME=%s\n", home ? home : "(unset)");
  for (char **e = environ; *e; e++)
    printf("environ: [%s]\n", *e);
  return 0;
}
