/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "sc-checks.h"
#include "sc-json.h"

static json_t *digest_json(const struct sc_cmdline_digest *d)
{
	char hex[SC_DIGEST_HEX_MAX + 1];

	return json_pack("{s:s, s:s, s:i, s:i, s:b}", "algorithm", sc_hash_alg_name(d->digest.alg), "digest",
			 sc_digest_to_hex(&d->digest, hex), "version", d->version, "log2_blocksize", d->log2_blocksize,
			 "insecure", d->insecure);
}

static json_t *hash_json(const struct sc_verity_hash *h)
{
	char hex[129];

	if (!h->len)
		return json_null();
	for (size_t i = 0; i < h->len; i++)
		snprintf(hex + 2 * i, 3, "%02x", h->bytes[i]);
	return json_string(hex);
}

static int cmdline_facts(const struct sc_seal_cmdline *sc, const char *raw, size_t rawlen, json_t *facts)
{
	_cleanup_json_ json_t *params = json_array(), *digests = json_array();

	if (!params || !digests)
		return -ENOMEM;
	for (size_t i = 0; i < sc->n_params; i++) {
		json_t *p = json_object();

		if (!p || json_array_append_new(params, p) < 0 || sc_json_set(p, "key", sc_json_str(sc->params[i].key)) < 0 ||
		    sc_json_set(p, "value", sc_json_str(sc->params[i].value)) < 0 ||
		    sc_json_set(p, "used", json_boolean(sc->params[i].used)) < 0)
			return -ENOMEM;
	}
	for (size_t i = 0; i < sc->n_digests; i++)
		if (json_array_append_new(digests, digest_json(&sc->digests[i])) < 0)
			return -ENOMEM;
	if (sc_json_set(facts, "kind", json_string(sc_seal_kind_name(sc->kind))) < 0 ||
	    sc_json_set(facts, "source", sc->source ? json_string(sc->source) : json_null()) < 0 ||
	    sc_json_set(facts, "digests", TAKE_PTR(digests)) < 0 ||
	    sc_json_set(facts, "roothash", hash_json(&sc->roothash)) < 0 ||
	    sc_json_set(facts, "usrhash", hash_json(&sc->usrhash)) < 0 ||
	    sc_json_set(facts, "parameters", TAKE_PTR(params)) < 0 ||
	    sc_json_set(facts, "parameters_total", json_integer((json_int_t)sc->n_params_total)) < 0 ||
	    sc_json_set(facts, "init_arguments", json_boolean(sc->has_init_args)) < 0 ||
	    sc_json_set(facts, "raw", sc_json_bytes(raw, rawlen)) < 0)
		return -ENOMEM;
	return 0;
}

int sc_check_cmdline(const struct sc_paths *paths, struct sc_seal_cmdline *ret_cmdline, struct sc_check *c)
{
	_cleanup_free_ char *path = NULL, *buf = NULL;
	struct sc_seal_cmdline sc;
	char hex[SC_DIGEST_HEX_MAX + 1];
	size_t len;
	int r;

	memset(ret_cmdline, 0, sizeof(*ret_cmdline));
	if (sc_path_join(paths, "/proc/cmdline", &path) < 0)
		return -ENOMEM;
	r = sc_read_file_capped(path, SC_CMDLINE_MAX, &buf, &len);
	if (r == -ENOMEM)
		return r;
	if (r == -EFBIG)
		return sc_check_set(c, SC_STATUS_ERROR, "%s is larger than %u bytes", path, SC_CMDLINE_MAX);
	if (r < 0)
		return sc_check_set(c, SC_STATUS_ERROR, "cannot read %s: %s", path, strerror(-r));

	r = sc_seal_cmdline_parse(buf, len, &sc);
	if (r < 0)
		return r;
	r = cmdline_facts(&sc, buf, len, c->facts);
	if (r < 0) {
		sc_seal_cmdline_done(&sc);
		return r;
	}
	*ret_cmdline = sc;

	switch (sc.problem) {
	case SC_CMDLINE_OK:
		break;
	case SC_CMDLINE_NO_SEAL:
		return sc_check_set(c, SC_STATUS_FAIL, "No composefs image in cmdline (%s)", sc.detail);
	case SC_CMDLINE_AMBIGUOUS:
		return sc_check_set(c, SC_STATUS_FAIL, "ambiguous: %s", sc.detail);
	case SC_CMDLINE_INSECURE:
		return sc_check_set(c, SC_STATUS_FAIL, "verity optional (insecure): %s", sc.detail);
	case SC_CMDLINE_MALFORMED:
		return sc_check_set(c, SC_STATUS_FAIL, "malformed: %s", sc.detail);
	}
	if (sc.kind == SC_SEAL_DMVERITY)
		return sc_check_set(c, SC_STATUS_PASS, "dm-verity seal: %s=%.16s...", sc.source,
				    json_string_value(json_object_get(c->facts, sc.source)));
	return sc_check_set(c, SC_STATUS_PASS, "%s=%s%s (%s, verity required)", sc.source,
			    sc_digest_to_hex(&sc.digests[0].digest, hex), sc.n_digests > 1 ? " (and others)" : "",
			    sc_hash_alg_name(sc.digests[0].digest.alg));
}

int sc_check_lockdown(const struct sc_paths *paths, struct sc_check *c)
{
	_cleanup_free_ char *path = NULL, *buf = NULL;
	const char *open_b, *close_b;
	size_t len;
	int r;

	if (sc_path_join(paths, "/sys/kernel/security/lockdown", &path) < 0)
		return -ENOMEM;
	r = sc_read_file_capped(path, SC_SMALL_FILE_MAX, &buf, &len);
	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT)
		return sc_json_set(c->facts, "mode", json_null()) < 0
			       ? -ENOMEM
			       : sc_check_set(c, SC_STATUS_SKIP, "no lockdown LSM (or securityfs not mounted)");
	if (r < 0)
		return sc_check_set(c, SC_STATUS_ERROR, "cannot read %s: %s", path, strerror(-r));
	/* "none [integrity] confidentiality": the bracketed word is in effect. */
	open_b = memchr(buf, '[', len);
	close_b = open_b ? memchr(open_b, ']', len - (size_t)(open_b - buf)) : NULL;
	if (!open_b || !close_b || close_b - open_b > 32)
		return sc_json_set(c->facts, "raw", sc_json_bytes(buf, len)) < 0
			       ? -ENOMEM
			       : sc_check_set(c, SC_STATUS_ERROR, "cannot parse %s", path);
	if (sc_json_set(c->facts, "mode", sc_json_bytes(open_b + 1, (size_t)(close_b - open_b - 1))) < 0)
		return -ENOMEM;
	/* Informational: lockdown is not part of the seal. */
	return sc_check_set(c, SC_STATUS_PASS, "lockdown: %.*s", (int)(close_b - open_b - 1), open_b + 1);
}
