/* Debian's libzstd (libzstd-dev), as a Swift module: nothing of our own. */
#include <zstd.h>
