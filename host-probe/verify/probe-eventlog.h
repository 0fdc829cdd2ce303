/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The TCG2 crypto-agile firmware event log (TCG PC Client Platform Firmware
 * Profile, section 10; Linux's binary_bios_measurements) as the guest sends
 * it: parsing, replay into a PCR bank, and the PCR 7 Secure Boot state.
 *
 * The log is guest data and proves nothing by itself: only its replay
 * matching PCRs a verified quote covers ties it to the TPM (go-attestation
 * attest/eventlog.go and attest/secureboot.go; TCG PC Client Platform
 * Firmware Profile, section 10). All fields are
 * little-endian. The first event is the SHA-1-format TCG_PCClientPCREvent
 * carrying the "Spec ID Event03" structure that declares the algorithms and
 * their digest sizes; every TCG_PCR_EVENT2 after it carries exactly one
 * digest per declared algorithm and nothing else. Caps: PROBE_EVENTLOG_MAX
 * bytes, PROBE_EVENTLOG_EVENTS_MAX events, PROBE_EVENTLOG_EVENT_DATA_MAX
 * bytes of data per event.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probe-tpm.h"

#define PROBE_EVENTLOG_MAX (1024 * 1024)
#define PROBE_EVENTLOG_EVENTS_MAX 20000
#define PROBE_EVENTLOG_EVENT_DATA_MAX (64 * 1024)
#define PROBE_EVENTLOG_ALGS_MAX 8

/* Event types (PC Client PFP, 10.4.1). */
#define PROBE_EV_NO_ACTION 0x00000003u
#define PROBE_EV_SEPARATOR 0x00000004u
#define PROBE_EV_ACTION 0x00000005u
#define PROBE_EV_EVENT_TAG 0x00000006u
#define PROBE_EV_IPL 0x0000000Du
#define PROBE_EV_EFI_VARIABLE_DRIVER_CONFIG 0x80000001u
#define PROBE_EV_EFI_VARIABLE_BOOT 0x80000002u
#define PROBE_EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define PROBE_EV_EFI_ACTION 0x80000007u
#define PROBE_EV_EFI_VARIABLE_AUTHORITY 0x800000E0u

struct probe_event {
	uint32_t pcr;
	uint32_t type;
	/* digests[i] is the digest for the log's algs[i] (inside the log's copy). */
	const uint8_t *digests[PROBE_EVENTLOG_ALGS_MAX];
	const uint8_t *data;
	uint32_t data_len;
	size_t offset; /* of the event in the log, for messages */
};

struct probe_eventlog {
	uint8_t *buf; /* the log's own copy; events point into it */
	size_t len;
	uint32_t platform_class;
	uint8_t spec_errata, uintn_size;
	size_t n_algs;
	struct {
		uint16_t alg;
		uint16_t size;
	} algs[PROBE_EVENTLOG_ALGS_MAX];
	bool has_startup_locality;
	uint8_t startup_locality;
	size_t n_events; /* TCG_PCR_EVENT2 entries, the Spec ID event not counted */
	struct probe_event *events;
};

void probe_eventlog_free(struct probe_eventlog *log);
static inline void probe_eventlog_freep(struct probe_eventlog **p)
{
	probe_eventlog_free(*p);
}
#define _cleanup_eventlog_ __attribute__((cleanup(probe_eventlog_freep)))

/*
 * probe_eventlog_parse() - parse the whole log (a copy of @buf is kept).
 * Returns 0, -EMSGSIZE (over a cap, or a size past the end), -EBADMSG
 * (malformed: no Spec ID event first, an undeclared or repeated algorithm,
 * a PCR index over 23, a second StartupLocality event, ...).
 */
int probe_eventlog_parse(const uint8_t *buf, size_t len, struct probe_eventlog **ret, char *why, size_t why_size);

/* The index of @alg in log->algs, or -ENOENT. */
int probe_eventlog_alg_index(const struct probe_eventlog *log, uint16_t alg);

/*
 * probe_eventlog_replay() - extend every event but EV_NO_ACTION, from zero
 * (PCR 0 from the StartupLocality value), into bank @alg; @pcrs[i] gets
 * PCR i (probe_tpm_hash_size(@alg) bytes). -ENOENT when the log does not
 * declare @alg, -EOPNOTSUPP when we cannot hash it.
 */
int probe_eventlog_replay(const struct probe_eventlog *log, uint16_t alg,
			  uint8_t pcrs[PROBE_TPM_PCRS][PROBE_TPM_HASH_MAX], char *why, size_t why_size);

/*
 * probe_eventlog_check_pcrs() - the replay of bank @alg equals every PCR of
 * that bank that @sel covers in @values (laid out as for probe_quote_verify:
 * values the quote's pcrDigest was checked against). -EPERM names the
 * first PCR that differs; -ENOENT when @sel has no bank @alg.
 */
int probe_eventlog_check_pcrs(const struct probe_eventlog *log, uint16_t alg, const struct probe_pcr_selection *sel,
			      const uint8_t *values, size_t values_len, char *why, size_t why_size);

#define PROBE_SECUREBOOT_AUTHORITIES_MAX 16

/* A UEFI_VARIABLE_DATA as measured. */
struct probe_efi_variable {
	uint8_t guid[16];
	char name[65]; /* ASCII of the UTF-16 name */
	const uint8_t *data;
	size_t data_len;
};

/* What PCR 7 says (pointers into the log's copy). */
struct probe_secureboot {
	bool secure_boot; /* SecureBoot measured as the single byte 1 */
	struct probe_efi_variable pk, kek, db, dbx;
	/* EV_EFI_VARIABLE_AUTHORITY after the separator: the db entries
	 * (EFI_SIGNATURE_DATA: owner GUID, then the certificate) that
	 * verified what was booted. */
	size_t n_authorities;
	struct probe_efi_variable authorities[PROBE_SECUREBOOT_AUTHORITIES_MAX];
	size_t n_pre_separator_authorities; /* before the separator (drivers, option ROMs) */
	bool dma_protection_disabled;       /* EV_EFI_ACTION "DMA Protection Disabled" */
};

/*
 * probe_eventlog_secureboot() - the PCR 7 rules (go-attestation attest/secureboot.go ParseSecurebootState, stricter): only
 * EV_EFI_VARIABLE_DRIVER_CONFIG, EV_EFI_VARIABLE_AUTHORITY, EV_SEPARATOR
 * and EV_EFI_ACTION "DMA Protection Disabled" in PCR 7; each event's every
 * digest (of the algorithms we can hash) equals the hash of its data;
 * exactly one separator, with data 00000000; SecureBoot, PK, KEK, db, dbx
 * each measured once, before the separator, SecureBoot as the byte 1 and
 * PK, KEK, db non-empty; at least one authority event after the separator.
 * Only meaningful once the replay matched a quoted PCR 7. Returns 0 or
 * -EPERM/-EBADMSG with @why.
 */
int probe_eventlog_secureboot(const struct probe_eventlog *log, struct probe_secureboot *ret, char *why,
			      size_t why_size);

/* Decode a UEFI_VARIABLE_DATA filling exactly @len bytes. */
int probe_efi_variable_parse(const uint8_t *buf, size_t len, struct probe_efi_variable *ret);
