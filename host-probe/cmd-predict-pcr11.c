/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sealcheck-probe predict-pcr11: PCR 11 of a UKI as its systemd-stub will
 * measure it, printed as `systemd-measure calculate --phase=...` prints it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe-cli.h"
#include "probe-pcr11.h"
#include "probe-pe.h"
#include "sc-digest.h"
#include "sc-log.h"
#include "sc-macro.h"

/*
 * Its --json is systemd-measure's document ({"BANK":[...]}), not
 * sealcheck.probe.v1: a usage error says nothing on stdout, with or without it.
 */
static int run(const struct sc_program *prog, const struct sc_verb *verb, int argc, char **argv)
{
	struct probe_pe pe = { 0 };
	struct probe_pcr11 pcr;
	_cleanup_free_ char *phase_buf = NULL;
	const char *phases[PROBE_PCR11_MAX_PHASES];
	enum probe_bank bank = PROBE_BANK_SHA256;
	unsigned n_phases = 0, stub = 0;
	bool json = false, have_bank = false, have_phase = false, have_stub = false;
	char why[256], hex[2 * PROBE_PCR_DIGEST_MAX + 1];
	const char *path;
	int c, r;

	optind = 0;
	while ((c = sc_verb_next_option(prog, verb, argc, argv)) >= 0) {
		switch (c) {
		case CLI_O_BANK:
			if (have_bank) {
				sc_log_error("--bank %.200s: given twice", optarg);
				return EXIT_USAGE;
			}
			if (probe_bank_from_name(optarg, &bank) < 0) {
				sc_log_error("--bank %.200s: not sha1, sha256, sha384 or sha512", optarg);
				return EXIT_USAGE;
			}
			have_bank = true;
			break;
		case CLI_O_PHASE:
			if (have_phase) {
				sc_log_error("--phase given twice (join the words with ':')");
				return EXIT_USAGE;
			}
			have_phase = true;
			phase_buf = strdup(optarg);
			if (!phase_buf) {
				sc_log_error("out of memory");
				return EXIT_USAGE;
			}
			if (probe_pcr11_parse_phases(phase_buf, phases, &n_phases, why, sizeof(why)) < 0) {
				sc_log_error("--phase: %.200s", why);
				return EXIT_USAGE;
			}
			break;
		case CLI_O_STUB: {
			char *end;
			unsigned long v;

			if (have_stub) {
				sc_log_error("--stub given twice");
				return EXIT_USAGE;
			}
			have_stub = true;
			if (strcmp(optarg, "auto") == 0)
				break;
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || v < PROBE_PCR11_STUB_MIN || v > 100000) {
				sc_log_error("--stub %.200s: not auto or a systemd version from %u", optarg,
					     PROBE_PCR11_STUB_MIN);
				return EXIT_USAGE;
			}
			stub = (unsigned)v;
			break;
		}
		case CLI_O_JSON:
			json = true;
			break;
		}
	}
	if (c != SC_OPTIONS_END)
		return sc_options_exit(c);
	if (optind + 1 != argc)
		return sc_verb_usage_error(prog, verb, "give exactly one UKI file");
	path = argv[optind];

	r = probe_pe_load(path, &pe, why, sizeof(why));
	if (r >= 0)
		r = probe_pcr11_predict(&pe, bank, stub, phases, n_phases, &pcr, why, sizeof(why));
	probe_pe_done(&pe);
	if (r < 0) {
		sc_log_error("%.200s: %.200s", path, why[0] ? why : strerror(-r));
		return EXIT_USAGE;
	}
	sc_hex_encode(pcr.value, pcr.digest_len, hex);
	if (json)
		printf("{\"%s\":[{\"pcr\":11,\"hash\":\"%s\"}]}\n", probe_bank_name(bank), hex);
	else
		printf("11:%s=%s\n", probe_bank_name(bank), hex);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		sc_log_error("writing the result failed");
		return EXIT_USAGE;
	}
	return 0;
}

static const struct sc_verb_option options[] = {
	{ CLI_O_BANK, "sha1, sha256 (default), sha384 or sha512" },
	{ CLI_O_PHASE, "systemd-pcrphase words extended after the sections, in order: enter-initrd, "
		       "leave-initrd, sysinit, ready, shutdown, final (default none, as `systemd-measure "
		       "calculate --phase=`)" },
	{ CLI_O_STUB, "measure as systemd-stub VERSION (a systemd major version, 252 or later) does; "
		      "default auto: the UKI's .sdmagic" },
	{ CLI_O_JSON, "as systemd-measure --json=short: {\"BANK\":[{\"pcr\":11,\"hash\":\"HEX\"}]}" },
	{},
};

const struct sc_verb cmd_predict_pcr11 = {
	.name = "predict-pcr11",
	.args = "UKI",
	.summary = "predict PCR 11 of a UKI as systemd-measure calculate does",
	.description = "Predict PCR 11 for a Unified Kernel Image from its PE sections, as its systemd-stub\n"
		       "measures them and `systemd-measure calculate` prints it: 11:BANK=HEX.\n"
		       "The sections measured depend on the stub's version, read from the UKI's .sdmagic\n"
		       "(252: .linux .osrel .cmdline .initrd .splash .dtb .pcrpkey; 254 adds .uname .sbat,\n"
		       "256 .ucode, 257 .hwids). Multi-profile UKIs are refused.",
	.exit_status = "0 predicted, 2 usage error or a file that is not a supported UKI.",
	.run = run,
	.options = options,
};
