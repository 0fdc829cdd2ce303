/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe-cli.h"
#include "probe-uki-ref.h"
#include "sc-fileio.h"
#include "sc-json.h"
#include "sc-log.h"
#include "sc-macro.h"

/* Every option of every verb: a verb's parser knows them all, so one it does not take is named as such. */
const struct sc_opt probe_catalogue[] = {
	{ "help", no_argument, CLI_O_HELP, NULL },
	{ "version", no_argument, CLI_O_VERSION, NULL },
	{ "json", no_argument, CLI_O_JSON, NULL },
	{ "expect-digest", required_argument, CLI_O_EXPECT, "HEX" },
	{ "policy", required_argument, CLI_O_POLICY, "FILE" },
	{ "vm", required_argument, CLI_O_VM, "NAME" },
	{ "no-require-secure-boot", no_argument, CLI_O_NO_SB, NULL },
	{ "timeout", required_argument, CLI_O_TIMEOUT, "S" },
	{ "secure-boot-keys", required_argument, CLI_O_KEYS, "DIR" },
	{ "firmware", required_argument, CLI_O_FIRMWARE, "KIND" },
	{ "esp", required_argument, CLI_O_ESP, "VARIANT|FILE" },
	{ "disk", required_argument, CLI_O_DISK, "DISK" },
	{ "accel", required_argument, CLI_O_ACCEL, "auto|kvm|tcg" },
	{ "keep", no_argument, CLI_O_KEEP, NULL },
	{ "tpm", no_argument, CLI_O_TPM, NULL },
	/* --libvirt URI as two words is read by the verb (getopt_long() leaves the next word). */
	{ "libvirt", optional_argument, CLI_O_LIBVIRT, "URI" },
	{ "libvirt-uri", required_argument, CLI_O_LIBVIRT_URI, "URI" },
	{ "tpm-state", required_argument, CLI_O_TPM_STATE, "DIR" },
	{ "tpm-ak", required_argument, CLI_O_TPM_AK, "MODE" },
	{ "socket", required_argument, CLI_O_SOCKET, "PATH" },
	{ "tpm-uki", required_argument, CLI_O_TPM_UKI, "FILE" },
	{ "tpm-keys", required_argument, CLI_O_TPM_KEYS, "DIR" },
	{ "tpm-ek-ca", required_argument, CLI_O_TPM_EK_CA, "FILE" },
	{ "tpm-ek-pub", required_argument, CLI_O_TPM_EK_PUB, "FILE" },
	{ "tpm-ek-owner", required_argument, CLI_O_TPM_EK_OWNER, "NAME[:UUID]" },
	{ "socket-dir", required_argument, CLI_O_SOCKET_DIR, "DIR" },
	{ "interval", required_argument, CLI_O_INTERVAL, "S" },
	{ "stale", required_argument, CLI_O_STALE, "S" },
	{ "events", required_argument, CLI_O_EVENTS, "verdict|all" },
	{ "reconnect", no_argument, CLI_O_RECONNECT, NULL },
	{ "state-dir", required_argument, CLI_O_STATE_DIR, "DIR" },
	{ "metrics-listen", required_argument, CLI_O_METRICS_LISTEN, "ADDR:PORT" },
	{ "textfile", required_argument, CLI_O_TEXTFILE, "PATH" },
	{ "bank", required_argument, CLI_O_BANK, "ALG" },
	{ "phase", required_argument, CLI_O_PHASE, "WORD:WORD..." },
	{ "stub", required_argument, CLI_O_STUB, "VERSION" },
	{},
};

bool cli_json_requested(const struct sc_program *prog, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;
		const struct sc_opt *o;
		size_t len;
		unsigned n = 0;

		if (strcmp(a, "--") == 0)
			break;
		if (a[0] != '-' || a[1] != '-')
			continue; /* an operand, or -h (the only short option, no argument) */
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		/* The exact name, else a prefix of one name only: getopt_long()'s abbreviations. */
		o = sc_opt_find(prog, a + 2, len);
		if (!o)
			for (const struct sc_opt *p = prog->catalogue; p->name; p++)
				if (strncmp(p->name, a + 2, len) == 0) {
					o = p;
					n++;
				}
		if (!o || n > 1)
			continue;
		if (o->id == CLI_O_JSON)
			return true;
		if (o->has_arg == required_argument && !eq)
			i++; /* --policy FILE: FILE is no option */
	}
	return false;
}

int cli_error_exit(bool json, enum cli_error kind)
{
	_cleanup_json_ json_t *doc = NULL;

	if (!json)
		return EXIT_USAGE;
	doc = json_pack("{s:s, s:n, s:s, s:o}", "schema", "sealcheck.probe.v1", "verdict", "error",
			kind == CLI_ERROR_NO_POLICY ? "no-policy" : "usage", "message", sc_json_str(sc_log_last()));
	/* Never half a document: nothing on stdout when it cannot be made or written whole. */
	if (doc) {
		_cleanup_free_ char *text = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII);

		if (text)
			printf("%s\n", text);
		fflush(stdout);
	}
	return EXIT_USAGE;
}

int cli_not_bootable_exit(bool json)
{
	_cleanup_json_ json_t *doc = NULL;

	if (!json) {
		printf("Verdict: NOT SEALED (the boot chain on the disk is not signed by the enrolled keys' db: the "
		       "firmware refuses it; not booted)\n");
		fflush(stdout);
		return PROBE_UNSEALED;
	}
	doc = json_pack("{s:s, s:s, s:s, s:o}", "schema", "sealcheck.probe.v1", "verdict", "unsealed", "error",
			"not-bootable", "message", sc_json_str(sc_log_last()));
	if (doc) {
		_cleanup_free_ char *text = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII);

		if (text)
			printf("%s\n", text);
		fflush(stdout);
	}
	return PROBE_UNSEALED;
}

int cli_options_exit(bool json, int rc)
{
	return rc == 0 ? 0 : cli_error_exit(json, CLI_ERROR_USAGE);
}

int cli_parse_seconds(const char *opt, const char *arg, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || arg[0] == '-' || v == 0 || v > max) {
		sc_log_error("%s %.40s: not a number of seconds from 1 to %lu", opt, arg, max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int cli_add_expect(struct cli_policy *c, const char *arg)
{
	struct probe_policy probe;

	probe_policy_init(&probe);
	if (c->n_expect >= PROBE_POLICY_MAX_DIGESTS) {
		sc_log_error("--expect-digest %.140s: more than %u digests", arg, PROBE_POLICY_MAX_DIGESTS);
		return -EINVAL;
	}
	if (probe_policy_allow(&probe, arg) < 0) {
		sc_log_error("--expect-digest %.140s: not a 64 or 128 character lowercase hex digest "
			     "(optionally sha256: or sha512:) (%u at most)",
			     arg, PROBE_POLICY_MAX_DIGESTS);
		return -EINVAL;
	}
	c->expect[c->n_expect++] = arg;
	return 0;
}

int cli_common_option(int c, const char *arg, struct cli_common *o)
{
	switch (c) {
	case CLI_O_EXPECT:
		return cli_add_expect(&o->policy, arg) < 0 ? -EINVAL : 1;
	case CLI_O_POLICY:
		o->policy.policy_file = arg;
		return 1;
	case CLI_O_VM:
		o->policy.vm_name = arg;
		return 1;
	case CLI_O_NO_SB:
		o->policy.allow_setup_mode = true;
		return 1;
	case CLI_O_TIMEOUT:
		return cli_parse_seconds("--timeout", arg, 86400, &o->timeout) < 0 ? -EINVAL : 1;
	case CLI_O_JSON:
		o->json = true;
		return 1;
	default:
		return 0;
	}
}

int cli_make_policy(const struct cli_policy *c, const char *fallback_source, const struct sc_digest *fallback,
		    struct probe_policy *ret)
{
	char why[512];
	int r;

	probe_policy_init(ret);
	if (c->policy_file && c->n_expect) {
		sc_log_error("give --expect-digest or --policy, not both");
		return -EINVAL;
	}
	if (c->policy_file) {
		r = probe_policy_load(c->policy_file, c->vm_name, NULL, ret, why, sizeof(why));
		if (r < 0) {
			sc_log_error("--policy %s", why);
			return -EINVAL;
		}
	} else if (c->n_expect) {
		for (unsigned i = 0; i < c->n_expect; i++)
			(void)probe_policy_allow(ret, c->expect[i]); /* checked when parsed */
		snprintf(ret->source, sizeof(ret->source), "--expect-digest");
	} else if (fallback && fallback->alg != SC_HASH_NONE) {
		ret->allowed[0] = *fallback;
		ret->n_allowed = 1;
		snprintf(ret->source, sizeof(ret->source), "%s", fallback_source);
	} else {
		sc_log_error("no digest policy: give --expect-digest HEX (the composefs digest the VM "
			     "may run) or --policy FILE; without one the probe judges nothing");
		return -EINVAL;
	}
	if (c->allow_setup_mode)
		ret->require_secure_boot = false;
	return 0;
}

void cli_tpm_done(struct cli_tpm *t)
{
	if (t->uki) {
		probe_uki_ref_done(t->uki);
		free(t->uki);
	}
	probe_sb_reference_done(&t->sb);
	free(t->ek_pub);
	memset(t, 0, sizeof(*t));
}

int cli_tpm_load_uki(struct cli_tpm *t, char *why, size_t why_size)
{
	struct probe_uki_ref *u = malloc(sizeof(*u));

	if (!u)
		return -ENOMEM;
	probe_uki_ref_load(t->x.uki_path, t->x.bootloader_path, &t->sb, u);
	if (!u->pe_ok) {
		snprintf(why, why_size, "%s", u->pe_why);
		if (!t->uki) {
			probe_uki_ref_done(u);
			free(u);
			return -EINVAL;
		}
		/* Read before: replaced all the same (fail closed: a UKI removed or broken to revoke it is
		 * never trusted from memory); every verification's UKI links now fail with this reason. */
	}
	if (t->uki) {
		probe_uki_ref_done(t->uki);
		free(t->uki);
	}
	t->uki = u;
	t->x.uki = u;
	return u->pe_ok ? 0 : -EINVAL;
}

int cli_tpm_credential(const char *ek_ca, const char *ek_pub, const char *state_dir, struct cli_tpm *t)
{
	size_t len = 0;

	if (!ek_ca && !ek_pub) {
		sc_log_error("no AK is pinned for this VM: give --tpm-ek-ca FILE (the CA its EK certificate chains to) "
			     "or --tpm-ek-pub FILE (its EK as recorded) to bind one by credential activation");
		return -EINVAL;
	}
	if (ek_pub && (sc_read_file_capped(ek_pub, PROBE_TPM_PUBLIC_MAX, (char **)&t->ek_pub, &len) < 0 || len < 2)) {
		sc_log_error("--tpm-ek-pub %s: not a TPM2B_PUBLIC file the host can read", ek_pub);
		return -EINVAL;
	}
	if (ek_ca && access(ek_ca, R_OK) < 0) {
		sc_log_error("--tpm-ek-ca %s: %m", ek_ca);
		return -EINVAL;
	}
	t->cred.ek_ca_file = ek_ca;
	t->cred.ek_public = t->ek_pub;
	t->cred.ek_public_len = len;
	if (state_dir) {
		if (probe_tpm_state_path(state_dir, PROBE_TPM_STATE_AK_NAME, t->pin, sizeof(t->pin)) < 0) {
			sc_log_error("the TPM state directory's path is too long");
			return -EINVAL;
		}
		t->cred.pin_file = t->pin;
		t->x.ak_pin_file = t->pin;
	}
	return 0;
}

int cli_tpm_prepare(const char *keys_dir, const uint8_t *ak_name, size_t ak_name_len,
		    const char *uki_path, const char *state_dir, const struct probe_policy *policy, struct cli_tpm *t)
{
	char why[600];

	memset(t, 0, sizeof(*t));
	if (probe_sb_reference_load(keys_dir, &t->sb, why, sizeof(why)) < 0) {
		sc_log_error("the Secure Boot key directory (the trust root of PCR 7): %s", why);
		cli_tpm_done(t);
		return -EINVAL;
	}
	t->x.sb = &t->sb;
	if (ak_name_len > sizeof(t->ak_name))
		ak_name_len = sizeof(t->ak_name);
	if (ak_name_len) /* ak_name may be NULL then */
		memcpy(t->ak_name, ak_name, ak_name_len);
	t->x.ak_name = ak_name_len ? t->ak_name : NULL;
	t->x.ak_name_len = ak_name_len;
	t->x.uki_path = uki_path;
	t->x.policy = policy;
	if (state_dir) {
		if (probe_tpm_state_path(state_dir, PROBE_TPM_STATE_COUNTERS, t->counters, sizeof(t->counters)) < 0) {
			sc_log_error("the TPM state directory's path is too long");
			cli_tpm_done(t);
			return -EINVAL;
		}
		t->x.counters_file = t->counters;
	}
	return 0;
}

int cli_finish(const struct probe_attest *a, const struct probe_policy *p, bool json, const struct probe_vm *vm,
	       const struct probe_evidence_expect *tpm)
{
	struct probe_verdict v;
	_cleanup_free_ char *tail = NULL;

	if (probe_verdict_decide(&a->session, p, tpm, &v) < 0) {
		sc_log_error("out of memory");
		return PROBE_NO_REPORT;
	}
	if (vm && v.outcome != PROBE_SEALED)
		tail = probe_console_tail_text(&vm->console, 15);
	if (json) {
		_cleanup_json_ json_t *out = probe_verdict_to_json(&a->session, a->signal, p, &v);

		if (out && vm) {
			json_object_set_new(out, "vm",
					    json_pack("{s:s, s:s, s:s, s:s?, s:I, s:I}", "image", vm->image_dir,
						      "firmware", probe_firmware_name(vm->firmware), "accel",
						      vm->accel_used, "work_dir", vm->keep ? vm->workdir : NULL,
						      "console_bytes", (json_int_t)vm->console.bytes, "console_logged",
						      (json_int_t)vm->console.logged));
			if (tail)
				json_object_set_new(out, "console_tail", sc_json_str(tail));
		}
		if (!out || json_dumpf(out, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) < 0) {
			/* Never half a document: an error line instead. */
			sc_log_error("could not write the JSON verdict");
			probe_verdict_done(&v);
			return PROBE_NO_REPORT;
		}
		fputc('\n', stdout);
	} else {
		/* The guest's console first, every line marked as the guest's (it may print "Verdict: SEALED"
		 * itself), so that the probe's verdict is the last line the probe prints. */
		if (tail && tail[0]) {
			fputs("Console of the VM (its last lines, the guest's own text):\n", stdout);
			for (char *line = tail, *nl; line; line = nl ? nl + 1 : NULL) {
				nl = strchr(line, '\n');
				printf("console| %.*s\n", (int)(nl ? (size_t)(nl - line) : strlen(line)), line);
			}
			fputc('\n', stdout);
		}
		probe_verdict_print(stdout, &a->session, p, &v);
	}
	fflush(stdout);
	{
		int rc = (int)v.outcome;

		probe_verdict_done(&v);
		return rc;
	}
}
