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

/*
 * sc_why_errno() - sc_why() for a failed call that set errno: errno is read
 * first, before anything is formatted (vsnprintf() may itself set errno, e.g.
 * EILSEQ for a %ls it cannot convert, so `return snprintf(why, ...), -errno`
 * can return the wrong error), and errno is that value again when @fmt is
 * formatted (so %m says it) and on return. Returns -errno, or -EIO when errno
 * was 0 (a failure is never returned as success).
 */
_printf_(3, 4) int sc_why_errno(char *why, size_t why_size, const char *fmt, ...);
