/* exit_code.c MODE N: ends with status N, after buffered output that must
 * not be lost. MODE: "exit" calls exit(N), "return" returns N from main. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 3)
    return 100;
  int n = atoi(argv[2]);
  printf("before exit %d\n", n); /* buffered: a pipe is not a terminal */
  fprintf(stderr, "stderr before exit %d\n", n);
  if (strcmp(argv[1], "exit") == 0)
    exit(n);
  return n;
}
