/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* watch --libvirt: the fleet's libvirt source (probe-libvirt-watch.h's discovery feeding probe-fleet.h's table). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "probe-fleet-libvirt.h"
#include "probe-fleet.h"
#include "probe-libvirt-watch.h"

struct probe_fleet_libvirt {
	struct probe_fleet *fleet;
	struct probe_libvirt_watch *watch;
	probe_fleet_libvirt_reachable_t cb;
	void *userdata;
};

static void fleet_log(struct probe_libvirt_watch *w, const char *msg, void *userdata)
{
	struct probe_fleet_libvirt *s = userdata;

	(void)w;
	probe_fleet_log(s->fleet, "libvirt: %s", msg);
}

static void fleet_added(struct probe_libvirt_watch *w, const char *name, const char *uuid, const char *socket_path,
			bool tpm, void *userdata)
{
	struct probe_fleet_libvirt *s = userdata;
	int r = probe_fleet_add_vm(s->fleet, name, uuid, socket_path, PROBE_FLEET_LIBVIRT);

	/* A domain with a <tpm>: its rounds require TPM evidence from the first one (probe-fleet.h). Never
	 * watched without it: a TPM VM judged self-reported would be a weaker verdict than its TPM allows.
	 * A colliding offer (-EEXIST) keeps the word for when it is watched. */
	if (r >= 0 || r == -EEXIST) {
		int t = probe_fleet_set_vm_tpm(s->fleet, name, PROBE_FLEET_LIBVIRT, tpm);

		if (r >= 0 && t < 0) {
			(void)probe_fleet_remove_vm_source(s->fleet, name, PROBE_FLEET_LIBVIRT);
			r = t;
		}
	}

	if (r < 0) {
		char msg[PROBE_DOMAIN_NAME_MAX + 100];

		snprintf(msg, sizeof(msg), "domain %s not watched: %s", name,
			 r == -EEXIST ? "another source offers a VM of that name: neither is watched" : strerror(-r));
		fleet_log(w, msg, userdata);
	}
}

static void fleet_removed(struct probe_libvirt_watch *w, const char *name, const char *uuid,
			  enum probe_libvirt_gone why, void *userdata)
{
	struct probe_fleet_libvirt *s = userdata;
	const struct probe_fleet_vm *vm = probe_fleet_find(s->fleet, name);

	(void)w;
	/* Only that domain: a new domain of the same name (another UUID) announced meanwhile stays. No VM of
	 * that name: a colliding offer of it, if any, is withdrawn (probe-fleet.h, "Collisions"). */
	if (vm && vm->source == PROBE_FLEET_LIBVIRT && uuid && vm->uuid[0] && strcmp(vm->uuid, uuid) != 0)
		return;
	if (!vm || vm->source != PROBE_FLEET_LIBVIRT) {
		const struct probe_fleet_offer *o = probe_fleet_find_offer(s->fleet, name, PROBE_FLEET_LIBVIRT);

		/* Likewise an offer: only that domain's (a domain of the same name and another UUID offered since
		 * keeps its offer). */
		if (!o || (uuid && o->uuid[0] && strcmp(o->uuid, uuid) != 0))
			return;
	}
	switch (why) {
	case PROBE_LIBVIRT_GONE_STOPPED:
		/* Removal by its owner: the domain stopped, crashed, was undefined, lost its channel, or restarted
		 * (added again right after with its new socket path). */
		(void)probe_fleet_remove_vm_source(s->fleet, name, PROBE_FLEET_LIBVIRT);
		break;
	case PROBE_LIBVIRT_GONE_RECONCILED:
	default:
		/* Reconciliation after unreachability: the first listing after libvirt answered again no
		 * longer has it (it stopped, or lost its channel, while nobody could see): lost, "vanished". */
		(void)probe_fleet_lose_vm(s->fleet, name, PROBE_FLEET_LIBVIRT, PROBE_FLEET_LOST_VANISHED);
		break;
	}
}

static void fleet_reachable(struct probe_libvirt_watch *w, bool up, const char *why, void *userdata)
{
	struct probe_fleet_libvirt *s = userdata;

	(void)w;
	if (s->cb)
		s->cb(s, up, why, s->userdata);
}

int probe_fleet_libvirt_new(struct probe_fleet *f, const char *uri, probe_fleet_libvirt_reachable_t cb,
			    void *userdata, struct probe_fleet_libvirt **ret)
{
	static const struct probe_libvirt_watch_ops ops = {
		.added = fleet_added,
		.removed = fleet_removed,
		.log = fleet_log,
		.reachable = fleet_reachable,
	};
	struct probe_fleet_libvirt *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->fleet = f;
	s->cb = cb;
	s->userdata = userdata;
	r = probe_libvirt_watch_new(probe_fleet_event(f), uri, SC_VIRTIO_PORT_DEFAULT, 0, &ops, s, &s->watch);
	if (r < 0) {
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct probe_fleet_libvirt *probe_fleet_libvirt_free(struct probe_fleet_libvirt *s)
{
	if (!s)
		return NULL;
	probe_libvirt_watch_free(s->watch);
	free(s);
	return NULL;
}

bool probe_fleet_libvirt_reachable(const struct probe_fleet_libvirt *s)
{
	return s && probe_libvirt_watch_reachable(s->watch);
}
