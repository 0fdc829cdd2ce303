/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sc-cmdline.h"
#include "sc-macro.h"

static bool is_kernel_space(char c)
{
	/* The kernel's isspace(); NUL cannot occur in a real cmdline, treat it as a separator. */
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == '\0';
}

int sc_cmdline_next(const char **pos, const char *end, const char **tok, size_t *tok_len)
{
	const char *p = *pos, *start;
	bool in_quote = false;

	while (p < end && is_kernel_space(*p))
		p++;
	if (p >= end) {
		*pos = p;
		return 0;
	}
	start = p;
	for (; p < end; p++) {
		if (*p == '"')
			in_quote = !in_quote;
		else if (!in_quote && is_kernel_space(*p))
			break;
	}
	*pos = p;
	if (p - start == 2 && start[0] == '-' && start[1] == '-') {
		/* Stay on the "--": the caller can tell init arguments from the end of input. */
		*pos = start;
		return 0;
	}
	*tok = start;
	*tok_len = (size_t)(p - start);
	return 1;
}

const char *sc_seal_kind_name(enum sc_seal_kind kind)
{
	switch (kind) {
	case SC_SEAL_COMPOSEFS:
		return "composefs";
	case SC_SEAL_DMVERITY:
		return "dm-verity";
	default:
		return "none";
	}
}

void sc_seal_cmdline_done(struct sc_seal_cmdline *c)
{
	for (size_t i = 0; i < c->n_params; i++) {
		free(c->params[i].key);
		free(c->params[i].value);
	}
	c->n_params = 0;
}

enum key_kind { KEY_OTHER, KEY_COMPOSEFS, KEY_COMPOSEFS_DIGEST, KEY_ROOTHASH, KEY_USRHASH, KEY_VERITY_OFF };

static enum key_kind classify(const char *k, size_t kl)
{
	static const struct {
		const char *name;
		enum key_kind kind;
	} keys[] = {
		{ "composefs", KEY_COMPOSEFS },
		{ "composefs.digest", KEY_COMPOSEFS_DIGEST },
		{ "roothash", KEY_ROOTHASH },
		{ "usrhash", KEY_USRHASH },
		/* The demo initramfs's test-only switch (host-probe/builder/initramfs-init.sh mounts
		 * the root without verity=require when it sees sealtest.verity=off). */
		{ "sealtest.verity", KEY_VERITY_OFF },
	};

	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		if (strlen(keys[i].name) == kl && memcmp(keys[i].name, k, kl) == 0)
			return keys[i].kind;
	return KEY_OTHER;
}

/* Record the most serious problem; the first of equal seriousness wins. */
_printf_(3, 4) static void problem(struct sc_seal_cmdline *c, enum sc_cmdline_problem p, const char *fmt, ...)
{
	static const int rank[] = {
		[SC_CMDLINE_OK] = 0,        [SC_CMDLINE_INSECURE] = 1, [SC_CMDLINE_NO_SEAL] = 2,
		[SC_CMDLINE_AMBIGUOUS] = 3, [SC_CMDLINE_MALFORMED] = 4,
	};
	va_list ap;

	if (rank[p] <= rank[c->problem])
		return;
	c->problem = p;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

static int record_param(struct sc_seal_cmdline *c, const char *k, size_t kl, const char *v, size_t vl, bool has_v)
{
	struct sc_cmdline_param *p;

	c->n_params_total++;
	if (c->n_params >= SC_CMDLINE_MAX_PARAMS)
		return 0;
	p = &c->params[c->n_params];
	p->key = strndup(k, kl);
	p->value = has_v ? strndup(v, vl) : NULL;
	if (!p->key || (has_v && !p->value)) {
		free(p->key);
		free(p->value);
		return -ENOMEM;
	}
	p->used = true;
	c->n_params++;
	return 0;
}

/* Parse "[?]<hex>" (composefs=) or "[?]v<N>-<alg>-<log2>:<hex>" (composefs.digest=). */
static int parse_composefs_value(const char *v, size_t vl, bool self_describing, struct sc_cmdline_digest *ret,
				 char *why, size_t why_size)
{
	struct sc_cmdline_digest d = { .version = 2, .log2_blocksize = 12 };
	enum sc_hash_alg alg = SC_HASH_NONE;
	int r;

	if (memchr(v, '"', vl)) {
		snprintf(why, why_size, "quoted value (bootc keeps the quotes and cannot parse it)");
		return -EINVAL;
	}
	if (vl > 0 && v[0] == '?') {
		d.insecure = true;
		v++;
		vl--;
	}
	if (self_describing) {
		const char *colon = memchr(v, ':', vl), *dash1, *dash2;
		char *endp;
		long log2;

		if (!colon) {
			snprintf(why, why_size, "no ':' between the parameters and the digest");
			return -EINVAL;
		}
		dash1 = memchr(v, '-', (size_t)(colon - v));
		dash2 = dash1 ? memchr(dash1 + 1, '-', (size_t)(colon - dash1 - 1)) : NULL;
		if (!dash1 || !dash2) {
			snprintf(why, why_size, "expected v<version>-<algorithm>-<log2 block size>:<hex>");
			return -EINVAL;
		}
		if (dash1 - v == 2 && v[0] == 'v' && (v[1] == '1' || v[1] == '2'))
			d.version = v[1] - '0';
		else {
			snprintf(why, why_size, "unknown composefs version '%.*s'", (int)(dash1 - v > 16 ? 16 : dash1 - v), v);
			return -EINVAL;
		}
		alg = sc_hash_alg_from_name(dash1 + 1, (size_t)(dash2 - dash1 - 1));
		if (alg == SC_HASH_NONE) {
			snprintf(why, why_size, "unknown digest algorithm '%.*s'",
				 (int)(dash2 - dash1 - 1 > 16 ? 16 : dash2 - dash1 - 1), dash1 + 1);
			return -EINVAL;
		}
		errno = 0;
		log2 = strtol(dash2 + 1, &endp, 10);
		if (endp != colon || dash2 + 1 == colon || errno != 0 || log2 != 12) {
			snprintf(why, why_size, "unsupported block size '%.*s' (only 12, 4096 bytes, is defined)",
				 (int)(colon - dash2 - 1 > 16 ? 16 : colon - dash2 - 1), dash2 + 1);
			return -EINVAL;
		}
		d.log2_blocksize = (int)log2;
		vl -= (size_t)(colon + 1 - v);
		v = colon + 1;
	}
	r = sc_digest_from_hex(v, vl, alg, &d.digest);
	if (r == -EINVAL && vl == 0)
		snprintf(why, why_size, "empty digest");
	else if (r == -EINVAL)
		snprintf(why, why_size, "digest is not lowercase hex");
	else if (r == -EMSGSIZE && alg != SC_HASH_NONE)
		snprintf(why, why_size, "digest has %zu hex characters, %s needs %zu", vl, sc_hash_alg_name(alg),
			 2 * sc_hash_alg_size(alg));
	else if (r == -EMSGSIZE)
		snprintf(why, why_size, "digest has %zu hex characters, expected 128 (sha512) or 64 (sha256)", vl);
	if (r < 0)
		return r;
	*ret = d;
	return 0;
}

static bool same_digest(const struct sc_cmdline_digest *a, const struct sc_cmdline_digest *b)
{
	return a->insecure == b->insecure && a->version == b->version && a->log2_blocksize == b->log2_blocksize &&
	       sc_digest_equal(&a->digest, &b->digest);
}

static void add_digest(struct sc_seal_cmdline *c, const struct sc_cmdline_digest *d)
{
	for (size_t i = 0; i < c->n_digests; i++)
		if (same_digest(&c->digests[i], d))
			return;
	if (c->n_digests >= SC_CMDLINE_MAX_DIGESTS) {
		problem(c, SC_CMDLINE_MALFORMED, "more than %d composefs digests", SC_CMDLINE_MAX_DIGESTS);
		return;
	}
	c->digests[c->n_digests++] = *d;
}

static int unhex_any(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* dm-verity root hash: hex of the hash size (sha1 .. sha512), any case, as systemd accepts. */
static void parse_verity_hash(struct sc_seal_cmdline *c, const char *key, const char *v, size_t vl,
			      struct sc_verity_hash *h)
{
	struct sc_verity_hash n = { .len = vl / 2 };

	if (vl < 40 || vl > 128 || vl % 2 != 0) {
		problem(c, SC_CMDLINE_MALFORMED, "%s= has %zu hex characters, expected 40 to 128", key, vl);
		return;
	}
	for (size_t i = 0; i < n.len; i++) {
		int hi = unhex_any(v[2 * i]), lo = unhex_any(v[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			problem(c, SC_CMDLINE_MALFORMED, "%s= is not hex", key);
			return;
		}
		n.bytes[i] = (unsigned char)(hi << 4 | lo);
	}
	if (h->len && (h->len != n.len || memcmp(h->bytes, n.bytes, n.len) != 0)) {
		problem(c, SC_CMDLINE_AMBIGUOUS, "conflicting %s= values", key);
		return;
	}
	*h = n;
}

static void judge_param(struct sc_seal_cmdline *c, struct sc_cmdline_param *p, bool has_digest_form,
			const char **first_composefs, const struct sc_cmdline_param *params, size_t n_before)
{
	enum key_kind k = classify(p->key, strlen(p->key));
	struct sc_cmdline_digest d;
	char why[128];
	size_t vl;

	if (!p->value) {
		problem(c, SC_CMDLINE_MALFORMED, "bare '%s' without a value", p->key);
		return;
	}
	vl = strlen(p->value);
	/* One token per value: a repeated seal token is refused even when the values agree, so that
	 * what the guest checks and what the host proves are one reading, whichever duplicate a
	 * parser would take (systemd and libmount the last, composefs-rs and bootc the first). */
	for (size_t i = 0; i < n_before && k != KEY_OTHER && k != KEY_VERITY_OFF; i++)
		if (strcmp(params[i].key, p->key) == 0 && params[i].value && strcmp(params[i].value, p->value) == 0) {
			problem(c, SC_CMDLINE_AMBIGUOUS, "%s= given twice", p->key);
			return;
		}
	switch (k) {
	case KEY_VERITY_OFF:
		if (strcmp(p->value, "off") == 0)
			problem(c, SC_CMDLINE_INSECURE, "sealtest.verity=off: the root is mounted without verity");
		break;
	case KEY_COMPOSEFS_DIGEST:
		if (parse_composefs_value(p->value, vl, true, &d, why, sizeof(why)) < 0)
			problem(c, SC_CMDLINE_MALFORMED, "composefs.digest=: %s", why);
		else
			add_digest(c, &d);
		break;
	case KEY_COMPOSEFS:
		if (has_digest_form) {
			/* composefs.digest= is consulted first; this one is reported, not used. */
			p->used = false;
			break;
		}
		if (*first_composefs && strcmp(*first_composefs, p->value) != 0) {
			problem(c, SC_CMDLINE_AMBIGUOUS,
				"conflicting composefs= values (systemd and libmount take the last, bootc the first)");
			break;
		}
		*first_composefs = p->value;
		if (parse_composefs_value(p->value, vl, false, &d, why, sizeof(why)) < 0)
			problem(c, SC_CMDLINE_MALFORMED, "composefs=: %s", why);
		else
			add_digest(c, &d);
		break;
	case KEY_ROOTHASH:
		parse_verity_hash(c, "roothash", p->value, vl, &c->roothash);
		break;
	case KEY_USRHASH:
		parse_verity_hash(c, "usrhash", p->value, vl, &c->usrhash);
		break;
	default:
		break;
	}
}

int sc_seal_cmdline_parse(const char *buf, size_t len, struct sc_seal_cmdline *ret)
{
	struct sc_seal_cmdline c = { .parsed = true };
	const char *pos = buf, *end = buf + len, *tok, *first_composefs = NULL;
	bool has_digest_form = false, has_composefs = false, has_verity = false;
	size_t tl;
	int r;

	while (sc_cmdline_next(&pos, end, &tok, &tl) > 0) {
		const char *eq = memchr(tok, '=', tl);
		size_t kl = eq ? (size_t)(eq - tok) : tl;
		enum key_kind k = classify(tok, kl);

		c.n_tokens++;
		if (k == KEY_OTHER)
			continue;
		has_digest_form |= k == KEY_COMPOSEFS_DIGEST;
		has_composefs |= k == KEY_COMPOSEFS || k == KEY_COMPOSEFS_DIGEST;
		has_verity |= k == KEY_ROOTHASH || k == KEY_USRHASH;
		r = record_param(&c, tok, kl, eq ? eq + 1 : NULL, eq ? tl - kl - 1 : 0, eq != NULL);
		if (r < 0) {
			sc_seal_cmdline_done(&c);
			return r;
		}
	}
	c.has_init_args = pos < end;
	if (c.n_params_total > SC_CMDLINE_MAX_PARAMS)
		problem(&c, SC_CMDLINE_MALFORMED, "%zu seal parameters, more than %d", c.n_params_total,
			SC_CMDLINE_MAX_PARAMS);

	for (size_t i = 0; i < c.n_params; i++)
		judge_param(&c, &c.params[i], has_digest_form, &first_composefs, c.params, i);

	if (has_composefs) {
		c.kind = SC_SEAL_COMPOSEFS;
		c.source = has_digest_form ? "composefs.digest" : "composefs";
	} else if (has_verity) {
		c.kind = SC_SEAL_DMVERITY;
		c.source = c.roothash.len ? "roothash" : "usrhash";
	} else
		problem(&c, SC_CMDLINE_NO_SEAL, "no composefs= or roothash=/usrhash= on the kernel command line");

	for (size_t i = 0; i < c.n_digests; i++)
		if (c.digests[i].insecure)
			problem(&c, SC_CMDLINE_INSECURE, "'?' prefix: verity optional (insecure)");

	*ret = c;
	return 0;
}
