/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Verifying a report's TPM evidence (common/sc-evidence.h, docs/evidence.md)
 * on the host, link by link, each a named link of the verdict:
 *
 *   tpm:binding      the evidence names our nonce and the report bytes received
 *   tpm:quote        signature under the pinned AK, qualifying data = the binding,
 *                    clock safe, exactly the PCRs asked for, their digest
 *   tpm:eventlog     the firmware log replays to exactly the quoted PCRs
 *   tpm:secure_boot  PCR 7: Secure Boot on; PK, KEK, db and dbx equal, entry for
 *                    entry, to what the host enrolled (probe-sbref.h); exactly the
 *                    authority events the expected boot chain produces, each the
 *                    host's db entry that verifies it; nothing else
 *   tpm:pcr4         PCR 4: the firmware started exactly the expected boot chain
 *                    (today the sealed UKI alone), by Authenticode SHA-256
 *   tpm:pcr11        PCR 11, event by event: each section systemd-stub measured is the
 *                    sealed UKI's (name, then content), in order, then only the
 *                    systemd-pcrphase words of the userspace log
 *   tpm:pcr9         PCR 9: the kernel's EFI stub measured exactly that UKI's
 *                    .cmdline (as LoadOptions) and .initrd, nothing else
 *   tpm:pcr12        PCR 12 is untouched: no cmdline override or addon
 *   tpm:cmdline      that UKI's own .cmdline, read as the guest's check reads it
 *                    (common/sc-cmdline.h), names a digest the policy allows; proven
 *                    only when tpm:secure_boot, tpm:pcr4 and tpm:pcr11 are
 *
 * Only once every link is proven does the host know, without trusting the
 * guest, that Secure Boot ran with its keys, the signed UKI it built booted
 * and so its composefs= digest is the one the kernel got. What the guest
 * says after that (verity mount, image digest, objects) stays its claim,
 * made by a verified boot chain (docs/threat-model.md).
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "probe-credential.h"
#include "probe-pcr11.h"
#include "probe-policy.h"
#include "probe-sbref.h"
#include "probe-tpm.h"
#include "probe-userlog.h"

#define PROBE_EVIDENCE_MAX_CERTS 8

/*
 * The boot chain the firmware must start, in order, for the sealed boot (a
 * list, so that a boot loader can stand in front of the UKI): each
 * application's Authenticode SHA-256, as PCR 4 measures it, and the db entry
 * (EFI_SIGNATURE_DATA, inside the probe_sb_reference) that verifies it, as
 * PCR 7's authority event must name it (NULL: none of db verifies it).
 */
#define PROBE_BOOT_CHAIN_MAX 4
struct probe_boot_app {
	char what[48]; /* "the sealed UKI" */
	uint8_t authenticode_sha256[32];
	const uint8_t *authority;
	size_t authority_len;
};
struct probe_boot_chain {
	unsigned n;
	struct probe_boot_app apps[PROBE_BOOT_CHAIN_MAX];
	/* Not expected, only named when seen: e.g. the UKI's own .linux started as an image. */
	unsigned n_known;
	struct {
		char what[96];
		uint8_t authenticode_sha256[32];
	} known[PROBE_BOOT_CHAIN_MAX];
};

struct probe_uki_ref;
struct probe_tpm_counters_mem;

/* What PCR 5 must show beyond the separator and ExitBootServices, when the host read the disk. */
struct probe_pcr5_expect {
	bool gpt_known;
	uint8_t gpt_sha256[32];     /* UEFI_GPT_DATA of the disk: the header, the count, its non-empty entries */
	bool loader_conf;           /* the ESP has loader/loader.conf: systemd-boot measures it */
	uint8_t loader_conf_sha256[32];
};

struct probe_evidence_expect {
	const char *nonce;
	const uint8_t *report; /* the R frame's payload bytes, as received */
	size_t report_len;
	const uint8_t *ak_name; /* the AK the host derived from the TPM it owns; NULL: none pinned (fails) */
	size_t ak_name_len;
	const char *uki_path;   /* the sealed UKI the host built (for PCR 11 and its .cmdline); NULL: not known (fails) */
	/* The same, read and hashed once (probe-uki-ref.h, with this sb): used instead of uki_path when set. */
	const struct probe_uki_ref *uki;
	const char *bootloader_path; /* with uki_path: the boot loader started before it (systemd-boot), or NULL */
	/* PCR 5's GPT and loader.conf as the host read them from the disk (run --disk), or NULL: their
	 * digests unknown (then no loader.conf event is allowed without a boot loader). */
	const struct probe_pcr5_expect *pcr5;
	const struct probe_policy *policy;
	/* The key directory's PK, KEK, db and dbx (probe-sbref.h): PCR 7 must measure exactly these. */
	const struct probe_sb_reference *sb;
	/* The boot chain PCR 4 and PCR 7 must show; NULL: the UKI at uki_path alone (probe_boot_chain_add()). */
	const struct probe_boot_chain *chain;
	const char *counters_file; /* the VM's last quote's clock and counters (probe_tpm_state_check_counters()), or NULL */
	/* With counters_file: the same kept in memory between writes (probe_tpm_state_check_counters_mem()), or NULL. */
	struct probe_tpm_counters_mem *counters_mem;
	/* No AK pinned: the session's credential phase (probe-credential.h). An AK it proved bound to the
	 * EK is the one the quote must be signed by, and is pinned in ak_pin_file once the quote verifies. */
	const struct probe_credential_state *credential;
	const char *ak_pin_file;
};

/* The links, in the order the verdict lists them. */
enum probe_link {
	PROBE_LINK_BINDING,
	PROBE_LINK_QUOTE,
	PROBE_LINK_EVENTLOG,
	PROBE_LINK_SECURE_BOOT,
	PROBE_LINK_PCR4,
	PROBE_LINK_PCR11,
	PROBE_LINK_PCR9,
	PROBE_LINK_PCR12,
	PROBE_LINK_CMDLINE,
	_PROBE_LINK_MAX,
};
/* "tpm:binding", ...; NULL out of range. */
const char *probe_link_name(enum probe_link l);

/*
 * probe_evidence_verify() - every link above for the evidence document
 * @ev (the E frame's JSON, already parsed). Returns an array of
 * {"link", "status" ("proven" or "failed"), "reason"} in the order above,
 * or NULL on ENOMEM. @ret_attest (may be NULL) gets the quote's clock and
 * counters when the quote verified.
 */
json_t *probe_evidence_verify(json_t *ev, const struct probe_evidence_expect *x, struct probe_tpm_attest *ret_attest);

/*
 * probe_evidence_pcr11_events() - the firmware log's PCR 11 events (sha256
 * bank) against @pred, one by one: per section, an EV_IPL event described
 * by the section's name (UTF-16LE or ASCII, NUL-terminated) carrying
 * H(name + NUL), then one so described carrying H(content). Any other
 * event, a section missing, unknown, repeated or out of order, or a digest
 * not the prediction's is -EPERM with @why naming the section.
 */
struct probe_eventlog;
int probe_evidence_pcr11_events(const struct probe_eventlog *log, const struct probe_pcr11 *pred, char *why, size_t why_size);

/*
 * probe_evidence_pcr9_events() - the firmware log's PCR 9 events are
 * exactly the Linux EFI stub's EV_EVENT_TAG events for this UKI, in order:
 * "LOADED_IMAGE::LoadOptions" (tag 0x8f3b22ed) carrying H(UTF-16LE of
 * @cmdline up to its first NUL, plus a UTF-16 NUL) when @cmdline (the
 * .cmdline section's bytes) is not NULL, then "Linux initrd" (0x8f3b22ec)
 * carrying @pred's .initrd content digest when @pred measures an .initrd.
 * Any other event is -EPERM with @why.
 */
int probe_evidence_pcr9_events(const struct probe_eventlog *log, const uint8_t *cmdline, size_t cmdline_len,
			       const struct probe_pcr11 *pred, char *why, size_t why_size);

/*
 * probe_evidence_pcr5_events() - PCR 5, exactly: the separator (00000000)
 * first; at most one EV_EFI_GPT_EVENT (EDK2's UEFI_GPT_DATA of the boot disk:
 * its digest the hash of its data, and with @x that data the disk's); with
 * @boot_loader at most one systemd-boot EV_EVENT_TAG "loader.conf" (tag
 * 0xf5bc582a, systemd src/fundamental/tpm2-pcr.h LOADER_CONF_EVENT_TAG_ID;
 * src/boot/boot.c config_load()), which with @x must be there exactly when the
 * ESP has the file, carrying its SHA-256; then one EV_EFI_ACTION "Exit Boot
 * Services Invocation", optionally followed by "Exit Boot Services Returned
 * with Success". Anything else is -EPERM with @why.
 */
int probe_evidence_pcr5_events(const struct probe_eventlog *log, bool boot_loader, const struct probe_pcr5_expect *x,
			       char *why, size_t why_size);

/*
 * probe_evidence_pcr4_events() - PCR 4 as EDK2 extends it for a boot from a
 * Boot#### option (a real OVMF log: tests/fixtures/evidence/evidence.json):
 * one EV_EFI_ACTION "Calling EFI Application from Boot Option", then the
 * separator (00000000), then one EV_EFI_BOOT_SERVICES_APPLICATION per
 * application of @chain, in order, each of its Authenticode SHA-256. Any other
 * event (another application, a "Returning from EFI Application" that says a
 * boot option came back, a second separator) is -EPERM with @why naming it.
 */
int probe_evidence_pcr4_events(const struct probe_eventlog *log, const struct probe_boot_chain *chain, char *why,
			       size_t why_size);

/*
 * probe_evidence_secureboot() - PCR 7 (probe_eventlog_secureboot()'s rules,
 * then): PK, KEK, db and dbx equal @sb entry for entry; no authority event
 * before the separator; after it exactly the distinct authorities of @chain,
 * in the order the chain first uses them (EDK2 measures each db entry once,
 * DxeImageVerificationLib), each byte for byte its UEFI_VARIABLE_DATA for db.
 * The quote binds the order of one PCR's events, not the order across PCRs:
 * an event an OS appended to PCR 7 is caught by this exact count, and the
 * log's own order is checked too (nothing in PCR 7 after ExitBootServices).
 */
int probe_evidence_secureboot(const struct probe_eventlog *log, const struct probe_sb_reference *sb,
			      const struct probe_boot_chain *chain, char *why, size_t why_size);

/*
 * probe_boot_chain_add() - append @pe (the signed application as the host
 * built it) as @what: its Authenticode SHA-256 and the db entry of @sb that
 * verifies its signature. 0, -E2BIG, or -ENOENT/-EBADMSG with @why when its
 * signature names no db entry (the application is still added, without one).
 */
int probe_boot_chain_add(struct probe_boot_chain *chain, const char *what, const struct probe_pe *pe,
			 const struct probe_sb_reference *sb, char *why, size_t why_size);

/*
 * probe_evidence_uki_cmdline() - tpm:cmdline's reading of the sealed UKI's
 * .cmdline (one section, at most 4 KiB, up to its first NUL, no double quote),
 * by the guest check's own parser (common/sc-cmdline.h): one seal, composefs,
 * no "?", no verity-off switch, no token twice, not both composefs.digest= and
 * composefs=, every digest allowed by @policy. 0 with @why saying what it
 * names, or -EPERM with @why. What the UKI says, not whether it booted.
 */
int probe_evidence_uki_cmdline(const struct probe_pe *pe, const struct probe_policy *policy, char *why, size_t why_size);

/* A PEM or DER certificate file as DER, malloc'd (at most 64 KiB). 0 or a negative errno. */
int probe_cert_der(const char *path, uint8_t **ret, size_t *ret_len);
/* The same from @len bytes at @buf. */
int probe_cert_der_mem(const char *buf, size_t len, uint8_t **ret, size_t *ret_len);
