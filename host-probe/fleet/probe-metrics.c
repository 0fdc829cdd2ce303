/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "probe-metrics.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-report.h"

/*
 * One growing buffer with a sticky error: every append after a failure is a
 * no-op, and the caller checks once at the end. Capacity doubles, so
 * rendering is linear in the output.
 */
struct mbuf {
	char *p;
	size_t len, cap;
	int err;
};

static bool mb_reserve(struct mbuf *b, size_t add)
{
	size_t need, cap;
	char *p;

	if (b->err < 0)
		return false;
	if (__builtin_add_overflow(b->len, add, &need) || __builtin_add_overflow(need, 1, &need)) {
		b->err = -EOVERFLOW;
		return false;
	}
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (!p) {
		b->err = -ENOMEM;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void mb_put(struct mbuf *b, const char *s, size_t n)
{
	if (!mb_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void mb_puts(struct mbuf *b, const char *s)
{
	mb_put(b, s, strlen(s));
}

static void mb_u64(struct mbuf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	mb_put(b, tmp + i, sizeof(tmp) - i);
}

/* A Unix time or a duration: "0" for 0, else milliseconds; the format's spellings for the rest. */
static void mb_seconds(struct mbuf *b, double v)
{
	char tmp[64];
	int n;

	if (isnan(v)) {
		mb_puts(b, "NaN");
		return;
	}
	if (isinf(v)) {
		mb_puts(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == 0) {
		mb_puts(b, "0");
		return;
	}
	n = snprintf(tmp, sizeof(tmp), "%.3f", v);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->err = b->err < 0 ? b->err : -EOVERFLOW;
		return;
	}
	mb_put(b, tmp, (size_t)n);
}

/* A label value between double quotes: \\ \" \n escaped, each invalid UTF-8 byte as \xNN (the string
 * ends at its NUL, so sc_utf8_seq_len() never sees one). */
static void mb_label_value(struct mbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)(s ? s : "");
	size_t left = strlen((const char *)u), run = 0;

	mb_put(b, "\"", 1);
	while (left > 0) {
		size_t k = sc_utf8_seq_len(u + run, left);
		unsigned char c = u[run];

		if (k > 0 && c != '\\' && c != '"' && c != '\n') {
			run += k;
			left -= k;
			continue;
		}
		/* Flush the clean run, then the one character that needs care. */
		mb_put(b, (const char *)u, run);
		u += run;
		run = 0;
		if (k == 0) {
			char esc[5] = { '\\', '\\', 'x', hex[c >> 4], hex[c & 15] };
			mb_put(b, esc, sizeof(esc));
		} else if (c == '\n')
			mb_put(b, "\\n", 2);
		else {
			char esc[2] = { '\\', (char)c };
			mb_put(b, esc, 2);
		}
		u++;
		left--;
	}
	mb_put(b, (const char *)u, run);
	mb_put(b, "\"", 1);
}

static void family(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mb_puts(b, "# HELP ");
	mb_puts(b, name);
	mb_puts(b, " ");
	mb_puts(b, help);
	mb_puts(b, "\n# TYPE ");
	mb_puts(b, name);
	mb_puts(b, " ");
	mb_puts(b, type);
	mb_puts(b, "\n");
}

/* name{vm="..." (the caller adds more labels, then series_end()). */
static void series_vm(struct mbuf *b, const char *name, const struct probe_metrics_vm *vm)
{
	mb_puts(b, name);
	mb_puts(b, "{vm=");
	mb_label_value(b, vm->name);
}

static void series_end_u64(struct mbuf *b, uint64_t v)
{
	mb_put(b, "} ", 2);
	mb_u64(b, v);
	mb_put(b, "\n", 1);
}

static void series_end_seconds(struct mbuf *b, double v)
{
	mb_put(b, "} ", 2);
	mb_seconds(b, v);
	mb_put(b, "\n", 1);
}

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* A canonical lowercase UUID (8-4-4-4-12), else "". */
static const char *valid_uuid(const char *u)
{
	if (!u || strlen(u) != 36)
		return "";
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? u[i] != '-' : !is_lower_hex(u + i, 1))
			return "";
	}
	return u;
}

/* "<hex>" (64 or 128 digits) or "sha256:<64>"/"sha512:<128>", lowercase, else "". */
static const char *valid_digest(const char *d)
{
	size_t n;
	const char *hex = d;

	if (!d)
		return "";
	if (strncmp(d, "sha256:", 7) == 0 || strncmp(d, "sha512:", 7) == 0)
		hex = d + 7;
	n = strlen(hex);
	if (hex != d && n != (d[3] == '2' ? 64u : 128u))
		return "";
	if ((n != 64 && n != 128) || !is_lower_hex(hex, n))
		return "";
	return d;
}

static bool valid_check_name(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > PROBE_METRICS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

/* Every check status has one series, 0 or 1 (kube-state-metrics style): none appears or vanishes. */
static const char *const check_statuses[] = { "pass", "fail", "error", "skip" };

static size_t check_status_index(const char *s)
{
	if (s && (strcmp(s, "pass") == 0 || strcmp(s, "proven") == 0))
		return 0;
	if (s && (strcmp(s, "fail") == 0 || strcmp(s, "failed") == 0))
		return 1;
	if (s && strcmp(s, "skip") == 0)
		return 3;
	return 2;
}

/* Whether check @i of @vm is rendered: a valid name, within the cap, the first of its name. */
static bool check_rendered(const struct probe_metrics_vm *vm, size_t i)
{
	if (i >= PROBE_METRICS_CHECKS_MAX || !valid_check_name(vm->checks[i].name))
		return false;
	for (size_t j = 0; j < i; j++)
		if (valid_check_name(vm->checks[j].name) && strcmp(vm->checks[j].name, vm->checks[i].name) == 0)
			return false;
	return true;
}

static const char *const result_labels[_PROBE_METRICS_R_MAX] = {
	[PROBE_METRICS_R_SEALED] = "sealed",   [PROBE_METRICS_R_UNSEALED] = "unsealed",
	[PROBE_METRICS_R_TIMEOUT] = "timeout", [PROBE_METRICS_R_CLOSED] = "closed",
	[PROBE_METRICS_R_ERROR] = "error",
};

static const char *const frame_labels[_PROBE_METRICS_F_MAX] = {
	[PROBE_METRICS_F_MALFORMED] = "malformed",
	[PROBE_METRICS_F_STALE_NONCE] = "stale_nonce",
	[PROBE_METRICS_F_INVALID] = "invalid_report",
};

/* The one state of sealcheck_vms a VM counts in. */
enum vm_state { VM_SEALED, VM_UNSEALED, VM_NO_REPORT, VM_PENDING, VM_STALE, _VM_STATE_MAX };
static const char *const state_labels[_VM_STATE_MAX] = {
	[VM_SEALED] = "sealed", [VM_UNSEALED] = "unsealed", [VM_NO_REPORT] = "no_report",
	[VM_PENDING] = "pending", [VM_STALE] = "stale",
};

static enum vm_state vm_state(const struct probe_metrics_vm *vm)
{
	if (vm->stale)
		return VM_STALE;
	switch (vm->verdict) {
	case PROBE_METRICS_SEALED:
		return VM_SEALED;
	case PROBE_METRICS_UNSEALED:
		return VM_UNSEALED;
	case PROBE_METRICS_NO_REPORT:
		return VM_NO_REPORT;
	default:
		return VM_PENDING;
	}
}

int probe_metrics_render(const struct probe_metrics_vm *vms, size_t n, const struct probe_metrics_extra *x,
			 char **ret, size_t *ret_len)
{
	struct mbuf b = { 0 };
	uint64_t states[_VM_STATE_MAX] = { 0 };
	const char *version = x && x->version ? x->version : PACKAGE_VERSION;
	bool any_tpm = false;
	size_t i, estimate;

	if (n > PROBE_METRICS_MAX_VMS || (n > 0 && !vms))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!vms[i].name || (vms[i].n_checks > 0 && !vms[i].checks))
			return -EINVAL;
		states[vm_state(&vms[i])]++;
		any_tpm |= vms[i].has_tpm_counters != 0;
	}
	/* A start that avoids most reallocations; n is capped above, the doubling does the rest. */
	estimate = 4096 + (n < 65536 ? n : 65536) * 1024;
	if (!mb_reserve(&b, estimate))
		return b.err;

	family(&b, "sealcheck_build_info", "gauge", "The sealcheck-probe build, always 1.");
	mb_puts(&b, "sealcheck_build_info{version=");
	mb_label_value(&b, version);
	mb_puts(&b, "} 1\n");

	if (x && x->start_time_seconds != 0) {
		family(&b, "sealcheck_start_time_seconds", "gauge", "Unix time the probe started, in seconds.");
		mb_puts(&b, "sealcheck_start_time_seconds ");
		mb_seconds(&b, x->start_time_seconds);
		mb_puts(&b, "\n");
	}
	if (x && x->policy_reload_ts != 0) {
		family(&b, "sealcheck_policy_last_reload_success", "gauge",
		       "Whether the last load of the policy (start or SIGHUP) succeeded (1) or kept the old one (0).");
		mb_puts(&b, "sealcheck_policy_last_reload_success ");
		mb_u64(&b, x->policy_reload_ok ? 1 : 0);
		mb_puts(&b, "\n");
		family(&b, "sealcheck_policy_last_reload_timestamp_seconds", "gauge",
		       "Unix time of the last load of the policy, in seconds.");
		mb_puts(&b, "sealcheck_policy_last_reload_timestamp_seconds ");
		mb_seconds(&b, x->policy_reload_ts);
		mb_puts(&b, "\n");
	}
	if (x && x->has_libvirt) {
		family(&b, "sealcheck_source_up", "gauge",
		       "Whether a source of VMs answers (1) or not (0: not yet, or unreachable; its VMs known are kept).");
		mb_puts(&b, "sealcheck_source_up{source=\"libvirt\"} ");
		mb_u64(&b, x->libvirt_up ? 1 : 0);
		mb_puts(&b, "\n");
	}

	family(&b, "sealcheck_vms", "gauge",
	       "VMs watched, by state: stale, else the verdict of the last round (pending: none yet).");
	for (i = 0; i < _VM_STATE_MAX; i++) {
		mb_puts(&b, "sealcheck_vms{state=\"");
		mb_puts(&b, state_labels[i]);
		mb_puts(&b, "\"} ");
		mb_u64(&b, states[i]);
		mb_puts(&b, "\n");
	}

	family(&b, "sealcheck_vm_info", "gauge",
	       "Identity of a watched VM, always 1: libvirt UUID and the allowed digest its last sealed report named.");
	for (i = 0; i < n; i++) {
		series_vm(&b, "sealcheck_vm_info", &vms[i]);
		mb_puts(&b, ",uuid=");
		mb_label_value(&b, valid_uuid(vms[i].uuid));
		mb_puts(&b, ",digest=");
		mb_label_value(&b, valid_digest(vms[i].digest));
		series_end_u64(&b, 1);
	}

	family(&b, "sealcheck_vm_sealed", "gauge",
	       "1 when the last round's verdict is SEALED and the VM is not stale, else 0.");
	for (i = 0; i < n; i++) {
		series_vm(&b, "sealcheck_vm_sealed", &vms[i]);
		series_end_u64(&b, vm_state(&vms[i]) == VM_SEALED);
	}

	family(&b, "sealcheck_vm_up", "gauge", "1 when the VM answered the last round with a valid report, else 0.");
	for (i = 0; i < n; i++) {
		series_vm(&b, "sealcheck_vm_up", &vms[i]);
		series_end_u64(&b, vms[i].up ? 1 : 0);
	}

	family(&b, "sealcheck_vm_stale", "gauge", "1 when the VM sent no valid report for the --stale time, else 0.");
	for (i = 0; i < n; i++) {
		series_vm(&b, "sealcheck_vm_stale", &vms[i]);
		series_end_u64(&b, vms[i].stale ? 1 : 0);
	}

	family(&b, "sealcheck_vm_tpm_proven", "gauge",
	       "1 when the last SEALED verdict rests on the VM's TPM evidence, 0 when self-reported or not sealed.");
	for (i = 0; i < n; i++) {
		series_vm(&b, "sealcheck_vm_tpm_proven", &vms[i]);
		series_end_u64(&b, vms[i].tpm_proven && vms[i].verdict == PROBE_METRICS_SEALED);
	}

	family(&b, "sealcheck_vm_last_report_timestamp_seconds", "gauge",
	       "Unix time of the VM's last valid report, in seconds; 0 when it never sent one.");
	for (i = 0; i < n; i++) {
		series_vm(&b, "sealcheck_vm_last_report_timestamp_seconds", &vms[i]);
		series_end_seconds(&b, vms[i].last_report_ts);
	}

	family(&b, "sealcheck_consecutive_failures", "gauge",
	       "Rounds in a row, up to now, whose verdict was not SEALED.");
	for (i = 0; i < n; i++) {
		series_vm(&b, "sealcheck_consecutive_failures", &vms[i]);
		series_end_u64(&b, vms[i].consecutive_failures);
	}

	family(&b, "sealcheck_vm_last_round_duration_seconds", "gauge",
	       "How long the VM's last round took, from the nonce to the verdict, in seconds; 0 before the first.");
	for (i = 0; i < n; i++) {
		series_vm(&b, "sealcheck_vm_last_round_duration_seconds", &vms[i]);
		series_end_seconds(&b, vms[i].last_round_seconds);
	}

	family(&b, "sealcheck_reports_total", "counter",
	       "Attestation rounds ended since the probe started, by result.");
	for (i = 0; i < n; i++)
		for (size_t r = 0; r < _PROBE_METRICS_R_MAX; r++) {
			series_vm(&b, "sealcheck_reports_total", &vms[i]);
			mb_puts(&b, ",result=\"");
			mb_puts(&b, result_labels[r]);
			mb_puts(&b, "\"");
			series_end_u64(&b, vms[i].reports_total[r]);
		}

	family(&b, "sealcheck_rejected_frames_total", "counter",
	       "Frames the VM sent that the probe refused since it started, by reason.");
	for (i = 0; i < n; i++)
		for (size_t r = 0; r < _PROBE_METRICS_F_MAX; r++) {
			series_vm(&b, "sealcheck_rejected_frames_total", &vms[i]);
			mb_puts(&b, ",reason=\"");
			mb_puts(&b, frame_labels[r]);
			mb_puts(&b, "\"");
			series_end_u64(&b, vms[i].rejected_frames[r]);
		}

	family(&b, "sealcheck_check_status", "gauge",
	       "Status of each check and TPM link of the VM's last valid report: 1 for its status, 0 for the others.");
	for (i = 0; i < n; i++)
		for (size_t c = 0; c < vms[i].n_checks; c++) {
			size_t st;

			if (!check_rendered(&vms[i], c))
				continue;
			st = check_status_index(vms[i].checks[c].status);
			for (size_t k = 0; k < ELEMENTSOF(check_statuses); k++) {
				series_vm(&b, "sealcheck_check_status", &vms[i]);
				mb_puts(&b, ",check=\"");
				mb_puts(&b, vms[i].checks[c].name); /* validated: nothing to escape */
				mb_puts(&b, "\",status=\"");
				mb_puts(&b, check_statuses[k]);
				mb_puts(&b, "\"");
				series_end_u64(&b, k == st);
			}
		}

	if (any_tpm) {
		family(&b, "sealcheck_vm_tpm_resets", "gauge",
		       "The TPM's resetCount from the VM's last verified quote (it only grows while the TPM state lives).");
		for (i = 0; i < n; i++) {
			if (!vms[i].has_tpm_counters)
				continue;
			series_vm(&b, "sealcheck_vm_tpm_resets", &vms[i]);
			series_end_u64(&b, vms[i].tpm_reset_count);
		}
	}

	family(&b, "sealcheck_vm_lost", "gauge",
	       "A VM that left without its owner stopping it, always 1, by reason; kept for a day or until it is back.");
	for (i = 0; x && i < x->n_lost; i++) {
		if (!x->lost[i].name)
			continue;
		mb_puts(&b, "sealcheck_vm_lost{vm=");
		mb_label_value(&b, x->lost[i].name);
		mb_puts(&b, ",uuid=");
		mb_label_value(&b, valid_uuid(x->lost[i].uuid));
		mb_puts(&b, ",source=");
		mb_label_value(&b, x->lost[i].source ?: "");
		mb_puts(&b, ",reason=");
		mb_label_value(&b, x->lost[i].reason ?: "");
		series_end_u64(&b, 1);
	}

	if (b.err < 0) {
		free(b.p);
		return b.err;
	}
	*ret_len = b.len;
	*ret = b.p;
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t k = write(fd, p, len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return sc_negative_errno();
		}
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

int probe_metrics_write_textfile(const char *path, const struct probe_metrics_snapshot *s)
{
	_cleanup_free_ char *text = NULL, *tmp = NULL;
	_cleanup_close_ int fd = -1;
	size_t len;
	int r;

	if (!path || !*path || !s)
		return -EINVAL;
	r = probe_metrics_render(s->vms, s->n_vms, &s->extra, &text, &len);
	if (r < 0)
		return r;
	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0) {
		tmp = NULL;
		return -ENOMEM;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return sc_negative_errno();
	/*
	 * node_exporter may run as another user: the file is world-readable, as it would be under umask 022.
	 * No fsync: this runs on the loop every attestation round shares, and a slow disk must not stall
	 * them. Readers see the old file or the new one whole (rename); only a power loss can leave it
	 * empty, until the next write (within a second of the probe running again).
	 */
	if (fchmod(fd, 0644) < 0 || (r = write_all(fd, text, len)) < 0) {
		r = r < 0 ? r : sc_negative_errno();
		goto fail;
	}
	if (close(TAKE_FD(fd)) < 0 || rename(tmp, path) < 0) {
		r = sc_negative_errno();
		goto fail;
	}
	return 0;
fail:
	(void)unlink(tmp);
	return r;
}

int probe_metrics_parse_listen(const char *text, struct sockaddr_storage *ret, socklen_t *ret_len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *port_text, *h;
	size_t hlen;
	unsigned long port;
	char *end;
	bool v6;

	if (!text)
		return -EINVAL;
	v6 = text[0] == '[';
	if (v6) {
		const char *close_br = strchr(text, ']');
		if (!close_br || close_br[1] != ':')
			return -EINVAL;
		h = text + 1;
		hlen = (size_t)(close_br - h);
		port_text = close_br + 2;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -EINVAL;
		h = text;
		hlen = (size_t)(colon - text);
		port_text = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (port_text[0] < '0' || port_text[0] > '9' || strlen(port_text) > 5)
		return -EINVAL;
	errno = 0;
	port = strtoul(port_text, &end, 10);
	if (errno || *end || port > 65535)
		return -EINVAL;

	memset(ret, 0, sizeof(*ret));
	if (v6) {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *)ret;
		sa->sin6_family = AF_INET6;
		sa->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &sa->sin6_addr) != 1)
			return -EINVAL;
		*ret_len = sizeof(*sa);
	} else {
		struct sockaddr_in *sa = (struct sockaddr_in *)ret;
		sa->sin_family = AF_INET;
		sa->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
			return -EINVAL;
		*ret_len = sizeof(*sa);
	}
	return 0;
}
