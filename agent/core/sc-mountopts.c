/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sc-macro.h"
#include "sc-mountopts.h"

int sc_mountopt_next(const char **pos, const char *end, const char **name, size_t *name_len, const char **value,
		     size_t *value_len)
{
	const char *p = *pos, *start, *eq;

	/* Empty elements (",,") carry nothing; skip them. */
	while (p < end && *p == ',')
		p++;
	if (p >= end) {
		*pos = p;
		return 0;
	}
	start = p;
	while (p < end && *p != ',')
		p++;
	*pos = p;
	eq = memchr(start, '=', (size_t)(p - start));
	*name = start;
	*name_len = eq ? (size_t)(eq - start) : (size_t)(p - start);
	*value = eq ? eq + 1 : NULL;
	*value_len = eq ? (size_t)(p - eq - 1) : 0;
	return 1;
}

static bool is_octal(char c)
{
	return c >= '0' && c <= '7';
}

int sc_mount_unescape(const char *s, size_t len, char **ret)
{
	char *out = malloc(len + 1), *o = out;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && len - i >= 4 && is_octal(s[i + 1]) &&
		    is_octal(s[i + 2]) && is_octal(s[i + 3])) {
			int v = (s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0');

			*o++ = (char)(v & 0xff);
			i += 3;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	*ret = out;
	return 0;
}

void sc_overlay_opts_done(struct sc_overlay_opts *o)
{
	free(o->verity);
	free(o->metacopy);
	free(o->redirect_dir);
	free(o->lowerdir);
	free(o->upperdir);
	free(o->workdir);
	for (size_t i = 0; i < o->n_lower_plus + o->n_data_plus; i++)
		free(o->layers[i]);
	memset(o, 0, sizeof(*o));
}

static bool name_is(const char *n, size_t nl, const char *want)
{
	return strlen(want) == nl && memcmp(n, want, nl) == 0;
}

/* Replace *slot with the unescaped value (the last occurrence is the one in effect). */
static int set_value(char **slot, const char *v, size_t vl)
{
	char *u;
	int r = sc_mount_unescape(v ? v : "", v ? vl : 0, &u);

	if (r < 0)
		return r;
	free(*slot);
	*slot = u;
	return 0;
}

int sc_overlay_opts_parse(const char *raw, size_t len, struct sc_overlay_opts *ret)
{
	_cleanup_overlay_opts_ struct sc_overlay_opts o = { 0 };
	const char *pos = raw, *end = raw + len, *n, *v;
	size_t nl, vl;
	int r = 0;

	while (sc_mountopt_next(&pos, end, &n, &nl, &v, &vl) > 0) {
		o.n_options++;
		if (name_is(n, nl, "verity")) {
			o.duplicate_verity |= o.verity != NULL;
			r = set_value(&o.verity, v, vl);
		} else if (name_is(n, nl, "metacopy"))
			r = set_value(&o.metacopy, v, vl);
		else if (name_is(n, nl, "redirect_dir"))
			r = set_value(&o.redirect_dir, v, vl);
		else if (name_is(n, nl, "lowerdir")) {
			o.n_lowerdir++;
			r = set_value(&o.lowerdir, v, vl);
		} else if (name_is(n, nl, "upperdir"))
			r = set_value(&o.upperdir, v, vl);
		else if (name_is(n, nl, "workdir"))
			r = set_value(&o.workdir, v, vl);
		else if (name_is(n, nl, "lowerdir+") || name_is(n, nl, "datadir+")) {
			size_t i = o.n_lower_plus + o.n_data_plus;

			if (i >= SC_OVERLAY_MAX_LAYERS) {
				r = -E2BIG;
				break;
			}
			o.layers[i] = NULL;
			r = set_value(&o.layers[i], v, vl);
			if (r < 0)
				break;
			o.layer_is_data[i] = n[0] == 'd';
			if (o.layer_is_data[i])
				o.n_data_plus++;
			else
				o.n_lower_plus++;
		}
		if (r < 0)
			break;
	}
	if (r < 0)
		return r;
	*ret = o;
	o = (struct sc_overlay_opts){ 0 }; /* now *ret's */
	return 0;
}

void sc_overlay_layers_done(struct sc_overlay_layers *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->path[i]);
	memset(l, 0, sizeof(*l));
}

static int add_layer(struct sc_overlay_layers *l, const char *s, size_t len, bool data)
{
	char *p;

	if (l->n >= SC_OVERLAY_MAX_LAYERS)
		return -E2BIG;
	p = strndup(s, len);
	if (!p)
		return -ENOMEM;
	l->path[l->n] = p;
	l->data[l->n++] = data;
	l->n_data += data;
	return 0;
}

int sc_overlay_split_lowerdir(const char *s, struct sc_overlay_layers *ret)
{
	_cleanup_overlay_layers_ struct sc_overlay_layers l = { 0 };
	_cleanup_free_ char *cur = malloc(strlen(s) + 1);
	size_t len = 0;
	bool data = false;
	int r = 0;

	if (!cur)
		return -ENOMEM;
	/* An empty lowerdir= drops every lower layer (ovl_parse_param_lowerdir()). */
	if (!*s) {
		*ret = l;
		return 0;
	}
	/* Linux refuses a lowerdir= that starts with ':' ("cannot append lower layer"). */
	if (*s == ':')
		return -EINVAL;
	for (const char *p = s;; p++) {
		if (*p == '\\') {
			/* ovl_unescape(): the backslash goes, the next character stays, whatever it is. */
			if (p[1])
				cur[len++] = *++p;
			continue;
		}
		if (*p && *p != ':') {
			cur[len++] = *p;
			continue;
		}
		r = add_layer(&l, cur, len, data);
		if (r < 0)
			break;
		len = 0;
		if (!*p)
			break;
		if (p[1] == ':') {
			/* "::": what follows is a data-only layer; ":::" and trailing colons are refused. */
			if (p[2] == ':' || !p[2]) {
				r = -EINVAL;
				break;
			}
			data = true;
			p++;
		} else if (!p[1] || data) {
			/* A trailing ':', or a regular layer after data-only ones. */
			r = -EINVAL;
			break;
		}
	}
	if (r < 0)
		return r;
	*ret = l;
	l = (struct sc_overlay_layers){ 0 }; /* now *ret's */
	return 0;
}

int sc_overlay_opts_layers(const struct sc_overlay_opts *o, struct sc_overlay_layers *ret)
{
	_cleanup_overlay_layers_ struct sc_overlay_layers l = { 0 };
	int r;

	if (o->n_lowerdir > 1 || (o->n_lowerdir && o->n_lower_plus + o->n_data_plus))
		return -EINVAL;
	if (o->lowerdir)
		return sc_overlay_split_lowerdir(o->lowerdir, ret);
	for (size_t i = 0; i < o->n_lower_plus + o->n_data_plus; i++) {
		/* Linux refuses lowerdir+= after datadir+= ("regular lower layers cannot follow data layers"). */
		r = !o->layer_is_data[i] && l.n_data ? -EINVAL : add_layer(&l, o->layers[i], strlen(o->layers[i]), o->layer_is_data[i]);
		if (r < 0)
			return r;
	}
	*ret = l;
	l = (struct sc_overlay_layers){ 0 }; /* now *ret's */
	return 0;
}
