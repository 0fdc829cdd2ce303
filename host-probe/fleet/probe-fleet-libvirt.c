/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* watch --libvirt: the fleet's libvirt source (probe-libvirt.h's discovery feeding probe-fleet.h's table). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "probe-fleet-libvirt.h"
#include "probe-fleet.h"
#include "probe-libvirt.h"

static void fleet_log(struct probe_libvirt *l, const char *msg, void *userdata)
{
	(void)l;
	probe_fleet_log(userdata, "libvirt: %s", msg);
}

static void fleet_added(struct probe_libvirt *l, const char *name, const char *uuid, const char *socket_path,
			bool tpm, void *userdata)
{
	int r = probe_fleet_add_vm(userdata, name, uuid, socket_path, PROBE_FLEET_LIBVIRT);

	/* A domain with a <tpm>: its rounds require TPM evidence from the first one (probe-fleet.h). Never
	 * watched without it: a TPM VM judged self-reported would be a weaker verdict than its TPM allows.
	 * A colliding offer (-EEXIST) keeps the word for when it is watched. */
	if (r == -EEXIST)
		(void)probe_fleet_set_vm_tpm(userdata, name, PROBE_FLEET_LIBVIRT, tpm);
	if (r >= 0 && (r = probe_fleet_set_vm_tpm(userdata, name, PROBE_FLEET_LIBVIRT, tpm)) < 0)
		(void)probe_fleet_remove_vm_source(userdata, name, PROBE_FLEET_LIBVIRT);

	if (r < 0) {
		char msg[PROBE_DOMAIN_NAME_MAX + 100];

		snprintf(msg, sizeof(msg), "domain %s not watched: %s", name,
			 r == -EEXIST ? "another source offers a VM of that name" : strerror(-r));
		fleet_log(l, msg, userdata);
	}
}

static void fleet_removed(struct probe_libvirt *l, const char *name, const char *uuid, void *userdata)
{
	const struct probe_fleet_vm *vm = probe_fleet_find(userdata, name);

	(void)l;
	/* Only that domain: a new domain of the same name (another UUID) announced meanwhile stays. */
	if (vm && (!uuid || !vm->uuid[0] || strcmp(vm->uuid, uuid) == 0))
		(void)probe_fleet_remove_vm_source(userdata, name, PROBE_FLEET_LIBVIRT);
}

int probe_fleet_libvirt_new(struct probe_fleet *f, const char *uri, struct probe_libvirt **ret)
{
	static const struct probe_libvirt_ops ops = { .added = fleet_added, .removed = fleet_removed, .log = fleet_log };
	sd_event *e = probe_fleet_event(f);
	int r = probe_libvirt_event_init(e);

	if (r < 0)
		return r;
	return probe_libvirt_new(e, uri, SC_VIRTIO_PORT_DEFAULT, &ops, f, ret);
}
