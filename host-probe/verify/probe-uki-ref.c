/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "probe-uki-ref.h"

void probe_uki_ref_load(const char *path, const struct probe_sb_reference *sb, struct probe_uki_ref *ret)
{
	char why[512];

	memset(ret, 0, sizeof(*ret));
	if (!path) {
		snprintf(ret->pe_why, sizeof(ret->pe_why), "the host does not know which UKI it booted");
		return;
	}
	if (probe_pe_load(path, &ret->pe, why, sizeof(why)) < 0) {
		snprintf(ret->pe_why, sizeof(ret->pe_why), "%s: %s", path, why);
		return;
	}
	ret->pe_ok = true;
	if (probe_boot_chain_add(&ret->chain, "the sealed UKI", &ret->pe, sb, why, sizeof(why)) < 0) {
		/* Kept for tpm:secure_boot: which db entry the chain needs is what could not be told. */
		snprintf(ret->sb_why, sizeof(ret->sb_why), "PCR 7: %s", why);
		if (ret->chain.n == 0) {
			snprintf(ret->pe_why, sizeof(ret->pe_why), "%s", why);
			ret->pe_ok = false;
			return;
		}
	}
	ret->pred_ok = probe_pcr11_predict(&ret->pe, PROBE_BANK_SHA256, 0, NULL, 0, &ret->pred, ret->pred_why,
					   sizeof(ret->pred_why)) >= 0;
}

void probe_uki_ref_done(struct probe_uki_ref *u)
{
	probe_pe_done(&u->pe);
	memset(u, 0, sizeof(*u));
}
