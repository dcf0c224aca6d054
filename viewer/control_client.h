/*
 * control_client.h: sends a Control to kilnd's socket and hands back its
 * ControlReply, without blocking the main loop. One request at a time: a
 * newer one replaces one still waiting (which is told so).
 */
#ifndef KILN_VIEWER_CONTROL_CLIENT_H
#define KILN_VIEWER_CONTROL_CLIENT_H

#include "kiln.pb-c.h"

typedef struct ControlClient ControlClient;

/* reply is NULL when there is none; error then says why in one line. Both
 * are valid only during the call. */
typedef void (*ControlDone)(const Kiln__ControlReply *reply, const char *error, void *data);

ControlClient *control_client_new(void *zctx, const char *endpoint);
void control_client_free(ControlClient *cc);
void control_client_send(ControlClient *cc, const Kiln__Control *c, ControlDone done, void *data);
const char *control_client_endpoint(ControlClient *cc);

#endif
