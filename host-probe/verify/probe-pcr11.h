/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PCR 11 of a Unified Kernel Image, predicted on the host from its PE sections
 * as systemd-stub measures them and systemd-measure calculates them
 * (systemd src/measure/measure-tool.c, src/fundamental/uki.h, the UAPI
 * group's UKI specification).
 *
 * From a PCR of zeros, for each measured section in the canonical order that
 * is present with a non-zero VirtualSize: extend H(name with its leading dot
 * and a NUL), then H(content), content being min(VirtualSize, SizeOfRawData)
 * bytes of the file zero-padded to VirtualSize. Then, optionally, each
 * systemd-pcrphase word: extend H(word) (no NUL).
 *
 * Which sections are measured depends on the stub inside the UKI, named by
 * its .sdmagic ("#### LoaderInfo: systemd-stub 252.39-1~deb12u2 ####"):
 *   252-253  .linux .osrel .cmdline .initrd .splash .dtb .pcrpkey
 *   254-255  adds .uname .sbat                        (systemd PRs #27358, #27990)
 *   256      adds .ucode                              (after .initrd)
 *   257      adds .profile .dtbauto .hwids
 *   258+     adds .efifw  (the newest table is used for any newer stub)
 * in the order .linux .osrel .cmdline .initrd .ucode .splash .dtb .uname .sbat
 * .pcrpkey .profile .dtbauto .hwids .efifw; .pcrsig never. Stubs older than
 * 252 are refused.
 *
 * Refused with a message (-EBADMSG unless said): no .linux (not a UKI); a
 * measured section present twice (stubs disagree on which one counts); a
 * .profile section (multi-profile UKIs: which profile the stub picks is a boot
 * menu choice; unsupported); .dtbauto or .efifw for a stub that measures them
 * (the stub picks one by the machine's hardware IDs, which the host cannot
 * predict); for a 252-253 stub, a section whose name starts with a measured
 * name without being it (that stub matches section names by prefix, ".dtbauto"
 * counts as ".dtb"); a measured section whose VirtualSize exceeds its raw data
 * by more than PROBE_PCR11_PAD_MAX (real UKIs pad by less than a page). Auto
 * mode without a readable systemd-stub .sdmagic is -ENOMSG. Never prints.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "probe-pe.h"

enum probe_bank {
	PROBE_BANK_SHA1,
	PROBE_BANK_SHA256,
	PROBE_BANK_SHA384,
	PROBE_BANK_SHA512,
	_PROBE_BANK_MAX,
};

#define PROBE_PCR_DIGEST_MAX 64
#define PROBE_PCR11_MAX_EVENTS 14 /* every measured section once */
#define PROBE_PCR11_MAX_PHASES 16
#define PROBE_PCR11_PAD_MAX (16u * 1024u * 1024u)
#define PROBE_PCR11_STUB_MIN 252u

/* "sha1", "sha256", "sha384", "sha512". */
const char *probe_bank_name(enum probe_bank bank);
/* Case-insensitive like systemd-measure's --bank; -EINVAL for any other name. */
int probe_bank_from_name(const char *s, enum probe_bank *ret);
size_t probe_bank_size(enum probe_bank bank);

/* H(data) in @bank into @ret (probe_bank_size() bytes). 0 or -EIO. */
int probe_bank_hash(enum probe_bank bank, const void *data, size_t len, uint8_t *ret);
/* pcr = H(pcr || digest) in @bank. 0 or -EIO. */
int probe_pcr_extend(enum probe_bank bank, uint8_t *pcr, const uint8_t *digest);

/*
 * probe_pcr11_stub_version() - the systemd major version in the UKI's
 * .sdmagic. 0, -ENOMSG when there is no systemd-stub .sdmagic, -EBADMSG when
 * it is malformed (with @why).
 */
int probe_pcr11_stub_version(const struct probe_pe *pe, unsigned *ret, char *why, size_t why_size);

/*
 * probe_pcr11_parse_phases() - "enter-initrd:leave-initrd" into @ret (at most
 * PROBE_PCR11_MAX_PHASES pointers into @words, which is modified). "" is no
 * word. Only enter-initrd, leave-initrd, sysinit, ready, shutdown, final;
 * anything else (an empty word too) is -EINVAL with @why.
 */
int probe_pcr11_parse_phases(char *words, const char **ret, unsigned *ret_n, char *why, size_t why_size);

/* The static copy of systemd-pcrphase word @w if it is one we know (the list above), else NULL. */
const char *probe_pcr11_phase_word(const char *w);

/*
 * The phase paths a booting guest's PCR 11 may be at when no userspace log
 * lists its systemd-pcrphase words (systemd < 253 writes none): each a fixed
 * sequence of known words, so a value outside the list is refused, never
 * explained by a word the guest names.
 *
 * systemd 252's units (units/systemd-pcrphase*.service, each
 * ConditionSecurity=tpm2 and ConditionPathExists= the StubPcrKernelImage EFI
 * variable systemd-stub sets; ExecStart=systemd-pcrphase --graceful WORD):
 *   systemd-pcrphase-initrd.service   enter-initrd (start), leave-initrd (stop), only in
 *                                     a systemd initrd (ConditionPathExists=/etc/initrd-release)
 *   systemd-pcrphase-sysinit.service  sysinit after sysinit.target (on the host, !/etc/initrd-release)
 *   systemd-pcrphase.service          ready before systemd-user-sessions.service (host)
 * and shutdown/final when those stop. systemd-measure 252 (src/boot/measure.c
 * parse_argv(), man systemd-measure(1) --phase=) signs by default
 * "enter-initrd", "enter-initrd:leave-initrd",
 * "enter-initrd:leave-initrd:sysinit", "enter-initrd:leave-initrd:sysinit:ready".
 * Accepted: those four; "" (no word: no TPM support in userspace, a
 * non-systemd init, or a quote before sysinit); and for a guest whose initrd
 * is not systemd's (no enter-initrd/leave-initrd) "sysinit", "sysinit:ready".
 * Never shutdown or final: the agent is not asked to quote while stopping.
 */
#define PROBE_PCR11_BOOT_PATHS 7

struct probe_pcr11_path {
	const char *name; /* "enter-initrd:leave-initrd"; "" for no word */
	unsigned n_words;
	const char *const *words; /* static strings: probe_pcr11_phase_word()'s */
};

/* Boot path @i (0 .. PROBE_PCR11_BOOT_PATHS - 1), NULL past the end. */
const struct probe_pcr11_path *probe_pcr11_boot_path(unsigned i);

/*
 * probe_pcr11_match_boot_path() - the boot path that takes PCR 11 in @bank
 * from @start (the value after the UKI's sections) to @quoted: its index, or
 * -ENOENT with @why naming every path and the value it expects (first 8 hex
 * digits), or -EIO.
 */
int probe_pcr11_match_boot_path(enum probe_bank bank, const uint8_t *start, const uint8_t *quoted, char *why,
				size_t why_size);

/* One measured section as its PCR 11 EV_IPL events carry it (name event, then data event). */
struct probe_pcr11_event {
	char name[9];
	uint64_t size; /* VirtualSize: the bytes measured */
	uint8_t name_digest[PROBE_PCR_DIGEST_MAX];
	uint8_t data_digest[PROBE_PCR_DIGEST_MAX];
};

struct probe_pcr11 {
	enum probe_bank bank;
	size_t digest_len;
	unsigned stub_version; /* the one used: from .sdmagic, or the caller's */
	unsigned n_events;
	struct probe_pcr11_event events[PROBE_PCR11_MAX_EVENTS];
	uint8_t sections_value[PROBE_PCR_DIGEST_MAX]; /* after the sections, before any phase word */
	unsigned n_phases;
	uint8_t phase_digests[PROBE_PCR11_MAX_PHASES][PROBE_PCR_DIGEST_MAX];
	uint8_t value[PROBE_PCR_DIGEST_MAX]; /* the prediction */
	/* PCR 9: the initrd the stub hands the kernel, which the kernel measures as "Linux initrd"
	 * (SHA-256, whatever @bank): see probe_pcr11_predict(). */
	bool has_initrd;
	uint8_t initrd_sha256[32];
};

/*
 * probe_pcr11_predict() - predict PCR 11 in @bank for @pe.
 * @stub_version: 0 to read it from .sdmagic, else the systemd major version
 * whose section table to use (>= 252).
 * @phases/@n_phases: words from probe_pcr11_parse_phases(), extended after the
 * sections (none: what `systemd-measure calculate --phase=` prints).
 * Also the SHA-256 of the initrd the stub passes to the kernel (PCR 9),
 * without ESP sidecars (credentials, system extensions, addons: those the
 * stub measures into PCR 12 and 13 first): systemd-stub 252 passes .initrd,
 * followed (zero-padded to 4 bytes) by a cpio archive ".extra/<file>" of
 * .pcrsig and of .pcrpkey when present (src/boot/stub.c combine_initrd());
 * 253 to 256 are taken as 252 (not checked); 257 (generate_embedded_initrds(),
 * combine_initrds(), src/boot/cpio.c pack_cpio_literal()) concatenates, each
 * zero-padded to 4 bytes when more than one, .ucode, .initrd, then a cpio
 * archive of each of .pcrsig, .pcrpkey, .osrel and .profile. A section of
 * size 0 adds nothing.
 * Returns 0, or a negative errno with @why.
 */
int probe_pcr11_predict(const struct probe_pe *pe, enum probe_bank bank, unsigned stub_version,
			const char *const *phases, unsigned n_phases, struct probe_pcr11 *ret, char *why,
			size_t why_size);

/*
 * probe_pcr11_add_phases() - @p (a prediction) made again from its
 * sections_value, extended by @phases instead of its own words: one UKI's
 * sections hashed once, each quote's phase words applied to a copy. 0, or
 * -EINVAL with @why for a word that is not systemd-pcrphase's, or -EIO.
 */
int probe_pcr11_add_phases(struct probe_pcr11 *p, const char *const *phases, unsigned n_phases, char *why,
			   size_t why_size);
