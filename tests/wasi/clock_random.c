/* clock_random.c: clocks move the right way, sleeping sleeps, random bytes
 * are random. Prints only facts that hold on any machine. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

static int64_t ns(clockid_t id) {
  struct timespec ts;
  if (clock_gettime(id, &ts) != 0)
    return -1;
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(void) {
  int64_t prev = ns(CLOCK_MONOTONIC), first = prev;
  int increasing = prev > 0;
  for (int i = 0; i < 10000; i++) {
    int64_t now = ns(CLOCK_MONOTONIC);
    if (now < prev)
      increasing = 0;
    prev = now;
  }
  printf("monotonic never goes back: %s\n", increasing ? "yes" : "no");
  printf("monotonic advanced: %s\n", prev > first ? "yes" : "no");

  struct timespec res;
  printf("monotonic resolution > 0: %s\n",
         clock_getres(CLOCK_MONOTONIC, &res) == 0 && (res.tv_sec || res.tv_nsec) ? "yes" : "no");
  /* 2020-01-01 and 2100-01-01 */
  int64_t real = ns(CLOCK_REALTIME) / 1000000000;
  printf("realtime is plausible: %s\n", real > 1577836800 && real < 4102444800 ? "yes" : "no");
  printf("process cpu time readable: %s\n", ns(CLOCK_PROCESS_CPUTIME_ID) >= 0 ? "yes" : "no");

  int64_t t0 = ns(CLOCK_MONOTONIC);
  struct timespec nap = {0, 20 * 1000 * 1000};
  nanosleep(&nap, NULL); /* poll_oneoff with a relative clock */
  int64_t slept = ns(CLOCK_MONOTONIC) - t0;
  printf("nanosleep(20ms) slept >= 20ms: %s\n", slept >= 20000000 ? "yes" : "no");
  t0 = ns(CLOCK_MONOTONIC);
  usleep(5000);
  printf("usleep(5ms) slept >= 5ms: %s\n", ns(CLOCK_MONOTONIC) - t0 >= 5000000 ? "yes" : "no");

  static uint8_t a[1 << 16], b[1 << 16];
  int ok = __wasi_random_get(a, sizeof a) == 0 && __wasi_random_get(b, sizeof b) == 0;
  int nonzero = 0;
  for (size_t i = 0; i < sizeof a; i++)
    nonzero += a[i] != 0;
  printf("random_get works: %s\n", ok ? "yes" : "no");
  printf("random bytes differ: %s\n", memcmp(a, b, sizeof a) != 0 ? "yes" : "no");
  printf("random bytes mostly nonzero: %s\n", nonzero > (int)sizeof a / 2 ? "yes" : "no");
  uint8_t e[32] = {0};
  printf("getentropy works: %s\n", getentropy(e, sizeof e) == 0 ? "yes" : "no");
  return 0;
}
