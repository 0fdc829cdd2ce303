/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "sc-openssl.h"
#include "probe-pcr11.h"
#include "probe-tpm.h"
#include "sc-macro.h"
#include "sc-why.h"

/* The canonical order (systemd src/fundamental/uki.h) and the first stub version measuring each. */
static const struct {
	const char *name;
	unsigned since;
} measured[] = {
	{ ".linux", 252 },  { ".osrel", 252 }, { ".cmdline", 252 }, { ".initrd", 252 }, { ".ucode", 256 },
	{ ".splash", 252 }, { ".dtb", 252 },   { ".uname", 254 },   { ".sbat", 254 },   { ".pcrpkey", 252 },
	{ ".profile", 257 }, { ".dtbauto", 257 }, { ".hwids", 257 }, { ".efifw", 258 },
};

static const char *const phase_words[] = { "enter-initrd", "leave-initrd", "sysinit", "ready", "shutdown", "final" };

/* The boot paths (probe-pcr11.h): prefixes of the initrd sequence, then of the host-side one. */
static const char *const initrd_seq[] = { "enter-initrd", "leave-initrd", "sysinit", "ready" };
static const char *const host_seq[] = { "sysinit", "ready" };
static const struct probe_pcr11_path boot_paths[PROBE_PCR11_BOOT_PATHS] = {
	{ "", 0, initrd_seq },
	{ "enter-initrd", 1, initrd_seq },
	{ "enter-initrd:leave-initrd", 2, initrd_seq },
	{ "enter-initrd:leave-initrd:sysinit", 3, initrd_seq },
	{ "enter-initrd:leave-initrd:sysinit:ready", 4, initrd_seq },
	{ "sysinit", 1, host_seq },
	{ "sysinit:ready", 2, host_seq },
};

/* A bank is a TPM hash algorithm: names, sizes and digests are probe-tpm.c's. */
static const uint16_t bank_alg[_PROBE_BANK_MAX] = {
	[PROBE_BANK_SHA1] = PROBE_TPM_ALG_SHA1,
	[PROBE_BANK_SHA256] = PROBE_TPM_ALG_SHA256,
	[PROBE_BANK_SHA384] = PROBE_TPM_ALG_SHA384,
	[PROBE_BANK_SHA512] = PROBE_TPM_ALG_SHA512,
};

/* fail(why, why_size, fmt, ...): malformed input, said in @why (common/sc-why.h). */
#define fail(why, why_size, ...) sc_why(-EBADMSG, why, why_size, __VA_ARGS__)

const char *probe_bank_name(enum probe_bank bank)
{
	return (unsigned)bank < _PROBE_BANK_MAX ? probe_tpm_hash_name(bank_alg[bank]) : "unknown";
}

int probe_bank_from_name(const char *s, enum probe_bank *ret)
{
	for (unsigned i = 0; i < _PROBE_BANK_MAX; i++)
		if (strcasecmp(s, probe_tpm_hash_name(bank_alg[i])) == 0) {
			*ret = (enum probe_bank)i;
			return 0;
		}
	return -EINVAL;
}

static const EVP_MD *bank_md(enum probe_bank bank)
{
	return (unsigned)bank < _PROBE_BANK_MAX ? probe_tpm_hash_md(bank_alg[bank]) : NULL;
}

size_t probe_bank_size(enum probe_bank bank)
{
	return (unsigned)bank < _PROBE_BANK_MAX ? probe_tpm_hash_size(bank_alg[bank]) : 0;
}

/* H(a || b, padded with @zeros zero bytes) into @ret. */
static int hash_padded(enum probe_bank bank, const void *a, size_t alen, const void *b, size_t blen, uint64_t zeros,
		       uint8_t *ret)
{
	static const uint8_t zero[4096];
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const EVP_MD *md = bank_md(bank);
	unsigned n = 0;

	if (!ctx || !md || EVP_DigestInit_ex(ctx, md, NULL) != 1)
		return -EIO;
	if (alen > 0 && EVP_DigestUpdate(ctx, a, alen) != 1)
		return -EIO;
	if (blen > 0 && EVP_DigestUpdate(ctx, b, blen) != 1)
		return -EIO;
	while (zeros > 0) {
		size_t k = zeros < sizeof(zero) ? (size_t)zeros : sizeof(zero);

		if (EVP_DigestUpdate(ctx, zero, k) != 1)
			return -EIO;
		zeros -= k;
	}
	if (EVP_DigestFinal_ex(ctx, ret, &n) != 1 || n != probe_bank_size(bank))
		return -EIO;
	return 0;
}

int probe_bank_hash(enum probe_bank bank, const void *data, size_t len, uint8_t *ret)
{
	return hash_padded(bank, data, len, NULL, 0, 0, ret);
}

int probe_pcr_extend(enum probe_bank bank, uint8_t *pcr, const uint8_t *digest)
{
	size_t n = probe_bank_size(bank);

	return hash_padded(bank, pcr, n, digest, n, 0, pcr);
}

static const struct probe_pe_section *find_unique(const struct probe_pe *pe, const char *name, unsigned *ret_count)
{
	const struct probe_pe_section *found = NULL;
	unsigned count = 0;

	for (unsigned i = 0; i < pe->n_sections; i++)
		if (strcmp(pe->sections[i].name, name) == 0) {
			if (!found)
				found = &pe->sections[i];
			count++;
		}
	*ret_count = count;
	return found;
}

int probe_pcr11_stub_version(const struct probe_pe *pe, unsigned *ret, char *why, size_t why_size)
{
	static const char prefix[] = "#### LoaderInfo: systemd-stub ";
	const struct probe_pe_section *s;
	const uint8_t *raw;
	size_t len, i;
	unsigned count, v = 0;

	s = find_unique(pe, ".sdmagic", &count);
	if (!s) {
		fail(why, why_size, "no .sdmagic section: not a systemd-stub UKI (name the stub version)");
		return -ENOMSG;
	}
	if (count > 1)
		return fail(why, why_size, "%u .sdmagic sections", count);
	probe_pe_section_raw(pe, s, &raw, &len);
	if (len < sizeof(prefix) - 1 || memcmp(raw, prefix, sizeof(prefix) - 1) != 0) {
		fail(why, why_size, ".sdmagic does not name a systemd-stub (\"%s...\")", prefix);
		return -ENOMSG;
	}
	for (i = sizeof(prefix) - 1; i < len && raw[i] >= '0' && raw[i] <= '9'; i++) {
		v = v * 10 + (unsigned)(raw[i] - '0');
		if (v > 100000)
			break;
	}
	if (i == sizeof(prefix) - 1 || v == 0 || v > 100000 || i >= len ||
	    (raw[i] != '.' && raw[i] != '-' && raw[i] != '~' && raw[i] != ' ' && raw[i] != '+'))
		return fail(why, why_size, ".sdmagic: no systemd version after \"systemd-stub \"");
	*ret = v;
	return 0;
}

const char *probe_pcr11_phase_word(const char *w)
{
	for (size_t i = 0; w && i < ELEMENTSOF(phase_words); i++)
		if (strcmp(w, phase_words[i]) == 0)
			return phase_words[i];
	return NULL;
}

const struct probe_pcr11_path *probe_pcr11_boot_path(unsigned i)
{
	return i < ELEMENTSOF(boot_paths) ? &boot_paths[i] : NULL;
}

int probe_pcr11_match_boot_path(enum probe_bank bank, const uint8_t *start, const uint8_t *quoted, char *why,
				size_t why_size)
{
	uint8_t values[PROBE_PCR11_BOOT_PATHS][PROBE_PCR_DIGEST_MAX];
	size_t n = probe_bank_size(bank), o;

	if (why && why_size)
		why[0] = 0;
	if (!bank_md(bank))
		return -EINVAL;
	for (unsigned i = 0; i < ELEMENTSOF(boot_paths); i++) {
		memcpy(values[i], start, n);
		for (unsigned k = 0; k < boot_paths[i].n_words; k++) {
			const char *w = boot_paths[i].words[k];
			uint8_t d[PROBE_PCR_DIGEST_MAX];

			if (probe_bank_hash(bank, w, strlen(w), d) < 0 || probe_pcr_extend(bank, values[i], d) < 0)
				return -EIO;
		}
		if (memcmp(values[i], quoted, n) == 0)
			return (int)i;
	}
	if (!why || why_size == 0)
		return -ENOENT;
	o = (size_t)snprintf(why, why_size, "PCR 11 %02x%02x%02x%02x... is not the sealed UKI's sections followed by one of "
				       "systemd's %u boot phase paths:",
			     quoted[0], quoted[1], quoted[2], quoted[3], PROBE_PCR11_BOOT_PATHS);
	for (unsigned i = 0; i < ELEMENTSOF(boot_paths) && o < why_size; i++)
		o += (size_t)snprintf(why + o, why_size - o, "%s \"%s\" %02x%02x%02x%02x", i ? "," : "", boot_paths[i].name,
				      values[i][0], values[i][1], values[i][2], values[i][3]);
	return -ENOENT;
}

int probe_pcr11_parse_phases(char *words, const char **ret, unsigned *ret_n, char *why, size_t why_size)
{
	unsigned n = 0;
	char *p = words;

	*ret_n = 0;
	if (!*words)
		return 0;
	for (;;) {
		char *end = strchr(p, ':');

		if (end)
			*end = 0;
		if (!probe_pcr11_phase_word(p)) {
			fail(why, why_size, "phase word \"%.40s\" is not one of enter-initrd, leave-initrd, sysinit, ready, shutdown, final", p);
			return -EINVAL;
		}
		if (n >= PROBE_PCR11_MAX_PHASES) {
			fail(why, why_size, "more than %u phase words", PROBE_PCR11_MAX_PHASES);
			return -EINVAL;
		}
		ret[n++] = p;
		if (!end)
			break;
		p = end + 1;
	}
	*ret_n = n;
	return 0;
}

/* systemd-stub 257 src/boot/cpio.c: one "newc" header of 13 eight-digit hex words. */
static void cpio_header(uint8_t h[110], uint32_t ino, uint32_t mode, uint32_t size, uint32_t namesize)
{
	const uint32_t w[13] = { ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, namesize, 0 };

	memcpy(h, "070701", 6);
	for (unsigned i = 0; i < 13; i++)
		for (unsigned k = 0; k < 8; k++)
			h[6 + 8 * i + 7 - k] = (uint8_t)"0123456789abcdef"[(w[i] >> (4 * k)) & 0xf];
}

static int update(EVP_MD_CTX *ctx, const void *p, size_t n)
{
	return n == 0 || EVP_DigestUpdate(ctx, p, n) == 1 ? 0 : -EIO;
}

static int update_zeros(EVP_MD_CTX *ctx, uint64_t n)
{
	static const uint8_t zero[4096];

	while (n > 0) {
		size_t k = n < sizeof(zero) ? (size_t)n : sizeof(zero);

		if (EVP_DigestUpdate(ctx, zero, k) != 1)
			return -EIO;
		n -= k;
	}
	return 0;
}

/* A section as it lies in memory: its raw data, zero-filled to VirtualSize. */
static int update_section(EVP_MD_CTX *ctx, const struct probe_pe *pe, const struct probe_pe_section *s)
{
	const uint8_t *raw;
	size_t len;

	probe_pe_section_raw(pe, s, &raw, &len);
	if (update(ctx, raw, len) < 0)
		return -EIO;
	return update_zeros(ctx, s->virtual_size - len);
}

/* pack_cpio_literal(): ".extra" (0555), ".extra/<file>" (0444) holding the section, the trailer. */
static int update_cpio(EVP_MD_CTX *ctx, const struct probe_pe *pe, const struct probe_pe_section *s, const char *file)
{
	/* ino, mode, uid, gid, nlink 1, mtime, size, devmajor, devminor, rdevmajor, rdevminor, namesize 11, check */
	static const char trailer[] = "070701"
				      "00000000" "00000000" "00000000" "00000000" "00000001" "00000000" "00000000"
				      "00000000" "00000000" "00000000" "00000000" "0000000B" "00000000"
				      "TRAILER!!!\0\0\0"; /* and the string's NUL: 124 bytes */
	_Static_assert(sizeof(trailer) == 124, "the cpio trailer of systemd src/boot/cpio.c");
	uint8_t h[110];
	char name[64];
	size_t o, n = (size_t)snprintf(name, sizeof(name), ".extra/%s", file) + 1;

	cpio_header(h, 1, 0040000 | 0555, 0, 7);
	if (update(ctx, h, sizeof(h)) < 0 || update(ctx, ".extra", 7) < 0 || update_zeros(ctx, (4 - (110 + 7) % 4) % 4) < 0)
		return -EIO;
	o = 120; /* 110 + 7, padded to 4 */
	cpio_header(h, 2, 0100000 | 0444, s->virtual_size, (uint32_t)n);
	if (update(ctx, h, sizeof(h)) < 0 || update(ctx, name, n) < 0)
		return -EIO;
	o += sizeof(h) + n;
	if (update_zeros(ctx, (4 - o % 4) % 4) < 0 || update_section(ctx, pe, s) < 0 ||
	    update_zeros(ctx, (4 - s->virtual_size % 4) % 4) < 0)
		return -EIO;
	return update(ctx, trailer, sizeof(trailer));
}

static int predict_initrd(const struct probe_pe *pe, unsigned stub_version, struct probe_pcr11 *p, char *why,
			  size_t why_size)
{
	static const struct {
		const char *section, *file; /* file: wrapped in a cpio archive; NULL: passed as it is */
	} parts[] = {
		{ ".ucode", NULL },
		{ ".initrd", NULL },
		{ ".pcrsig", "tpm2-pcr-signature.json" },
		{ ".pcrpkey", "tpm2-pcr-public-key.pem" },
		{ ".osrel", "os-release" },
		{ ".profile", "profile" },
	};
	const struct probe_pe_section *found[ELEMENTSOF(parts)] = { NULL };
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned n = 0, count;
	unsigned int len = 0;

	for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
		const uint8_t *raw;
		size_t raw_len;

		/* 252 (src/boot/stub.c combine_initrd()) passes .initrd, then .pcrsig and .pcrpkey as cpio
		 * archives; .ucode, .osrel and .profile are 257's. Stubs 253 to 256 are predicted as 252. */
		if (stub_version < 257 && strcmp(parts[i].section, ".initrd") != 0 &&
		    strcmp(parts[i].section, ".pcrsig") != 0 && strcmp(parts[i].section, ".pcrpkey") != 0)
			continue;
		found[i] = find_unique(pe, parts[i].section, &count);
		if (found[i] && count > 1)
			return fail(why, why_size, "%u %s sections: which one the stub passes is ambiguous", count,
				    parts[i].section);
		/* A section of no size is not set (257 PE_SECTION_VECTOR_IS_SET), nothing is appended for it. */
		if (found[i] && found[i]->virtual_size == 0)
			found[i] = NULL;
		if (!found[i])
			continue;
		probe_pe_section_raw(pe, found[i], &raw, &raw_len);
		if (found[i]->virtual_size - raw_len > PROBE_PCR11_PAD_MAX)
			return fail(why, why_size, "section %s: VirtualSize %#x exceeds its raw data (%#zx) by more than %u",
				    found[i]->name, found[i]->virtual_size, raw_len, PROBE_PCR11_PAD_MAX);
		n++;
	}
	p->has_initrd = n > 0;
	if (!n)
		return 0;
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		return -EIO;
	for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
		int r;

		if (!found[i])
			continue;
		r = parts[i].file ? update_cpio(ctx, pe, found[i], parts[i].file) : update_section(ctx, pe, found[i]);
		/* combine_initrds() pads each to 4 bytes when there is more than one (a cpio archive is already). */
		if (r >= 0 && n > 1 && !parts[i].file)
			r = update_zeros(ctx, (4 - found[i]->virtual_size % 4) % 4);
		if (r < 0)
			return fail(why, why_size, "hashing with OpenSSL failed"), r;
	}
	if (EVP_DigestFinal_ex(ctx, p->initrd_sha256, &len) != 1 || len != 32)
		return -EIO;
	return 0;
}

int probe_pcr11_predict(const struct probe_pe *pe, enum probe_bank bank, unsigned stub_version,
			const char *const *phases, unsigned n_phases, struct probe_pcr11 *ret, char *why,
			size_t why_size)
{
	struct probe_pcr11 p = { .bank = bank, .digest_len = probe_bank_size(bank) };
	unsigned count;
	int r;

	if (why && why_size)
		why[0] = 0;
	if (!bank_md(bank) || n_phases > PROBE_PCR11_MAX_PHASES)
		return -EINVAL;
	if (stub_version == 0) {
		r = probe_pcr11_stub_version(pe, &stub_version, why, why_size);
		if (r < 0)
			return r;
	}
	if (stub_version < PROBE_PCR11_STUB_MIN)
		return fail(why, why_size, "systemd-stub %u predates %u: its measurements are not supported", stub_version,
			    PROBE_PCR11_STUB_MIN);
	p.stub_version = stub_version;

	if (!find_unique(pe, ".linux", &count))
		return fail(why, why_size, "no .linux section: not a UKI");
	if (find_unique(pe, ".profile", &count))
		return fail(why, why_size, "a multi-profile UKI (%u .profile sections): not supported", count);
	if (stub_version < 254) {
		/* systemd 252's locate_sections() compares only strlen(name) bytes: ".dtbauto" is a ".dtb". */
		for (unsigned i = 0; i < pe->n_sections; i++)
			for (size_t j = 0; j < ELEMENTSOF(measured); j++) {
				size_t n = strlen(measured[j].name);

				if (measured[j].since <= stub_version && strncmp(pe->sections[i].name, measured[j].name, n) == 0 &&
				    pe->sections[i].name[n] != 0)
					return fail(why, why_size,
						    "section %s: systemd-stub %u would measure it as %s (prefix match)",
						    pe->sections[i].name, stub_version, measured[j].name);
			}
	}

	for (size_t j = 0; j < ELEMENTSOF(measured); j++) {
		const struct probe_pe_section *s;
		struct probe_pcr11_event *e;
		const uint8_t *raw;
		size_t len;

		if (measured[j].since > stub_version)
			continue;
		s = find_unique(pe, measured[j].name, &count);
		if (!s || s->virtual_size == 0)
			continue;
		if (count > 1)
			return fail(why, why_size, "%u %s sections: which one the stub measures is ambiguous", count,
				    measured[j].name);
		if (strcmp(s->name, ".dtbauto") == 0 || strcmp(s->name, ".efifw") == 0)
			return fail(why, why_size,
				    "section %s: systemd-stub %u picks it by the machine's hardware IDs, not predictable here",
				    s->name, stub_version);
		probe_pe_section_raw(pe, s, &raw, &len);
		if (s->virtual_size - len > PROBE_PCR11_PAD_MAX)
			return fail(why, why_size, "section %s: VirtualSize %#x exceeds its raw data (%#zx) by more than %u",
				    s->name, s->virtual_size, len, PROBE_PCR11_PAD_MAX);
		if (p.n_events >= PROBE_PCR11_MAX_EVENTS)
			return -EINVAL; /* cannot happen: one event per table entry */
		e = &p.events[p.n_events++];
		memcpy(e->name, s->name, sizeof(e->name));
		e->size = s->virtual_size;
		r = probe_bank_hash(bank, s->name, strlen(s->name) + 1, e->name_digest);
		if (r >= 0)
			r = hash_padded(bank, raw, len, NULL, 0, s->virtual_size - len, e->data_digest);
		if (r >= 0)
			r = probe_pcr_extend(bank, p.value, e->name_digest);
		if (r >= 0)
			r = probe_pcr_extend(bank, p.value, e->data_digest);
		if (r < 0)
			return fail(why, why_size, "hashing with OpenSSL failed"), r;
	}
	memcpy(p.sections_value, p.value, sizeof(p.value));
	r = predict_initrd(pe, stub_version, &p, why, why_size);
	if (r < 0)
		return r;
	r = probe_pcr11_add_phases(&p, phases, n_phases, why, why_size);
	if (r < 0)
		return r;
	*ret = p;
	return 0;
}

int probe_pcr11_add_phases(struct probe_pcr11 *p, const char *const *phases, unsigned n_phases, char *why,
			   size_t why_size)
{
	int r;

	if (n_phases > PROBE_PCR11_MAX_PHASES || !bank_md(p->bank))
		return fail(why, why_size, "%u phase words (at most %d) or an unknown bank", n_phases,
			    PROBE_PCR11_MAX_PHASES);
	memcpy(p->value, p->sections_value, sizeof(p->value));
	p->n_phases = 0;
	for (unsigned i = 0; i < n_phases; i++) {
		if (!probe_pcr11_phase_word(phases[i])) {
			fail(why, why_size, "phase word \"%.40s\" is not a systemd-pcrphase word", phases[i]);
			return -EINVAL;
		}
		r = probe_bank_hash(p->bank, phases[i], strlen(phases[i]), p->phase_digests[i]);
		if (r >= 0)
			r = probe_pcr_extend(p->bank, p->value, p->phase_digests[i]);
		if (r < 0)
			return fail(why, why_size, "hashing with OpenSSL failed"), r;
	}
	p->n_phases = n_phases;
	return 0;
}
