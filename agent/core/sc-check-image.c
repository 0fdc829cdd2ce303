/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sc-checks.h"
#include "sc-fsverity.h"
#include "sc-json.h"

/*
 * images/<digest> is usually a symlink into objects/: resolve it inside the
 * repository (RESOLVE_IN_ROOT), so neither a fixture tree nor a hostile link
 * can lead the measurement outside it.
 */
static int open_in_repo(int repo_fd, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	long fd = syscall(SYS_openat2, repo_fd, rel, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS) /* kernels before 5.6 */
		fd = openat(repo_fd, rel, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	return fd < 0 ? sc_negative_errno() : (int)fd;
}

int sc_check_composefs_image(const struct sc_paths *paths, const struct sc_seal_cmdline *cmdline, int chosen,
			     struct sc_check *c)
{
	_cleanup_free_ char *repo_rel = NULL, *repo = NULL, *rel = NULL;
	_cleanup_close_ int repo_fd = -1, fd = -1;
	const struct sc_digest *want;
	struct sc_digest got;
	char hex[SC_DIGEST_HEX_MAX + 1], s1[SC_DIGEST_HEX_MAX + 8], s2[SC_DIGEST_HEX_MAX + 8];
	struct stat st;
	int r;

	if (!cmdline->parsed)
		return sc_check_set(c, SC_STATUS_ERROR, "the cmdline could not be read: no digest to measure against");
	if (cmdline->n_digests == 0)
		return sc_check_set(c, SC_STATUS_FAIL, "no valid composefs digest on the cmdline to measure against");
	want = &cmdline->digests[chosen >= 0 ? chosen : 0].digest;
	if (asprintf(&repo_rel, "%s/composefs", paths->sysroot) < 0 || sc_path_join(paths, repo_rel, &repo) < 0 ||
	    asprintf(&rel, "images/%s", sc_digest_to_hex(want, hex)) < 0)
		return -ENOMEM;
	if (sc_json_set(c->facts, "path", json_sprintf("%s/%s", repo_rel, rel)) < 0 ||
	    sc_json_set(c->facts, "expected", json_string(sc_digest_to_string(want, s1))) < 0)
		return -ENOMEM;

	repo_fd = open(repo, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (repo_fd < 0)
		return errno == ENOENT ? sc_check_set(c, SC_STATUS_FAIL, "no composefs repository at %s", repo_rel)
		       : errno == EACCES
			       ? sc_check_set(c, SC_STATUS_ERROR, "%s: permission denied (the repository is 0700; run as root)",
					      repo_rel)
			       : sc_check_set(c, SC_STATUS_ERROR, "%s: %s", repo_rel, strerror(errno));
	fd = open_in_repo(repo_fd, rel);
	if (fd == -ENOENT)
		return sc_check_set(c, SC_STATUS_FAIL, "image %s not found in %s", rel, repo_rel);
	if (fd < 0)
		return sc_check_set(c, SC_STATUS_ERROR, "cannot open %s/%s: %s", repo_rel, rel, strerror(-fd));
	if (fstat(fd, &st) < 0)
		return sc_check_set(c, SC_STATUS_ERROR, "cannot stat %s/%s: %s", repo_rel, rel, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return sc_check_set(c, SC_STATUS_FAIL, "%s/%s is not a regular file", repo_rel, rel);
	if (sc_json_set(c->facts, "size", json_integer((json_int_t)st.st_size)) < 0)
		return -ENOMEM;

	r = sc_fsverity_measure_fd(fd, &got);
	if (r == -ENODATA)
		return sc_check_set(c, SC_STATUS_FAIL, "no fs-verity on the image %s/%s", repo_rel, rel);
	if (r < 0)
		return sc_check_set(c, SC_STATUS_ERROR, "cannot measure %s/%s: %s", repo_rel, rel,
				    sc_fsverity_strerror(r) ?: strerror(-r));
	if (sc_json_set(c->facts, "measured", json_string(sc_digest_to_string(&got, s2))) < 0)
		return -ENOMEM;
	if (got.alg != want->alg)
		return sc_check_set(c, SC_STATUS_FAIL, "algorithm mismatch: image measures %s, cmdline names %s",
				    sc_hash_alg_name(got.alg), sc_hash_alg_name(want->alg));
	if (!sc_digest_equal(&got, want))
		return sc_check_set(c, SC_STATUS_FAIL, "fs-verity content mismatch: image measures %s", s2);
	return sc_check_set(c, SC_STATUS_PASS, "fs-verity %s digest of the image equals the cmdline's",
			    sc_hash_alg_name(got.alg));
}
