// Everything in CLinux is static inline in the header; this file exists so
// SwiftPM builds the module, and compiles the layout checks once.
#define _GNU_SOURCE
#include "CLinux.h"
