/*
 * config.h: kilnd's settings, from its command line and its config file.
 *
 * Every setting is one row of the option table in config.c: its long name
 * is both the flag (--job-timeout 30) and the file's key (job-timeout = 30),
 * so the two can never disagree. The file is `key = value` lines; `#`
 * starts a comment, blank lines are skipped. The order is defaults, then the
 * file (--config FILE, else $XDG_CONFIG_HOME/kiln/kilnd.conf when it exists),
 * then the flags, so a flag always wins.
 *
 * No I/O beyond reading the file, no globals: the unit test
 * (tests/kilnd/test_config.c) builds it alone, with partition.c.
 */
#ifndef KILN_CONFIG_H
#define KILN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
  const char *endpoint; /* NULL: the default ipc:// endpoint */
  const char *feed; /* NULL: beside the endpoint (.feed); "none": no feed */
  const char *config; /* the config file given (--config) */
  long workers; /* 0: one per core */
  long idle; /* seconds without requests before exiting; 0: never */
  const char *cache; /* package cache directory (NULL: default) */
  bool foreground;
  long job_timeout; /* seconds one compile may take */
  long max_message; /* bytes of one frame */
  long max_queue; /* compile jobs waiting, beyond which requests are refused */
  const char *policy; /* the Partitioning Engine's: "coverage" (NULL) or "share" */
  long hot, warm; /* its thresholds in percent; 0: the policy's defaults */
  long max_segments_mb; /* /dev/shm kept for packages no process maps */
  long max_cache_mb; /* the disk cache's size */
  long start_saving; /* percent of a run a new start partition must save; 0: always compile */
  /* Hidden: how kilnd starts its own workers, and a test hook. Never read
   * from a file. */
  const char *worker; /* the broker's worker endpoint: run as a worker */
  long worker_id;
  long test_job_delay; /* ms a worker sleeps before each job (tests only) */
  /* The string settings read from a file, owned here (config_free). */
  char *from_file[32];
  int nfrom_file;
} KilndConfig;

/* Frees what config_read_file kept. */
void config_free(KilndConfig *cfg);

void config_defaults(KilndConfig *cfg);

/* Applies argv[1..argc) to cfg. Returns 0, 1 for --help, or -1 with the one
 * error line (without "kilnd: ") in err. */
int config_parse_args(int argc, char **argv, KilndConfig *cfg, char *err, size_t errsize);

/* Applies the file's settings to cfg. Returns 0, or -1 with one line naming
 * FILE:LINE (or the file alone when it cannot be read) in err. String
 * values are allocated for the life of the process. */
int config_read_file(const char *path, KilndConfig *cfg, char *err, size_t errsize);

/* The default file ($XDG_CONFIG_HOME/kiln/kilnd.conf, else
 * $HOME/.config/kiln/kilnd.conf) into buf when it exists; else NULL. */
const char *config_default_path(char *buf, size_t size);

/* What no single setting can say wrong: the policy's name, and its
 * thresholds together. Returns 0, or -1 with the line in err. */
int config_check(const KilndConfig *cfg, char *err, size_t errsize);

void config_usage(FILE *f);

#endif
