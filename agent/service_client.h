/*
 * service_client.h: the agent's side of the conversation with kilnd.
 *
 * One client per runtime, made on first use: a DEALER socket on kilnd's
 * ROUTER, plus a monitor of that socket so that a kilnd that dies mid-request
 * is noticed at once instead of after the whole timeout. Every call but
 * service_send_heat_map blocks the calling thread until its reply, an
 * error, or the timeout. A client belongs to one thread: the tiering thread has its own.
 */
#ifndef KILN_SERVICE_CLIENT_H
#define KILN_SERVICE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"
#include "kiln.pb-c.h"
#include "wasm.h"

typedef struct ServiceClient ServiceClient;

/* Connects to endpoint (NULL: the default ipc endpoint) and says hello.
 * KILN_OK with *out set; KILN_UNAVAILABLE when nothing answers there within
 * a short wait (so a caller may start a kilnd); KILN_ERROR when one answered
 * but cannot compile. err gets one line either way. */
kiln_status service_connect(const char *endpoint, int timeout_ms, ServiceClient **out, char *err,
                            size_t errsize);
void service_close(ServiceClient *c);
const char *service_endpoint(const ServiceClient *c);
/* The longest wait for one reply from now on (0: the default). */
void service_set_timeout(ServiceClient *c, int timeout_ms);

/* Makes sure kilnd has module m (uploading it only when kilnd asks), then
 * asks for a package of funcs at tier and waits for it. KILN_OK with *out
 * (free with kiln__package_ready__free_unpacked); otherwise KILN_ERROR (kilnd
 * refused or failed: its line is in err) or KILN_UNAVAILABLE (kilnd went
 * away or did not answer in time). */
kiln_status service_compile(ServiceClient *c, const WasmModule *m, const uint32_t *funcs,
                            size_t nfuncs, Kiln__Tier tier, Kiln__PackageReady **out, char *err,
                            size_t errsize);

/* Sends the heat map of module m (uploading m first when kilnd asks) and
 * waits for kilnd's partition of it; hm NULL: the partition of the last heat
 * map kilnd kept of m (empty when none). KILN_OK with *out (free with
 * kiln__partition__free_unpacked); otherwise as service_compile. */
kiln_status service_partition(ServiceClient *c, const WasmModule *m, Kiln__HeatMap *hm,
                              Kiln__Partition **out, char *err, size_t errsize);

/* Sends an interim heat map (HeatMap.interim) of a module kilnd has:
 * kilnd answers none. KILN_UNAVAILABLE when it cannot be sent. */
kiln_status service_send_heat_map(ServiceClient *c, Kiln__HeatMap *hm, char *err, size_t errsize);

/* One package to ask for. */
typedef struct {
  const uint32_t *funcs;
  size_t nfuncs;
  Kiln__Tier tier;
  Kiln__CallHint **hints; /* the partition job's profile, as it came */
  size_t nhints;
  uint32_t *without_osr;
  size_t nwithout_osr;
  uint32_t *osr_body;
  size_t nosr_body;
  Kiln__BranchHint **branch_hints;
  size_t nbranch_hints;
} ServiceJob;
/* Called as each reply comes: pkg (owned by the caller of ready only for the
 * call), or NULL and kilnd's one line. Returns false to stop waiting. */
typedef bool (*ServiceReady)(void *arg, size_t job, const Kiln__PackageReady *pkg, const char *err);
/* Asks for every job at once (after ensure_module) and calls ready for each
 * reply, in the order they come. KILN_OK once all came (or ready said
 * stop, or stop, asked every STOP_CHECK_MS while nothing comes, did);
 * KILN_UNAVAILABLE when kilnd went away or was silent too long. */
#define STOP_CHECK_MS 50
kiln_status service_compile_each(ServiceClient *c, const WasmModule *m, const ServiceJob *jobs,
                                 size_t njobs, ServiceReady ready, bool (*stop)(void *arg),
                                 void *arg, char *err, size_t errsize);

#endif
