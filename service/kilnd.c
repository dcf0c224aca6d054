/*
 * kilnd.c: kilnd's options, main, and its log line.
 *
 * Settings come from config.c's one table of options: defaults, then the
 * config file, then the flags. A bad flag, key or value gets one "kilnd: "
 * line and exit status 2.
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

/* Defaults, the file, then the flags again on top. Returns 0, 1 for
 * --help, or -1 after the one error line. */
static int configure(int argc, char **argv, KilndConfig *cfg) {
  char err[1024], path[4096];
  config_defaults(cfg);
  /* The flags first, alone: they name the file, and a bad flag is
   * reported before anything is read. */
  int rc = config_parse_args(argc, argv, cfg, err, sizeof err);
  if (rc != 0 || cfg->worker) /* workers get every setting as a flag */
    goto out;
  const char *file = cfg->config ? cfg->config : config_default_path(path, sizeof path);
  if (file) {
    config_defaults(cfg);
    if ((rc = config_read_file(file, cfg, err, sizeof err)) != 0)
      goto out;
    rc = config_parse_args(argc, argv, cfg, err, sizeof err);
  }
  if (rc == 0)
    rc = config_check(cfg, err, sizeof err);
out:
  if (rc < 0)
    fprintf(stderr, "kilnd: %s\n", err);
  return rc;
}

static int serve(KilndConfig *cfg);

int main(int argc, char **argv) {
  KilndConfig cfg;
  int rc = configure(argc, argv, &cfg);
  if (rc == 1) {
    config_usage(stdout);
    config_free(&cfg);
    return 0;
  }
  if (rc < 0) {
    config_free(&cfg);
    return 2;
  }
  rc = serve(&cfg);
  config_free(&cfg);
  return rc;
}

/* The configured kilnd: a worker, or the service (detached unless
 * --foreground). */
static int serve(KilndConfig *cfg_in) {
  KilndConfig cfg = *cfg_in;
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
  if (cfg.feed && strcmp(cfg.feed, "none") != 0 && !kiln_ipc_path(cfg.feed)) {
    fprintf(stderr, "kilnd: only ipc:// feeds are supported, not '%s'\n", cfg.feed);
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
