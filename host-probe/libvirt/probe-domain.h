/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The lifecycle of a domain the probe defines itself (`run --libvirt`, as
 * bcvk libvirt run does: docs/libvirt.md): named, defined and started,
 * destroyed and undefined with its nvram and TPM state, and the domains a
 * killed run left removed by the owner their <metadata> names
 * (probe-workdir.h). Nothing here prints: what goes wrong comes back in
 * @why or through @log, unescaped (names and libvirt's messages are from
 * outside: the front end escapes them).
 */
#pragma once

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "probe-domain-xml.h"

typedef void (*probe_domain_log_t)(const char *msg, void *userdata);

static inline void probe_domain_freep(virDomainPtr *d)
{
	if (*d)
		virDomainFree(*d);
}
#define _cleanup_domain_ __attribute__((cleanup(probe_domain_freep)))

/* libvirt's last error message, "unknown error" when it has none. */
const char *probe_domain_libvirt_error(void);

/* "sealcheck-<image>-<8 hex>": @image_dir's last name, in characters libvirt and a shell take as they are. */
int probe_domain_name(const char *image_dir, char *buf, size_t size);

/* QEMU's pid from the pid file libvirt writes for domain @name on @uri (qemu:///system or qemu:///session), -1 when none or not QEMU's. */
pid_t probe_domain_qemu_pid(const char *uri, const char *name);

/*
 * probe_domain_start() - @spec's XML defined (persistent) and started, so
 * that undefining removes the nvram copy and TPM state libvirt made for it;
 * started with AUTODESTROY when @autodestroy, so it also goes when the
 * probe's connection does. On failure the domain is undefined again,
 * *ret is NULL, and @why says what failed ("defining the domain NAME: ...",
 * or for a KVM domain that did not start "the KVM domain did not start:
 * <QEMU's first line>"). 0, -EINVAL (the XML), or -EIO.
 */
int probe_domain_start(virConnectPtr conn, const struct probe_domain_spec *spec, bool autodestroy, virDomainPtr *ret,
		       char *why, size_t why_size);

/* Destroy and undefine our own domain @dom (@tpm: its TPM state too). 0, or -EIO with @why. */
int probe_domain_undefine(virDomainPtr dom, const char *name, bool tpm, char *why, size_t why_size);

/*
 * probe_domain_remove() - probe_domain_undefine() at the end of a run; when
 * the connection died under us (libvirtd restarted, which also stops an
 * autodestroy domain) a new connection to @uri (retried while libvirtd comes
 * back, at most 30 s, each wait said through @log) finds the domain by its
 * UUID. 0, or -EIO with @why.
 */
int probe_domain_remove(virDomainPtr dom, const char *uri, const char *name, bool tpm, probe_domain_log_t log,
			void *userdata, char *why, size_t why_size);

/*
 * probe_domain_reap_orphans() - a run killed outright (SIGKILL, the OOM
 * killer) cannot undefine its domain: autodestroy stops it, but its
 * definition, nvram copy and TPM state stay. Removes the inactive
 * persistent domains named sealcheck-* whose <metadata> names an owner that
 * no live process is; a --keep domain names no owner and is never touched,
 * nor is a domain someone else defined. Each removal (and each failure) is
 * said through @log. Returns how many were removed.
 */
unsigned probe_domain_reap_orphans(virConnectPtr conn, probe_domain_log_t log, void *userdata);
