/* test_viewer_main.c: runs the viewer's model and layout suites. */
#include <stdlib.h>

#include "test_viewer.h"

int main(void) {
  SRunner *sr = srunner_create(treemap_suite());
  srunner_add_suite(sr, models_suite());
  srunner_add_suite(sr, colormap_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
