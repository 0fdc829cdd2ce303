/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "sc-bootc.h"
#include "sc-checks.h"
#include "sc-json.h"

#if HAVE_LIBSYSTEMD
#include <systemd/sd-id128.h>
#include <systemd/sd-login.h>

#include "sc-dlopen.h"

static void *systemd_dl;
static __typeof__(sd_id128_get_boot) *sym_sd_id128_get_boot;
static __typeof__(sd_id128_get_machine) *sym_sd_id128_get_machine;
static __typeof__(sd_id128_to_string) *sym_sd_id128_to_string;
static __typeof__(sd_pid_get_unit) *sym_sd_pid_get_unit;

/* libsystemd, loaded for the identity fields of a live report only; without it they are read from files. */
static bool have_libsystemd(void)
{
	char why[160];

	return sc_dlopen_many(&systemd_dl, "libsystemd.so.0", why, sizeof(why), SC_DLSYM_ARG(sd_id128_get_boot),
			      SC_DLSYM_ARG(sd_id128_get_machine), SC_DLSYM_ARG(sd_id128_to_string),
			      SC_DLSYM_ARG(sd_pid_get_unit), NULL) == 0;
}
#endif

static bool is_live(const struct sc_paths *paths)
{
	return !paths->root || !paths->root[0] || strcmp(paths->root, "/") == 0;
}

/* First line of a small file under the root, or JSON null. */
static json_t *first_line(const struct sc_paths *paths, const char *abs)
{
	_cleanup_free_ char *path = NULL, *buf = NULL;
	size_t len;

	if (sc_path_join(paths, abs, &path) < 0)
		return NULL;
	if (sc_read_file_capped(path, SC_SMALL_FILE_MAX, &buf, &len) < 0)
		return json_null();
	len = strcspn(buf, "\n");
	return len ? sc_json_bytes(buf, len) : json_null();
}

static json_t *machine_id(const struct sc_paths *paths, bool boot)
{
#if HAVE_LIBSYSTEMD
	if (is_live(paths) && have_libsystemd()) {
		sd_id128_t id;
		char s[SD_ID128_STRING_MAX];

		if ((boot ? sym_sd_id128_get_boot(&id) : sym_sd_id128_get_machine(&id)) < 0)
			return json_null();
		return json_string(sym_sd_id128_to_string(id, s));
	}
#endif
	if (boot) {
		/* The kernel prints it as a UUID; report it as systemd does, 32 hex digits. */
		json_t *u = first_line(paths, "/proc/sys/kernel/random/boot_id");
		char out[33];
		size_t o = 0;

		if (!json_is_string(u))
			return u;
		for (const char *p = json_string_value(u); *p && o < 32; p++)
			if (*p != '-')
				out[o++] = *p;
		out[o] = '\0';
		json_decref(u);
		return json_string(out);
	}
	return first_line(paths, "/etc/machine-id");
}

static json_t *kernel_field(const struct sc_paths *paths, const char *file, bool release)
{
	struct utsname u;

	if (is_live(paths) && uname(&u) == 0)
		return sc_json_str(release ? u.release : u.nodename);
	return first_line(paths, file);
}

/* The systemd unit this process runs in ("sealcheck-agent.service"), or null. */
static json_t *own_unit(void)
{
#if HAVE_LIBSYSTEMD
	_cleanup_free_ char *unit = NULL;

	if (have_libsystemd() && sym_sd_pid_get_unit(0, &unit) >= 0 && unit)
		return sc_json_str(unit);
#endif
	return json_null();
}

static json_t *now_rfc3339(void)
{
	struct timespec ts;
	struct tm tm;
	char buf[64];

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || !gmtime_r(&ts.tv_sec, &tm) ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_null();
	return json_string(buf);
}

/* A string field, or null when empty. */
static json_t *str_or_null(const char *s)
{
	return s && s[0] ? sc_json_str(s) : json_null();
}

/*
 * system.deployment: the booted bootc deployment as `bootc status` names it (sc-bootc.h), or null on a
 * system that is not a bootc composefs one. The mounted digest is root_mount's; the command line's,
 * cmdline's (one of several composefs.digest= matching the mount is no soft reboot).
 */
int sc_report_deployment(const struct sc_paths *paths, const struct sc_report *rep, struct sc_bootc_deployment *ret)
{
	json_t *mounted = json_object_get(rep->checks[SC_CHECK_ROOT_MOUNT].facts, "digest");
	json_t *digests = json_object_get(rep->checks[SC_CHECK_CMDLINE].facts, "digests"), *e;
	const char *m = json_string_value(mounted), *c = NULL;
	size_t i;

	json_array_foreach(digests, i, e) {
		const char *x = json_string_value(json_object_get(e, "digest"));

		if (x && (!c || (m && strcmp(x, m) == 0)))
			c = x;
	}
	return sc_bootc_deployment(paths, m, c, ret);
}

static json_t *deployment_json(const struct sc_paths *paths, const struct sc_report *rep)
{
	struct sc_bootc_deployment *d = calloc(1, sizeof(*d));
	json_t *o = NULL, *image = NULL, *staged = NULL;

	if (!d || sc_report_deployment(paths, rep, d) < 0) {
		free(d);
		return NULL;
	}
	if (!d->present) {
		free(d);
		return json_null();
	}
	if (d->has_origin && d->origin.has_image)
		image = json_pack("{s:o, s:o, s:o, s:o}", "reference", sc_json_str(d->origin.image_ref), "image",
				  sc_json_str(d->origin.imgref.image), "transport", sc_json_str(d->origin.imgref.transport),
				  "signature", sc_json_str(d->origin.imgref.signature));
	if (d->has_staged)
		staged = json_pack("{s:o, s:b}", "verity", sc_json_str(d->staged.verity), "finalization_locked",
				   d->staged.finalization_locked);
	o = json_pack("{s:s, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "source", "bootc", "verity",
		      str_or_null(d->verity), "soft_reboot", d->soft_reboot, "cmdline_verity", str_or_null(d->cmdline_verity),
		      "image", image ?: json_null(), "image_digest",
		      str_or_null(d->has_origin ? d->origin.manifest_digest : NULL), "boot_type",
		      str_or_null(d->has_origin ? d->origin.boot_type : NULL), "boot_digest",
		      str_or_null(d->has_origin ? d->origin.boot_digest : NULL), "bootloader", str_or_null(d->bootloader),
		      "origin_error", str_or_null(d->origin_error), "staged", staged ?: json_null(), "staged_error",
		      str_or_null(d->staged_error));
	free(d);
	return o;
}

int sc_report_to_json(const struct sc_paths *paths, const struct sc_report *rep, const char *nonce, json_t **ret)
{
	_cleanup_json_ json_t *o = json_object(), *sys = json_object(), *checks = json_object(), *notes = NULL;

	if (!o || !sys || !checks)
		return -ENOMEM;
	notes = json_pack("[s,s,s]",
			  "/etc and /var are per-deployment state (bind mounts from /sysroot/state/deploy/<id>/): "
			  "the seal does not cover them",
			  "this report is self-reported by the guest: without TPM-bound evidence it is a claim, "
			  "a nonce proves freshness, not truth",
			  "file contents are checked by the kernel when read (verity=require); this report does "
			  "not read every file");
	if (!notes)
		return -ENOMEM;
	if (sc_json_set(sys, "machine_id", machine_id(paths, false)) < 0 ||
	    sc_json_set(sys, "boot_id", machine_id(paths, true)) < 0 ||
	    sc_json_set(sys, "kernel_release", kernel_field(paths, "/proc/sys/kernel/osrelease", true)) < 0 ||
	    sc_json_set(sys, "hostname", kernel_field(paths, "/proc/sys/kernel/hostname", false)) < 0 ||
	    sc_json_set(sys, "deployment", deployment_json(paths, rep)) < 0)
		return -ENOMEM;
	for (int i = 0; i < _SC_CHECK_MAX; i++)
		if ((i < SC_CHECK_ALWAYS || (i == SC_CHECK_OBJECTS && rep->objects_checked)) &&
		    sc_json_set(checks, sc_check_key(i), sc_check_to_json(&rep->checks[i])) < 0)
			return -ENOMEM;
	if (sc_json_set(o, "schema", json_string(SC_REPORT_SCHEMA)) < 0 ||
	    sc_json_set(o, "agent", json_pack("{s:s, s:o}", "version", PACKAGE_VERSION, "unit", own_unit())) < 0 ||
	    sc_json_set(o, "system", TAKE_PTR(sys)) < 0 || sc_json_set(o, "time", now_rfc3339()) < 0 ||
	    sc_json_set(o, "nonce", nonce ? json_string(nonce) : json_null()) < 0 ||
	    sc_json_set(o, "seal_kind", json_string(sc_seal_kind_name(rep->kind))) < 0 ||
	    sc_json_set(o, "verdict", json_string(sc_verdict_name(rep->verdict))) < 0 ||
	    sc_json_set(o, "checks", TAKE_PTR(checks)) < 0 || sc_json_set(o, "notes", TAKE_PTR(notes)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(o);
	return 0;
}
