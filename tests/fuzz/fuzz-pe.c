/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PE reader and PCR 11 prediction over arbitrary files: a UKI is outside
 * data (an image folder, a download). Whatever parses must have every section
 * inside the buffer, and the prediction must replay from its own event list;
 * the Authenticode digest and the signature's certificates never read outside.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe-pcr11.h"
#include "probe-pe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void predict(const struct probe_pe *pe, enum probe_bank bank, unsigned stub)
{
	static const char *const words[] = { "enter-initrd", "leave-initrd", "sysinit", "ready" };
	uint8_t replay[PROBE_PCR_DIGEST_MAX] = { 0 };
	struct probe_pcr11 p;
	char why[256];

	if (probe_pcr11_predict(pe, bank, stub, words, 4, &p, why, sizeof(why)) < 0) {
		if (!why[0])
			abort(); /* every refusal says why */
		return;
	}
	if (p.n_events > PROBE_PCR11_MAX_EVENTS || p.n_phases != 4 || p.digest_len != probe_bank_size(bank))
		abort();
	for (unsigned i = 0; i < p.n_events; i++)
		if (probe_pcr_extend(bank, replay, p.events[i].name_digest) < 0 ||
		    probe_pcr_extend(bank, replay, p.events[i].data_digest) < 0)
			abort();
	if (memcmp(replay, p.sections_value, p.digest_len) != 0)
		abort();
	for (unsigned i = 0; i < p.n_phases; i++)
		if (probe_pcr_extend(bank, replay, p.phase_digests[i]) < 0)
			abort();
	if (memcmp(replay, p.value, p.digest_len) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_pe pe;
	char why[256];
	volatile uint8_t sink = 0;

	if (probe_pe_parse(data, size, &pe, why, sizeof(why)) < 0) {
		if (!why[0])
			abort();
		return 0;
	}
	if (pe.n_sections == 0 || pe.n_sections > PROBE_PE_MAX_SECTIONS)
		abort();
	for (unsigned i = 0; i < pe.n_sections; i++) {
		const uint8_t *raw;
		size_t len;

		probe_pe_section_raw(&pe, &pe.sections[i], &raw, &len);
		if (len > size || raw < data || (size_t)(raw - data) > size - len)
			abort();
		if (len > 0) /* the sanitizers check these reads */
			sink ^= raw[0] ^ raw[len - 1];
	}
	(void)sink;
	predict(&pe, PROBE_BANK_SHA256, 0);   /* the stub the file names */
	predict(&pe, PROBE_BANK_SHA1, 252);   /* Debian 12's stub: prefix matching */
	predict(&pe, PROBE_BANK_SHA384, 258); /* the newest table */
	{
		/* The Authenticode digest and the signer's certificates (PKCS#7 from the certificate table). */
		struct probe_pe_cert certs[PROBE_PE_SIGNER_CHAIN_MAX] = { { 0 } };
		uint8_t h[32];
		int n;

		(void)probe_pe_authenticode_sha256(&pe, h);
		n = probe_pe_signer_chain(&pe, certs, why, sizeof(why));
		if (n > PROBE_PE_SIGNER_CHAIN_MAX)
			abort();
		if (n > 0)
			probe_pe_certs_free(certs, (size_t)n);
	}
	return 0;
}
