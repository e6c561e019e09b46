/* SPDX-License-Identifier: MIT */
/* The library's version, as compiled in. */
#include "bp_private.h"

const char *bp_version(void)
{
    return BP_VERSION_STRING;
}
