/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fleet: every VM of a host attested round after round on ONE sd-event
 * loop (`sealcheck-probe watch`, docs/fleet.md).
 *
 * VMs. Each VM is a name (the socket's file name without .sock, or the
 * libvirt domain's name: never what the guest says), a UUID (may be empty), a
 * socket path and a source. They are kept in an array sorted by name:
 * lookup is a binary search, O(log N); adding or removing moves pointers
 * (a memmove, no scan, no event handler touches other VMs). Index i of
 * probe_fleet_vm_at() is valid until the next add or remove.
 *
 * Rounds. A round is one probe_session (probe-session.h) with a fresh nonce
 * and its own deadline (cfg.timeout_ms), bound to the loop by a probe_watch
 * (probe-loop.h): the session's frame, size, read-per-io and flood caps and its
 * strict validation apply unchanged. A VM's first round starts soon after it
 * appears (within min(interval, 1 s + 1 ms per VM then known), by a hash of
 * its name); after that its rounds sit on its own grid epoch + phase + k *
 * interval, phase = FNV-1a(name) % interval, so N VMs are spread evenly
 * across the interval and never fire at once, deterministically. The next
 * round is scheduled when a round ends, at the first grid point at least
 * half an interval after the last round began: rounds never overlap. With
 * cfg.keep_connection an answered round's connection (probe_session_take_fd)
 * carries the next round; a closed one is reconnected. Per round a VM costs
 * O(1) work plus O(log N) in sd-event's timer queue; each VM's session reads
 * at most max_read_per_io per wake-up, so a flooding, silent or slow guest
 * costs its own round and nothing of the others'. Nothing here blocks.
 *
 * Verdict. Each round ends in probe_verdict_decide() with the VM's policy
 * (the same as attest: a fixed --expect-digest policy for all, or a policy
 * document parsed once per load and resolved per VM by UUID, then name; a VM
 * with no entry gets an empty policy and so is NOT SEALED by policy:digest)
 * and, when the VM has a TPM, its TPM evidence (probe_evidence_verify, the
 * quote counters kept in DIR/<name>/quote-counters across probe restarts).
 *
 * TPM. A VM has a TPM when cfg.state_dir holds DIR/<name>/ (the state `run
 * --tpm-state DIR/<name>` keeps) or its source says so
 * (probe_fleet_set_vm_tpm()). How its AK is trusted (enum probe_fleet_ak),
 * decided from the files when it is added, on probe_fleet_refresh_tpm() and
 * after each activation round, and fixed for each round when it starts:
 *   DIR/<name>/ak.name exists      PINNED: the quote must be signed by that Name
 *                                  (unreadable or short: tpm:quote fails; never
 *                                  replaced by activation: remove it to re-bind)
 *   no ak.name, cfg.ek_ca_file     ACTIVATE: the round's session runs the credential
 *                                  phase with the VM's own probe_credential_config
 *                                  (pin_file DIR/<name>/ak.name); an AK proven bound
 *                                  to an EK certified by the CA, whose quote then
 *                                  verifies, is pinned, and the next rounds are PINNED
 *   no ak.name, no CA              UNTRUSTED: tpm:quote fails, saying to give --tpm-ek-ca
 *   no cfg.state_dir (source)      NO_STATE: tpm:evidence fails, saying to give --state-dir
 *   DIR, DIR/<name>/ or its ak.name refused
 *                                  REFUSED: tpm:evidence fails with the reason, also
 *                                  said once in the log: a symlink, not a directory
 *                                  (not a regular file), another owner than the
 *                                  probe's euid, group or other writable
 *                                  (probe-tpm-state.h; never followed, read or written)
 * A TPM VM is never judged self-reported SEALED. A source's TPM VM without
 * DIR/<name>/ gets it made (mkdirat, mode 0700) so its AK can be pinned there.
 * Timing: a TPM VM's round has its own deadline, cfg.tpm_timeout_ms (a quote
 * costs the guest 0.5-2 s under TCG, activation two more round trips with TPM
 * work); the session's evidence and credential waits end at that deadline.
 *
 * State per VM (struct probe_fleet_vm, read-only for others): outcome,
 * per-check status from the report, failed links and TPM links, digest, the
 * last valid report's time (CLOCK_REALTIME for output, CLOCK_MONOTONIC ms
 * inside), the last round's time and result, consecutive rounds not SEALED,
 * up (the last round brought a valid report echoing its nonce), stale (no
 * valid report for cfg.stale_ms since the last one or since the VM appeared;
 * a timer per VM, so it is marked on time), and counts of rounds by result.
 *
 * Listeners (outputs, metrics) are called after each change with what
 * changed (PROBE_FLEET_*). A listener must not add or remove VMs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "probe-session.h"
#include "probe-tpm-state.h"
#include "probe-evidence.h"
#include "probe-loop.h"
#include "probe-policy.h"
#include "probe-verdict.h"
#include "sc-report.h"

#define PROBE_FLEET_NAME_MAX 200
#define PROBE_FLEET_UUID_MAX 36
#define PROBE_FLEET_MAX_VMS 100000
#define PROBE_FLEET_MAX_LISTENERS 8

enum probe_fleet_source {
	PROBE_FLEET_SOCKET_DIR = 0,
	PROBE_FLEET_LIBVIRT,
	_PROBE_FLEET_SOURCE_MAX,
};

/* A round's result: the verdict for a report, or why there was none. */
enum probe_fleet_result {
	PROBE_FLEET_R_SEALED = 0,
	PROBE_FLEET_R_UNSEALED, /* a valid report that fails the policy or its TPM links; or a flood */
	PROBE_FLEET_R_TIMEOUT,  /* no valid report echoing the nonce before the deadline (incl. no connect) */
	PROBE_FLEET_R_CLOSED,   /* the guest's socket closed */
	PROBE_FLEET_R_ERROR,    /* a system error on our side */
	_PROBE_FLEET_R_MAX,
};

/* A check's status in the last valid report (per sc_check_key() id). */
enum probe_fleet_check {
	PROBE_FLEET_CHECK_ABSENT = 0,
	PROBE_FLEET_CHECK_PASS,
	PROBE_FLEET_CHECK_FAIL,
	PROBE_FLEET_CHECK_ERROR,
	PROBE_FLEET_CHECK_SKIP,
	_PROBE_FLEET_CHECK_MAX,
};

/* What changed, for listeners (a bit set). */
enum {
	PROBE_FLEET_ADDED = 1u << 0,
	PROBE_FLEET_REMOVED = 1u << 1, /* called before the VM is freed */
	PROBE_FLEET_ROUND = 1u << 2,   /* a round ended (every round) */
	PROBE_FLEET_VERDICT = 1u << 3, /* the outcome changed, or the first round ended */
	PROBE_FLEET_UP = 1u << 4,      /* up changed */
	PROBE_FLEET_STALE = 1u << 5,   /* stale changed */
	PROBE_FLEET_LOST = 1u << 6,    /* with REMOVED: the VM left without its owner stopping it (see below);
					* alone, with a NULL VM: the lost records changed without a VM (an offer) */
};

/*
 * Lost VMs. A VM that leaves for any reason but its owner stopping it (a
 * libvirt domain stopped, crashed or undefined; probe_fleet_remove_vm_source())
 * stays visible as a lost record: its name, UUID, source, why, and when. It
 * is cleared when a VM of that name and source is added again, after
 * PROBE_FLEET_LOST_KEEP_MS (a collision's not while its offer stands), or
 * when the probe restarts; at most
 * PROBE_FLEET_LOST_MAX records are kept (the oldest goes first, said once).
 * watch prints it and exports sealcheck_vm_lost{reason}; an alert rule fires
 * on it (docs/fleet.md, docs/alerts/).
 *
 * Collisions. A VM name offered by two sources (a socket web-01.sock and the
 * libvirt domain web-01) is watched from neither: each source's offer is kept
 * and lost with reason "name-collision", said through cfg.log; when one
 * source withdraws its offer, the other's is added (re-offered) as a new VM.
 */
enum probe_fleet_loss {
	PROBE_FLEET_LOST_SOCKET_REMOVED = 0, /* "socket-removed": its socket file went (socket directory) */
	PROBE_FLEET_LOST_SOCKET_REPLACED,    /* "socket-replaced": another file renamed or made under its name */
	PROBE_FLEET_LOST_DIR_REMOVED,	     /* "directory-removed": its socket directory went */
	PROBE_FLEET_LOST_VANISHED,	     /* "vanished": gone from its source's listing while it could not be watched */
	PROBE_FLEET_LOST_COLLISION,	     /* "name-collision": another source offers the same name */
	_PROBE_FLEET_LOST_MAX,
};

/* A source's offer of a name another source offers too (neither is watched). */
struct probe_fleet_offer {
	char name[PROBE_FLEET_NAME_MAX + 1];
	char uuid[PROBE_FLEET_UUID_MAX + 1];
	char *socket_path;
	enum probe_fleet_source source;
	bool tpm;	  /* probe_fleet_set_vm_tpm() */
	bool sock_pinned; /* probe_fleet_pin_vm_socket() */
	uint64_t sock_dev, sock_ino;
};

#define PROBE_FLEET_LOST_MAX 1024
#define PROBE_FLEET_LOST_KEEP_MS (24LL * 3600 * 1000)

struct probe_fleet_lost {
	char name[PROBE_FLEET_NAME_MAX + 1];
	char uuid[PROBE_FLEET_UUID_MAX + 1];
	enum probe_fleet_source source;
	enum probe_fleet_loss reason;
	long long realtime_us, mono_ms; /* when */
};

/* How a VM's attestation key is trusted (see the TPM paragraph above). */
enum probe_fleet_ak {
	PROBE_FLEET_AK_NONE = 0,  /* no TPM: self-reported */
	PROBE_FLEET_AK_PINNED,	  /* DIR/<name>/ak.name */
	PROBE_FLEET_AK_ACTIVATE,  /* no ak.name: credential activation (cfg.ek_ca_file), then pinned */
	PROBE_FLEET_AK_UNTRUSTED, /* no ak.name and no EK CA: tpm:quote fails */
	PROBE_FLEET_AK_NO_STATE,  /* a TPM by its source, no cfg.state_dir: tpm:evidence fails */
	PROBE_FLEET_AK_REFUSED,   /* DIR or DIR/<name>/ or its ak.name refused (state_why): tpm:evidence fails;
				   * probe_fleet_ak_name(): "refused" */
	_PROBE_FLEET_AK_MAX,
};

struct probe_fleet;

struct probe_fleet_vm {
	/* identity */
	char *name;
	char uuid[PROBE_FLEET_UUID_MAX + 1]; /* "" when not known */
	char ek_cn[PROBE_FLEET_NAME_MAX + PROBE_FLEET_UUID_MAX + 2]; /* libvirt: the EK certificate's CN, "<name>:<uuid>" */
	char *socket_path;
	enum probe_fleet_source source;
	bool tpm; /* the VM has a TPM: its evidence is required (never self-reported SEALED) */
	bool tpm_source; /* its source said it has a TPM (probe_fleet_set_vm_tpm()) */
	enum probe_fleet_ak ak; /* how its AK is trusted in its next round */
	bool sock_pinned;	/* probe_fleet_pin_vm_socket(): a new connection only to the socket inode below */
	uint64_t sock_dev, sock_ino;

	/* state after the last round */
	bool judged;		   /* at least one round ended */
	enum probe_outcome outcome; /* PROBE_NO_REPORT until judged */
	enum probe_fleet_result last_result;
	const char *evidence;	   /* PROBE_EVIDENCE or PROBE_EVIDENCE_TPM */
	bool up, stale;
	uint8_t checks[_SC_CHECK_MAX]; /* enum probe_fleet_check, from the last valid report */
	json_t *links;		   /* the last round's failed links [{link, reason}] (owned; never NULL once judged) */
	json_t *tpm_links;	   /* the last round's TPM links [{link, status, reason}], or NULL */
	char reason[600];	   /* no valid report: why */
	char digest[SC_DIGEST_HEX_MAX + 8]; /* "sha512:<hex>" the last valid report's image measured to, or "" */
	/* The last valid report's bootc deployment (system.deployment, the guest's claim): its image name
	 * ("" when none, or longer than the field: never cut) and manifest digest ("sha256:<hex>" or ""). */
	char image[256];
	char image_digest[72];
	char nonce[SC_NONCE_HEX_LEN + 1];   /* the last round's nonce */
	long long last_report_mono_ms, last_round_mono_ms; /* sc_now_ms(); 0: never */
	long long last_report_realtime_us, last_round_realtime_us; /* CLOCK_REALTIME; 0: never */
	long long verdict_mono_us;   /* when the last round's verdict was decided (sc_now_us()) */
	long long round_ms;	     /* how long the last round took */
	unsigned consecutive_failures; /* rounds in a row not SEALED */
	bool has_tpm_counters;	       /* a quote of this VM verified: tpm_reset_count is its TPM's */
	uint32_t tpm_reset_count;      /* resetCount of the last verified quote */
	uint64_t rounds, results[_PROBE_FLEET_R_MAX];
	uint64_t stale_reports, rejected_reports, bad_frames; /* summed over rounds */
	struct {
		unsigned bad, oversized, stale, rejected; /* frames of the last round: malformed, over the cap, old nonce, invalid */
	} last_frames;

	/* private to probe-fleet.c */
	struct probe_fleet *fleet;
	struct probe_session session; /* the current round's */
	struct probe_watch *watch;
	bool in_round;
	int kept_fd;
	uint32_t hash;
	long long added_mono_ms, round_started_ms;
	sd_event_source *round_timer, *stale_timer;
	struct probe_policy *policy; /* owned when from a policy document, else the fleet's */
	uint8_t *ak_name;	     /* TPM: the pinned AK Name (owned) */
	size_t ak_name_len;
	char *counters_file;	     /* with cfg.state_dir: DIR/<name>/quote-counters (owned, fixed) */
	struct probe_tpm_counters_mem counters_mem; /* the last verified quote, between writes of counters_file */
	char *pin_file;		     /* with cfg.state_dir: DIR/<name>/ak.name (owned, fixed) */
	enum probe_fleet_ak round_ak; /* vm->ak when the current round started */
	struct probe_credential_config cred; /* ACTIVATE: the current round's (its session points here) */
	char state_why[300];	     /* REFUSED: why DIR/<name>/ or its ak.name was refused (probe-tpm-state.h) */
	bool state_logged;	     /* state_why said in the log, once until the folder is fine again */
	bool seen;		     /* socket-dir rescans */
};

/* @vm is NULL only for PROBE_FLEET_LOST alone. */
typedef void (*probe_fleet_listener_t)(struct probe_fleet *f, const struct probe_fleet_vm *vm, unsigned what,
				       void *userdata);

struct probe_fleet_config {
	unsigned interval_ms;  /* default 30000 */
	unsigned timeout_ms;   /* one deadline per round; default min(interval, 20000) */
	unsigned stale_ms;     /* default 3 * interval */
	bool keep_connection;  /* an answered round's connection carries the next round */
	struct probe_session_config session; /* the caps (deadline_ms, expect_evidence are set per round) */
	const char *state_dir; /* DIR/<vm>/: that VM has a TPM (see above); NULL: only the sources' TPM VMs, which fail */
	const struct probe_evidence_expect *tpm; /* the host's keys and sealed UKI for TPM VMs (copied per VM) */
	const char *ek_ca_file; /* --tpm-ek-ca: a TPM VM with no ak.name gets credential activation; needs state_dir */
	unsigned tpm_timeout_ms; /* a TPM VM's round deadline; default max(timeout_ms, 20000) */
	bool allow_setup_mode; /* --no-require-secure-boot, applied over every policy */
	/* What the operator may want to know, one line without a newline, unescaped (names and paths from
	 * outside are in it: the front end escapes it). NULL: said nowhere. */
	void (*log)(const char *msg, void *userdata);
	void *log_userdata;
	/* The descriptors the process may hold (0: RLIMIT_NOFILE's soft limit when the fleet is made; the
	 * caller raises it to the hard limit first, as systemd.exec(5)'s LimitNOFILE= suggests). */
	unsigned long long fd_limit;
};

/* Returns 0 with *ret, -EINVAL for a state_dir without tpm or an ek_ca_file without state_dir, or another
 * negative errno. @e is referenced. */
int probe_fleet_new(sd_event *e, const struct probe_fleet_config *cfg, struct probe_fleet **ret);
struct probe_fleet *probe_fleet_free(struct probe_fleet *f);
sd_event *probe_fleet_event(struct probe_fleet *f);
const struct probe_fleet_config *probe_fleet_get_config(const struct probe_fleet *f);
/* Says @fmt through cfg.log (probe-fleet's own, and the metrics' and libvirt glue's). */
_printf_(2, 3) void probe_fleet_log(struct probe_fleet *f, const char *fmt, ...);

/* Up to PROBE_FLEET_MAX_LISTENERS. 0 or -E2BIG. */
int probe_fleet_add_listener(struct probe_fleet *f, probe_fleet_listener_t cb, void *userdata);

/* The same policy for every VM (--expect-digest). Copied. */
void probe_fleet_set_policy(struct probe_fleet *f, const struct probe_policy *p);
/*
 * probe_fleet_load_policy() - a sealcheck.policy.v1 file, checked whole
 * (probe_policy_parse()), then resolved for every VM, and for each VM
 * added later, from the parsed document. On error the policy in use stays
 * and @why says why. Returns 0 or a negative errno.
 */
int probe_fleet_load_policy(struct probe_fleet *f, const char *path, char *why, size_t why_size);

/*
 * probe_fleet_name_valid() - a VM name from outside (a socket's file name):
 * 1 to PROBE_FLEET_NAME_MAX bytes of valid UTF-8, no '/', no C0 or C1
 * control, no DEL, not "." or "..".
 */
bool probe_fleet_name_valid(const char *name, size_t len);

/*
 * probe_fleet_add_vm() - watch a VM. @uuid may be NULL or "". Returns 1
 * added, 0 when a VM of that name and source already exists (its UUID and
 * socket path are updated; a changed path ends its round and starts a new
 * one), -EEXIST when another source offers that name (a collision: neither
 * is watched until one withdraws, see "Collisions" above), -EINVAL for a name
 * probe_fleet_name_valid() refuses or a UUID over 36 bytes, -ENAMETOOLONG
 * for a path a UNIX socket address cannot hold, -E2BIG past
 * PROBE_FLEET_MAX_VMS, -ENOMEM.
 */
int probe_fleet_add_vm(struct probe_fleet *f, const char *name, const char *uuid, const char *socket_path,
		       enum probe_fleet_source source);
/* Stop watching it (its round, if any, is dropped). 0, or -ENOENT. */
int probe_fleet_remove_vm(struct probe_fleet *f, const char *name);
/*
 * Its owner stopped it: the VM of that name from @source is no longer
 * watched, without a lost record (a source removes only its own; a withdrawn
 * colliding offer re-offers the other source's). 0 or -ENOENT.
 */
int probe_fleet_remove_vm_source(struct probe_fleet *f, const char *name, enum probe_fleet_source source);
/* It left for @reason: removed as above, and kept visible as a lost record. 0 or -ENOENT. */
int probe_fleet_lose_vm(struct probe_fleet *f, const char *name, enum probe_fleet_source source,
			enum probe_fleet_loss reason);
/* The lost records, oldest first (expired ones dropped first). Valid until the next add, remove or loss. */
size_t probe_fleet_n_lost(struct probe_fleet *f);
const struct probe_fleet_lost *probe_fleet_lost_at(const struct probe_fleet *f, size_t i);
const char *probe_fleet_loss_name(enum probe_fleet_loss l); /* "socket-removed", ..., "name-collision" */
/* The colliding offers (read-only; valid until the next add, remove or loss), and @source's offer of @name. */
size_t probe_fleet_n_offers(const struct probe_fleet *f);
const struct probe_fleet_offer *probe_fleet_offer_at(const struct probe_fleet *f, size_t i);
const struct probe_fleet_offer *probe_fleet_find_offer(const struct probe_fleet *f, const char *name,
							enum probe_fleet_source source);

/* The VMs, sorted by name. Valid until the next add or remove. */
size_t probe_fleet_n_vms(const struct probe_fleet *f);
const struct probe_fleet_vm *probe_fleet_vm_at(const struct probe_fleet *f, size_t i);
const struct probe_fleet_vm *probe_fleet_find(const struct probe_fleet *f, const char *name);

/* Re-read DIR/<vm>/ and its ak.name for every VM (after SIGHUP): each VM's next round uses them. */
void probe_fleet_refresh_tpm(struct probe_fleet *f);

/*
 * probe_fleet_set_vm_tpm() - the VM's source says it has a TPM (@tpm true:
 * libvirt, a <tpm> device in the live domain XML) or not (false: then only
 * DIR/<name>/ makes it a TPM VM). Call it right after probe_fleet_add_vm()
 * (returning 0 or 1), in the same callback: the VM's first round starts
 * from the loop, so it already expects the evidence. Called later, it
 * counts from the VM's next round. With cfg.state_dir a TPM VM without
 * DIR/<name>/ gets it made (0700) to pin its AK in; without cfg.state_dir
 * its rounds fail closed (tpm:evidence). For a colliding offer (add
 * returned -EEXIST) the word is kept for when it is re-offered. Returns 0,
 * or -ENOENT when @source has no VM or offer of that name.
 */
int probe_fleet_set_vm_tpm(struct probe_fleet *f, const char *name, enum probe_fleet_source source, bool tpm);
const char *probe_fleet_ak_name(enum probe_fleet_ak a); /* "none", "pinned", "activate", "untrusted", "no-state", "refused" */

/*
 * probe_fleet_pin_vm_socket() - the VM's socket is the inode @dev/@ino (what
 * its source found at its socket path, lstat(2) st_dev/st_ino): every new
 * connection of its rounds goes to that socket only
 * (probe_session_connect_pinned()), never to whatever was put at the path
 * since; a kept connection stays. Call it right after probe_fleet_add_vm(),
 * in the same callback, as probe_fleet_set_vm_tpm(). A source that sees
 * another file at the path removes the VM (and adds a new one for a new
 * socket): a VM's name, policy, counters and TPM state are never carried
 * over to another socket. A colliding offer (add returned -EEXIST) is pinned
 * for when it is watched. Returns 0, or -ENOENT when no VM or offer has that
 * name.
 */
int probe_fleet_pin_vm_socket(struct probe_fleet *f, const char *name, uint64_t dev, uint64_t ino);

const char *probe_fleet_source_name(enum probe_fleet_source s);   /* "socket-dir", "libvirt" */
const char *probe_fleet_result_name(enum probe_fleet_result r);   /* "sealed", "unsealed", "timeout", "closed", "error" */
const char *probe_fleet_check_name(enum probe_fleet_check c);     /* "absent", "pass", "fail", "error", "skip" */
/*
 * Descriptors. With keep_connection each answering VM holds one descriptor
 * between rounds; they are budgeted so the rest of the process always has
 * some: at most probe_fleet_kept_max(fd_limit) = fd_limit - reserve are kept,
 * reserve = PROBE_FLEET_FD_RESERVE (the metrics listener and its 8
 * connections, the textfile and its directory, libvirt, inotify and the socket
 * directories being read, the loop's own, stdio) + fd_limit / 8 (rounds in
 * flight, whose connection is open only during the round). A round's
 * connection past the budget is closed when the round ends (that VM connects
 * again next round), and cfg.log says so once.
 */
#define PROBE_FLEET_FD_RESERVE 64
size_t probe_fleet_kept_max(unsigned long long fd_limit);
/*
 * Connections (kept and in rounds) never pass probe_fleet_conn_max(fd_limit) = fd_limit -
 * PROBE_FLEET_FD_RESERVE (at least 1): a round that would open one more waits
 * PROBE_FLEET_CONN_WAIT_MS and tries again (cfg.log says so once), never failing on EMFILE.
 */
#define PROBE_FLEET_CONN_WAIT_MS 50
size_t probe_fleet_conn_max(unsigned long long fd_limit);
/* Connections kept between rounds now. */
size_t probe_fleet_n_kept(const struct probe_fleet *f);
/* FNV-1a of @name: the VM's phase in the interval. */
uint32_t probe_fleet_hash(const char *name);
