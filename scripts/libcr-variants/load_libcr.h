/* libcr.so.0 is loaded beside this library with RTLD_LOCAL when the
 * library loads, not as a DT_NEEDED dependency: libcr's agent runs (its
 * constructor), but libcr's API stays out of the program's symbol scope,
 * as under BLCR, whose libcr_run exports nothing (BLCR's dlopen test: a
 * program run by cr_run finds no cr_init until it opens libcr itself). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* Dl_info, dladdr */
#endif
#include <dlfcn.h>
#include <limits.h>
#include <string.h>

static void load_libcr_beside(void *marker) {
    Dl_info info;
    char path[PATH_MAX];
    const char *slash = dladdr(marker, &info) && info.dli_fname ? strrchr(info.dli_fname, '/') : NULL;
    if (slash && (size_t)(slash - info.dli_fname) + sizeof "/libcr.so.0" <= sizeof path) {
        memcpy(path, info.dli_fname, (size_t)(slash - info.dli_fname));
        strcpy(path + (slash - info.dli_fname), "/libcr.so.0");
        if (dlopen(path, RTLD_NOW | RTLD_LOCAL)) return;
    }
    dlopen("libcr.so.0", RTLD_NOW | RTLD_LOCAL);
}
