/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A strict PE/COFF reader for Unified Kernel Images (the host predicts PCR 11
 * from the UKI's sections, probe-pcr11.h).
 *
 * Reads the DOS header, the PE signature, the COFF header, the optional header
 * (PE32 or PE32+) and the section table; every offset and size is checked
 * against the file and against overflow before use. Refused, each with a
 * message in @why: a file shorter than its headers; e_lfanew below 0x40 or past
 * the end; no "PE\0\0"; zero or more than 96 sections (the PE limit); an
 * optional header too short for its magic or its data directories; a section
 * table past SizeOfHeaders or the file; a section name that is not printable
 * ASCII padded with NULs, or a long name ("/123", a string-table reference:
 * UKIs never use them, so they are refused rather than resolved); raw data
 * before SizeOfHeaders or past the end of the file; VirtualAddress +
 * VirtualSize overflowing or past SizeOfImage; two sections whose raw data
 * or whose virtual ranges overlap; a certificate table (signed UKIs) past the
 * file. Sections of the same name are kept, in PE order: whether a duplicate
 * matters is the caller's decision (probe-pcr11 refuses duplicate measured
 * sections). Never prints.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROBE_PE_FILE_MAX (512u * 1024u * 1024u) /* a UKI with a large initrd is ~100 MiB */
#define PROBE_PE_MAX_SECTIONS 96u                 /* the PE/COFF specification's limit */

struct probe_pe_section {
	char name[9]; /* the 8-byte field, NUL-terminated */
	uint32_t virtual_size;
	uint32_t virtual_address;
	uint32_t size_of_raw_data;
	uint32_t pointer_to_raw_data;
	uint32_t characteristics;
};

struct probe_pe {
	const uint8_t *data; /* the whole file: the caller's buffer, or owned (probe_pe_load) */
	size_t size;
	uint8_t *owned;
	uint16_t machine;
	bool pe32plus;
	uint32_t size_of_image;
	uint32_t size_of_headers;
	uint32_t checksum_offset;  /* file offset of the optional header's CheckSum field */
	uint32_t cert_dir_offset;  /* file offset of the certificate table's data directory entry; 0: none */
	uint32_t cert_table_offset, cert_table_size; /* the certificate table (signatures), a file range; size 0: unsigned */
	unsigned n_sections;
	struct probe_pe_section sections[PROBE_PE_MAX_SECTIONS];
};

/*
 * probe_pe_parse() - parse @len bytes at @buf (not copied: @buf must outlive
 * @ret). Returns 0, -EBADMSG for a malformed file, -EFBIG for one larger than
 * PROBE_PE_FILE_MAX, with @why saying what is wrong.
 */
int probe_pe_parse(const void *buf, size_t len, struct probe_pe *ret, char *why, size_t why_size);

/*
 * probe_pe_load() - read @path (at most PROBE_PE_FILE_MAX bytes) and parse it.
 * Returns 0, or the negative errno of reading (-EFBIG when too large) or of
 * probe_pe_parse(), with @why. Release with probe_pe_done().
 */
int probe_pe_load(const char *path, struct probe_pe *ret, char *why, size_t why_size);

void probe_pe_done(struct probe_pe *pe);

/*
 * probe_pe_section_raw() - the bytes of @s the file holds: min(VirtualSize,
 * SizeOfRawData) from PointerToRawData (already bounds-checked by the parse).
 * The rest up to VirtualSize is zero in memory.
 */
void probe_pe_section_raw(const struct probe_pe *pe, const struct probe_pe_section *s, const uint8_t **ret,
			  size_t *ret_len);

/*
 * probe_pe_authenticode_sha256() - the image's Authenticode SHA-256, as the
 * firmware measures a started EFI application into PCR 4 (TCG PC Client PFP
 * EV_EFI_BOOT_SERVICES_APPLICATION) and as a signature covers it. Follows
 * EDK2's SecurityPkg/Tcg/Tcg2Dxe/MeasurePeImage.c (the Authenticode
 * specification's steps): the headers up to SizeOfHeaders without the
 * CheckSum field and the certificate table's directory entry; each section's
 * raw data in PointerToRawData order; then the bytes after the last section
 * but the certificate table. 0, or -ENOMEM/-EIO.
 */
int probe_pe_authenticode_sha256(const struct probe_pe *pe, uint8_t ret[32]);

#define PROBE_PE_SIGNER_CHAIN_MAX 4

/*
 * probe_pe_signer_chain() - the certificates that sign @pe, from its first
 * WIN_CERTIFICATE (WIN_CERT_TYPE_PKCS_SIGNED_DATA): the PKCS#7 signer's
 * certificate, then its issuers as far as the signature carries them (at
 * most PROBE_PE_SIGNER_CHAIN_MAX), each malloc'd DER in @ret[i]. Nothing is
 * verified here: the firmware verified the signature; the caller only asks
 * which db entry it was verified by. Returns the number of certificates,
 * -ENOENT when @pe is unsigned, -EBADMSG with @why when the table does not parse.
 */
struct probe_pe_cert {
	uint8_t *der;
	size_t len;
};
int probe_pe_signer_chain(const struct probe_pe *pe, struct probe_pe_cert ret[PROBE_PE_SIGNER_CHAIN_MAX], char *why,
			  size_t why_size);
void probe_pe_certs_free(struct probe_pe_cert *certs, size_t n);
