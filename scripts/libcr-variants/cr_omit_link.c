/* libcr_omit.so.0: BLCR's link-time stand-in for cr_run --omit (-lcr_omit
 * -u cr_omit_link_me). It holds only this marker and pulls in libcr.so.0,
 * whose agent finds the marker outside libcr itself and asks every
 * checkpoint to leave this process out. */
void cr_omit_link_me(void) {}
