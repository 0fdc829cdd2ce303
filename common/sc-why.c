/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "sc-why.h"

int sc_why(int r, char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;

	if (why && why_size > 0) {
		va_start(ap, fmt);
		vsnprintf(why, why_size, fmt, ap);
		va_end(ap);
	}
	return r;
}

int sc_why_errno(char *why, size_t why_size, const char *fmt, ...)
{
	int e = errno > 0 ? errno : EIO;
	va_list ap;

	if (why && why_size > 0) {
		errno = e;
		va_start(ap, fmt);
		vsnprintf(why, why_size, fmt, ap);
		va_end(ap);
	}
	errno = e;
	return -e;
}
