/* libcr_run.so.0: BLCR's link-time stand-in for cr_run (-lcr_run -u
 * cr_run_link_me). It holds only this marker; linking it pulls in libcr.so.0
 * (DT_NEEDED), whose agent answers checkpoints without callbacks. */
void cr_run_link_me(void) {}
