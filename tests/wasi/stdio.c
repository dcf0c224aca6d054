/* stdio.c [N]: stdin to stdout, upper-cased, with a line count on stderr;
 * then N numbered lines, so a large output can be checked for losses. */
#include <ctype.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  /* poll_oneoff with an fd subscription: stdin has data or is at its end,
   * so it is ready well before the timeout. */
  struct pollfd p = {.fd = 0, .events = POLLIN};
  fprintf(stderr, "poll stdin: %d\n", poll(&p, 1, 10000));
  int c, lines = 0;
  while ((c = getchar()) != EOF) {
    putchar(toupper(c));
    if (c == '\n')
      lines++;
  }
  fprintf(stderr, "%d lines read\n", lines);
  long n = argc > 1 ? atol(argv[1]) : 0;
  for (long i = 0; i < n; i++)
    printf("line %ld\n", i);
  return 0;
}
