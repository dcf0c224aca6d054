/*
 * dcm-run.h: in-process use of the compiler for tests and the conformance
 * runner: compile every defined function of an instance's module at a
 * tier, load the package the way the agent's loader will, and switch the
 * instance's entries to it.
 */
#ifndef KILN_DCM_RUN_H
#define KILN_DCM_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "dcm.h"
#include "kiln.h"

/* Compiles, loads and switches every defined function of `in`. False with
 * one line in err when the module cannot be compiled or loaded; the
 * instance then keeps its entries (it still runs, interpreted). */
bool dcm_switch_instance(kiln_instance *in, DcmTier tier, char *err, size_t n);

/* The same with a profile (dcm.h). */
bool dcm_switch_profiled(kiln_instance *in, DcmTier tier, const DcmProfile *profile, char *err,
                         size_t n);

/* The same with every function in the profile's osr_body: those with
 * loops compiled once, as their OSR entry, which a call enters at the top. */
bool dcm_switch_osr_body(kiln_instance *in, DcmTier tier, char *err, size_t n);

/* The same, but only the functions' OSR entries are set: calls stay
 * interpreted, and interpreted activations move into compiled code at
 * their next loop header. */
bool dcm_give_osr(kiln_instance *in, DcmTier tier, char *err, size_t n);

/* Milliseconds the last dcm_switch_instance spent in dcm_compile. */
double dcm_last_compile_ms(void);

/* Unloads every package loaded so far. Only when no instance that used one
 * will run again (end of a test, of a runner). */
void dcm_release_all(void);

#endif
