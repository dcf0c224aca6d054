/*
 * style.c: dark or light (style.h).
 */
#include "style.h"

#include <gio/gio.h>
#include <gtk/gtk.h>
#include <string.h>

/* The portal's color-scheme: 0 no preference, 1 prefer dark, 2 prefer light.
 * No preference (or one newer than these) is the user's own setting
 * (settings.ini) or the theme's default, also after a 1 or 2 before it. */
static void set_scheme(guint32 scheme) {
  GtkSettings *s = gtk_settings_get_default();
  if (scheme == 1 || scheme == 2)
    g_object_set(s, "gtk-application-prefer-dark-theme", scheme == 1, NULL);
  else
    gtk_settings_reset_property(s, "gtk-application-prefer-dark-theme");
}

static void on_setting_changed(GDBusConnection *c, const char *sender, const char *path,
                               const char *iface, const char *signal, GVariant *params,
                               gpointer data) {
  (void)c, (void)sender, (void)path, (void)iface, (void)signal, (void)data;
  const char *ns, *key;
  GVariant *value;
  g_variant_get(params, "(&s&sv)", &ns, &key, &value);
  if (strcmp(ns, "org.freedesktop.appearance") == 0 && strcmp(key, "color-scheme") == 0 &&
      g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32))
    set_scheme(g_variant_get_uint32(value));
  g_variant_unref(value);
}

void viewer_style_apply(const char *style) {
  if (strcmp(style, "dark") == 0 || strcmp(style, "light") == 0) {
    g_object_set(gtk_settings_get_default(), "gtk-application-prefer-dark-theme",
                 strcmp(style, "dark") == 0, NULL);
    return;
  }
  /* No session bus (a bare X server, a test): the theme's own default,
   * without GLib trying to launch a bus of its own. */
  if (!g_getenv("DBUS_SESSION_BUS_ADDRESS"))
    return;
  GDBusConnection *bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, NULL);
  if (!bus)
    return;
  GVariant *r = g_dbus_connection_call_sync(
      bus, "org.freedesktop.portal.Desktop", "/org/freedesktop/portal/desktop",
      "org.freedesktop.portal.Settings", "Read",
      g_variant_new("(ss)", "org.freedesktop.appearance", "color-scheme"), G_VARIANT_TYPE("(v)"),
      G_DBUS_CALL_FLAGS_NONE, 500, NULL, NULL);
  if (r) {
    /* Read wraps the value once more than it says. */
    GVariant *v, *inner;
    g_variant_get(r, "(v)", &v);
    inner = g_variant_is_of_type(v, G_VARIANT_TYPE_VARIANT) ? g_variant_get_variant(v)
                                                            : g_variant_ref(v);
    if (g_variant_is_of_type(inner, G_VARIANT_TYPE_UINT32))
      set_scheme(g_variant_get_uint32(inner));
    g_variant_unref(inner);
    g_variant_unref(v);
    g_variant_unref(r);
  }
  g_dbus_connection_signal_subscribe(bus, "org.freedesktop.portal.Desktop",
                                     "org.freedesktop.portal.Settings", "SettingChanged",
                                     "/org/freedesktop/portal/desktop", NULL,
                                     G_DBUS_SIGNAL_FLAGS_NONE, on_setting_changed, NULL, NULL);
  /* The subscription holds the connection for the life of the process. */
}
