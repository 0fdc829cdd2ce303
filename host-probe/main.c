/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sealcheck-probe: the host side. Boots a sealed image with Secure Boot keys
 * enrolled, gives the guest a fresh nonce over virtio-serial, validates the
 * report it answers with, applies the host's policy and says the verdict.
 * Exit status: 0 sealed, 1 not sealed, 2 no valid report or error.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "probe.h"
#include "sc-fileio.h"
#include "sc-io.h"
#include "sc-json.h"
#include "sc-report.h"

#define EXIT_SEALED 0
#define EXIT_UNSEALED 1
#define EXIT_NO_REPORT 2

struct progress {
	struct probe_vm *vm;
	long long start;
	bool tty;
	const char *stopped; /* why the guest will not answer, from its console */
	long long sign_seen_ms[4]; /* when each console sign was first seen (0: not yet) */
};

/*
 * Signs on the console that no report will come. Acting on them can only
 * end a wait early as "no report", never make a verdict pass, so a guest
 * that prints them on purpose gains nothing. A fs-verity violation may be
 * the agent's own deep walk finding a damaged object, which it then reports:
 * the wait goes on for a grace period before it ends.
 */
static const struct {
	const char *text, *why;
	unsigned grace_ms;
} console_signs[] = {
	{ "FILE CORRUPTED", "the guest kernel reported a fs-verity violation (FILE CORRUPTED)", 20000 },
	{ "refusing to boot", "the guest's initramfs refused to boot", 0 },
	{ "Kernel panic", "the guest kernel panicked", 0 },
	{ "No bootable option or device was found", "the firmware booted nothing (Secure Boot refused the UKI?)", 0 },
};

_Static_assert(ELEMENTSOF(console_signs) <= ELEMENTSOF(((struct progress *)0)->sign_seen_ms), "a slot per sign");

static bool vm_alive(void *userdata)
{
	struct progress *p = userdata;
	_cleanup_free_ char *log = NULL;
	size_t len;

	if (p->tty)
		fprintf(stderr, "\rsealcheck-probe: waiting for the guest's report ... %llds ",
			(sc_now_ms() - p->start) / 1000);
	if (!p->vm)
		return true;
	if (sc_read_file_capped(p->vm->console_path, 16u << 20, &log, &len) == 0)
		for (size_t i = 0; i < ELEMENTSOF(console_signs); i++)
			if (memmem(log, len, console_signs[i].text, strlen(console_signs[i].text))) {
				long long now = sc_now_ms();

				if (!p->sign_seen_ms[i])
					p->sign_seen_ms[i] = now;
				if (now - p->sign_seen_ms[i] >= console_signs[i].grace_ms) {
					p->stopped = console_signs[i].why;
					return false;
				}
			}
	return probe_vm_running(p->vm);
}

static void usage(FILE *f)
{
	fputs("Usage: sealcheck-probe run [OPTIONS] IMAGE_DIR\n"
	      "       sealcheck-probe attest --socket PATH [OPTIONS]\n"
	      "\n"
	      "run: boot the sealed image IMAGE_DIR (made by host-probe/builder) under QEMU with\n"
	      "Secure Boot keys enrolled, send a fresh nonce over the virtio-serial port\n"
	      "org.sealcheck.attest.0, validate the guest's report and decide.\n"
	      "attest: the same with a VM that already runs, through its port's socket.\n"
	      "\n"
	      "Options:\n"
	      "  --secure-boot-keys DIR  enroll PK/KEK/db from DIR (bcvk layout) instead of the image's store\n"
	      "  --firmware KIND         uefi-secure (default), uefi-insecure, uefi-setup (no keys),\n"
	      "                          bios (no UEFI: the UKI's kernel, initrd and cmdline booted directly)\n"
	      "  --esp FILE|VARIANT      boot this ESP (e.g. insecure for esp-insecure.img)\n"
	      "  --expect-digest HEX     the composefs digest policy requires (default: the image's)\n"
	      "  --timeout S             how long to wait for the report (default 180)\n"
	      "  --accel auto|kvm|tcg    KVM where it really works, else TCG (default auto)\n"
	      "  --json                  the probe's verdict as JSON, the guest report embedded\n"
	      "  --keep                  leave the VM running\n"
	      "\n"
	      "Exit status: 0 sealed, 1 not sealed, 2 no valid report or error.\n",
	      f);
}

static int expected_from_manifest(const char *dir, struct sc_digest *ret)
{
	_cleanup_free_ char *path = NULL, *buf = NULL;
	_cleanup_json_ json_t *m = NULL;
	const char *d;
	size_t len;

	if (asprintf(&path, "%s/manifest.json", dir) < 0 || sc_read_file_capped(path, SC_MANIFEST_MAX, &buf, &len) < 0)
		return -ENOENT;
	m = json_loadb(buf, len, 0, NULL);
	d = json_string_value(json_object_get(m, "digest"));
	return d ? sc_digest_from_hex(d, strlen(d), SC_HASH_NONE, ret) : -ENOENT;
}

static void print_human(const struct probe_collect *c, json_t *links, const char *verdict, double secs)
{
	json_t *checks = json_object_get(c->report, "checks"), *sys = json_object_get(c->report, "system"), *v;
	const char *k;
	size_t i;

	printf("Report:  from machine %s, boot %s, kernel %s\n",
	       json_string_value(json_object_get(sys, "machine_id")) ?: "?",
	       json_string_value(json_object_get(sys, "boot_id")) ?: "?",
	       json_string_value(json_object_get(sys, "kernel_release")) ?: "?");
	printf("Nonce:   %.16s... echoed (fresh); %u stale or unsolicited report(s) ignored\n", c->nonce, c->stale);
	json_object_foreach(checks, k, v) {
		const char *st = json_string_value(json_object_get(v, "status"));
		char tag[8] = "";

		for (size_t j = 0; st && st[j] && j < sizeof(tag) - 1; j++)
			tag[j] = (char)(st[j] - 'a' + 'A');
		printf("  %-5s %-16s %s\n", tag, k, json_string_value(json_object_get(v, "reason")));
	}
	json_array_foreach(links, i, v)
		printf("  broken link: %s: %s\n", json_string_value(json_object_get(v, "link")),
		       json_string_value(json_object_get(v, "reason")));
	printf("\nVerdict: %s (report after %.1f s)\n", verdict, secs);
}

int main(int argc, char **argv)
{
	enum { O_KEYS = 0x100, O_FW, O_ESP, O_EXPECT, O_TIMEOUT, O_ACCEL, O_JSON, O_KEEP, O_SOCKET, O_VERSION };
	static const struct option options[] = {
		{ "secure-boot-keys", required_argument, NULL, O_KEYS }, { "firmware", required_argument, NULL, O_FW },
		{ "esp", required_argument, NULL, O_ESP },		 { "expect-digest", required_argument, NULL, O_EXPECT },
		{ "timeout", required_argument, NULL, O_TIMEOUT },	 { "accel", required_argument, NULL, O_ACCEL },
		{ "json", no_argument, NULL, O_JSON },			 { "keep", no_argument, NULL, O_KEEP },
		{ "socket", required_argument, NULL, O_SOCKET },	 { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },		 {},
	};
	struct probe_vm vm = { .accel = "auto", .pid = -1 };
	struct probe_policy policy = { .require_secure_boot = true };
	struct probe_collect col;
	struct progress prog = { 0 };
	_cleanup_json_ json_t *links = NULL, *out = NULL;
	_cleanup_free_ char *tail = NULL;
	const char *socket_path = NULL, *verb, *verdict, *fw_name = "uefi-secure";
	bool json = false, keep = false, run;
	unsigned long timeout = 180;
	char why[512] = "", esp_buf[300];
	char *end;
	int c, r, rc;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case O_KEYS:
			vm.keys_dir = optarg;
			break;
		case O_FW:
			fw_name = optarg;
			if (strcmp(optarg, "uefi-secure") == 0)
				vm.firmware = PROBE_FW_UEFI_SECURE;
			else if (strcmp(optarg, "uefi-insecure") == 0)
				vm.firmware = PROBE_FW_UEFI_INSECURE;
			else if (strcmp(optarg, "uefi-setup") == 0)
				vm.firmware = PROBE_FW_UEFI_SETUP;
			else if (strcmp(optarg, "bios") == 0)
				vm.firmware = PROBE_FW_BIOS;
			else {
				fprintf(stderr,
					"sealcheck-probe: --firmware %s: not uefi-secure, uefi-insecure, uefi-setup or bios\n",
					optarg);
				return EXIT_NO_REPORT;
			}
			break;
		case O_ESP:
			if (!strchr(optarg, '/') && !strstr(optarg, ".img"))
				snprintf(esp_buf, sizeof(esp_buf), "esp-%s.img", optarg);
			else
				snprintf(esp_buf, sizeof(esp_buf), "%s", optarg);
			vm.esp = esp_buf;
			break;
		case O_EXPECT:
			if (sc_digest_from_hex(optarg, strlen(optarg), SC_HASH_NONE, &policy.expect) < 0) {
				fprintf(stderr, "sealcheck-probe: --expect-digest %.140s: not a 64 or 128 character lowercase hex digest\n",
					optarg);
				return EXIT_NO_REPORT;
			}
			break;
		case O_TIMEOUT:
			errno = 0;
			timeout = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || timeout == 0 || timeout > 86400) {
				fprintf(stderr, "sealcheck-probe: --timeout %s: not a number of seconds from 1 to 86400\n", optarg);
				return EXIT_NO_REPORT;
			}
			break;
		case O_ACCEL:
			if (strcmp(optarg, "auto") && strcmp(optarg, "kvm") && strcmp(optarg, "tcg")) {
				fprintf(stderr, "sealcheck-probe: --accel %s: not auto, kvm or tcg\n", optarg);
				return EXIT_NO_REPORT;
			}
			vm.accel = optarg;
			break;
		case O_JSON:
			json = true;
			break;
		case O_KEEP:
			keep = true;
			break;
		case O_SOCKET:
			socket_path = optarg;
			break;
		case O_VERSION:
			printf("sealcheck-probe %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_NO_REPORT;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_NO_REPORT;
	}
	verb = argv[optind++];
	run = strcmp(verb, "run") == 0;
	if (!run && strcmp(verb, "attest") != 0) {
		fprintf(stderr, "sealcheck-probe: unknown command '%s' (try --help)\n", verb);
		return EXIT_NO_REPORT;
	}
	if (run) {
		if (optind != argc - 1) {
			fprintf(stderr, "sealcheck-probe run: give one IMAGE_DIR\n");
			return EXIT_NO_REPORT;
		}
		vm.image_dir = argv[optind];
		if (policy.expect.alg == SC_HASH_NONE && expected_from_manifest(vm.image_dir, &policy.expect) < 0) {
			fprintf(stderr, "sealcheck-probe: %s: no manifest.json with the image digest; give --expect-digest\n",
				vm.image_dir);
			return EXIT_NO_REPORT;
		}
		r = probe_vm_start(&vm, why, sizeof(why));
		if (r < 0) {
			fprintf(stderr, "sealcheck-probe: %s\n", why[0] ? why : strerror(-r));
			return EXIT_NO_REPORT;
		}
		socket_path = vm.socket_path;
		if (!json)
			printf("VM:      %s, firmware %s, accel %s\n         console log %s\n", vm.image_dir, fw_name,
			       vm.accel_used, vm.console_path);
		fflush(stdout);
	} else if (!socket_path || optind != argc) {
		fprintf(stderr, "sealcheck-probe attest: give --socket PATH and no other argument\n");
		return EXIT_NO_REPORT;
	}

	/* Writes to a guest that went away fail with EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	prog.vm = run ? &vm : NULL;
	prog.start = sc_now_ms();
	prog.tty = isatty(STDERR_FILENO);
	r = probe_collect(socket_path, prog.start + (long long)timeout * 1000, vm_alive, &prog, &col);
	if (prog.tty)
		fputs("\r\033[K", stderr);

	if (r < 0) {
		verdict = "NO REPORT";
		rc = EXIT_NO_REPORT;
		snprintf(why, sizeof(why), "%s%s%s",
			 r == -ETIMEDOUT ? "no valid report within the deadline"
			 : r == -ECHILD	 ? (prog.stopped ?: "the VM stopped before it answered")
			 : r == -EPROTO	 ? "the guest sent too many malformed frames"
					 : strerror(-r),
			 col.last_reject[0] ? "; last: " : "", col.last_reject);
		links = json_array();
	} else {
		links = probe_policy_check(&policy, col.report);
		rc = json_array_size(links) == 0 ? EXIT_SEALED : EXIT_UNSEALED;
		verdict = rc == EXIT_SEALED ? "SEALED" : "NOT SEALED";
	}
	if (run && r < 0)
		tail = probe_console_tail(vm.console_path, 15);

	if (json) {
		out = json_pack("{s:s, s:s, s:s?, s:o, s:o, s:i, s:i, s:i, s:f}", "schema", "sealcheck.probe.v1",
				"verdict", rc == EXIT_SEALED ? "sealed" : rc == EXIT_UNSEALED ? "unsealed" : "no-report",
				"reason", r < 0 ? why : NULL, "failed_links", json_incref(links), "report",
				col.report ? json_incref(col.report) : json_null(), "rejected_reports", col.rejected,
				"stale_reports", col.stale, "bad_frames", col.bad_frames, "seconds", col.seconds);
		if (out && run)
			json_object_set_new(out, "vm", json_pack("{s:s, s:s, s:s, s:s}", "image", vm.image_dir, "firmware",
								 fw_name, "accel", vm.accel_used, "console_log",
								 vm.console_path));
		if (out && tail)
			json_object_set_new(out, "console_tail", sc_json_str(tail));
		if (out && json_object_set_new(out, "nonce", json_string(col.nonce)) == 0)
			json_dumpf(out, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		fputc('\n', stdout);
	} else if (r < 0) {
		printf("\nVerdict: %s: %s\n", verdict, why);
		if (tail)
			printf("Console log (last lines of %s):\n%s\n", vm.console_path, tail);
	} else
		print_human(&col, links, verdict, col.seconds);

	if (run && keep)
		fprintf(stderr, "sealcheck-probe: VM left running (pid %d, socket %s)\n", (int)vm.pid, vm.socket_path);
	else if (run)
		probe_vm_stop(&vm);
	if (col.report)
		json_decref(col.report);
	return rc;
}
