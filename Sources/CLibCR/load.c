// The one thing Swift cannot declare: an ELF constructor. It only hands
// over to Swift, which installs the checkpoint signal handler.
#include "CLibCR.h"

__attribute__((constructor)) static void swiftcr_libcr_constructor(void) { swiftcr_libcr_loaded(); }
