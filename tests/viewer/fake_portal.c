/*
 * fake_portal.c: the one part of the desktop portal kiln-viewer asks
 * (viewer/style.c), on the session bus of a test: the Settings interface's
 * org.freedesktop.appearance color-scheme.
 *
 *   fake-portal SCHEME [SECONDS NEW-SCHEME]
 *
 * Answers Read with SCHEME (0 no preference, 1 prefer dark, 2 prefer
 * light). With SECONDS and NEW-SCHEME, SECONDS after the first Read it
 * emits SettingChanged to NEW-SCHEME and answers Read with it from then on,
 * as the portal does when the desktop's style changes. Prints one line when
 * it owns the portal's name (the test then starts the viewer) and one per
 * Read and change (so the test sees the order); exits 0 on SIGTERM, 1 if the
 * name cannot be had.
 */
#include <gio/gio.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define NAME "org.freedesktop.portal.Desktop"
#define PATH "/org/freedesktop/portal/desktop"
#define IFACE "org.freedesktop.portal.Settings"
#define NS "org.freedesktop.appearance"
#define KEY "color-scheme"

/* What the viewer uses of the real portal's interface at version 1 (its
 * ReadAll left out). */
static const char xml[] = "<node><interface name='" IFACE "'>"
                          "<method name='Read'><arg type='s' name='namespace' direction='in'/>"
                          "<arg type='s' name='key' direction='in'/>"
                          "<arg type='v' name='value' direction='out'/></method>"
                          "<signal name='SettingChanged'><arg type='s' name='namespace'/>"
                          "<arg type='s' name='key'/><arg type='v' name='value'/></signal>"
                          "<property name='version' type='u' access='read'/>"
                          "</interface></node>";

typedef struct {
  GMainLoop *loop;
  GDBusConnection *bus; /* the session bus, once connected */
  guint32 scheme, new_scheme;
  guint delay_s; /* 0: no change (or it is done) */
  guint change; /* the change's timer, once armed */
  int status;
} Portal;

static gboolean on_change(gpointer data) {
  Portal *p = data;
  p->change = p->delay_s = 0; /* once */
  p->scheme = p->new_scheme;
  /* No destination: a broadcast, which the viewer's match rule catches. */
  g_dbus_connection_emit_signal(p->bus, NULL, PATH, IFACE, "SettingChanged",
                                g_variant_new("(ssv)", NS, KEY, g_variant_new_uint32(p->scheme)),
                                NULL);
  printf("fake-portal: SettingChanged %s: %u\n", KEY, (unsigned)p->scheme);
  fflush(stdout);
  return G_SOURCE_REMOVE;
}

static void on_call(GDBusConnection *c, const char *sender, const char *path, const char *iface,
                    const char *method, GVariant *params, GDBusMethodInvocation *call,
                    gpointer data) {
  (void)c, (void)sender, (void)path, (void)iface, (void)method;
  Portal *p = data;
  const char *ns, *key;
  g_variant_get(params, "(&s&s)", &ns, &key);
  if (strcmp(ns, NS) || strcmp(key, KEY)) {
    g_dbus_method_invocation_return_dbus_error(call, "org.freedesktop.portal.Error.NotFound",
                                               "Requested setting not found");
    return;
  }
  printf("fake-portal: Read %s: %u\n", KEY, (unsigned)p->scheme);
  fflush(stdout);
  /* Counted from the first Read, the change comes after the viewer has
   * read the old scheme, so only the signal can bring the new one. */
  if (p->delay_s && !p->change)
    p->change = g_timeout_add(p->delay_s * 1000, on_change, p);
  /* As the real portal: the (v) holds a v that holds the u. */
  g_dbus_method_invocation_return_value(
      call, g_variant_new("(v)", g_variant_new_variant(g_variant_new_uint32(p->scheme))));
}

static GVariant *on_get(GDBusConnection *c, const char *sender, const char *path, const char *iface,
                        const char *property, GError **error, gpointer data) {
  (void)c, (void)sender, (void)path, (void)iface, (void)property, (void)error, (void)data;
  return g_variant_new_uint32(1); /* version: the only property */
}

static const GDBusInterfaceVTable vtable = {on_call, on_get, NULL, {0}};

static void on_bus(GDBusConnection *bus, const char *name, gpointer data) {
  (void)name;
  Portal *p = data;
  GDBusNodeInfo *node = g_dbus_node_info_new_for_xml(xml, NULL);
  GError *err = NULL;
  /* Exported before the name is ours, so no call finds the name without it. */
  if (!g_dbus_connection_register_object(bus, PATH, node->interfaces[0], &vtable, p, NULL, &err)) {
    fprintf(stderr, "fake-portal: %s\n", err->message);
    g_error_free(err);
    p->status = 1;
    g_main_loop_quit(p->loop);
  }
  g_dbus_node_info_unref(node);
  p->bus = bus;
}

static void on_name(GDBusConnection *bus, const char *name, gpointer data) {
  (void)bus, (void)data;
  printf("fake-portal: owns %s\n", name);
  fflush(stdout);
}

static void on_name_lost(GDBusConnection *bus, const char *name, gpointer data) {
  (void)bus;
  Portal *p = data;
  fprintf(stderr, "fake-portal: cannot own %s (no session bus, or another portal)\n", name);
  p->status = 1;
  g_main_loop_quit(p->loop);
}

static gboolean on_sigterm(gpointer data) {
  g_main_loop_quit(((Portal *)data)->loop);
  return G_SOURCE_REMOVE;
}

static bool scheme_arg(const char *s, guint32 *scheme) {
  if (strcmp(s, "0") && strcmp(s, "1") && strcmp(s, "2"))
    return false;
  *scheme = (guint32)(*s - '0');
  return true;
}

int main(int argc, char **argv) {
  Portal p = {0};
  guint64 delay = 0;
  if ((argc != 2 && argc != 4) || !scheme_arg(argv[1], &p.scheme) ||
      (argc == 4 && (!g_ascii_string_to_unsigned(argv[2], 10, 1, 3600, &delay, NULL) ||
                     !scheme_arg(argv[3], &p.new_scheme)))) {
    fprintf(stderr, "usage: fake-portal SCHEME [SECONDS NEW-SCHEME] (schemes 0, 1 or 2)\n");
    return 2;
  }
  p.delay_s = (guint)delay;
  p.loop = g_main_loop_new(NULL, FALSE);
  g_unix_signal_add(SIGTERM, on_sigterm, &p);
  /* DO_NOT_QUEUE: a second portal fails rather than waits. */
  guint owner = g_bus_own_name(G_BUS_TYPE_SESSION, NAME, G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                               on_bus, on_name, on_name_lost, &p, NULL);
  g_main_loop_run(p.loop);
  g_bus_unown_name(owner);
  if (p.change)
    g_source_remove(p.change);
  g_main_loop_unref(p.loop);
  return p.status;
}
