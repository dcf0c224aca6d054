/*
 * style.h: dark or light. GTK 4.8 without libadwaita does not follow the
 * desktop's colour scheme by itself, so the viewer asks the desktop portal
 * (org.freedesktop.appearance color-scheme) and follows its changes; GTK
 * applies GTK_THEME and settings.ini itself.
 */
#ifndef KILN_VIEWER_STYLE_H
#define KILN_VIEWER_STYLE_H

#include <glib.h>

/* style: "auto" (the desktop's), "light" or "dark". */
void viewer_style_apply(const char *style);

#endif
