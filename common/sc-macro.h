/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Ownership helpers used everywhere in sealcheck.
 *
 * Every owned resource is declared with a cleanup attribute and an
 * initialiser; ownership is handed on explicitly with TAKE_PTR()/TAKE_FD().
 */
#pragma once

#include <errno.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

static inline void sc_freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(sc_freep)

static inline void sc_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_ _cleanup_(sc_closep)

static inline void sc_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(sc_fclosep)

static inline void sc_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(sc_closedirp)

/* Hand over ownership: returns the value and leaves the variable empty. */
#define TAKE_PTR(p)                        \
	({                                 \
		__typeof__(p) _tp_ = (p);  \
		(p) = NULL;                \
		_tp_;                      \
	})
#define TAKE_FD(fd)                \
	({                         \
		int _tf_ = (fd);   \
		(fd) = -1;         \
		_tf_;              \
	})

/* Negative errno from the current errno, never 0 (a failed call that left errno 0 is EIO). */
static inline int sc_negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* Domain errors share the errno space, like composefs' ENOVERITY. */
#define SC_ENOVERITY ENODATA
