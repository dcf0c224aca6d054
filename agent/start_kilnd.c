/*
 * start_kilnd.c: how the `kiln` command starts a compile service when none
 * answers, as a build tool starts its cache server.
 *
 * The kilnd started is the one installed beside `kiln` (or, in a build tree,
 * the one in service/), unless KILN_KILND names another. It detaches by
 * itself and returns once it listens; it then lives on its own, in its own
 * session, its log in kilnd.log beside its socket, until it has been idle
 * for the given time. Two `kiln run` racing to start one are safe: kilnd
 * locks its endpoint, so the second start fails and both use the first.
 */
#include "start_kilnd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"

/* kilnd's path: $KILN_KILND, or beside this executable, or in a build
 * tree's service/, or found on PATH by execvp. */
static void find_kilnd(char *out, size_t n) {
  const char *env = getenv("KILN_KILND");
  if (env && *env) {
    snprintf(out, n, "%s", env);
    return;
  }
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len > 0) {
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = '\0';
      const char *tries[] = {"/kilnd", "/../service/kilnd"};
      for (size_t i = 0; i < sizeof tries / sizeof *tries; i++) {
        snprintf(out, n, "%s%s", self, tries[i]);
        if (access(out, X_OK) == 0)
          return;
      }
    }
  }
  snprintf(out, n, "kilnd");
}

int start_kilnd(const char *endpoint, long idle_seconds, char *err, size_t n) {
  char def[4200], log[4300], exe[PATH_MAX + 32], idle[32];
  if (!endpoint) {
    if (kiln_default_endpoint(def, sizeof def, err, n) != 0)
      return -1;
    endpoint = def;
  }
  const char *path = kiln_ipc_path(endpoint);
  if (!path) {
    snprintf(err, n, "%s is not an ipc:// endpoint, so kiln cannot start a kilnd there", endpoint);
    return -1;
  }
  const char *slash = strrchr(path, '/');
  snprintf(log, sizeof log, "%.*skilnd.log", slash ? (int)(slash - path + 1) : 0, path);
  find_kilnd(exe, sizeof exe);
  snprintf(idle, sizeof idle, "%ld", idle_seconds);

  /* Opened here, so that a kilnd that cannot log (its directory missing,
   * say) is never started and the reason reaches the user. */
  int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) {
    snprintf(err, n, "cannot start kilnd: its log %s: %s", log, strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, n, "cannot start kilnd: %s", strerror(errno));
    close(out);
    return -1;
  }
  if (pid == 0) {
    int in = open("/dev/null", O_RDWR);
    if (in >= 0) {
      dup2(in, STDIN_FILENO);
      dup2(in, STDOUT_FILENO);
    }
    dup2(out, STDERR_FILENO);
    setsid(); /* not in the terminal's process group: ^C of a script spares it */
    execlp(exe, exe, "--idle", idle, "--endpoint", endpoint, (char *)NULL);
    _exit(127);
  }
  close(out);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    snprintf(err, n, "cannot run %s (set KILN_KILND to kilnd's path)", exe);
    return -1;
  }
  /* Exit 1 may be a kilnd that lost the race to another: the caller tries
   * the endpoint either way, and its log says which. */
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    snprintf(err, n, "kilnd did not start (see %s)", log);
    return -1;
  }
  return 0;
}
