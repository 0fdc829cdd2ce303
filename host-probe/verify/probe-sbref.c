/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "sc-openssl.h"
#include "probe-evidence.h"
#include "probe-sbref.h"
#include "sc-esl.h"
#include "sc-fileio.h"
#include "sc-macro.h"
#include "sc-why.h"

#define SB_ENTRIES_MAX 64

/* EFI_CERT_X509_GUID a5c059a1-94e4-4aa7-87b5-ab155c2bf072, EFI_CERT_SHA256_GUID c1c41626-504c-4092-aca9-41f936934328. */
static const uint8_t cert_x509_guid[16] = { 0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
					    0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72 };
static const uint8_t cert_sha256_guid[16] = { 0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40,
					      0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28 };
/* OvmfEnrollDefaultKeys a0baa8a3-041d-48a8-bc87-c36d121b5e3d (virt/firmware/efi/guids.py). */
static const uint8_t ovmf_enroll_default_keys[16] = { 0xa3, 0xa8, 0xba, 0xa0, 0x1d, 0x04, 0xa8, 0x48,
						      0xbc, 0x87, 0xc3, 0x6d, 0x12, 0x1b, 0x5e, 0x3d };

/* fail(r, why, why_size, fmt, ...): the reason into @why, @r returned (common/sc-why.h). */
#define fail sc_why

const char *probe_sb_var_name(enum probe_sb_var v)
{
	static const char *const names[] = { "PK", "KEK", "db", "dbx" };

	return v < _PROBE_SB_VAR_MAX ? names[v] : "?";
}

/* Owned by root or by us, writable by nobody else. */
static int check_owner(const char *path, const struct stat *st, char *why, size_t why_size)
{
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return fail(-EPERM, why, why_size, "%s: owned by uid %u, neither root nor this user", path,
			    (unsigned)st->st_uid);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return fail(-EPERM, why, why_size, "%s: writable by %s (mode %04o): others could change what SEALED means",
			    path, st->st_mode & S_IWOTH ? "everyone" : "its group", (unsigned)(st->st_mode & 07777));
	return 0;
}

/* "8-4-4-4-12" hex into the EFI byte order (the first three fields little-endian). */
static int parse_guid(const char *s, size_t len, uint8_t out[16])
{
	static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
	uint8_t b[16];
	size_t k = 0;

	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
		len--;
	if (len != 36)
		return -EBADMSG;
	for (size_t i = 0; i < 36;) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return -EBADMSG;
			continue;
		}
		hi = OPENSSL_hexchar2int((unsigned char)s[i]);
		lo = OPENSSL_hexchar2int((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EBADMSG;
		b[k++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	for (size_t i = 0; i < 16; i++)
		out[i] = b[order[i]];
	return 0;
}

/* One EFI_SIGNATURE_LIST of one entry: type, sizes, owner, data. */
static int one_entry_list(const uint8_t type[16], const uint8_t owner[16], const uint8_t *data, size_t len,
			  uint8_t **ret, size_t *ret_len)
{
	size_t size = 16 + len, total = 28 + size;
	uint8_t *l;

	if (len > 64 * 1024)
		return -EMSGSIZE;
	l = malloc(total);
	if (!l)
		return -ENOMEM;
	memcpy(l, type, 16);
	for (unsigned i = 0; i < 4; i++) {
		l[16 + i] = (uint8_t)(total >> (8 * i));
		l[20 + i] = 0;
		l[24 + i] = (uint8_t)(size >> (8 * i));
	}
	memcpy(l + 28, owner, 16);
	memcpy(l + 44, data, len);
	*ret = l;
	*ret_len = total;
	return 0;
}

void probe_sb_reference_done(struct probe_sb_reference *r)
{
	for (unsigned i = 0; i < _PROBE_SB_VAR_MAX; i++) {
		free(r->esl[i]);
		r->esl[i] = NULL;
		r->esl_len[i] = 0;
	}
}

/*
 * A key file that is a symbolic link: rhel-bootc-examples' util/keys.py writes sb-PK.crt and makes PK.crt
 * a link to it (and KEK.crt, db.crt the same), the directory users hand to `bcvk --secure-boot-keys`.
 * Taken only as a link of the directory's owner to a plain name in the same directory (no '/', not "."
 * or ".."), itself opened without following links: one step, never out of the checked directory.
 */
static int open_key_link(int dfd, const char *path, const char *name, char *why, size_t why_size)
{
	char target[256];
	struct stat lst;
	ssize_t n;
	int fd, k;

	if (fstatat(dfd, name, &lst, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(-errno, why, why_size, "%s: %s", path, strerror(errno));
	/* A link's own mode is always 0777 and never consulted (symlink(7)): its owner is what counts. */
	lst.st_mode &= ~(mode_t)(S_IWGRP | S_IWOTH);
	k = check_owner(path, &lst, why, why_size);
	if (k < 0)
		return k;
	n = readlinkat(dfd, name, target, sizeof(target));
	if (n < 0)
		return fail(-errno, why, why_size, "%s: %s", path, strerror(errno));
	if ((size_t)n >= sizeof(target) || n == 0 || memchr(target, '/', (size_t)n) || memchr(target, '\0', (size_t)n) ||
	    (n == 1 && target[0] == '.') || (n == 2 && target[0] == '.' && target[1] == '.'))
		return fail(-ELOOP, why, why_size,
			    "%s: a symbolic link out of the key directory (only a link to a file beside it, as "
			    "rhel-bootc-examples' PK.crt -> sb-PK.crt, is taken)", path);
	target[n] = '\0';
	fd = openat(dfd, target, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return fail(-errno, why, why_size, "%s -> %s: %s", path, target,
			    errno == ELOOP ? "a link to a link (one step only)" : strerror(errno));
	return fd;
}

/* @name in the directory @dfd: a regular file (or one link to a file beside it: open_key_link()), owned as
 * check_owner() wants, read through the descriptor that was checked (no window for a rename between the check
 * and the read). */
static int read_key_file(int dfd, const char *dir, const char *name, size_t cap, char **ret, size_t *ret_len,
			 char *why, size_t why_size)
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	char path[600];
	struct stat st;
	int k;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (fd < 0 && errno == ELOOP) {
		fd = open_key_link(dfd, path, name, why, why_size);
		if (fd < 0)
			return fd;
	} else if (fd < 0)
		return fail(-errno, why, why_size, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return fail(-errno, why, why_size, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(-EINVAL, why, why_size, "%s: not a regular file", path);
	k = check_owner(path, &st, why, why_size);
	if (k < 0)
		return k;
	k = sc_read_fd_capped(fd, cap, ret, ret_len);
	if (k < 0)
		return fail(k, why, why_size, "%s: %s", path, k == -EFBIG ? "too large" : strerror(-k));
	return 0;
}

int probe_sb_reference_load(const char *dir, struct probe_sb_reference *ret, char *why, size_t why_size)
{
	static const char *const files[] = { "PK.crt", "KEK.crt", "db.crt" };
	struct probe_sb_reference r = { { 0 } };
	_cleanup_free_ char *guid_text = NULL;
	_cleanup_close_ int dfd = -1;
	uint8_t owner[16], empty_sha256[32];
	struct stat st;
	size_t len;
	int k;

	if (!dir || !dir[0])
		return fail(-EINVAL, why, why_size, "no Secure Boot key directory");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail(-errno, why, why_size, "%s: %s", dir, strerror(errno));
	if (fstat(dfd, &st) < 0)
		return fail(-errno, why, why_size, "%s: %s", dir, strerror(errno));
	k = check_owner(dir, &st, why, why_size);
	if (k < 0)
		return k;
	k = read_key_file(dfd, dir, "GUID.txt", 128, &guid_text, &len, why, why_size);
	if (k < 0)
		return k;
	if (parse_guid(guid_text, len, owner) < 0)
		return fail(-EBADMSG, why, why_size, "%s/GUID.txt: not a GUID (8-4-4-4-12 hex digits)", dir);
	for (unsigned i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ uint8_t *der = NULL;
		_cleanup_free_ char *text = NULL;
		size_t der_len = 0, text_len = 0;

		k = read_key_file(dfd, dir, files[i], 64 * 1024, &text, &text_len, why, why_size);
		if (k >= 0 && probe_cert_der_mem(text, text_len, &der, &der_len) < 0)
			k = fail(-EBADMSG, why, why_size, "%s/%s: not a certificate (PEM or DER)", dir, files[i]);
		if (k >= 0)
			k = one_entry_list(cert_x509_guid, owner, der, der_len, &r.esl[i], &r.esl_len[i]);
		if (k < 0) {
			probe_sb_reference_done(&r);
			return k == -ENOMEM ? fail(k, why, why_size, "out of memory") : k;
		}
	}
	if (EVP_Digest("", 0, empty_sha256, NULL, EVP_sha256(), NULL) != 1 ||
	    one_entry_list(cert_sha256_guid, ovmf_enroll_default_keys, empty_sha256, 32, &r.esl[PROBE_SB_DBX],
			   &r.esl_len[PROBE_SB_DBX]) < 0) {
		probe_sb_reference_done(&r);
		return fail(-ENOMEM, why, why_size, "out of memory");
	}
	*ret = r;
	return 0;
}

struct entries {
	size_t n;
	struct sc_esl_entry e[SB_ENTRIES_MAX];
	bool overflow;
};

static int collect(const struct sc_esl_entry *e, void *userdata)
{
	struct entries *l = userdata;

	if (l->n >= SB_ENTRIES_MAX) {
		l->overflow = true;
		return -E2BIG;
	}
	l->e[l->n++] = *e;
	return 0;
}

/* A certificate by its subject (RFC 2253, escaped), anything else by type and the SHA-256 of its data. */
static void describe(const struct sc_esl_entry *e, char *out, size_t out_size)
{
	uint8_t h[32];
	char hex[17];

	if (memcmp(e->type, cert_x509_guid, 16) == 0) {
		const unsigned char *p = e->data;
		_cleanup_(X509_freep) X509 *x = d2i_X509(NULL, &p, (long)e->len);

		if (x && p == e->data + e->len) {
			_cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
			char *mem = NULL;
			long n = 0;

			if (b && X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
						    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0)
				n = BIO_get_mem_data(b, &mem);
			/* Only printable ASCII reaches the message. */
			if (n > 0) {
				size_t o = (size_t)snprintf(out, out_size, "the certificate \"");

				for (long i = 0; i < n && o + 3 < out_size && i < 120; i++)
					out[o++] = mem[i] >= 0x20 && mem[i] < 0x7f ? mem[i] : '?';
				snprintf(out + o, out_size - o, "\"");
			} else
				snprintf(out, out_size, "a certificate with no printable subject");
			return;
		}
		EVP_Digest(e->data, e->len, h, NULL, EVP_sha256(), NULL);
		for (int i = 0; i < 8; i++)
			sprintf(hex + 2 * i, "%02x", h[i]);
		snprintf(out, out_size, "an X.509 entry that is no certificate (SHA-256 %s...)", hex);
		return;
	}
	EVP_Digest(e->data, e->len, h, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 8; i++)
		sprintf(hex + 2 * i, "%02x", h[i]);
	snprintf(out, out_size, "%s entry %s%zu bytes, SHA-256 %s...",
		 memcmp(e->type, cert_sha256_guid, 16) == 0 ? "an EFI_CERT_SHA256" : "an entry of another signature type",
		 memcmp(e->type, cert_sha256_guid, 16) == 0 ? "" : "of ", e->len, hex);
	if (memcmp(e->type, cert_sha256_guid, 16) == 0 && e->len == 32) {
		for (int i = 0; i < 8; i++)
			sprintf(hex + 2 * i, "%02x", e->data[i]);
		snprintf(out, out_size, "the EFI_CERT_SHA256 entry %s...", hex);
	}
}

static bool same_entry(const struct sc_esl_entry *a, const struct sc_esl_entry *b)
{
	return memcmp(a->type, b->type, 16) == 0 && memcmp(a->owner, b->owner, 16) == 0 && a->len == b->len &&
	       memcmp(a->data, b->data, a->len) == 0;
}

int probe_sb_compare(const struct probe_sb_reference *r, enum probe_sb_var v, const uint8_t *measured, size_t len,
		     char *why, size_t why_size)
{
	struct entries *have = calloc(1, sizeof(*have)), *want = calloc(1, sizeof(*want));
	struct sc_esl_summary s;
	const char *name = probe_sb_var_name(v);
	char d[200];
	int k = 0;

	if (!have || !want) {
		k = fail(-ENOMEM, why, why_size, "out of memory");
		goto out;
	}
	if (sc_esl_parse(r->esl[v], r->esl_len[v], collect, want, &s) < 0 || s.malformed) {
		k = fail(-EINVAL, why, why_size, "PCR 7: the reference %s does not parse", name);
		goto out;
	}
	k = sc_esl_parse(measured, len, collect, have, &s);
	if (k < 0 || s.malformed) {
		k = fail(have->overflow ? -EPERM : -EBADMSG, why, why_size, "PCR 7: the measured %s %s", name,
			 have->overflow ? "has more than 64 entries" : "is not a well-formed signature list");
		goto out;
	}
	for (size_t i = 0; i < have->n || i < want->n; i++) {
		if (i < have->n && i < want->n && same_entry(&have->e[i], &want->e[i]))
			continue;
		if (i >= want->n) {
			describe(&have->e[i], d, sizeof(d));
			k = fail(-EPERM, why, why_size, "PCR 7: %s holds %s, which the host did not enroll (%zu entries, %zu enrolled)",
				 name, d, have->n, want->n);
		} else if (i >= have->n) {
			describe(&want->e[i], d, sizeof(d));
			k = fail(-EPERM, why, why_size, "PCR 7: %s lacks %s, which the host enrolled (%zu entries, %zu enrolled)",
				 name, d, have->n, want->n);
		} else {
			char d2[200];

			describe(&have->e[i], d, sizeof(d));
			describe(&want->e[i], d2, sizeof(d2));
			k = fail(-EPERM, why, why_size, "PCR 7: %s entry %zu is %s%s, not %s, which the host enrolled", name,
				 i + 1, d, memcmp(have->e[i].owner, want->e[i].owner, 16) == 0 ? "" : " (or another owner GUID)",
				 d2);
		}
		goto out;
	}
	/* The same entries: the same bytes too, as virt-fw-vars writes them (one list per entry, no
	 * signature header). Another grouping, a header or an empty list is another variable. */
	if (len != r->esl_len[v] || memcmp(measured, r->esl[v], len) != 0)
		k = fail(-EPERM, why, why_size,
			 "PCR 7: %s holds the enrolled entries in another layout (%zu bytes, %zu enrolled): lists grouped "
			 "otherwise, a signature header or an empty list",
			 name, len, r->esl_len[v]);
out:
	free(have);
	free(want);
	return k;
}

static X509 *x509_of(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);

	if (x && p != der + len) {
		X509_free(x);
		return NULL;
	}
	return x;
}

int probe_sb_db_authority(const struct probe_sb_reference *r, const struct probe_pe_cert *chain, size_t n,
			  const uint8_t **ret, size_t *ret_len)
{
	struct entries *db = calloc(1, sizeof(*db));
	struct sc_esl_summary s;
	int k = -ENOENT;

	if (!db)
		return -ENOMEM;
	if (sc_esl_parse(r->esl[PROBE_SB_DB], r->esl_len[PROBE_SB_DB], collect, db, &s) < 0 || s.malformed) {
		free(db);
		return -EINVAL;
	}
	for (size_t i = 0; i < db->n && k == -ENOENT; i++) {
		_cleanup_(X509_freep) X509 *ca = NULL;

		if (memcmp(db->e[i].type, cert_x509_guid, 16) != 0 || !(ca = x509_of(db->e[i].data, db->e[i].len)))
			continue;
		for (size_t c = 0; c < n && k == -ENOENT; c++) {
			bool match = chain[c].len == db->e[i].len && memcmp(chain[c].der, db->e[i].data, chain[c].len) == 0;

			/* The db entry is a chain certificate, or the issuer of the chain's top (a root the
			 * signature does not carry), its signature verified. */
			if (!match && c + 1 == n) {
				_cleanup_(X509_freep) X509 *x = x509_of(chain[c].der, chain[c].len);

				match = x && X509_check_issued(ca, x) == X509_V_OK &&
					X509_verify(x, X509_get0_pubkey(ca)) == 1;
			}
			if (match) {
				*ret = db->e[i].owner; /* EFI_SIGNATURE_DATA: the owner, then the data */
				*ret_len = 16 + db->e[i].len;
				k = 0;
			}
		}
	}
	free(db);
	return k;
}
