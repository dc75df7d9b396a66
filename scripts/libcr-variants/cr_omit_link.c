/* libcr_omit.so.0: BLCR's link-time stand-in for cr_run --omit (-lcr_omit
 * -u cr_omit_link_me), and what cr_run --omit preloads. It exports only
 * this marker and loads libcr.so.0 (load_libcr.h), whose agent finds the
 * marker outside libcr itself and asks every checkpoint to leave this
 * process out. */
#include "load_libcr.h"

void cr_omit_link_me(void) {}

__attribute__((constructor)) static void loaded(void) { load_libcr_beside((void *)cr_omit_link_me); }
