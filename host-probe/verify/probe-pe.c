/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "probe-pe.h"
#include "sc-endian.h"
#include "sc-fileio.h"
#include "sc-macro.h"
#include "sc-why.h"

#define DOS_HEADER_SIZE 64u
#define COFF_HEADER_SIZE 20u
#define SECTION_HEADER_SIZE 40u
#define PE32_MAGIC 0x10bu
#define PE32PLUS_MAGIC 0x20bu
#define DATA_DIR_SECURITY 4u
#define MAX_DATA_DIRS 16u

/* fail(why, why_size, fmt, ...): malformed input, said in @why (common/sc-why.h). */
#define fail(why, why_size, ...) sc_why(-EBADMSG, why, why_size, __VA_ARGS__)

/* The 8-byte name: printable ASCII, then only NULs; no "/N" string-table reference. */
static int section_name(const uint8_t *p, char ret[9])
{
	size_t n = 0;

	while (n < 8 && p[n] != 0) {
		if (p[n] < 0x21 || p[n] > 0x7e)
			return -EBADMSG;
		n++;
	}
	if (n == 0 || p[0] == '/')
		return -EBADMSG;
	for (size_t i = n; i < 8; i++)
		if (p[i] != 0)
			return -EBADMSG;
	memcpy(ret, p, n);
	ret[n] = 0;
	return 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen > 0 && blen > 0 && a < b + blen && b < a + alen;
}

int probe_pe_parse(const void *buf, size_t len, struct probe_pe *ret, char *why, size_t why_size)
{
	const uint8_t *d = buf;
	uint32_t lfanew, opt_off, opt_size, sec_off, n_dirs, dirs_off;
	uint16_t magic, n_sections;
	struct probe_pe pe = { 0 };

	if (why && why_size)
		why[0] = 0;
	if (len > PROBE_PE_FILE_MAX) {
		fail(why, why_size, "larger than %u bytes", PROBE_PE_FILE_MAX);
		return -EFBIG;
	}
	if (!d || len < DOS_HEADER_SIZE)
		return fail(why, why_size, "%zu bytes: shorter than a DOS header (64)", len);
	if (d[0] != 'M' || d[1] != 'Z')
		return fail(why, why_size, "no DOS header (\"MZ\")");
	lfanew = sc_le32(d + 0x3c);
	/* 64-bit arithmetic from here: lfanew and every size are 32-bit, their sums cannot wrap. */
	if (lfanew < DOS_HEADER_SIZE || (uint64_t)lfanew + 4 + COFF_HEADER_SIZE > len)
		return fail(why, why_size, "e_lfanew %#x out of range (file of %zu bytes)", lfanew, len);
	if (memcmp(d + lfanew, "PE\0\0", 4) != 0)
		return fail(why, why_size, "no PE signature at e_lfanew %#x", lfanew);

	pe.machine = sc_le16(d + lfanew + 4);
	n_sections = sc_le16(d + lfanew + 6);
	opt_size = sc_le16(d + lfanew + 20);
	if (n_sections == 0 || n_sections > PROBE_PE_MAX_SECTIONS)
		return fail(why, why_size, "%u sections (1 to %u allowed)", n_sections, PROBE_PE_MAX_SECTIONS);
	opt_off = lfanew + 4 + COFF_HEADER_SIZE;
	if ((uint64_t)opt_off + opt_size > len)
		return fail(why, why_size, "optional header of %u bytes past the end of the file", opt_size);
	if (opt_size < 2)
		return fail(why, why_size, "optional header of %u bytes: no magic", opt_size);
	magic = sc_le16(d + opt_off);
	if (magic == PE32PLUS_MAGIC) {
		pe.pe32plus = true;
		dirs_off = 112;
	} else if (magic == PE32_MAGIC) {
		dirs_off = 96;
	} else
		return fail(why, why_size, "optional header magic %#x is neither PE32 nor PE32+", magic);
	if (opt_size < dirs_off)
		return fail(why, why_size, "optional header of %u bytes: shorter than its fixed fields (%u)", opt_size,
			    dirs_off);
	pe.checksum_offset = opt_off + 64;
	pe.size_of_image = sc_le32(d + opt_off + 56);
	pe.size_of_headers = sc_le32(d + opt_off + 60);
	n_dirs = sc_le32(d + opt_off + dirs_off - 4);
	if (n_dirs > MAX_DATA_DIRS || (uint64_t)dirs_off + 8ull * n_dirs > opt_size)
		return fail(why, why_size, "%u data directories do not fit the optional header of %u bytes", n_dirs,
			    opt_size);
	sec_off = opt_off + opt_size;
	if ((uint64_t)sec_off + (uint64_t)n_sections * SECTION_HEADER_SIZE > len)
		return fail(why, why_size, "section table (%u sections) past the end of the file", n_sections);
	if ((uint64_t)sec_off + (uint64_t)n_sections * SECTION_HEADER_SIZE > pe.size_of_headers)
		return fail(why, why_size, "section table past SizeOfHeaders (%#x)", pe.size_of_headers);
	if (pe.size_of_headers > len)
		return fail(why, why_size, "SizeOfHeaders %#x past the end of the file", pe.size_of_headers);

	if (n_dirs > DATA_DIR_SECURITY) {
		/* The certificate table is a file offset, not an RVA (PE/COFF 4.7). */
		uint32_t off = sc_le32(d + opt_off + dirs_off + 8 * DATA_DIR_SECURITY);
		uint32_t size = sc_le32(d + opt_off + dirs_off + 8 * DATA_DIR_SECURITY + 4);

		if (size > 0 && ((uint64_t)off + size > len || off < pe.size_of_headers))
			return fail(why, why_size, "certificate table at %#x (%u bytes) outside the file", off, size);
		pe.cert_dir_offset = opt_off + dirs_off + 8 * DATA_DIR_SECURITY;
		if (size > 0) {
			pe.cert_table_offset = off;
			pe.cert_table_size = size;
		}
	}

	for (unsigned i = 0; i < n_sections; i++) {
		const uint8_t *h = d + sec_off + (size_t)i * SECTION_HEADER_SIZE;
		struct probe_pe_section *s = &pe.sections[i];

		if (section_name(h, s->name) < 0) {
			if (h[0] == '/')
				return fail(why, why_size,
					    "section %u: a long name (string table reference), which UKIs never use", i);
			return fail(why, why_size, "section %u: name is not printable ASCII padded with NULs", i);
		}
		s->virtual_size = sc_le32(h + 8);
		s->virtual_address = sc_le32(h + 12);
		s->size_of_raw_data = sc_le32(h + 16);
		s->pointer_to_raw_data = sc_le32(h + 20);
		s->characteristics = sc_le32(h + 36);
		if (s->size_of_raw_data > 0) {
			if (s->pointer_to_raw_data < pe.size_of_headers)
				return fail(why, why_size, "section %s: raw data at %#x inside the headers", s->name,
					    s->pointer_to_raw_data);
			if ((uint64_t)s->pointer_to_raw_data + s->size_of_raw_data > len)
				return fail(why, why_size, "section %s: raw data %#x+%#x past the end of the file (%zu bytes)",
					    s->name, s->pointer_to_raw_data, s->size_of_raw_data, len);
		}
		if ((uint64_t)s->virtual_address + s->virtual_size > pe.size_of_image)
			return fail(why, why_size, "section %s: VirtualAddress %#x + VirtualSize %#x past SizeOfImage %#x",
				    s->name, s->virtual_address, s->virtual_size, pe.size_of_image);
		if (s->virtual_size > 0 && s->virtual_address < pe.size_of_headers)
			return fail(why, why_size, "section %s: VirtualAddress %#x inside the headers", s->name,
				    s->virtual_address);
		for (unsigned j = 0; j < i; j++) {
			const struct probe_pe_section *o = &pe.sections[j];

			if (ranges_overlap(s->pointer_to_raw_data, s->size_of_raw_data, o->pointer_to_raw_data,
					   o->size_of_raw_data))
				return fail(why, why_size, "sections %s and %s: raw data overlaps", o->name, s->name);
			if (ranges_overlap(s->virtual_address, s->virtual_size, o->virtual_address, o->virtual_size))
				return fail(why, why_size, "sections %s and %s: virtual ranges overlap", o->name, s->name);
		}
	}
	{
		/* The COFF symbol table and the string table after it (objcopy keeps them): inside the file.
		 * PointerToSymbolTable 0 is no table (PE/COFF 3.3), whatever NumberOfSymbols says: Linux's
		 * x86 EFI header (arch/x86/boot/header.S) says 0 and 1. */
		uint32_t sym_off = sc_le32(d + lfanew + 12), n_syms = sc_le32(d + lfanew + 16);

		if (sym_off != 0) {
			uint64_t str_off = (uint64_t)sym_off + 18ull * n_syms;

			if (sym_off < DOS_HEADER_SIZE || str_off + 4 > len || str_off + sc_le32(d + str_off) > len)
				return fail(why, why_size, "COFF symbol table at %#x (%u symbols) outside the file", sym_off,
					    n_syms);
		}
	}
	pe.n_sections = n_sections;
	pe.data = d;
	pe.size = len;
	*ret = pe;
	return 0;
}

int probe_pe_load(const char *path, struct probe_pe *ret, char *why, size_t why_size)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	r = sc_read_file_capped(path, PROBE_PE_FILE_MAX, &buf, &len);
	if (r < 0) {
		if (why && why_size) {
			if (r == -EFBIG)
				snprintf(why, why_size, "larger than %u bytes", PROBE_PE_FILE_MAX);
			else
				snprintf(why, why_size, "cannot read it: %s", strerror(-r));
		}
		return r;
	}
	r = probe_pe_parse(buf, len, ret, why, why_size);
	if (r < 0)
		return r;
	ret->owned = (uint8_t *)TAKE_PTR(buf);
	ret->data = ret->owned;
	return 0;
}

void probe_pe_done(struct probe_pe *pe)
{
	if (!pe)
		return;
	free(pe->owned);
	pe->owned = NULL;
	pe->data = NULL;
	pe->size = 0;
	pe->n_sections = 0;
}

void probe_pe_section_raw(const struct probe_pe *pe, const struct probe_pe_section *s, const uint8_t **ret,
			  size_t *ret_len)
{
	size_t n = s->virtual_size < s->size_of_raw_data ? s->virtual_size : s->size_of_raw_data;

	*ret = n > 0 ? pe->data + s->pointer_to_raw_data : pe->data;
	*ret_len = n;
}

static int hash_range(EVP_MD_CTX *ctx, const struct probe_pe *pe, uint64_t from, uint64_t to)
{
	if (to < from || to > pe->size)
		return -EIO;
	return EVP_DigestUpdate(ctx, pe->data + from, (size_t)(to - from)) == 1 ? 0 : -EIO;
}

int probe_pe_authenticode_sha256(const struct probe_pe *pe, uint8_t ret[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned order[PROBE_PE_MAX_SECTIONS], n = 0;
	uint64_t hashed;
	unsigned out_len = 0;
	int r = -EIO;

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	/* The headers: up to CheckSum, then past it to the certificate directory entry (if the optional
	 * header has one), then past that to SizeOfHeaders (parse checked all of them lie inside). */
	if (hash_range(ctx, pe, 0, pe->checksum_offset) < 0)
		goto out;
	if (pe->cert_dir_offset) {
		if (hash_range(ctx, pe, (uint64_t)pe->checksum_offset + 4, pe->cert_dir_offset) < 0 ||
		    hash_range(ctx, pe, (uint64_t)pe->cert_dir_offset + 8, pe->size_of_headers) < 0)
			goto out;
	} else if (hash_range(ctx, pe, (uint64_t)pe->checksum_offset + 4, pe->size_of_headers) < 0)
		goto out;
	hashed = pe->size_of_headers;
	/* Sections with raw data, by PointerToRawData (a stable insertion sort, as EDK2 does). */
	for (unsigned i = 0; i < pe->n_sections; i++) {
		unsigned j;

		if (pe->sections[i].size_of_raw_data == 0)
			continue;
		for (j = n; j > 0 && pe->sections[order[j - 1]].pointer_to_raw_data > pe->sections[i].pointer_to_raw_data;
		     j--)
			order[j] = order[j - 1];
		order[j] = i;
		n++;
	}
	for (unsigned k = 0; k < n; k++) {
		const struct probe_pe_section *s = &pe->sections[order[k]];

		if (hash_range(ctx, pe, s->pointer_to_raw_data, (uint64_t)s->pointer_to_raw_data + s->size_of_raw_data) < 0)
			goto out;
		hashed += s->size_of_raw_data;
	}
	/* What follows, but the certificate table (EDK2: ImageSize - CertSize - SumOfBytesHashed). */
	if (pe->size > hashed) {
		uint64_t cert = pe->cert_table_size;

		if (pe->size > hashed + cert && hash_range(ctx, pe, hashed, pe->size - cert) < 0)
			goto out;
	}
	if (EVP_DigestFinal_ex(ctx, ret, &out_len) != 1 || out_len != 32)
		goto out;
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

void probe_pe_certs_free(struct probe_pe_cert *certs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(certs[i].der);
		certs[i].der = NULL;
		certs[i].len = 0;
	}
}

static int cert_der(X509 *x, struct probe_pe_cert *ret)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);

	if (n <= 0)
		return -EBADMSG;
	ret->der = malloc((size_t)n);
	if (!ret->der) {
		OPENSSL_free(der);
		return -ENOMEM;
	}
	memcpy(ret->der, der, (size_t)n);
	ret->len = (size_t)n;
	OPENSSL_free(der);
	return 0;
}

int probe_pe_signer_chain(const struct probe_pe *pe, struct probe_pe_cert ret[PROBE_PE_SIGNER_CHAIN_MAX], char *why,
			  size_t why_size)
{
	const uint8_t *w, *p;
	uint32_t wlen;
	PKCS7 *p7 = NULL;
	STACK_OF(X509) *signers = NULL, *certs;
	X509 *cur;
	int n = 0, r;

	if (pe->cert_table_size == 0)
		return -ENOENT;
	/* WIN_CERTIFICATE: dwLength, wRevision 0x0200, wCertificateType 0x0002 (PKCS_SIGNED_DATA), bCertificate. */
	w = pe->data + pe->cert_table_offset;
	if (pe->cert_table_size < 8)
		return fail(why, why_size, "certificate table of %u bytes", pe->cert_table_size);
	wlen = sc_le32(w);
	if (wlen < 8 || wlen > pe->cert_table_size || sc_le16(w + 4) != 0x0200 || sc_le16(w + 6) != 0x0002)
		return fail(why, why_size, "the first WIN_CERTIFICATE is not a PKCS#7 signature (length %u, revision %#x, type %#x)",
			    wlen, sc_le16(w + 4), sc_le16(w + 6));
	p = w + 8;
	p7 = d2i_PKCS7(NULL, &p, (long)(wlen - 8));
	if (!p7 || !PKCS7_type_is_signed(p7))
		r = fail(why, why_size, "the signature is not PKCS#7 SignedData");
	else if (!(signers = PKCS7_get0_signers(p7, NULL, 0)) || sk_X509_num(signers) != 1)
		r = fail(why, why_size, "the signature does not carry exactly one signer's certificate");
	else {
		certs = p7->d.sign->cert;
		cur = sk_X509_value(signers, 0);
		r = 0;
		while (cur && n < PROBE_PE_SIGNER_CHAIN_MAX) {
			X509 *next = NULL;

			r = cert_der(cur, &ret[n]);
			if (r < 0)
				break;
			n++;
			if (X509_check_issued(cur, cur) == X509_V_OK)
				break; /* self-signed: the top */
			for (int i = 0; i < sk_X509_num(certs); i++)
				if (X509_check_issued(sk_X509_value(certs, i), cur) == X509_V_OK) {
					next = sk_X509_value(certs, i);
					break;
				}
			cur = next;
		}
	}
	sk_X509_free(signers);
	PKCS7_free(p7);
	if (r < 0) {
		probe_pe_certs_free(ret, (size_t)n);
		return r;
	}
	return n;
}
