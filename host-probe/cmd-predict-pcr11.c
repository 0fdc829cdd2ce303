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
#include "sc-macro.h"
#include "sc-term.h"

static void usage(FILE *f)
{
	fputs("Usage: sealcheck-probe predict-pcr11 UKI [--bank ALG] [--phase WORD:WORD...] [--stub VERSION] [--json]\n"
	      "\n"
	      "Predict PCR 11 for a Unified Kernel Image from its PE sections, as its systemd-stub\n"
	      "measures them and `systemd-measure calculate` prints it: 11:BANK=HEX.\n"
	      "The sections measured depend on the stub's version, read from the UKI's .sdmagic\n"
	      "(252: .linux .osrel .cmdline .initrd .splash .dtb .pcrpkey; 254 adds .uname .sbat,\n"
	      "256 .ucode, 257 .hwids). Multi-profile UKIs are refused.\n"
	      "\n"
	      "Options:\n"
	      "  --bank ALG              sha1, sha256 (default), sha384 or sha512\n"
	      "  --phase WORD:WORD...    systemd-pcrphase words extended after the sections, in order:\n"
	      "                          enter-initrd, leave-initrd, sysinit, ready, shutdown, final\n"
	      "                          (default none, as `systemd-measure calculate --phase=`)\n"
	      "  --stub VERSION          measure as systemd-stub VERSION (a systemd major version,\n"
	      "                          252 or later) does; default auto: the UKI's .sdmagic\n"
	      "  --json                  as systemd-measure --json=short: {\"BANK\":[{\"pcr\":11,\"hash\":\"HEX\"}]}\n"
	      "  -h, --help              this text\n"
	      "\n"
	      "Exit status: 0 predicted, 2 usage error or a file that is not a supported UKI.\n",
	      f);
}

static void put_arg(FILE *f, const char *s)
{
	sc_term_fput(f, s, strlen(s) > 200 ? 200 : strlen(s), 0);
}

int verb_predict_pcr11(int argc, char **argv)
{
	enum { O_BANK = 0x100, O_PHASE, O_STUB, O_JSON };
	static const struct option options[] = {
		{ "bank", required_argument, NULL, O_BANK }, { "phase", required_argument, NULL, O_PHASE },
		{ "stub", required_argument, NULL, O_STUB }, { "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },	     {},
	};
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

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case O_BANK:
			if (have_bank || probe_bank_from_name(optarg, &bank) < 0) {
				fputs("sealcheck-probe predict-pcr11: --bank ", stderr);
				put_arg(stderr, optarg);
				fputs(have_bank ? ": given twice\n" : ": not sha1, sha256, sha384 or sha512\n", stderr);
				return EXIT_USAGE;
			}
			have_bank = true;
			break;
		case O_PHASE:
			if (have_phase) {
				fputs("sealcheck-probe predict-pcr11: --phase given twice (join the words with ':')\n", stderr);
				return EXIT_USAGE;
			}
			have_phase = true;
			phase_buf = strdup(optarg);
			if (!phase_buf) {
				fputs("sealcheck-probe predict-pcr11: out of memory\n", stderr);
				return EXIT_USAGE;
			}
			if (probe_pcr11_parse_phases(phase_buf, phases, &n_phases, why, sizeof(why)) < 0) {
				fputs("sealcheck-probe predict-pcr11: --phase: ", stderr);
				put_arg(stderr, why);
				fputc('\n', stderr);
				return EXIT_USAGE;
			}
			break;
		case O_STUB: {
			char *end;
			unsigned long v;

			if (have_stub) {
				fputs("sealcheck-probe predict-pcr11: --stub given twice\n", stderr);
				return EXIT_USAGE;
			}
			have_stub = true;
			if (strcmp(optarg, "auto") == 0)
				break;
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || v < PROBE_PCR11_STUB_MIN || v > 100000) {
				fputs("sealcheck-probe predict-pcr11: --stub ", stderr);
				put_arg(stderr, optarg);
				fprintf(stderr, ": not auto or a systemd version from %u\n", PROBE_PCR11_STUB_MIN);
				return EXIT_USAGE;
			}
			stub = (unsigned)v;
			break;
		}
		case O_JSON:
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fputs("sealcheck-probe predict-pcr11: see --help for the options of this verb\n", stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		fputs("sealcheck-probe predict-pcr11: give exactly one UKI file\n", stderr);
		return EXIT_USAGE;
	}
	path = argv[optind];

	r = probe_pe_load(path, &pe, why, sizeof(why));
	if (r >= 0)
		r = probe_pcr11_predict(&pe, bank, stub, phases, n_phases, &pcr, why, sizeof(why));
	probe_pe_done(&pe);
	if (r < 0) {
		fputs("sealcheck-probe predict-pcr11: ", stderr);
		put_arg(stderr, path);
		fputs(": ", stderr);
		put_arg(stderr, why[0] ? why : strerror(-r));
		fputc('\n', stderr);
		return EXIT_USAGE;
	}
	sc_hex_encode(pcr.value, pcr.digest_len, hex);
	if (json)
		printf("{\"%s\":[{\"pcr\":11,\"hash\":\"%s\"}]}\n", probe_bank_name(bank), hex);
	else
		printf("11:%s=%s\n", probe_bank_name(bank), hex);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fputs("sealcheck-probe predict-pcr11: writing the result failed\n", stderr);
		return EXIT_USAGE;
	}
	return 0;
}
