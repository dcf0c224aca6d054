/*
 * status.h: `kiln status` and `kiln control` (status.c). Each takes the
 * words after its command and returns kiln's exit status.
 */
#ifndef KILN_STATUS_H
#define KILN_STATUS_H

int kiln_status_main(int argc, char **argv);
int kiln_control_main(int argc, char **argv);

#endif
