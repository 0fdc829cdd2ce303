/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit.h"

#include <libmount.h>
#include <stdio.h>
#include <stdlib.h>

#include "sc-mountopts.h"

/* The superblock options of the real composefs root (tests/fixtures/real-vm). */
#define REAL "ro,lowerdir=/run/img::/phys/composefs/objects,redirect_dir=on,metacopy=on,verity=require"

static struct sc_overlay_opts parse(const char *raw)
{
	struct sc_overlay_opts o;

	assert_int_equal(sc_overlay_opts_parse(raw, strlen(raw), &o), 0);
	return o;
}

static void test_real_root(void **state)
{
	struct sc_overlay_opts o = parse(REAL);

	assert_string_equal(o.verity, "require");
	assert_string_equal(o.metacopy, "on");
	assert_string_equal(o.redirect_dir, "on");
	assert_string_equal(o.lowerdir, "/run/img::/phys/composefs/objects");
	assert_int_equal(o.n_options, 5);
	sc_overlay_opts_done(&o);
}

static void test_escaped_comma_is_not_an_option(void **state)
{
	/* A lowerdir directory named "x,verity=require": the kernel escapes the comma. */
	struct sc_overlay_opts o = parse("ro,lowerdir=/run/x\\054verity=require::/objects,metacopy=on");

	assert_null(o.verity);
	assert_string_equal(o.lowerdir, "/run/x,verity=require::/objects");
	sc_overlay_opts_done(&o);
}

static void test_libmount_would_be_fooled(void **state)
{
	/*
	 * Why we split the raw text ourselves: libmount unescapes the whole
	 * superblock-options field, so the same line "has" verity=require there.
	 * If this ever stops holding, libmount may be used directly again.
	 */
	const char *line = "30 1 0:23 / / ro - overlay composefs:ab ro,lowerdir=/run/x\\054verity=require::/o\n";
	struct libmnt_table *tb = mnt_new_table();
	FILE *f = fmemopen((void *)line, strlen(line), "r");
	struct libmnt_fs *fs;
	char *v = NULL;
	size_t vs = 0;

	assert_non_null(tb);
	assert_non_null(f);
	assert_int_equal(mnt_table_parse_stream(tb, f, "test"), 0);
	fs = mnt_table_find_target(tb, "/", MNT_ITER_BACKWARD);
	assert_non_null(fs);
	assert_int_equal(mnt_fs_get_option(fs, "verity", &v, &vs), 0);
	fclose(f);
	mnt_unref_table(tb);
}

static void test_unescape(void **state)
{
	char *s;

	assert_int_equal(sc_mount_unescape(STR_AND_LEN("a\\040b\\011c\\012d\\134e\\054f"), &s), 0);
	assert_string_equal(s, "a b\tc\nd\\e,f");
	free(s);
	/* Not three octal digits: kept as is, never read past the end. */
	assert_int_equal(sc_mount_unescape(STR_AND_LEN("x\\04"), &s), 0);
	assert_string_equal(s, "x\\04");
	free(s);
	assert_int_equal(sc_mount_unescape(STR_AND_LEN("x\\999\\"), &s), 0);
	assert_string_equal(s, "x\\999\\");
	free(s);
}

static void test_verity_modes(void **state)
{
	struct sc_overlay_opts o = parse("ro,lowerdir=/a::/b,verity=on");

	assert_string_equal(o.verity, "on");
	sc_overlay_opts_done(&o);
	o = parse("ro,lowerdir=/a::/b");
	assert_null(o.verity);
	sc_overlay_opts_done(&o);
	/* The last occurrence is in effect, as the kernel parses them. */
	o = parse("verity=require,verity=off");
	assert_string_equal(o.verity, "off");
	assert_true(o.duplicate_verity);
	sc_overlay_opts_done(&o);
}

static void test_new_layer_syntax(void **state)
{
	struct sc_overlay_opts o = parse("ro,lowerdir+=/run/img,datadir+=/sysroot/composefs/objects,"
					 "redirect_dir=on,metacopy=on,verity=require");

	assert_int_equal(o.n_lower_plus, 1);
	assert_int_equal(o.n_data_plus, 1);
	assert_string_equal(o.layers[0], "/run/img");
	assert_false(o.layer_is_data[0]);
	assert_string_equal(o.layers[1], "/sysroot/composefs/objects");
	assert_true(o.layer_is_data[1]);
	assert_string_equal(o.verity, "require");
	sc_overlay_opts_done(&o);
}

static void test_too_many_layers(void **state)
{
	char buf[8192] = "ro";
	struct sc_overlay_opts o;

	for (int i = 0; i < SC_OVERLAY_MAX_LAYERS + 1; i++)
		strcat(buf, ",lowerdir+=/l");
	assert_int_equal(sc_overlay_opts_parse(buf, strlen(buf), &o), -E2BIG);
}

static void test_empty_elements(void **state)
{
	struct sc_overlay_opts o = parse(",,verity=require,,");

	assert_string_equal(o.verity, "require");
	assert_int_equal(o.n_options, 1);
	sc_overlay_opts_done(&o);
	o = parse("");
	assert_int_equal(o.n_options, 0);
	sc_overlay_opts_done(&o);
}

static struct sc_overlay_layers split(const char *s)
{
	struct sc_overlay_layers l;

	assert_int_equal(sc_overlay_split_lowerdir(s, &l), 0);
	return l;
}

static void test_split_lowerdir(void **state)
{
	/* Documentation/filesystems/overlayfs.rst: "lowerdir=/l1:/l2:/l3::/do1::/do2". */
	struct sc_overlay_layers l = split("/l1:/l2:/l3::/do1::/do2");
	const char *want[] = { "/l1", "/l2", "/l3", "/do1", "/do2" };

	assert_int_equal(l.n, 5);
	assert_int_equal(l.n_data, 2);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(l.path[i], want[i]);
		assert_int_equal(l.data[i], i >= 3);
	}
	sc_overlay_layers_done(&l);
	/* The real capture: one image, one data-only objects layer. */
	l = split("/run/img::/phys/composefs/objects");
	assert_int_equal(l.n, 2);
	assert_false(l.data[0]);
	assert_true(l.data[1]);
	sc_overlay_layers_done(&l);
	/* IMG:EVIL::OBJECTS: two lower layers. */
	l = split("/run/img:/var/evil::/objects");
	assert_int_equal(l.n, 3);
	assert_int_equal(l.n_data, 1);
	assert_string_equal(l.path[1], "/var/evil");
	assert_false(l.data[1]);
	sc_overlay_layers_done(&l);
	/* An empty lowerdir= drops every layer. */
	l = split("");
	assert_int_equal(l.n, 0);
	sc_overlay_layers_done(&l);
}

static void test_split_escapes(void **state)
{
	/* '\\' keeps the next character, ':' included; a lone trailing '\\' goes (ovl_unescape()). */
	struct sc_overlay_layers l = split("/a\\:b::/c\\\\d\\");

	assert_int_equal(l.n, 2);
	assert_string_equal(l.path[0], "/a:b");
	assert_false(l.data[0]);
	assert_string_equal(l.path[1], "/c\\d");
	assert_true(l.data[1]);
	sc_overlay_layers_done(&l);
	/* "\\::" is an escaped colon then a single separator: two lower layers. */
	l = split("/a\\::/b");
	assert_int_equal(l.n, 2);
	assert_int_equal(l.n_data, 0);
	assert_string_equal(l.path[0], "/a:");
	sc_overlay_layers_done(&l);
}

static void test_split_refused(void **state)
{
	/* What Linux fs/overlayfs/params.c refuses. */
	const char *bad[] = { ":/a", "/a:", "/a::", "/a:::/b", "/a::/d:/b", "/a::::/b" };
	struct sc_overlay_layers l;
	char buf[1024] = "/l";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sc_overlay_split_lowerdir(bad[i], &l), -EINVAL);
	for (int i = 0; i < SC_OVERLAY_MAX_LAYERS; i++)
		strcat(buf, ":/l");
	assert_int_equal(sc_overlay_split_lowerdir(buf, &l), -E2BIG);
}

static void test_layers_in_effect(void **state)
{
	struct sc_overlay_opts o = parse("ro,lowerdir+=/img,lowerdir+=/evil,datadir+=/objects,upperdir=/u,workdir=/w");
	struct sc_overlay_layers l;

	assert_string_equal(o.upperdir, "/u");
	assert_string_equal(o.workdir, "/w");
	assert_int_equal(sc_overlay_opts_layers(&o, &l), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.n_data, 1);
	assert_string_equal(l.path[1], "/evil");
	sc_overlay_layers_done(&l);
	sc_overlay_opts_done(&o);
	/* The kernel prints one form or the other, and one lowerdir=. */
	o = parse("lowerdir=/img::/objects,lowerdir+=/evil");
	assert_int_equal(sc_overlay_opts_layers(&o, &l), -EINVAL);
	sc_overlay_opts_done(&o);
	o = parse("lowerdir=/evil,lowerdir=/img::/objects");
	assert_int_equal(o.n_lowerdir, 2);
	assert_int_equal(sc_overlay_opts_layers(&o, &l), -EINVAL);
	sc_overlay_opts_done(&o);
	/* A lower layer after a data-only one is refused by the kernel. */
	o = parse("datadir+=/objects,lowerdir+=/img");
	assert_int_equal(sc_overlay_opts_layers(&o, &l), -EINVAL);
	sc_overlay_opts_done(&o);
	/* mountinfo's octal escapes come off first: \072 is a ':' separator once unescaped, \134: an escaped colon. */
	o = parse("lowerdir=/img\\072/evil::/o");
	assert_int_equal(sc_overlay_opts_layers(&o, &l), 0);
	assert_int_equal(l.n - l.n_data, 2);
	sc_overlay_layers_done(&l);
	sc_overlay_opts_done(&o);
	o = parse("lowerdir=/im\\134:g::/o");
	assert_int_equal(sc_overlay_opts_layers(&o, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.path[0], "/im:g");
	sc_overlay_layers_done(&l);
	sc_overlay_opts_done(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_lowerdir), cmocka_unit_test(test_split_escapes),
		cmocka_unit_test(test_split_refused), cmocka_unit_test(test_layers_in_effect),
		cmocka_unit_test(test_real_root),       cmocka_unit_test(test_escaped_comma_is_not_an_option),
		cmocka_unit_test(test_libmount_would_be_fooled), cmocka_unit_test(test_unescape),
		cmocka_unit_test(test_verity_modes),    cmocka_unit_test(test_new_layer_syntax),
		cmocka_unit_test(test_too_many_layers), cmocka_unit_test(test_empty_elements),
	};
	return cmocka_run_group_tests_name("mountopts", tests, NULL, NULL);
}
