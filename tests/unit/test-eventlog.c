/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The firmware event log parser, replay and PCR 7 rules against a real
 * log: OVMF 2022.11 with Secure Boot and a swtpm, the sealed demo image,
 * captured with the PCRs the guest read in the same boot
 * (tests/fixtures/tpm/boot-eventlog.sh). Then one altered field per test.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "probe-eventlog.h"
#include "sc-macro.h"

static struct blob load(const char *name)
{
	return unit_fixture("tpm", name);
}

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The quoted selection and the values the guest read ("N=HEX" lines). */
static struct probe_pcr_selection sel;
static uint8_t values[10 * 32];

static void load_pcrs(void)
{
	static const unsigned want[] = {0, 1, 2, 3, 4, 5, 7, 9, 11, 12};
	struct blob t = load("ovmf-sb.pcrs");
	assert_int_equal(probe_pcr_selection_from_string("sha256:0,1,2,3,4,5,7,9,11,12", &sel), 0);
	for (size_t i = 0; i < ELEMENTSOF(want); i++) {
		char key[8];
		const char *p;
		snprintf(key, sizeof(key), "\n%u=", want[i]);
		p = want[i] == 0 ? (strncmp((char *)t.p, "0=", 2) == 0 ? (char *)t.p + 2 : NULL) : strstr((char *)t.p, key);
		assert_non_null(p);
		if (want[i] != 0)
			p += strlen(key);
		for (int j = 0; j < 32; j++) {
			int h = unhex(p[2 * j]), l = unhex(p[2 * j + 1]);
			assert_true(h >= 0 && l >= 0);
			values[i * 32 + j] = (uint8_t)(h << 4 | l);
		}
	}
	free(t.p);
}

static struct blob real_log(void)
{
	return load("ovmf-sb.eventlog");
}

static struct probe_eventlog *parse_ok(const struct blob *b)
{
	struct probe_eventlog *log = NULL;
	char why[256] = "";
	int r = probe_eventlog_parse(b->p, b->len, &log, why, sizeof(why));
	if (r < 0)
		print_error("parse: %s\n", why);
	assert_int_equal(r, 0);
	return log;
}

/* The offset of the digest for the log's algorithm @k in event @i. */
static size_t digest_off(const struct probe_eventlog *log, size_t i, size_t k)
{
	size_t o = log->events[i].offset + 12;
	for (size_t j = 0; j < k; j++)
		o += 2 + log->algs[j].size;
	return o + 2;
}

/* Make event @i's digests the hashes of its (edited) data again. */
static void rehash(struct blob *b, size_t i)
{
	_cleanup_eventlog_ struct probe_eventlog *log = parse_ok(b);
	for (size_t k = 0; k < log->n_algs; k++) {
		uint8_t h[PROBE_TPM_HASH_MAX];
		assert_int_equal(probe_tpm_hash(log->algs[k].alg, log->events[i].data, log->events[i].data_len, h), 0);
		memcpy(b->p + digest_off(log, i, k), h, log->algs[k].size);
	}
}

/* The index of the @nth event of @pcr with @type. */
static size_t find(const struct probe_eventlog *log, uint32_t pcr, uint32_t type, int nth)
{
	for (size_t i = 0; i < log->n_events; i++)
		if (log->events[i].pcr == pcr && log->events[i].type == type && nth-- == 0)
			return i;
	fail_msg("no such event");
	return 0;
}

static size_t event_len(const struct probe_eventlog *log, size_t i)
{
	return (i + 1 < log->n_events ? log->events[i + 1].offset : log->len) - log->events[i].offset;
}

/* @b with @n bytes of @ins inserted at @at. */
static void insert(struct blob *b, size_t at, const uint8_t *ins, size_t n)
{
	uint8_t *p = malloc(b->len + n);
	assert_non_null(p);
	memcpy(p, b->p, at);
	memcpy(p + at, ins, n);
	memcpy(p + at + n, b->p + at, b->len - at);
	free(b->p);
	b->p = p;
	b->len += n;
}

static int check_pcrs(const struct blob *b)
{
	_cleanup_eventlog_ struct probe_eventlog *log = NULL;
	int r = probe_eventlog_parse(b->p, b->len, &log, NULL, 0);
	if (r < 0)
		return r;
	return probe_eventlog_check_pcrs(log, PROBE_TPM_ALG_SHA256, &sel, values, sizeof(values), NULL, 0);
}

/* The PCR 7 rules on @b; when they fail, @want must be in the reason. */
static int check_sb_why(const struct blob *b, const char *want)
{
	_cleanup_eventlog_ struct probe_eventlog *log = NULL;
	struct probe_secureboot sb;
	char why[256] = "";
	int r = probe_eventlog_parse(b->p, b->len, &log, NULL, 0);
	if (r < 0)
		return r;
	r = probe_eventlog_secureboot(log, &sb, why, sizeof(why));
	if (r < 0 && want && !strstr(why, want))
		fail_msg("PCR 7 refused for another reason: \"%s\", expected \"%s\"", why, want);
	return r;
}

static void test_real_log(void **state)
{
	struct blob b = real_log();
	_cleanup_eventlog_ struct probe_eventlog *log = parse_ok(&b);
	uint8_t pcrs[PROBE_TPM_PCRS][PROBE_TPM_HASH_MAX];
	char why[256] = "";

	assert_int_equal(log->n_algs, 4);
	assert_int_equal(log->algs[1].alg, PROBE_TPM_ALG_SHA256);
	assert_int_equal(log->algs[1].size, 32);
	assert_false(log->has_startup_locality);
	assert_true(log->n_events > 30);
	/* The replay is the PCRs the guest read in the same boot. */
	assert_int_equal(probe_eventlog_check_pcrs(log, PROBE_TPM_ALG_SHA256, &sel, values, sizeof(values), why, sizeof(why)), 0);
	for (size_t k = 0; k < log->n_algs; k++)
		assert_int_equal(probe_eventlog_replay(log, log->algs[k].alg, pcrs, NULL, 0), 0);
	assert_int_equal(probe_eventlog_replay(log, PROBE_TPM_ALG_SM3_256, pcrs, NULL, 0), -ENOENT);
	free(b.p);
}

static void test_real_secureboot(void **state)
{
	struct blob b = real_log();
	_cleanup_eventlog_ struct probe_eventlog *log = parse_ok(&b);
	struct probe_secureboot sb;
	char why[256] = "";
	assert_int_equal(probe_eventlog_secureboot(log, &sb, why, sizeof(why)), 0);
	assert_true(sb.secure_boot);
	assert_string_equal(sb.pk.name, "PK");
	assert_string_equal(sb.kek.name, "KEK");
	assert_string_equal(sb.db.name, "db");
	assert_string_equal(sb.dbx.name, "dbx");
	assert_true(sb.pk.data_len > 28 && sb.kek.data_len > 28 && sb.db.data_len > 28);
	/* One authority, the db certificate that verified the UKI: an
	 * EFI_SIGNATURE_DATA (owner GUID, then DER) found inside db's list. */
	assert_int_equal(sb.n_authorities, 1);
	assert_string_equal(sb.authorities[0].name, "db");
	assert_true(sb.authorities[0].data_len > 16 + 4);
	assert_int_equal(sb.authorities[0].data[16], 0x30);
	assert_non_null(memmem(sb.db.data, sb.db.data_len, sb.authorities[0].data, sb.authorities[0].data_len));
	assert_false(sb.dma_protection_disabled);
	free(b.p);
}

static void test_event_digest_altered(void **state)
{
	struct blob b = real_log();
	_cleanup_eventlog_ struct probe_eventlog *log = parse_ok(&b);
	size_t i = find(log, 4, PROBE_EV_EFI_BOOT_SERVICES_APPLICATION, 0);
	b.p[digest_off(log, i, 1)] ^= 1; /* its sha256 digest */
	assert_int_equal(check_pcrs(&b), -EPERM);
	free(b.p);
}

static void test_event_data_altered(void **state)
{
	struct blob b = real_log();
	_cleanup_eventlog_ struct probe_eventlog *log = parse_ok(&b);
	size_t i = find(log, 7, PROBE_EV_EFI_VARIABLE_AUTHORITY, 0);
	/* Another certificate byte: the replay (of the digests) still
	 * matches, so the PCR 7 digest == H(data) rule is what catches it. */
	b.p[log->events[i].data - log->buf + log->events[i].data_len - 1] ^= 1;
	assert_int_equal(check_pcrs(&b), 0);
	assert_int_equal(check_sb_why(&b, "is not the hash of its data"), -EPERM);
	free(b.p);
}

static void test_event_relabelled(void **state)
{
	struct blob b = real_log();
	_cleanup_eventlog_ struct probe_eventlog *log = parse_ok(&b);
	size_t i = find(log, 4, PROBE_EV_EFI_BOOT_SERVICES_APPLICATION, 0);
	b.p[log->events[i].offset] = 5;
	assert_int_equal(check_pcrs(&b), -EPERM);
	b.p[log->events[i].offset] = 24; /* no such PCR */
	assert_int_equal(check_pcrs(&b), -EBADMSG);
	free(b.p);
}

static void test_second_separator(void **state)
{
	struct blob b = real_log();
	_cleanup_eventlog_ struct probe_eventlog *log = parse_ok(&b);
	size_t i = find(log, 7, PROBE_EV_SEPARATOR, 0);
	size_t n = event_len(log, i);
	uint8_t *copy = malloc(n);
	memcpy(copy, b.p + log->events[i].offset, n);
	insert(&b, log->events[i].offset + n, copy, n);
	free(copy);
	assert_int_equal(check_sb_why(&b, "second separator"), -EPERM);
	assert_int_equal(check_pcrs(&b), -EPERM);
	free(b.p);
}

static void test_separator_error_value(void **state)
{
	struct blob b = real_log();
	_cleanup_eventlog_ struct probe_eventlog *log = parse_ok(&b);
	size_t i = find(log, 7, PROBE_EV_SEPARATOR, 0);
	memset(b.p + (log->events[i].data - log->buf), 0xff, 4);
	rehash(&b, i); /* digests consistent: only the value is wrong */
	assert_int_equal(check_sb_why(&b, "not 00000000 (a firmware error)"), -EPERM);
	free(b.p);
}

static void test_undeclared_algorithm(void **state)
{
	struct blob b = real_log();
	_cleanup_eventlog_ struct probe_eventlog *log = parse_ok(&b);
	size_t o = digest_off(log, 3, 2) - 2; /* event 3's sha384 AlgorithmId */
	assert_int_equal(b.p[o], 0x0c);
	b.p[o] = 0x12; /* sm3_256, not declared */
	assert_int_equal(check_pcrs(&b), -EBADMSG);
	b.p[o] = 0x0b; /* sha256 again: declared but twice in one event */
	assert_int_equal(check_pcrs(&b), -EBADMSG);
	free(b.p);
	/* A digest count that is not the declared number. */
	b = real_log();
	b.p[log->events[0].offset + 8] = 3;
	assert_int_equal(check_pcrs(&b), -EBADMSG);
	free(b.p);
}

static void test_pcr7_type_not_allowed(void **state)
{
	struct blob b = real_log();
	_cleanup_eventlog_ struct probe_eventlog *log = parse_ok(&b);
	size_t i = find(log, 7, PROBE_EV_EFI_VARIABLE_AUTHORITY, 0);
	uint8_t *t = b.p + log->events[i].offset + 4;
	t[0] = 0x03; /* EV_EFI_BOOT_SERVICES_APPLICATION, digests untouched */
	assert_int_equal(check_sb_why(&b, "event type 0x80000003"), -EPERM);
	t[0] = 0x0d, t[3] = 0x00; /* EV_IPL */
	assert_int_equal(check_sb_why(&b, "event type 0x0000000d"), -EPERM);
	free(b.p);
}

/* A TCG_PCR_EVENT2 for @log's algorithms with digests H(@data), at @at. */
static void insert_event(struct blob *b, const struct probe_eventlog *log, size_t at, uint32_t pcr, uint32_t type,
			 const char *data)
{
	uint8_t ev[1024];
	size_t o = 12, n = strlen(data);
	memset(ev, 0, sizeof(ev));
	ev[0] = (uint8_t)pcr;
	memcpy(ev + 4, &type, 4); /* little-endian host */
	ev[8] = (uint8_t)log->n_algs;
	for (size_t k = 0; k < log->n_algs; k++) {
		ev[o] = (uint8_t)log->algs[k].alg;
		assert_int_equal(probe_tpm_hash(log->algs[k].alg, data, n, ev + o + 2), 0);
		o += 2 + log->algs[k].size;
	}
	ev[o] = (uint8_t)n;
	memcpy(ev + o + 4, data, n);
	insert(b, at, ev, o + 4 + n);
}

static void test_pcr7_efi_action(void **state)
{
	struct blob b = real_log();
	_cleanup_eventlog_ struct probe_eventlog *log = parse_ok(&b);
	size_t at = log->events[find(log, 7, PROBE_EV_SEPARATOR, 0)].offset;
	insert_event(&b, log, at, 7, PROBE_EV_EFI_ACTION, "UEFI Debug Mode");
	assert_int_equal(check_sb_why(&b, "\"UEFI Debug Mode\""), -EPERM);
	free(b.p);
	/* "DMA Protection Disabled" is allowed there and reported. */
	b = real_log();
	insert_event(&b, log, at, 7, PROBE_EV_EFI_ACTION, "DMA Protection Disabled");
	{
		_cleanup_eventlog_ struct probe_eventlog *l = parse_ok(&b);
		struct probe_secureboot sb;
		assert_int_equal(probe_eventlog_secureboot(l, &sb, NULL, 0), 0);
		assert_true(sb.dma_protection_disabled);
	}
	/* ... but it was not in the boot the PCRs come from. */
	assert_int_equal(check_pcrs(&b), -EPERM);
	free(b.p);
}

static void test_secureboot_off(void **state)
{
	struct blob b = real_log();
	_cleanup_eventlog_ struct probe_eventlog *log = parse_ok(&b);
	size_t i = find(log, 7, PROBE_EV_EFI_VARIABLE_DRIVER_CONFIG, 0);
	struct probe_efi_variable v;
	assert_int_equal(probe_efi_variable_parse(log->events[i].data, log->events[i].data_len, &v), 0);
	assert_string_equal(v.name, "SecureBoot");
	assert_int_equal(v.data_len, 1);
	b.p[v.data - log->buf] = 0;
	rehash(&b, i);
	assert_int_equal(check_sb_why(&b, "Secure Boot was off"), -EPERM);
	free(b.p);
}

static void test_config_after_separator(void **state)
{
	/* Move PK's measurement after the separator (and the replay then still
	 * differs, but the order rule is checked on its own). */
	struct blob b = real_log();
	_cleanup_eventlog_ struct probe_eventlog *log = parse_ok(&b);
	size_t pk = find(log, 7, PROBE_EV_EFI_VARIABLE_DRIVER_CONFIG, 1);
	size_t sep = find(log, 7, PROBE_EV_SEPARATOR, 0);
	size_t n = event_len(log, pk), sep_end = log->events[sep].offset + event_len(log, sep);
	uint8_t *copy = malloc(b.len);
	size_t o = 0, pk_off = log->events[pk].offset;
	memcpy(copy, b.p, pk_off), o = pk_off;
	memcpy(copy + o, b.p + pk_off + n, sep_end - pk_off - n), o += sep_end - pk_off - n;
	memcpy(copy + o, b.p + pk_off, n), o += n;
	memcpy(copy + o, b.p + sep_end, b.len - sep_end);
	memcpy(b.p, copy, b.len);
	free(copy);
	assert_int_equal(check_sb_why(&b, "PK measured after the separator"), -EPERM);
	free(b.p);
}

static void test_startup_locality(void **state)
{
	struct blob b = real_log();
	_cleanup_eventlog_ struct probe_eventlog *orig = parse_ok(&b);
	uint8_t ev[12 + 4 * 2 + 20 + 32 + 48 + 64 + 4 + 17] = {0};
	uint8_t want[PROBE_TPM_PCRS][PROBE_TPM_HASH_MAX], got[PROBE_TPM_PCRS][PROBE_TPM_HASH_MAX];
	size_t o = 0;
	/* EV_NO_ACTION in PCR 0 with TCG_EfiStartupLocalityEvent, locality 3. */
	ev[4] = 0x03;
	ev[8] = 4;
	o = 12;
	for (size_t k = 0; k < orig->n_algs; k++) {
		ev[o] = (uint8_t)orig->algs[k].alg;
		o += 2 + orig->algs[k].size;
	}
	ev[o] = 17;
	o += 4;
	memcpy(ev + o, "StartupLocality", 16);
	ev[o + 16] = 3;
	assert_int_equal(o + 17, sizeof(ev));
	insert(&b, orig->events[0].offset, ev, sizeof(ev));
	{
		_cleanup_eventlog_ struct probe_eventlog *log = parse_ok(&b);
		assert_true(log->has_startup_locality);
		assert_int_equal(log->startup_locality, 3);
		assert_int_equal(probe_eventlog_replay(log, PROBE_TPM_ALG_SHA256, got, NULL, 0), 0);
	}
	/* PCR 0 by hand from 00..03; the other PCRs as before. */
	assert_int_equal(probe_eventlog_replay(orig, PROBE_TPM_ALG_SHA256, want, NULL, 0), 0);
	memset(want[0], 0, 32);
	want[0][31] = 3;
	for (size_t i = 0; i < orig->n_events; i++) {
		uint8_t buf[64];
		if (orig->events[i].pcr != 0 || orig->events[i].type == PROBE_EV_NO_ACTION)
			continue;
		memcpy(buf, want[0], 32);
		memcpy(buf + 32, orig->events[i].digests[1], 32);
		assert_int_equal(probe_tpm_hash(PROBE_TPM_ALG_SHA256, buf, 64, want[0]), 0);
	}
	for (int i = 0; i < PROBE_TPM_PCRS; i++)
		assert_memory_equal(got[i], want[i], 32);
	/* So the log no longer replays to the quoted PCR 0. */
	assert_int_equal(check_pcrs(&b), -EPERM);
	/* A second StartupLocality event is refused. */
	insert(&b, orig->events[0].offset, ev, sizeof(ev));
	assert_int_equal(check_pcrs(&b), -EBADMSG);
	free(b.p);
}

static void test_spec_id(void **state)
{
	struct blob b = real_log();
	b.p[32 + 14] = '4'; /* "Spec ID Event04" */
	assert_int_equal(check_pcrs(&b), -EBADMSG);
	b.p[32 + 14] = '3';
	b.p[32 + 21] = 1; /* specVersionMajor */
	assert_int_equal(check_pcrs(&b), -EBADMSG);
	b.p[32 + 21] = 2;
	b.p[32 + 28 + 6] = 33; /* sha256 declared with 33-byte digests */
	assert_int_equal(check_pcrs(&b), -EBADMSG);
	b.p[32 + 28 + 6] = 32;
	b.p[4] = 1; /* not EV_NO_ACTION */
	assert_int_equal(check_pcrs(&b), -EBADMSG);
	free(b.p);
}

static void test_caps(void **state)
{
	struct blob b = real_log();
	_cleanup_eventlog_ struct probe_eventlog *log = parse_ok(&b);
	struct probe_eventlog *l = NULL;
	size_t i = 3;
	/* eventSize 64 KiB + 1 */
	uint8_t *sz = (uint8_t *)log->events[i].data - 4 - log->buf + b.p;
	sz[0] = 0x01, sz[1] = 0x00, sz[2] = 0x01, sz[3] = 0x00;
	assert_int_equal(probe_eventlog_parse(b.p, b.len, &l, NULL, 0), -EMSGSIZE);
	free(b.p);
	uint8_t *big = calloc(1, PROBE_EVENTLOG_MAX + 1);
	assert_int_equal(probe_eventlog_parse(big, PROBE_EVENTLOG_MAX + 1, &l, NULL, 0), -EMSGSIZE);
	free(big);
	assert_int_equal(probe_eventlog_parse(NULL, 0, &l, NULL, 0), -EMSGSIZE);
}

/* Every prefix fails to parse, or (cut at an event boundary) no longer
 * replays to the PCRs read; never a crash. */
static void test_truncated_everywhere(void **state)
{
	struct blob b = real_log();
	size_t boundaries = 0;
	for (size_t n = 0; n < b.len; n++) {
		struct blob c = {b.p, n};
		_cleanup_eventlog_ struct probe_eventlog *log = NULL;
		if (probe_eventlog_parse(c.p, c.len, &log, NULL, 0) < 0)
			continue;
		boundaries++;
		assert_true(probe_eventlog_check_pcrs(log, PROBE_TPM_ALG_SHA256, &sel, values, sizeof(values), NULL, 0) < 0);
	}
	assert_true(boundaries > 30);
	free(b.p);
}

static void test_efi_variable_parse(void **state)
{
	uint8_t v[32 + 4 + 1] = {0};
	struct probe_efi_variable r;
	v[16] = 2, v[24] = 1, v[32] = 'd', v[34] = 'b', v[36] = 7;
	assert_int_equal(probe_efi_variable_parse(v, sizeof(v), &r), 0);
	assert_string_equal(r.name, "db");
	assert_int_equal(r.data_len, 1);
	assert_int_equal(probe_efi_variable_parse(v, sizeof(v) - 1, &r), -EBADMSG);
	v[24] = 2;
	assert_int_equal(probe_efi_variable_parse(v, sizeof(v), &r), -EBADMSG);
	v[24] = 1, v[23] = 0x80; /* a length that overflows when doubled */
	assert_int_equal(probe_efi_variable_parse(v, sizeof(v), &r), -EBADMSG);
	v[23] = 0, v[16] = 0, v[31] = 0x40;
	assert_int_equal(probe_efi_variable_parse(v, sizeof(v), &r), -EBADMSG);
	assert_int_equal(probe_efi_variable_parse(v, 31, &r), -EMSGSIZE);
}

static int setup(void **state)
{
	load_pcrs();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_log),
		cmocka_unit_test(test_real_secureboot),
		cmocka_unit_test(test_event_digest_altered),
		cmocka_unit_test(test_event_data_altered),
		cmocka_unit_test(test_event_relabelled),
		cmocka_unit_test(test_second_separator),
		cmocka_unit_test(test_separator_error_value),
		cmocka_unit_test(test_undeclared_algorithm),
		cmocka_unit_test(test_pcr7_type_not_allowed),
		cmocka_unit_test(test_pcr7_efi_action),
		cmocka_unit_test(test_secureboot_off),
		cmocka_unit_test(test_config_after_separator),
		cmocka_unit_test(test_startup_locality),
		cmocka_unit_test(test_spec_id),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_efi_variable_parse),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
