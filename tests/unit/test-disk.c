/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * host-probe/disk: a user's disk image as `run --disk` reads it. The GPT of a
 * bootc-shaped disk (sfdisk wrote it: tests/fixtures/disk/README.md), then
 * what a broken or hostile image holds: a header or entry array whose CRC32
 * does not match, a second ESP, a partition past the disk's end, entries
 * outside the first MiB, sizes out of range. The systemd-boot entry as the
 * builder writes it after bootc's write_systemd_uki_config(), then entries
 * that start another chain than one UKI: options, linux/initrd, two efi
 * keys, paths that climb or carry odd bytes, NUL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe-bls.h"
#include "probe-gpt.h"
#include "sc-fileio.h"
#include "sc-macro.h"
#include "unit.h"

#define DISK_SIZE 648019968ull /* the disk the fixture's first sectors come from */

static uint8_t *head;
static size_t head_len;

static int setup(void **state)
{
	(void)state;
	return sc_read_file_capped(FIXTURES_DIR "/disk/bootc-gpt-head.bin", PROBE_GPT_HEAD_MAX, (char **)&head,
				   &head_len) < 0;
}

static int teardown(void **state)
{
	(void)state;
	free(head);
	return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A copy whose CRCs are made right again after @edit: what a careful forger writes. */
static uint8_t *edited(void (*edit)(uint8_t *h), bool fix_crcs)
{
	uint8_t *c = malloc(head_len), *h;

	assert_non_null(c);
	memcpy(c, head, head_len);
	h = c + 512;
	edit(c);
	if (fix_crcs) {
		uint32_t n = h[80] | h[81] << 8, esize = h[84] | h[85] << 8;

		if ((size_t)n * esize <= head_len - 1024)
			put32(h + 88, probe_crc32(c + 1024, (size_t)n * esize));
		put32(h + 16, 0);
		put32(h + 16, probe_crc32(h, 92));
	}
	return c;
}

static int find(const uint8_t *buf, uint64_t size, struct probe_gpt_part *p, char *why)
{
	return probe_gpt_find_esp(buf, head_len, size, p, why, 256);
}

static void test_gpt_real(void **state)
{
	struct probe_gpt_part p;
	char why[256];

	(void)state;
	assert_int_equal(find(head, DISK_SIZE, &p, why), 0);
	assert_int_equal(p.index, 2); /* after BIOS-BOOT, as bootc partitions x86-64 */
	assert_int_equal(p.first_lba, 4096);
	assert_int_equal(p.last_lba, 137215);
	/* The known answer of UEFI's CRC-32. */
	assert_int_equal(probe_crc32((const uint8_t *)"123456789", 9), 0xcbf43926u);
}

static void flip_header(uint8_t *c) { c[512 + 40] ^= 1; }
#define ESP (1024 + 128) /* entry 2 */
static void flip_entry(uint8_t *c) { c[ESP + 40] ^= 1; }
static void second_esp(uint8_t *c) { memcpy(c + 1024 + 3 * 128, c + ESP, 128); }
static void esp_past_end(uint8_t *c) { put64(c + ESP + 40, DISK_SIZE / 512); }
static void esp_backwards(uint8_t *c) { put64(c + ESP + 32, 200000); }
static void no_esp(uint8_t *c) { c[ESP] ^= 0xff; }
static void entries_far(uint8_t *c) { put64(c + 512 + 72, 4096); }
static void entries_lba1(uint8_t *c) { put64(c + 512 + 72, 1); }
static void huge_header(uint8_t *c) { put32(c + 512 + 12, 600); }
static void small_entries(uint8_t *c) { put32(c + 512 + 84, 64); }
static void no_entries(uint8_t *c) { put32(c + 512 + 80, 0); }
static void many_entries(uint8_t *c) { put32(c + 512 + 80, 100000); }
static void bad_signature(uint8_t *c) { c[512] = 'X'; }
static void other_lba(uint8_t *c) { put64(c + 512 + 24, 2); }

static void expect(void (*edit)(uint8_t *), bool fix, int want, const char *part)
{
	_cleanup_free_ uint8_t *c = edited(edit, fix);
	struct probe_gpt_part p;
	char why[256] = "";

	assert_int_equal(find(c, DISK_SIZE, &p, why), want);
	if (!strstr(why, part))
		fail_msg("\"%s\" does not say \"%s\"", why, part);
}

static void test_gpt_hostile(void **state)
{
	(void)state;
	expect(flip_header, false, -EBADMSG, "header's CRC32");
	expect(flip_entry, false, -EBADMSG, "entries' CRC32");
	expect(second_esp, true, -ENOTUNIQ, "more than one EFI System Partition (2 and 4)");
	expect(esp_past_end, true, -EBADMSG, "not within the disk");
	expect(esp_backwards, true, -EBADMSG, "not within the disk");
	expect(no_esp, true, -ENOENT, "no EFI System Partition");
	expect(entries_far, true, -EBADMSG, "not within the disk's first MiB");
	expect(entries_lba1, true, -EBADMSG, "not within the disk's first MiB");
	expect(huge_header, true, -EBADMSG, "header size 600");
	expect(small_entries, true, -EBADMSG, "entry size 64");
	expect(no_entries, true, -EBADMSG, "0 entries");
	expect(many_entries, true, -EBADMSG, "100000 entries");
	expect(bad_signature, true, -EBADMSG, "EFI PART");
	expect(other_lba, true, -EBADMSG, "names itself at LBA 2");
}

static void test_gpt_short(void **state)
{
	struct probe_gpt_part p;
	char why[256];

	(void)state;
	assert_int_equal(probe_gpt_find_esp(head, 600, DISK_SIZE, &p, why, sizeof(why)), -EBADMSG);
	/* The entries need the first 34 sectors. */
	assert_int_equal(probe_gpt_find_esp(head, 2048, DISK_SIZE, &p, why, sizeof(why)), -EBADMSG);
	/* A disk that ends before the ESP. */
	assert_int_equal(probe_gpt_find_esp(head, head_len, 100 * 512, &p, why, sizeof(why)), -EBADMSG);
}

static int bls(const char *text, struct probe_bls_entry *e, char *why)
{
	return probe_bls_entry_parse(text, strlen(text), e, why, 256);
}

static void test_bls_real(void **state)
{
	_cleanup_free_ char *text = NULL;
	struct probe_bls_entry e;
	char why[256];
	size_t len;

	(void)state;
	assert_int_equal(sc_read_file_capped(FIXTURES_DIR "/disk/bootc-entry.conf", PROBE_BLS_ENTRY_MAX, &text, &len), 0);
	assert_int_equal(probe_bls_entry_parse(text, len, &e, why, sizeof(why)), 0);
	assert_string_equal(e.title, "Debian GNU/Linux 13 (trixie)");
	assert_string_equal(e.sort_key, "bootc-debian-0");
	assert_true(strncmp(e.efi, "/EFI/Linux/bootc/bootc_composefs-", 33) == 0);
	assert_int_equal(strlen(e.efi), 33 + 128 + 4); /* a sha512 digest, ".efi" */
	/* systemd-boot 258's key, comments, CRLF, tabs, unknown keys (ignored, as the specification says). */
	assert_int_equal(bls("# written by bootc\r\ntitle\tFedora\r\nuki /EFI/Linux/bootc/x.efi\r\nmachine-id 1234\r\n", &e, why), 0);
	assert_string_equal(e.efi, "/EFI/Linux/bootc/x.efi");
	assert_string_equal(e.title, "Fedora");
	/* A title is shown: its control bytes are not. */
	assert_int_equal(bls("title a\033[2Jb\nefi /a.efi\n", &e, why), 0);
	assert_string_equal(e.title, "a?[2Jb");
}

static void expect_bls(const char *text, size_t len, const char *part)
{
	struct probe_bls_entry e;
	char why[256] = "";

	assert_int_equal(probe_bls_entry_parse(text, len, &e, why, sizeof(why)), -EBADMSG);
	if (!strstr(why, part))
		fail_msg("\"%s\" does not say \"%s\"", why, part);
}

#define BAD(s, part) expect_bls(s, strlen(s), part)

static void test_bls_hostile(void **state)
{
	static char big[PROBE_BLS_ENTRY_MAX + 2];

	(void)state;
	BAD("title x\n", "no efi or uki key");
	BAD("efi /a.efi\nefi /b.efi\n", "a second efi/uki key");
	BAD("efi /a.efi\nuki /a.efi\n", "a second efi/uki key");
	BAD("efi /a.efi\noptions composefs=abc\n", "\"options\"");
	/* systemd-boot ends a line at \r too: what hides behind one is read. */
	BAD("title x\roptions init=/bin/sh\nefi /EFI/Linux/a.efi\n", "\"options\"");
	BAD("efi /EFI/Linux/a.efi\nversion 1\refi /EFI/Linux/evil.efi\n", "a second efi/uki key");
	BAD("linux /vmlinuz\ninitrd /initrd\n", "\"linux\"");
	BAD("efi /a.efi\ninitrd /extra.cpio\n", "\"initrd\"");
	BAD("efi /a.efi\nprofile 1\n", "\"profile\"");
	BAD("uki-url http://x/a.efi\n", "\"uki-url\"");
	BAD("efi EFI/a.efi\n", "not an absolute path");
	BAD("efi /EFI/../a.efi\n", "not an absolute path");
	BAD("efi /EFI//a.efi\n", "not an absolute path");
	BAD("efi /EFI/./a.efi\n", "not an absolute path");
	BAD("efi /EFI/a b.efi\n", "not an absolute path");
	BAD("efi /EFI/a\\b.efi\n", "not an absolute path");
	BAD("efi /EFI/\xc3\xa9.efi\n", "not an absolute path");
	BAD("efi /EFI/a.efi/\n", "not an absolute path");
	BAD("efi\n", "not an absolute path");
	expect_bls("efi /a.efi\0\n", 12, "a NUL byte");
	memset(big, 'a', sizeof(big) - 1);
	BAD(big, "over 16384 bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gpt_real), cmocka_unit_test(test_gpt_hostile), cmocka_unit_test(test_gpt_short),
		cmocka_unit_test(test_bls_real), cmocka_unit_test(test_bls_hostile),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
