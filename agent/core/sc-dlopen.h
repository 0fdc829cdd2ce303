/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Optional libraries loaded when first needed, as systemd loads its own
 * (src/shared/dlfcn-util.h): libcryptsetup (and its chain: device-mapper,
 * argon2, json-c, udev) only for dm-verity roots, libsystemd only for the
 * report's identity fields. `sealcheck verify` and `measure` never map them,
 * and a host without them still runs everything else.
 */
#pragma once

#include <stddef.h>

/* A symbol to resolve: SC_DLSYM_ARG(crypt_free) fills sym_crypt_free. */
#define SC_DLSYM_ARG(name) (void **)&sym_##name, #name

/*
 * Open @soname once (the handle is kept in *@handle) and resolve each
 * (void **slot, const char *name) pair up to a NULL. Returns 0, or
 * -EOPNOTSUPP with @why naming the library or symbol that is missing.
 */
int sc_dlopen_many(void **handle, const char *soname, char *why, size_t why_size, ...);
