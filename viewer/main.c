/* main.c: kiln-viewer, the GTK 4 live heat-map viewer (app.c does it all). */
#include "app.h"

int main(int argc, char **argv) {
  return viewer_app_run(argc, argv);
}
