/*
 * client.h: a small kilnd client for the tests, as an agent will talk to it:
 * a DEALER socket and the proto/ frame helpers. It also starts and stops a
 * kilnd on a private temporary XDG_RUNTIME_DIR, its log in a file there.
 */
#ifndef KILN_TEST_CLIENT_H
#define KILN_TEST_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "frame.h"

typedef struct {
  pid_t pid; /* the kilnd started, 0 once reaped */
  char runtime[256]; /* the temporary XDG_RUNTIME_DIR */
  char dir[300]; /* its kiln/ endpoint directory */
  char endpoint[340]; /* ipc://.../kilnd.sock */
  char sock_path[320];
  char log[300]; /* kilnd's stderr */
  void *ctx, *sock;
  uint64_t next_id;
} Kd;

/* Path of the kilnd executable under test (argv[1] of the test program). */
extern const char *kd_exe;

/* Makes the temporary runtime dir (and sets XDG_RUNTIME_DIR to it). */
void kd_init(Kd *kd);
/* Starts `kilnd --foreground ARGS...` (NULL-terminated) and waits for its
 * socket; false if it did not come up in 10 s. */
bool kd_start(Kd *kd, const char *const *args);
/* Runs kilnd ARGS to completion (for flags that make it exit); returns its
 * exit status, its stderr in the log file. */
int kd_run(Kd *kd, const char *const *args);
void kd_connect(Kd *kd);
void kd_disconnect(Kd *kd);
/* Sends env (with a fresh request id) and returns the reply to it, or NULL
 * after 10 s. The reply's request_id is checked. */
Kiln__Envelope *kd_call(Kd *kd, Kiln__Envelope *env);
/* Sends raw bytes as one frame; returns the next reply, or NULL after 10 s. */
Kiln__Envelope *kd_call_raw(Kd *kd, const void *data, size_t len);
/* Waits for the next reply (ms timeout); NULL on timeout. */
Kiln__Envelope *kd_recv(Kd *kd, int timeout_ms);
/* Sends the signal and returns kilnd's exit status (-1: not a clean exit,
 * or not within 10 s). */
int kd_stop(Kd *kd, int sig);
/* Waits up to timeout_ms for kilnd to exit by itself; exit status or -1. */
int kd_wait_exit(Kd *kd, int timeout_ms);
/* Whether the log holds a line containing text, waiting up to timeout_ms. */
bool kd_log_has(Kd *kd, const char *text, int timeout_ms);
/* Counts the log lines containing text. */
int kd_log_count(Kd *kd, const char *text);
/* The pids of kilnd's children (its workers); returns how many. */
int kd_children(Kd *kd, pid_t *out, int max);
/* Stops a leftover kilnd, removes the temporary directory, and fails the
 * test if a sanitizer complained in kilnd's log. */
void kd_cleanup(Kd *kd);

/* Convenience requests. */
Kiln__Envelope *kd_hello(Kd *kd);
Kiln__Envelope *kd_upload(Kd *kd, const void *bytes, size_t len);
Kiln__Envelope *kd_compile(Kd *kd, const uint8_t hash[32], const uint32_t *funcs, size_t n,
                           Kiln__Tier tier);

void kd_sleep_ms(int ms);

#endif
