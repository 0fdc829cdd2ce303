/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sealcheck-probe run: boot a sealed image under QEMU, attest it, stop it. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
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
#include "sc-io.h"
#include "sc-log.h"
#include "sc-macro.h"

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

	/* Every failure said: the caller's exit 2 (and its --json error) repeats the last message. */
	if (!f) {
		sc_log_error("%s: %m", out);
		return -errno;
	}
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *path = NULL, *pem = NULL;
		size_t len;

		if (asprintf(&path, "%s/localca/%s", state_dir, names[i]) < 0) {
			path = NULL;
			sc_log_error("out of memory");
			return -ENOMEM;
		}
		if (sc_read_file_capped(path, 64 * 1024, &pem, &len) < 0 || fwrite(pem, 1, len, f) != len) {
			sc_log_error("%s: the TPM state's local CA cannot be read", path);
			return -EIO;
		}
	}
	if (fflush(f) != 0) {
		sc_log_error("%s: %m", out);
		return -errno;
	}
	return 0;
}

static int run(const struct sc_program *prog, const struct sc_verb *verb, int argc, char **argv)
{
	/* --json known first: a usage error among the options is then said in JSON too. */
	struct cli_common o = { .timeout = 180, .json = cli_json_requested(prog, argc, argv) };
	struct cli_policy *cp = &o.policy;
	struct probe_policy policy;
	struct probe_attest a = { 0 };
	struct probe_vm vm;
	_cleanup_(cli_tpm_done) struct cli_tpm tpm = { 0 };
	struct progress progress = { .tty = isatty(STDERR_FILENO) };
	char why[1024] = "", name[128], ek_ca_default[320], disk_path[PATH_MAX];
	const char *ek_ca = NULL;
	bool activate = false;
	int c, r, rc;
	const char *libvirt_uri = NULL;

	probe_vm_init(&vm);
	optind = 0;
	while ((c = sc_verb_next_option(prog, verb, argc, argv)) >= 0) {
		switch (c) {
		case CLI_O_KEYS:
			vm.keys_dir = optarg;
			break;
		case CLI_O_FIRMWARE:
			if (probe_firmware_from_name(optarg, &vm.firmware) < 0) {
				sc_log_error("--firmware %.40s: not uefi-secure, uefi-insecure, uefi-setup or bios", optarg);
				return cli_error_exit(o.json, CLI_ERROR_USAGE);
			}
			break;
		case CLI_O_ESP:
			vm.esp = optarg;
			break;
		case CLI_O_DISK:
			vm.disk = optarg;
			break;
		case CLI_O_ACCEL:
			if (strcmp(optarg, "auto") && strcmp(optarg, "kvm") && strcmp(optarg, "tcg")) {
				sc_log_error("--accel: not auto, kvm or tcg");
				return cli_error_exit(o.json, CLI_ERROR_USAGE);
			}
			vm.accel = optarg;
			break;
		case CLI_O_TPM:
			vm.tpm = true;
			break;
		case CLI_O_TPM_STATE:
			vm.tpm = true;
			vm.tpm_state = optarg;
			break;
		case CLI_O_TPM_AK:
			if (strcmp(optarg, "derive") != 0 && strcmp(optarg, "activate") != 0) {
				sc_log_error("--tpm-ak: not derive or activate");
				return cli_error_exit(o.json, CLI_ERROR_USAGE);
			}
			activate = strcmp(optarg, "activate") == 0;
			vm.tpm_ak_activate = activate;
			vm.tpm = true;
			break;
		case CLI_O_TPM_EK_CA:
			ek_ca = optarg;
			break;
		case CLI_O_KEEP:
			vm.keep = true;
			break;
		case CLI_O_LIBVIRT:
#if HAVE_LIBVIRT
			/* --libvirt URI as two words: the next word when it is a URI (an image folder is not). */
			if (!optarg && optind < argc && probe_libvirt_is_uri(argv[optind]))
				optarg = argv[optind++];
			libvirt_uri = optarg ?: PROBE_LIBVIRT_DEFAULT_URI;
			break;
#else
			sc_log_error("--libvirt: this sealcheck-probe was built without libvirt (meson -Dlibvirt)");
			return cli_error_exit(o.json, CLI_ERROR_USAGE);
#endif
		case CLI_O_LIBVIRT_URI:
			libvirt_uri = optarg;
			break;
		default:
			if (cli_common_option(c, optarg, &o) < 0)
				return cli_error_exit(o.json, CLI_ERROR_USAGE);
			break;
		}
	}
	if (c != SC_OPTIONS_END)
		return cli_options_exit(o.json, sc_options_exit(c));
	if (vm.disk ? optind != argc : optind != argc - 1) {
		sc_verb_usage_error(prog, verb, vm.disk ? "--disk DISK takes no IMAGE_DIR" : "give one IMAGE_DIR or --disk DISK");
		return cli_error_exit(o.json, CLI_ERROR_USAGE);
	}
	if (vm.disk && vm.esp) {
		sc_log_error("--esp goes with an IMAGE_DIR, not --disk");
		return cli_error_exit(o.json, CLI_ERROR_USAGE);
	}
	if (vm.disk && libvirt_uri) {
		sc_log_error("--disk with --libvirt is not supported yet: boot the disk with run --disk (QEMU of the probe's own)");
		return cli_error_exit(o.json, CLI_ERROR_USAGE);
	}
	if (vm.disk) {
		/* QEMU and qemu-img are given an absolute path: never one a protocol prefix ("nbd:") could be read into. */
		if (!realpath(vm.disk, disk_path)) {
			sc_log_error("--disk %s: %m", vm.disk);
			return cli_error_exit(o.json, CLI_ERROR_USAGE);
		}
		vm.disk = disk_path;
	}
	if (ek_ca && !activate) {
		sc_log_error("--tpm-ek-ca goes with --tpm-ak activate");
		return cli_error_exit(o.json, CLI_ERROR_USAGE);
	}
	vm.image_dir = vm.disk ? NULL : argv[optind];
	if (!cp->vm_name) {
		const char *src = vm.disk ?: vm.image_dir;
		const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;

		snprintf(name, sizeof(name), "%.120s", base[0] ? base : src);
		cp->vm_name = name;
	}

#if HAVE_LIBVIRT
	if (libvirt_uri)
		return run_libvirt(&vm, &o, libvirt_uri, ek_ca);
#else
	if (libvirt_uri) {
		sc_log_error("--libvirt-uri: this sealcheck-probe was built without libvirt (meson -Dlibvirt)");
		return cli_error_exit(o.json, CLI_ERROR_USAGE);
	}
#endif

	/* Before anything starts: a signal from now on ends the run with cleanup. */
	r = probe_block_signals();
	if (r < 0) {
		sc_log_error("blocking signals: %s", strerror(-r));
		return PROBE_NO_REPORT;
	}
	r = probe_vm_start(&vm, why, sizeof(why));
	if (r == -EKEYREJECTED) {
		/* The firmware would refuse the disk's boot chain: not sealed, and said without a boot. */
		sc_log_error("%s", why);
		probe_vm_done(&vm, false);
		return cli_not_bootable_exit(o.json);
	}
	if (r < 0) {
		sc_log_error("%s", why[0] ? why : strerror(-r));
		probe_vm_done(&vm, false);
		return r == -EINVAL ? cli_error_exit(o.json, CLI_ERROR_USAGE) : PROBE_NO_REPORT;
	}
	if (vm.disk && vm.disk_info.digest.alg == SC_HASH_NONE && !cp->policy_file && !cp->n_expect) {
		sc_log_error("%s: the UKI %s names no single composefs digest in its .cmdline: no policy to judge it by "
			     "(give --expect-digest or --policy)", vm.disk, vm.disk_info.entry.efi);
		probe_vm_done(&vm, false);
		return cli_error_exit(o.json, CLI_ERROR_NO_POLICY);
	}
	if (cli_make_policy(cp, vm.disk ? "the disk's signed UKI" : "the image's manifest",
			    vm.disk ? &vm.disk_info.digest : &vm.manifest.digest, &policy) < 0) {
		probe_vm_done(&vm, false);
		return cli_error_exit(o.json, CLI_ERROR_NO_POLICY);
	}
	if (!o.json)
		printf("VM:      %s, firmware %s, accel %s\n", vm.disk ?: vm.image_dir, probe_firmware_name(vm.firmware),
		       vm.accel_used);
	if (!o.json && vm.disk) {
		char hex[SC_DIGEST_HEX_MAX + 1];

		printf("Disk:    %s (%s), ESP partition %u: systemd-boot %s, entry %s starts %s, composefs=%s%.16s...; "
		       "boot loader and UKI signed by %s's db\n",
		       vm.disk, vm.disk_info.format, vm.disk_info.esp.index, vm.disk_info.bootloader_version,
		       vm.disk_info.entry_name,
		       vm.disk_info.entry.efi, vm.disk_info.insecure ? "?" : "",
		       vm.disk_info.digest.alg != SC_HASH_NONE
			       ? sc_hex_encode(vm.disk_info.digest.bytes, vm.disk_info.digest.len, hex)
			       : "(none)",
		       vm.keys_used);
	}
	fflush(stdout);

	if (vm.tpm) {
		/* What the VM's TPM must prove: the keys the host enrolled, the AK it derived, the UKI it built. */
		if (cli_tpm_prepare(vm.keys_used, vm.ak_name, activate ? 0 : vm.ak_name_len, vm.uki_path,
				    vm.swtpm.state_dir, &policy, &tpm) < 0) {
			probe_vm_done(&vm, false);
			return cli_error_exit(o.json, CLI_ERROR_USAGE);
		}
		/* The disk's chain: systemd-boot first (PCR 4, PCR 7). */
		if (vm.disk) {
			tpm.x.bootloader_path = vm.disk_info.bootloader;
			tpm.x.pcr5 = &vm.disk_info.pcr5;
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
			    cli_tpm_credential(ek_ca, NULL, vm.swtpm.state_dir, &tpm) < 0) {
				probe_vm_done(&vm, false);
				return cli_error_exit(o.json, CLI_ERROR_USAGE);
			}
		}
		a.expect_evidence = true;
	}
	a.socket_path = vm.socket_path;
	a.deadline_ms = sc_now_ms() + (long long)o.timeout * 1000;
	a.vm = &vm;
	a.progress = show_progress;
	a.userdata = &progress;
	a.credential = cli_tpm_credential_config(&tpm);
	r = probe_attest_run(&a);
	tpm.x.credential = &a.session.credential; /* how the credential phase went, if it ran */
	if (progress.tty)
		fputs("\r\033[K", stderr);
	if (r < 0) {
		sc_log_error("setting up the event loop: %s", strerror(-r));
		rc = PROBE_NO_REPORT;
	} else
		rc = cli_finish(&a, &policy, o.json, &vm, vm.tpm ? &tpm.x : NULL);
	if (vm.keep)
		sc_log_error("VM left running (pid %d, socket %s, work directory %s)", (int)vm.pid, vm.socket_path,
			     vm.workdir);
	probe_vm_done(&vm, vm.keep);
	probe_attest_done(&a);
	return rc;
}

static const struct sc_verb_option options[] = {
	{ CLI_O_KEYS, "enroll PK/KEK/db from DIR (bcvk layout) instead of the image's store" },
	{ CLI_O_FIRMWARE, "uefi-secure (default), uefi-insecure, uefi-setup (no keys), bios (no UEFI: the "
			  "UKI's kernel, initrd and cmdline booted directly)" },
	{ CLI_O_ESP, "boot this ESP: a variant of the image (insecure, noverity, ...) or a path" },
	{ CLI_O_DISK, "boot this sealed bootc disk (raw or qcow2, GPT) instead of an IMAGE_DIR, never written "
		      "(a snapshot per run): its ESP's systemd-boot and the UKI its one boot entry names must be "
		      "signed by --secure-boot-keys DIR's db, and that UKI's composefs digest is the policy unless "
		      "--expect-digest or --policy says otherwise" },
	{ CLI_O_EXPECT, "a composefs digest the VM may run (default: the image's); repeatable" },
	{ CLI_O_POLICY, "a sealcheck.policy.v1 file; the VM's name is --vm or the image's folder name" },
	{ CLI_O_VM, "the VM's name in the policy" },
	{ CLI_O_NO_SB, "accept Secure Boot in setup, audit or disabled mode" },
	{ CLI_O_TIMEOUT, "how long to wait for the report (default 180)" },
	{ CLI_O_ACCEL, "KVM where it really works, else TCG (default auto)" },
	{ CLI_O_JSON, "the verdict as JSON (sealcheck.probe.v1), the guest report embedded; an exit 2 for a "
		      "usage error or no policy as {\"verdict\": null, \"error\": ...}" },
	{ CLI_O_TPM, "attach a TPM (swtpm, tpm-tis) made for this run, EK certified by a local CA of the "
		     "probe's own" },
	{ CLI_O_TPM_STATE, "the VM's TPM state, made once and kept (implies --tpm)" },
	{ CLI_O_TPM_AK, "derive|activate: how the host trusts the VM's AK: derive it from the TPM state before "
			"boot and pin it (default), or bind the guest's AK to the EK by credential activation "
			"now and pin it (implies --tpm)" },
	{ CLI_O_TPM_EK_CA, "with --tpm-ak activate: the CA certificates (PEM) the EK certificate must chain to "
			   "(default: the local CA of the VM's TPM state)" },
	{ CLI_O_LIBVIRT, "define and start the VM as a libvirt domain on URI (default qemu:///system; also "
			 "--libvirt URI when the next word is a URI, or --libvirt-uri URI; before the verb only "
			 "--libvirt=URI), as bcvk libvirt run does, attest it over its channel, then destroy and "
			 "undefine it (docs/libvirt.md)" },
	{ CLI_O_LIBVIRT_URI, "the same as --libvirt=URI" },
	{ CLI_O_KEEP, "leave the VM running and keep its work directory (console log)" },
	{},
};

const struct sc_verb cmd_run = {
	.name = "run",
	.args = "IMAGE_DIR | --disk DISK",
	.summary = "boot a sealed image under QEMU, attest it, stop it",
	.description = "Boot the sealed image IMAGE_DIR (made by host-probe/builder) under QEMU with Secure Boot\n"
		       "keys enrolled, send a fresh nonce over the virtio-serial port org.sealcheck.attest.0,\n"
		       "validate the guest's report and judge it against the host's policy (by default the\n"
		       "digest in the image's manifest). The guest gets no network and no host file beyond its\n"
		       "disks; QEMU is stopped and the work directory removed when the probe ends, also on\n"
		       "SIGTERM, SIGINT or SIGHUP.",
	.exit_status = "0 sealed, 1 not sealed, 2 no valid report, no policy, interrupted or usage error.",
	.run = run,
	.options = options,
};
