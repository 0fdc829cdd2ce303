/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sealcheck-probe watch: every VM of a host, attested round after round on
 * one event loop (probe-fleet.h, docs/fleet.md). JSON lines of every change
 * on stdout, or a live table on a terminal. SIGTERM/SIGINT stop (exit 0),
 * SIGHUP reloads the policy file and rescans the socket directories. Other
 * outputs and sources (metrics, libvirt) hook in below where marked.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "probe-cli.h"
#include "probe-fleet-sockdir.h"
#include "probe-fleet.h"
#include "config.h"
#include "probe-metrics-fleet.h"
#include "probe-metrics.h"
#if HAVE_LIBVIRT
#include "probe-fleet-libvirt.h"
#endif
#include "sc-io.h"
#include "sc-json.h"
#include "sc-log.h"
#include "sc-macro.h"
#include "sc-term.h"

#define OUT_MAX (16u << 20) /* JSON lines waiting for a slow reader; past this they are dropped and counted */

struct watch {
	sd_event *event;
	struct probe_fleet *fleet;
	struct probe_metrics_fleet *metrics;
	const char *policy_file;
	struct cli_tpm *tpm; /* with --state-dir: the keys and the sealed UKI (read again on SIGHUP) */
	bool json, all_events, tty;
	/* JSON lines or the table's frames, written without ever blocking the loop (out_setup()) */
	char *out;
	size_t out_len, out_cap;
	uint64_t out_dropped;
	sd_event_source *out_io;
	int out_fd; /* STDOUT_FILENO, or a non-blocking descriptor of its own for the same terminal or pipe */
	int out_flags;
	bool out_nonblock, out_broken;
	/* the table */
	bool dirty;
	sd_event_source *redraw;
	/* the sources' socket directories, n_sockdirs slots (NULL: none), rescanned on SIGHUP */
	struct probe_fleet_sockdir *const *sockdirs;
	size_t n_sockdirs;
	/* the libvirt source (--libvirt): not answering (before its first listing, or unreachable since) */
	bool has_libvirt, libvirt_down, libvirt_said; /* said: reachable() was called at least once */
};

/* ---- JSON lines ---- */

static void out_flush(struct watch *w);

static int on_out_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	(void)src;
	(void)fd;
	(void)revents;
	out_flush(userdata);
	return 0;
}

static void out_flush(struct watch *w)
{
	size_t off = 0;

	while (off < w->out_len && !w->out_broken) {
		ssize_t n = write(w->out_fd, w->out + off, w->out_len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			/* The reader is gone: nothing more can be said there; the loop goes on (metrics may still serve). */
			sc_log_error("writing to stdout: %s; JSON lines stop", n < 0 ? strerror(errno) : "nothing written");
			w->out_broken = true;
			break;
		}
		off += (size_t)n;
	}
	memmove(w->out, w->out + off, w->out_len - off);
	w->out_len -= off;
	if (w->out_len && !w->out_broken) {
		if (!w->out_io)
			(void)sd_event_add_io(w->event, &w->out_io, w->out_fd, EPOLLOUT, on_out_io, w);
		else
			(void)sd_event_source_set_enabled(w->out_io, SD_EVENT_ON);
	} else if (w->out_io)
		(void)sd_event_source_set_enabled(w->out_io, SD_EVENT_OFF);
}

/* @n bytes queued for stdout (at most OUT_MAX waiting in all); -ENOBUFS or -ENOMEM: not queued. */
static int out_queue(struct watch *w, const char *p, size_t n)
{
	if (w->out_len + n > OUT_MAX)
		return -ENOBUFS;
	if (w->out_len + n > w->out_cap) {
		size_t cap = w->out_cap ? w->out_cap : 65536;
		char *q;

		while (cap < w->out_len + n)
			cap *= 2;
		q = realloc(w->out, cap);
		if (!q)
			return -ENOMEM;
		w->out = q;
		w->out_cap = cap;
	}
	memcpy(w->out + w->out_len, p, n);
	w->out_len += n;
	return 0;
}

/*
 * Where stdout is a terminal or a pipe, a descriptor of our own for it, opened
 * O_NONBLOCK: the flag is then ours alone. Set on stdout itself it would be set
 * on the open file description the shell shares (its terminal), and stay set
 * if the probe were killed outright. A socket cannot be reopened: there the
 * flag goes on stdout and is restored at the end. A regular file never blocks.
 */
static void out_setup(struct watch *w)
{
	struct stat st;

	if (fstat(STDOUT_FILENO, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
		int fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

		if (fd >= 0) {
			w->out_fd = fd;
			return;
		}
	}
	w->out_flags = fcntl(STDOUT_FILENO, F_GETFL);
	if (w->out_flags >= 0 && !(w->out_flags & O_NONBLOCK) &&
	    fcntl(STDOUT_FILENO, F_SETFL, w->out_flags | O_NONBLOCK) >= 0)
		w->out_nonblock = true;
}

static void out_line(struct watch *w, json_t *doc)
{
	_cleanup_free_ char *text = NULL;
	size_t n;

	if (w->out_broken)
		return;
	if (w->out_dropped && doc) {
		json_object_set_new(doc, "dropped_lines", json_integer((json_int_t)w->out_dropped));
	}
	/* ASCII only: valid JSON, and nothing a guest says can act on a terminal that shows it. */
	text = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(15)) : NULL;
	if (!text)
		return;
	n = strlen(text);
	text[n] = '\n'; /* json_dumps' NUL: the line's end (n + 1 bytes go out) */
	if (out_queue(w, text, n + 1) < 0) {
		w->out_dropped++;
		return;
	}
	w->out_dropped = 0;
	out_flush(w);
}

static json_t *rfc3339(long long realtime_us)
{
	char buf[96];
	struct tm tm;
	time_t t = (time_t)(realtime_us / 1000000);

	if (!realtime_us || !gmtime_r(&t, &tm))
		return json_null();
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(realtime_us % 1000000 / 1000));
	return json_string(buf);
}

static json_t *vm_line(struct probe_fleet *f, const struct probe_fleet_vm *vm, const char *event, unsigned what)
{
	_cleanup_json_ json_t *doc = NULL;
	json_t *changed = json_array(), *checks = json_object();
	static const struct {
		unsigned bit;
		const char *name;
	} bits[] = { { PROBE_FLEET_VERDICT, "verdict" }, { PROBE_FLEET_UP, "up" }, { PROBE_FLEET_STALE, "stale" } };
	long long now_us = sc_now_us();

	for (size_t i = 0; changed && i < ELEMENTSOF(bits); i++)
		if (what & bits[i].bit)
			json_array_append_new(changed, json_string(bits[i].name));
	for (unsigned id = 0; checks && vm->judged && id < _SC_CHECK_MAX; id++)
		if (vm->checks[id] != PROBE_FLEET_CHECK_ABSENT)
			json_object_set_new(checks, sc_check_key(id), json_string(probe_fleet_check_name(vm->checks[id])));
	doc = json_pack("{s:s, s:s, s:o?, s:f, s:o, s:o, s:s, s:b}", "schema", "sealcheck.watch.v1", "event",
			event, "changed", changed, "mono_ms", (double)now_us / 1000.0, "vm", sc_json_str(vm->name), "uuid",
			vm->uuid[0] ? json_string(vm->uuid) : json_null(), "source", probe_fleet_source_name(vm->source),
			"tpm", vm->tpm);
	if (!doc) {
		json_decref(checks);
		return NULL;
	}
	if (what & PROBE_FLEET_LOST) {
		/* Recorded just before the listeners are called: the newest record of this name and source. */
		for (size_t i = probe_fleet_n_lost(f); i-- > 0;) {
			const struct probe_fleet_lost *l = probe_fleet_lost_at(f, i);

			if (l->source == vm->source && strcmp(l->name, vm->name) == 0) {
				json_object_set_new(doc, "lost", json_string(probe_fleet_loss_name(l->reason)));
				break;
			}
		}
	}
	/* The time of the event itself: now, in UTC. */
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		json_object_set_new(doc, "time", rfc3339((long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000));
	}
	if (strcmp(event, "added") == 0 || strcmp(event, "removed") == 0) {
		json_decref(checks);
		return TAKE_PTR(doc);
	}
	json_object_set_new(doc, "verdict", vm->judged ? json_string(probe_outcome_name(vm->outcome)) : json_null());
	json_object_set_new(doc, "evidence", json_string(vm->evidence ?: PROBE_EVIDENCE));
	json_object_set_new(doc, "up", json_boolean(vm->up));
	json_object_set_new(doc, "stale", json_boolean(vm->stale));
	json_object_set_new(doc, "result", vm->judged ? json_string(probe_fleet_result_name(vm->last_result)) : json_null());
	json_object_set_new(doc, "reason", vm->judged && vm->reason[0] ? sc_json_str(vm->reason) : json_null());
	json_object_set_new(doc, "failed_links", vm->links ? json_incref(vm->links) : json_array());
	if (vm->tpm_links)
		json_object_set_new(doc, "tpm_links", json_incref(vm->tpm_links));
	json_object_set_new(doc, "checks", checks ? checks : json_object());
	json_object_set_new(doc, "digest", vm->digest[0] ? json_string(vm->digest) : json_null());
	/* The guest's claim (system.deployment): which container image it says it runs, as bootc status does. */
	json_object_set_new(doc, "image", vm->image[0] ? sc_json_str(vm->image) : json_null());
	json_object_set_new(doc, "image_digest", vm->image_digest[0] ? json_string(vm->image_digest) : json_null());
	json_object_set_new(doc, "nonce", vm->nonce[0] ? json_string(vm->nonce) : json_null());
	json_object_set_new(doc, "last_report", rfc3339(vm->last_report_realtime_us));
	json_object_set_new(doc, "round_ms", json_integer(vm->round_ms));
	json_object_set_new(doc, "frames", json_pack("{s:i, s:i, s:i, s:i}", "bad", vm->last_frames.bad, "oversized",
						     vm->last_frames.oversized, "stale", vm->last_frames.stale,
						     "rejected", vm->last_frames.rejected));
	json_object_set_new(doc, "verdict_mono_ms", json_real((double)vm->verdict_mono_us / 1000.0));
	json_object_set_new(doc, "consecutive_failures", json_integer(vm->consecutive_failures));
	json_object_set_new(doc, "rounds", json_integer((json_int_t)vm->rounds));
	return TAKE_PTR(doc);
}

static void on_change(struct probe_fleet *f, const struct probe_fleet_vm *vm, unsigned what, void *userdata)
{
	struct watch *w = userdata;
	const char *event;

	if (!vm) {
		/* Lost records changed without a VM (a colliding offer): the table's LOST line. */
		w->dirty = true;
		return;
	}
	if (!w->json) {
		w->dirty = true;
		return;
	}
	if (what & PROBE_FLEET_ADDED)
		event = "added";
	else if (what & PROBE_FLEET_REMOVED)
		event = "removed"; /* with PROBE_FLEET_LOST, its lost record says why (vm_line) */
	else if (what & (PROBE_FLEET_VERDICT | PROBE_FLEET_UP | PROBE_FLEET_STALE))
		event = "change";
	else if ((what & PROBE_FLEET_ROUND) && w->all_events)
		event = "round";
	else
		return;
	{
		_cleanup_json_ json_t *doc = vm_line(f, vm, event, what);

		out_line(w, doc);
	}
}

#if HAVE_LIBVIRT
/* The libvirt source became reachable or unreachable: a line of its own (event "source"), the metrics' gauge. */
static void on_libvirt_reachable(struct probe_fleet_libvirt *s, bool up, const char *why, void *userdata)
{
	struct watch *w = userdata;
	struct timespec ts;
	_cleanup_json_ json_t *doc = NULL;

	(void)s;
	w->libvirt_down = !up;
	w->libvirt_said = true;
	probe_metrics_fleet_libvirt_up(w->metrics, up);
	if (!w->json) {
		w->dirty = true;
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	doc = json_pack("{s:s, s:s, s:[s], s:f, s:o, s:s, s:b, s:o}", "schema", "sealcheck.watch.v1", "event", "source",
			"changed", "reachable", "mono_ms", (double)sc_now_us() / 1000.0, "time",
			rfc3339((long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000), "source", "libvirt", "reachable", up,
			"reason", up || !why[0] ? json_null() : sc_json_str(why));
	out_line(w, doc);
}
#endif

/* ---- the table ---- */

static void put_cell(FILE *f, const char *s, size_t width)
{
	_cleanup_free_ char *e = NULL;
	size_t n;

	if (!s)
		s = "";
	if (sc_term_escape(s, strlen(s), 0, &e) < 0) {
		fprintf(f, "%-*s", (int)width, "?");
		return;
	}
	/* Escaped text is printable; cut at a UTF-8 boundary. */
	n = strlen(e);
	if (n > width) {
		n = width;
		while (n > 0 && ((unsigned char)e[n] & 0xc0) == 0x80)
			n--;
	}
	fprintf(f, "%.*s%*s", (int)n, e, (int)(width > n ? width - n : 0), "");
}

static void draw_row(FILE *f, const struct probe_fleet_vm *vm, long long now, size_t cols)
{
	char age[32];
	const char *detail = vm->reason;
	json_t *l = json_array_get(vm->links, 0);
	char buf[700];

	if (vm->last_report_mono_ms)
		snprintf(age, sizeof(age), "%llds ago", (now - vm->last_report_mono_ms) / 1000);
	else
		snprintf(age, sizeof(age), "never");
	if (l) {
		snprintf(buf, sizeof(buf), "%s: %s", json_string_value(json_object_get(l, "link")) ?: "?",
			 json_string_value(json_object_get(l, "reason")) ?: "");
		detail = buf;
	}
	put_cell(f, vm->name, 24);
	fprintf(f, " %-10s %-3s %-5s %-10s %5u  ", vm->judged ? probe_outcome_title(vm->outcome) : "-",
		vm->up ? "up" : "-", vm->stale ? "STALE" : "-", age, vm->consecutive_failures);
	put_cell(f, detail, cols > 66 ? cols - 66 : 10);
	fputc('\n', f);
}

/*
 * One frame of the table, queued whole: while the terminal has not taken the
 * last one (a paused or slow terminal), none is drawn, and the loop never
 * waits for it. False when not drawn.
 */
static bool draw(struct watch *w)
{
	struct winsize ws = { 0 };
	size_t n = probe_fleet_n_vms(w->fleet), rows, cols, shown = 0, sealed = 0, unsealed = 0, none = 0, stale = 0;
	long long now = sc_now_ms();
	_cleanup_free_ char *frame = NULL;
	size_t frame_len = 0;
	FILE *f;
	int r;

	if (w->out_len || w->out_broken)
		return false;
	f = open_memstream(&frame, &frame_len);
	if (!f)
		return false;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || !ws.ws_row)
		ws.ws_row = 24, ws.ws_col = 100;
	rows = ws.ws_row > 4 ? ws.ws_row - 4u : 1;
	cols = ws.ws_col ? ws.ws_col : 100;
	for (size_t i = 0; i < n; i++) {
		const struct probe_fleet_vm *vm = probe_fleet_vm_at(w->fleet, i);

		sealed += vm->judged && vm->outcome == PROBE_SEALED;
		unsealed += vm->judged && vm->outcome == PROBE_UNSEALED;
		none += !vm->judged || vm->outcome == PROBE_NO_REPORT;
		stale += vm->stale;
	}
	fputs("\x1b[H\x1b[2J", f);
	fprintf(f, "sealcheck-probe watch: %zu VMs: %zu sealed, %zu NOT SEALED, %zu no report, %zu stale%s\n", n, sealed,
		unsealed, none, stale,
		!w->has_libvirt || !w->libvirt_down ? ""
		: w->libvirt_said		     ? "; libvirt NOT REACHABLE (its VMs kept)"
						     : "; libvirt: listing the domains");
	fprintf(f, "%-24s %-10s %-3s %-5s %-10s %5s  %s\n", "VM", "VERDICT", "UP", "STALE", "REPORT", "FAILS", "DETAIL");
	/* The ones that need a look first, then the sealed ones, as many as fit. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n && shown < rows; i++) {
			const struct probe_fleet_vm *vm = probe_fleet_vm_at(w->fleet, i);
			bool fine = vm->judged && vm->outcome == PROBE_SEALED && !vm->stale;

			if (fine != (pass == 1))
				continue;
			draw_row(f, vm, now, cols);
			shown++;
		}
	if (shown < n)
		fprintf(f, "... and %zu more\n", n - shown);
	/* The ones that left without their owner stopping them stay in sight (probe-fleet.h, "Lost VMs"). */
	{
		size_t n_lost = probe_fleet_n_lost(w->fleet);

		if (n_lost) {
			fprintf(f, "LOST %zu:", n_lost);
			for (size_t i = n_lost; i-- > 0 && n_lost - i <= 3;) {
				const struct probe_fleet_lost *l = probe_fleet_lost_at(w->fleet, i);

				fputc(' ', f);
				put_cell(f, l->name, 24);
				fprintf(f, " (%s, %s)", probe_fleet_source_name(l->source), probe_fleet_loss_name(l->reason));
			}
			fputs(n_lost > 3 ? " ...\n" : "\n", f);
		}
	}
	r = fclose(f);
	if (r != 0 || out_queue(w, frame, frame_len) < 0)
		return false;
	out_flush(w);
	return true;
}

static int on_redraw(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct watch *w = userdata;

	/* At most once a second, and only when something changed (or ages moved on). */
	if (draw(w))
		w->dirty = false;
	(void)sd_event_source_set_time(src, usec + 1000000);
	return 0;
}

/* ---- signals ---- */

static int on_stop(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
	(void)si;
	(void)userdata;
	return sd_event_exit(sd_event_source_get_event(src), 0);
}

static int on_reload(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
	struct watch *w = userdata;
	char why[600];
	int r;

	(void)src;
	(void)si;
	probe_fleet_refresh_tpm(w->fleet);
	if (w->tpm) {
		r = cli_tpm_load_uki(w->tpm, why, sizeof(why));
		if (r == -ENOMEM)
			sc_log_error("SIGHUP: the sealed UKI cannot be read again (out of memory); the one read before stays");
		else if (r < 0)
			sc_log_error("SIGHUP: the sealed UKI cannot be read: %s; every VM with a TPM fails its UKI links "
				     "until it can and SIGHUP again", why);
		else
			sc_log_error("SIGHUP: sealed UKI %s read again", w->tpm->x.uki_path);
	}
	/* Each socket directory read again: a missed event (or a file changed under a name) is caught up. */
	for (size_t i = 0; i < w->n_sockdirs; i++)
		if (w->sockdirs[i])
			(void)probe_fleet_sockdir_rescan(w->sockdirs[i]);
	if (!w->policy_file)
		return 0;
	r = probe_fleet_load_policy(w->fleet, w->policy_file, why, sizeof(why));
	probe_metrics_fleet_policy_loaded(w->metrics, r >= 0);
	if (r < 0) {
		sc_log_error("SIGHUP: the new policy is refused, the old one stays: %s", why);
	} else
		sc_log_error("SIGHUP: policy %s reloaded", w->policy_file);
	return 0;
}

/* ---- the verb ---- */

/* The fleet's, the metrics' and the libvirt source's messages: said on stderr, escaped (names and paths
 * in them come from outside). */
static void on_log(const char *msg, void *userdata)
{
	(void)userdata;
	sc_log_error("%s", msg);
}

static unsigned ms(unsigned long s)
{
	return (unsigned)(s * 1000u);
}

/* The sources of VMs watch feeds its fleet from. */
struct watch_sources {
	struct probe_fleet_sockdir *sockdirs[4];
#if HAVE_LIBVIRT
	struct probe_fleet_libvirt *lv;
#endif
};

/* What watch was asked to do: its options, read and checked before anything is set up. */
struct watch_opts {
	struct cli_common o;
	const char *socket_dirs[4];
	unsigned n_socket_dirs;
	const char *state_dir, *tpm_uki, *tpm_keys, *ek_ca;
	const char *metrics_listen, *textfile, *libvirt_uri;
	unsigned long interval, stale;
	bool all_events, reconnect;
};

#define WATCH_GO (-1) /* a step went well: the next one follows (otherwise a step returns the exit status) */

/* The options, read and checked (exit 2 for a usage error: cli_error_exit()). */
static int watch_parse(const struct sc_program *prog, const struct sc_verb *verb, int argc, char **argv,
		       struct watch_opts *p)
{
	struct cli_policy *cp = &p->o.policy;
	int c;

	optind = 0;
	while ((c = sc_verb_next_option(prog, verb, argc, argv)) >= 0) {
		switch (c) {
		case CLI_O_SOCKET_DIR:
			if (p->n_socket_dirs >= ELEMENTSOF(p->socket_dirs)) {
				sc_log_error("--socket-dir: at most %zu", ELEMENTSOF(p->socket_dirs));
				return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
			}
			p->socket_dirs[p->n_socket_dirs++] = optarg;
			break;
		case CLI_O_LIBVIRT:
#if HAVE_LIBVIRT
			/* --libvirt URI as two words: the next word when it is a URI. */
			if (!optarg && optind < argc && probe_libvirt_is_uri(argv[optind]))
				optarg = argv[optind++];
			p->libvirt_uri = optarg ?: PROBE_LIBVIRT_DEFAULT_URI;
			break;
#else
			sc_log_error("--libvirt: this sealcheck-probe was built without libvirt (meson -Dlibvirt)");
			return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
#endif
		case CLI_O_INTERVAL:
			if (cli_parse_seconds("--interval", optarg, 86400, &p->interval) < 0)
				return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
			break;
		case CLI_O_STALE:
			if (cli_parse_seconds("--stale", optarg, 30 * 86400, &p->stale) < 0)
				return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
			break;
		case CLI_O_EVENTS:
			if (strcmp(optarg, "all") == 0)
				p->all_events = true;
			else if (strcmp(optarg, "verdict") != 0) {
				sc_log_error("--events %.40s: not \"verdict\" or \"all\"", optarg);
				return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
			}
			break;
		case CLI_O_RECONNECT:
			p->reconnect = true;
			break;
		case CLI_O_STATE_DIR:
			p->state_dir = optarg;
			break;
		case CLI_O_TPM_UKI:
			p->tpm_uki = optarg;
			break;
		case CLI_O_TPM_KEYS:
			p->tpm_keys = optarg;
			break;
		case CLI_O_TPM_EK_CA:
			p->ek_ca = optarg;
			break;
		case CLI_O_METRICS_LISTEN: {
			struct sockaddr_storage ss;
			socklen_t sl;

			if (probe_metrics_parse_listen(optarg, &ss, &sl) < 0) {
				sc_log_error("--metrics-listen %.80s: not ADDR:PORT (IPv4) or [ADDR]:PORT (IPv6)", optarg);
				return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
			}
#if !HAVE_METRICS_HTTP
			sc_log_error("--metrics-listen: this sealcheck-probe was built without libmicrohttpd "
				     "(meson -Dmetrics); --textfile works without it");
			return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
#endif
			p->metrics_listen = optarg;
			break;
		}
		case CLI_O_TEXTFILE:
			p->textfile = optarg;
			break;
		default:
			if (cli_common_option(c, optarg, &p->o) < 0)
				return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
			break;
		}
	}
	if (c != SC_OPTIONS_END)
		return cli_options_exit(p->o.json, sc_options_exit(c));
	if (optind != argc) {
		sc_verb_usage_error(prog, verb, "no arguments, only options ('%s')", argv[optind]);
		return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
	}
	if (!p->n_socket_dirs && !p->libvirt_uri) {
		sc_verb_usage_error(prog, verb, "give a source of VMs: --socket-dir DIR or --libvirt [URI]");
		return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
	}
	/* As cli_make_policy() says it for run and attest: both, or neither, is no policy to judge by. */
	if (cp->policy_file && cp->n_expect) {
		sc_log_error("give --expect-digest or --policy, not both");
		return cli_error_exit(p->o.json, CLI_ERROR_NO_POLICY);
	}
	if (!cp->policy_file && !cp->n_expect) {
		sc_log_error("no digest policy: give --expect-digest HEX (the composefs digest the VMs "
			     "may run) or --policy FILE; without one the probe judges nothing");
		return cli_error_exit(p->o.json, CLI_ERROR_NO_POLICY);
	}
	return WATCH_GO;
}

/* The fleet's configuration from the options: rounds, deadlines and, with --state-dir, the TPM evidence. */
static int watch_configure(const struct watch_opts *p, struct cli_tpm *tpm, struct probe_fleet_config *cfg)
{
	if (p->state_dir || p->tpm_uki || p->tpm_keys || p->ek_ca) {
		/* The keys and the UKI, once for all; each VM adds its own AK Name and counters (no AK here:
		 * an empty one, not NULL, which memcpy() may not be given even for 0 bytes). */
		static const uint8_t no_ak[1];

		if (!p->state_dir || !p->tpm_uki || !p->tpm_keys) {
			sc_log_error("--state-dir, --tpm-uki and --tpm-keys go together (and --tpm-ek-ca with them)");
			return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
		}
		if (p->ek_ca && access(p->ek_ca, R_OK) < 0) {
			sc_log_error("--tpm-ek-ca %s: %m", p->ek_ca);
			return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
		}
		{
			/* Not a symlink, ours, not group/other writable (probe-tpm-state.h); again at each VM's refresh. */
			char why[400];
			int fd = probe_tpm_state_open(p->state_dir, NULL, false, why, sizeof(why));

			if (fd < 0) {
				sc_log_error("--state-dir %s", why);
				return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
			}
			close(fd);
		}
		if (access(p->tpm_uki, R_OK) < 0) {
			sc_log_error("--tpm-uki %s: %m", p->tpm_uki);
			return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
		}
		if (cli_tpm_prepare(p->tpm_keys, no_ak, 0, p->tpm_uki, NULL, NULL, tpm) < 0)
			return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
		{
			/* Read and hashed once, not per round (a UKI is tens of MiB); SIGHUP reads it again. */
			char why[600];
			int r = cli_tpm_load_uki(tpm, why, sizeof(why));

			if (r < 0) {
				sc_log_error("--tpm-uki %s", r == -ENOMEM ? "out of memory" : why);
				return cli_error_exit(p->o.json, CLI_ERROR_USAGE);
			}
		}
		cfg->state_dir = p->state_dir;
		cfg->tpm = &tpm->x;
		cfg->ek_ca_file = p->ek_ca;
	}
	cfg->keep_connection = !p->reconnect;
	cfg->interval_ms = ms(p->interval);
	cfg->timeout_ms = p->o.timeout ? ms(p->o.timeout) : (p->interval < 20 ? ms(p->interval) : 20000u);
	/* A TPM VM's round also waits for its quote and maybe activation (seconds of TPM work under TCG):
	 * 20 s unless --timeout says otherwise; rounds never overlap, so it may exceed the interval. */
	cfg->tpm_timeout_ms = p->o.timeout ? ms(p->o.timeout) : 20000u;
	cfg->stale_ms = p->stale ? ms(p->stale) : 3u * ms(p->interval);
	cfg->allow_setup_mode = p->o.policy.allow_setup_mode;
	/* The socket is there (it was found), so a refused connect is a VM not listening: ask twice a second, not ten times. */
	cfg->session.retry_ms = 500;
	cfg->log = on_log;
	return WATCH_GO;
}

/* The loop, its signals, the fleet and its policy, the outputs, then the sources of VMs. */
static int watch_setup(struct watch *w, const struct watch_opts *p, const struct probe_fleet_config *cfg,
		       struct watch_sources *src)
{
	const struct cli_policy *cp = &p->o.policy;
	struct probe_policy fixed;
	char why[600];
	int r;

	w->tty = isatty(STDOUT_FILENO);
	w->json = p->o.json || !w->tty;
	w->all_events = p->all_events;
	w->policy_file = cp->policy_file;

	/* A session's 256 KiB frame buffer is mmap'd: its untouched pages never count, and go when it ends. */
	(void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	{
		/* One connection a VM, kept between rounds, for thousands of VMs: the hard limit (epoll has no FD_SETSIZE). */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	r = probe_block_signals();
	if (r >= 0)
		r = sd_event_new(&w->event);
	if (r >= 0)
		r = sd_event_add_signal(w->event, NULL, SIGTERM, on_stop, w);
	if (r >= 0)
		r = sd_event_add_signal(w->event, NULL, SIGINT, on_stop, w);
	if (r >= 0)
		r = sd_event_add_signal(w->event, NULL, SIGHUP, on_reload, w);
	if (r >= 0)
		r = probe_fleet_new(w->event, cfg, &w->fleet);
	if (r < 0) {
		sc_log_error("setting up the event loop: %s", strerror(-r));
		return EXIT_USAGE;
	}
	if (cp->policy_file) {
		r = probe_fleet_load_policy(w->fleet, cp->policy_file, why, sizeof(why));
		if (r < 0) {
			sc_log_error("--policy %s", why);
			return cli_error_exit(p->o.json, CLI_ERROR_NO_POLICY);
		}
	} else {
		if (cli_make_policy(cp, NULL, NULL, &fixed) < 0)
			return cli_error_exit(p->o.json, CLI_ERROR_NO_POLICY);
		probe_fleet_set_policy(w->fleet, &fixed);
	}
	/* Never block the loop on a slow reader: lines and frames wait in memory (capped) until stdout takes them. */
	out_setup(w);
	if (!w->json) {
		r = sd_event_add_time_relative(w->event, &w->redraw, CLOCK_MONOTONIC, 0, 100000, on_redraw, w);
		if (r >= 0)
			r = sd_event_source_set_enabled(w->redraw, SD_EVENT_ON);
		if (r < 0) {
			sc_log_error("setting up the table: %s", strerror(-r));
			return EXIT_USAGE;
		}
	}
	r = probe_fleet_add_listener(w->fleet, on_change, w);
	if (r >= 0 && (p->metrics_listen || p->textfile)) {
		r = probe_metrics_fleet_new(w->fleet, p->metrics_listen, p->textfile, &w->metrics);
		if (r < 0)
			sc_log_error("--metrics-listen %s: %s", p->metrics_listen ?: "-", strerror(-r));
		else if (p->metrics_listen)
			sc_log_error("metrics on port %u", probe_metrics_fleet_port(w->metrics));
		if (r >= 0 && cp->policy_file)
			probe_metrics_fleet_policy_loaded(w->metrics, 1);
	}
	w->sockdirs = src->sockdirs;
	w->n_sockdirs = ELEMENTSOF(src->sockdirs);
	for (unsigned i = 0; r >= 0 && i < p->n_socket_dirs; i++) {
		r = probe_fleet_sockdir_new(w->fleet, p->socket_dirs[i], &src->sockdirs[i]);
		if (r < 0)
			sc_log_error("--socket-dir %s: %s", p->socket_dirs[i], strerror(-r));
	}
	/* Hook: further sources (--libvirt) start here. */
#if HAVE_LIBVIRT
	if (r >= 0 && p->libvirt_uri) {
		/* Not reachable until its first listing: the gauge says 0 from the start. */
		w->has_libvirt = w->libvirt_down = true;
		probe_metrics_fleet_libvirt_up(w->metrics, 0);
		r = probe_fleet_libvirt_new(w->fleet, p->libvirt_uri, on_libvirt_reachable, w, &src->lv);
		if (r < 0)
			sc_log_error("--libvirt: %s", strerror(-r));
	}
#endif
	return r < 0 ? EXIT_USAGE : WATCH_GO;
}

static int watch_run(struct watch *w)
{
	int r = sd_event_loop(w->event);

	if (r < 0) {
		sc_log_error("the event loop failed: %s", strerror(-r));
		return EXIT_USAGE;
	}
	return 0;
}

/* The sources before the fleet they feed, the fleet before the metrics it calls to the end, then the output. */
static void watch_teardown(struct watch *w, struct watch_sources *src, int rc)
{
#if HAVE_LIBVIRT
	/* Its discovery process killed and reaped (at most a second, even inside a hung RPC). */
	src->lv = probe_fleet_libvirt_free(src->lv);
#endif
	for (size_t i = 0; i < ELEMENTSOF(src->sockdirs); i++)
		src->sockdirs[i] = probe_fleet_sockdir_free(src->sockdirs[i]);
	w->fleet = probe_fleet_free(w->fleet);
	w->metrics = probe_metrics_fleet_free(w->metrics);
	sd_event_source_disable_unref(w->redraw);
	sd_event_source_disable_unref(w->out_io);
	if (w->out_len && !w->out_broken) {
		/* What is still queued goes out now, for at most 5 s. */
		(void)sc_write_all(w->out_fd, w->out, w->out_len, sc_now_ms() + 5000);
	}
	if (w->out_nonblock)
		(void)fcntl(STDOUT_FILENO, F_SETFL, w->out_flags);
	if (w->out_fd != STDOUT_FILENO)
		close(w->out_fd);
	free(w->out);
	w->event = sd_event_unref(w->event);
	if (w->tty && !w->json && rc == 0)
		fputc('\n', stdout);
}

static int run(const struct sc_program *prog, const struct sc_verb *verb, int argc, char **argv)
{
	/* --json known first: a usage error among the options is then said in JSON too. */
	struct watch_opts p = { .interval = 30, .o.json = cli_json_requested(prog, argc, argv) };
	struct probe_fleet_config cfg = { 0 };
	_cleanup_(cli_tpm_done) struct cli_tpm tpm = { 0 };
	struct watch w = { .out_flags = -1, .out_fd = STDOUT_FILENO };
	struct watch_sources src = { 0 };
	int rc;

	rc = watch_parse(prog, verb, argc, argv, &p);
	if (rc != WATCH_GO)
		return rc;
	rc = watch_configure(&p, &tpm, &cfg);
	if (rc != WATCH_GO)
		return rc;
	if (cfg.tpm)
		w.tpm = &tpm;
	rc = watch_setup(&w, &p, &cfg, &src);
	if (rc == WATCH_GO)
		rc = watch_run(&w);
	watch_teardown(&w, &src, rc);
	return rc;
}

static const struct sc_verb_option options[] = {
	{ CLI_O_SOCKET_DIR, "the VMs' sockets (added and removed as they come and go); up to 4" },
	{ CLI_O_LIBVIRT, "the running libvirt domains on URI (default qemu:///system; also --libvirt URI when "
			 "the next word is a URI; before the verb only --libvirt=URI) with the channel "
			 "org.sealcheck.attest.0, each named by its domain name, found again on every start "
			 "(docs/libvirt.md)" },
	{ CLI_O_EXPECT, "a composefs digest every VM may run; repeatable" },
	{ CLI_O_POLICY, "a sealcheck.policy.v1 file mapping VM names or UUIDs to digests" },
	{ CLI_O_NO_SB, "accept Secure Boot in setup, audit or disabled mode" },
	{ CLI_O_INTERVAL, "seconds between a VM's rounds (default 30)" },
	{ CLI_O_TIMEOUT, "one round's deadline (default the interval, at most 20; a TPM VM's 20)" },
	{ CLI_O_STALE, "a VM without a valid report this long is stale (default 3 intervals)" },
	{ CLI_O_RECONNECT, "a new connection every round (default: keep an answering VM's)" },
	{ CLI_O_EVENTS, "JSON lines for changes only (default), or for every round too" },
	{ CLI_O_JSON, "JSON lines even on a terminal; an exit 2 for a usage error or no policy as one "
		      "sealcheck.probe.v1 object {\"verdict\": null, \"error\": ...}" },
	{ CLI_O_STATE_DIR, "DIR/<vm>/ (as run --tpm-state keeps it): that VM has a TPM, its evidence is "
			   "required and verified under the AK pinned in DIR/<vm>/ak.name; quote counters kept "
			   "there (docs/fleet.md)" },
	{ CLI_O_TPM_UKI, "with --state-dir: the sealed UKI the host built (read at start and on SIGHUP)" },
	{ CLI_O_TPM_KEYS, "with --state-dir: the Secure Boot keys enrolled (PK.crt, KEK.crt, db.crt)" },
	{ CLI_O_TPM_EK_CA, "with --state-dir: a TPM VM with no ak.name (e.g. libvirt's swtpm) gets its AK bound "
			   "to its EK by credential activation, the EK certificate chaining to these CA "
			   "certificates (PEM), and pinned in DIR/<vm>/ak.name" },
	{ CLI_O_METRICS_LISTEN, "serve Prometheus metrics at http://ADDR:PORT/metrics (IPv4, or [IPv6]:PORT; "
				"port 0: any free one, said on stderr; docs/metrics.md)" },
	{ CLI_O_TEXTFILE, "the same metrics in PATH (*.prom) for node_exporter's textfile collector, replaced "
			  "atomically after changes, at most once a second" },
	{},
};

/* --vm is not among them: watch names each VM by its socket's file name or its domain name. */
const struct sc_verb cmd_watch = {
	.name = "watch",
	.args = "(--socket-dir DIR | --libvirt [URI])... (--expect-digest HEX... | --policy FILE)",
	.summary = "attest every VM of this host, round after round, and report changes",
	.description = "Attest every VM of this host, again and again, on one event loop: each *.sock in DIR is\n"
		       "the host side of one VM's port org.sealcheck.attest.0, the VM named by the file name\n"
		       "without .sock. A fresh nonce when the VM appears and every --interval, one deadline per\n"
		       "round, the same policy and validation as attest. Prints a JSON line for every change of a\n"
		       "VM's verdict, of its being up or stale (sealcheck.watch.v1, docs/fleet.md), or on a terminal a\n"
		       "live table. SIGTERM or SIGINT stop it, SIGHUP reloads the --policy file and the --tpm-uki\n"
		       "(read once at start, not per round) and reads each --socket-dir again.",
	.exit_status = "0 stopped by SIGTERM or SIGINT, 2 usage, no policy or setup error.",
	.run = run,
	.options = options,
};
