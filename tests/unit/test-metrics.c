/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fleet's metrics (probe-metrics.h): known snapshots rendered to the
 * exact exposition text, label escaping (quote, backslash, newline, bytes
 * that are not UTF-8), validation of guest-reachable labels, 10,000 VMs, the
 * atomic textfile, and the HTTP server on 127.0.0.1:0 and [::1]:0 driven by
 * an sd-event loop here, fetched with raw sockets.
 *
 * `test-metrics --dump N` prints the rendering of N synthetic VMs instead, for
 * `promtool check metrics` (tests/fleet/prometheus/check-dump.sh).
 */
#include "unit.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "probe-loop.h"
#include "probe-metrics-fleet.h"
#include "probe-metrics-http.h"
#include "probe-metrics.h"
#include "sc-fileio.h"
#include "sc-macro.h"

#define HELP_TYPES_HEAD                                                                                         \
	"# HELP sealcheck_build_info The sealcheck-probe build, always 1.\n"                                   \
	"# TYPE sealcheck_build_info gauge\n"                                                                   \
	"sealcheck_build_info{version=\"1.2.3\"} 1\n"

#define HELP_VMS                                                                                                \
	"# HELP sealcheck_vms VMs watched, by state: stale, else the verdict of the last round (pending: none yet).\n" \
	"# TYPE sealcheck_vms gauge\n"

#define FAMILY(name, type, help) "# HELP " name " " help "\n# TYPE " name " " type "\n"
#define F_INFO                                                                                                  \
	FAMILY("sealcheck_vm_info", "gauge",                                                                    \
	       "Identity of a watched VM, always 1: libvirt UUID and the allowed digest its last sealed report named.")
#define F_SEALED                                                                                                \
	FAMILY("sealcheck_vm_sealed", "gauge", "1 when the last round's verdict is SEALED and the VM is not stale, else 0.")
#define F_UP FAMILY("sealcheck_vm_up", "gauge", "1 when the VM answered the last round with a valid report, else 0.")
#define F_STALE FAMILY("sealcheck_vm_stale", "gauge", "1 when the VM sent no valid report for the --stale time, else 0.")
#define F_TPM                                                                                                   \
	FAMILY("sealcheck_vm_tpm_proven", "gauge",                                                              \
	       "1 when the last SEALED verdict rests on the VM's TPM evidence, 0 when self-reported or not sealed.")
#define F_LAST                                                                                                  \
	FAMILY("sealcheck_vm_last_report_timestamp_seconds", "gauge",                                           \
	       "Unix time of the VM's last valid report, in seconds; 0 when it never sent one.")
#define F_CONSEC                                                                                                \
	FAMILY("sealcheck_consecutive_failures", "gauge", "Rounds in a row, up to now, whose verdict was not SEALED.")
#define F_ROUND                                                                                                 \
	FAMILY("sealcheck_vm_last_round_duration_seconds", "gauge",                                             \
	       "How long the VM's last round took, from the nonce to the verdict, in seconds; 0 before the first.")
#define F_FRAMES                                                                                                \
	FAMILY("sealcheck_rejected_frames_total", "counter",                                                    \
	       "Frames the VM sent that the probe refused since it started, by reason.")
#define F_REPORTS                                                                                               \
	FAMILY("sealcheck_reports_total", "counter", "Attestation rounds ended since the probe started, by result.")
#define F_CHECKS                                                                                                \
	FAMILY("sealcheck_check_status", "gauge",                                                               \
	       "Status of each check and TPM link of the VM's last valid report: 1 for its status, 0 for the others.")
#define F_LOST                                                                                                  \
	FAMILY("sealcheck_vm_lost", "gauge",                                                                    \
	       "A VM that left without its owner stopping it, always 1, by reason; kept for a day or until it is back.")
#define F_RESET                                                                                                 \
	FAMILY("sealcheck_vm_tpm_resets", "gauge",                                                         \
	       "The TPM's resetCount from the VM's last verified quote (it only grows while the TPM state lives).")

static const struct probe_metrics_extra extra_version = { .version = "1.2.3" };

static char *render(const struct probe_metrics_vm *vms, size_t n, const struct probe_metrics_extra *x)
{
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(probe_metrics_render(vms, n, x, &text, &len), 0);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

static void test_empty_fleet(void **state)
{
	_cleanup_free_ char *text = render(NULL, 0, &extra_version);

	assert_string_equal(text, HELP_TYPES_HEAD HELP_VMS
			    "sealcheck_vms{state=\"sealed\"} 0\n"
			    "sealcheck_vms{state=\"unsealed\"} 0\n"
			    "sealcheck_vms{state=\"no_report\"} 0\n"
			    "sealcheck_vms{state=\"pending\"} 0\n"
			    "sealcheck_vms{state=\"stale\"} 0\n" F_INFO F_SEALED F_UP F_STALE F_TPM F_LAST F_CONSEC
				    F_ROUND F_REPORTS F_FRAMES F_CHECKS F_LOST);
}

/* The libvirt source's gauge: only with a libvirt source, 1 or 0, after the policy's. */
static void test_source_up(void **state)
{
	const struct probe_metrics_extra down = { .version = "1.2.3", .has_libvirt = 1, .libvirt_up = 0 },
					 up = { .version = "1.2.3", .has_libvirt = 1, .libvirt_up = 1 };
	const char *const family_text =
		FAMILY("sealcheck_source_up", "gauge",
		       "Whether a source of VMs answers (1) or not (0: not yet, or unreachable; its VMs known are kept).");
	_cleanup_free_ char *none = render(NULL, 0, &extra_version), *d = render(NULL, 0, &down), *u = render(NULL, 0, &up);

	(void)state;
	assert_null(strstr(none, "sealcheck_source_up"));
	assert_non_null(strstr(d, family_text));
	assert_non_null(strstr(d, "\nsealcheck_source_up{source=\"libvirt\"} 0\n"));
	assert_non_null(strstr(u, "\nsealcheck_source_up{source=\"libvirt\"} 1\n"));
	/* Nothing else moves: the rest of the page is the same as without a source. */
	assert_int_equal(strlen(d), strlen(none) + strlen(family_text) + strlen("sealcheck_source_up{source=\"libvirt\"} 0\n"));
}

static const char digest512[] = "sha512:"
				"22daa96e4ac60922aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

static void test_known_fleet(void **state)
{
	static const struct probe_metrics_check web_checks[] = {
		{ "cmdline", "pass" }, { "lockdown", "skip" }, { "tpm:quote", "proven" },
	};
	static const struct probe_metrics_check db_checks[] = {
		{ "cmdline", "fail" }, { "tpm:quote", "failed" }, { "root_mount", "weird" },
	};
	const struct probe_metrics_vm vms[] = {
		{ .name = "web-01", .uuid = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0", .digest = digest512,
		  .verdict = PROBE_METRICS_SEALED, .up = 1, .tpm_proven = 1, .last_report_ts = 1764590000.25,
		  .checks = web_checks, .n_checks = ELEMENTSOF(web_checks),
		  .reports_total = { 12, 0, 1, 0, 0 }, .has_tpm_counters = 1, .tpm_reset_count = 3,
		  .last_round_seconds = 0.123, .rejected_frames = { 0, 2, 0 } },
		{ .name = "db-01", .verdict = PROBE_METRICS_UNSEALED, .up = 1, .tpm_proven = 1,
		  .last_report_ts = 1764590001, .checks = db_checks, .n_checks = ELEMENTSOF(db_checks),
		  .reports_total = { 0, 7, 0, 2, 1 }, .consecutive_failures = 10, .last_round_seconds = 1.5,
		  .rejected_frames = { 5, 0, 1 } },
		{ .name = "new", .verdict = PROBE_METRICS_NONE },
		{ .name = "gone", .verdict = PROBE_METRICS_SEALED, .stale = 1, .last_report_ts = 1700000000,
		  .reports_total = { 5, 0, 0, 0, 0 } },
	};
	const struct probe_metrics_extra x = { .version = "1.2.3", .start_time_seconds = 1764580000,
					       .policy_reload_ts = 1764580001.5, .policy_reload_ok = 1 };
	_cleanup_free_ char *text = render(vms, ELEMENTSOF(vms), &x);

	assert_string_equal(
		text,
		HELP_TYPES_HEAD
		FAMILY("sealcheck_start_time_seconds", "gauge", "Unix time the probe started, in seconds.")
		"sealcheck_start_time_seconds 1764580000.000\n"
		FAMILY("sealcheck_policy_last_reload_success", "gauge",
		       "Whether the last load of the policy (start or SIGHUP) succeeded (1) or kept the old one (0).")
		"sealcheck_policy_last_reload_success 1\n"
		FAMILY("sealcheck_policy_last_reload_timestamp_seconds", "gauge",
		       "Unix time of the last load of the policy, in seconds.")
		"sealcheck_policy_last_reload_timestamp_seconds 1764580001.500\n"
		HELP_VMS
		"sealcheck_vms{state=\"sealed\"} 1\n"
		"sealcheck_vms{state=\"unsealed\"} 1\n"
		"sealcheck_vms{state=\"no_report\"} 0\n"
		"sealcheck_vms{state=\"pending\"} 1\n"
		"sealcheck_vms{state=\"stale\"} 1\n"
		F_INFO
		"sealcheck_vm_info{vm=\"web-01\",uuid=\"4dea22b3-1d52-d8f3-2516-782e98ab3fa0\",digest=\"sha512:"
		"22daa96e4ac60922aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"} 1\n"
		"sealcheck_vm_info{vm=\"db-01\",uuid=\"\",digest=\"\"} 1\n"
		"sealcheck_vm_info{vm=\"new\",uuid=\"\",digest=\"\"} 1\n"
		"sealcheck_vm_info{vm=\"gone\",uuid=\"\",digest=\"\"} 1\n"
		F_SEALED
		"sealcheck_vm_sealed{vm=\"web-01\"} 1\n"
		"sealcheck_vm_sealed{vm=\"db-01\"} 0\n"
		"sealcheck_vm_sealed{vm=\"new\"} 0\n"
		"sealcheck_vm_sealed{vm=\"gone\"} 0\n" /* sealed once, but stale */
		F_UP
		"sealcheck_vm_up{vm=\"web-01\"} 1\n"
		"sealcheck_vm_up{vm=\"db-01\"} 1\n"
		"sealcheck_vm_up{vm=\"new\"} 0\n"
		"sealcheck_vm_up{vm=\"gone\"} 0\n"
		F_STALE
		"sealcheck_vm_stale{vm=\"web-01\"} 0\n"
		"sealcheck_vm_stale{vm=\"db-01\"} 0\n"
		"sealcheck_vm_stale{vm=\"new\"} 0\n"
		"sealcheck_vm_stale{vm=\"gone\"} 1\n"
		F_TPM
		"sealcheck_vm_tpm_proven{vm=\"web-01\"} 1\n"
		"sealcheck_vm_tpm_proven{vm=\"db-01\"} 0\n" /* not sealed: nothing proven */
		"sealcheck_vm_tpm_proven{vm=\"new\"} 0\n"
		"sealcheck_vm_tpm_proven{vm=\"gone\"} 0\n"
		F_LAST
		"sealcheck_vm_last_report_timestamp_seconds{vm=\"web-01\"} 1764590000.250\n"
		"sealcheck_vm_last_report_timestamp_seconds{vm=\"db-01\"} 1764590001.000\n"
		"sealcheck_vm_last_report_timestamp_seconds{vm=\"new\"} 0\n"
		"sealcheck_vm_last_report_timestamp_seconds{vm=\"gone\"} 1700000000.000\n"
		F_CONSEC
		"sealcheck_consecutive_failures{vm=\"web-01\"} 0\n"
		"sealcheck_consecutive_failures{vm=\"db-01\"} 10\n"
		"sealcheck_consecutive_failures{vm=\"new\"} 0\n"
		"sealcheck_consecutive_failures{vm=\"gone\"} 0\n"
		F_ROUND
		"sealcheck_vm_last_round_duration_seconds{vm=\"web-01\"} 0.123\n"
		"sealcheck_vm_last_round_duration_seconds{vm=\"db-01\"} 1.500\n"
		"sealcheck_vm_last_round_duration_seconds{vm=\"new\"} 0\n"
		"sealcheck_vm_last_round_duration_seconds{vm=\"gone\"} 0\n"
		F_REPORTS
		"sealcheck_reports_total{vm=\"web-01\",result=\"sealed\"} 12\n"
		"sealcheck_reports_total{vm=\"web-01\",result=\"unsealed\"} 0\n"
		"sealcheck_reports_total{vm=\"web-01\",result=\"timeout\"} 1\n"
		"sealcheck_reports_total{vm=\"web-01\",result=\"closed\"} 0\n"
		"sealcheck_reports_total{vm=\"web-01\",result=\"error\"} 0\n"
		"sealcheck_reports_total{vm=\"db-01\",result=\"sealed\"} 0\n"
		"sealcheck_reports_total{vm=\"db-01\",result=\"unsealed\"} 7\n"
		"sealcheck_reports_total{vm=\"db-01\",result=\"timeout\"} 0\n"
		"sealcheck_reports_total{vm=\"db-01\",result=\"closed\"} 2\n"
		"sealcheck_reports_total{vm=\"db-01\",result=\"error\"} 1\n"
		"sealcheck_reports_total{vm=\"new\",result=\"sealed\"} 0\n"
		"sealcheck_reports_total{vm=\"new\",result=\"unsealed\"} 0\n"
		"sealcheck_reports_total{vm=\"new\",result=\"timeout\"} 0\n"
		"sealcheck_reports_total{vm=\"new\",result=\"closed\"} 0\n"
		"sealcheck_reports_total{vm=\"new\",result=\"error\"} 0\n"
		"sealcheck_reports_total{vm=\"gone\",result=\"sealed\"} 5\n"
		"sealcheck_reports_total{vm=\"gone\",result=\"unsealed\"} 0\n"
		"sealcheck_reports_total{vm=\"gone\",result=\"timeout\"} 0\n"
		"sealcheck_reports_total{vm=\"gone\",result=\"closed\"} 0\n"
		"sealcheck_reports_total{vm=\"gone\",result=\"error\"} 0\n"
		F_FRAMES
		"sealcheck_rejected_frames_total{vm=\"web-01\",reason=\"malformed\"} 0\n"
		"sealcheck_rejected_frames_total{vm=\"web-01\",reason=\"stale_nonce\"} 2\n"
		"sealcheck_rejected_frames_total{vm=\"web-01\",reason=\"invalid_report\"} 0\n"
		"sealcheck_rejected_frames_total{vm=\"db-01\",reason=\"malformed\"} 5\n"
		"sealcheck_rejected_frames_total{vm=\"db-01\",reason=\"stale_nonce\"} 0\n"
		"sealcheck_rejected_frames_total{vm=\"db-01\",reason=\"invalid_report\"} 1\n"
		"sealcheck_rejected_frames_total{vm=\"new\",reason=\"malformed\"} 0\n"
		"sealcheck_rejected_frames_total{vm=\"new\",reason=\"stale_nonce\"} 0\n"
		"sealcheck_rejected_frames_total{vm=\"new\",reason=\"invalid_report\"} 0\n"
		"sealcheck_rejected_frames_total{vm=\"gone\",reason=\"malformed\"} 0\n"
		"sealcheck_rejected_frames_total{vm=\"gone\",reason=\"stale_nonce\"} 0\n"
		"sealcheck_rejected_frames_total{vm=\"gone\",reason=\"invalid_report\"} 0\n"
		F_CHECKS
		"sealcheck_check_status{vm=\"web-01\",check=\"cmdline\",status=\"pass\"} 1\n"
		"sealcheck_check_status{vm=\"web-01\",check=\"cmdline\",status=\"fail\"} 0\n"
		"sealcheck_check_status{vm=\"web-01\",check=\"cmdline\",status=\"error\"} 0\n"
		"sealcheck_check_status{vm=\"web-01\",check=\"cmdline\",status=\"skip\"} 0\n"
		"sealcheck_check_status{vm=\"web-01\",check=\"lockdown\",status=\"pass\"} 0\n"
		"sealcheck_check_status{vm=\"web-01\",check=\"lockdown\",status=\"fail\"} 0\n"
		"sealcheck_check_status{vm=\"web-01\",check=\"lockdown\",status=\"error\"} 0\n"
		"sealcheck_check_status{vm=\"web-01\",check=\"lockdown\",status=\"skip\"} 1\n"
		"sealcheck_check_status{vm=\"web-01\",check=\"tpm:quote\",status=\"pass\"} 1\n"
		"sealcheck_check_status{vm=\"web-01\",check=\"tpm:quote\",status=\"fail\"} 0\n"
		"sealcheck_check_status{vm=\"web-01\",check=\"tpm:quote\",status=\"error\"} 0\n"
		"sealcheck_check_status{vm=\"web-01\",check=\"tpm:quote\",status=\"skip\"} 0\n"
		"sealcheck_check_status{vm=\"db-01\",check=\"cmdline\",status=\"pass\"} 0\n"
		"sealcheck_check_status{vm=\"db-01\",check=\"cmdline\",status=\"fail\"} 1\n"
		"sealcheck_check_status{vm=\"db-01\",check=\"cmdline\",status=\"error\"} 0\n"
		"sealcheck_check_status{vm=\"db-01\",check=\"cmdline\",status=\"skip\"} 0\n"
		"sealcheck_check_status{vm=\"db-01\",check=\"tpm:quote\",status=\"pass\"} 0\n"
		"sealcheck_check_status{vm=\"db-01\",check=\"tpm:quote\",status=\"fail\"} 1\n"
		"sealcheck_check_status{vm=\"db-01\",check=\"tpm:quote\",status=\"error\"} 0\n"
		"sealcheck_check_status{vm=\"db-01\",check=\"tpm:quote\",status=\"skip\"} 0\n"
		"sealcheck_check_status{vm=\"db-01\",check=\"root_mount\",status=\"pass\"} 0\n"
		"sealcheck_check_status{vm=\"db-01\",check=\"root_mount\",status=\"fail\"} 0\n"
		"sealcheck_check_status{vm=\"db-01\",check=\"root_mount\",status=\"error\"} 1\n"
		"sealcheck_check_status{vm=\"db-01\",check=\"root_mount\",status=\"skip\"} 0\n"
		F_RESET
		"sealcheck_vm_tpm_resets{vm=\"web-01\"} 3\n" F_LOST);
}

/* A lost VM: one series with its reason, the UUID validated like a watched VM's, names escaped. */
static void test_lost(void **state)
{
	const struct probe_metrics_lost lost[] = {
		{ "web-02", NULL, "socket-dir", "socket-replaced" },
		{ "db\"02", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "libvirt", "name-collision" },
		{ "bad-uuid", "not-a-uuid", "libvirt", "vanished" },
	};
	const struct probe_metrics_extra x = { .version = "1.2.3", .lost = lost, .n_lost = 3 };
	_cleanup_free_ char *text = render(NULL, 0, &x);
	const char *at = strstr(text, F_LOST);

	(void)state;
	assert_non_null(at);
	assert_string_equal(at + strlen(F_LOST),
			    "sealcheck_vm_lost{vm=\"web-02\",uuid=\"\",source=\"socket-dir\",reason=\"socket-replaced\"} 1\n"
			    "sealcheck_vm_lost{vm=\"db\\\"02\",uuid=\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\",source=\"libvirt\","
			    "reason=\"name-collision\"} 1\n"
			    "sealcheck_vm_lost{vm=\"bad-uuid\",uuid=\"\",source=\"libvirt\",reason=\"vanished\"} 1\n");
}

/* Quote, backslash and newline escaped as the format says; bytes that are not UTF-8 as \xNN. */
static void test_label_escaping(void **state)
{
	const struct probe_metrics_vm vm = {
		/* a"b\c<LF>d, é (valid), a stray continuation byte, an overlong '/', a surrogate, 0xff */
		.name = "a\"b\\c\nd-\xc3\xa9-\x80-\xc0\xaf-\xed\xa0\x80-\xff-\xf0\x9f\x98\x80",
		.verdict = PROBE_METRICS_SEALED,
	};
	const struct probe_metrics_extra x = { .version = "v\"1\n" };
	_cleanup_free_ char *text = render(&vm, 1, &x);

	assert_non_null(strstr(text, "sealcheck_build_info{version=\"v\\\"1\\n\"} 1\n"));
	assert_non_null(strstr(text, "sealcheck_vm_sealed{vm=\"a\\\"b\\\\c\\nd-\xc3\xa9-\\\\x80-\\\\xc0\\\\xaf-"
				     "\\\\xed\\\\xa0\\\\x80-\\\\xff-\xf0\x9f\x98\x80\"} 1\n"));
	/* Nothing unescaped reached the text: each line is one sample or comment. */
	for (const char *p = text; *p; p = strchr(p, '\n') + 1)
		assert_true(strncmp(p, "sealcheck_", 10) == 0 || strncmp(p, "# HELP ", 7) == 0 ||
			    strncmp(p, "# TYPE ", 7) == 0);
	/* A truncated sequence at the very end of a name. */
	{
		const struct probe_metrics_vm t = { .name = "x\xe2\x82", .verdict = PROBE_METRICS_NONE };
		_cleanup_free_ char *t_text = render(&t, 1, &extra_version);
		assert_non_null(strstr(t_text, "sealcheck_vm_up{vm=\"x\\\\xe2\\\\x82\"} 0\n"));
	}
}

/* uuid and digest are validated (else ""); check names filtered, deduplicated and capped. */
static void test_validation(void **state)
{
	struct probe_metrics_check many[PROBE_METRICS_CHECKS_MAX + 10];
	char names[ELEMENTSOF(many)][16];
	const struct probe_metrics_check odd[] = {
		{ "good", "pass" },       { "bad name", "pass" }, { "quo\"te", "fail" },
		{ "", "pass" },           { NULL, "pass" },       { "good", "fail" }, /* a duplicate */
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "pass" }, /* 65 bytes */
		{ "ok.2-x:y_Z", NULL },
	};
	const struct probe_metrics_vm vms[] = {
		{ .name = "u1", .uuid = "4DEA22B3-1D52-D8F3-2516-782E98AB3FA0", .digest = "sha256:abc" },
		{ .name = "u2", .uuid = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0\"", .digest = digest512 + 7 },
		{ .name = "u3", .uuid = "4dea22b31d52d8f32516782e98ab3fa0xxxx",
		  .digest = "sha256:22daa96e4ac60922aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* a sha512 length under sha256 */ },
		{ .name = "odd", .checks = odd, .n_checks = ELEMENTSOF(odd) },
		{ .name = "many", .checks = many, .n_checks = ELEMENTSOF(many) },
	};
	_cleanup_free_ char *text = NULL;
	size_t count = 0;

	for (size_t i = 0; i < ELEMENTSOF(many); i++) {
		snprintf(names[i], sizeof(names[i]), "c%zu", i);
		many[i] = (struct probe_metrics_check){ names[i], "pass" };
	}
	text = render(vms, ELEMENTSOF(vms), &extra_version);

	assert_non_null(strstr(text, "sealcheck_vm_info{vm=\"u1\",uuid=\"\",digest=\"\"} 1\n"));
	assert_non_null(strstr(text, "sealcheck_vm_info{vm=\"u2\",uuid=\"\",digest=\"22daa96e4ac60922aaaa"));
	assert_non_null(strstr(text, "sealcheck_vm_info{vm=\"u3\",uuid=\"\",digest=\"\"} 1\n"));
	assert_non_null(strstr(text, "{vm=\"odd\",check=\"good\",status=\"pass\"} 1\n"));
	assert_non_null(strstr(text, "{vm=\"odd\",check=\"good\",status=\"fail\"} 0\n"));
	assert_non_null(strstr(text, "{vm=\"odd\",check=\"ok.2-x:y_Z\",status=\"error\"} 1\n"));
	assert_null(strstr(text, "bad name"));
	assert_null(strstr(text, "quo"));
	assert_null(strstr(text, "check=\"\""));
	assert_null(strstr(text, "check=\"aaaa"));
	for (const char *p = text; (p = strstr(p, "{vm=\"odd\",check=")); p++)
		count++;
	assert_int_equal(count, 2 * 4);
	count = 0;
	for (const char *p = text; (p = strstr(p, "{vm=\"many\",check=")); p++)
		count++;
	assert_int_equal(count, PROBE_METRICS_CHECKS_MAX * 4);
	assert_non_null(strstr(text, "check=\"c63\""));
	assert_null(strstr(text, "check=\"c64\""));
}

static void test_invalid_snapshot(void **state)
{
	const struct probe_metrics_vm unnamed = { .name = NULL };
	const struct probe_metrics_vm no_checks = { .name = "x", .n_checks = 3 };
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(probe_metrics_render(&unnamed, 1, NULL, &text, &len), -EINVAL);
	assert_int_equal(probe_metrics_render(&no_checks, 1, NULL, &text, &len), -EINVAL);
	assert_int_equal(probe_metrics_render(NULL, 1, NULL, &text, &len), -EINVAL);
	assert_int_equal(probe_metrics_render(&no_checks, PROBE_METRICS_MAX_VMS + 1, NULL, &text, &len), -EINVAL);
	assert_null(text);
	/* No extra: this build's version. */
	assert_int_equal(probe_metrics_render(NULL, 0, NULL, &text, &len), 0);
	assert_non_null(strstr(text, "sealcheck_build_info{version=\"" PACKAGE_VERSION "\"} 1\n"));
	free(text);
}

/* Synthetic VMs as a fleet of @n would look: 6 checks each, mixed states. */
struct synth {
	struct probe_metrics_vm *vms;
	char (*names)[32];
};

static const struct probe_metrics_check synth_checks[] = {
	{ "cmdline", "pass" }, { "root_mount", "pass" }, { "secure_boot", "pass" },
	{ "composefs_image", "pass" }, { "lockdown", "skip" }, { "tpm:quote", "proven" },
};

static struct synth synth_new(size_t n)
{
	struct synth s = { calloc(n ? n : 1, sizeof(*s.vms)), calloc(n ? n : 1, sizeof(*s.names)) };

	if (!s.vms || !s.names)
		abort();
	for (size_t i = 0; i < n; i++) {
		snprintf(s.names[i], sizeof(s.names[i]), "vm-%05zu", i);
		s.vms[i] = (struct probe_metrics_vm){
			.name = s.names[i], .verdict = (enum probe_metrics_verdict)(i % 4), .up = i % 5 != 0,
			.stale = i % 17 == 0, .last_report_ts = 1764590000 + (double)i, .checks = synth_checks,
			.n_checks = ELEMENTSOF(synth_checks), .reports_total = { i, i % 3, 1, 0, 0 },
			.consecutive_failures = i % 7, .has_tpm_counters = i % 2, .tpm_reset_count = i % 11,
		};
	}
	return s;
}

static void synth_free(struct synth *s)
{
	free(s->vms);
	free(s->names);
}

static void test_ten_thousand(void **state)
{
	struct synth s = synth_new(10000);
	_cleanup_free_ char *text = render(s.vms, 10000, &extra_version);
	size_t lines = 0, samples = 0;

	/* One pass over the 27 MB (strstr in a loop is quadratic under ASan, which checks the whole rest each call). */
	for (const char *p = text; *p; p++)
		if (*p == '\n') {
			lines++;
			if (strncmp(p + 1, "sealcheck_", 10) == 0)
				samples++;
		}
	/* Per VM: info, sealed, up, stale, tpm_proven, last report, failures, round duration (8), 5 results,
	 * 3 frame reasons, 6 checks x 4 statuses; half of them a reset count; plus build_info and 5 states;
	 * 15 families x 2 comment lines. */
	assert_int_equal(samples, 10000 * (8 + 5 + 3 + 24) + 5000 + 1 + 5);
	assert_int_equal(lines, samples + 15 * 2);
	assert_non_null(strstr(text, "sealcheck_vms{state=\"stale\"} 589\n"));
	assert_non_null(strstr(text, "sealcheck_vm_tpm_resets{vm=\"vm-09999\"} 0\n"));
	synth_free(&s);
}

static void test_parse_listen(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	static const char *const bad[] = {
		"", "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+1",
		"127.0.0.1:80x", "127.0.0.1:000080", "localhost:80", "::1:80", "[::1]", "[::1]80", "[]:80",
		"[127.0.0.1]:80", "1.2.3:80", "[::1]:99999",
	};

	assert_int_equal(probe_metrics_parse_listen("127.0.0.1:9479", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9479);
	assert_int_equal(probe_metrics_parse_listen("0.0.0.0:0", &ss, &len), 0);
	assert_int_equal(probe_metrics_parse_listen("[::1]:65535", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 65535);
	assert_int_equal(probe_metrics_parse_listen("[::]:1", &ss, &len), 0);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (probe_metrics_parse_listen(bad[i], &ss, &len) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
}

static void test_textfile(void **state)
{
	char dir[] = "/tmp/test-metrics-XXXXXX", path[128], bad[160];
	const struct probe_metrics_vm vm = { .name = "web-01", .verdict = PROBE_METRICS_SEALED, .up = 1 };
	const struct probe_metrics_snapshot snap = { &vm, 1, { .version = "1.2.3" } };
	_cleanup_free_ char *want = render(&vm, 1, &snap.extra), *got = NULL;
	struct stat st;
	size_t len = 0, entries = 0;
	struct dirent *de;
	DIR *d;
	mode_t old_umask;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sealcheck.prom", dir);
	old_umask = umask(0077); /* the mode is 0644 whatever the umask */
	assert_int_equal(probe_metrics_write_textfile(path, &snap), 0);
	umask(old_umask);
	assert_int_equal(sc_read_file_capped(path, 1 << 20, &got, &len), 0);
	assert_string_equal(got, want);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* Replaced, not appended. */
	assert_int_equal(probe_metrics_write_textfile(path, &snap), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((size_t)st.st_size, strlen(want));

	/* A directory in the way: rename fails, the temporary file goes. */
	snprintf(bad, sizeof(bad), "%s/in-the-way.prom", dir);
	assert_int_equal(mkdir(bad, 0755), 0);
	assert_int_equal(probe_metrics_write_textfile(bad, &snap), -EISDIR);
	snprintf(bad, sizeof(bad), "%s/missing/x.prom", dir);
	assert_int_equal(probe_metrics_write_textfile(bad, &snap), -ENOENT);
	assert_int_equal(probe_metrics_write_textfile("", &snap), -EINVAL);

	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			entries++;
	closedir(d);
	assert_int_equal(entries, 2); /* sealcheck.prom and in-the-way.prom: no .tmp- left */
	snprintf(bad, sizeof(bad), "%s/in-the-way.prom", dir);
	assert_int_equal(rmdir(bad), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* The server's snapshot: a fleet of @n synthetic VMs, or a failure. */
struct fleet_fixture {
	struct synth s;
	size_t n;
	int fail;
	unsigned calls;
};

static int snapshot_cb(void *userdata, struct probe_metrics_snapshot *ret)
{
	struct fleet_fixture *f = userdata;

	f->calls++;
	if (f->fail)
		return -EIO;
	*ret = (struct probe_metrics_snapshot){ f->s.vms, f->n, { .version = "1.2.3" } };
	return 0;
}

/* From 127.0.0.@src (IPv4; 0: the kernel's choice, 127.0.0.1) or ::1 (IPv6). */
static int connect_from(int family, unsigned port, unsigned src)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (family == AF_INET && src) {
		struct sockaddr_in from = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000000u | src) };

		assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	}
	if (family == AF_INET6) {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;
		sa->sin6_family = AF_INET6;
		sa->sin6_port = htons((uint16_t)port);
		sa->sin6_addr = in6addr_loopback;
		len = sizeof(*sa);
	} else {
		struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
		sa->sin_family = AF_INET;
		sa->sin_port = htons((uint16_t)port);
		sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sa);
	}
	/* A blocking connect to loopback completes from the kernel's backlog, without the loop. */
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

static int connect_to(int family, unsigned port)
{
	return connect_from(family, port, 0);
}

/* The server closed @fd without a byte (MHD refusing a connection over a limit). */
static bool closed_unanswered(sd_event *e, int fd)
{
	char byte;

	for (int i = 0; i < 30; i++) {
		ssize_t n;

		assert_true(sd_event_run(e, 100 * 1000) >= 0);
		n = read(fd, &byte, 1);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n > 0)
			return false;
	}
	return false;
}

/*
 * Send @req (unless NULL), then run the loop until the server closes the connection
 * (every request says Connection: close), at most @max_iterations loop
 * iterations, each at most 100 ms when nothing happens: a bound, not a timing assertion.
 */
static char *exchange(sd_event *e, int fd, const char *req, int max_iterations, size_t *ret_len)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap + 1);

	assert_non_null(buf);
	if (req) /* NULL: already sent */
		assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	for (int i = 0; i < max_iterations; i++) {
		ssize_t k;

		assert_true(sd_event_run(e, 100 * 1000) >= 0);
		for (;;) {
			if (len == cap) {
				cap *= 2;
				buf = realloc(buf, cap + 1);
				assert_non_null(buf);
			}
			k = read(fd, buf + len, cap - len);
			if (k <= 0)
				break;
			len += (size_t)k;
		}
		if (k == 0) {
			buf[len] = '\0';
			*ret_len = len;
			return buf;
		}
		assert_true(k < 0 && (errno == EAGAIN || errno == EINTR));
	}
	fail_msg("the server did not finish its answer (%zu bytes so far: \"%.40s\")", len, len ? buf : "");
	return NULL;
}

static const char *body_of(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");

	assert_non_null(p);
	return p + 4;
}

static void request(sd_event *e, int family, unsigned port, const char *req, const char *status_line, char **ret)
{
	_cleanup_close_ int fd = connect_to(family, port);
	size_t len;
	char *resp = exchange(e, fd, req, 300, &len);

	if (strncmp(resp, status_line, strlen(status_line)) != 0)
		fail_msg("wanted \"%s\", got \"%.60s\"", status_line, resp);
	*ret = resp;
}

static void serve_on(int family, const char *listen)
{
	_cleanup_event_ sd_event *e = NULL;
	_cleanup_metrics_server_ struct probe_metrics_server *srv = NULL;
	struct fleet_fixture f = { .s = synth_new(3000), .n = 3 };
	_cleanup_free_ char *want = NULL;
	char *resp = NULL;
	unsigned port;
	int idle[PROBE_METRICS_CONNECTIONS_MAX];
	DIR *tasks;
	struct dirent *de;
	size_t threads = 0;

	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(probe_metrics_server_new(e, listen, snapshot_cb, &f, &srv), 0);
	port = probe_metrics_server_port(srv);
	assert_true(port > 0 && port < 65536);
	/* MHD runs on our loop: no thread of its own. */
	tasks = opendir("/proc/self/task");
	assert_non_null(tasks);
	while ((de = readdir(tasks)))
		threads += de->d_name[0] != '.';
	closedir(tasks);
	assert_int_equal(threads, 1);

	want = render(f.s.vms, f.n, &(struct probe_metrics_extra){ .version = "1.2.3" });
	request(e, family, port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK\r\n",
		&resp);
	assert_non_null(strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_string_equal(body_of(resp), want);
	free(resp);
	assert_int_equal(probe_metrics_server_scrapes(srv), 1);
	assert_int_equal(probe_metrics_server_renders(srv), 1);

	/* The page is kept: a fleet that changed without saying so is served the page already rendered. */
	f.n = 4;
	request(e, family, port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK\r\n",
		&resp);
	assert_string_equal(body_of(resp), want);
	free(resp);
	/* Said changed, within the render interval (an hour here, not to depend on this machine's speed): the
	 * kept page still, no render. */
	probe_metrics_server_set_render_interval(srv, 3600ull * 1000 * 1000);
	probe_metrics_server_changed(srv);
	request(e, family, port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK\r\n",
		&resp);
	assert_string_equal(body_of(resp), want);
	free(resp);
	assert_int_equal(probe_metrics_server_renders(srv), 1);
	/* Past the interval: rendered once more, then kept again for the scrapes after it. */
	probe_metrics_server_set_render_interval(srv, 0);
	free(want);
	want = render(f.s.vms, f.n, &(struct probe_metrics_extra){ .version = "1.2.3" });
	for (int i = 0; i < 3; i++) {
		request(e, family, port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"HTTP/1.1 200 OK\r\n", &resp);
		assert_string_equal(body_of(resp), want);
		free(resp);
	}
	assert_int_equal(probe_metrics_server_renders(srv), 2);
	assert_int_equal(probe_metrics_server_scrapes(srv), 6);
	f.n = 3;
	probe_metrics_server_changed(srv);
	free(want);
	want = render(f.s.vms, f.n, &(struct probe_metrics_extra){ .version = "1.2.3" });

	/* A query string is not part of the path; HTTP/1.0 closes by itself (the answer says 1.1, as RFC 9110 wants). */
	request(e, family, port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK\r\n", &resp);
	assert_string_equal(body_of(resp), want);
	free(resp);

	/* HEAD: the headers, no body. */
	request(e, family, port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 200 OK\r\n", &resp);
	assert_non_null(strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_string_equal(body_of(resp), "");
	free(resp);

	request(e, family, port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 404 Not Found\r\n",
		&resp);
	assert_string_equal(body_of(resp), "not found: the metrics are at /metrics\n");
	free(resp);
	request(e, family, port, "GET /metrics/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 404 Not Found\r\n", &resp);
	free(resp);

	request(e, family, port,
		"POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 405 Method Not Allowed\r\n", &resp);
	assert_non_null(strstr(resp, "\r\nAllow: GET, HEAD\r\n"));
	assert_string_equal(body_of(resp), "only GET and HEAD\n");
	free(resp);
	request(e, family, port, "DELETE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 405 Method Not Allowed\r\n", &resp);
	free(resp);

	/* Headers past MHD's 32 KiB connection memory: a 431, the connection closed. */
	{
		_cleanup_close_ int fd = connect_to(family, port);
		_cleanup_free_ char *big = malloc(64 * 1024);
		size_t len;

		assert_non_null(big);
		memcpy(big, "GET /metrics HTTP/1.1\r\nX-Big: ", 30);
		memset(big + 30, 'a', 40000);
		strcpy(big + 30 + 40000, "\r\nConnection: close\r\n\r\n");
		resp = exchange(e, fd, big, 300, &len);
		assert_true(strncmp(resp, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46) == 0);
		free(resp);
	}

	/* Not HTTP at all: a 400, the loop goes on. */
	request(e, family, port, "\x16\x03\x01 hello\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n", &resp);
	free(resp);

	/* The fleet could not say: a 500, not a partial page (and not kept: the next scrape renders). */
	f.fail = 1;
	probe_metrics_server_changed(srv);
	request(e, family, port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 500 Internal Server Error\r\n", &resp);
	free(resp);
	f.fail = 0;

	/* A page far larger than a socket buffer: written over many loop iterations, whole. */
	f.n = 3000;
	probe_metrics_server_changed(srv);
	free(want);
	want = render(f.s.vms, f.n, &(struct probe_metrics_extra){ .version = "1.2.3" });
	assert_true(strlen(want) > 2u << 20);
	request(e, family, port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK\r\n",
		&resp);
	assert_string_equal(body_of(resp), want);
	free(resp);
	f.n = 3;
	probe_metrics_server_changed(srv);
	free(want);
	want = render(f.s.vms, f.n, &(struct probe_metrics_extra){ .version = "1.2.3" });

	/* At most PROBE_METRICS_PER_IP_MAX from one address: one more is closed unanswered. */
	for (size_t i = 0; i < PROBE_METRICS_PER_IP_MAX; i++)
		idle[i] = connect_from(family, port, 1);
	{
		_cleanup_close_ int over = connect_from(family, port, 1);

		assert_true(closed_unanswered(e, over));
	}
	if (family == AF_INET6) {
		/* IPv6 has one loopback address: the total limit is for the IPv4 run. */
		for (size_t i = 0; i < PROBE_METRICS_PER_IP_MAX; i++)
			close(idle[i]);
		assert_int_equal(probe_metrics_server_scrapes(srv), 9);
		synth_free(&f.s);
		return;
	}
	/* Another address is still served while the first holds its share (Prometheus while a client hoards). */
	{
		_cleanup_close_ int other = connect_from(family, port, 2);
		const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
		size_t len;
		char *r = exchange(e, other, req, 30, &len);

		assert_true(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
		free(r);
	}
	/* At most PROBE_METRICS_CONNECTIONS_MAX at once: one more waits in the kernel's backlog, unanswered,
	 * until one of them goes (the server stops accepting at the limit). */
	for (size_t i = PROBE_METRICS_PER_IP_MAX; i < ELEMENTSOF(idle); i++)
		idle[i] = connect_from(family, port, 2 + (unsigned)(i / PROBE_METRICS_PER_IP_MAX));
	{
		_cleanup_close_ int extra = connect_from(family, port, 9);
		const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
		char byte;
		size_t len;
		char *r;

		assert_int_equal(write(extra, req, strlen(req)), (ssize_t)strlen(req));
		for (int i = 0; i < 10; i++)
			assert_true(sd_event_run(e, 100 * 1000) >= 0);
		assert_int_equal(read(extra, &byte, 1), -1);
		assert_int_equal(errno, EAGAIN);
		close(TAKE_FD(idle[0]));
		/* Answered at once: 30 idle iterations (3 s) are far below MHD's 10 s connection timeout,
		 * not waiting for it. */
		r = exchange(e, extra, NULL, 30, &len);
		assert_true(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
		assert_string_equal(body_of(r), want);
		free(r);
	}
	for (size_t i = 1; i < ELEMENTSOF(idle); i++)
		close(idle[i]);

	assert_int_equal(probe_metrics_server_scrapes(srv), 11);
	synth_free(&f.s);
}

static void test_server_ipv4(void **state)
{
	serve_on(AF_INET, "127.0.0.1:0");
}

static void test_server_ipv6(void **state)
{
	serve_on(AF_INET6, "[::1]:0");
}

struct said {
	unsigned n;
	char last[256];
};

static void on_said(const char *msg, void *userdata)
{
	struct said *l = userdata;

	l->n++;
	snprintf(l->last, sizeof(l->last), "%s", msg);
}

/* Out of descriptors (RLIMIT_NOFILE reached): accept() fails with EMFILE; the server says so once, does not
 * spin, leaves the client in the backlog, and answers it once a descriptor is free again. */
static void test_server_emfile(void **state)
{
	_cleanup_event_ sd_event *e = NULL;
	_cleanup_metrics_server_ struct probe_metrics_server *srv = NULL;
	struct fleet_fixture f = { .s = synth_new(3), .n = 3 };
	const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct said said = { 0 };
	struct rlimit old, low;
	int fill[256], n_fill = 0, fd, x;
	unsigned calls;
	size_t len;
	char *r, byte;

	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(probe_metrics_server_new(e, "127.0.0.1:0", snapshot_cb, &f, &srv), 0);
	probe_metrics_server_set_log(srv, on_said, &said);
	fd = connect_to(AF_INET, probe_metrics_server_port(srv));
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	/* No descriptor left: the limit just above the client's socket, every lower hole filled. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)fd + 1;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while ((x = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
		assert_true(n_fill < (int)ELEMENTSOF(fill));
		fill[n_fill++] = x;
	}
	calls = f.calls;
	for (int i = 0; i < 10; i++)
		assert_true(sd_event_run(e, 100 * 1000) >= 0);
	assert_int_equal(said.n, 1);
	assert_non_null(strstr(said.last, "cannot accept a scrape: Too many open files"));
	assert_int_equal(f.calls, calls);
	assert_int_equal(recv(fd, &byte, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	/* A descriptor again: the client waiting in the backlog is answered, and that is said once too. */
	for (int i = 0; i < n_fill; i++)
		close(fill[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	r = exchange(e, fd, NULL, 30, &len);
	assert_true(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
	free(r);
	close(fd);
	assert_int_equal(said.n, 2);
	assert_non_null(strstr(said.last, "accepting scrapes again"));
	synth_free(&f.s);
}

static void test_server_errors(void **state)
{
	_cleanup_event_ sd_event *e = NULL;
	_cleanup_metrics_server_ struct probe_metrics_server *a = NULL;
	struct probe_metrics_server *b = NULL;
	struct fleet_fixture f = { .n = 0 };
	char addr[32];

	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(probe_metrics_server_new(e, "127.0.0.1", snapshot_cb, &f, &b), -EINVAL);
	assert_int_equal(probe_metrics_server_new(e, "127.0.0.1:0", snapshot_cb, &f, &a), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", probe_metrics_server_port(a));
	assert_int_equal(probe_metrics_server_new(e, addr, snapshot_cb, &f, &b), -EADDRINUSE);
	/* 192.0.2.1 (TEST-NET-1) is no address of this machine. */
	assert_int_equal(probe_metrics_server_new(e, "192.0.2.1:0", snapshot_cb, &f, &b), -EADDRNOTAVAIL);
	assert_null(b);
}

/*
 * `test-metrics --dump N`: N synthetic VMs rendered to stdout, for promtool's
 * parser and lint. One VM in 50 has a name with 6 raw bytes (every byte value
 * 1-255 over the run, so invalid UTF-8 too), one in 50 quotes, backslashes and
 * a newline: a single one escaped wrongly and Prometheus's parser refuses the page.
 */
static int dump(const char *arg)
{
	size_t n = strtoul(arg, NULL, 10);
	struct synth s = synth_new(n);
	char *text = NULL;
	size_t len = 0;
	int r;

	for (size_t i = 0; i < n; i++) {
		if (i % 50 == 7) {
			int k = snprintf(s.names[i], sizeof(s.names[i]), "vm-%05zu-", i);
			for (size_t b = 0; b < 6; b++)
				s.names[i][k + b] = (char)((i / 50 * 6 + b) % 255 + 1);
			s.names[i][k + 6] = '\0';
		} else if (i % 50 == 8)
			snprintf(s.names[i], sizeof(s.names[i]), "vm-%05zu-\"\\\n\\\"", i);
	}
	r = probe_metrics_render(s.vms, n, NULL, &text, &len);

	if (r < 0 || fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)
		return 1;
	free(text);
	synth_free(&s);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_fleet),
		cmocka_unit_test(test_source_up),
		cmocka_unit_test(test_known_fleet),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_lost),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_invalid_snapshot),
		cmocka_unit_test(test_ten_thousand),
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_textfile),
		cmocka_unit_test(test_server_ipv4),
		cmocka_unit_test(test_server_ipv6),
		cmocka_unit_test(test_server_errors),
		cmocka_unit_test(test_server_emfile),
	};

	if (argc == 3 && strcmp(argv[1], "--dump") == 0)
		return dump(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
