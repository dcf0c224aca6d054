/*
 * kilnd.c: kilnd's options, main, and its log line.
 *
 * Every option is one row of `options` below, with its default and its help
 * text: parsing, defaults and `--help` all come from that table. Bad flags get
 * one "kilnd: " line and exit status 2.
 *
 * Without --foreground kilnd detaches (as `kiln run` wants when it starts one
 * itself): the parent returns only once the daemon has bound its endpoint, so
 * a client can connect at once, and exits 1 if the daemon failed to start.
 * The daemon keeps the stderr it was given for its log.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kilnd.h"

typedef enum { OPT_STR, OPT_LONG, OPT_FLAG } OptType;

typedef struct {
  const char *name;
  OptType type;
  size_t offset; /* into KilndConfig */
  long min, max; /* OPT_LONG only */
  const char *arg, *help; /* help NULL: hidden */
} Option;

#define OFF(field) offsetof(KilndConfig, field)
static const Option options[] = {
    {"endpoint", OPT_STR, OFF(endpoint), 0, 0, "ipc://PATH",
     "where to listen (default ipc://$XDG_RUNTIME_DIR/kiln/" KILN_SOCKET_NAME ")"},
    {"workers", OPT_LONG, OFF(workers), 0, 256, "N",
     "compiler processes (default 0: one per core)"},
    {"idle", OPT_LONG, OFF(idle), 0, LONG_MAX / 2, "SECONDS",
     "exit after this long with no agent connected and no requests (default 0: never)"},
    {"cache", OPT_STR, OFF(cache), 0, 0, "DIR",
     "packages kept across runs (default $XDG_CACHE_HOME/kiln or ~/.cache/kiln; none: off)"},
    {"foreground", OPT_FLAG, OFF(foreground), 0, 0, NULL, "do not detach (for systemd and tests)"},
    {"job-timeout", OPT_LONG, OFF(job_timeout), 1, 86400, "SECONDS",
     "time limit of one compile job (default 60)"},
    {"max-message", OPT_LONG, OFF(max_message), 1024, 1L << 30, "BYTES",
     "largest message accepted, a module upload included (default 64 MiB)"},
    {"max-queue", OPT_LONG, OFF(max_queue), 1, 1000000, "N",
     "compile jobs waiting before requests are refused (default 1024)"},
    {"policy", OPT_STR, OFF(policy), 0, 0, "coverage|share",
     "how heat maps become tiers: the fewest functions covering --hot% of self time are hot, "
     "--warm% hot or warm (coverage, default); or each function's share of self time against "
     "--hot% and --warm% (share)"},
    {"hot", OPT_LONG, OFF(hot), 1, 100, "PERCENT", "hot threshold (default 80 for either policy)"},
    {"warm", OPT_LONG, OFF(warm), 1, 100, "PERCENT",
     "warm threshold (default 95 for coverage, 20 for share)"},
    {"worker", OPT_STR, OFF(worker), 0, 0, "ENDPOINT", NULL},
    {"worker-id", OPT_LONG, OFF(worker_id), 0, 1000000, "N", NULL},
    {"test-job-delay", OPT_LONG, OFF(test_job_delay), 0, 3600000, "MS", NULL},
};

static const KilndConfig defaults = {
    .workers = 0,
    .idle = 0,
    .job_timeout = 60,
    .max_message = KILN_DEFAULT_MAX_MESSAGE,
    .max_queue = 1024,
};

static void usage(FILE *f) {
  fprintf(f, "usage: kilnd [OPTION]...\nThe Kiln compile service.\n\n");
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
    const Option *o = &options[i];
    if (!o->help)
      continue;
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    fprintf(f, "  %-24s %s\n", left, o->help);
  }
  fprintf(f, "  %-24s %s\n", "--help", "this text");
}

/* Returns 0, 1 for --help, or -1 after printing the one error line. */
static int parse_args(int argc, char **argv, KilndConfig *cfg) {
  *cfg = defaults;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
      return 1;
    if (strncmp(a, "--", 2) != 0) {
      fprintf(stderr, "kilnd: unexpected argument '%s' (see kilnd --help)\n", a);
      return -1;
    }
    /* --name=value and --name value are both accepted. */
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    const Option *o = NULL;
    for (size_t k = 0; k < sizeof options / sizeof options[0]; k++)
      if (strlen(options[k].name) == nlen && strncmp(options[k].name, name, nlen) == 0)
        o = &options[k];
    if (!o) {
      fprintf(stderr, "kilnd: unknown option '%s' (see kilnd --help)\n", a);
      return -1;
    }
    char *field = (char *)cfg + o->offset;
    if (o->type == OPT_FLAG) {
      if (eq) {
        fprintf(stderr, "kilnd: --%s takes no value\n", o->name);
        return -1;
      }
      *(bool *)field = true;
      continue;
    }
    const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!val) {
      fprintf(stderr, "kilnd: --%s needs a value (%s)\n", o->name, o->arg);
      return -1;
    }
    if (o->type == OPT_STR) {
      if (!*val) {
        fprintf(stderr, "kilnd: --%s needs a non-empty value\n", o->name);
        return -1;
      }
      *(const char **)field = val;
      continue;
    }
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end || v < o->min || v > o->max) {
      fprintf(stderr, "kilnd: --%s wants a whole number from %ld to %ld, not '%s'\n", o->name,
              o->min, o->max, val);
      return -1;
    }
    *(long *)field = v;
  }
  return 0;
}

void kd_log(const char *fmt, ...) {
  /* One write per line, so lines from the broker and its workers sharing
   * stderr never interleave mid-line. */
  char line[1024];
  int n = snprintf(line, sizeof line, "kilnd[%ld]: ", (long)getpid());
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = strlen(line);
  line[len++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w; /* nowhere left to report a failing stderr */
}

double kd_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ready_fd = -1;

void kd_ready(void) {
  if (ready_fd >= 0) {
    ssize_t w = write(ready_fd, "1", 1);
    (void)w; /* the parent sees EOF as failure either way */
    close(ready_fd);
    ready_fd = -1;
  }
}

/* Forks; the parent waits for kd_ready (exit 0) or for the daemon to give up
 * (EOF: exit 1; the daemon has printed why). Returns in the daemon. */
static void detach(void) {
  int fds[2];
  if (pipe(fds) != 0) {
    fprintf(stderr, "kilnd: cannot detach: %s\n", strerror(errno));
    exit(1);
  }
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "kilnd: cannot detach: %s\n", strerror(errno));
    exit(1);
  }
  if (pid > 0) {
    close(fds[1]);
    char c;
    ssize_t n;
    while ((n = read(fds[0], &c, 1)) < 0 && errno == EINTR)
      ;
    _exit(n == 1 ? 0 : 1);
  }
  close(fds[0]);
  ready_fd = fds[1];
  setsid(); /* no controlling terminal: a closing shell does not take us down */
  /* stdin and stdout are never used; keeping a caller's pipe open would
   * make it wait for the daemon's exit. */
  if (!freopen("/dev/null", "r", stdin) || !freopen("/dev/null", "w", stdout))
    kd_log("cannot reopen stdin/stdout on /dev/null: %s", strerror(errno));
  if (chdir("/") != 0)
    kd_log("cannot chdir to /: %s", strerror(errno));
}

int main(int argc, char **argv) {
  KilndConfig cfg;
  int rc = parse_args(argc, argv, &cfg);
  if (rc == 1) {
    usage(stdout);
    return 0;
  }
  if (rc < 0)
    return 2;
  /* A client that goes away must not kill us through a write. */
  signal(SIGPIPE, SIG_IGN);
  if (cfg.worker)
    return worker_main(&cfg);
  /* Resolved once here, so every worker gets the same absolute path. */
  static char cache[4096];
  char err[512];
  if (cfg.cache && strcmp(cfg.cache, "none") == 0) {
    cfg.cache = NULL;
  } else if (store_cache_dir(cfg.cache, cache, sizeof cache, err, sizeof err) == 0) {
    cfg.cache = cache;
  } else {
    kd_log("package cache disabled: %s", err);
    cfg.cache = NULL;
  }
  if (cfg.endpoint && !kiln_ipc_path(cfg.endpoint)) {
    /* tcp:// needs CURVE (PRODUCT.md); plain text is never offered. */
    fprintf(stderr, "kilnd: only ipc:// endpoints are supported, not '%s'\n", cfg.endpoint);
    return 2;
  }
  if (cfg.policy && strcmp(cfg.policy, "coverage") != 0 && strcmp(cfg.policy, "share") != 0) {
    fprintf(stderr, "kilnd: --policy %s: unknown policy (expected coverage or share)\n",
            cfg.policy);
    return 2;
  }
  if (cfg.workers == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cfg.workers = n > 0 ? n : 1;
  }
  if (!cfg.foreground)
    detach();
  return broker_run(&cfg);
}
