/*
 * frame.c: packing and checking frames, and the endpoint directory.
 * See frame.h for the rules; comments here say why the code is as it is.
 */
#include "frame.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

uint8_t *kiln_frame_pack(Kiln__Envelope *env, size_t *len) {
  env->version = KILN_PROTO_VERSION;
  size_t n = kiln__envelope__get_packed_size(env);
  /* malloc(0) may return NULL; an empty envelope is legal (all defaults). */
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf)
    return NULL;
  *len = kiln__envelope__pack(env, buf);
  return buf;
}

static void free_buf(void *data, void *hint) {
  (void)hint;
  free(data);
}

int kiln_frame_send(void *sock, Kiln__Envelope *env, int flags) {
  size_t len;
  uint8_t *buf = kiln_frame_pack(env, &len);
  if (!buf) {
    errno = ENOMEM;
    return -1;
  }
  /* Zero-copy: ZeroMQ frees the buffer once it is on the wire, so a large
   * PackageReady or CompileJob is never copied twice. */
  zmq_msg_t msg;
  if (zmq_msg_init_data(&msg, buf, len, free_buf, NULL) != 0) {
    free(buf);
    return -1;
  }
  if (zmq_msg_send(&msg, sock, flags) < 0) {
    int e = errno;
    zmq_msg_close(&msg);
    errno = e;
    return -1;
  }
  return 0;
}

/* Reads a base-128 varint; returns bytes used, 0 when truncated or too long. */
static size_t read_varint(const uint8_t *p, size_t len, uint64_t *v) {
  *v = 0;
  for (size_t i = 0; i < len && i < 10; i++) {
    *v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    if (!(p[i] & 0x80))
      return i + 1;
  }
  return 0;
}

/* When a frame does not decode as our Envelope, it may still be a valid
 * envelope of another protocol version whose body we cannot read. Field 1
 * (version) and 2 (request id) are frozen varints, so scan the top level for
 * them: then the sender is told "version" rather than "malformed". */
static int scan_header(const uint8_t *p, size_t len, uint64_t *version, uint64_t *request_id) {
  int found = 0;
  while (len > 0) {
    uint64_t tag, v;
    size_t n = read_varint(p, len, &tag);
    if (!n)
      return found;
    p += n, len -= n;
    switch (tag & 7) {
    case 0: /* varint */
      if (!(n = read_varint(p, len, &v)))
        return found;
      if (tag >> 3 == 1)
        *version = v, found |= 1;
      else if (tag >> 3 == 2)
        *request_id = v, found |= 2;
      break;
    case 1: /* 64-bit */
      n = 8;
      break;
    case 2: /* length-delimited */
      if (!(n = read_varint(p, len, &v)) || v > len - n)
        return found;
      n += (size_t)v;
      break;
    case 5: /* 32-bit */
      n = 4;
      break;
    default:
      return found;
    }
    if (n > len)
      return found;
    p += n, len -= n;
  }
  return found;
}

KilnFrameStatus kiln_frame_unpack(const void *data, size_t len, size_t max_len,
                                  Kiln__Envelope **out, uint64_t *request_id, char *err,
                                  size_t errsize) {
  *out = NULL;
  *request_id = 0;
  if (len > max_len) {
    /* Not decoded: the size alone is the answer, and decoding would cost the
     * memory the limit is there to protect. Only the request id is read, so
     * the answer reaches the right request. */
    uint64_t version;
    scan_header(data, len, &version, request_id); /* cheap: skips bodies unread */
    snprintf(err, errsize, "message of %zu bytes exceeds the limit of %zu bytes", len, max_len);
    return KILN_FRAME_TOO_LARGE;
  }
  Kiln__Envelope *env = kiln__envelope__unpack(NULL, len, data);
  if (!env) {
    uint64_t version = 0;
    int found = scan_header(data, len, &version, request_id);
    if ((found & 1) && version != KILN_PROTO_VERSION) {
      snprintf(err, errsize, "protocol version %llu is not supported (this is version %u)",
               (unsigned long long)version, KILN_PROTO_VERSION);
      return KILN_FRAME_VERSION;
    }
    snprintf(err, errsize, "malformed message: %zu bytes that are not a Kiln envelope", len);
    return KILN_FRAME_MALFORMED;
  }
  *request_id = env->request_id;
  if (env->version == 0) {
    /* proto3 reads a missing field as 0: an empty frame, or garbage that
     * happens to decode, lands here rather than as "version 0". */
    snprintf(err, errsize, "malformed message: envelope without a protocol version");
    kiln__envelope__free_unpacked(env, NULL);
    return KILN_FRAME_MALFORMED;
  }
  if (env->version != KILN_PROTO_VERSION) {
    snprintf(err, errsize, "protocol version %u is not supported (this is version %u)",
             env->version, KILN_PROTO_VERSION);
    kiln__envelope__free_unpacked(env, NULL);
    return KILN_FRAME_VERSION;
  }
  if (env->body_case == KILN__ENVELOPE__BODY__NOT_SET) {
    /* Also what a body from a newer protocol's unknown field looks like; the
     * version check above already caught honest senders of those. */
    snprintf(err, errsize, "malformed message: envelope without a body");
    kiln__envelope__free_unpacked(env, NULL);
    return KILN_FRAME_MALFORMED;
  }
  *out = env;
  return KILN_FRAME_OK;
}

Kiln__ErrorCode kiln_frame_error_code(KilnFrameStatus st) {
  switch (st) {
  case KILN_FRAME_TOO_LARGE:
    return KILN__ERROR_CODE__ERROR_TOO_LARGE;
  case KILN_FRAME_VERSION:
    return KILN__ERROR_CODE__ERROR_VERSION;
  case KILN_FRAME_MALFORMED:
    return KILN__ERROR_CODE__ERROR_MALFORMED;
  case KILN_FRAME_OK:
    break;
  }
  return KILN__ERROR_CODE__ERROR_UNSPECIFIED;
}

void kiln_error_envelope(Kiln__Envelope *env, Kiln__Error *e, uint64_t request_id,
                         Kiln__ErrorCode code, char *message) {
  *e = (Kiln__Error)KILN__ERROR__INIT;
  e->code = code;
  e->message = message;
  *env = (Kiln__Envelope)KILN__ENVELOPE__INIT;
  env->request_id = request_id;
  env->body_case = KILN__ENVELOPE__BODY_ERROR;
  env->error = e;
}

int kiln_send_error(void *sock, uint64_t request_id, Kiln__ErrorCode code, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  Kiln__Error e;
  Kiln__Envelope env;
  kiln_error_envelope(&env, &e, request_id, code, text);
  return kiln_frame_send(sock, &env, ZMQ_DONTWAIT);
}

/* mkdir -p for the last component only, then insist on a private directory
 * owned by us: under /tmp anyone could have created the name first. */
static int private_dir(const char *path, char *err, size_t errsize) {
  if (mkdir(path, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errsize, "cannot create %s: %s", path, strerror(errno));
    return -1;
  }
  /* Open without following a symlink and check what we opened, so the check
   * and the chmod apply to the same directory. */
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errsize, "%s is not a directory we can use: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  int rc = -1;
  if (fstat(fd, &st) != 0) {
    snprintf(err, errsize, "cannot stat %s: %s", path, strerror(errno));
  } else if (st.st_uid != geteuid()) {
    snprintf(err, errsize, "%s belongs to uid %u, not to us (uid %u): refusing to use it", path,
             (unsigned)st.st_uid, (unsigned)geteuid());
  } else if ((st.st_mode & 077) && fchmod(fd, 0700) != 0) {
    snprintf(err, errsize, "cannot make %s private (mode 0700): %s", path, strerror(errno));
  } else {
    rc = 0;
  }
  close(fd);
  return rc;
}

int kiln_endpoint_dir(char *buf, size_t size, char *err, size_t errsize) {
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  int n;
  /* The XDG spec says a relative XDG_RUNTIME_DIR is invalid and to be ignored. */
  if (xdg && xdg[0] == '/')
    n = snprintf(buf, size, "%s/kiln", xdg);
  else
    n = snprintf(buf, size, "/tmp/kiln-%u", (unsigned)geteuid());
  if (n < 0 || (size_t)n >= size) {
    snprintf(err, errsize, "endpoint directory path is too long");
    return -1;
  }
  return private_dir(buf, err, errsize);
}

int kiln_default_endpoint(char *buf, size_t size, char *err, size_t errsize) {
  char dir[4096];
  if (kiln_endpoint_dir(dir, sizeof dir, err, errsize) != 0)
    return -1;
  int n = snprintf(buf, size, "ipc://%s/%s", dir, KILN_SOCKET_NAME);
  if (n < 0 || (size_t)n >= size) {
    snprintf(err, errsize, "endpoint path is too long");
    return -1;
  }
  return 0;
}

int kiln_feed_endpoint(const char *endpoint, char *buf, size_t size) {
  size_t n = strlen(endpoint);
  if (n >= 5 && strcmp(endpoint + n - 5, ".sock") == 0)
    n -= 5;
  int w = snprintf(buf, size, "%.*s.feed", (int)n, endpoint);
  return w < 0 || (size_t)w >= size ? -1 : 0;
}

const char *kiln_ipc_path(const char *endpoint) {
  return strncmp(endpoint, "ipc://", 6) == 0 ? endpoint + 6 : NULL;
}

void kiln_hex(const uint8_t *bytes, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  out[2 * n] = '\0';
}

const char *kiln_tier_name(Kiln__Tier tier) {
  switch (tier) {
  case KILN__TIER__TIER_WARM:
    return "warm";
  case KILN__TIER__TIER_HOT:
    return "hot";
  case KILN__TIER__TIER_COLD:
    return "cold";
  default:
    return "unspecified";
  }
}

int kiln_monitor_event(void *monitor) {
  int value;
  return kiln_monitor_event_value(monitor, &value);
}

int kiln_monitor_event_value(void *monitor, int *value) {
  zmq_msg_t ev, addr;
  zmq_msg_init(&ev);
  *value = -1;
  if (zmq_msg_recv(&ev, monitor, ZMQ_DONTWAIT) < 0) {
    zmq_msg_close(&ev);
    return 0;
  }
  /* The first frame: the event (16 bits), then its value (32 bits). */
  uint16_t event = 0;
  uint32_t v = 0;
  if (zmq_msg_size(&ev) >= 2)
    memcpy(&event, zmq_msg_data(&ev), 2);
  if (zmq_msg_size(&ev) >= 6) {
    memcpy(&v, (const uint8_t *)zmq_msg_data(&ev) + 2, 4);
    *value = (int)v;
  }
  zmq_msg_close(&ev);
  zmq_msg_init(&addr); /* the second frame: the endpoint */
  zmq_msg_recv(&addr, monitor, 0);
  zmq_msg_close(&addr);
  return event;
}
