/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "sc-dlopen.h"

int sc_dlopen_many(void **handle, const char *soname, char *why, size_t why_size, ...)
{
	void *dl = *handle;
	va_list ap;
	int r = 0;

	if (dl)
		return 0; /* loaded and resolved before */
	dl = dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!dl) {
		const char *e = dlerror();

		snprintf(why, why_size, "%s is not available: %s", soname, e ? e : "dlopen failed");
		return -EOPNOTSUPP;
	}
	va_start(ap, why_size);
	for (void **slot; (slot = va_arg(ap, void **));) {
		const char *name = va_arg(ap, const char *);

		*slot = dlsym(dl, name);
		if (!*slot) {
			snprintf(why, why_size, "%s lacks %s", soname, name);
			r = -EOPNOTSUPP;
			break;
		}
	}
	va_end(ap);
	if (r < 0) {
		dlclose(dl);
		return r;
	}
	*handle = dl;
	return 0;
}
