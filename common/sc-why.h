/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Why a core refused: the reason formatted into the caller's buffer, the error returned. */
#pragma once

#include <stddef.h>

#include "sc-macro.h"

/*
 * sc_why() - format @fmt into @why (at most @why_size bytes, NUL-terminated;
 * nothing when @why is NULL or @why_size 0) and return @r, so that a core can
 * say `return sc_why(-EPERM, why, why_size, "...", ...)`. Cores never print:
 * the front end decides where the reason goes, escaped.
 */
_printf_(4, 5) int sc_why(int r, char *why, size_t why_size, const char *fmt, ...);
