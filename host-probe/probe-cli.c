/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe-cli.h"
#include "sc-fileio.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-term.h"

int cli_parse_seconds(const char *verb, const char *opt, const char *arg, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || arg[0] == '-' || v == 0 || v > max) {
		fprintf(stderr, "sealcheck-probe %s: %s ", verb, opt);
		sc_term_fput(stderr, arg, strlen(arg) > 40 ? 40 : strlen(arg), 0);
		fprintf(stderr, ": not a number of seconds from 1 to %lu\n", max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int cli_add_expect(const char *verb, struct cli_policy *c, const char *arg)
{
	struct probe_policy probe;

	probe_policy_init(&probe);
	if (c->n_expect >= PROBE_POLICY_MAX_DIGESTS || probe_policy_allow(&probe, arg) < 0) {
		fprintf(stderr, "sealcheck-probe %s: --expect-digest ", verb);
		sc_term_fput(stderr, arg, strlen(arg) > 140 ? 140 : strlen(arg), 0);
		fprintf(stderr, c->n_expect >= PROBE_POLICY_MAX_DIGESTS ? ": more than %u digests\n"
									 : ": not a 64 or 128 character lowercase hex digest "
									   "(optionally sha256: or sha512:) (%u at most)\n",
			PROBE_POLICY_MAX_DIGESTS);
		return -EINVAL;
	}
	c->expect[c->n_expect++] = arg;
	return 0;
}

int cli_common_option(const char *verb, int c, const char *arg, struct cli_common *o)
{
	switch (c) {
	case CLI_O_EXPECT:
		return cli_add_expect(verb, &o->policy, arg) < 0 ? -EINVAL : 1;
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
		return cli_parse_seconds(verb, "--timeout", arg, 86400, &o->timeout) < 0 ? -EINVAL : 1;
	case CLI_O_JSON:
		o->json = true;
		return 1;
	default:
		return 0;
	}
}

int cli_make_policy(const char *verb, const struct cli_policy *c, const char *fallback_source,
		    const struct sc_digest *fallback, struct probe_policy *ret)
{
	char why[512];
	int r;

	probe_policy_init(ret);
	if (c->policy_file && c->n_expect) {
		fprintf(stderr, "sealcheck-probe %s: give --expect-digest or --policy, not both\n", verb);
		return -EINVAL;
	}
	if (c->policy_file) {
		r = probe_policy_load(c->policy_file, c->vm_name, NULL, ret, why, sizeof(why));
		if (r < 0) {
			fprintf(stderr, "sealcheck-probe %s: --policy ", verb);
			sc_term_fput(stderr, why, strlen(why), 0);
			fputc('\n', stderr);
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
		fprintf(stderr,
			"sealcheck-probe %s: no digest policy: give --expect-digest HEX (the composefs digest the VM "
			"may run) or --policy FILE; without one the probe judges nothing\n",
			verb);
		return -EINVAL;
	}
	if (c->allow_setup_mode)
		ret->require_secure_boot = false;
	return 0;
}

void cli_tpm_done(struct cli_tpm *t)
{
	probe_sb_reference_done(&t->sb);
	free(t->ek_pub);
	memset(t, 0, sizeof(*t));
}

int cli_tpm_credential(const char *verb, const char *ek_ca, const char *ek_pub, const char *state_dir, struct cli_tpm *t)
{
	size_t len = 0;

	if (!ek_ca && !ek_pub) {
		fprintf(stderr, "sealcheck-probe %s: no AK is pinned for this VM: give --tpm-ek-ca FILE (the CA its EK "
				"certificate chains to) or --tpm-ek-pub FILE (its EK as recorded) to bind one by credential activation\n",
			verb);
		return -EINVAL;
	}
	if (ek_pub && (sc_read_file_capped(ek_pub, PROBE_TPM_PUBLIC_MAX, (char **)&t->ek_pub, &len) < 0 || len < 2)) {
		fprintf(stderr, "sealcheck-probe %s: --tpm-ek-pub %s: not a TPM2B_PUBLIC file the host can read\n", verb, ek_pub);
		return -EINVAL;
	}
	if (ek_ca && access(ek_ca, R_OK) < 0) {
		fprintf(stderr, "sealcheck-probe %s: --tpm-ek-ca %s: %s\n", verb, ek_ca, strerror(errno));
		return -EINVAL;
	}
	t->cred.ek_ca_file = ek_ca;
	t->cred.ek_public = t->ek_pub;
	t->cred.ek_public_len = len;
	if (state_dir) {
		if (probe_tpm_state_path(state_dir, PROBE_TPM_STATE_AK_NAME, t->pin, sizeof(t->pin)) < 0) {
			fprintf(stderr, "sealcheck-probe %s: the TPM state directory's path is too long\n", verb);
			return -EINVAL;
		}
		t->cred.pin_file = t->pin;
		t->x.ak_pin_file = t->pin;
	}
	return 0;
}

int cli_tpm_prepare(const char *verb, const char *keys_dir, const uint8_t *ak_name, size_t ak_name_len,
		    const char *uki_path, const char *state_dir, const struct probe_policy *policy, struct cli_tpm *t)
{
	char why[600];

	memset(t, 0, sizeof(*t));
	if (probe_sb_reference_load(keys_dir, &t->sb, why, sizeof(why)) < 0) {
		fprintf(stderr, "sealcheck-probe %s: the Secure Boot key directory (the trust root of PCR 7): %s\n", verb, why);
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
			fprintf(stderr, "sealcheck-probe %s: the TPM state directory's path is too long\n", verb);
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
		fprintf(stderr, "sealcheck-probe: out of memory\n");
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
			fprintf(stderr, "sealcheck-probe: could not write the JSON verdict\n");
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
