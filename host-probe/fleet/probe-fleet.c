/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fleet: every VM of a host, round after round, on one event loop (probe-fleet.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "probe-fleet.h"
#include "probe-tpm-state.h"
#include "sc-digest.h"
#include "sc-fileio.h"
#include "sc-io.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-term.h"
#include "sc-why.h"

struct probe_fleet {
	sd_event *event;
	struct probe_fleet_config cfg;
	struct probe_fleet_vm **vms; /* sorted by name */
	size_t n, cap;
	long long epoch_ms;
	struct probe_policy fixed;   /* --expect-digest, or no policy yet (n_allowed 0) */
	json_t *policy_vms;	     /* a loaded policy document's "vms" (owned), or NULL: fixed */
	char policy_path[256];
	struct {
		probe_fleet_listener_t cb;
		void *userdata;
	} listeners[PROBE_FLEET_MAX_LISTENERS];
	unsigned n_listeners;
	struct probe_fleet_lost *lost; /* oldest first */
	size_t n_lost, lost_cap;
	bool lost_full_logged;
	struct probe_fleet_offer *offers; /* colliding names: each source's offer (see probe-fleet.h, "Collisions") */
	size_t n_offers;
	/* Kept connections (vm->kept_fd >= 0) and how many RLIMIT_NOFILE leaves them (probe-fleet.h). */
	size_t n_kept, kept_max;
	size_t n_in_round; /* rounds in progress, each holding one connection */
	unsigned long long fd_limit;
	bool kept_shed_said, conn_wait_said;
};


static size_t offer_of(const struct probe_fleet *f, const char *name, enum probe_fleet_source source);

const char *probe_fleet_source_name(enum probe_fleet_source s)
{
	return s == PROBE_FLEET_LIBVIRT ? "libvirt" : "socket-dir";
}

const char *probe_fleet_result_name(enum probe_fleet_result r)
{
	static const char *const names[] = {
		[PROBE_FLEET_R_SEALED] = "sealed", [PROBE_FLEET_R_UNSEALED] = "unsealed",
		[PROBE_FLEET_R_TIMEOUT] = "timeout", [PROBE_FLEET_R_CLOSED] = "closed",
		[PROBE_FLEET_R_ERROR] = "error",
	};

	return (unsigned)r < ELEMENTSOF(names) ? names[r] : "?";
}

const char *probe_fleet_check_name(enum probe_fleet_check c)
{
	static const char *const names[] = {
		[PROBE_FLEET_CHECK_ABSENT] = "absent", [PROBE_FLEET_CHECK_PASS] = "pass",
		[PROBE_FLEET_CHECK_FAIL] = "fail",     [PROBE_FLEET_CHECK_ERROR] = "error",
		[PROBE_FLEET_CHECK_SKIP] = "skip",
	};

	return (unsigned)c < ELEMENTSOF(names) ? names[c] : "?";
}

const char *probe_fleet_loss_name(enum probe_fleet_loss l)
{
	static const char *const names[_PROBE_FLEET_LOST_MAX] = {
		[PROBE_FLEET_LOST_SOCKET_REMOVED] = "socket-removed",
		[PROBE_FLEET_LOST_SOCKET_REPLACED] = "socket-replaced",
		[PROBE_FLEET_LOST_DIR_REMOVED] = "directory-removed",
		[PROBE_FLEET_LOST_VANISHED] = "vanished",
		[PROBE_FLEET_LOST_COLLISION] = "name-collision",
	};

	return (unsigned)l < _PROBE_FLEET_LOST_MAX ? names[l] : "?";
}

size_t probe_fleet_kept_max(unsigned long long fd_limit)
{
	unsigned long long reserve = PROBE_FLEET_FD_RESERVE + fd_limit / 8;

	return fd_limit > reserve ? (size_t)(fd_limit - reserve) : 0;
}

size_t probe_fleet_conn_max(unsigned long long fd_limit)
{
	return fd_limit > PROBE_FLEET_FD_RESERVE ? (size_t)(fd_limit - PROBE_FLEET_FD_RESERVE) : 1;
}

size_t probe_fleet_n_kept(const struct probe_fleet *f)
{
	return f->n_kept;
}

uint32_t probe_fleet_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

bool probe_fleet_name_valid(const char *name, size_t len)
{
	const unsigned char *p = (const unsigned char *)name;

	if (len == 0 || len > PROBE_FLEET_NAME_MAX || !sc_utf8_valid(name, len))
		return false;
	if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f || p[i] == '/')
			return false;
		/* C1 controls, U+0080..U+009F: C2 80..C2 9F in UTF-8 (valid UTF-8, so i + 1 < len). */
		if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
			return false;
	}
	return true;
}

static void notify(struct probe_fleet *f, const struct probe_fleet_vm *vm, unsigned what)
{
	for (unsigned i = 0; i < f->n_listeners; i++)
		f->listeners[i].cb(f, vm, what, f->listeners[i].userdata);
}

int probe_fleet_add_listener(struct probe_fleet *f, probe_fleet_listener_t cb, void *userdata)
{
	if (f->n_listeners >= PROBE_FLEET_MAX_LISTENERS)
		return -E2BIG;
	f->listeners[f->n_listeners].cb = cb;
	f->listeners[f->n_listeners].userdata = userdata;
	f->n_listeners++;
	return 0;
}

/* Binary search: the index of @name, or where it would go (*found false). */
static size_t lookup(const struct probe_fleet *f, const char *name, bool *found)
{
	size_t lo = 0, hi = f->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(f->vms[mid]->name, name);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

size_t probe_fleet_n_vms(const struct probe_fleet *f)
{
	return f->n;
}

const struct probe_fleet_vm *probe_fleet_vm_at(const struct probe_fleet *f, size_t i)
{
	return i < f->n ? f->vms[i] : NULL;
}

const struct probe_fleet_vm *probe_fleet_find(const struct probe_fleet *f, const char *name)
{
	bool found;
	size_t i = lookup(f, name, &found);

	return found ? f->vms[i] : NULL;
}

sd_event *probe_fleet_event(struct probe_fleet *f)
{
	return f->event;
}

void probe_fleet_log(struct probe_fleet *f, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!f->cfg.log)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	f->cfg.log(msg, f->cfg.log_userdata);
}

const struct probe_fleet_config *probe_fleet_get_config(const struct probe_fleet *f)
{
	return &f->cfg;
}

static long long realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- policy ---- */

/*
 * The VM's policy from @vms (a loaded document's "vms", read from @path): its
 * entry by UUID, else by name, checked as a one-entry document, in a new
 * allocation in *ret; &f->fixed when there is no document. 0 or -ENOMEM.
 */
static int policy_for(struct probe_fleet *f, const struct probe_fleet_vm *vm, json_t *vms, const char *path,
		      struct probe_policy **ret)
{
	_cleanup_json_ json_t *mini = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ struct probe_policy *p = NULL;
	json_t *entry = NULL;
	const char *key = NULL;
	char why[300];

	if (!vms) {
		*ret = &f->fixed;
		return 0;
	}
	p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	probe_policy_init(p);
	/* As attest picks it (probe_policy_key_match()): the UUID's entry over the name's, and a UUID-shaped
	 * key only by the UUID (a socket named like a domain's UUID does not get that domain's entry). */
	if (vm->uuid[0] && (entry = json_object_get(vms, vm->uuid)) &&
	    probe_policy_key_match(vm->uuid, NULL, vm->uuid) == 2)
		key = vm->uuid;
	else if ((entry = json_object_get(vms, vm->name)) && probe_policy_key_match(vm->name, vm->name, NULL) == 1)
		key = vm->name;
	else
		entry = NULL;
	if (!entry) {
		/* No digest the host allows: NOT SEALED by policy:digest, never a pass. */
		snprintf(p->source, sizeof(p->source), "no entry in %.140s", path);
	} else {
		mini = json_pack("{s:s, s:{s:O}}", "schema", PROBE_POLICY_SCHEMA, "vms", key, entry);
		text = mini ? json_dumps(mini, JSON_COMPACT) : NULL;
		if (!text)
			return -ENOMEM;
		/* The whole document passed probe_policy_parse() when loaded: this cannot fail but by ENOMEM. */
		if (probe_policy_parse(text, strlen(text), vm->name, vm->uuid[0] ? vm->uuid : NULL, p, why,
				       sizeof(why)) < 0) {
			probe_policy_init(p);
			snprintf(p->source, sizeof(p->source), "unusable entry in %.130s", path);
		}
	}
	if (f->cfg.allow_setup_mode)
		p->require_secure_boot = false;
	*ret = TAKE_PTR(p);
	return 0;
}

static void set_vm_policy(struct probe_fleet *f, struct probe_fleet_vm *vm, struct probe_policy *p)
{
	if (vm->policy && vm->policy != &f->fixed)
		free(vm->policy);
	vm->policy = p;
}

/* The VM's policy from the fleet's document. On -ENOMEM it keeps the one it had (or, new, none: fails closed). */
static int resolve_policy(struct probe_fleet *f, struct probe_fleet_vm *vm)
{
	struct probe_policy *p;
	int r = policy_for(f, vm, f->policy_vms, f->policy_path, &p);

	if (r < 0)
		return r;
	set_vm_policy(f, vm, p);
	return 0;
}

void probe_fleet_set_policy(struct probe_fleet *f, const struct probe_policy *p)
{
	f->fixed = *p;
	if (f->cfg.allow_setup_mode)
		f->fixed.require_secure_boot = false;
	if (f->policy_vms)
		json_decref(TAKE_PTR(f->policy_vms));
	for (size_t i = 0; i < f->n; i++)
		(void)resolve_policy(f, f->vms[i]);
}

int probe_fleet_load_policy(struct probe_fleet *f, const char *path, char *why, size_t why_size)
{
	_cleanup_free_ struct probe_policy **fresh = NULL;
	_cleanup_free_ char *buf = NULL;
	_cleanup_json_ json_t *doc = NULL;
	struct probe_policy scratch;
	char inner[300];
	size_t len;
	int r;

	r = sc_read_file_capped(path, PROBE_POLICY_FILE_MAX, &buf, &len);
	if (r < 0)
		return sc_why(r, why, why_size, "%s: %s", path, r == -EFBIG ? "larger than 4 MiB" : strerror(-r));
	/* Checked whole, strictly, as attest checks it: NULL names match no entry, so a good file says -ENOENT. */
	r = probe_policy_parse(buf, len, NULL, NULL, &scratch, inner, sizeof(inner));
	if (r != -ENOENT)
		return sc_why(r < 0 ? r : -EINVAL, why, why_size, "%s: %s", path, r < 0 ? inner : "unexpected");
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (!doc || !json_is_object(json_object_get(doc, "vms")))
		return sc_why(-EINVAL, why, why_size, "%s: could not be parsed again", path);
	/* Every VM's new policy first; only when all are made do they replace the old ones, all at once. */
	fresh = calloc(f->n ? f->n : 1, sizeof(*fresh));
	if (!fresh)
		return sc_why(-ENOMEM, why, why_size, "out of memory");
	for (size_t i = 0; i < f->n; i++) {
		r = policy_for(f, f->vms[i], json_object_get(doc, "vms"), path, &fresh[i]);
		if (r < 0) {
			for (size_t k = 0; k < i; k++)
				free(fresh[k]);
			return sc_why(r, why, why_size, "out of memory");
		}
	}
	if (f->policy_vms)
		json_decref(f->policy_vms);
	f->policy_vms = json_incref(json_object_get(doc, "vms"));
	snprintf(f->policy_path, sizeof(f->policy_path), "%s", path);
	for (size_t i = 0; i < f->n; i++)
		set_vm_policy(f, f->vms[i], fresh[i]);
	return 0;
}

/* ---- TPM ---- */

const char *probe_fleet_ak_name(enum probe_fleet_ak a)
{
	static const char *const names[] = {
		[PROBE_FLEET_AK_NONE] = "none",		  [PROBE_FLEET_AK_PINNED] = "pinned",
		[PROBE_FLEET_AK_ACTIVATE] = "activate",	  [PROBE_FLEET_AK_UNTRUSTED] = "untrusted",
		[PROBE_FLEET_AK_NO_STATE] = "no-state",	  [PROBE_FLEET_AK_REFUSED] = "refused",
	};

	return (unsigned)a < ELEMENTSOF(names) ? names[a] : "?";
}

/* Does the VM have a TPM, and how is its AK trusted? From DIR/<name>/, its ak.name and the source's word. */
static void tpm_refresh(struct probe_fleet *f, struct probe_fleet_vm *vm)
{
	_cleanup_close_ int fd = -1;
	char why[sizeof(vm->state_why)];
	struct stat st;
	size_t len = 0;
	int r;

	free(TAKE_PTR(vm->ak_name));
	vm->ak_name_len = 0;
	if (vm->counters_file)
		probe_tpm_state_counters_mem_refresh(vm->counters_file, &vm->counters_mem);
	vm->tpm = false;
	vm->ak = PROBE_FLEET_AK_NONE;
	if (!f->cfg.state_dir || !vm->pin_file) {
		/* A TPM no state directory is kept for: its evidence cannot be verified, so it fails (never self-reported). */
		if (vm->tpm_source) {
			vm->tpm = true;
			vm->ak = PROBE_FLEET_AK_NO_STATE;
		}
		return;
	}
	/* DIR, then DIR/<name>/ (made 0700 for a source's TPM VM), neither followed nor trusted unless ours. */
	fd = probe_tpm_state_open(f->cfg.state_dir, vm->name, vm->tpm_source, why, sizeof(why));
	if (fd == -ENOENT && !vm->tpm_source) {
		/* DIR is there and DIR/<name>/ is not: no TPM state and no word of a TPM: self-reported. DIR itself
		 * gone (a mount not there yet, moved away): which VMs have a TPM cannot be told, so none is
		 * judged self-reported: refused, failing tpm:evidence, until DIR is back (SIGHUP re-reads it). */
		if (fstatat(AT_FDCWD, f->cfg.state_dir, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			return;
		snprintf(why, sizeof(why), "%s: the state directory is gone (which VMs have a TPM cannot be told)",
			 f->cfg.state_dir);
	}
	r = fd < 0 ? fd : 0;
	if (fd >= 0 && fstatat(fd, PROBE_TPM_STATE_AK_NAME, &st, AT_SYMLINK_NOFOLLOW) >= 0) {
		/* An AK the host pinned: the quote must be signed by it; a short Name fails tpm:quote. */
		uint8_t name[PROBE_TPM_STATE_NAME_MAX];

		r = probe_tpm_state_read_ak_at(fd, vm->pin_file, name, sizeof(name), &len, why, sizeof(why));
		if (r == 0 && (vm->ak_name = malloc(len))) {
			memcpy(vm->ak_name, name, len);
			vm->ak_name_len = len;
		}
		if (r == 0 || r == -EBADMSG || r == -ENOMEM) {
			vm->tpm = true;
			vm->ak = PROBE_FLEET_AK_PINNED;
			vm->state_logged = false;
			return;
		}
		/* else refused (a symlink, another owner, ...): as a folder refused */
	}
	vm->tpm = true;
	if (r < 0) {
		/* A folder or pin refused: a TPM VM whose evidence cannot be trusted; said once, then each round. */
		vm->ak = PROBE_FLEET_AK_REFUSED;
		if (!vm->state_logged || strcmp(vm->state_why, why) != 0)
			probe_fleet_log(f, "%s: the VM's TPM state is refused: %s", vm->name, why);
		vm->state_logged = true;
		snprintf(vm->state_why, sizeof(vm->state_why), "%s", why);
		return;
	}
	vm->state_logged = false;
	/* A TPM whose AK the host has not pinned: bind it to the EK by credential activation, or fail. */
	vm->ak = f->cfg.ek_ca_file ? PROBE_FLEET_AK_ACTIVATE : PROBE_FLEET_AK_UNTRUSTED;
}

int probe_fleet_set_vm_tpm(struct probe_fleet *f, const char *name, enum probe_fleet_source source, bool tpm)
{
	struct probe_fleet_vm *vm = (struct probe_fleet_vm *)probe_fleet_find(f, name);
	size_t k = offer_of(f, name, source);

	if (k < f->n_offers) {
		/* A colliding offer: remembered for when it is re-offered. */
		f->offers[k].tpm = tpm;
		return 0;
	}
	if (!vm || vm->source != source)
		return -ENOENT;
	vm->tpm_source = tpm;
	tpm_refresh(f, vm);
	return 0;
}

int probe_fleet_pin_vm_socket(struct probe_fleet *f, const char *name, uint64_t dev, uint64_t ino)
{
	struct probe_fleet_vm *vm = (struct probe_fleet_vm *)probe_fleet_find(f, name);
	size_t k = offer_of(f, name, PROBE_FLEET_SOCKET_DIR);

	if (k < f->n_offers) {
		/* A colliding offer: pinned when it is watched (reoffer()). */
		f->offers[k].sock_pinned = true;
		f->offers[k].sock_dev = dev;
		f->offers[k].sock_ino = ino;
		return 0;
	}
	if (!vm)
		return -ENOENT;
	vm->sock_pinned = true;
	vm->sock_dev = dev;
	vm->sock_ino = ino;
	return 0;
}

void probe_fleet_refresh_tpm(struct probe_fleet *f)
{
	for (size_t i = 0; i < f->n; i++)
		tpm_refresh(f, f->vms[i]);
}

/* ---- rounds ---- */

static void schedule(struct probe_fleet_vm *vm, long long at_ms)
{
	(void)sd_event_source_set_time(vm->round_timer, (uint64_t)at_ms * 1000u);
	(void)sd_event_source_set_enabled(vm->round_timer, SD_EVENT_ONESHOT);
}

static void arm_stale(struct probe_fleet_vm *vm, long long from_ms)
{
	(void)sd_event_source_set_time(vm->stale_timer, (uint64_t)(from_ms + vm->fleet->cfg.stale_ms) * 1000u);
	(void)sd_event_source_set_enabled(vm->stale_timer, SD_EVENT_ONESHOT);
}

/* The first grid point epoch + phase + k * interval at or after @t. */
static long long next_grid(const struct probe_fleet_vm *vm, long long t)
{
	const struct probe_fleet *f = vm->fleet;
	long long iv = f->cfg.interval_ms, base = f->epoch_ms + (long long)(vm->hash % (uint32_t)iv);

	if (t <= base)
		return base;
	return base + ((t - base + iv - 1) / iv) * iv;
}

static void end_round_state(struct probe_fleet_vm *vm)
{
	probe_watch_free(TAKE_PTR(vm->watch));
	if (vm->in_round) {
		probe_session_done(&vm->session);
		vm->in_round = false;
		vm->fleet->n_in_round--;
	}
}

static enum probe_fleet_check check_of(const char *status)
{
	if (!status)
		return PROBE_FLEET_CHECK_ABSENT;
	if (strcmp(status, "pass") == 0)
		return PROBE_FLEET_CHECK_PASS;
	if (strcmp(status, "fail") == 0)
		return PROBE_FLEET_CHECK_FAIL;
	if (strcmp(status, "error") == 0)
		return PROBE_FLEET_CHECK_ERROR;
	if (strcmp(status, "skip") == 0)
		return PROBE_FLEET_CHECK_SKIP;
	return PROBE_FLEET_CHECK_ABSENT;
}

/* The digest the image measured to, when it is one ("sha256:"/"sha512:" and its hex). */
static void take_digest(struct probe_fleet_vm *vm, json_t *report)
{
	json_t *checks = json_object_get(report, "checks");
	const char *m = json_string_value(json_object_get(json_object_get(checks, "composefs_image"), "measured"));
	const char *colon = m ? strchr(m, ':') : NULL;
	struct sc_digest d;
	enum sc_hash_alg alg = colon ? sc_hash_alg_from_name(m, (size_t)(colon - m)) : SC_HASH_NONE;

	vm->digest[0] = '\0';
	if (alg != SC_HASH_NONE && sc_digest_from_hex(colon + 1, strlen(colon + 1), alg, &d) >= 0)
		sc_digest_to_string(&d, vm->digest);
}

/* The bootc deployment the report names (validated by sc_report_validate(): its image and manifest digest). */
static void take_image(struct probe_fleet_vm *vm, json_t *report)
{
	json_t *d = json_object_get(json_object_get(report, "system"), "deployment");
	const char *image = json_string_value(json_object_get(json_object_get(d, "image"), "image"));
	const char *digest = json_string_value(json_object_get(d, "image_digest"));

	vm->image[0] = vm->image_digest[0] = '\0';
	if (image && strlen(image) < sizeof(vm->image))
		memcpy(vm->image, image, strlen(image) + 1);
	if (digest && strlen(digest) < sizeof(vm->image_digest))
		memcpy(vm->image_digest, digest, strlen(digest) + 1);
}

/* The VM's kept connection, taken out of the count (-1: none). */
static int kept_take(struct probe_fleet_vm *vm)
{
	if (vm->kept_fd < 0)
		return -1;
	vm->fleet->n_kept--;
	return TAKE_FD(vm->kept_fd);
}

static void kept_close(struct probe_fleet_vm *vm)
{
	int fd = kept_take(vm);

	if (fd >= 0)
		close(fd);
}

/*
 * Keep @fd for the VM's next round when the budget has room; else close it
 * (the next round connects again) and say once that the limit cannot hold
 * a kept connection per VM. Shedding the newest, not the least recently
 * used, costs nothing per round and ends the same way: at most kept_max
 * connections kept, the rest of the fleet reconnecting.
 */
static void kept_put(struct probe_fleet_vm *vm, int fd)
{
	struct probe_fleet *f = vm->fleet;

	kept_close(vm);
	if (f->n_kept >= f->kept_max) {
		close(fd);
		if (!f->kept_shed_said) {
			f->kept_shed_said = true;
			probe_fleet_log(f,
					"RLIMIT_NOFILE %llu holds kept connections for %zu of %zu VMs (%u descriptors "
					"reserved for the metrics, the textfile, libvirt, inotify and rounds in "
					"flight): the others connect again each round; raise LimitNOFILE= (ulimit -n)",
					f->fd_limit, f->kept_max, f->n, (unsigned)(f->fd_limit - f->kept_max));
		}
		return;
	}
	vm->kept_fd = fd;
	f->n_kept++;
}

static void on_round_done(struct probe_session *s, void *userdata)
{
	struct probe_fleet_vm *vm = userdata;
	struct probe_fleet *f = vm->fleet;
	struct probe_evidence_expect x;
	struct probe_verdict v;
	long long now = sc_now_ms();
	enum probe_outcome before = vm->outcome;
	bool was_judged = vm->judged, was_up = vm->up, was_stale = vm->stale;
	unsigned what = PROBE_FLEET_ROUND;
	enum probe_fleet_ak ak = vm->round_ak;
	bool verify = ak != PROBE_FLEET_AK_NONE && ak != PROBE_FLEET_AK_NO_STATE && ak != PROBE_FLEET_AK_REFUSED &&
		      f->cfg.tpm;
	struct probe_credential_state untrusted;
	int fd;

	if (verify) {
		x = *f->cfg.tpm;
		x.ak_name = ak == PROBE_FLEET_AK_PINNED ? vm->ak_name : NULL;
		x.ak_name_len = ak == PROBE_FLEET_AK_PINNED ? vm->ak_name_len : 0;
		x.counters_file = vm->counters_file;
		x.counters_mem = &vm->counters_mem;
		x.policy = vm->policy;
		x.credential = NULL;
		x.ak_pin_file = NULL;
		if (ak == PROBE_FLEET_AK_ACTIVATE) {
			/* What the session's credential phase proved; a proven AK whose quote verifies is pinned. */
			x.credential = &s->credential;
			x.ak_pin_file = vm->pin_file;
		} else if (ak == PROBE_FLEET_AK_UNTRUSTED) {
			/* No pinned AK and no CA to bind one: tpm:quote fails, and says what the host lacks. */
			memset(&untrusted, 0, sizeof(untrusted));
			untrusted.status = PROBE_CRED_FAILED;
			snprintf(untrusted.why, sizeof(untrusted.why),
				 "no AK is pinned for this VM (no %.150s) and watch has no --tpm-ek-ca to bind one to its "
				 "EK by credential activation",
				 vm->pin_file);
			x.credential = &untrusted;
		}
	}
	if (probe_verdict_decide(&vm->session, vm->policy, verify ? &x : NULL, &v) < 0) {
		memset(&v, 0, sizeof(v));
		v.outcome = PROBE_NO_REPORT;
		snprintf(v.reason, sizeof(v.reason), "out of memory");
	}
	if (ak == PROBE_FLEET_AK_NO_STATE)
		/* A TPM (its source says so) and nothing to verify its evidence with: fail closed. */
		probe_verdict_fail_unverifiable(s, &v,
						"the VM has a TPM but watch keeps no TPM state to verify its evidence: give "
						"--state-dir (with --tpm-uki and --tpm-keys, and --tpm-ek-ca for an AK not "
						"pinned)");
	if (ak == PROBE_FLEET_AK_REFUSED)
		/* Its state folder or pin refused (tpm_refresh()): nothing there is trusted, nothing written. */
		probe_verdict_fail_unverifiable(s, &v, vm->state_why);
	/* Activation may have pinned the AK just now: the next round compares that Name. */
	if (ak == PROBE_FLEET_AK_ACTIVATE)
		tpm_refresh(f, vm);
	vm->verdict_mono_us = sc_now_us();
	vm->judged = true;
	vm->outcome = v.outcome;
	vm->evidence = v.evidence ?: PROBE_EVIDENCE;
	if (vm->links)
		json_decref(vm->links);
	vm->links = v.links ? TAKE_PTR(v.links) : json_array();
	if (vm->tpm_links)
		json_decref(vm->tpm_links);
	vm->tpm_links = TAKE_PTR(v.tpm);
	snprintf(vm->reason, sizeof(vm->reason), "%s", v.outcome == PROBE_NO_REPORT ? v.reason : "");
	if (v.quote_verified) {
		vm->has_tpm_counters = true;
		vm->tpm_reset_count = v.reset_count;
	}
	probe_verdict_done(&v);

	snprintf(vm->nonce, sizeof(vm->nonce), "%s", s->nonce);
	vm->rounds++;
	vm->last_round_mono_ms = now;
	vm->last_round_realtime_us = realtime_us();
	vm->round_ms = now - vm->round_started_ms;
	vm->stale_reports += s->stale;
	vm->rejected_reports += s->rejected;
	vm->bad_frames += s->dec.bad_frames;
	vm->last_frames.bad = s->dec.bad_frames;
	vm->last_frames.oversized = s->dec.oversized;
	vm->last_frames.stale = s->stale;
	vm->last_frames.rejected = s->rejected;
	vm->up = s->end == PROBE_END_REPORT && s->report;
	if (vm->up) {
		json_t *checks = json_object_get(s->report, "checks");

		for (unsigned id = 0; id < _SC_CHECK_MAX; id++)
			vm->checks[id] = (uint8_t)check_of(
				json_string_value(json_object_get(json_object_get(checks, sc_check_key(id)), "status")));
		take_digest(vm, s->report);
		take_image(vm, s->report);
		vm->last_report_mono_ms = now;
		vm->last_report_realtime_us = vm->last_round_realtime_us;
		vm->stale = false;
		arm_stale(vm, now);
	}
	if (vm->outcome == PROBE_SEALED)
		vm->last_result = PROBE_FLEET_R_SEALED;
	else if (vm->outcome == PROBE_UNSEALED)
		vm->last_result = PROBE_FLEET_R_UNSEALED;
	else
		vm->last_result = s->end == PROBE_END_CLOSED ? PROBE_FLEET_R_CLOSED
				  : s->end == PROBE_END_ERROR ? PROBE_FLEET_R_ERROR
							       : PROBE_FLEET_R_TIMEOUT;
	vm->results[vm->last_result]++;
	vm->consecutive_failures = vm->outcome == PROBE_SEALED ? 0 : vm->consecutive_failures + 1;

	/* Keep an answering guest's connection for the next round. */
	fd = probe_session_take_fd(s);
	if (fd >= 0)
		kept_put(vm, fd);
	/* The session's buffers go now; the watch (already idle) goes at the next round. */
	probe_session_done(s);
	vm->in_round = false;
	f->n_in_round--;

	schedule(vm, next_grid(vm, now > vm->round_started_ms + f->cfg.interval_ms / 2
					   ? now
					   : vm->round_started_ms + f->cfg.interval_ms / 2));
	if (!was_judged || before != vm->outcome)
		what |= PROBE_FLEET_VERDICT;
	if (was_up != vm->up)
		what |= PROBE_FLEET_UP;
	if (was_stale != vm->stale)
		what |= PROBE_FLEET_STALE;
	notify(f, vm, what);
}

/* Is the kept connection still open? A guest that went away leaves EOF or HUP on it. */
static bool kept_alive(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	if (poll(&p, 1, 0) < 0)
		return false;
	return !(p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL));
}

static void start_round(struct probe_fleet_vm *vm)
{
	struct probe_fleet *f = vm->fleet;
	struct probe_session_config cfg = f->cfg.session;
	long long now = sc_now_ms();
	bool reuse;
	int r;

	end_round_state(vm);
	reuse = vm->kept_fd >= 0 && kept_alive(vm->kept_fd);
	if (!reuse)
		kept_close(vm); /* a kept connection the guest closed: its descriptor freed before counting */
	if (!reuse && f->n_kept + f->n_in_round >= probe_fleet_conn_max(f->fd_limit)) {
		/* A new connection now would take a descriptor the rest of the process needs (socket(): EMFILE,
		 * a round failed on our side): this round starts when a round in flight has ended. */
		if (!f->conn_wait_said) {
			f->conn_wait_said = true;
			probe_fleet_log(f, "RLIMIT_NOFILE %llu: %zu connections open (%zu kept, %zu in rounds); new rounds "
					   "wait for one to end (raise LimitNOFILE=, ulimit -n)",
					f->fd_limit, f->n_kept + f->n_in_round, f->n_kept, f->n_in_round);
		}
		schedule(vm, now + PROBE_FLEET_CONN_WAIT_MS);
		return;
	}
	/* The TPM mode, fixed for this round (a refresh during it counts from the next). */
	vm->round_ak = vm->ak;
	cfg.deadline_ms = now + (vm->tpm ? f->cfg.tpm_timeout_ms : f->cfg.timeout_ms);
	cfg.expect_evidence = vm->tpm;
	cfg.keep_connection = f->cfg.keep_connection;
	cfg.credential = NULL;
	if (vm->round_ak == PROBE_FLEET_AK_ACTIVATE) {
		/* This VM's own: the EK's CA, and where the AK proven is pinned. */
		vm->cred = (struct probe_credential_config){ .ek_ca_file = f->cfg.ek_ca_file, .pin_file = vm->pin_file };
		/* libvirt's swtpm-localca certifies the EK of one domain (CN=<name>:<uuid>); a socket
		 * directory's VM is known by its name only: CN=<name>:<any uuid> (probe-credential.h). */
		if (vm->source == PROBE_FLEET_LIBVIRT)
			snprintf(vm->ek_cn, sizeof(vm->ek_cn), "%s:%s", vm->name, vm->uuid);
		else
			snprintf(vm->ek_cn, sizeof(vm->ek_cn), "%s:", vm->name);
		vm->cred.ek_cert_cn = vm->ek_cn;
		cfg.credential = &vm->cred;
	}
	vm->round_started_ms = now;
	r = probe_session_init(&vm->session, &cfg);
	if (r < 0) {
		/* No round this time (getrandom or ENOMEM): try again at the next grid point. */
		schedule(vm, next_grid(vm, now + f->cfg.interval_ms / 2));
		return;
	}
	vm->in_round = true;
	f->n_in_round++;
	if (reuse)
		r = probe_session_attach(&vm->session, kept_take(vm), now);
	else {
		kept_close(vm);
		r = vm->sock_pinned ? probe_session_connect_pinned(&vm->session, vm->socket_path, vm->sock_dev,
								   vm->sock_ino, now)
				    : probe_session_connect(&vm->session, vm->socket_path, now);
	}
	if (r < 0)
		probe_session_stop(&vm->session, PROBE_END_ERROR, strerror(-r), now);
	/* May end at once (and call on_round_done from inside): the watch is kept either way. */
	r = probe_watch_new(f->event, &vm->session, on_round_done, vm, &vm->watch);
	if (r < 0) {
		probe_session_done(&vm->session);
		vm->in_round = false;
		f->n_in_round--;
		schedule(vm, next_grid(vm, now + f->cfg.interval_ms / 2));
	}
}

static int on_round_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	(void)src;
	(void)usec;
	start_round(userdata);
	return 0;
}

static int on_stale_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct probe_fleet_vm *vm = userdata;

	(void)src;
	(void)usec;
	if (!vm->stale) {
		vm->stale = true;
		notify(vm->fleet, vm, PROBE_FLEET_STALE);
	}
	return 0;
}

/* ---- lost VMs and colliding offers (probe-fleet.h) ---- */

static int remove_vm(struct probe_fleet *f, const char *name, int reason);

static void lost_drop(struct probe_fleet *f, size_t i)
{
	memmove(f->lost + i, f->lost + i + 1, (f->n_lost - i - 1) * sizeof(*f->lost));
	f->n_lost--;
}

/* The record of (@name, @source) goes; with @uuid, only a record of no UUID or of that one (another
 * domain of that name, vanished, stays lost). */
static void lost_clear_vm(struct probe_fleet *f, const char *name, enum probe_fleet_source source, const char *uuid)
{
	for (size_t i = 0; i < f->n_lost; i++)
		if (f->lost[i].source == source && strcmp(f->lost[i].name, name) == 0) {
			if (uuid && uuid[0] && f->lost[i].uuid[0] && strcmp(f->lost[i].uuid, uuid) != 0)
				continue;
			lost_drop(f, i);
			return;
		}
}

static void lost_clear(struct probe_fleet *f, const char *name, enum probe_fleet_source source)
{
	lost_clear_vm(f, name, source, NULL);
}

/* The newest record of (@name, @source): any older one of it goes. */
static void lost_record(struct probe_fleet *f, const char *name, const char *uuid, enum probe_fleet_source source,
			enum probe_fleet_loss reason)
{
	struct probe_fleet_lost *l;

	lost_clear(f, name, source);
	if (f->n_lost >= PROBE_FLEET_LOST_MAX) {
		if (!f->lost_full_logged)
			probe_fleet_log(f, "more than %d VMs lost: the oldest records are dropped", PROBE_FLEET_LOST_MAX);
		f->lost_full_logged = true;
		lost_drop(f, 0);
	}
	if (f->n_lost == f->lost_cap) {
		size_t cap = f->lost_cap ? f->lost_cap * 2 : 16;
		struct probe_fleet_lost *n = reallocarray(f->lost, cap, sizeof(*n));

		if (!n) {
			probe_fleet_log(f, "VM %s lost (%s), not recorded: out of memory", name,
					probe_fleet_loss_name(reason));
			return;
		}
		f->lost = n;
		f->lost_cap = cap;
	}
	l = &f->lost[f->n_lost++];
	*l = (struct probe_fleet_lost){ .source = source, .reason = reason, .realtime_us = realtime_us(),
					.mono_ms = sc_now_ms() };
	snprintf(l->name, sizeof(l->name), "%s", name);
	snprintf(l->uuid, sizeof(l->uuid), "%s", uuid ?: "");
}

size_t probe_fleet_n_lost(struct probe_fleet *f)
{
	long long now = sc_now_ms();

	/* Expired ones go, except a collision's while its offer stands: that VM is still not watched. */
	for (size_t i = f->n_lost; i-- > 0;)
		if (now - f->lost[i].mono_ms >= PROBE_FLEET_LOST_KEEP_MS &&
		    !(f->lost[i].reason == PROBE_FLEET_LOST_COLLISION &&
		      offer_of(f, f->lost[i].name, f->lost[i].source) < f->n_offers))
			lost_drop(f, i);
	return f->n_lost;
}

const struct probe_fleet_lost *probe_fleet_lost_at(const struct probe_fleet *f, size_t i)
{
	return i < f->n_lost ? &f->lost[i] : NULL;
}

/* The offer of @name from @source (any source: _PROBE_FLEET_SOURCE_MAX), or f->n_offers. */
size_t probe_fleet_n_offers(const struct probe_fleet *f)
{
	return f->n_offers;
}

const struct probe_fleet_offer *probe_fleet_offer_at(const struct probe_fleet *f, size_t i)
{
	return i < f->n_offers ? &f->offers[i] : NULL;
}

const struct probe_fleet_offer *probe_fleet_find_offer(const struct probe_fleet *f, const char *name,
							enum probe_fleet_source source)
{
	size_t k = offer_of(f, name, source);

	return k < f->n_offers ? &f->offers[k] : NULL;
}

static size_t offer_of(const struct probe_fleet *f, const char *name, enum probe_fleet_source source)
{
	for (size_t i = 0; i < f->n_offers; i++)
		if ((source == _PROBE_FLEET_SOURCE_MAX || f->offers[i].source == source) &&
		    strcmp(f->offers[i].name, name) == 0)
			return i;
	return f->n_offers;
}

static void offer_drop(struct probe_fleet *f, size_t i)
{
	free(f->offers[i].socket_path);
	memmove(f->offers + i, f->offers + i + 1, (f->n_offers - i - 1) * sizeof(*f->offers));
	f->n_offers--;
}

/* Keep @source's offer of @name (new, or its UUID and path updated). -EEXIST: it stays unwatched; or -ENOMEM. */
static int offer_put(struct probe_fleet *f, const char *name, const char *uuid, const char *socket_path,
		     enum probe_fleet_source source, bool tpm)
{
	size_t k = offer_of(f, name, source);
	char *path;
	struct probe_fleet_offer *o;

	/* A socket directory's offer is its socket: another directory's socket of that name never takes it
	 * over (its UUID-less name is all that binds it; probe-fleet-sockdir.c refuses it by path first). */
	if (k < f->n_offers && source == PROBE_FLEET_SOCKET_DIR && strcmp(f->offers[k].socket_path, socket_path) != 0)
		return -EEXIST;
	path = strdup(socket_path);
	if (!path)
		return -ENOMEM;
	if (k == f->n_offers) {
		o = reallocarray(f->offers, f->n_offers + 1, sizeof(*o));
		if (!o) {
			free(path);
			return -ENOMEM;
		}
		f->offers = o;
		o = &f->offers[f->n_offers++];
		*o = (struct probe_fleet_offer){ .source = source, .tpm = tpm };
		snprintf(o->name, sizeof(o->name), "%s", name);
		/* A third word for a name already refused: said, and visible as lost. */
		probe_fleet_log(f, "VM %s offered by %s too: not watched (a name offered by more than one source)", name,
				probe_fleet_source_name(source));
		lost_record(f, name, uuid, source, PROBE_FLEET_LOST_COLLISION);
		notify(f, NULL, PROBE_FLEET_LOST);
	} else
		o = &f->offers[k];
	free(o->socket_path);
	o->socket_path = path;
	snprintf(o->uuid, sizeof(o->uuid), "%s", uuid ?: "");
	return -EEXIST;
}

/*
 * @vm's name is offered by another source too: neither is watched (the name
 * would say which VM, the policy entry and TPM state are keyed by it; taking
 * either could attest one VM under the other's identity). Both offers are
 * kept and lost as "name-collision" until one source withdraws its own.
 */
static int collide(struct probe_fleet *f, struct probe_fleet_vm *vm, const char *uuid, const char *socket_path,
		   enum probe_fleet_source source)
{
	struct probe_fleet_offer *o = reallocarray(f->offers, f->n_offers + 2, sizeof(*o));
	char *held = strdup(vm->socket_path), *other = strdup(socket_path);
	enum probe_fleet_source held_source = vm->source;

	if (o)
		f->offers = o;
	if (!o || !held || !other) {
		free(held);
		free(other);
		return -ENOMEM;
	}
	f->offers[f->n_offers] = (struct probe_fleet_offer){ .socket_path = held, .source = vm->source, .tpm = vm->tpm_source,
						 .sock_pinned = vm->sock_pinned, .sock_dev = vm->sock_dev,
						 .sock_ino = vm->sock_ino };
	snprintf(f->offers[f->n_offers].name, sizeof(f->offers[0].name), "%s", vm->name);
	snprintf(f->offers[f->n_offers].uuid, sizeof(f->offers[0].uuid), "%s", vm->uuid);
	f->offers[f->n_offers + 1] = (struct probe_fleet_offer){ .socket_path = other, .source = source };
	snprintf(f->offers[f->n_offers + 1].name, sizeof(f->offers[0].name), "%s", vm->name);
	snprintf(f->offers[f->n_offers + 1].uuid, sizeof(f->offers[0].uuid), "%s", uuid ?: "");
	f->n_offers += 2;
	probe_fleet_log(f, "VM %s offered by both %s and %s: watched from neither until one of them goes", vm->name,
			probe_fleet_source_name(held_source), probe_fleet_source_name(source));
	lost_record(f, vm->name, uuid, source, PROBE_FLEET_LOST_COLLISION);
	(void)remove_vm(f, f->offers[f->n_offers - 1].name, PROBE_FLEET_LOST_COLLISION);
	return -EEXIST;
}

/* After a withdrawal: a name offered by one source only is that source's VM again, as a new one. */
static void reoffer(struct probe_fleet *f, const char *name)
{
	size_t k = offer_of(f, name, _PROBE_FLEET_SOURCE_MAX);
	_cleanup_free_ char *path = NULL;
	struct probe_fleet_offer o;
	int r;

	if (k == f->n_offers)
		return;
	for (size_t i = k + 1; i < f->n_offers; i++)
		if (strcmp(f->offers[i].name, name) == 0)
			return; /* still two */
	o = f->offers[k];
	path = TAKE_PTR(f->offers[k].socket_path);
	offer_drop(f, k);
	r = probe_fleet_add_vm(f, o.name, o.uuid, path, o.source);
	if (r >= 0)
		r = probe_fleet_set_vm_tpm(f, o.name, o.source, o.tpm);
	if (r >= 0 && o.sock_pinned)
		r = probe_fleet_pin_vm_socket(f, o.name, o.sock_dev, o.sock_ino);
	if (r < 0)
		probe_fleet_log(f, "VM %s (%s) could not be watched again: %s", o.name,
				probe_fleet_source_name(o.source), strerror(-r));
	else
		probe_fleet_log(f, "VM %s: offered by %s only now, watched again", o.name,
				probe_fleet_source_name(o.source));
}

/* ---- VMs ---- */

static void vm_free(struct probe_fleet_vm *vm)
{
	if (!vm)
		return;
	end_round_state(vm);
	kept_close(vm);
	if (vm->counters_file && vm->ak != PROBE_FLEET_AK_REFUSED) {
		/* The last quote verified since the file was written, so a verifier started again compares with it. */
		char why[300];

		(void)probe_tpm_state_flush_counters(vm->counters_file, &vm->counters_mem, why, sizeof(why));
	}
	sd_event_source_disable_unref(vm->round_timer);
	sd_event_source_disable_unref(vm->stale_timer);
	if (vm->policy && vm->policy != &vm->fleet->fixed)
		free(vm->policy);
	if (vm->links)
		json_decref(vm->links);
	if (vm->tpm_links)
		json_decref(vm->tpm_links);
	free(vm->ak_name);
	free(vm->counters_file);
	free(vm->pin_file);
	free(vm->name);
	free(vm->socket_path);
	free(vm);
}

static bool path_fits(const char *path)
{
	return strlen(path) < sizeof(((struct sockaddr_un *)0)->sun_path) &&
	       strlen(path) < sizeof(((struct probe_session *)0)->path);
}

int probe_fleet_add_vm(struct probe_fleet *f, const char *name, const char *uuid, const char *socket_path,
		       enum probe_fleet_source source)
{
	struct probe_fleet_vm *vm;
	long long now = sc_now_ms(), spread;
	bool found;
	size_t at;
	int r;

	if (!name || !probe_fleet_name_valid(name, strlen(name)))
		return -EINVAL;
	if (uuid && strlen(uuid) > PROBE_FLEET_UUID_MAX)
		return -EINVAL;
	if (!socket_path || !path_fits(socket_path))
		return -ENAMETOOLONG;
	if (offer_of(f, name, _PROBE_FLEET_SOURCE_MAX) < f->n_offers)
		return offer_put(f, name, uuid, socket_path, source, false);
	at = lookup(f, name, &found);
	if (found && f->vms[at]->source == source && f->vms[at]->uuid[0] && uuid && uuid[0] &&
	    strcmp(f->vms[at]->uuid, uuid) != 0) {
		/* Another VM of that name (a domain undefined and another defined while libvirt was not heard):
		 * the old one vanished, the new one starts fresh, never with the old one's verdict or counters. */
		(void)remove_vm(f, name, PROBE_FLEET_LOST_VANISHED);
		at = lookup(f, name, &found);
	}
	if (found) {
		vm = f->vms[at];
		if (vm->source != source)
			return collide(f, vm, uuid, socket_path, source);
		snprintf(vm->uuid, sizeof(vm->uuid), "%s", uuid ?: "");
		if (strcmp(vm->socket_path, socket_path) != 0) {
			char *p = strdup(socket_path);

			if (!p)
				return -ENOMEM;
			free(vm->socket_path);
			vm->socket_path = p;
			/* Another socket (a restarted domain): this round and its connection are of the old one. */
			end_round_state(vm);
			kept_close(vm);
			schedule(vm, now);
		}
		return resolve_policy(f, vm) < 0 ? -ENOMEM : 0;
	}
	if (f->n >= PROBE_FLEET_MAX_VMS)
		return -E2BIG;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		struct probe_fleet_vm **n = reallocarray(f->vms, cap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		f->vms = n;
		f->cap = cap;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->fleet = f;
	vm->kept_fd = -1;
	vm->outcome = PROBE_NO_REPORT;
	vm->evidence = PROBE_EVIDENCE;
	vm->policy = &f->fixed;
	vm->session.fd = -1;
	vm->name = strdup(name);
	vm->socket_path = strdup(socket_path);
	snprintf(vm->uuid, sizeof(vm->uuid), "%s", uuid ?: "");
	vm->source = source;
	vm->hash = probe_fleet_hash(name);
	vm->added_mono_ms = now;
	if (f->cfg.state_dir) {
		/* asprintf() leaves its pointer undefined on failure. */
		if (asprintf(&vm->pin_file, "%s/%s/" PROBE_TPM_STATE_AK_NAME, f->cfg.state_dir, name) < 0)
			vm->pin_file = NULL;
		if (asprintf(&vm->counters_file, "%s/%s/" PROBE_TPM_STATE_COUNTERS, f->cfg.state_dir, name) < 0)
			vm->counters_file = NULL;
		if (!vm->pin_file || !vm->counters_file) {
			vm_free(vm);
			return -ENOMEM;
		}
	}
	if (!vm->name || !vm->socket_path) {
		vm_free(vm);
		return -ENOMEM;
	}
	/* Both armed below, once the VM is in the array. */
	r = sd_event_add_time(f->event, &vm->round_timer, CLOCK_MONOTONIC, 0, 1000, on_round_timer, vm);
	if (r >= 0)
		r = sd_event_source_set_enabled(vm->round_timer, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_time(f->event, &vm->stale_timer, CLOCK_MONOTONIC, 0, 1000, on_stale_timer, vm);
	if (r >= 0)
		r = sd_event_source_set_enabled(vm->stale_timer, SD_EVENT_OFF);
	if (r >= 0)
		r = resolve_policy(f, vm);
	if (r < 0) {
		vm_free(vm);
		return r;
	}
	tpm_refresh(f, vm);
	memmove(f->vms + at + 1, f->vms + at, (f->n - at) * sizeof(*f->vms));
	f->vms[at] = vm;
	f->n++;
	/* Soon, spread by the name's hash over 1 s plus 1 ms per VM (a host's thousands at start), at most an interval. */
	spread = 1000 + (long long)f->n;
	if (spread > f->cfg.interval_ms)
		spread = f->cfg.interval_ms;
	schedule(vm, now + (long long)(vm->hash % (uint32_t)spread));
	arm_stale(vm, now);
	lost_clear_vm(f, name, source, uuid);
	notify(f, vm, PROBE_FLEET_ADDED);
	return 1;
}

static int remove_vm(struct probe_fleet *f, const char *name, int reason)
{
	bool found;
	size_t at = lookup(f, name, &found);
	struct probe_fleet_vm *vm;

	if (!found)
		return -ENOENT;
	vm = f->vms[at];
	memmove(f->vms + at, f->vms + at + 1, (f->n - at - 1) * sizeof(*f->vms));
	f->n--;
	if (reason >= 0)
		lost_record(f, vm->name, vm->uuid, vm->source, (enum probe_fleet_loss)reason);
	notify(f, vm, PROBE_FLEET_REMOVED | (reason >= 0 ? PROBE_FLEET_LOST : 0));
	vm_free(vm);
	return 0;
}

int probe_fleet_remove_vm(struct probe_fleet *f, const char *name)
{
	return remove_vm(f, name, -1);
}

/* A source takes back its VM or offer: stopped by its owner (@reason -1) or lost. */
static int withdraw(struct probe_fleet *f, const char *name, enum probe_fleet_source source, int reason)
{
	size_t k = offer_of(f, name, source);
	const struct probe_fleet_vm *vm;

	if (k < f->n_offers) {
		if (reason >= 0)
			lost_record(f, name, f->offers[k].uuid, source, (enum probe_fleet_loss)reason);
		else
			lost_clear(f, name, source);
		offer_drop(f, k);
		notify(f, NULL, PROBE_FLEET_LOST);
		reoffer(f, name);
		return 0;
	}
	vm = probe_fleet_find(f, name);
	if (!vm || vm->source != source)
		return -ENOENT;
	return remove_vm(f, name, reason);
}

int probe_fleet_remove_vm_source(struct probe_fleet *f, const char *name, enum probe_fleet_source source)
{
	return withdraw(f, name, source, -1);
}

int probe_fleet_lose_vm(struct probe_fleet *f, const char *name, enum probe_fleet_source source,
			enum probe_fleet_loss reason)
{
	if ((unsigned)reason >= _PROBE_FLEET_LOST_MAX)
		return -EINVAL;
	return withdraw(f, name, source, (int)reason);
}

/* ---- the fleet ---- */

int probe_fleet_new(sd_event *e, const struct probe_fleet_config *cfg, struct probe_fleet **ret)
{
	struct probe_fleet *f;

	/* TPM state without the host's keys and UKI could not be verified: refused, never judged self-reported. */
	if ((cfg->state_dir && !cfg->tpm) || (cfg->ek_ca_file && !cfg->state_dir))
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->event = sd_event_ref(e);
	f->cfg = *cfg;
	if (!f->cfg.interval_ms)
		f->cfg.interval_ms = 30000;
	if (!f->cfg.timeout_ms)
		f->cfg.timeout_ms = f->cfg.interval_ms < 20000 ? f->cfg.interval_ms : 20000;
	if (!f->cfg.stale_ms)
		f->cfg.stale_ms = 3 * f->cfg.interval_ms;
	/* A TPM round: the guest's quote (0.5-2 s under TCG) and maybe activation, on top of the report. */
	if (!f->cfg.tpm_timeout_ms)
		f->cfg.tpm_timeout_ms = f->cfg.timeout_ms > 20000 ? f->cfg.timeout_ms : 20000;
	f->epoch_ms = sc_now_ms();
	{
		struct rlimit rl;

		f->fd_limit = f->cfg.fd_limit;
		if (!f->fd_limit)
			f->fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur
													   : 1024;
		f->kept_max = probe_fleet_kept_max(f->fd_limit);
	}
	probe_policy_init(&f->fixed);
	snprintf(f->fixed.source, sizeof(f->fixed.source), "no policy");
	*ret = f;
	return 0;
}

struct probe_fleet *probe_fleet_free(struct probe_fleet *f)
{
	if (!f)
		return NULL;
	for (size_t i = 0; i < f->n; i++)
		vm_free(f->vms[i]);
	free(f->vms);
	while (f->n_offers)
		offer_drop(f, f->n_offers - 1);
	free(f->offers);
	free(f->lost);
	if (f->policy_vms)
		json_decref(f->policy_vms);
	sd_event_unref(f->event);
	free(f);
	return NULL;
}
