/*
 * test_config.c: kilnd's settings (service/config.c): the config file's
 * lines, its errors naming FILE:LINE, flags over the file, and the checks
 * of policy and thresholds together. No processes, no sockets.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static char path[64];

/* Writes text to a fresh temporary file, named in `path`. */
static void file_with(const char *text) {
  snprintf(path, sizeof path, "/tmp/kilnd-conf-XXXXXX");
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
}

/* Reads `text` as a file into cfg (defaults first); err gets the line. */
static int read_text(const char *text, KilndConfig *cfg, char *err, size_t n) {
  file_with(text);
  config_defaults(cfg);
  int rc = config_read_file(path, cfg, err, n);
  unlink(path);
  return rc;
}

START_TEST(test_every_kind_of_line) {
  KilndConfig cfg;
  char err[512] = "";
  ck_assert_int_eq(read_text("# kilnd.conf\n"
                             "\n"
                             "workers = 3\n"
                             "  idle=120   # two minutes\n"
                             "cache = /var/cache/kiln\n"
                             "foreground = yes\n"
                             "job-timeout = 30\n"
                             "max-message = 1048576\n"
                             "max-queue = 10\n"
                             "policy = share\n"
                             "hot = 50\n"
                             "warm = 10\n"
                             "feed = none\n"
                             "endpoint = ipc:///run/kiln/k.sock",
                             &cfg, err, sizeof err),
                   0);
  ck_assert_str_eq(err, "");
  ck_assert_int_eq(cfg.workers, 3);
  ck_assert_int_eq(cfg.idle, 120);
  ck_assert_str_eq(cfg.cache, "/var/cache/kiln");
  ck_assert(cfg.foreground);
  ck_assert_int_eq(cfg.job_timeout, 30);
  ck_assert_int_eq(cfg.max_message, 1048576);
  ck_assert_int_eq(cfg.max_queue, 10);
  ck_assert_str_eq(cfg.policy, "share");
  ck_assert_int_eq(cfg.hot, 50);
  ck_assert_int_eq(cfg.warm, 10);
  ck_assert_str_eq(cfg.feed, "none");
  ck_assert_str_eq(cfg.endpoint, "ipc:///run/kiln/k.sock"); /* last line without a newline */
  ck_assert_int_eq(config_check(&cfg, err, sizeof err), 0);
  config_free(&cfg);
}
END_TEST

START_TEST(test_errors_name_file_and_line) {
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"workers = 2\nfrobnicate = 1\n", ":2: unknown key 'frobnicate'"},
      {"\n\nworkers = many\n", ":3: workers wants a whole number from 0 to 256, not 'many'"},
      {"hot = 0\n", ":1: hot wants a whole number from 1 to 100, not '0'"},
      {"warm = 101\n", ":1: warm wants a whole number from 1 to 100, not '101'"},
      {"policy = fastest\n", ":1: policy: unknown policy 'fastest'"},
      {"# fine\nworkers 2\n", ":2: expected 'key = value', not 'workers 2'"},
      {"idle =\n", ":1: idle needs a value"},
      {"foreground = maybe\n", ":1: foreground wants true or false, not 'maybe'"},
      {"worker = ipc:///tmp/x\n", ":1: unknown key 'worker'"}, /* hidden: never from a file */
      {"config = other.conf\n", ":1: unknown key 'config'"},
      {"= 3\n", ":1: unknown key ''"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    KilndConfig cfg;
    char err[512] = "";
    ck_assert_int_eq(read_text(cases[i].text, &cfg, err, sizeof err), -1);
    ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "'%s' does not start with the file", err);
    ck_assert_msg(strstr(err, cases[i].want), "'%s' lacks '%s'", err, cases[i].want);
    ck_assert_ptr_null(strchr(err, '\n'));
    config_free(&cfg);
  }
}
END_TEST

START_TEST(test_missing_file) {
  KilndConfig cfg;
  char err[512];
  config_defaults(&cfg);
  ck_assert_int_eq(config_read_file("/nonexistent/kilnd.conf", &cfg, err, sizeof err), -1);
  ck_assert_str_eq(err, "cannot read /nonexistent/kilnd.conf: No such file or directory");
}
END_TEST

START_TEST(test_flags_override_the_file) {
  KilndConfig cfg;
  char err[512];
  ck_assert_int_eq(read_text("workers = 3\nhot = 70\n", &cfg, err, sizeof err), 0);
  char *argv[] = {"kilnd", "--workers", "1", "--warm=90", NULL};
  ck_assert_int_eq(config_parse_args(4, argv, &cfg, err, sizeof err), 0);
  ck_assert_int_eq(cfg.workers, 1);
  ck_assert_int_eq(cfg.hot, 70); /* the file's, no flag said otherwise */
  ck_assert_int_eq(cfg.warm, 90);
  config_free(&cfg);
}
END_TEST

START_TEST(test_bad_flags) {
  KilndConfig cfg;
  char err[512];
  config_defaults(&cfg);
  char *unknown[] = {"kilnd", "--frobnicate", NULL};
  ck_assert_int_eq(config_parse_args(2, unknown, &cfg, err, sizeof err), -1);
  ck_assert_str_eq(err, "unknown option '--frobnicate' (see kilnd --help)");
  char *missing[] = {"kilnd", "--config", NULL};
  ck_assert_int_eq(config_parse_args(2, missing, &cfg, err, sizeof err), -1);
  ck_assert_str_eq(err, "--config needs a value (FILE)");
  char *flag[] = {"kilnd", "--foreground=no", NULL};
  ck_assert_int_eq(config_parse_args(2, flag, &cfg, err, sizeof err), -1);
  ck_assert_str_eq(err, "--foreground takes no value");
  char *help[] = {"kilnd", "--help", NULL};
  ck_assert_int_eq(config_parse_args(2, help, &cfg, err, sizeof err), 1);
}
END_TEST

START_TEST(test_thresholds_together) {
  KilndConfig cfg;
  char err[512];
  config_defaults(&cfg);
  ck_assert_int_eq(config_check(&cfg, err, sizeof err), 0); /* coverage 80/95 */
  cfg.policy = "share";
  ck_assert_int_eq(config_check(&cfg, err, sizeof err), 0); /* share 80/20 */
  cfg.warm = 90;
  cfg.hot = 50;
  ck_assert_int_eq(config_check(&cfg, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "for policy share, warm (90%) must be below hot (50%)"));
  cfg.policy = NULL; /* coverage: warm 90 >= hot 50 is right */
  ck_assert_int_eq(config_check(&cfg, err, sizeof err), 0);
  cfg.warm = 40;
  ck_assert_int_eq(config_check(&cfg, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "for policy coverage, warm (40%) must be at least hot (50%)"));
}
END_TEST

START_TEST(test_default_path) {
  char buf[4096], dir[] = "/tmp/kilnd-xdg-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  setenv("XDG_CONFIG_HOME", dir, 1);
  ck_assert_ptr_null(config_default_path(buf, sizeof buf)); /* only when it exists */
  char sub[4200], file[4300];
  snprintf(sub, sizeof sub, "%s/kiln", dir);
  snprintf(file, sizeof file, "%s/kilnd.conf", sub);
  ck_assert_int_eq(mkdir(sub, 0700), 0);
  FILE *f = fopen(file, "w");
  ck_assert_ptr_nonnull(f);
  fclose(f);
  ck_assert_ptr_nonnull(config_default_path(buf, sizeof buf));
  ck_assert_str_eq(buf, file);
  unlink(file);
  rmdir(sub);
  rmdir(dir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("config");
  TCase *tc = tcase_create("config");
  tcase_add_test(tc, test_every_kind_of_line);
  tcase_add_test(tc, test_errors_name_file_and_line);
  tcase_add_test(tc, test_missing_file);
  tcase_add_test(tc, test_flags_override_the_file);
  tcase_add_test(tc, test_bad_flags);
  tcase_add_test(tc, test_thresholds_together);
  tcase_add_test(tc, test_default_path);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
