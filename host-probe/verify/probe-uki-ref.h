/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sealed UKI a VM booted, as the host judges TPM evidence by it: read,
 * parsed and hashed once, then used for every round of every VM booted from
 * it (`sealcheck-probe watch --tpm-uki`). A UKI is tens of MiB; reading and
 * hashing it again for each quote cost a round ~75 ms of the one loop.
 *
 * What is kept is exactly what probe_evidence_verify() derives from the file:
 *   - the file itself, parsed (probe-pe.h): its .cmdline for tpm:pcr9 and tpm:cmdline;
 *   - the boot chain PCR 4 and PCR 7 must show: its Authenticode SHA-256 and
 *     the key directory's db entry that verifies its signature
 *     (probe_boot_chain_add());
 *   - PCR 11 after its sections, event by event (probe_pcr11_predict() with
 *     no phase word); a round extends a copy by its own phase words
 *     (probe_pcr11_add_phases()).
 * Whatever could not be derived is kept as its reason, so each round fails
 * the same links with the same words as reading the file then would.
 */
#pragma once

#include <stdbool.h>

#include "probe-evidence.h"
#include "probe-pcr11.h"
#include "probe-pe.h"

struct probe_uki_ref {
	struct probe_pe pe; /* owned bytes, when pe_ok */
	bool pe_ok;
	char pe_why[600]; /* !pe_ok: why the UKI cannot judge anything */
	struct probe_boot_chain chain; /* [the boot loader,] the UKI */
	char sb_why[600]; /* the chain's signer is not known from the key directory (tpm:secure_boot) */
	bool pred_ok;
	struct probe_pcr11 pred; /* PCR 11 after the sections, no phase word */
	char pred_why[512];
};

/*
 * probe_uki_ref_load() - read @path (NULL: "the host does not know which UKI
 * it booted") and derive the above, the signer looked up in @sb (may be NULL).
 * @bootloader (NULL: none) is the boot loader the firmware starts first
 * (systemd-boot): the chain is then it, then the UKI. The UKI's kernel is
 * not expected: systemd-stub 252 and 257 start it without a PCR 4
 * measurement when Secure Boot is on (seen on OVMF and swtpm); should one
 * appear it is named (a known application), never accepted.
 * Always fills @ret: a file that cannot be read or parsed (or memory that
 * runs out) leaves pe_ok false with pe_why, and every link that rests on the
 * UKI fails with it. Release with probe_uki_ref_done().
 */
void probe_uki_ref_load(const char *path, const char *bootloader, const struct probe_sb_reference *sb,
			struct probe_uki_ref *ret);
void probe_uki_ref_done(struct probe_uki_ref *u);
