/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sealcheck-probe run: boot a sealed image under QEMU, attest it, stop it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe-cli.h"
#include "probe-evidence.h"
#include "config.h"
#if HAVE_LIBVIRT
#include "probe-libvirt.h"
#endif
#include "sc-fileio.h"
#include "sc-macro.h"
#include "sc-io.h"
#include "sc-term.h"

static void usage(FILE *f)
{
	fputs("Usage: sealcheck-probe run [OPTIONS] IMAGE_DIR\n"
	      "\n"
	      "Boot the sealed image IMAGE_DIR (made by host-probe/builder) under QEMU with Secure Boot\n"
	      "keys enrolled, send a fresh nonce over the virtio-serial port org.sealcheck.attest.0,\n"
	      "validate the guest's report and judge it against the host's policy (by default the\n"
	      "digest in the image's manifest). The guest gets no network and no host file beyond its\n"
	      "disks; QEMU is stopped and the work directory removed when the probe ends, also on\n"
	      "SIGTERM, SIGINT or SIGHUP.\n"
	      "\n"
	      "Options:\n"
	      "  --secure-boot-keys DIR  enroll PK/KEK/db from DIR (bcvk layout) instead of the image's store\n"
	      "  --firmware KIND         uefi-secure (default), uefi-insecure, uefi-setup (no keys),\n"
	      "                          bios (no UEFI: the UKI's kernel, initrd and cmdline booted directly)\n"
	      "  --esp VARIANT|FILE      boot this ESP: a variant of the image (insecure, noverity, ...) or a path\n"
	      "  --expect-digest HEX     a composefs digest the VM may run (default: the image's); repeatable\n"
	      "  --policy FILE           a sealcheck.policy.v1 file; the VM's name is --vm or the image's folder name\n"
	      "  --vm NAME               the VM's name in the policy\n"
	      "  --no-require-secure-boot  accept Secure Boot in setup, audit or disabled mode\n"
	      "  --timeout S             how long to wait for the report (default 180)\n"
	      "  --accel auto|kvm|tcg    KVM where it really works, else TCG (default auto)\n"
	      "  --json                  the verdict as JSON (sealcheck.probe.v1), the guest report embedded\n"
	      "  --tpm                   attach a TPM (swtpm, tpm-tis) made for this run, EK certified by a\n"
	      "                          local CA of the probe's own\n"
	      "  --tpm-state DIR         the VM's TPM state, made once and kept (implies --tpm)\n"
	      "  --tpm-ak derive|activate  how the host trusts the VM's AK: derive it from the TPM state before\n"
	      "                          boot and pin it (default), or bind the guest's AK to the EK by credential\n"
	      "                          activation now and pin it (implies --tpm)\n"
	      "  --tpm-ek-ca FILE        with --tpm-ak activate: the CA certificates (PEM) the EK certificate must\n"
	      "                          chain to (default: the local CA of the VM's TPM state)\n"
	      "  --libvirt [URI]         define and start the VM as a libvirt domain on URI (default\n"
	      "                          qemu:///system; also --libvirt=URI or --libvirt-uri URI), as bcvk\n"
	      "                          libvirt run does, attest it over its channel, then destroy and\n"
	      "                          undefine it (docs/libvirt.md)\n"
	      "  --keep                  leave the VM running and keep its work directory (console log)\n"
	      "  -h, --help              this text\n"
	      "\n"
	      "Exit status: 0 sealed, 1 not sealed, 2 no valid report, no policy, interrupted or usage error.\n",
	      f);
}

struct progress {
	bool tty;
};

static void show_progress(const struct probe_attest *a, long long now, void *userdata)
{
	const struct progress *p = userdata;

	if (p->tty)
		fprintf(stderr, "\rsealcheck-probe: %s ... %llds ",
			a->session.state == PROBE_SESSION_CONNECTING ? "waiting for QEMU's attestation socket"
								     : "waiting for the guest's report",
			(now - a->started_ms) / 1000);
}

/* The local CA of a TPM state the probe made (probe-swtpm.c): its root and issuer certificates in one PEM file. */
static int local_ca_bundle(const char *state_dir, const char *out)
{
	static const char *const names[] = { "swtpm-localca-rootca-cert.pem", "issuercert.pem" };
	_cleanup_fclose_ FILE *f = fopen(out, "we");

	if (!f)
		return -errno;
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *path = NULL, *pem = NULL;
		size_t len;

		if (asprintf(&path, "%s/localca/%s", state_dir, names[i]) < 0)
			return -ENOMEM;
		if (sc_read_file_capped(path, 64 * 1024, &pem, &len) < 0 || fwrite(pem, 1, len, f) != len) {
			fprintf(stderr, "sealcheck-probe run: %s: the TPM state's local CA cannot be read\n", path);
			return -EIO;
		}
	}
	return fflush(f) == 0 ? 0 : -errno;
}

int verb_run(int argc, char **argv)
{
	enum { O_KEYS = 0x100, O_FW, O_ESP, O_ACCEL, O_KEEP, O_TPM, O_TPM_STATE, O_TPM_AK, O_TPM_EK_CA };
	enum { O_LIBVIRT = 0x200, O_LIBVIRT_URI };
	static const struct option options[] = {
		{ "libvirt", optional_argument, NULL, O_LIBVIRT },	 { "libvirt-uri", required_argument, NULL, O_LIBVIRT_URI },
		{ "secure-boot-keys", required_argument, NULL, O_KEYS }, { "firmware", required_argument, NULL, O_FW },
		{ "esp", required_argument, NULL, O_ESP },		 { "accel", required_argument, NULL, O_ACCEL },
		{ "keep", no_argument, NULL, O_KEEP },			 { "tpm", no_argument, NULL, O_TPM },
		{ "tpm-state", required_argument, NULL, O_TPM_STATE },	 { "tpm-ak", required_argument, NULL, O_TPM_AK },
		{ "tpm-ek-ca", required_argument, NULL, O_TPM_EK_CA },	 CLI_POLICY_OPTIONS,
		{},
	};
	struct cli_common o = { .timeout = 180 };
	struct cli_policy *cp = &o.policy;
	struct probe_policy policy;
	struct probe_attest a = { 0 };
	struct probe_vm vm;
	_cleanup_(cli_tpm_done) struct cli_tpm tpm = { 0 };
	struct progress prog = { .tty = isatty(STDERR_FILENO) };
	char why[512] = "", name[128], ek_ca_default[320];
	const char *ek_ca = NULL;
	bool activate = false;
	int c, r, rc;
	const char *libvirt_uri = NULL;

	probe_vm_init(&vm);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case O_KEYS:
			vm.keys_dir = optarg;
			break;
		case O_FW:
			if (probe_firmware_from_name(optarg, &vm.firmware) < 0) {
				fputs("sealcheck-probe run: --firmware ", stderr);
				sc_term_fput(stderr, optarg, strlen(optarg) > 40 ? 40 : strlen(optarg), 0);
				fputs(": not uefi-secure, uefi-insecure, uefi-setup or bios\n", stderr);
				return EXIT_USAGE;
			}
			break;
		case O_ESP:
			vm.esp = optarg;
			break;
		case O_ACCEL:
			if (strcmp(optarg, "auto") && strcmp(optarg, "kvm") && strcmp(optarg, "tcg")) {
				fputs("sealcheck-probe run: --accel: not auto, kvm or tcg\n", stderr);
				return EXIT_USAGE;
			}
			vm.accel = optarg;
			break;
		case O_TPM:
			vm.tpm = true;
			break;
		case O_TPM_STATE:
			vm.tpm = true;
			vm.tpm_state = optarg;
			break;
		case O_TPM_AK:
			if (strcmp(optarg, "derive") != 0 && strcmp(optarg, "activate") != 0) {
				fputs("sealcheck-probe run: --tpm-ak: not derive or activate\n", stderr);
				return EXIT_USAGE;
			}
			activate = strcmp(optarg, "activate") == 0;
			vm.tpm_ak_activate = activate;
			vm.tpm = true;
			break;
		case O_TPM_EK_CA:
			ek_ca = optarg;
			break;
		case O_KEEP:
			vm.keep = true;
			break;
		case O_LIBVIRT:
#if HAVE_LIBVIRT
			/* --libvirt URI as two words: the next word when it is a URI (an image folder is not). */
			if (!optarg && optind < argc && probe_libvirt_is_uri(argv[optind]))
				optarg = argv[optind++];
			libvirt_uri = optarg ?: PROBE_LIBVIRT_DEFAULT_URI;
			break;
#else
			fputs("sealcheck-probe run: --libvirt: this sealcheck-probe was built without libvirt (meson -Dlibvirt)\n", stderr);
			return EXIT_USAGE;
#endif
		case O_LIBVIRT_URI:
			libvirt_uri = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			r = cli_common_option("run", c, optarg, &o);
			if (r > 0)
				break;
			if (r < 0)
				return EXIT_USAGE;
			fputs("sealcheck-probe run: see --help for the options of this verb\n", stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "sealcheck-probe run: give one IMAGE_DIR\n");
		return EXIT_USAGE;
	}
	if (ek_ca && !activate) {
		fputs("sealcheck-probe run: --tpm-ek-ca goes with --tpm-ak activate\n", stderr);
		return EXIT_USAGE;
	}
	vm.image_dir = argv[optind];
	if (!cp->vm_name) {
		const char *base = strrchr(vm.image_dir, '/') ? strrchr(vm.image_dir, '/') + 1 : vm.image_dir;

		snprintf(name, sizeof(name), "%s", base[0] ? base : vm.image_dir);
		cp->vm_name = name;
	}

#if HAVE_LIBVIRT
	if (libvirt_uri)
		return run_libvirt(&vm, &o, libvirt_uri, ek_ca);
#else
	if (libvirt_uri) {
		fputs("sealcheck-probe run: --libvirt-uri: this sealcheck-probe was built without libvirt (meson -Dlibvirt)\n",
		      stderr);
		return EXIT_USAGE;
	}
#endif

	/* Before anything starts: a signal from now on ends the run with cleanup. */
	r = probe_block_signals();
	if (r < 0) {
		fprintf(stderr, "sealcheck-probe run: blocking signals: %s\n", strerror(-r));
		return PROBE_NO_REPORT;
	}
	r = probe_vm_start(&vm, why, sizeof(why));
	if (r < 0) {
		fputs("sealcheck-probe run: ", stderr);
		sc_term_fput(stderr, why[0] ? why : strerror(-r), strlen(why[0] ? why : strerror(-r)), 0);
		fputc('\n', stderr);
		probe_vm_done(&vm, false);
		return r == -EINVAL ? EXIT_USAGE : PROBE_NO_REPORT;
	}
	if (cli_make_policy("run", cp, "the image's manifest", &vm.manifest.digest, &policy) < 0) {
		probe_vm_done(&vm, false);
		return EXIT_USAGE;
	}
	if (!o.json)
		printf("VM:      %s, firmware %s, accel %s\n", vm.image_dir, probe_firmware_name(vm.firmware),
		       vm.accel_used);
	fflush(stdout);

	if (vm.tpm) {
		/* What the VM's TPM must prove: the keys the host enrolled, the AK it derived, the UKI it built. */
		if (cli_tpm_prepare("run", vm.keys_used, vm.ak_name, activate ? 0 : vm.ak_name_len, vm.uki_path,
				    vm.swtpm.state_dir, &policy, &tpm) < 0) {
			probe_vm_done(&vm, false);
			return EXIT_USAGE;
		}
		if (activate) {
			/* The AK is the guest's, proven by credential activation: the Name derived before boot is not used. */
			snprintf(name, sizeof(name), "%.100s/" PROBE_TPM_STATE_AK_NAME, vm.swtpm.state_dir);
			(void)unlink(name);
			if (!ek_ca) {
				/* The probe's own local CA (probe-swtpm.h): its root and the issuer of the EK certificate. */
				snprintf(ek_ca_default, sizeof(ek_ca_default), "%.200s/ek-ca.pem", vm.workdir);
				ek_ca = ek_ca_default;
			}
			if ((ek_ca == ek_ca_default && local_ca_bundle(vm.swtpm.state_dir, ek_ca_default) < 0) ||
			    cli_tpm_credential("run", ek_ca, NULL, vm.swtpm.state_dir, &tpm) < 0) {
				probe_vm_done(&vm, false);
				return EXIT_USAGE;
			}
		}
		a.expect_evidence = true;
	}
	a.socket_path = vm.socket_path;
	a.deadline_ms = sc_now_ms() + (long long)o.timeout * 1000;
	a.vm = &vm;
	a.progress = show_progress;
	a.userdata = &prog;
	a.credential = cli_tpm_credential_config(&tpm);
	r = probe_attest_run(&a);
	tpm.x.credential = &a.session.credential; /* how the credential phase went, if it ran */
	if (prog.tty)
		fputs("\r\033[K", stderr);
	if (r < 0) {
		fprintf(stderr, "sealcheck-probe run: setting up the event loop: %s\n", strerror(-r));
		rc = PROBE_NO_REPORT;
	} else
		rc = cli_finish(&a, &policy, o.json, &vm, vm.tpm ? &tpm.x : NULL);
	if (vm.keep)
		fprintf(stderr, "sealcheck-probe: VM left running (pid %d, socket %s, work directory %s)\n", (int)vm.pid,
			vm.socket_path, vm.workdir);
	probe_vm_done(&vm, vm.keep);
	probe_attest_done(&a);
	return rc;
}
