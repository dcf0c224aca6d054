/* test_viewer.h: the suites of test_viewer_models, one per file. */
#ifndef KILN_TEST_VIEWER_H
#define KILN_TEST_VIEWER_H

#include <check.h>

Suite *treemap_suite(void);
Suite *models_suite(void);
Suite *colormap_suite(void);

#endif
