/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Deep seal verification: account for every file of a composefs image.
 *
 * The image digest proves the metadata; the kernel proves each file only
 * when it is read. This walks the EROFS image, never through the overlay
 * (whose trusted.overlay.* xattrs are hidden): parsed from its own bytes by
 * default, or mounted read-only and detached, and checks, for each file with a metacopy, that the
 * object its redirect names exists, is a regular file, has fs-verity, and
 * measures to the metacopy digest (algorithm, length, bytes). Inline files
 * are covered by the image digest. With deep, every object is also read, so
 * on-disk corruption shows now as EIO. Memory stays bounded: a streaming
 * walk feeding a bounded queue of worker threads.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "sc-digest.h"

enum sc_obj_problem {
	SC_OBJ_MISSING = 0,    /* the redirect names no object */
	SC_OBJ_NO_VERITY,      /* the object has no fs-verity */
	SC_OBJ_MISMATCH,       /* measured digest differs from the metacopy's */
	SC_OBJ_UNREADABLE,     /* EIO while reading: the kernel caught a verity violation */
	SC_OBJ_VANISHED,       /* not a regular file (symlink, FIFO, directory) or gone */
	SC_OBJ_BAD_XATTR,      /* malformed or empty metacopy, malformed redirect */
	SC_OBJ_ERROR,          /* EACCES, EMFILE, ENOTTY ...: could not decide */
	_SC_OBJ_PROBLEM_MAX,
};

enum sc_verify_walk {
	SC_VERIFY_WALK_AUTO = 0, /* parse the image; mount it when the reader does not know its layout */
	SC_VERIFY_WALK_PARSE,    /* parse the image's bytes (sc-erofs.h) */
	SC_VERIFY_WALK_MOUNT,    /* mount it read-only, detached, and walk the kernel's view */
};

struct sc_verify_options {
	const char *image;    /* the EROFS image file */
	const char *objects;  /* the object store (composefs/objects) */
	const char *mountpoint; /* an already mounted image instead of mounting @image */
	bool deep;
	uint64_t max_files;   /* 0: no limit */
	unsigned max_seconds; /* 0: no limit */
	unsigned max_problems;/* how many problems to list (default 20) */
	unsigned threads;     /* 0: a default for the I/O */
	enum sc_verify_walk walk;
	const struct sc_digest *image_digest; /* what the image must measure to (the cmdline's); NULL: not checked */
};

enum sc_image_check {
	SC_IMAGE_UNCHECKED = 0, /* no digest asked for (--image given) */
	SC_IMAGE_MATCH,
	SC_IMAGE_MISMATCH,
	SC_IMAGE_UNPROVEN,      /* no fs-verity on the image, or it could not be measured */
};

struct sc_verify_result {
	uint64_t files, dirs, other, inline_files, objects, bytes, bytes_read;
	uint64_t problems[_SC_OBJ_PROBLEM_MAX];
	bool stopped_early;
	const char *stop_reason; /* static text */
	double seconds;
	const char *walker;      /* "parsed" or "mounted" */
	enum sc_image_check image_check;
	int image_errno;         /* SC_IMAGE_UNPROVEN: why */
	int walk_errno;          /* the walk was cut short by this error (never a pass); 0: it was not */
	struct sc_digest image_measured;
	json_t *listed;          /* array of {path, object, problem, detail} */
};

const char *sc_obj_problem_name(enum sc_obj_problem p);

/*
 * sc_verify() - walk and check. Returns 0 (see the counters), or a negative
 * errno when the walk could not start (image not mountable, store missing);
 * @why then says what.
 */
int sc_verify(const struct sc_verify_options *o, struct sc_verify_result *ret, char *why, size_t why_size);
void sc_verify_result_done(struct sc_verify_result *r);

/* What a result means, decided once here; JSON and text only present it. */
enum sc_verify_status {
	SC_VERIFY_PASS = 0,   /* every object of the whole image checked and good */
	SC_VERIFY_FAIL,       /* an object or the image breaks the seal */
	SC_VERIFY_ERROR,      /* something could not be decided, or the walk was cut short by an error */
	SC_VERIFY_INCOMPLETE, /* stopped early (max_seconds, max_files): not every object was checked */
};
enum sc_verify_status sc_verify_status(const struct sc_verify_result *r);
/* "pass", "fail" or "error": an incomplete walk is presented as an error whose reason says "incomplete". */
const char *sc_verify_status_name(enum sc_verify_status s);
/* The one-line reason for sc_verify_status(), into @buf. */
void sc_verify_reason(const struct sc_verify_options *o, const struct sc_verify_result *r, char *buf, size_t size);

/* The result as the report's checks.objects: status, reason and the counters. */
json_t *sc_verify_to_json(const struct sc_verify_options *o, const struct sc_verify_result *r);
