/*
 * config.c: kilnd's option table, and the two places settings come from:
 * the command line and the config file. See config.h.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "partition.h"

typedef enum { OPT_STR, OPT_LONG, OPT_FLAG } OptType;

typedef struct {
  const char *name;
  OptType type;
  size_t offset; /* into KilndConfig */
  long min, max; /* OPT_LONG only */
  const char *arg, *help; /* help NULL: hidden, and never read from a file */
} Option;

#define OFF(field) offsetof(KilndConfig, field)
static const Option options[] = {
    {"config", OPT_STR, OFF(config), 0, 0, "FILE",
     "read settings from FILE (default $XDG_CONFIG_HOME/kiln/kilnd.conf when it exists); "
     "flags override it"},
    {"endpoint", OPT_STR, OFF(endpoint), 0, 0, "ipc://PATH",
     "where to listen (default ipc://$XDG_RUNTIME_DIR/kiln/" KILN_SOCKET_NAME ")"},
    {"feed", OPT_STR, OFF(feed), 0, 0, "ipc://PATH",
     "where to publish heat maps, partitions, compiles and stats (default: the endpoint with "
     ".sock replaced by .feed; none: no feed)"},
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
    {"max-segments", OPT_LONG, OFF(max_segments_mb), 0, 1L << 20, "MIB",
     "shared memory kept for packages; past it the least recently used that no process maps "
     "are removed (default 256; 0: only what processes map)"},
    {"max-cache", OPT_LONG, OFF(max_cache_mb), 0, 1L << 24, "MIB",
     "size of the disk cache; past it the least recently used packages are removed "
     "(default 1024)"},
    {"policy", OPT_STR, OFF(policy), 0, 0, "coverage|share",
     "how heat maps become tiers: the fewest functions covering --hot% of self time are hot, "
     "--warm% hot or warm (coverage, default); or each function's share of self time against "
     "--hot% and --warm% (share)"},
    {"hot", OPT_LONG, OFF(hot), 1, 100, "PERCENT", "hot threshold (default 80 for either policy)"},
    {"warm", OPT_LONG, OFF(warm), 1, 100, "PERCENT",
     "warm threshold (default 95 for coverage, 20 for share)"},
    {"start-saving", OPT_LONG, OFF(start_saving), 0, 100, "PERCENT",
     "a run's start partition is compiled anew only when it would save this share of the last "
     "run over the one compiled before, and while no other compiles (default 3; 0: always)"},
    {"worker", OPT_STR, OFF(worker), 0, 0, "ENDPOINT", NULL},
    {"worker-id", OPT_LONG, OFF(worker_id), 0, 1000000, "N", NULL},
    {"test-job-delay", OPT_LONG, OFF(test_job_delay), 0, 3600000, "MS", NULL},
};
#define NOPTIONS (sizeof options / sizeof options[0])

void config_defaults(KilndConfig *cfg) {
  *cfg = (KilndConfig){
      .job_timeout = 60,
      .max_message = KILN_DEFAULT_MAX_MESSAGE,
      .max_queue = 1024,
      .max_segments_mb = 256,
      .max_cache_mb = 1024,
      .start_saving = 3,
  };
}

void config_usage(FILE *f) {
  fprintf(f, "usage: kilnd [OPTION]...\nThe Kiln compile service.\n\n");
  for (size_t i = 0; i < NOPTIONS; i++) {
    const Option *o = &options[i];
    if (!o->help)
      continue;
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    fprintf(f, "  %-24s %s\n", left, o->help);
  }
  fprintf(f, "  %-24s %s\n", "--help", "this text");
}

static const Option *find(const char *name, size_t len) {
  for (size_t k = 0; k < NOPTIONS; k++)
    if (strlen(options[k].name) == len && strncmp(options[k].name, name, len) == 0)
      return &options[k];
  return NULL;
}

/* Stores val in o's field; `what` names it in the error ("--hot", "hot"). */
static int set(KilndConfig *cfg, const Option *o, const char *what, const char *val, char *err,
               size_t n) {
  char *field = (char *)cfg + o->offset;
  switch (o->type) {
  case OPT_FLAG:
    if (!val || strcmp(val, "true") == 0 || strcmp(val, "yes") == 0 || strcmp(val, "1") == 0) {
      *(bool *)field = true;
    } else if (strcmp(val, "false") == 0 || strcmp(val, "no") == 0 || strcmp(val, "0") == 0) {
      *(bool *)field = false;
    } else {
      snprintf(err, n, "%s wants true or false, not '%s'", what, val);
      return -1;
    }
    return 0;
  case OPT_STR: {
    PartPolicy policy;
    if (!*val) {
      snprintf(err, n, "%s needs a non-empty value", what);
      return -1;
    }
    if (o->offset == OFF(policy) && !part_policy_parse(val, &policy)) {
      snprintf(err, n, "%s: unknown policy '%.64s' (expected coverage or share)", what, val);
      return -1;
    }
    *(const char **)field = val;
    return 0;
  }
  case OPT_LONG:
    break;
  }
  char *end;
  errno = 0;
  long v = strtol(val, &end, 10);
  if (errno || end == val || *end || v < o->min || v > o->max) {
    snprintf(err, n, "%s wants a whole number from %ld to %ld, not '%s'", what, o->min, o->max,
             val);
    return -1;
  }
  *(long *)field = v;
  return 0;
}

int config_parse_args(int argc, char **argv, KilndConfig *cfg, char *err, size_t n) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
      return 1;
    if (strncmp(a, "--", 2) != 0) {
      snprintf(err, n, "unexpected argument '%s' (see kilnd --help)", a);
      return -1;
    }
    /* --name=value and --name value are both accepted. */
    const char *name = a + 2, *eq = strchr(name, '=');
    const Option *o = find(name, eq ? (size_t)(eq - name) : strlen(name));
    if (!o) {
      snprintf(err, n, "unknown option '%s' (see kilnd --help)", a);
      return -1;
    }
    char what[64];
    snprintf(what, sizeof what, "--%s", o->name);
    if (o->type == OPT_FLAG) {
      if (eq) {
        snprintf(err, n, "%s takes no value", what);
        return -1;
      }
      set(cfg, o, what, NULL, err, n);
      continue;
    }
    const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!val) {
      snprintf(err, n, "%s needs a value (%s)", what, o->arg);
      return -1;
    }
    if (set(cfg, o, what, val, err, n) != 0)
      return -1;
  }
  return 0;
}

/* Trims s in place; returns its first non-space character. */
static char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  size_t len = strlen(s);
  while (len && isspace((unsigned char)s[len - 1]))
    s[--len] = '\0';
  return s;
}

int config_read_file(const char *path, KilndConfig *cfg, char *err, size_t n) {
  FILE *f = fopen(path, "re");
  if (!f) {
    snprintf(err, n, "cannot read %s: %s", path, strerror(errno));
    return -1;
  }
  char line[4096];
  int rc = 0;
  for (unsigned no = 1; rc == 0 && fgets(line, sizeof line, f); no++) {
    size_t len = strlen(line);
    if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(f)) {
      snprintf(err, n, "%s:%u: line longer than %zu bytes", path, no, sizeof line - 2);
      rc = -1;
      break;
    }
    char *hash = strchr(line, '#'); /* no value needs a '#' */
    if (hash)
      *hash = '\0';
    char *key = trim(line);
    if (!*key)
      continue;
    char *eq = strchr(key, '=');
    if (!eq) {
      snprintf(err, n, "%s:%u: expected 'key = value', not '%.64s'", path, no, key);
      rc = -1;
      break;
    }
    *eq = '\0';
    char *val = trim(eq + 1);
    key = trim(key);
    const Option *o = find(key, strlen(key));
    /* Hidden options run kilnd as a worker or slow it down: never from a
     * file. A file naming another file would be a loop to guard against. */
    if (!o || !o->help || o->offset == OFF(config)) {
      snprintf(err, n, "%s:%u: unknown key '%.64s' (the keys are kilnd's long options)", path, no,
               key);
      rc = -1;
      break;
    }
    char what[600];
    snprintf(what, sizeof what, "%s:%u: %s", path, no, o->name);
    if (!*val) {
      snprintf(err, n, "%s needs a value", what);
      rc = -1;
      break;
    }
    if (o->type == OPT_STR &&
        cfg->nfrom_file == (int)(sizeof cfg->from_file / sizeof *cfg->from_file)) {
      snprintf(err, n, "%s: too many settings of names and paths in one file", what);
      rc = -1;
      break;
    }
    char *copy = o->type == OPT_STR ? strdup(val) : val;
    if (!copy) {
      snprintf(err, n, "%s: out of memory", what);
      rc = -1;
    } else if (set(cfg, o, what, copy, err, n) != 0) {
      if (copy != val)
        free(copy);
      rc = -1;
    } else if (copy != val) {
      cfg->from_file[cfg->nfrom_file++] = copy;
    }
  }
  if (rc == 0 && ferror(f)) {
    snprintf(err, n, "cannot read %s: %s", path, strerror(errno));
    rc = -1;
  }
  fclose(f);
  return rc;
}

void config_free(KilndConfig *cfg) {
  for (int i = 0; i < cfg->nfrom_file; i++)
    free(cfg->from_file[i]);
  cfg->nfrom_file = 0;
}

const char *config_default_path(char *buf, size_t size) {
  const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
  int w;
  /* As for XDG_RUNTIME_DIR, a relative XDG_CONFIG_HOME is to be ignored. */
  if (xdg && xdg[0] == '/')
    w = snprintf(buf, size, "%s/kiln/kilnd.conf", xdg);
  else if (home && home[0] == '/')
    w = snprintf(buf, size, "%s/.config/kiln/kilnd.conf", home);
  else
    return NULL;
  if (w < 0 || (size_t)w >= size || access(buf, F_OK) != 0)
    return NULL;
  return buf;
}

int config_check(const KilndConfig *cfg, char *err, size_t n) {
  PartPolicy policy = PART_POLICY_COVERAGE;
  if (cfg->policy && !part_policy_parse(cfg->policy, &policy)) {
    snprintf(err, n, "policy '%.64s' is unknown (expected coverage or share)", cfg->policy);
    return -1;
  }
  PartConfig pc;
  part_config_default(&pc, policy);
  if (cfg->hot)
    pc.hot = (double)cfg->hot / 100;
  if (cfg->warm)
    pc.warm = (double)cfg->warm / 100;
  return part_config_check(&pc, err, n);
}
