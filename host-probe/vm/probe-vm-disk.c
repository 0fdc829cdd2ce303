/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probe-evidence.h"
#include "probe-pe.h"
#include "probe-sbref.h"
#include "probe-spawn.h"
#include "probe-tpm.h"
#include "probe-vm-disk.h"
#include "probe-vm.h"
#include "sc-cmdline.h"
#include "sc-fileio.h"
#include "sc-macro.h"
#include "sc-why.h"

static int sha256(const void *p, size_t n, uint8_t out[32])
{
	uint8_t h[PROBE_TPM_HASH_MAX];
	int r = probe_tpm_hash(PROBE_TPM_ALG_SHA256, p, n, h);

	if (r >= 0)
		memcpy(out, h, 32);
	return r;
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The largest block size of qemu-img dd that divides both: the ESP is copied in a few thousand steps. */
static unsigned dd_block(uint64_t offset, uint64_t len)
{
	static const unsigned sizes[] = { 1u << 20, 1u << 16, 4096, 512 };

	for (size_t i = 0; i < ELEMENTSOF(sizes); i++)
		if (offset % sizes[i] == 0 && len % sizes[i] == 0)
			return sizes[i];
	return 512;
}

/* QEMU's reader with the format named (never probed), the absolute path (never a protocol prefix). */
static int dd(const char *disk, const char *format, uint64_t offset, uint64_t len, const char *out, const char *log)
{
	unsigned bs = dd_block(offset, len);
	char a_bs[32], a_skip[48], a_count[48];
	_cleanup_free_ char *a_if = NULL, *a_of = NULL;

	snprintf(a_bs, sizeof(a_bs), "bs=%u", bs);
	snprintf(a_skip, sizeof(a_skip), "skip=%llu", (unsigned long long)(offset / bs));
	snprintf(a_count, sizeof(a_count), "count=%llu", (unsigned long long)(len / bs));
	if (asprintf(&a_if, "if=%s", disk) < 0 || asprintf(&a_of, "of=%s", out) < 0) {
		a_if = a_of = NULL;
		return -ENOMEM;
	}
	{
		const char *argv[] = { "qemu-img", "dd", "-f", format, "-O", "raw", a_bs, a_skip, a_count, a_if, a_of, NULL };

		return probe_spawn_wait(argv, log, PROBE_HELPER_TIMEOUT_MS);
	}
}

/* One file out of the ESP image (@esp: a file, or "DISK@@OFFSET" for a raw disk read in place). */
static int mcopy(const char *esp, const char *from, const char *to, const char *log)
{
	_cleanup_free_ char *src = NULL;

	if (asprintf(&src, "::%s", from) < 0)
		return -ENOMEM;
	{
		const char *argv[] = { "mcopy", "-n", "-i", esp, src, to, NULL };

		return probe_spawn_wait(argv, log, PROBE_HELPER_TIMEOUT_MS);
	}
}

/*
 * The names in the ESP's folder @dir (mdir -b: one "::/DIR/NAME" a line), read
 * from @list_file (at most 64 KiB). Each name must be [A-Za-z0-9._+-]: mtools
 * writes a FAT long name as it is, and nothing of this probe takes another.
 * -ENOENT when the folder is not there.
 */
static int list_dir(const char *esp, const char *dir, const char *list_file, char names[][256], unsigned max,
		    unsigned *ret_n, const char *disk, char *why, size_t why_size)
{
	_cleanup_free_ char *src = NULL, *text = NULL;
	size_t len, prefix;
	unsigned n = 0;
	int r;

	(void)unlink(list_file);
	if (asprintf(&src, "::%s", dir) < 0)
		return -ENOMEM;
	{
		const char *argv[] = { "mdir", "-b", "-i", esp, src, NULL };

		r = probe_spawn_wait(argv, list_file, PROBE_HELPER_TIMEOUT_MS);
	}
	if (r == -EIO)
		return -ENOENT; /* mdir: no such folder */
	if (r < 0)
		return sc_why(r, why, why_size, "%s: listing %s on its ESP (mdir) failed", disk, dir);
	r = sc_read_file_capped(list_file, 64 * 1024, &text, &len);
	if (r < 0)
		return sc_why(r, why, why_size, "%s: the ESP's %s: %s", disk, dir,
			      r == -EFBIG ? "a listing over 64 KiB" : strerror(-r));
	prefix = strlen(src) + 1; /* "::/loader/entries/" */
	for (char *line = text, *nl; line < text + len; line = nl + 1) {
		size_t l;

		nl = memchr(line, '\n', (size_t)(text + len - line));
		if (!nl)
			nl = text + len;
		*nl = 0;
		l = strlen(line);
		if (l == 0)
			continue;
		if (l <= prefix || strncmp(line, src, prefix - 1) != 0 || line[prefix - 1] != '/')
			return sc_why(-EBADMSG, why, why_size, "%s: mdir listed something outside the ESP's %s", disk, dir);
		line += prefix;
		l -= prefix;
		if (l > 0 && line[l - 1] == '/') /* a folder */
			continue;
		if (l >= 256 || strspn(line, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-") != l)
			return sc_why(-EBADMSG, why, why_size, "%s: the ESP's %s has a file whose name is not [A-Za-z0-9._+-] (at most 255 bytes)",
				      disk, dir);
		if (n >= max)
			return sc_why(-E2BIG, why, why_size, "%s: the ESP's %s has more than %u files", disk, dir, max);
		memcpy(names[n++], line, l + 1);
	}
	*ret_n = n;
	return 0;
}

static bool ends_with_nocase(const char *s, const char *suffix)
{
	size_t l = strlen(s), k = strlen(suffix);

	return l > k && strcasecmp(s + l - k, suffix) == 0;
}

#define ESP_LIST_MAX 256

int probe_vm_disk_read(const char *disk, const char *workdir, const char *log, struct probe_vm_disk *ret, char *why,
		       size_t why_size)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *head = NULL;
	uint8_t magic[32];
	_cleanup_free_ char *esp_spec = NULL;
	_cleanup_free_ char(*names)[256] = calloc(ESP_LIST_MAX, 256);
	char head_path[300], dir[300], inner[300], list[300];
	unsigned n = 0;
	struct stat st;
	size_t len;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (disk[0] != '/')
		return sc_why(-EINVAL, why, why_size, "%s: not an absolute path", disk);
	fd = open(disk, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return sc_why(-errno, why, why_size, "%s: %s", disk, strerror(errno));
	if (fstat(fd, &st) < 0)
		return sc_why(-errno, why, why_size, "%s: %s", disk, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return sc_why(-EINVAL, why, why_size, "%s: not a regular file (a raw or qcow2 disk image)", disk);
	if (pread(fd, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic))
		return sc_why(-EBADMSG, why, why_size, "%s: shorter than any disk image", disk);
	/* qcow2 (QEMU docs/interop/qcow2.txt): "QFI\xfb", then the virtual size at byte 24, big-endian. */
	if (memcmp(magic, "QFI\xfb", 4) == 0) {
		uint8_t ext[80];

		snprintf(ret->format, sizeof(ret->format), "qcow2");
		ret->size = be64(magic + 24);
		/* Only the file itself: a backing file or an external data file would hand the guest another
		 * host file than the one named (docs/threat-model.md), an encrypted one needs a key. */
		if (pread(fd, ext, sizeof(ext), 0) != (ssize_t)sizeof(ext))
			return sc_why(-EBADMSG, why, why_size, "%s: a truncated qcow2 header", disk);
		if (be64(ext + 8) != 0)
			return sc_why(-EPERM, why, why_size, "%s: a qcow2 image with a backing file: give the flattened image "
				      "(qemu-img convert -O qcow2), the probe boots exactly the file it is given", disk);
		if (be64(ext + 32) >> 32 != 0)
			return sc_why(-EPERM, why, why_size, "%s: an encrypted qcow2 image", disk);
		if (ext[7] >= 3 && (be64(ext + 72) & 4))
			return sc_why(-EPERM, why, why_size, "%s: a qcow2 image with an external data file", disk);
	} else {
		snprintf(ret->format, sizeof(ret->format), "raw");
		ret->size = (uint64_t)st.st_size;
	}
	if (ret->size < 2 * PROBE_GPT_HEAD_MAX)
		return sc_why(-EBADMSG, why, why_size, "%s: a %s disk of %llu bytes is too small for a GPT and an ESP", disk,
			      ret->format, (unsigned long long)ret->size);
	snprintf(head_path, sizeof(head_path), "%s/disk-head.raw", workdir);
	r = dd(disk, ret->format, 0, PROBE_GPT_HEAD_MAX, head_path, log);
	if (r < 0)
		return sc_why(r, why, why_size, "%s: qemu-img dd could not read it as %s (see %s)", disk, ret->format, log);
	r = sc_read_file_capped(head_path, PROBE_GPT_HEAD_MAX, &head, &len);
	if (r < 0)
		return sc_why(r, why, why_size, "%s: its first MiB: %s", disk, strerror(-r));
	r = probe_gpt_find_esp((const uint8_t *)head, len, ret->size, &ret->esp, inner, sizeof(inner));
	if (r < 0)
		return sc_why(r, why, why_size, "%s: %s", disk, inner);
	{
		_cleanup_free_ uint8_t *gpt = NULL;
		size_t gpt_len;

		r = probe_gpt_event_data((const uint8_t *)head, len, &gpt, &gpt_len);
		if (r < 0 || sha256(gpt, gpt_len, ret->pcr5.gpt_sha256) < 0)
			return sc_why(r < 0 ? r : -EIO, why, why_size, "%s: its GPT as the firmware measures it: %s", disk,
				      strerror(r < 0 ? -r : EIO));
		ret->pcr5.gpt_known = true;
	}
	if ((ret->esp.last_lba - ret->esp.first_lba + 1) * PROBE_GPT_SECTOR > PROBE_DISK_ESP_MAX)
		return sc_why(-EFBIG, why, why_size, "%s: its ESP is over 2 GiB", disk);
	if (!names)
		return -ENOMEM;
	if (ret->esp.has_xbootldr)
		return sc_why(-ENOTUNIQ, why, why_size, "%s: the GPT has an XBOOTLDR partition: systemd-boot reads entries from it too, which sealcheck does not follow",
			      disk);
	if (strcmp(ret->format, "raw") == 0 && !strstr(disk, "@@"))
		/* A raw disk is read in place, at the ESP's offset (mtools' "FILE@@OFFSET"): nothing copied. */
		r = asprintf(&esp_spec, "%s@@%llu", disk, (unsigned long long)(ret->esp.first_lba * PROBE_GPT_SECTOR)) < 0
			    ? -ENOMEM
			    : 0;
	else {
		/* Another format is copied out by QEMU's reader, at most PROBE_DISK_ESP_MAX. */
		r = asprintf(&esp_spec, "%s/esp.img", workdir) < 0 ? -ENOMEM : 0;
		if (r >= 0)
			r = dd(disk, ret->format, ret->esp.first_lba * PROBE_GPT_SECTOR,
			       (ret->esp.last_lba - ret->esp.first_lba + 1) * PROBE_GPT_SECTOR, esp_spec, log);
		if (r < 0 && r != -ENOMEM)
			return sc_why(r, why, why_size, "%s: copying its ESP (partition %u) failed (see %s)", disk,
				      ret->esp.index, log);
	}
	if (r < 0) {
		esp_spec = NULL;
		return r;
	}

	/* systemd-boot's entries (src/boot/boot.c config_load_type1_entries(): *.conf, any case): exactly one,
	 * as bootc install writes. Type #2 UKIs in EFI/Linux/ would be entries of their own: none. */
	snprintf(list, sizeof(list), "%s/esp.list", workdir);
	r = list_dir(esp_spec, "/loader/entries", list, names, ESP_LIST_MAX, &n, disk, why, why_size);
	if (r == -ENOENT)
		return sc_why(r, why, why_size, "%s: its ESP has no loader/entries: systemd-boot has no entry to start (bootc writes loader/entries/bootc_*.conf)",
			      disk);
	if (r < 0)
		return r;
	for (unsigned i = 0, k = 0; i < n; i++) {
		if (!ends_with_nocase(names[i], ".conf"))
			continue;
		if (k++)
			return sc_why(-ENOTUNIQ, why, why_size, "%s: its ESP has more than one entry in loader/entries (%s, %s): which UKI systemd-boot starts then depends on sort keys and EFI variables; sealcheck judges a disk with one entry (as bootc install writes)",
				      disk, ret->entry_name, names[i]);
		snprintf(ret->entry_name, sizeof(ret->entry_name), "%s", names[i]);
	}
	if (!ret->entry_name[0])
		return sc_why(-ENOENT, why, why_size, "%s: its ESP's loader/entries has no .conf entry", disk);
	r = list_dir(esp_spec, "/EFI/Linux", list, names, ESP_LIST_MAX, &n, disk, why, why_size);
	if (r < 0 && r != -ENOENT)
		return r;
	for (unsigned i = 0; r >= 0 && i < n; i++)
		if (ends_with_nocase(names[i], ".efi"))
			return sc_why(-ENOTUNIQ, why, why_size, "%s: its ESP has EFI/Linux/%s, which systemd-boot offers as an entry of its own (bootc keeps its UKIs in EFI/Linux/bootc/)",
				      disk, names[i]);
	{
		_cleanup_free_ char *text = NULL;
		char path[600];

		snprintf(path, sizeof(path), "/loader/entries/%s", ret->entry_name);
		snprintf(dir, sizeof(dir), "%s/entry.conf", workdir);
		r = mcopy(esp_spec, path, dir, log);
		if (r >= 0)
			r = sc_read_file_capped(dir, PROBE_BLS_ENTRY_MAX, &text, &len);
		if (r < 0)
			return sc_why(r, why, why_size, "%s: loader/entries/%s: %s", disk, ret->entry_name,
				      r == -EFBIG ? "over 16 KiB" : strerror(-r));
		r = probe_bls_entry_parse(text, len, &ret->entry, inner, sizeof(inner));
		if (r < 0)
			return sc_why(r, why, why_size, "%s: loader/entries/%s: %s", disk, ret->entry_name, inner);
	}
	snprintf(ret->uki, sizeof(ret->uki), "%s/uki.efi", workdir);
	r = mcopy(esp_spec, ret->entry.efi, ret->uki, log);
	if (r < 0)
		return sc_why(r, why, why_size, "%s: the UKI its boot entry names, %s, is not on the ESP (mcopy: see %s)",
			      disk, ret->entry.efi, log);
	/* systemd-boot measures loader/loader.conf into PCR 5 when the file is there (src/boot/boot.c). */
	snprintf(dir, sizeof(dir), "%s/loader.conf", workdir);
	if (mcopy(esp_spec, "/loader/loader.conf", dir, log) >= 0) {
		_cleanup_free_ char *conf = NULL;

		r = sc_read_file_capped(dir, 1u << 20, &conf, &len);
		if (r < 0 || sha256(conf, len, ret->pcr5.loader_conf_sha256) < 0)
			return sc_why(r < 0 ? r : -EIO, why, why_size, "%s: the ESP's loader/loader.conf: %s", disk,
				      r == -EFBIG ? "over 1 MiB" : strerror(r < 0 ? -r : EIO));
		ret->pcr5.loader_conf = true;
	}
	snprintf(ret->bootloader, sizeof(ret->bootloader), "%s/bootloader.efi", workdir);
	r = mcopy(esp_spec, "/EFI/BOOT/BOOTX64.EFI", ret->bootloader, log);
	if (r < 0)
		return sc_why(r, why, why_size, "%s: its ESP has no EFI/BOOT/BOOTX64.EFI, the boot loader the firmware starts (mcopy: see %s)",
			      disk, log);
	return 0;
}

static int verify_one(const char *path, const char *what, const struct probe_sb_reference *sb,
		      struct probe_boot_chain *chain, struct probe_pe *pe, char *why, size_t why_size)
{
	char inner[400];
	int r = probe_pe_load(path, pe, inner, sizeof(inner));

	if (r < 0)
		return sc_why(r, why, why_size, "%s: %s", what, inner);
	r = probe_boot_chain_add(chain, what, pe, sb, inner, sizeof(inner));
	if (r < 0)
		return sc_why(r, why, why_size, "%s", inner);
	return 0;
}

int probe_vm_disk_verify(struct probe_vm_disk *d, const char *keys, char *why, size_t why_size)
{
	_cleanup_(probe_pe_done) struct probe_pe boot = { 0 }, uki = { 0 };
	_cleanup_(sc_seal_cmdline_done) struct sc_seal_cmdline c = { 0 };
	struct probe_sb_reference sb;
	struct probe_boot_chain chain = { 0 };
	char inner[400], what[320];
	const uint8_t *raw = NULL;
	size_t len = 0;
	int r;

	r = probe_sb_reference_load(keys, &sb, inner, sizeof(inner));
	if (r < 0)
		return sc_why(r, why, why_size, "the Secure Boot key directory: %s", inner);
	d->chain_signed = true;
	r = verify_one(d->bootloader, "the boot loader EFI/BOOT/BOOTX64.EFI", &sb, &chain, &boot, d->chain_why,
		       sizeof(d->chain_why));
	if (boot.data) {
		/* The boot loader is systemd-boot, as bootc installs it: its .sdmagic (src/boot/boot.c). */
		static const char magic[] = "#### LoaderInfo: systemd-boot ";
		const uint8_t *m = NULL;
		size_t ml = 0, v = 0;

		for (unsigned i = 0; i < boot.n_sections; i++)
			if (strcmp(boot.sections[i].name, ".sdmagic") == 0)
				probe_pe_section_raw(&boot, &boot.sections[i], &m, &ml);
		if (!m || ml <= sizeof(magic) - 1 || memcmp(m, magic, sizeof(magic) - 1) != 0) {
			probe_sb_reference_done(&sb);
			return sc_why(-EMEDIUMTYPE, why, why_size, "the boot loader EFI/BOOT/BOOTX64.EFI is not systemd-boot (no \"%s\" in .sdmagic): sealcheck judges the chain bootc installs",
				      magic);
		}
		for (size_t i = sizeof(magic) - 1; i < ml && m[i] != ' ' && m[i] != 0 && v + 1 < sizeof(d->bootloader_version); i++)
			d->bootloader_version[v++] = m[i] > 0x20 && m[i] < 0x7f ? (char)m[i] : '?';
		d->bootloader_version[v] = 0;
	}
	if (r >= 0) {
		snprintf(what, sizeof(what), "the UKI %.250s", d->entry.efi);
		r = verify_one(d->uki, what, &sb, &chain, &uki, d->chain_why, sizeof(d->chain_why));
	}
	probe_sb_reference_done(&sb);
	if (r < 0) {
		d->chain_signed = false;
		if (!uki.data && probe_pe_load(d->uki, &uki, inner, sizeof(inner)) < 0)
			return 0;
	}
	/* What the UKI seals, read as the guest's cmdline check reads it (common/sc-cmdline.h). */
	for (unsigned i = 0; i < uki.n_sections; i++)
		if (strcmp(uki.sections[i].name, ".cmdline") == 0)
			probe_pe_section_raw(&uki, &uki.sections[i], &raw, &len);
	if (!raw || len > 4096)
		return 0;
	if (memchr(raw, 0, len))
		len = (size_t)((const uint8_t *)memchr(raw, 0, len) - raw);
	if (sc_seal_cmdline_parse((const char *)raw, len, &c) < 0)
		return -ENOMEM;
	if (c.kind == SC_SEAL_COMPOSEFS && c.n_digests == 1) {
		d->digest = c.digests[0].digest;
		d->insecure = c.digests[0].insecure;
	}
	return 0;
}
