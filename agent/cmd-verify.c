/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sealcheck verify: every object of the composefs image, now. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-verify.h"
#include "sc-json.h"

/* The running system's image and store, from the cmdline's digest. */
static int default_paths(const struct sc_paths *paths, char **image, char **objects, struct sc_digest *digest,
			 char *why, size_t why_size)
{
	struct sc_seal_cmdline cmd;
	struct sc_check c;
	int r;

	if (sc_check_init(&c) < 0)
		return -ENOMEM;
	r = sc_check_cmdline(paths, &cmd, &c);
	if (r >= 0 && cmd.n_digests == 0) {
		snprintf(why, why_size, "no composefs digest on the kernel command line (%s); give --image and --objects",
			 c.reason ? c.reason : "?");
		r = -ENOENT;
	}
	if (r >= 0) {
		*digest = cmd.digests[0].digest;
		r = sc_composefs_paths(paths, &cmd.digests[0].digest, image, objects);
	}
	sc_seal_cmdline_done(&cmd);
	sc_check_done(&c);
	return r;
}

int cli_verify(const struct sc_paths *paths, struct sc_verify_options *o, bool json)
{
	_cleanup_free_ char *image = NULL, *objects = NULL;
	struct sc_digest digest;
	struct sc_verify_result res;
	char why[512] = "";
	json_t *j;
	int r;

	if (!o->image != !o->objects) {
		fprintf(stderr, "sealcheck verify: give both --image and --objects, or neither\n");
		return 2;
	}
	if (!o->image) {
		r = default_paths(paths, &image, &objects, &digest, why, sizeof(why));
		if (r < 0) {
			fprintf(stderr, "sealcheck verify: %s\n", why[0] ? why : strerror(-r));
			return 2;
		}
		o->image = image;
		o->objects = objects;
		o->image_digest = &digest; /* the running system's: the image must measure to it */
	}
	r = sc_verify(o, &res, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "sealcheck verify: %s\n", why[0] ? why : strerror(-r));
		return 2;
	}
	j = sc_verify_to_json(o, &res);
	if (!j) {
		sc_verify_result_done(&res);
		return 2;
	}
	if (json) {
		json_object_set_new(j, "image", sc_json_str(o->image));
		json_object_set_new(j, "objects_dir", sc_json_str(o->objects));
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		fputc('\n', stdout);
	} else {
		json_t *v;
		size_t i;
		int any = 0;

		printf("Image:    %s\nObjects:  %s\n", o->image, o->objects);
		printf("Walked:   %llu files (%llu with an object, %llu inline), %llu directories, %llu other; "
		       "%.1f MB in objects%s in %.2f s\n",
		       (unsigned long long)res.files, (unsigned long long)res.objects,
		       (unsigned long long)res.inline_files, (unsigned long long)res.dirs,
		       (unsigned long long)res.other, (double)res.bytes / 1e6, o->deep ? ", all read" : "",
		       res.seconds);
		printf("Problems: ");
		for (int p = 0; p < _SC_OBJ_PROBLEM_MAX; p++)
			if (res.problems[p])
				printf("%s%llu %s", any++ ? ", " : "", (unsigned long long)res.problems[p],
				       sc_obj_problem_name(p));
		printf("%s\n", any ? "" : "none");
		json_array_foreach(res.listed, i, v)
			printf("  %s: %s%s%s (%s)\n", json_string_value(json_object_get(v, "problem")),
			       json_string_value(json_object_get(v, "path")),
			       json_string_value(json_object_get(v, "object")) ? " -> " : "",
			       json_string_value(json_object_get(v, "object")) ?: "",
			       json_string_value(json_object_get(v, "detail")));
		if (res.stopped_early)
			printf("Stopped early: %s\n", res.stop_reason);
		printf("\nVerdict: %s (%s)\n",
		       strcmp(json_string_value(json_object_get(j, "status")), "pass") == 0	 ? "ALL COVERED"
		       : strcmp(json_string_value(json_object_get(j, "status")), "fail") == 0 ? "NOT SEALED"
											   : "UNDETERMINED",
		       json_string_value(json_object_get(j, "reason")));
	}
	r = strcmp(json_string_value(json_object_get(j, "status")), "pass") == 0   ? 0
	    : strcmp(json_string_value(json_object_get(j, "status")), "fail") == 0 ? 1
										    : 2;
	json_decref(j);
	sc_verify_result_done(&res);
	return r;
}
