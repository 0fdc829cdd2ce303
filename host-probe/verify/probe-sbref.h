/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Secure Boot key directory as the trust root of PCR 7: what the host
 * enrolled, variable by variable, as the EFI_SIGNATURE_LISTs the firmware
 * measures (UEFI 2.10 section 32.4.1; TCG PC Client PFP, EV_EFI_VARIABLE_DRIVER_CONFIG).
 *
 * The directory is bcvk's --secure-boot-keys layout: PK.crt, KEK.crt, db.crt
 * (PEM or DER) and GUID.txt, the owner GUID every entry carries. Enrolled as
 * bcvk does it, with virt-firmware (virt-fw-vars --set-pk GUID PK.crt
 * --add-kek GUID KEK.crt --add-db GUID db.crt --secure-boot), each of PK, KEK
 * and db holds one EFI_CERT_X509 list of one entry, and dbx holds the one
 * entry virt-firmware adds when it enables Secure Boot (virt/firmware/efi/
 * efivar.py enable_secureboot, add_dummy_dbx): EFI_CERT_SHA256 of the empty
 * string, owned by OvmfEnrollDefaultKeys (a0baa8a3-041d-48a8-bc87-c36d121b5e3d).
 *
 * The directory and its files must not be writable by anyone but their owner
 * (root or the caller), and the files are not symbolic links: whoever can
 * write them decides what SEALED means. Each file is checked and read through
 * one descriptor. (virt-fw-vars then reads them again by name to enrol them;
 * a swap in between can only make PCR 7 differ from this reference: a false
 * NOT SEALED, never a false SEALED.)
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "probe-pe.h"

enum probe_sb_var { PROBE_SB_PK, PROBE_SB_KEK, PROBE_SB_DB, PROBE_SB_DBX, _PROBE_SB_VAR_MAX };

struct probe_sb_reference {
	uint8_t *esl[_PROBE_SB_VAR_MAX]; /* the variable's data as it must be measured */
	size_t esl_len[_PROBE_SB_VAR_MAX];
};

const char *probe_sb_var_name(enum probe_sb_var v);

/*
 * probe_sb_reference_load() - the reference for the key directory @dir.
 * Returns 0, -EPERM when the directory or a file in it is writable by group
 * or others or owned by another user, -EBADMSG for a file that is not a
 * certificate or GUID, or the errno of reading; @why names the file.
 */
int probe_sb_reference_load(const char *dir, struct probe_sb_reference *ret, char *why, size_t why_size);
void probe_sb_reference_done(struct probe_sb_reference *r);

/*
 * probe_sb_compare() - the measured data of variable @v equals the reference
 * entry for entry: the same number of entries, each of the same signature
 * type, owner GUID and data, in order. -EPERM with @why naming the first
 * extra, missing or different entry (a certificate by its subject, anything
 * else by its type and the SHA-256 of its data); -EBADMSG for a measured
 * list that does not parse.
 */
int probe_sb_compare(const struct probe_sb_reference *r, enum probe_sb_var v, const uint8_t *measured, size_t len,
		     char *why, size_t why_size);

/*
 * probe_sb_db_authority() - the db entry that verifies an image signed by
 * @chain (probe_pe_signer_chain(): the signer, then its issuers): the first
 * X.509 entry of the reference's db, in db order, that is one of the chain's
 * certificates, as EDK2's DxeImageVerificationLib (IsAllowedByDb) measures
 * the entry it verified with. @ret points at its EFI_SIGNATURE_DATA (owner
 * GUID, then the certificate) inside the reference. 0 or -ENOENT.
 */
int probe_sb_db_authority(const struct probe_sb_reference *r, const struct probe_pe_cert *chain, size_t n,
			  const uint8_t **ret, size_t *ret_len);
