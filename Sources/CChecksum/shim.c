// Header-only: see include/CChecksum.h.
