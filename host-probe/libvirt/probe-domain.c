/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <libvirt/virterror.h>

#include "probe-domain.h"
#include "probe-workdir.h"
#include "sc-fileio.h"
#include "sc-io.h"
#include "sc-macro.h"
#include "sc-why.h"

const char *probe_domain_libvirt_error(void)
{
	const char *m = virGetLastErrorMessage();

	return m ? m : "unknown error";
}

_printf_(3, 4) static void say(probe_domain_log_t log, void *userdata, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!log)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log(msg, userdata);
}

int probe_domain_name(const char *image_dir, char *buf, size_t size)
{
	const char *base = strrchr(image_dir, '/') ? strrchr(image_dir, '/') + 1 : image_dir;
	char clean[41];
	uint32_t rnd;
	size_t n = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -errno;
	for (; *base && n < sizeof(clean) - 1; base++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *base))
			clean[n++] = *base;
	clean[n] = '\0';
	snprintf(buf, size, "sealcheck-%s-%08x", n ? clean : "image", rnd);
	return 0;
}

pid_t probe_domain_qemu_pid(const char *uri, const char *name)
{
	_cleanup_free_ char *buf = NULL, *comm = NULL;
	char path[400];
	size_t len;
	long pid;
	char *end;

	if (strcmp(uri, "qemu:///system") == 0)
		snprintf(path, sizeof(path), "/run/libvirt/qemu/%s.pid", name);
	else if (strcmp(uri, "qemu:///session") == 0 && getenv("XDG_RUNTIME_DIR"))
		snprintf(path, sizeof(path), "%s/libvirt/qemu/run/%s.pid", getenv("XDG_RUNTIME_DIR"), name);
	else
		return -1;
	if (sc_read_file_capped(path, 32, &buf, &len) < 0)
		return -1;
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno || end == buf || pid <= 1 || pid > INT32_MAX)
		return -1;
	/* Only QEMU's: the pid file could be stale. */
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if (sc_read_file_capped(path, 64, &comm, &len) < 0)
		return -1;
	return strncmp(comm, "qemu-system-", 12) == 0 ? (pid_t)pid : -1;
}

int probe_domain_undefine(virDomainPtr dom, const char *name, bool tpm, char *why, size_t why_size)
{
	int active = virDomainIsActive(dom);

	if (active < 0 || (active == 1 && virDomainDestroy(dom) < 0))
		return sc_why(-EIO, why, why_size, "destroying the domain %s: %s", name, probe_domain_libvirt_error());
	if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM | (tpm ? VIR_DOMAIN_UNDEFINE_TPM : 0)) < 0)
		return sc_why(-EIO, why, why_size, "undefining the domain %s: %s", name, probe_domain_libvirt_error());
	return 0;
}

int probe_domain_start(virConnectPtr conn, const struct probe_domain_spec *spec, bool autodestroy, virDomainPtr *ret,
		       char *why, size_t why_size)
{
	_cleanup_free_ char *xml = NULL;
	_cleanup_domain_ virDomainPtr dom = NULL;
	char inner[512] = "";
	int r;

	*ret = NULL;
	r = probe_domain_xml_build(spec, &xml, inner, sizeof(inner));
	if (r < 0)
		return sc_why(r, why, why_size, "the domain XML: %s", inner);
	dom = virDomainDefineXML(conn, xml);
	if (!dom)
		return sc_why(-EIO, why, why_size, "defining the domain %s: %s", spec->name, probe_domain_libvirt_error());
	if (virDomainCreateWithFlags(dom, autodestroy ? VIR_DOMAIN_START_AUTODESTROY : 0) < 0) {
		const char *m = probe_domain_libvirt_error();

		char started[600];

		if (spec->kvm) /* its first line (QEMU's own error), for the accel note */
			snprintf(started, sizeof(started), "the KVM domain did not start: %.*s", (int)strcspn(m, "\n"), m);
		else
			snprintf(started, sizeof(started), "starting the domain %s: %s", spec->name, m);
		/* Undefined again; when that fails too, both are said (the next run's reaper removes it). */
		if (probe_domain_undefine(dom, spec->name, spec->tpm, inner, sizeof(inner)) < 0)
			return sc_why(-EIO, why, why_size, "%.300s; then %.280s", started, inner);
		return sc_why(-EIO, why, why_size, "%s", started);
	}
	*ret = TAKE_PTR(dom);
	return 0;
}

int probe_domain_remove(virDomainPtr dom, const char *uri, const char *name, bool tpm, probe_domain_log_t log,
			void *userdata, char *why, size_t why_size)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	long long deadline;
	virConnectPtr c = NULL;
	_cleanup_domain_ virDomainPtr again = NULL;
	int r;

	if (probe_domain_undefine(dom, name, tpm, why, why_size) == 0)
		return 0;
	if (virConnectIsAlive(virDomainGetConnect(dom)) == 1 || virDomainGetUUIDString(dom, uuid) < 0)
		return probe_domain_undefine(dom, name, tpm, why, why_size);
	/* The connection died under us: a new one, while libvirtd comes back (30 s at most). */
	deadline = sc_now_ms() + 30000;
	while (!(c = virConnectOpen(uri)) && sc_now_ms() < deadline) {
		say(log, userdata, "libvirt's connection is gone; waiting for libvirtd to undefine the domain");
		(void)poll(NULL, 0, 1000);
	}
	if (c && (again = virDomainLookupByUUIDString(c, uuid)))
		r = probe_domain_undefine(again, name, tpm, why, why_size);
	else
		r = sc_why(-EIO, why, why_size, "reconnecting to undefine the domain %s: %s", name,
			   probe_domain_libvirt_error());
	if (again)
		virDomainFree(TAKE_PTR(again));
	if (c)
		virConnectClose(c);
	return r;
}

unsigned probe_domain_reap_orphans(virConnectPtr conn, probe_domain_log_t log, void *userdata)
{
	virDomainPtr *doms = NULL;
	unsigned removed = 0;
	int n = virConnectListAllDomains(conn, &doms,
					 VIR_CONNECT_LIST_DOMAINS_INACTIVE | VIR_CONNECT_LIST_DOMAINS_PERSISTENT);

	for (int i = 0; i < n; i++) {
		_cleanup_domain_ virDomainPtr dom = doms[i];
		const char *name = virDomainGetName(dom);
		_cleanup_free_ char *xml = NULL;
		struct probe_owner o;
		char why[200];

		if (!name || strncmp(name, "sealcheck-", 10) != 0 ||
		    !(xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE)) ||
		    probe_domain_xml_owner(xml, strlen(xml), &o, why, sizeof(why)) != 1 || !probe_owner_gone(&o))
			continue;
		/* Its TPM state too (libvirt before 8.9 refuses the flag for a domain without one: then without it). */
		if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_TPM) == 0 ||
		    virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM) == 0) {
			removed++;
			say(log, userdata, "removed the domain %s a killed run left (its probe, pid %d, is gone)", name,
			    (int)o.pid);
		} else
			say(log, userdata, "removing a domain a killed run left %s: %s", name,
			    probe_domain_libvirt_error());
	}
	free(doms);
	return removed;
}
