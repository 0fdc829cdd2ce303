/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verify's parsed walk over arbitrary image bytes: directory loops, depth,
 * path building, the set of visited directories, and every object check the
 * image's redirects lead to, against a small fixed object store (a regular
 * file, a FIFO, a symlink out of the store, a directory where an object
 * should be). The store and the image file live in one mkdtemp directory
 * made once at start-up and removed at exit.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sc-verify.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/sealcheck-fuzz-verify.XXXXXX";
static char image[sizeof(dir) + 16], objects[sizeof(dir) + 16];
static int image_fd = -1;

/* Relative to the temp directory, removed in reverse order. */
static const char *const made[] = {
	"objects/00/regular", "objects/00/fifo", "objects/00/up", "objects/00/dir", "objects/00", "objects/01",
	"objects", "image.erofs",
};

static void cleanup(void)
{
	char p[sizeof(dir) + 64];

	if (image_fd >= 0)
		close(image_fd);
	for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, made[i]);
		if (unlink(p) < 0)
			rmdir(p);
	}
	rmdir(dir);
}

static void at(char *out, size_t size, const char *rel)
{
	snprintf(out, size, "%s/%s", dir, rel);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char p[sizeof(dir) + 64];
	int fd;

	(void)argc, (void)argv;
	if (!mkdtemp(dir))
		abort();
	atexit(cleanup);
	at(objects, sizeof(objects), "objects");
	at(image, sizeof(image), "image.erofs");
	if (mkdir(objects, 0755) < 0)
		abort();
	at(p, sizeof(p), "objects/00");
	if (mkdir(p, 0755) < 0)
		abort();
	at(p, sizeof(p), "objects/00/regular");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "object\n", 7) != 7)
		abort();
	close(fd);
	at(p, sizeof(p), "objects/00/fifo");
	if (mkfifo(p, 0644) < 0)
		abort();
	at(p, sizeof(p), "objects/00/up");
	if (symlink("/", p) < 0)
		abort();
	at(p, sizeof(p), "objects/00/dir");
	if (mkdir(p, 0755) < 0)
		abort();
	at(p, sizeof(p), "objects/01");
	if (symlink("00", p) < 0)
		abort();
	image_fd = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (image_fd < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_verify_options o = {
		.image = image,
		.objects = objects,
		.walk = SC_VERIFY_WALK_PARSE,
		.max_files = 4096,
		.threads = 1,
	};
	struct sc_verify_result res;
	char why[256];

	if (size > (1u << 20) || ftruncate(image_fd, 0) < 0 || pwrite(image_fd, data, size, 0) != (ssize_t)size)
		return 0;
	if (sc_verify(&o, &res, why, sizeof(why)) == 0) {
		json_t *j = sc_verify_to_json(&o, &res);

		/* Whatever the bytes, the status is decided and a walk cut short is never a pass. */
		if (res.stopped_early && sc_verify_status(&res) == SC_VERIFY_PASS)
			abort();
		json_decref(j);
		sc_verify_result_done(&res);
	}
	return 0;
}
