/*
 * frame.h: the few helpers every Kiln process uses to talk over ZeroMQ.
 *
 * A frame is one packed Kiln__Envelope (kiln.proto). kiln_frame_send stamps
 * the protocol version; kiln_frame_unpack checks size, decoding, version and
 * that a body is present, and turns each failure into an error code and a
 * one-line message that can go straight back to the sender as an Error.
 *
 * Endpoints live in one private directory per user:
 *   $XDG_RUNTIME_DIR/kiln/        when XDG_RUNTIME_DIR is set (systemd sets it
 *                                 for every login session), else
 *   /tmp/kiln-UID/                the fallback.
 * Either is created mode 0700 and must be a real directory (not a symlink)
 * owned by this user; a wider mode on our own directory is narrowed to 0700.
 * That keeps other users away from the sockets, which carry no credentials.
 */
#ifndef KILN_FRAME_H
#define KILN_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.pb-c.h"

/* Bump when a message changes meaning; peers of another version get
 * KILN__ERROR_CODE__ERROR_VERSION. */
#define KILN_PROTO_VERSION 1u

/* Default limit of one frame (a module upload is the largest message). */
#define KILN_DEFAULT_MAX_MESSAGE (64u * 1024u * 1024u)

/* The default endpoint's file name inside the endpoint directory. */
#define KILN_SOCKET_NAME "kilnd.sock"

typedef enum {
  KILN_FRAME_OK = 0,
  KILN_FRAME_TOO_LARGE,
  KILN_FRAME_MALFORMED,
  KILN_FRAME_VERSION,
} KilnFrameStatus;

/* Packs env (after setting env->version) and sends it as one frame on sock
 * with the given zmq_send flags (ZMQ_SNDMORE is not needed: one frame).
 * Returns 0, or -1 with errno from zmq. */
int kiln_frame_send(void *sock, Kiln__Envelope *env, int flags);

/* Packs env (stamping the version) into a malloc'd buffer; NULL on ENOMEM. */
uint8_t *kiln_frame_pack(Kiln__Envelope *env, size_t *len);

/* Decodes one frame. On KILN_FRAME_OK *out is the envelope (free it with
 * kiln__envelope__free_unpacked(*out, NULL)); otherwise *out is NULL and err
 * holds a one-line reason. *request_id gets the sender's request id whenever
 * it can be read (so even a version mismatch is answered to the right
 * request), else 0. */
KilnFrameStatus kiln_frame_unpack(const void *data, size_t len, size_t max_len,
                                  Kiln__Envelope **out, uint64_t *request_id, char *err,
                                  size_t errsize);

/* The Kiln__ErrorCode a status is answered with. */
Kiln__ErrorCode kiln_frame_error_code(KilnFrameStatus st);

/* Fills env as an Error reply (e is its body, message not copied). */
void kiln_error_envelope(Kiln__Envelope *env, Kiln__Error *e, uint64_t request_id,
                         Kiln__ErrorCode code, char *message);

/* Sends an Error envelope; the message is printf-formatted. Returns as
 * kiln_frame_send. */
int kiln_send_error(void *sock, uint64_t request_id, Kiln__ErrorCode code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Finds, creates (0700) and checks the endpoint directory (see above).
 * Returns 0, or -1 with a one-line reason in err. */
int kiln_endpoint_dir(char *buf, size_t size, char *err, size_t errsize);

/* "ipc://DIR/kilnd.sock" for the endpoint directory; creates it as above. */
int kiln_default_endpoint(char *buf, size_t size, char *err, size_t errsize);

/* kilnd's feed beside its endpoint: ".sock" at the end replaced by ".feed",
 * else ".feed" appended. Returns 0, or -1 when buf is too small. */
int kiln_feed_endpoint(const char *endpoint, char *buf, size_t size);

/* For "ipc://PATH" returns PATH (inside endpoint), else NULL. */
const char *kiln_ipc_path(const char *endpoint);

/* The next event (ZMQ_EVENT_*) waiting on the PAIR socket connected to a
 * zmq_socket_monitor, or 0 when none is waiting. */
int kiln_monitor_event(void *monitor);
/* The same, with the event's value (for ACCEPTED and DISCONNECTED, the
 * connection's file descriptor) in *value. */
int kiln_monitor_event_value(void *monitor, int *value);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void kiln_hex(const uint8_t *bytes, size_t n, char *out);

const char *kiln_tier_name(Kiln__Tier tier); /* "warm", "hot", "unspecified" */

#endif
