/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PCR 11 prediction and the PE reader, on real UKIs (tests/fixtures/uki,
 * made by make-fixtures.sh from Debian 12's systemd-stub 252):
 * uki-252.expect holds what the real `systemd-measure calculate` printed;
 * uki-newer.expect (a newer .sdmagic, a .uname section) an independent
 * Python computation, since systemd-measure 252 cannot measure .uname/.sbat.
 * Then one malformed field at a time: each a clear error, never a crash.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probe-evidence.h"
#include "probe-pcr11.h"
#include "probe-pe.h"
#include "probe-vm.h"
#include "sc-digest.h"
#include "sc-fileio.h"
#include "sc-macro.h"

#define UKI_DIR FIXTURES_DIR "/uki"

struct fixture {
	char *buf;
	size_t len;
};

static struct fixture load(const char *name)
{
	struct fixture f = { 0 };
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", UKI_DIR, name);
	assert_int_equal(sc_read_file_capped(path, PROBE_PE_FILE_MAX, &f.buf, &f.len), 0);
	return f;
}

static uint32_t rd32(const char *p)
{
	const uint8_t *u = (const uint8_t *)p;

	return (uint32_t)u[0] | ((uint32_t)u[1] << 8) | ((uint32_t)u[2] << 16) | ((uint32_t)u[3] << 24);
}

static void wr32(char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (char)((v >> (8 * i)) & 0xff);
}

static void wr16(char *p, uint16_t v)
{
	p[0] = (char)(v & 0xff);
	p[1] = (char)(v >> 8);
}

static uint32_t pe_off(const struct fixture *f)
{
	return rd32(f->buf + 0x3c);
}

/* The header of the section named @name in @f's buffer. */
static char *section_header(const struct fixture *f, const char *name)
{
	uint32_t pe = pe_off(f);
	unsigned n = (uint8_t)f->buf[pe + 6] | ((uint8_t)f->buf[pe + 7] << 8);
	unsigned opt = (uint8_t)f->buf[pe + 20] | ((uint8_t)f->buf[pe + 21] << 8);

	for (unsigned i = 0; i < n; i++) {
		char *h = f->buf + pe + 24 + opt + 40 * i;

		if (strncmp(h, name, 8) == 0)
			return h;
	}
	fail_msg("no section %s", name);
	return NULL;
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Every line of @expect_name ("BANK PHASES 11:BANK=HEX") against the prediction for @uki_name. */
static void check_expect(const char *uki_name, const char *expect_name, unsigned stub, unsigned stub_expect)
{
	struct fixture f = load(uki_name), e = load(expect_name);
	_cleanup_free_ _unused_ char *ufree = f.buf, *efree = e.buf;
	struct probe_pe pe;
	char why[256], *save = NULL;
	unsigned lines = 0;

	assert_int_equal(probe_pe_parse(f.buf, f.len, &pe, why, sizeof(why)), 0);
	for (char *line = strtok_r(e.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char bank_s[16], phases_s[128], want[256], got[256], h[2 * PROBE_PCR_DIGEST_MAX + 1];
		const char *words[PROBE_PCR11_MAX_PHASES];
		unsigned n_words = 0;
		enum probe_bank bank;
		struct probe_pcr11 p;
		uint8_t replay[PROBE_PCR_DIGEST_MAX] = { 0 };

		assert_int_equal(sscanf(line, "%15s %127s %255s", bank_s, phases_s, want), 3);
		assert_int_equal(probe_bank_from_name(bank_s, &bank), 0);
		if (strcmp(phases_s, "-") != 0)
			assert_int_equal(probe_pcr11_parse_phases(phases_s, words, &n_words, why, sizeof(why)), 0);
		assert_int_equal(probe_pcr11_predict(&pe, bank, stub, words, n_words, &p, why, sizeof(why)), 0);
		assert_int_equal(p.stub_version, stub_expect);
		assert_int_equal(p.digest_len, probe_bank_size(bank));
		hex(p.value, p.digest_len, h);
		snprintf(got, sizeof(got), "11:%s=%s", bank_s, h);
		assert_string_equal(got, want);

		/* The event list replays to the same value, as the verifier will replay EV_IPL events. */
		for (unsigned i = 0; i < p.n_events; i++) {
			uint8_t nd[PROBE_PCR_DIGEST_MAX];
			char name0[10];

			snprintf(name0, sizeof(name0), "%s", p.events[i].name);
			assert_int_equal(probe_bank_hash(bank, name0, strlen(name0) + 1, nd), 0);
			assert_memory_equal(nd, p.events[i].name_digest, p.digest_len);
			assert_int_equal(probe_pcr_extend(bank, replay, p.events[i].name_digest), 0);
			assert_int_equal(probe_pcr_extend(bank, replay, p.events[i].data_digest), 0);
		}
		assert_memory_equal(replay, p.sections_value, p.digest_len);
		for (unsigned i = 0; i < p.n_phases; i++)
			assert_int_equal(probe_pcr_extend(bank, replay, p.phase_digests[i]), 0);
		assert_memory_equal(replay, p.value, p.digest_len);
		lines++;
	}
	assert_int_equal(lines, 12);
	probe_pe_done(&pe);
}

static void test_known_answers_252(void **state)
{
	check_expect("uki-252.efi", "uki-252.expect", 0, 252);
	check_expect("uki-252.efi", "uki-252.expect", 252, 252); /* explicit */
}

static void test_known_answers_newer(void **state)
{
	check_expect("uki-newer.efi", "uki-newer.expect", 0, 257);
	/* The same UKI measured as a 252 stub would: .uname and .sbat do not count, the rest is uki-252's. */
	check_expect("uki-newer.efi", "uki-252.expect", 252, 252);
}

/*
 * PCR 9's "Linux initrd": what the stub hands the kernel. 252: the .initrd
 * alone. 257: .initrd zero-padded to 4 bytes, then .osrel as the cpio archive
 * ".extra/os-release" (systemd src/boot/stub.c generate_embedded_initrds(),
 * combine_initrds(); src/boot/cpio.c pack_cpio_literal()). The values are an
 * independent Python implementation's (the one that reproduced the "Linux
 * initrd" digest of a real systemd-stub 257.13 boot under OVMF and swtpm,
 * tests/vm/test-bootc.sh boots the same).
 */
static void test_initrd_passed(void **state)
{
	static const struct {
		const char *uki;
		unsigned stub;
		const char *want;
	} cases[] = {
		{ "uki-252.efi", 0, "32079613ce62e63ef918ebdcc46d0d93bb9ccd21975fbbd14e300c73440f88cd" },
		{ "uki-newer.efi", 0, "918016dcd66eee893f1831ef26b6755402528253071efa19194b1c2fe1f8507c" },
		/* The same UKI started by a 252 stub: .initrd alone. */
		{ "uki-newer.efi", 252, "32079613ce62e63ef918ebdcc46d0d93bb9ccd21975fbbd14e300c73440f88cd" },
	};

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct fixture f = load(cases[i].uki);
		_cleanup_free_ _unused_ char *ufree = f.buf;
		struct probe_pe pe;
		struct probe_pcr11 p;
		char why[256], h[65];

		assert_int_equal(probe_pe_parse(f.buf, f.len, &pe, why, sizeof(why)), 0);
		assert_int_equal(probe_pcr11_predict(&pe, PROBE_BANK_SHA1, cases[i].stub, NULL, 0, &p, why, sizeof(why)), 0);
		assert_true(p.has_initrd);
		hex(p.initrd_sha256, 32, h);
		assert_string_equal(h, cases[i].want);
	}
}

/* @uki's section @from renamed @to (8 bytes each), or with @from's VirtualSize 0 when @to is NULL. */
static void check_initrd_edit(const char *from, const char *to, unsigned stub, const char *want)
{
	struct fixture f = load("uki-newer.efi");
	_cleanup_free_ _unused_ char *ufree = f.buf;
	struct probe_pe pe;
	struct probe_pcr11 p;
	char why[256], h[65], *at = memmem(f.buf, f.len, from, 8);

	assert_non_null(at);
	if (to)
		memcpy(at, to, 8);
	else
		memset(at + 8, 0, 4);
	assert_int_equal(probe_pe_parse(f.buf, f.len, &pe, why, sizeof(why)), 0);
	assert_int_equal(probe_pcr11_predict(&pe, PROBE_BANK_SHA256, stub, NULL, 0, &p, why, sizeof(why)), 0);
	hex(p.initrd_sha256, 32, h);
	assert_string_equal(h, want);
}

/* The same independent model: a .pcrpkey (the fixture's .uname renamed) is passed as a cpio archive by both
 * stubs, before 257's .osrel; a section of VirtualSize 0 passes nothing, and then .initrd goes alone, unpadded. */
static void test_initrd_passed_sections(void **state)
{
	(void)state;
	check_initrd_edit(".uname\0\0", ".pcrpkey", 0, "6d211aeefb45dc2f5e6fd008493f0389b73c15a641f9b8b04b37ecc460b57ec8");
	check_initrd_edit(".uname\0\0", ".pcrpkey", 252, "9d241220a8068ac6d63a36b8ed89a82b99c66b591544b7bb40168139410c4626");
	check_initrd_edit(".osrel\0\0", NULL, 0, "32079613ce62e63ef918ebdcc46d0d93bb9ccd21975fbbd14e300c73440f88cd");
}

static void test_events(void **state)
{
	struct fixture f = load("uki-252.efi"), g = load("uki-newer.efi");
	_cleanup_free_ _unused_ char *ffree = f.buf, *gfree = g.buf;
	static const char *const order_252[] = { ".linux", ".osrel", ".cmdline", ".initrd" };
	static const char *const order_new[] = { ".linux", ".osrel", ".cmdline", ".initrd", ".uname", ".sbat" };
	struct probe_pe pe;
	struct probe_pcr11 p;
	char why[256];
	unsigned v;

	assert_int_equal(probe_pe_parse(f.buf, f.len, &pe, why, sizeof(why)), 0);
	assert_int_equal(pe.machine, 0x8664);
	assert_true(pe.pe32plus);
	assert_int_equal(probe_pcr11_stub_version(&pe, &v, why, sizeof(why)), 0);
	assert_int_equal(v, 252);
	assert_int_equal(probe_pcr11_predict(&pe, PROBE_BANK_SHA256, 0, NULL, 0, &p, why, sizeof(why)), 0);
	assert_int_equal(p.n_events, ELEMENTSOF(order_252));
	for (unsigned i = 0; i < p.n_events; i++)
		assert_string_equal(p.events[i].name, order_252[i]);
	assert_int_equal(p.events[0].size, 3000); /* the fake kernel: VirtualSize < SizeOfRawData */
	/* The stub's own .sbat is there but a 252 stub does not measure it; a 254 one does. */
	assert_int_equal(probe_pcr11_predict(&pe, PROBE_BANK_SHA256, 254, NULL, 0, &p, why, sizeof(why)), 0);
	assert_int_equal(p.n_events, 5);
	assert_string_equal(p.events[4].name, ".sbat");

	assert_int_equal(probe_pe_parse(g.buf, g.len, &pe, why, sizeof(why)), 0);
	assert_int_equal(probe_pcr11_predict(&pe, PROBE_BANK_SHA1, 0, NULL, 0, &p, why, sizeof(why)), 0);
	assert_int_equal(p.stub_version, 257);
	assert_int_equal(p.n_events, ELEMENTSOF(order_new));
	for (unsigned i = 0; i < p.n_events; i++)
		assert_string_equal(p.events[i].name, order_new[i]);
}

/* Parse a copy of @f changed by @edit (NULL: unchanged) cut to @len; expect @err and @why to contain @msg. */
static void expect_pe(const struct fixture *f, size_t len, int err, const char *msg)
{
	struct probe_pe pe;
	char why[256] = "unset";
	int r;

	r = probe_pe_parse(f->buf, len, &pe, why, sizeof(why));
	if (r != err || !strstr(why, msg))
		fail_msg("parse of %zu bytes: %d \"%s\", wanted %d \"%s\"", len, r, why, err, msg);
}

static struct fixture copy_of(const struct fixture *f)
{
	struct fixture c = { .buf = malloc(f->len), .len = f->len };

	assert_non_null(c.buf);
	memcpy(c.buf, f->buf, f->len);
	return c;
}

static void test_pe_malformed(void **state)
{
	struct fixture f = load("uki-252.efi");
	_cleanup_free_ _unused_ char *ffree = f.buf;
	uint32_t pe = pe_off(&f);
	unsigned opt = (uint8_t)f.buf[pe + 20] | ((uint8_t)f.buf[pe + 21] << 8);
	struct probe_pe ok;
	char why[256];

	assert_int_equal(probe_pe_parse(f.buf, f.len, &ok, why, sizeof(why)), 0);
	assert_int_equal(ok.n_sections, 12);

	/* Truncated at every header. */
	expect_pe(&f, 0, -EBADMSG, "shorter than a DOS header");
	expect_pe(&f, 63, -EBADMSG, "shorter than a DOS header");
	expect_pe(&f, pe + 10, -EBADMSG, "e_lfanew");
	expect_pe(&f, pe + 24 + 50, -EBADMSG, "optional header of 240 bytes past the end");
	expect_pe(&f, pe + 24 + opt + 40 * 5, -EBADMSG, "section table (12 sections) past the end");
	expect_pe(&f, ok.size_of_headers - 1, -EBADMSG, "SizeOfHeaders");
	expect_pe(&f, f.len - 1, -EBADMSG, "COFF symbol table at 0x12a00 (362 symbols) outside the file");
	expect_pe(&f, 0x12a00 - 1, -EBADMSG, "section .initrd: raw data 0x12400+0x600 past the end");
	/* A cut anywhere is an error, never a crash (the sanitizer builds check the reads). */
	for (size_t len = 0; len < f.len; len += 97) {
		struct probe_pe p;

		assert_int_equal(probe_pe_parse(f.buf, len, &p, why, sizeof(why)), -EBADMSG);
		assert_true(why[0] != 0);
	}

	{
		struct fixture c = copy_of(&f);
		_cleanup_free_ _unused_ char *cfree = c.buf;

		c.buf[0] = 'X';
		expect_pe(&c, c.len, -EBADMSG, "no DOS header");
		c.buf[0] = 'M';
		wr32(c.buf + 0x3c, 0xfffffff0u);
		expect_pe(&c, c.len, -EBADMSG, "e_lfanew 0xfffffff0 out of range");
		wr32(c.buf + 0x3c, 0x10);
		expect_pe(&c, c.len, -EBADMSG, "e_lfanew 0x10 out of range");
		wr32(c.buf + 0x3c, (uint32_t)c.len - 8);
		expect_pe(&c, c.len, -EBADMSG, "out of range");
		wr32(c.buf + 0x3c, pe + 8);
		expect_pe(&c, c.len, -EBADMSG, "no PE signature");
		wr32(c.buf + 0x3c, pe);

		wr32(c.buf + pe + 12, 0xfffffff0u);
		expect_pe(&c, c.len, -EBADMSG, "COFF symbol table at 0xfffffff0");
		wr32(c.buf + pe + 12, 0x12a00);
		wr32(c.buf + pe + 16, 0xffffffffu);
		expect_pe(&c, c.len, -EBADMSG, "4294967295 symbols");
		wr32(c.buf + pe + 16, 362);

		wr16(c.buf + pe + 6, 97);
		expect_pe(&c, c.len, -EBADMSG, "97 sections (1 to 96 allowed)");
		wr16(c.buf + pe + 6, 0xffff);
		expect_pe(&c, c.len, -EBADMSG, "65535 sections");
		wr16(c.buf + pe + 6, 0);
		expect_pe(&c, c.len, -EBADMSG, "0 sections");
		wr16(c.buf + pe + 6, 12);

		wr16(c.buf + pe + 24, 0x107);
		expect_pe(&c, c.len, -EBADMSG, "neither PE32 nor PE32+");
		wr16(c.buf + pe + 24, 0x20b);
		wr16(c.buf + pe + 20, 100);
		expect_pe(&c, c.len, -EBADMSG, "shorter than its fixed fields");
		wr16(c.buf + pe + 20, (uint16_t)opt);
		wr32(c.buf + pe + 24 + 108, 17);
		expect_pe(&c, c.len, -EBADMSG, "17 data directories");
		wr32(c.buf + pe + 24 + 108, 16);
		/* The certificate table (data directory 4) past the end. */
		wr32(c.buf + pe + 24 + 112 + 32, (uint32_t)c.len - 4);
		wr32(c.buf + pe + 24 + 112 + 36, 8);
		expect_pe(&c, c.len, -EBADMSG, "certificate table");
		wr32(c.buf + pe + 24 + 112 + 32, 0);
		wr32(c.buf + pe + 24 + 112 + 36, 0);
		expect_pe(&c, c.len, 0, "");
	}

	{
		struct fixture c = copy_of(&f);
		_cleanup_free_ _unused_ char *cfree = c.buf;
		char *h = section_header(&c, ".initrd"), saved[40];

		memcpy(saved, h, 40);
		wr32(h + 20, (uint32_t)c.len - 0x10); /* PointerToRawData near the end */
		expect_pe(&c, c.len, -EBADMSG, "section .initrd: raw data");
		memcpy(h, saved, 40);
		wr32(h + 16, 0xffffffffu); /* SizeOfRawData */
		expect_pe(&c, c.len, -EBADMSG, "past the end of the file");
		memcpy(h, saved, 40);
		wr32(h + 8, 0xffffffffu); /* VirtualSize: VirtualAddress + VirtualSize overflows 32 bits */
		expect_pe(&c, c.len, -EBADMSG, "VirtualSize 0xffffffff past SizeOfImage");
		memcpy(h, saved, 40);
		wr32(h + 12, 0xfffff000u); /* VirtualAddress */
		expect_pe(&c, c.len, -EBADMSG, "past SizeOfImage");
		memcpy(h, saved, 40);
		wr32(h + 20, rd32(section_header(&c, ".linux") + 20)); /* raw data on .linux's */
		expect_pe(&c, c.len, -EBADMSG, "sections .linux and .initrd: raw data overlaps");
		memcpy(h, saved, 40);
		wr32(h + 12, rd32(section_header(&c, ".linux") + 12) + 4);
		expect_pe(&c, c.len, -EBADMSG, "sections .linux and .initrd: virtual ranges overlap");
		memcpy(h, saved, 40);
		wr32(h + 20, 0x100);
		expect_pe(&c, c.len, -EBADMSG, "inside the headers");
		memcpy(h, saved, 40);
		memcpy(h, "/4\0\0\0\0\0\0", 8);
		expect_pe(&c, c.len, -EBADMSG, "long name");
		memcpy(h, ".in\x01trd\0", 8);
		expect_pe(&c, c.len, -EBADMSG, "not printable ASCII");
		memcpy(h, ".in\0trd\0", 8);
		expect_pe(&c, c.len, -EBADMSG, "not printable ASCII");
		memcpy(h, "\0\0\0\0\0\0\0\0", 8);
		expect_pe(&c, c.len, -EBADMSG, "not printable ASCII");
		memcpy(h, saved, 40);
		expect_pe(&c, c.len, 0, "");
	}
}

static void expect_predict(const struct fixture *c, unsigned stub, int err, const char *msg)
{
	struct probe_pe pe;
	struct probe_pcr11 p;
	char why[256] = "unset";
	int r;

	assert_int_equal(probe_pe_parse(c->buf, c->len, &pe, why, sizeof(why)), 0);
	r = probe_pcr11_predict(&pe, PROBE_BANK_SHA256, stub, NULL, 0, &p, why, sizeof(why));
	if (r != err || !strstr(why, msg))
		fail_msg("predict: %d \"%s\", wanted %d \"%s\"", r, why, err, msg);
}

static void test_predict_refused(void **state)
{
	struct fixture f = load("uki-252.efi"), n = load("uki-newer.efi");
	_cleanup_free_ _unused_ char *ffree = f.buf, *nfree = n.buf;
	struct fixture c = copy_of(&f), d = copy_of(&n);
	_cleanup_free_ _unused_ char *cfree = c.buf, *dfree = d.buf;
	char *initrd = section_header(&c, ".initrd"), *sdmagic = section_header(&c, ".sdmagic");
	char *uname = section_header(&d, ".uname"), saved[40];

	memcpy(initrd, ".linux\0\0", 8);
	expect_predict(&c, 0, -EBADMSG, "2 .linux sections");
	memcpy(initrd, ".initrdX", 8);
	expect_predict(&c, 0, -EBADMSG, "section .initrdX: systemd-stub 252 would measure it as .initrd");
	memcpy(initrd, ".dtbauto", 8);
	expect_predict(&c, 0, -EBADMSG, "as .dtb (prefix match)");
	memcpy(initrd, ".initrd\0", 8);
	memcpy(section_header(&c, ".linux"), ".linu\0\0\0", 8);
	expect_predict(&c, 0, -EBADMSG, "no .linux section: not a UKI");
	memcpy(section_header(&c, ".linu"), ".linux\0\0", 8);

	/* VirtualSize far beyond the raw data (zero padding): refused above PROBE_PCR11_PAD_MAX. */
	memcpy(saved, initrd, 40);
	{
		uint32_t pe = pe_off(&c);

		wr32(initrd + 8, PROBE_PCR11_PAD_MAX + 0x10000);
		wr32(c.buf + pe + 24 + 56, rd32(initrd + 12) + PROBE_PCR11_PAD_MAX + 0x10000); /* SizeOfImage */
		expect_predict(&c, 0, -EBADMSG, "section .initrd: VirtualSize");
		/* Padding within the cap is measured as zeros: the value changes, no error. */
		wr32(initrd + 8, rd32(saved + 16) + 4096);
		expect_predict(&c, 0, 0, "");
		memcpy(initrd, saved, 40);
	}
	/* A VirtualSize of 0: not measured (the stub skips empty sections). */
	wr32(initrd + 8, 0);
	{
		struct probe_pe pe;
		struct probe_pcr11 p;
		char why[256];

		assert_int_equal(probe_pe_parse(c.buf, c.len, &pe, why, sizeof(why)), 0);
		assert_int_equal(probe_pcr11_predict(&pe, PROBE_BANK_SHA256, 0, NULL, 0, &p, why, sizeof(why)), 0);
		assert_int_equal(p.n_events, 3);
	}
	memcpy(initrd, saved, 40);

	/* .sdmagic: none, another program's, an old stub, no version. */
	memcpy(sdmagic, ".sdmagix", 8);
	expect_predict(&c, 0, -ENOMSG, "no .sdmagic section");
	expect_predict(&c, 252, 0, "");
	memcpy(sdmagic, ".sdmagic", 8);
	{
		char *data = c.buf + rd32(sdmagic + 20);

		memcpy(data, "#### LoaderInfo: systemd-boot 252 ####", 39);
		expect_predict(&c, 0, -ENOMSG, "does not name a systemd-stub");
		memcpy(data, "#### LoaderInfo: systemd-stub 251.3 ####", 41);
		expect_predict(&c, 0, -EBADMSG, "systemd-stub 251 predates 252");
		expect_predict(&c, 257, 0, "");
		memcpy(data, "#### LoaderInfo: systemd-stub x ####", 37);
		expect_predict(&c, 0, -EBADMSG, "no systemd version");
		memcpy(data, "#### LoaderInfo: systemd-stub 99999999999999999999 ####", 52);
		expect_predict(&c, 0, -EBADMSG, "no systemd version");
		memcpy(data, "#### LoaderInfo: systemd-stub 252", 33);
		memset(data + 33, 0, rd32(sdmagic + 8) - 33);
		expect_predict(&c, 0, -EBADMSG, "no systemd version");
	}

	/* Newer stubs: a multi-profile UKI, .dtbauto, .efifw. */
	memcpy(uname, ".profile", 8);
	expect_predict(&d, 0, -EBADMSG, "multi-profile UKI");
	memcpy(uname, ".dtbauto", 8);
	expect_predict(&d, 0, -EBADMSG, "section .dtbauto: systemd-stub 257 picks it");
	expect_predict(&d, 256, 0, ""); /* a 256 stub does not know .dtbauto */
	memcpy(uname, ".efifw\0\0", 8);
	expect_predict(&d, 0, 0, "");   /* a 257 stub does not measure .efifw */
	expect_predict(&d, 258, -EBADMSG, "section .efifw");
	memcpy(uname, ".uname\0\0", 8);
	memcpy(section_header(&d, ".initrd"), ".uname\0\0", 8);
	expect_predict(&d, 0, -EBADMSG, "2 .uname sections");
	expect_predict(&d, 252, 0, ""); /* a 252 stub measures neither */
}

static void test_phases_and_banks(void **state)
{
	const char *w[PROBE_PCR11_MAX_PHASES];
	char why[256];
	unsigned n;
	enum probe_bank b;

	{
		char s[] = "enter-initrd:leave-initrd:sysinit:ready:shutdown:final";

		assert_int_equal(probe_pcr11_parse_phases(s, w, &n, why, sizeof(why)), 0);
		assert_int_equal(n, 6);
		assert_string_equal(w[5], "final");
	}
	{
		char s[] = "";

		assert_int_equal(probe_pcr11_parse_phases(s, w, &n, why, sizeof(why)), 0);
		assert_int_equal(n, 0);
	}
	{
		char s[] = "enter-initrd::ready";

		assert_int_equal(probe_pcr11_parse_phases(s, w, &n, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "phase word \"\""));
	}
	{
		char s[] = "enter-initrd:bogus";

		assert_int_equal(probe_pcr11_parse_phases(s, w, &n, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "\"bogus\""));
	}
	{
		char s[] = "ready:ready:ready:ready:ready:ready:ready:ready:ready:ready:ready:ready:ready:ready:ready:"
			   "ready:ready";

		assert_int_equal(probe_pcr11_parse_phases(s, w, &n, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "more than 16"));
	}
	assert_int_equal(probe_bank_from_name("SHA256", &b), 0);
	assert_int_equal(b, PROBE_BANK_SHA256);
	assert_int_equal(probe_bank_from_name("sha3-256", &b), -EINVAL);
	assert_int_equal(probe_bank_from_name("sha", &b), -EINVAL);
	assert_string_equal(probe_bank_name(PROBE_BANK_SHA384), "sha384");

	/* A word the verifier did not get from probe_pcr11_parse_phases() is checked too. */
	{
		struct fixture f = load("uki-252.efi");
		_cleanup_free_ _unused_ char *ffree = f.buf;
		const char *bad[] = { "enter-initrd", "reboot" };
		struct probe_pe pe;
		struct probe_pcr11 p;

		assert_int_equal(probe_pe_parse(f.buf, f.len, &pe, why, sizeof(why)), 0);
		assert_int_equal(probe_pcr11_predict(&pe, PROBE_BANK_SHA256, 0, bad, 2, &p, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "reboot"));
	}
}

/*
 * Without a userspace log: each of systemd's boot phase paths against what
 * the real `systemd-measure calculate --bank=sha256 --phase=PATH` (252) prints
 * for uki-252.efi's sections (make-fixtures.sh's payloads; "", enter-initrd
 * and the full path are uki-252.expect's lines too). A value extended with an
 * unknown word, with known words out of order, or past "ready" matches none.
 */
static void test_boot_paths(void **state)
{
	static const struct {
		const char *path, *want;
	} ka[PROBE_PCR11_BOOT_PATHS] = {
		{ "", "4cf2d01a60a0dcc52c7ac0f316a21050cc18d0a1d7516214d44dcc6900a9e10a" },
		{ "enter-initrd", "6ffeee36feb5e639d9cfe94f51fd6ab4e8d30f509ef5ff87e13839a6b04bca02" },
		{ "enter-initrd:leave-initrd", "145f22f289160960fddf4f0038a2d9b82cb5de1b3a04128baf123322cbc9369a" },
		{ "enter-initrd:leave-initrd:sysinit", "082906efcb4c80282991b0d76063a0d605077938af88b8e2fae58292ecbea37a" },
		{ "enter-initrd:leave-initrd:sysinit:ready", "3f228b1062dff6a74df6d237f3ca9c7660b9989f669af7c00fd5f7164689c2d4" },
		{ "sysinit", "859b0f3e96310b7a96bf7c3d254dba4d980144b34e02ae4b15ac88d7321e4147" },
		{ "sysinit:ready", "ae154fc43cb5ae901d7c01eb85cb5c21aebe4424e3db923fa5e0db612b20463e" },
	};
	/* Also from systemd-measure 252: known words the list does not hold, each matching no path. */
	static const char *const refused[] = {
		"be573e4821ea66089c6d910fdefc3b573c0a00e3b275e0c7b51ec4b2226f70f5", /* sysinit:ready:shutdown */
		"b4f2007f522d31d8f2ffc9192931b1b8433a4f1acc43b2abbda58475821c46be", /* ready:sysinit */
		"0c32d6ca51305e81cfcce2dc21009690d871ae43d028d3df487ba2d22d72ed14", /* enter-initrd:sysinit */
	};
	struct fixture f = load("uki-252.efi");
	_cleanup_free_ _unused_ char *ffree = f.buf;
	struct probe_pe pe;
	struct probe_pcr11 p;
	char why[1024], h[2 * PROBE_PCR_DIGEST_MAX + 1];
	uint8_t v[PROBE_PCR_DIGEST_MAX];

	(void)state;
	assert_int_equal(probe_pe_parse(f.buf, f.len, &pe, why, sizeof(why)), 0);
	assert_int_equal(probe_pcr11_predict(&pe, PROBE_BANK_SHA256, 0, NULL, 0, &p, why, sizeof(why)), 0);
	assert_null(probe_pcr11_boot_path(PROBE_PCR11_BOOT_PATHS));
	for (unsigned i = 0; i < PROBE_PCR11_BOOT_PATHS; i++) {
		const struct probe_pcr11_path *bp = probe_pcr11_boot_path(i);
		struct probe_pcr11 q;
		char words[128];
		const char *w[PROBE_PCR11_MAX_PHASES];
		unsigned n;

		assert_non_null(bp);
		assert_string_equal(bp->name, ka[i].path);
		/* The path's words are its name, each a known word, and predict() agrees with systemd-measure. */
		snprintf(words, sizeof(words), "%s", bp->name);
		assert_int_equal(probe_pcr11_parse_phases(words, w, &n, why, sizeof(why)), 0);
		assert_int_equal(n, bp->n_words);
		for (unsigned k = 0; k < n; k++) {
			assert_string_equal(w[k], bp->words[k]);
			assert_ptr_equal(probe_pcr11_phase_word(bp->words[k]), bp->words[k]);
		}
		assert_int_equal(probe_pcr11_predict(&pe, PROBE_BANK_SHA256, 0, bp->words, bp->n_words, &q, why, sizeof(why)), 0);
		hex(q.value, 32, h);
		assert_string_equal(h, ka[i].want);
		assert_int_equal(sc_hex_decode(ka[i].want, v, 32), 0);
		assert_int_equal(probe_pcr11_match_boot_path(PROBE_BANK_SHA256, p.sections_value, v, why, sizeof(why)), (int)i);
	}
	for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
		assert_int_equal(sc_hex_decode(refused[i], v, 32), 0);
		assert_int_equal(probe_pcr11_match_boot_path(PROBE_BANK_SHA256, p.sections_value, v, why, sizeof(why)), -ENOENT);
	}
	/* The refusal names every path and the value it expects. */
	assert_non_null(strstr(why, "PCR 11 0c32d6ca... is not the sealed UKI's sections followed by one of systemd's 7 boot phase paths"));
	assert_non_null(strstr(why, "\"\" 4cf2d01a"));
	assert_non_null(strstr(why, "\"enter-initrd:leave-initrd:sysinit:ready\" 3f228b10"));
	assert_non_null(strstr(why, "\"sysinit:ready\" ae154fc4"));
	/* An unknown word after a valid path, and a word repeated. */
	{
		const char *const extra[] = { "sysinit", "ready", "sealcheck" };
		const char *const again[] = { "sysinit", "sysinit" };
		uint8_t d[32];

		memcpy(v, p.sections_value, 32);
		for (size_t k = 0; k < ELEMENTSOF(extra); k++) {
			assert_int_equal(probe_bank_hash(PROBE_BANK_SHA256, extra[k], strlen(extra[k]), d), 0);
			assert_int_equal(probe_pcr_extend(PROBE_BANK_SHA256, v, d), 0);
		}
		assert_int_equal(probe_pcr11_match_boot_path(PROBE_BANK_SHA256, p.sections_value, v, why, sizeof(why)), -ENOENT);
		memcpy(v, p.sections_value, 32);
		for (size_t k = 0; k < ELEMENTSOF(again); k++) {
			assert_int_equal(probe_bank_hash(PROBE_BANK_SHA256, again[k], strlen(again[k]), d), 0);
			assert_int_equal(probe_pcr_extend(PROBE_BANK_SHA256, v, d), 0);
		}
		assert_int_equal(probe_pcr11_match_boot_path(PROBE_BANK_SHA256, p.sections_value, v, why, sizeof(why)), -ENOENT);
	}
	/* Another bank's start and value: the same paths, sha384's width. */
	{
		struct probe_pcr11 q, r;

		assert_int_equal(probe_pcr11_predict(&pe, PROBE_BANK_SHA384, 0, NULL, 0, &q, why, sizeof(why)), 0);
		assert_int_equal(probe_pcr11_predict(&pe, PROBE_BANK_SHA384, 0, probe_pcr11_boot_path(6)->words, 2, &r, why,
						     sizeof(why)),
				 0);
		assert_int_equal(probe_pcr11_match_boot_path(PROBE_BANK_SHA384, q.sections_value, r.value, why, sizeof(why)), 6);
		assert_int_equal(probe_pcr11_match_boot_path(_PROBE_BANK_MAX, q.sections_value, r.value, why, sizeof(why)), -EINVAL);
	}
	probe_pe_done(&pe);
}

static void test_load(void **state)
{
	struct probe_pe pe = { 0 };
	char why[256];

	assert_int_equal(probe_pe_load(UKI_DIR "/uki-252.efi", &pe, why, sizeof(why)), 0);
	assert_int_equal(pe.n_sections, 12);
	assert_string_equal(pe.sections[10].name, ".linux");
	probe_pe_done(&pe);
	assert_int_equal(probe_pe_load(UKI_DIR "/no-such.efi", &pe, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "cannot read it"));
	assert_int_equal(probe_pe_load(UKI_DIR "/uki-252.expect", &pe, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "no DOS header"));
	probe_pe_done(&pe);
}

/*
 * The BIOS boot's kernel, initrd and cmdline, written out of the UKI by the
 * PE reader (probe_vm_write_section(), in place of objcopy): byte for byte
 * the payloads make-fixtures.sh put into the fixture, rebuilt here from its
 * recipe, the section's file-alignment padding not included (VirtualSize <
 * SizeOfRawData for the 3000-byte kernel).
 */
static void section_file(const char *dir, const char *name, char *ret, size_t size)
{
	snprintf(ret, size, "%s/%s", dir, name);
}

static void assert_file(const char *path, const uint8_t *want, size_t want_len)
{
	_cleanup_free_ char *got = NULL;
	size_t len;

	assert_int_equal(sc_read_file_capped(path, 1 << 20, &got, &len), 0);
	assert_int_equal(len, want_len);
	assert_memory_equal(got, want, want_len);
}

static void test_write_section(void **state)
{
	static const char cmdline[] =
		"console=ttyS0 composefs=4d8ad9824efc90f2a34bdc3d59ab0b13d21c8cf41e1d0bd5eea2dbd9f1b1b8a6 rw";
	static const char osrel[] = "ID=sealcheck-fixture\nNAME=\"sealcheck UKI fixture\"\nVERSION_ID=1\n";
	static const char uname[] = "6.1.0-fixture-amd64";
	const char *tmp = getenv("TMPDIR");
	struct probe_pe pe = { 0 };
	uint8_t linux_[3000], initrd[1206];
	char dir[200], path[320], target[400], why[512];
	struct stat st;

	(void)state;
	/* make-fixtures.sh: b"MZ" + bytes((i * 7 + 3) & 0xff for i in range(2998)),
	 * b"070701" + bytes((i * 13 + 1) & 0xff for i in range(1200)). */
	memcpy(linux_, "MZ", 2);
	for (size_t i = 0; i < 2998; i++)
		linux_[2 + i] = (uint8_t)((i * 7 + 3) & 0xff);
	memcpy(initrd, "070701", 6);
	for (size_t i = 0; i < 1200; i++)
		initrd[6 + i] = (uint8_t)((i * 13 + 1) & 0xff);
	snprintf(dir, sizeof(dir), "%s/sealcheck-sections-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));

	assert_int_equal(probe_pe_load(UKI_DIR "/uki-252.efi", &pe, why, sizeof(why)), 0);
	assert_string_equal(pe.sections[10].name, ".linux");
	assert_true(pe.sections[10].size_of_raw_data > sizeof(linux_)); /* padded in the file */
	section_file(dir, "linux", path, sizeof(path));
	assert_int_equal(probe_vm_write_section(&pe, ".linux", path, why, sizeof(why)), 0);
	assert_file(path, linux_, sizeof(linux_));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	section_file(dir, "initrd", path, sizeof(path));
	assert_int_equal(probe_vm_write_section(&pe, ".initrd", path, why, sizeof(why)), 0);
	assert_file(path, initrd, sizeof(initrd));
	section_file(dir, "cmdline", path, sizeof(path));
	assert_int_equal(probe_vm_write_section(&pe, ".cmdline", path, why, sizeof(why)), 0);
	assert_file(path, (const uint8_t *)cmdline, strlen(cmdline));
	section_file(dir, "osrel", path, sizeof(path));
	assert_int_equal(probe_vm_write_section(&pe, ".osrel", path, why, sizeof(why)), 0);
	assert_file(path, (const uint8_t *)osrel, strlen(osrel));

	/* A section the UKI lacks: an empty file, as objcopy --only-section wrote. */
	section_file(dir, "uname", path, sizeof(path));
	assert_int_equal(probe_vm_write_section(&pe, ".uname", path, why, sizeof(why)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(unlink(path), 0);

	/* Never over what is there: a file (left as it was), a symlink, even a dangling one (nothing created). */
	section_file(dir, "linux", path, sizeof(path));
	assert_int_equal(probe_vm_write_section(&pe, ".initrd", path, why, sizeof(why)), -EEXIST);
	snprintf(target, sizeof(target), "%s: File exists", path);
	assert_string_equal(why, target);
	assert_file(path, linux_, sizeof(linux_));
	section_file(dir, "elsewhere", target, sizeof(target));
	section_file(dir, "link", path, sizeof(path));
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(probe_vm_write_section(&pe, ".linux", path, why, sizeof(why)), -EEXIST);
	assert_int_equal(lstat(target, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(unlink(path), 0);
	/* No folder to write into. */
	section_file(dir, "none/linux", path, sizeof(path));
	assert_int_equal(probe_vm_write_section(&pe, ".linux", path, why, sizeof(why)), -ENOENT);
	probe_pe_done(&pe);

	/* The newer fixture's .uname. */
	assert_int_equal(probe_pe_load(UKI_DIR "/uki-newer.efi", &pe, why, sizeof(why)), 0);
	section_file(dir, "uname", path, sizeof(path));
	assert_int_equal(probe_vm_write_section(&pe, ".uname", path, why, sizeof(why)), 0);
	assert_file(path, (const uint8_t *)uname, strlen(uname));
	assert_int_equal(unlink(path), 0);
	probe_pe_done(&pe);

	/* Two .linux sections (.osrel renamed in the section table): which one is not guessed. */
	{
		struct fixture f = load("uki-252.efi");
		char *hdr = memmem(f.buf, 4096, ".osrel\0\0", 8);

		assert_non_null(hdr);
		memcpy(hdr, ".linux\0\0", 8);
		assert_int_equal(probe_pe_parse(f.buf, f.len, &pe, why, sizeof(why)), 0);
		section_file(dir, "twice", path, sizeof(path));
		assert_int_equal(probe_vm_write_section(&pe, ".linux", path, why, sizeof(why)), -EBADMSG);
		assert_string_equal(why, "the UKI has more than one .linux section");
		assert_int_equal(lstat(path, &st), -1);
		probe_pe_done(&pe);
		free(f.buf);
	}

	for (const char *const *n = (const char *const[]){ "linux", "initrd", "cmdline", "osrel", NULL }; *n; n++) {
		section_file(dir, *n, path, sizeof(path));
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(rmdir(dir), 0);
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/*
 * The Authenticode SHA-256 (what OVMF extends into PCR 4 for a started
 * application). The signed UKI (sbsign: the image padded to 8 bytes, then the
 * certificate table, which is not hashed) against osslsigncode 2.5's
 * "Calculated message digest" and the digest its signature carries ("Current
 * message digest"), two independent implementations. The unsigned UKI padded
 * by hand to the same 8 bytes must hash the same: the bytes after the last
 * section (objcopy's symbol table) count, the certificate table does not.
 */
static void test_authenticode(void **state)
{
	struct probe_pe pe = { 0 };
	struct probe_pe_cert certs[PROBE_PE_SIGNER_CHAIN_MAX] = { { 0 } };
	_cleanup_free_ char *raw = NULL;
	uint8_t h[32], padded_h[32];
	char hex[65], why[256];
	size_t raw_len;
	int n;

	assert_int_equal(sc_read_file_capped(UKI_DIR "/uki-252.efi", 1 << 20, &raw, &raw_len), 0);
	{
		size_t padded_len = (raw_len + 7) & ~(size_t)7;
		uint8_t *padded = calloc(1, padded_len);

		assert_non_null(padded);
		assert_true(padded_len > raw_len);
		memcpy(padded, raw, raw_len);
		assert_int_equal(probe_pe_parse(padded, padded_len, &pe, why, sizeof(why)), 0);
		assert_int_equal(probe_pe_authenticode_sha256(&pe, padded_h), 0);
		assert_int_equal(probe_pe_parse(raw, raw_len, &pe, why, sizeof(why)), 0);
		assert_int_equal(probe_pe_authenticode_sha256(&pe, h), 0);
		assert_memory_not_equal(h, padded_h, 32);
		assert_int_equal(probe_pe_signer_chain(&pe, certs, why, sizeof(why)), -ENOENT);
		free(padded);
	}

	assert_int_equal(probe_pe_load(UKI_DIR "/uki-252-signed.efi", &pe, why, sizeof(why)), 0);
	assert_int_not_equal(pe.cert_table_size, 0);
	assert_int_equal(probe_pe_authenticode_sha256(&pe, h), 0);
	hex_of(h, 32, hex);
	assert_string_equal(hex, "e285121592740a7f1a3c128e538290d92156242b2ee0125765fe5b0dcef39b5a");
	assert_memory_equal(h, padded_h, 32);
	/* The signer: the certificate sbsign embedded, self-signed, so a chain of one. */
	n = probe_pe_signer_chain(&pe, certs, why, sizeof(why));
	assert_int_equal(n, 1);
	{
		uint8_t *der = NULL;
		size_t der_len = 0;

		assert_int_equal(probe_cert_der(UKI_DIR "/uki-252-signer.crt", &der, &der_len), 0);
		assert_int_equal(der_len, certs[0].len);
		assert_memory_equal(der, certs[0].der, der_len);
		free(der);
	}
	probe_pe_certs_free(certs, (size_t)n);
	/* A certificate table whose WIN_CERTIFICATE is not PKCS#7: refused, named. */
	{
		uint8_t *copy = malloc(pe.size);
		struct probe_pe bad;

		assert_non_null(copy);
		memcpy(copy, pe.data, pe.size);
		copy[pe.cert_table_offset + 6] = 0x01; /* wCertificateType X509 */
		assert_int_equal(probe_pe_parse(copy, pe.size, &bad, why, sizeof(why)), 0);
		assert_int_equal(probe_pe_signer_chain(&bad, certs, why, sizeof(why)), -EBADMSG);
		assert_non_null(strstr(why, "not a PKCS#7 signature"));
		free(copy);
	}
	probe_pe_done(&pe);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers_252), cmocka_unit_test(test_known_answers_newer),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_initrd_passed),
		cmocka_unit_test(test_initrd_passed_sections),
		cmocka_unit_test(test_pe_malformed),
		cmocka_unit_test(test_predict_refused),	  cmocka_unit_test(test_phases_and_banks),
		cmocka_unit_test(test_load), cmocka_unit_test(test_authenticode),		  cmocka_unit_test(test_boot_paths),
		cmocka_unit_test(test_write_section),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
