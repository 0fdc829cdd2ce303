/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <limits.h>

#include "sc-checks.h"
#include "sc-efivars.h"
#include "sc-esl.h"
#include "sc-json.h"

const char *sc_sb_mode_name(enum sc_sb_mode m)
{
	static const char *const names[] = {
		[SC_SB_UNSUPPORTED] = "unsupported", [SC_SB_DISABLED] = "disabled", [SC_SB_SETUP] = "setup",
		[SC_SB_AUDIT] = "audit",             [SC_SB_USER] = "user",         [SC_SB_DEPLOYED] = "deployed",
		[SC_SB_UNKNOWN] = "unknown",
	};
	return (unsigned)m < ELEMENTSOF(names) ? names[m] : "unknown";
}

enum sc_sb_mode sc_sb_mode_decode(int sb, int setup, int audit, int deployed)
{
	if (sb < 0)
		return SC_SB_UNSUPPORTED;
	if (sb && deployed && !audit && !setup)
		return SC_SB_DEPLOYED;
	if (sb && !deployed && !audit && !setup)
		return SC_SB_USER;
	if (!sb && !deployed && audit && setup)
		return SC_SB_AUDIT;
	if (!sb && !deployed && !audit && setup)
		return SC_SB_SETUP;
	if (!sb && !deployed && !audit && !setup)
		return SC_SB_DISABLED;
	return SC_SB_UNKNOWN;
}

static const efi_guid_t *guid_loader(void)
{
	static efi_guid_t g;
	static int done;

	if (!done) {
		(void)efi_str_to_guid("4a67b082-0a4c-41cf-b6c7-440b29bb8c4f", &g);
		done = 1;
	}
	return &g;
}

/* Certificate facts: subject and SHA-256 fingerprint of the DER, as `openssl x509 -fingerprint -sha256`. */
static json_t *x509_facts(const uint8_t *der, size_t len, bool *ret_parsed)
{
	_cleanup_json_ json_t *o = json_object();
	const unsigned char *p = der;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hex[EVP_MAX_MD_SIZE * 3 + 1];
	X509 *x;

	*ret_parsed = false;
	if (!o)
		return NULL;
	if (EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) == 1) {
		for (unsigned i = 0; i < mdlen; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		if (sc_json_set(o, "sha256", json_string(hex)) < 0)
			return NULL;
	}
	if (len > LONG_MAX)
		return NULL;
	x = d2i_X509(NULL, &p, (long)len);
	if (x) {
		*ret_parsed = true;
		BIO *b = BIO_new(BIO_s_mem());
		char *s = NULL;
		long n;

		if (b && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
			n = BIO_get_mem_data(b, &s);
			if (n >= 0 && sc_json_set(o, "subject", sc_json_bytes(s, (size_t)n)) < 0) {
				BIO_free(b);
				X509_free(x);
				return NULL;
			}
		}
		BIO_free(b);
		X509_free(x);
	} else if (sc_json_set(o, "subject", json_null()) < 0 ||
		   sc_json_set(o, "problem", json_string("not a parsable X.509 certificate")) < 0)
		return NULL;
	return TAKE_PTR(o);
}

struct esl_collect {
	json_t *certs; /* array */
	size_t n_x509, n_sha256, n_other;
	size_t n_enrolled; /* X.509 entries OpenSSL parses, and SHA-256 entries of 32 bytes */
};

static int collect_entry(const struct sc_esl_entry *e, void *userdata)
{
	struct esl_collect *c = userdata;
	char g[37];
	json_t *f;

	if (memcmp(e->type, &efi_guid_x509_cert, 16) == 0) {
		bool parsed;

		c->n_x509++;
		f = x509_facts(e->data, e->len, &parsed);
		if (!f || sc_json_set(f, "owner", json_string(sc_guid_format(e->owner, g))) < 0 ||
		    json_array_append_new(c->certs, f) < 0)
			return -ENOMEM;
		c->n_enrolled += parsed;
	} else if (memcmp(e->type, &efi_guid_sha256, 16) == 0) {
		c->n_sha256++;
		c->n_enrolled += e->len == 32;
	} else
		c->n_other++;
	return 0;
}

/*
 * One signature database: its certificates into facts[key]. Returns the
 * entries that count as enrolled: an EFI_CERT_X509 entry only when OpenSSL
 * parses its DER, an EFI_CERT_SHA256 entry of 32 bytes; an entry of another
 * signature type, or bytes under the X.509 type that are no certificate,
 * enrol nothing (UEFI 2.10 32.4.1: PK holds an X.509 certificate). Or -errno.
 */
static int read_db(const struct sc_paths *paths, const efi_guid_t *vendor, const char *name, json_t *facts,
		   json_t *problems, bool *malformed)
{
	_cleanup_free_ uint8_t *d = NULL;
	_cleanup_json_ json_t *entry = json_object();
	struct esl_collect col = { .certs = json_array() };
	struct sc_esl_summary s;
	size_t n;
	int r;

	if (!entry || !col.certs) {
		if (col.certs)
			json_decref(col.certs);
		return -ENOMEM;
	}
	r = sc_efivar_read(paths, vendor, name, NULL, &d, &n);
	if (r < 0) {
		json_decref(col.certs);
		if (r == -ENOENT)
			return sc_json_set(facts, name, json_null()) < 0 ? -ENOMEM : 0;
		*malformed = true;
		return json_array_append_new(problems, json_sprintf("%s: %s", name, strerror(-r))) < 0 ? -ENOMEM : 0;
	}
	r = sc_esl_parse(d, n, collect_entry, &col, &s);
	if (r < 0) {
		json_decref(col.certs);
		return r;
	}
	if (s.malformed) {
		*malformed = true;
		if (json_array_append_new(problems, json_sprintf("%s: %s", name, s.problem)) < 0) {
			json_decref(col.certs);
			return -ENOMEM;
		}
	}
	if (sc_json_set(entry, "entries", json_integer((json_int_t)s.n_entries)) < 0 ||
	    sc_json_set(entry, "x509", json_integer((json_int_t)col.n_x509)) < 0 ||
	    sc_json_set(entry, "sha256", json_integer((json_int_t)col.n_sha256)) < 0 ||
	    sc_json_set(entry, "enrolled", json_integer((json_int_t)col.n_enrolled)) < 0 ||
	    sc_json_set(entry, "certificates", col.certs) < 0 || sc_json_set(facts, name, TAKE_PTR(entry)) < 0)
		return -ENOMEM;
	return (int)(col.n_enrolled > INT_MAX ? INT_MAX : col.n_enrolled);
}

static bool dir_has_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	bool any = false;

	if (!d)
		return false;
	while (!any && (de = readdir(d)))
		any = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return any;
}

/* Read one boolean mode variable into facts.variables; -1 absent; ERROR status on malformed. */
static int mode_var(const struct sc_paths *paths, const char *name, json_t *vars, json_t *problems, int *ret)
{
	int v = -1, r;

	r = sc_efivar_read_bool(paths, &efi_guid_global, name, &v);
	if (r == -ENOENT) {
		*ret = -1;
		return sc_json_set(vars, name, json_null());
	}
	if (r < 0) {
		*ret = -2;
		return json_array_append_new(problems, json_sprintf("%s: %s", name,
								   r == -EBADMSG ? "malformed (not one byte of 0 or 1)"
										 : strerror(-r))) < 0
			       ? -ENOMEM
			       : sc_json_set(vars, name, json_string("malformed"));
	}
	*ret = v;
	return sc_json_set(vars, name, json_integer(v));
}

int sc_check_secure_boot(const struct sc_paths *paths, struct sc_check *c)
{
	_cleanup_free_ char *efi_dir = NULL, *vars_dir = NULL;
	_cleanup_json_ json_t *vars = json_object(), *problems = json_array();
	int sb, setup, audit, deployed, moksb = -1, r;
	bool malformed = false, shim_off = false;
	enum sc_sb_mode mode;
	struct stat st;
	int pk_entries, db_entries = -1;

	if (!vars || !problems)
		return -ENOMEM;
	if (sc_path_join(paths, "/sys/firmware/efi", &efi_dir) < 0 ||
	    sc_path_join(paths, SC_EFIVARS_DIR, &vars_dir) < 0)
		return -ENOMEM;

	if (stat(efi_dir, &st) < 0) {
		if (sc_json_set(c->facts, "efi", json_false()) < 0 ||
		    sc_json_set(c->facts, "mode", json_string("unsupported")) < 0 ||
		    sc_json_set(c->facts, "mokutil", json_string("EFI variables are not supported on this system")) < 0)
			return -ENOMEM;
		return sc_check_set(c, SC_STATUS_FAIL, "not booted with UEFI (no %s): Secure Boot unsupported",
				    "/sys/firmware/efi");
	}
	if (sc_json_set(c->facts, "efi", json_true()) < 0)
		return -ENOMEM;
	if (!dir_has_entries(vars_dir))
		return sc_check_set(c, SC_STATUS_ERROR, "efivarfs is not mounted at %s (or is empty)", SC_EFIVARS_DIR);

	r = mode_var(paths, "SecureBoot", vars, problems, &sb);
	if (r >= 0)
		r = mode_var(paths, "SetupMode", vars, problems, &setup);
	if (r >= 0)
		r = mode_var(paths, "AuditMode", vars, problems, &audit);
	if (r >= 0)
		r = mode_var(paths, "DeployedMode", vars, problems, &deployed);
	if (r < 0)
		return r;
	malformed = sb == -2 || setup == -2 || audit == -2 || deployed == -2;

	/* shim: MokSBStateRT present means "SecureBoot validation is disabled in shim". */
	{
		_cleanup_free_ uint8_t *d = NULL;
		size_t n;

		r = sc_efivar_read(paths, &efi_guid_shim, "MokSBStateRT", NULL, &d, &n);
		if (r == 0) {
			shim_off = true;
			moksb = n >= 1 ? d[0] : -1;
		} else if (r != -ENOENT) {
			malformed = true;
			if (json_array_append_new(problems, json_sprintf("MokSBStateRT: %s", strerror(-r))) < 0)
				return -ENOMEM;
		}
	}

	mode = malformed ? SC_SB_UNKNOWN
			 : sc_sb_mode_decode(sb, setup < 0 ? 0 : setup, audit < 0 ? 0 : audit, deployed < 0 ? 0 : deployed);

	pk_entries = read_db(paths, &efi_guid_global, "PK", c->facts, problems, &malformed);
	if (pk_entries >= 0)
		r = read_db(paths, &efi_guid_global, "KEK", c->facts, problems, &malformed);
	if (pk_entries >= 0 && r >= 0)
		r = db_entries = read_db(paths, &efi_guid_security, "db", c->facts, problems, &malformed);
	if (pk_entries >= 0 && r >= 0)
		r = read_db(paths, &efi_guid_security, "dbx", c->facts, problems, &malformed);
	if (pk_entries < 0)
		return pk_entries;
	if (r < 0)
		return r;

	/* Facts as people know them from mokutil and bootctl. */
	{
		const char *mok = sb == 1 && setup != 1 ? "SecureBoot enabled" : "SecureBoot disabled";
		_cleanup_free_ char *line = NULL;

		if (asprintf(&line, "%s%s%s", mok, setup == 1 ? "; Platform is in Setup Mode" : "",
			     shim_off ? "; SecureBoot validation is disabled in shim" : "") < 0)
			return -ENOMEM;
		if (sc_json_set(c->facts, "mode", json_string(sc_sb_mode_name(mode))) < 0 ||
		    sc_json_set(c->facts, "mokutil", json_string(line)) < 0 ||
		    sc_json_set(c->facts, "variables", json_incref(vars)) < 0 ||
		    sc_json_set(c->facts, "shim_validation_disabled", json_boolean(shim_off)) < 0 ||
		    sc_json_set(c->facts, "MokSBStateRT", moksb >= 0 ? json_integer(moksb) : json_null()) < 0 ||
		    sc_json_set(c->facts, "problems", json_incref(problems)) < 0)
			return -ENOMEM;
	}
	{
		/* systemd-stub leaves its mark: which loader measured what. */
		_cleanup_free_ uint8_t *d = NULL;
		size_t n;

		r = sc_efivar_read(paths, guid_loader(), "StubInfo", NULL, &d, &n);
		if (sc_json_set(c->facts, "stub_info", r == 0 && n % 2 == 0 && n <= 1024 ? sc_json_utf16le(d, n) : json_null()) <
		    0)
			return -ENOMEM;
	}

	if (malformed)
		return sc_check_set(c, SC_STATUS_ERROR, "malformed Secure Boot variables: %s",
				    json_string_value(json_array_get(problems, 0)));
	if (mode != SC_SB_USER && mode != SC_SB_DEPLOYED)
		return sc_check_set(c, SC_STATUS_FAIL, "Secure Boot is not enabled (mode: %s)", sc_sb_mode_name(mode));
	if (pk_entries == 0)
		return sc_check_set(c, SC_STATUS_FAIL, "Secure Boot reports %s mode but no PK is enrolled (no parsable X.509 certificate)",
				    sc_sb_mode_name(mode));
	if (db_entries == 0)
		return sc_check_set(c, SC_STATUS_FAIL, "Secure Boot reports %s mode but db enrols nothing (no parsable certificate or hash)",
				    sc_sb_mode_name(mode));
	if (shim_off)
		return sc_check_set(c, SC_STATUS_FAIL, "SecureBoot validation is disabled in shim (MokSBStateRT)");
	return sc_check_set(c, SC_STATUS_PASS, "enabled (%s mode), PK enrolled", sc_sb_mode_name(mode));
}
