/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "probe-gpt.h"
#include "sc-macro.h"
#include "sc-why.h"

/* The header's fields (UEFI 2.10 table 5.5), little-endian. */
#define GPT_SIGNATURE "EFI PART"
#define GPT_REVISION_1_0 0x00010000u
#define GPT_HEADER_MIN 92u
#define GPT_ENTRIES_MAX 1024u
/* EFI System Partition type, as stored (the first three fields little-endian). */
static const uint8_t esp_type[16] = { 0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
				      0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b };
/* The Discoverable Partitions Specification's XBOOTLDR (BC13C2FF-59E6-4262-A352-B275FD6F7172). */
static const uint8_t xbootldr_type[16] = { 0xff, 0xc2, 0x13, 0xbc, 0xe6, 0x59, 0x62, 0x42,
					   0xa3, 0x52, 0xb2, 0x75, 0xfd, 0x6f, 0x71, 0x72 };

uint32_t probe_crc32(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
	}
	return ~c;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

int probe_gpt_find_esp(const uint8_t *head, size_t len, uint64_t disk_size, struct probe_gpt_part *ret, char *why,
		       size_t why_size)
{
	const uint8_t *h = head + PROBE_GPT_SECTOR;
	uint8_t copy[PROBE_GPT_SECTOR];
	uint32_t hsize, n, esize;
	uint64_t entries_lba, sectors = disk_size / PROBE_GPT_SECTOR, off;
	unsigned found = 0;
	bool xbootldr = false;

	if (len < 2 * PROBE_GPT_SECTOR || len > PROBE_GPT_HEAD_MAX)
		return sc_why(-EBADMSG, why, why_size, "the disk is shorter than a GPT header (%zu bytes)", len);
	if (memcmp(h, GPT_SIGNATURE, 8) != 0)
		return sc_why(-EBADMSG, why, why_size, "no GPT: LBA 1 does not start with \"EFI PART\"");
	if (le32(h + 8) != GPT_REVISION_1_0)
		return sc_why(-EBADMSG, why, why_size, "GPT revision 0x%08x (1.0 expected)", le32(h + 8));
	hsize = le32(h + 12);
	if (hsize < GPT_HEADER_MIN || hsize > PROBE_GPT_SECTOR)
		return sc_why(-EBADMSG, why, why_size, "GPT header size %u (92 to 512)", hsize);
	memcpy(copy, h, hsize);
	memset(copy + 16, 0, 4); /* the CRC is computed with its own field zero */
	if (probe_crc32(copy, hsize) != le32(h + 16))
		return sc_why(-EBADMSG, why, why_size, "the GPT header's CRC32 does not match");
	if (le64(h + 24) != 1)
		return sc_why(-EBADMSG, why, why_size, "the GPT header at LBA 1 names itself at LBA %llu",
			      (unsigned long long)le64(h + 24));
	entries_lba = le64(h + 72);
	n = le32(h + 80);
	esize = le32(h + 84);
	if (esize < 128 || esize > 4096 || esize % 8 != 0)
		return sc_why(-EBADMSG, why, why_size, "GPT entry size %u (128 to 4096, a multiple of 8)", esize);
	if (n == 0 || n > GPT_ENTRIES_MAX)
		return sc_why(-EBADMSG, why, why_size, "GPT with %u entries (1 to %u)", n, GPT_ENTRIES_MAX);
	if (entries_lba < 2 || entries_lba > len / PROBE_GPT_SECTOR ||
	    (uint64_t)n * esize > len - entries_lba * PROBE_GPT_SECTOR)
		return sc_why(-EBADMSG, why, why_size, "the GPT's entries (LBA %llu, %u x %u bytes) are not within the disk's first MiB",
			      (unsigned long long)entries_lba, n, esize);
	off = entries_lba * PROBE_GPT_SECTOR;
	if (probe_crc32(head + off, (size_t)n * esize) != le32(h + 88))
		return sc_why(-EBADMSG, why, why_size, "the GPT entries' CRC32 does not match");
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = head + off + (size_t)i * esize;
		uint64_t first = le64(e + 32), last = le64(e + 40);

		xbootldr |= memcmp(e, xbootldr_type, 16) == 0;
		if (memcmp(e, esp_type, 16) != 0)
			continue;
		if (first < 2 || first > last || last >= sectors)
			return sc_why(-EBADMSG, why, why_size, "GPT partition %u: LBA %llu to %llu is not within the disk (%llu sectors)",
				      i + 1, (unsigned long long)first, (unsigned long long)last,
				      (unsigned long long)sectors);
		if (found++)
			return sc_why(-ENOTUNIQ, why, why_size, "the GPT has more than one EFI System Partition (%u and %u)",
				      ret->index, i + 1);
		ret->first_lba = first;
		ret->last_lba = last;
		ret->index = i + 1;
	}
	if (!found)
		return sc_why(-ENOENT, why, why_size, "the GPT has no EFI System Partition");
	ret->has_xbootldr = xbootldr;
	return 0;
}

int probe_gpt_event_data(const uint8_t *head, size_t len, uint8_t **ret, size_t *ret_len)
{
	static const uint8_t zero[16];
	const uint8_t *h = head + PROBE_GPT_SECTOR;
	uint64_t entries_lba, used = 0;
	uint32_t n, esize;
	uint8_t *out, *p;

	if (len < 2 * PROBE_GPT_SECTOR || len > PROBE_GPT_HEAD_MAX)
		return -EBADMSG;
	entries_lba = le64(h + 72);
	n = le32(h + 80);
	esize = le32(h + 84);
	if (esize < 128 || esize > 4096 || n == 0 || n > GPT_ENTRIES_MAX || entries_lba < 2 ||
	    entries_lba > len / PROBE_GPT_SECTOR || (uint64_t)n * esize > len - entries_lba * PROBE_GPT_SECTOR)
		return -EBADMSG;
	for (uint32_t i = 0; i < n; i++)
		used += memcmp(head + entries_lba * PROBE_GPT_SECTOR + (size_t)i * esize, zero, 16) != 0;
	out = malloc(GPT_HEADER_MIN + 8 + used * esize);
	if (!out)
		return -ENOMEM;
	memcpy(out, h, GPT_HEADER_MIN);
	for (int k = 0; k < 8; k++)
		out[GPT_HEADER_MIN + k] = (uint8_t)(used >> (8 * k));
	p = out + GPT_HEADER_MIN + 8;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = head + entries_lba * PROBE_GPT_SECTOR + (size_t)i * esize;

		if (memcmp(e, zero, 16) == 0)
			continue;
		memcpy(p, e, esize);
		p += esize;
	}
	*ret = out;
	*ret_len = (size_t)(p - out);
	return 0;
}
