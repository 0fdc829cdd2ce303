/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fleet's TPM modes (probe-fleet.h, docs/fleet.md "TPM"): which VMs have
 * a TPM and how each one's AK is trusted, from its state folder and its
 * source's word (probe_fleet_set_vm_tpm()); and a round of a VM whose source
 * says it has a TPM but for which no state is kept: NOT SEALED by
 * tpm:evidence even with an evidence frame, never self-reported SEALED.
 * Real TPMs: tests/vm/test-watch-tpm.sh.
 */
#include "unit.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "probe-fleet.h"
#include "sc-evidence.h"
#include "sc-fileio.h"
#include "sc-io.h"
#include "sc-json.h"
#include "sc-macro.h"
#include "sc-wire.h"

#define TEMPLATE FIXTURES_DIR "/../probe/sealed-report.json"
#define D1 "22ea8a75c80babb6f41301c8392a306b1654884fe6807e655117e8f4ca07eb5708d0a49a84fd285ad13d4fc71706571dc4eed0dbd5b2811b4afa95b6464a2dc9"

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void rm_rf(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static const struct probe_fleet_vm *vm_of(struct probe_fleet *f, const char *name)
{
	const struct probe_fleet_vm *vm = probe_fleet_find(f, name);

	assert_non_null(vm);
	return vm;
}

static void test_modes(void **state)
{
	static const uint8_t name34[34] = { 0x00, 0x0b, 1, 2, 3 };
	struct probe_evidence_expect x = { .uki_path = "/nonexistent.efi" };
	char dir[] = "/tmp/test-fleet-tpm-XXXXXX", path[128];
	sd_event *e = NULL;
	struct probe_fleet *f = NULL;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(sd_event_new(&e), 0);
	{
		/* An EK CA without a state directory to pin in is refused. */
		struct probe_fleet_config bad = { .ek_ca_file = "/etc/ca.pem" };

		assert_int_equal(probe_fleet_new(e, &bad, &f), -EINVAL);
	}
	{
		struct probe_fleet_config cfg = { .interval_ms = 10000, .state_dir = dir, .tpm = &x };

		assert_int_equal(probe_fleet_new(e, &cfg, &f), 0);
	}
	/* TPM rounds: at least 20 s by default (the guest's quote and activation). */
	assert_int_equal(probe_fleet_get_config(f)->timeout_ms, 10000);
	assert_int_equal(probe_fleet_get_config(f)->tpm_timeout_ms, 20000);

	snprintf(path, sizeof(path), "%s/folder", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/pinned", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/pinned/ak.name", dir);
	write_file(path, name34, sizeof(name34));
	snprintf(path, sizeof(path), "%s/short", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/short/ak.name", dir);
	write_file(path, name34, 5);
	assert_int_equal(probe_fleet_add_vm(f, "plain", NULL, "/r/plain.sock", PROBE_FLEET_SOCKET_DIR), 1);
	assert_int_equal(probe_fleet_add_vm(f, "folder", NULL, "/r/folder.sock", PROBE_FLEET_SOCKET_DIR), 1);
	assert_int_equal(probe_fleet_add_vm(f, "pinned", NULL, "/r/pinned.sock", PROBE_FLEET_SOCKET_DIR), 1);
	assert_int_equal(probe_fleet_add_vm(f, "short", NULL, "/r/short.sock", PROBE_FLEET_SOCKET_DIR), 1);
	assert_int_equal(probe_fleet_add_vm(f, "lv", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "/r/lv.sock",
					    PROBE_FLEET_LIBVIRT),
			 1);

	/* No folder, no word of a TPM: self-reported. */
	assert_false(vm_of(f, "plain")->tpm);
	assert_int_equal(vm_of(f, "plain")->ak, PROBE_FLEET_AK_NONE);
	/* A folder without ak.name: a TPM whose AK is not pinned; no EK CA, so it cannot be trusted. */
	assert_true(vm_of(f, "folder")->tpm);
	assert_int_equal(vm_of(f, "folder")->ak, PROBE_FLEET_AK_UNTRUSTED);
	assert_true(vm_of(f, "pinned")->tpm);
	assert_int_equal(vm_of(f, "pinned")->ak, PROBE_FLEET_AK_PINNED);
	assert_int_equal(vm_of(f, "pinned")->ak_name_len, 34);
	/* A short ak.name is still a pin (its quote fails), never "no AK" to be bound again. */
	assert_int_equal(vm_of(f, "short")->ak, PROBE_FLEET_AK_PINNED);
	assert_null(vm_of(f, "short")->ak_name);

	/* The source says the domain has a TPM: its folder is made to pin in. */
	assert_false(vm_of(f, "lv")->tpm);
	assert_int_equal(probe_fleet_set_vm_tpm(f, "lv", PROBE_FLEET_LIBVIRT, true), 0);
	assert_true(vm_of(f, "lv")->tpm);
	assert_true(vm_of(f, "lv")->tpm_source);
	assert_int_equal(vm_of(f, "lv")->ak, PROBE_FLEET_AK_UNTRUSTED);
	snprintf(path, sizeof(path), "%s/lv", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	/* Said not to have one: the folder now there still makes it a TPM VM. */
	assert_int_equal(probe_fleet_set_vm_tpm(f, "lv", PROBE_FLEET_LIBVIRT, false), 0);
	assert_true(vm_of(f, "lv")->tpm);
	assert_int_equal(probe_fleet_set_vm_tpm(f, "nosuch", PROBE_FLEET_LIBVIRT, true), -ENOENT);

	/* A planted symlink as DIR/<name>/ or its ak.name, a folder of another owner or writable by
	 * others: refused (probe-tpm-state.h), a TPM VM whose tpm:evidence fails with the reason. */
	{
		char other[] = "/tmp/test-fleet-tpm-other-XXXXXX", target[128];

		assert_non_null(mkdtemp(other));
		snprintf(path, sizeof(path), "%s/symvm", dir);
		assert_int_equal(symlink(other, path), 0);
		snprintf(path, sizeof(path), "%s/symak", dir);
		assert_int_equal(mkdir(path, 0700), 0);
		snprintf(target, sizeof(target), "%s/ak.name", other);
		write_file(target, name34, sizeof(name34));
		snprintf(path, sizeof(path), "%s/symak/ak.name", dir);
		assert_int_equal(symlink(target, path), 0);
		snprintf(path, sizeof(path), "%s/open", dir);
		assert_int_equal(mkdir(path, 0700), 0);
		assert_int_equal(chmod(path, 0777), 0);
		assert_int_equal(probe_fleet_add_vm(f, "symvm", NULL, "/r/symvm.sock", PROBE_FLEET_SOCKET_DIR), 1);
		assert_int_equal(probe_fleet_add_vm(f, "symak", NULL, "/r/symak.sock", PROBE_FLEET_SOCKET_DIR), 1);
		assert_int_equal(probe_fleet_add_vm(f, "open", NULL, "/r/open.sock", PROBE_FLEET_SOCKET_DIR), 1);
		assert_true(vm_of(f, "symvm")->tpm);
		assert_int_equal(vm_of(f, "symvm")->ak, PROBE_FLEET_AK_REFUSED);
		assert_non_null(strstr(vm_of(f, "symvm")->state_why, "symvm: a symbolic link"));
		assert_int_equal(vm_of(f, "symak")->ak, PROBE_FLEET_AK_REFUSED);
		assert_null(vm_of(f, "symak")->ak_name);
		assert_non_null(strstr(vm_of(f, "symak")->state_why, "ak.name: a symbolic link"));
		assert_int_equal(vm_of(f, "open")->ak, PROBE_FLEET_AK_REFUSED);
		assert_non_null(strstr(vm_of(f, "open")->state_why, "writable by group or others"));
		assert_string_equal(probe_fleet_ak_name(PROBE_FLEET_AK_REFUSED), "refused");
		snprintf(target, sizeof(target), "%s/ak.name", other);
		assert_int_equal(unlink(target), 0);
		assert_int_equal(rmdir(other), 0); /* empty: nothing was made in it */
	}

	/* SIGHUP: the pin removed, the folder stays: unpinned now. */
	snprintf(path, sizeof(path), "%s/pinned/ak.name", dir);
	assert_int_equal(unlink(path), 0);
	probe_fleet_refresh_tpm(f);
	assert_int_equal(vm_of(f, "pinned")->ak, PROBE_FLEET_AK_UNTRUSTED);
	assert_null(vm_of(f, "pinned")->ak_name);
	probe_fleet_free(f);

	/* With an EK CA: unpinned TPM VMs get credential activation. */
	{
		struct probe_fleet_config cfg = { .interval_ms = 10000, .timeout_ms = 30000, .state_dir = dir,
						  .tpm = &x, .ek_ca_file = "/etc/ca.pem" };

		assert_int_equal(probe_fleet_new(e, &cfg, &f), 0);
	}
	assert_int_equal(probe_fleet_get_config(f)->tpm_timeout_ms, 30000);
	assert_int_equal(probe_fleet_add_vm(f, "folder", NULL, "/r/folder.sock", PROBE_FLEET_SOCKET_DIR), 1);
	assert_int_equal(probe_fleet_add_vm(f, "plain", NULL, "/r/plain.sock", PROBE_FLEET_SOCKET_DIR), 1);
	assert_int_equal(vm_of(f, "folder")->ak, PROBE_FLEET_AK_ACTIVATE);
	assert_int_equal(vm_of(f, "plain")->ak, PROBE_FLEET_AK_NONE);
	probe_fleet_free(f);

	/* No state directory: a source's TPM VM cannot be verified. */
	{
		struct probe_fleet_config cfg = { .interval_ms = 10000 };

		assert_int_equal(probe_fleet_new(e, &cfg, &f), 0);
	}
	assert_int_equal(probe_fleet_add_vm(f, "lv", NULL, "/r/lv.sock", PROBE_FLEET_LIBVIRT), 1);
	assert_int_equal(probe_fleet_set_vm_tpm(f, "lv", PROBE_FLEET_LIBVIRT, true), 0);
	assert_true(vm_of(f, "lv")->tpm);
	assert_int_equal(vm_of(f, "lv")->ak, PROBE_FLEET_AK_NO_STATE);
	assert_string_equal(probe_fleet_ak_name(PROBE_FLEET_AK_NO_STATE), "no-state");
	probe_fleet_free(f);

	sd_event_unref(e);
	rm_rf(dir);
}

/* ---- a round against a guest on a real UNIX socket, on the fleet's loop ---- */

struct guest {
	int lfd, cfd;
	sd_event_source *ls, *cs;
	char buf[512];
	size_t n;
	bool evidence; /* send an evidence frame for the report */
	unsigned ek_requests; /* the host's 'K' frames (the credential phase), never answered */
};

struct result {
	unsigned rounds;
	enum probe_outcome outcome;
	char evidence[32];
	char links[600];
	bool tpm;
};

static void send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EAGAIN) {
			usleep(1000);
			continue;
		}
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static int on_conn(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct guest *g = userdata;
	ssize_t n;

	(void)src;
	(void)revents;
	n = read(fd, g->buf + g->n, sizeof(g->buf) - g->n);
	if (n <= 0)
		return 0;
	g->n += (size_t)n;
	if (g->n >= SC_WIRE_HEADER_LEN + SC_NONCE_HEX_LEN) {
		_cleanup_free_ char *tpl = NULL, *text = NULL, *frame = NULL, *ev_text = NULL, *ev_frame = NULL;
		_cleanup_json_ json_t *doc = NULL, *ev = NULL;
		char nonce[SC_NONCE_HEX_LEN + 1], sha[65];
		size_t len, frame_len, ev_len;

		if (g->buf[SC_WIRE_MAGIC_LEN] == SC_WIRE_EK) {
			g->ek_requests++;
			g->n = 0;
			return 0;
		}
		assert_memory_equal(g->buf, "\x1eSC1N", 5);
		memcpy(nonce, g->buf + SC_WIRE_HEADER_LEN, SC_NONCE_HEX_LEN);
		nonce[SC_NONCE_HEX_LEN] = '\0';
		g->n = 0;
		assert_int_equal(sc_read_file_capped(TEMPLATE, 1u << 20, &tpl, &len), 0);
		doc = json_loadb(tpl, len, 0, NULL);
		assert_non_null(doc);
		json_object_set_new(doc, "nonce", json_string(nonce));
		text = json_dumps(doc, JSON_COMPACT);
		assert_non_null(text);
		assert_int_equal(sc_wire_encode(SC_WIRE_REPORT, text, strlen(text), &frame, &frame_len), 0);
		send_all(fd, frame, frame_len);
		if (g->evidence) {
			/* Enough for the session to take it as this report's evidence; nothing could verify it here. */
			sc_evidence_report_sha256(text, strlen(text), sha);
			ev = json_pack("{s:s, s:s}", "nonce", nonce, "report_sha256", sha);
			ev_text = json_dumps(ev, JSON_COMPACT);
			assert_non_null(ev_text);
			assert_int_equal(sc_wire_encode(SC_WIRE_EVIDENCE, ev_text, strlen(ev_text), &ev_frame, &ev_len), 0);
			send_all(fd, ev_frame, ev_len);
		}
	}
	return 0;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct guest *g = userdata;
	int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)revents;
	if (c < 0)
		return 0;
	assert_int_equal(g->cfd, -1);
	g->cfd = c;
	assert_int_equal(sd_event_add_io(sd_event_source_get_event(src), &g->cs, c, EPOLLIN, on_conn, g), 0);
	return 0;
}

static void on_round(struct probe_fleet *f, const struct probe_fleet_vm *vm, unsigned what, void *userdata)
{
	struct result *r = userdata;
	size_t i;
	json_t *l;

	(void)f;
	if (!(what & PROBE_FLEET_ROUND))
		return;
	r->rounds++;
	r->outcome = vm->outcome;
	r->tpm = vm->tpm;
	snprintf(r->evidence, sizeof(r->evidence), "%s", vm->evidence);
	r->links[0] = '\0';
	json_array_foreach(vm->links, i, l)
		snprintf(r->links + strlen(r->links), sizeof(r->links) - strlen(r->links), "%s: %s; ",
			 json_string_value(json_object_get(l, "link")), json_string_value(json_object_get(l, "reason")));
}

/*
 * One round of VM "lv" (source libvirt, with or without a TPM by its word): with no state directory,
 * or (@activate) with one holding lv/ without ak.name and an EK CA. Returns the EK requests the guest saw.
 */
static unsigned one_round(bool tpm, bool evidence, bool activate, struct result *res)
{
	char dir[] = "/tmp/test-fleet-tpm-XXXXXX", state_dir[64], path[96];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct guest g = { .lfd = -1, .cfd = -1, .evidence = evidence };
	struct probe_evidence_expect x = { .uki_path = "/nonexistent.efi" };
	struct probe_fleet_config cfg = { .interval_ms = 60000, .timeout_ms = 2000, .tpm_timeout_ms = 2000 };
	struct probe_fleet *f = NULL;
	struct probe_policy p;
	sd_event *e = NULL;
	long long until;

	assert_non_null(mkdtemp(dir));
	if (activate) {
		snprintf(state_dir, sizeof(state_dir), "%s/state", dir);
		assert_int_equal(mkdir(state_dir, 0700), 0);
		snprintf(path, sizeof(path), "%s/lv", state_dir);
		assert_int_equal(mkdir(path, 0700), 0);
		cfg.state_dir = state_dir;
		cfg.tpm = &x;
		cfg.ek_ca_file = TEMPLATE; /* never read: the guest sends no EK */
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/lv.sock", dir);
	g.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(g.lfd >= 0);
	assert_int_equal(bind(g.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(g.lfd, 4), 0);
	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(sd_event_add_io(e, &g.ls, g.lfd, EPOLLIN, on_accept, &g), 0);
	assert_int_equal(probe_fleet_new(e, &cfg, &f), 0);
	probe_policy_init(&p);
	assert_int_equal(probe_policy_allow(&p, D1), 0);
	probe_fleet_set_policy(f, &p);
	memset(res, 0, sizeof(*res));
	assert_int_equal(probe_fleet_add_listener(f, on_round, res), 0);
	assert_int_equal(probe_fleet_add_vm(f, "lv", NULL, sa.sun_path, PROBE_FLEET_LIBVIRT), 1);
	assert_int_equal(probe_fleet_set_vm_tpm(f, "lv", PROBE_FLEET_LIBVIRT, tpm), 0);
	/* The first round comes within a second; its deadline is 2 s. */
	until = sc_now_ms() + 15000;
	while (!res->rounds && sc_now_ms() < until)
		assert_true(sd_event_run(e, 100000) >= 0);
	assert_int_equal(res->rounds, 1);
	if (activate) {
		/* Nothing proven, nothing pinned. */
		assert_int_equal(vm_of(f, "lv")->ak, PROBE_FLEET_AK_ACTIVATE);
		snprintf(path, sizeof(path), "%s/lv/ak.name", state_dir);
		assert_int_equal(access(path, F_OK), -1);
	}
	probe_fleet_free(f);
	sd_event_source_disable_unref(g.cs);
	sd_event_source_disable_unref(g.ls);
	if (g.cfd >= 0)
		close(g.cfd);
	close(g.lfd);
	sd_event_unref(e);
	rm_rf(dir);
	return g.ek_requests;
}

static void test_no_state_fails_closed(void **state)
{
	struct result r;

	(void)state;
	/* The control: the same guest, no TPM by its source's word: self-reported SEALED. */
	one_round(false, false, false, &r);
	assert_int_equal(r.outcome, PROBE_SEALED);
	assert_false(r.tpm);
	assert_string_equal(r.evidence, PROBE_EVIDENCE);
	/* A TPM by its source's word, evidence sent, no state directory: NOT SEALED by tpm:evidence. */
	one_round(true, true, false, &r);
	assert_true(r.tpm);
	assert_int_equal(r.outcome, PROBE_UNSEALED);
	assert_string_equal(r.evidence, PROBE_EVIDENCE);
	assert_non_null(strstr(r.links, "tpm:evidence: "));
	assert_non_null(strstr(r.links, "give --state-dir"));
	/* And no evidence at all (the round waits for it until its deadline): the same. */
	one_round(true, false, false, &r);
	assert_int_equal(r.outcome, PROBE_UNSEALED);
	assert_non_null(strstr(r.links, "tpm:evidence: "));
}

/*
 * An unpinned TPM VM with an EK CA: after the evidence the round asks for the EK (the credential
 * phase, the VM's own configuration); a guest that never answers costs that round only up to its
 * deadline (2 s here, not the 30 s credential wait), NOT SEALED, nothing pinned.
 */
static void test_activation_bounded(void **state)
{
	struct result r;

	(void)state;
	assert_int_equal(one_round(false, true, true, &r), 1);
	assert_true(r.tpm);
	assert_int_equal(r.outcome, PROBE_UNSEALED);
	assert_string_equal(r.evidence, PROBE_EVIDENCE);
	/* This guest's evidence is only enough for the session to take it; the verifier refuses it first. */
	assert_non_null(strstr(r.links, "tpm:binding: "));
}

/*
 * The state directory itself gone (a mount not there yet, moved away): which VMs have a TPM cannot be
 * told, so a socket directory's VM without a folder is refused (tpm:evidence fails), never self-reported.
 */
static void test_state_dir_gone(void **state)
{
	struct probe_evidence_expect x = { .uki_path = "/nonexistent.efi" };
	char dir[] = "/tmp/test-fleet-tpm-XXXXXX";
	struct probe_fleet_config cfg = { .interval_ms = 10000, .tpm = &x };
	sd_event *e = NULL;
	struct probe_fleet *f = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	cfg.state_dir = dir;
	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(probe_fleet_new(e, &cfg, &f), 0);
	assert_int_equal(probe_fleet_add_vm(f, "plain", NULL, "/r/plain.sock", PROBE_FLEET_SOCKET_DIR), 1);
	assert_false(vm_of(f, "plain")->tpm); /* DIR there, no DIR/plain/: self-reported */
	assert_int_equal(rmdir(dir), 0);
	probe_fleet_refresh_tpm(f);
	assert_true(vm_of(f, "plain")->tpm);
	assert_int_equal(vm_of(f, "plain")->ak, PROBE_FLEET_AK_REFUSED);
	assert_non_null(strstr(vm_of(f, "plain")->state_why, "the state directory is gone"));
	/* Back: self-reported again at the next refresh. */
	assert_int_equal(mkdir(dir, 0700), 0);
	probe_fleet_refresh_tpm(f);
	assert_false(vm_of(f, "plain")->tpm);
	rmdir(dir);
	probe_fleet_free(f);
	sd_event_unref(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_dir_gone),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_no_state_fails_closed),
		cmocka_unit_test(test_activation_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
