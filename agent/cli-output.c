/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli-output.h"
#include "sc-bootc.h"
#include "sc-json.h"
#include "sc-term.h"

#define ANSI_RED "\033[1;31m"
#define ANSI_GREEN "\033[1;32m"
#define ANSI_YELLOW "\033[1;33m"
#define ANSI_GREY "\033[0;90m"
#define ANSI_RESET "\033[0m"

bool cli_use_color(FILE *f)
{
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");

	if (nc && nc[0])
		return false;
	if (term && strcmp(term, "dumb") == 0)
		return false;
	return isatty(fileno(f));
}

static const char *status_color(enum sc_status s)
{
	switch (s) {
	case SC_STATUS_PASS:
		return ANSI_GREEN;
	case SC_STATUS_FAIL:
		return ANSI_RED;
	case SC_STATUS_ERROR:
		return ANSI_YELLOW;
	default:
		return ANSI_GREY;
	}
}

/*
 * Text from the system (cmdline values, mount sources, certificate subjects)
 * reaches a terminal: it goes through the one escaping function, sc_term_fput().
 * A NULL string prints nothing here (the callers say what is missing themselves).
 */
static void put_safe(FILE *f, const char *s)
{
	if (s)
		(void)sc_term_fput(f, s, strlen(s), 0);
}

/* Print a JSON string fact, if present, as "    label: value". */
static void fact(FILE *f, json_t *facts, const char *key, const char *label)
{
	json_t *v = json_object_get(facts, key);

	if (json_is_string(v)) {
		fprintf(f, "        %s: ", label);
		put_safe(f, json_string_value(v));
		fputc('\n', f);
	}
	else if (json_is_integer(v))
		fprintf(f, "        %s: %lld\n", label, (long long)json_integer_value(v));
}

static void cert_lines(FILE *f, json_t *facts, const char *db)
{
	json_t *d = json_object_get(facts, db), *certs, *c;
	size_t i;

	if (!json_is_object(d)) {
		fprintf(f, "        %s: (not set)\n", db);
		return;
	}
	certs = json_object_get(d, "certificates");
	if (json_array_size(certs) == 0)
		fprintf(f, "        %s: %lld entries\n", db, (long long)json_integer_value(json_object_get(d, "entries")));
	json_array_foreach(certs, i, c) {
		const char *subj = json_string_value(json_object_get(c, "subject"));
		const char *fp = json_string_value(json_object_get(c, "sha256"));

		fprintf(f, "        %s: ", db);
		put_safe(f, subj ? subj : "(unparsable certificate)");
		fprintf(f, " (SHA-256 %.16s...)\n", fp ? fp : "?");
	}
}

static void check_facts(FILE *f, enum sc_check_id id, const struct sc_check *c)
{
	json_t *facts = c->facts, *a, *v;
	size_t i;

	switch (id) {
	case SC_CHECK_CMDLINE:
		a = json_object_get(facts, "parameters");
		json_array_foreach(a, i, v) {
			const char *val = json_string_value(json_object_get(v, "value"));

			fputs("        ", f);
			put_safe(f, json_string_value(json_object_get(v, "key")));
			fputs(val ? "=" : "", f);
			put_safe(f, val);
			fputs(json_is_false(json_object_get(v, "used")) ? " (overridden)\n" : "\n", f);
		}
		break;
	case SC_CHECK_ROOT_MOUNT:
		fact(f, facts, "source", "source");
		fact(f, facts, "options", "options");
		fact(f, facts, "device", "device");
		a = json_object_get(facts, "stack");
		if (json_array_size(a) > 1)
			json_array_foreach(a, i, v)
			{
				fprintf(f, "        stack[%zu]: ", i);
				put_safe(f, json_string_value(json_object_get(v, "fstype")));
				fputc(' ', f);
				put_safe(f, json_string_value(json_object_get(v, "source")));
				fputc('\n', f);
			}
		fact(f, facts, "cmdline_digest", "cmdline digest");
		break;
	case SC_CHECK_SECURE_BOOT:
		fact(f, facts, "mokutil", "mokutil");
		if (json_is_true(json_object_get(facts, "efi")) && json_object_get(facts, "PK")) {
			cert_lines(f, facts, "PK");
			cert_lines(f, facts, "KEK");
			cert_lines(f, facts, "db");
			v = json_object_get(json_object_get(facts, "dbx"), "entries");
			fprintf(f, "        dbx: %lld entries\n", (long long)json_integer_value(v));
		}
		json_array_foreach(json_object_get(facts, "problems"), i, v) {
			fputs("        problem: ", f);
			put_safe(f, json_string_value(v));
			fputc('\n', f);
		}
		break;
	case SC_CHECK_COMPOSEFS_IMAGE:
		fact(f, facts, "path", "image");
		fact(f, facts, "expected", "expected");
		fact(f, facts, "measured", "measured");
		break;
	default:
		break;
	}
}

/* "Image: <image> @ <manifest digest>" as bootc status names the booted deployment, and what differs from a plain boot. */
static void print_deployment(FILE *f, const struct sc_bootc_deployment *d)
{
	if (!d || !d->present)
		return;
	fputs("\nImage:   ", f);
	if (d->has_origin && d->origin.has_image) {
		put_safe(f, d->origin.imgref.image);
		fputs(" @ ", f);
		put_safe(f, d->origin.manifest_digest[0] ? d->origin.manifest_digest : "(no manifest digest in the origin)");
		fprintf(f, " (%s, signature ", d->origin.imgref.transport);
		put_safe(f, d->origin.imgref.signature); /* ostree-remote:<the guest's remote name> */
		fputs(")\n", f);
	} else if (d->has_origin)
		fputs("(the deployment's origin names no container image)\n", f);
	else {
		fputs("unknown: ", f);
		put_safe(f, d->origin_error);
		fputc('\n', f);
	}
	if (d->verity[0])
		fprintf(f, "         deployment %.16s...%s%s%s%s\n", d->verity,
			d->has_origin && d->origin.boot_type[0] ? ", boot type " : "", d->has_origin ? d->origin.boot_type : "",
			d->bootloader[0] ? ", boot loader " : "", d->bootloader);
	if (d->soft_reboot)
		fprintf(f, "         soft-rebooted: the kernel command line names %.16s..., the root is %.16s...\n",
			d->cmdline_verity, d->verity);
	if (d->has_staged)
		fprintf(f, "         staged for the next boot: %.16s...%s\n", d->staged.verity,
			d->staged.finalization_locked ? " (finalization locked)" : "");
	else if (d->staged_error[0]) {
		fputs("         staged deployment unreadable: ", f);
		put_safe(f, d->staged_error);
		fputc('\n', f);
	}
}

void cli_print_human(FILE *f, const struct sc_report *rep, const struct sc_bootc_deployment *d, bool color)
{
	const char *verdict_color = rep->verdict == SC_VERDICT_SEALED	  ? ANSI_GREEN
				    : rep->verdict == SC_VERDICT_UNSEALED ? ANSI_RED
									  : ANSI_YELLOW;

	for (int i = 0; i < _SC_CHECK_MAX; i++) {
		const struct sc_check *c = &rep->checks[i];
		char tag[8];

		if (i == SC_CHECK_OBJECTS && !rep->objects_checked)
			continue;
		snprintf(tag, sizeof(tag), "%s", sc_status_name(c->status));
		for (char *p = tag; *p; p++)
			*p = (char)(*p - 'a' + 'A');
		fprintf(f, "%s%-5s%s %-20s ", color ? status_color(c->status) : "", tag, color ? ANSI_RESET : "",
			sc_check_title(i));
		put_safe(f, c->reason ? c->reason : "not run");
		fputc('\n', f);
		check_facts(f, i, c);
	}
	print_deployment(f, d);
	fprintf(f, "\n%sVerdict: %s%s", color ? verdict_color : "",
		rep->verdict == SC_VERDICT_SEALED     ? "SEALED"
		: rep->verdict == SC_VERDICT_UNSEALED ? "NOT SEALED"
						      : "UNDETERMINED",
		color ? ANSI_RESET : "");
	if (rep->verdict == SC_VERDICT_SEALED)
		fprintf(f, " (%s root; /etc and /var are not covered by the seal)\n", sc_seal_kind_name(rep->kind));
	else if (rep->verdict == SC_VERDICT_UNSEALED)
		fprintf(f, " (a link of the chain failed: see FAIL above)\n");
	else
		fprintf(f, " (a check could not decide: see ERROR above)\n");
}
