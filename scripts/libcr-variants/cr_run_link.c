/* libcr_run.so.0: BLCR's link-time stand-in for cr_run (-lcr_run -u
 * cr_run_link_me), and what cr_run preloads. It exports only this marker
 * and loads libcr.so.0 (load_libcr.h), whose agent answers checkpoints
 * without callbacks. */
#include "load_libcr.h"

void cr_run_link_me(void) {}

__attribute__((constructor)) static void loaded(void) { load_libcr_beside((void *)cr_run_link_me); }
