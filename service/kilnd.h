/*
 * kilnd.h: what the files of kilnd share.
 *
 *   kilnd.c   options (one table), main, detaching, the log line
 *   broker.c  the one event loop: the client socket, signals, idle exit
 *   pool.c    compiler worker processes: spawning, jobs, time limits, deaths
 *   worker.c  a worker process itself: one compile job at a time
 *   store.c   modules by hash, the package index, content keys, segments
 *   adapt.c   agents, heat maps in, partitions out (partition.c decides),
 *             prefetch, Control
 *   feed.c    the feed: every event published for `kiln status` and viewers
 *   config.c  the option table: flags and the config file
 *
 * kilnd is single-threaded: the broker's loop owns every structure here.
 */
#ifndef KILN_KILND_H
#define KILN_KILND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "frame.h"
#include "partition.h"
#include "wasm.h"

/* kilnd.c */
void kd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kd_ready(void); /* the endpoint is bound: let a detaching parent exit */
double kd_now(void); /* monotonic seconds */

/* store.c ------------------------------------------------------------------ */
typedef struct Store Store;
Store *store_new(void);
void store_free(Store *s);
/* Decodes and validates a module and keeps it by hash. Returns it (the one
 * already stored when the hash is known), or NULL with a one-line reason. */
const WasmModule *store_add_module(Store *s, const uint8_t *bytes, size_t len, char *err,
                                   size_t errsize);
const WasmModule *store_find_module(Store *s, const uint8_t *hash, size_t hash_len);
size_t store_module_count(const Store *s);

/* What a package is compiled from besides its functions and tier, from
 * the agent's profile (kiln.proto CompileRequest), canonical: hints sorted
 * by caller and site, without_osr and osr_body sorted and unique. */
typedef struct {
  Kiln__CallHint *const *hints;
  size_t nhints;
  const uint32_t *without_osr;
  size_t nwithout_osr;
  Kiln__BranchHint *const *branches; /* sorted by function and offset */
  size_t nbranches;
  const uint32_t *osr_body;
  size_t nosr_body;
} PackageProfile;

/* qsort order of Kiln__CallHint pointers: by caller, then site. */
int store_hint_order(const void *a, const void *b);

/* The content key of a package: module hash, sorted function set, tier,
 * profile (NULL: none) and compiler version, hashed with SHA-256. */
void store_package_key(const uint8_t module_hash[32], const uint32_t *funcs, size_t nfuncs,
                       Kiln__Tier tier, const PackageProfile *profile, uint8_t key[32]);
/* The segment's file name and path for a key (per user: segments are the
 * user's own, and another user's file of the same name is never trusted). */
void store_segment_name(const uint8_t key[32], char *name, size_t size);
void store_segment_path(const char *name, char *path, size_t size);
/* Remembers a finished package (the worker's PackageReady, packed). */
void store_put_package(Store *s, const uint8_t key[32], const Kiln__PackageReady *pkg);
/* A remembered package whose segment still exists, unpacked (free with
 * kiln__package_ready__free_unpacked), or NULL. */
Kiln__PackageReady *store_find_package(Store *s, const uint8_t key[32]);
/* The on-disk package cache: `configured`, else $XDG_CACHE_HOME/kiln, else
 * $HOME/.cache/kiln; created 0700. Returns 0, or -1 with a reason. */
int store_cache_dir(const char *configured, char *buf, size_t size, char *err, size_t errsize);
/* Makes the cache directory `dir` again (with its parents, 0700) if it is
 * gone, as after an rm -rf of ~/.cache while kilnd runs, and logs it; a
 * failure is logged once while *lost stays set. Returns true if it made it. */
bool store_keep_cache_dir(const char *dir, bool *lost);
/* Keeps the segments (least recently used first, never one a process
 * maps) and the disk cache under their bounds, logging each eviction. */
void store_evict(Store *s, uint64_t max_segment_bytes, const char *cache_dir,
                 uint64_t max_cache_bytes);
/* All n bytes to fd (EINTR retried). */
bool store_write_all(int fd, const uint8_t *p, size_t n);
/* A whole file written under a temporary name and renamed into place, so
 * no reader sees half of it. False: not written (errno says why). */
bool store_write_file(const char *path, const uint8_t *bytes, size_t len);
/* A whole regular file of at most max bytes, or NULL. */
uint8_t *store_read_file(const char *path, size_t max, size_t *len);
/* At shutdown: unlinks every segment this kilnd made that no process maps. */
void store_remove_segments(Store *s);

/* pool.c -------------------------------------------------------------------- */
typedef struct Waiter {
  uint8_t client[256]; /* ZeroMQ routing id of the requester */
  size_t client_len;
  uint64_t request_id;
  struct Waiter *next;
} Waiter;

typedef struct Job {
  uint64_t id;
  uint8_t key[32];
  const WasmModule *module;
  uint32_t *funcs;
  size_t nfuncs;
  Kiln__Tier tier;
  Kiln__CallHint *hints; /* the profile, copied: nhints of them */
  Kiln__CallHint **hintp;
  size_t nhints;
  uint32_t *without_osr; /* and osr_body after it, in one allocation */
  size_t nwithout_osr;
  uint32_t *osr_body;
  size_t nosr_body;
  Kiln__BranchHint *branches, **branchp;
  size_t nbranches;
  Waiter *waiters;
  int worker; /* slot running it, or -1 while queued */
  double started; /* kd_now() when its worker took it */
  double deadline; /* kd_now() by which it must be done */
  bool timed_out; /* its worker was killed for the time limit */
  struct Job *next;
} Job;

typedef struct {
  pid_t pid; /* 0: slot empty (waiting to be respawned) */
  bool ready; /* said WorkerReady */
  Job *job;
  double respawn_at; /* for an empty slot */
  double started;
  char job_temp[300]; /* at shutdown: the file its cut-short job leaves */
} Worker;

typedef struct AgentModule AgentModule;

/* An agent: a connection that said Hello (adapt.c keeps them). ZeroMQ does
 * not say which connection closed, so `gone` is inferred (see adapt.c). */
typedef struct Agent {
  uint32_t id; /* the feed's number for it, from 1, never reused */
  uint8_t client[256]; /* its routing id */
  size_t client_len;
  uint32_t pid;
  char name[65]; /* from Hello, printable */
  double hello_at, heard_at, gone_at;
  bool gone;
  bool leaving; /* it sent a final heat map: its run is over */
  int fd; /* kilnd's end of its connection, -1 unknown (the monitor names closed ones by it) */
  uint64_t uptime_ms; /* the agent's, from its last heat map */
  uint8_t hash[32]; /* the module of its last heat map */
  bool has_hash;
  bool own_cfg; /* cfg below, set for it alone by a Control, over the broker's */
  PartConfig cfg;
  struct Agent *next;
} Agent;

/* A package whose compile failed (pool.c): not tried again for a while. */
#define POOL_FAILURES_KEPT 64
typedef struct {
  uint8_t key[32];
  double at; /* kd_now(); 0: an empty slot */
  Kiln__ErrorCode code;
  char message[256];
} PoolFailure;

typedef struct Broker {
  const KilndConfig *cfg;
  void *zctx;
  void *clients; /* ROUTER on the public endpoint */
  void *client_events; /* its monitor: agents connecting and leaving */
  int agents; /* connected now */
  void *workers_sock; /* ROUTER on the internal worker endpoint */
  char worker_endpoint[4200];
  Store *store;
  Worker *workers;
  int nworkers;
  Job *queue; /* waiting for a worker, oldest first */
  size_t nqueued;
  Job *running; /* assigned to a worker */
  PoolFailure failures[POOL_FAILURES_KEPT]; /* a ring, the oldest overwritten */
  unsigned next_failure;
  uint64_t next_job_id;
  bool stopping;
  PartConfig part_cfg; /* thresholds and policy */
  PartCost part_cost; /* calibrated by every compile's measured time */
  AgentModule *adapted; /* each agent's last partition of each module */
  Agent *seen; /* every agent, newest first */
  uint32_t next_agent_id;
  double started; /* kd_now() at start */
  double next_tick; /* of the once-a-second work: snapshot, stats, silence */
  bool cache_lost; /* the cache directory is gone and cannot be made again (logged once) */
  /* feed.c */
  void *feed; /* PUB, or NULL: no feed */
  char feed_endpoint[4200];
  uint64_t compiles, cache_hits;
  uint32_t recent[5]; /* compiles finished per tick, a ring */
  unsigned recent_at, ticks;
} Broker;

int pool_start(Broker *b);
void pool_reap(Broker *b); /* after SIGCHLD */
void pool_on_message(Broker *b); /* the worker socket is readable */
void pool_tick(Broker *b); /* time limits, respawns, dispatch */
int pool_timeout_ms(const Broker *b); /* until pool_tick has work; -1: none */
bool pool_busy(const Broker *b); /* jobs queued or running */
bool pool_has(const Broker *b, const uint8_t key[32]); /* that package queued or running */
/* Queues a compile (or joins the same one already under way). client NULL:
 * nobody waits yet (a prefetch); the package goes to the index. */
void pool_submit(Broker *b, const WasmModule *m, const uint8_t key[32], const uint32_t *funcs,
                 size_t nfuncs, Kiln__Tier tier, const PackageProfile *profile,
                 const uint8_t *client, size_t client_len, uint64_t request_id);
void pool_stop(Broker *b);

/* adapt.c */
/* fd: the connection's (ZMQ_SRCFD), -1 unknown */
void adapt_on_hello(Broker *b, const uint8_t *id, size_t idlen, const Kiln__Hello *h, int fd);
void adapt_heard(Broker *b, const uint8_t *id, size_t idlen); /* any request */
/* Connection fd closed: the agent on it, if any, is gone. */
void adapt_closed(Broker *b, int fd);
/* After connections closed: as many agents as connections (the rest, whose
 * connection was not known, are taken for gone). */
void adapt_connections(Broker *b);
void adapt_tick(Broker *b); /* once a second: silence, and the feed's snapshot */
void adapt_on_control(Broker *b, const uint8_t *id, size_t idlen, const Kiln__Envelope *req);
const PartConfig *adapt_config(const Broker *b, const Agent *a); /* a may be NULL */
uint32_t adapt_agent_number(Broker *b, const uint8_t *id, size_t idlen); /* 0: no Hello */
void adapt_on_heat_map(Broker *b, const uint8_t *id, size_t idlen, const Kiln__Envelope *req);
void adapt_on_partition_request(Broker *b, const uint8_t *id, size_t idlen,
                                const Kiln__Envelope *req);
void adapt_free(Broker *b);

/* kept.c: each module's kept heat maps, for its next run's start. */
typedef enum {
  KEPT_LAST, /* the last run's, with what it could not see from the runs before */
  KEPT_READY, /* the last one whose start partition was all compiled */
  KEPT_PENDING, /* the one whose start partition compiles for the runs to come */
} KeptKind;
bool kept_exists(const Broker *b, const uint8_t hash[32]); /* KEPT_LAST */
void kept_write(const Broker *b, const Kiln__HeatMap *hm, KeptKind kind);
Kiln__HeatMap *kept_read(const Broker *b, const uint8_t hash[32], KeptKind kind); /* or NULL */
void kept_remove(const Broker *b, const uint8_t hash[32], KeptKind kind);
/* What hm, a run's final heat map, could not see, from old (kept before;
 * what is left of it is still old's to free). */
void kept_carry_unseen(Kiln__HeatMap *hm, Kiln__HeatMap *old, uint32_t nfuncs);

/* feed.c: nothing here waits; without a feed every call is a no-op, but
 * the compile counts behind ServiceStats are kept either way. */
int feed_open(Broker *b, const char *endpoint); /* -1 after the error line */
void feed_close(Broker *b);
void feed_agent(Broker *b, const Agent *a, bool snapshot);
void feed_heat_map(Broker *b, uint32_t agent, const WasmModule *m, const Kiln__HeatMap *hm,
                   bool snapshot);
void feed_partition(Broker *b, uint32_t agent, const Kiln__Partition *p, bool control,
                    bool snapshot);
/* A compile job's news, naming its functions and the agents waiting for
 * it; job number 0 with pkg: answered from the package index. */
void feed_compile(Broker *b, Kiln__CompileState state, const Job *j, double duration_s,
                  const Kiln__PackageReady *pkg, const char *error);
void feed_control(Broker *b, const Kiln__Control *c, const Kiln__ControlReply *r);
void feed_stats(Broker *b); /* once a second, after the snapshot */

/* broker.c */
int broker_run(const KilndConfig *cfg);
/* Sends env to one client (never blocks: a client that does not read loses
 * replies rather than stall everyone). */
void broker_send(Broker *b, const uint8_t *client, size_t client_len, Kiln__Envelope *env);
void broker_send_error(Broker *b, const uint8_t *client, size_t client_len, uint64_t request_id,
                       Kiln__ErrorCode code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* worker.c */
/* scratch.c: a worker's directory for the compiler's temporary files,
 * ${TMPDIR:-/tmp}/kilnd-w<pid>. */
void scratch_path(pid_t worker, char *buf, size_t size);
/* The worker makes its own (its path in dir) and points TMPDIR at it. */
bool scratch_enter(char *dir, size_t size);
void scratch_clear(const char *dir); /* removes what is in it */
void scratch_remove(pid_t worker); /* with what is in it: the worker is gone */

int worker_main(const KilndConfig *cfg);
bool worker_have_compiler(void);

#endif
