/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fleet health in the Prometheus text exposition format 0.0.4 (docs/metrics.md):
 * rendered from a plain snapshot the fleet fills, and written atomically as a
 * node_exporter textfile. The /metrics server is probe-metrics-http.h, the
 * fleet's glue probe-metrics-fleet.h.
 *
 * The snapshot holds pointers only: nothing in it is copied or kept past the
 * call it is passed to. Strings may hold any bytes; the renderer escapes label
 * values (\\ \" \n) and writes a byte that is not valid UTF-8 as the four
 * characters \xNN (docs/report.md's convention), validates uuid and digest
 * (an invalid one is rendered as ""), and keeps only check names made of
 * [A-Za-z0-9_.:-] (at most PROBE_METRICS_NAME_MAX bytes, at most
 * PROBE_METRICS_CHECKS_MAX per VM), so a guest cannot grow the series count.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROBE_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PROBE_METRICS_CHECKS_MAX 64
#define PROBE_METRICS_NAME_MAX 64
#define PROBE_METRICS_MAX_VMS 1000000

/* The verdict of one round (probe-verdict.h's enum probe_outcome, plus "none yet"). */
enum probe_metrics_verdict {
	PROBE_METRICS_SEALED = 0,
	PROBE_METRICS_UNSEALED = 1,
	PROBE_METRICS_NO_REPORT = 2,
	_PROBE_METRICS_VERDICT_MAX,
	PROBE_METRICS_NONE = _PROBE_METRICS_VERDICT_MAX, /* no round has ended yet */
};

/* How a round ended, for sealcheck_reports_total{result} (probe-fleet.h's enum probe_fleet_result). */
enum probe_metrics_result {
	PROBE_METRICS_R_SEALED = 0,
	PROBE_METRICS_R_UNSEALED, /* a valid report that fails the policy or its TPM links */
	PROBE_METRICS_R_TIMEOUT,  /* no valid report echoing the nonce before the deadline */
	PROBE_METRICS_R_CLOSED,   /* the guest's socket closed */
	PROBE_METRICS_R_ERROR,    /* a system error on the probe's side */
	_PROBE_METRICS_R_MAX,
};

/* Frames a VM sent that the probe refused, for sealcheck_rejected_frames_total{reason}. */
enum probe_metrics_frames {
	PROBE_METRICS_F_MALFORMED = 0, /* not a frame: bad header, CRC, size over the cap */
	PROBE_METRICS_F_STALE_NONCE,   /* a report for another nonce (a replay, or too late) */
	PROBE_METRICS_F_INVALID,       /* a report that failed validation */
	_PROBE_METRICS_F_MAX,
};

/* One check of the last report, or one TPM link. */
struct probe_metrics_check {
	const char *name;   /* "cmdline", "root_mount", ..., "tpm:quote", ...: see the header comment */
	const char *status; /* "pass" | "fail" | "error" | "skip"; "proven" counts as pass, "failed" as
			       fail, anything else (or NULL) as error */
};

struct probe_metrics_vm {
	const char *name;   /* the VM's name (socket file name, libvirt domain name): required */
	const char *uuid;   /* the libvirt UUID, or NULL */
	const char *digest; /* the policy-allowed digest the last sealed report named ("<hex>" or
			       "sha256:<hex>"/"sha512:<hex>", lowercase), or NULL */
	enum probe_metrics_verdict verdict; /* of the last round that ended */
	int up;                 /* 1: answered the last round with a valid report */
	int stale;              /* 1: no valid report for --stale seconds */
	int tpm_proven;         /* 1: the last SEALED verdict rests on TPM evidence */
	double last_report_ts;  /* Unix time of the last valid report, 0: never */
	const struct probe_metrics_check *checks; /* of the last valid report (and TPM links) */
	size_t n_checks;
	uint64_t reports_total[_PROBE_METRICS_R_MAX]; /* rounds ended since the probe started, by result */
	uint64_t consecutive_failures; /* rounds since the last SEALED one that were not SEALED */
	double last_round_seconds;     /* how long the last round took, nonce to verdict; 0: none yet */
	uint64_t rejected_frames[_PROBE_METRICS_F_MAX]; /* since the probe started */
	int has_tpm_counters;      /* 1: the VM has a TPM and its clock counters are known */
	uint64_t tpm_reset_count;  /* the TPM's resetCount from the last verified quote */
};

/* A VM that left without its owner stopping it (probe-fleet.h, "Lost VMs"). */
struct probe_metrics_lost {
	const char *name;   /* required */
	const char *uuid;   /* or NULL */
	const char *source; /* "socket-dir", "libvirt" */
	const char *reason; /* "socket-removed", "socket-replaced", "directory-removed", "vanished", "name-collision" */
};

/* Probe-wide values. */
struct probe_metrics_extra {
	const char *version;       /* NULL: this build's PACKAGE_VERSION */
	double start_time_seconds; /* Unix time the probe started; 0: not rendered */
	double policy_reload_ts;   /* Unix time of the last policy (re)load; 0: not rendered */
	int policy_reload_ok;      /* 1: that load succeeded (a failed SIGHUP keeps the old policy) */
	const struct probe_metrics_lost *lost; /* sealcheck_vm_lost, one series each */
	size_t n_lost;
	int has_libvirt;           /* 1: a libvirt source is watched: sealcheck_source_up{source="libvirt"} rendered */
	int libvirt_up;            /* 1: its last listing stands; 0: not yet, or unreachable (its VMs are kept) */
};

struct probe_metrics_snapshot {
	const struct probe_metrics_vm *vms;
	size_t n_vms;
	struct probe_metrics_extra extra;
};

/*
 * probe_metrics_render() - the exposition text of a snapshot: each family's
 * # HELP and # TYPE once, then its series in the order of @vms; no
 * timestamps. A VM's sealcheck_vm_sealed is 1 only when its verdict is
 * SEALED and it is not stale. @vms may be NULL when @n is 0; @x may be NULL.
 * Returns 0 with a malloc'd NUL-terminated text in *ret (length in *ret_len),
 * -EINVAL (a VM without a name, @n above PROBE_METRICS_MAX_VMS), -EOVERFLOW
 * or -ENOMEM.
 */
int probe_metrics_render(const struct probe_metrics_vm *vms, size_t n, const struct probe_metrics_extra *x,
			 char **ret, size_t *ret_len);

/*
 * probe_metrics_write_textfile() - render the snapshot into @path for
 * node_exporter's textfile collector (@path should end in ".prom"): written to
 * @path.tmp-XXXXXX in the same directory, mode 0644, fsync'd, renamed over
 * @path, the directory fsync'd. Returns 0 or a negative errno; on failure
 * @path is untouched and the temporary file removed. The caller decides how
 * often (the watch: after a batch of changes, at most once per second).
 */
int probe_metrics_write_textfile(const char *path, const struct probe_metrics_snapshot *s);

/*
 * The snapshot callback of the server: fill *ret (pointers into the fleet's
 * own state are fine: they must stay valid only until the callback returns to
 * the event loop, since the server renders right after the call and keeps
 * nothing). Returns 0 or a negative errno (the scrape gets a 500).
 */
typedef int (*probe_metrics_snapshot_t)(void *userdata, struct probe_metrics_snapshot *ret);

/*
 * probe_metrics_parse_listen() - "ADDR:PORT" (an IPv4 literal) or
 * "[ADDR]:PORT" (an IPv6 literal), PORT 0-65535 (0: the kernel picks one).
 * Returns 0 with the address in *ret and its length in *ret_len, or -EINVAL.
 */
int probe_metrics_parse_listen(const char *text, struct sockaddr_storage *ret, socklen_t *ret_len);
