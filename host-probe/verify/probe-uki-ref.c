/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "probe-uki-ref.h"
#include "sc-macro.h"

/* The boot loader the firmware starts before the UKI (systemd-boot): its Authenticode digest and db signer. */
static int add_bootloader(const char *path, const struct probe_sb_reference *sb, struct probe_uki_ref *ret)
{
	_cleanup_(probe_pe_done) struct probe_pe pe = { 0 };
	char why[512];
	int r = probe_pe_load(path, &pe, why, sizeof(why));

	if (r < 0) {
		snprintf(ret->pe_why, sizeof(ret->pe_why), "the boot loader %s: %s", path, why);
		return r;
	}
	r = probe_boot_chain_add(&ret->chain, "the boot loader", &pe, sb, why, sizeof(why));
	if (r < 0 && ret->chain.n == 0) {
		snprintf(ret->pe_why, sizeof(ret->pe_why), "%s", why);
		return r;
	}
	if (r < 0)
		snprintf(ret->sb_why, sizeof(ret->sb_why), "PCR 7: %s", why);
	/* Its own .linux is not a kernel the firmware would start for it: nothing known is added. */
	ret->chain.n_known = 0;
	return 0;
}

void probe_uki_ref_load(const char *path, const char *bootloader, const struct probe_sb_reference *sb,
			struct probe_uki_ref *ret)
{
	char why[512];
	unsigned n_before;

	memset(ret, 0, sizeof(*ret));
	if (!path) {
		snprintf(ret->pe_why, sizeof(ret->pe_why), "the host does not know which UKI it booted");
		return;
	}
	if (bootloader && add_bootloader(bootloader, sb, ret) < 0)
		return;
	if (probe_pe_load(path, &ret->pe, why, sizeof(why)) < 0) {
		snprintf(ret->pe_why, sizeof(ret->pe_why), "%s: %s", path, why);
		return;
	}
	ret->pe_ok = true;
	n_before = ret->chain.n;
	if (probe_boot_chain_add(&ret->chain, "the sealed UKI", &ret->pe, sb, why, sizeof(why)) < 0) {
		/* Kept for tpm:secure_boot: which db entry the chain needs is what could not be told. */
		if (!ret->sb_why[0])
			snprintf(ret->sb_why, sizeof(ret->sb_why), "PCR 7: %s", why);
		if (ret->chain.n == n_before) {
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
