// CPAM: Linux-PAM's headers for the VO module (pam_xos, pam_app_conv). Only
// declarations Swift cannot see on its own; no logic. Linked with -lpam.
#ifndef SWIFTCR_CPAM_H
#define SWIFTCR_CPAM_H
#include <security/pam_appl.h>
#include <security/pam_modules.h>
#include <security/pam_ext.h>
#include <syslog.h>
#endif
