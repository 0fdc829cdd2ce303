/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fleet's metrics: snapshots of probe-fleet.h's table, served and written (probe-metrics-fleet.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "probe-fleet.h"
#include "probe-metrics-fleet.h"
#if HAVE_METRICS_HTTP
#include "probe-metrics-http.h"
#endif
#include "probe-verdict.h"
#include "sc-macro.h"
#include "sc-report.h"

struct probe_metrics_fleet {
	struct probe_fleet *fleet;
	struct probe_metrics_server *server;
	struct probe_metrics_extra extra;
	/* the snapshot, rebuilt per scrape or write into arrays kept between them */
	struct probe_metrics_vm *vms;
	size_t vms_cap;
	struct probe_metrics_check *checks;
	size_t checks_cap;
	struct probe_metrics_lost *lost;
	size_t lost_cap;
	/* the textfile */
	char *textfile;
	sd_event_source *timer;
	uint64_t last_write_usec, due_usec; /* CLOCK_MONOTONIC; due 0: nothing pending */
	int last_error;
};

static double realtime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

static int fleet_snapshot(void *userdata, struct probe_metrics_snapshot *ret)
{
	struct probe_metrics_fleet *m = userdata;
	size_t n = probe_fleet_n_vms(m->fleet), n_checks = 0, c = 0, per_vm;

	if (n > PROBE_METRICS_MAX_VMS)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		const struct probe_fleet_vm *vm = probe_fleet_vm_at(m->fleet, i);

		per_vm = _SC_CHECK_MAX + (vm->tpm_links ? json_array_size(vm->tpm_links) : 0);
		n_checks += per_vm < PROBE_METRICS_CHECKS_MAX ? per_vm : PROBE_METRICS_CHECKS_MAX;
	}
	if (n > m->vms_cap) {
		struct probe_metrics_vm *p = reallocarray(m->vms, n, sizeof(*p));
		if (!p)
			return -ENOMEM;
		m->vms = p;
		m->vms_cap = n;
	}
	if (n_checks > m->checks_cap) {
		struct probe_metrics_check *p = reallocarray(m->checks, n_checks, sizeof(*p));
		if (!p)
			return -ENOMEM;
		m->checks = p;
		m->checks_cap = n_checks;
	}
	for (size_t i = 0; i < n; i++) {
		const struct probe_fleet_vm *vm = probe_fleet_vm_at(m->fleet, i);
		struct probe_metrics_vm *out = &m->vms[i];
		struct probe_metrics_check *first = m->checks ? m->checks + c : NULL;
		size_t k = 0, limit = n_checks - c;
		json_t *link;
		size_t j;

		if (limit > PROBE_METRICS_CHECKS_MAX)
			limit = PROBE_METRICS_CHECKS_MAX;
		*out = (struct probe_metrics_vm){
			.name = vm->name,
			.uuid = vm->uuid,
			.verdict = !vm->judged                     ? PROBE_METRICS_NONE
				   : vm->outcome == PROBE_SEALED   ? PROBE_METRICS_SEALED
				   : vm->outcome == PROBE_UNSEALED ? PROBE_METRICS_UNSEALED
								   : PROBE_METRICS_NO_REPORT,
			.up = vm->up,
			.stale = vm->stale,
			.tpm_proven = vm->evidence && strcmp(vm->evidence, PROBE_EVIDENCE_TPM) == 0,
			.last_report_ts = (double)(vm->last_report_realtime_us / 1000) / 1000.0,
			.consecutive_failures = vm->consecutive_failures,
			.has_tpm_counters = vm->has_tpm_counters,
			.tpm_reset_count = vm->tpm_reset_count,
			.last_round_seconds = vm->rounds ? (double)vm->round_ms / 1000.0 : 0,
			.rejected_frames = { vm->bad_frames, vm->stale_reports, vm->rejected_reports },
		};
		/* Only a sealed VM's digest is one the policy allows; a guest's other claims stay out of labels. */
		out->digest = out->verdict == PROBE_METRICS_SEALED && vm->digest[0] ? vm->digest : NULL;
		out->reports_total[PROBE_METRICS_R_SEALED] = vm->results[PROBE_FLEET_R_SEALED];
		out->reports_total[PROBE_METRICS_R_UNSEALED] = vm->results[PROBE_FLEET_R_UNSEALED];
		out->reports_total[PROBE_METRICS_R_TIMEOUT] = vm->results[PROBE_FLEET_R_TIMEOUT];
		out->reports_total[PROBE_METRICS_R_CLOSED] = vm->results[PROBE_FLEET_R_CLOSED];
		out->reports_total[PROBE_METRICS_R_ERROR] = vm->results[PROBE_FLEET_R_ERROR];
		for (unsigned id = 0; vm->judged && id < _SC_CHECK_MAX && k < limit; id++)
			if (vm->checks[id] != PROBE_FLEET_CHECK_ABSENT)
				first[k++] = (struct probe_metrics_check){
					sc_check_key(id), probe_fleet_check_name((enum probe_fleet_check)vm->checks[id])
				};
		json_array_foreach(vm->tpm_links, j, link) {
			if (k >= limit)
				break;
			first[k++] = (struct probe_metrics_check){ json_string_value(json_object_get(link, "link")),
								   json_string_value(json_object_get(link, "status")) };
		}
		out->checks = k ? first : NULL;
		out->n_checks = k;
		c += k;
	}
	n = probe_fleet_n_lost(m->fleet);
	if (n > m->lost_cap) {
		struct probe_metrics_lost *p = reallocarray(m->lost, n, sizeof(*p));
		if (!p)
			return -ENOMEM;
		m->lost = p;
		m->lost_cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		const struct probe_fleet_lost *l = probe_fleet_lost_at(m->fleet, i);

		m->lost[i] = (struct probe_metrics_lost){ l->name, l->uuid[0] ? l->uuid : NULL,
							  probe_fleet_source_name(l->source),
							  probe_fleet_loss_name(l->reason) };
	}
	*ret = (struct probe_metrics_snapshot){ m->vms, probe_fleet_n_vms(m->fleet), m->extra };
	ret->extra.lost = m->lost;
	ret->extra.n_lost = n;
	return 0;
}

static void textfile_schedule(struct probe_metrics_fleet *m, uint64_t after_usec);

#if HAVE_METRICS_HTTP
static void server_log(const char *msg, void *userdata)
{
	struct probe_metrics_fleet *m = userdata;

	probe_fleet_log(m->fleet, "%s", msg);
}
#endif

static void textfile_write(struct probe_metrics_fleet *m)
{
	struct probe_metrics_snapshot snap;
	int r;

	m->due_usec = 0;
	(void)sd_event_now(probe_fleet_event(m->fleet), CLOCK_MONOTONIC, &m->last_write_usec);
	r = fleet_snapshot(m, &snap);
	if (r >= 0)
		r = probe_metrics_write_textfile(m->textfile, &snap);
	if (r < 0 && r != m->last_error)
		probe_fleet_log(m->fleet, "--textfile %s: %s (tried again after the next change)", m->textfile,
				strerror(-r));
	m->last_error = r < 0 ? r : 0;
	/* A heartbeat even when nothing changes: node_textfile_mtime_seconds tells a live probe from a dead one. */
	textfile_schedule(m, PROBE_METRICS_TEXTFILE_ROUNDS_S * 1000000ull);
}

static int on_textfile_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	textfile_write(userdata);
	return 0;
}

/* Write no later than @after_usec past the last write (sooner when already due sooner). */
static void textfile_schedule(struct probe_metrics_fleet *m, uint64_t after_usec)
{
	uint64_t due = m->last_write_usec + after_usec, now = 0;

	if (m->due_usec && m->due_usec <= due)
		return;
	(void)sd_event_now(probe_fleet_event(m->fleet), CLOCK_MONOTONIC, &now);
	m->due_usec = due > now ? due : now;
	(void)sd_event_source_set_time(m->timer, m->due_usec);
	(void)sd_event_source_set_enabled(m->timer, SD_EVENT_ONESHOT);
}

static void on_fleet_change(struct probe_fleet *f, const struct probe_fleet_vm *vm, unsigned what, void *userdata)
{
	struct probe_metrics_fleet *m = userdata;

#if HAVE_METRICS_HTTP
	/* Any change, a round's counters included: the server renders again at its next scrape past a second. */
	probe_metrics_server_changed(m->server);
#endif
	if (!m->textfile)
		return;
	/* REMOVED comes before the VM goes: the write (later, from the timer) no longer sees it. */
	if (what & (PROBE_FLEET_ADDED | PROBE_FLEET_REMOVED | PROBE_FLEET_VERDICT | PROBE_FLEET_UP | PROBE_FLEET_STALE |
		    PROBE_FLEET_LOST))
		textfile_schedule(m, 1000000);
	else
		textfile_schedule(m, PROBE_METRICS_TEXTFILE_ROUNDS_S * 1000000ull);
}

int probe_metrics_fleet_new(struct probe_fleet *f, const char *listen_addr, const char *textfile,
			    struct probe_metrics_fleet **ret)
{
	struct probe_metrics_fleet *m;
	int r;

	if (!f || !ret)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fleet = f;
	m->extra.start_time_seconds = realtime_now();
	if (listen_addr) {
#if HAVE_METRICS_HTTP
		r = probe_metrics_server_new(probe_fleet_event(f), listen_addr, fleet_snapshot, m, &m->server);
		if (r < 0)
			goto fail;
		probe_metrics_server_set_log(m->server, server_log, m);
#else
		r = -EOPNOTSUPP; /* built without libmicrohttpd: the textfile only */
		goto fail;
#endif
	}
	if (textfile) {
		m->textfile = strdup(textfile);
		if (!m->textfile) {
			r = -ENOMEM;
			goto fail;
		}
		r = sd_event_add_time(probe_fleet_event(f), &m->timer, CLOCK_MONOTONIC, 0, 0, on_textfile_timer, m);
		if (r < 0)
			goto fail;
		(void)sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
		textfile_write(m); /* the fleet as it starts: its file exists from the first second */
	}
	r = probe_fleet_add_listener(f, on_fleet_change, m);
	if (r < 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	probe_metrics_fleet_free(m);
	return r;
}

unsigned probe_metrics_fleet_port(const struct probe_metrics_fleet *m)
{
#if HAVE_METRICS_HTTP
	return m && m->server ? probe_metrics_server_port(m->server) : 0;
#else
	return 0;
#endif
}

void probe_metrics_fleet_policy_loaded(struct probe_metrics_fleet *m, int ok)
{
	if (!m)
		return;
	m->extra.policy_reload_ts = realtime_now();
	m->extra.policy_reload_ok = ok;
#if HAVE_METRICS_HTTP
	probe_metrics_server_changed(m->server);
#endif
	if (m->textfile)
		textfile_schedule(m, 1000000);
}

void probe_metrics_fleet_libvirt_up(struct probe_metrics_fleet *m, int up)
{
	if (!m)
		return;
	m->extra.has_libvirt = 1;
	m->extra.libvirt_up = up;
#if HAVE_METRICS_HTTP
	probe_metrics_server_changed(m->server);
#endif
	if (m->textfile)
		textfile_schedule(m, 1000000);
}

struct probe_metrics_fleet *probe_metrics_fleet_free(struct probe_metrics_fleet *m)
{
	if (!m)
		return NULL;
#if HAVE_METRICS_HTTP
	probe_metrics_server_free(m->server);
#endif
	if (m->timer)
		sd_event_source_disable_unref(m->timer);
	free(m->textfile);
	free(m->vms);
	free(m->checks);
	free(m->lost);
	free(m);
	return NULL;
}
