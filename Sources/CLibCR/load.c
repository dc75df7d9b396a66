// What Swift cannot declare or see: an ELF constructor (it only hands over
// to Swift, which installs the checkpoint signal handler) and two GNU calls.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>
#include "CLibCR.h"

int cr_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

const char *cr_loaded_from(const void *address) {
    Dl_info info;
    return dladdr(address, &info) ? info.dli_fname : 0;
}

__attribute__((constructor)) static void swiftcr_libcr_constructor(void) { swiftcr_libcr_loaded(); }
