/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The booted bootc deployment, named as `bootc status` names it (bootc
 * crates/lib/src/bootc_composefs/status.rs boot_entry_from_composefs_deployment()):
 *
 *   /sysroot/state/deploy/<verity>/<verity>.origin   an INI file bootc writes
 *       (bootc_composefs/state.rs write_composefs_state(), composefs_consts.rs):
 *         [origin]  container-image-reference = ostree-unverified-image:docker://quay.io/x:tag
 *         [boot]    boot_type = uki | bls,  digest = <boot digest>
 *         [image]   manifest_digest = sha256:<64 hex>
 *   /run/composefs/staged-deployment                  JSON {"depl_id": "<verity>", "finalization_locked": bool}
 *   the LoaderInfo EFI variable (systemd's loader GUID)  the boot loader, as bootc's get_bootloader() reads it
 *
 * <verity> is the composefs digest the root overlay is mounted from; when it
 * differs from the kernel command line's, the system soft-rebooted into
 * another deployment (bootc's composefs_booted()).
 *
 * Everything here is the guest's own files: what it names is reported, never
 * judged (the verdict rests on the checks). Parsers are strict and bounded:
 * a key given twice, a line that is no INI line, a value over its cap, an
 * unknown transport or signature scheme are errors, never "the first one".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "sc-fileio.h"

#define SC_BOOTC_ORIGIN_MAX (16u * 1024u) /* the .origin file */
#define SC_BOOTC_STAGED_MAX (4u * 1024u)  /* /run/composefs/staged-deployment */
#define SC_BOOTC_VALUE_MAX 1024u          /* one INI value */
#define SC_BOOTC_STATE_DIR "state/deploy" /* under the sysroot (composefs_consts.rs STATE_DIR_RELATIVE) */
#define SC_BOOTC_STAGED_PATH "/run/composefs/staged-deployment"

/* An image reference as ostree-ext's OstreeImageReference parses it (ostree-ext src/container/mod.rs). */
struct sc_bootc_imgref {
	char signature[SC_BOOTC_VALUE_MAX]; /* "insecure", "container-policy", or "ostree-remote:<remote>" */
	char transport[32];                 /* "registry", "oci", "oci-archive", "docker-archive", "containers-storage", "dir", "docker-daemon" */
	char image[SC_BOOTC_VALUE_MAX];     /* "quay.io/x:tag" (the name after the transport) */
};

struct sc_bootc_origin {
	bool has_image;
	char image_ref[SC_BOOTC_VALUE_MAX]; /* [origin] container-image-reference, as written */
	struct sc_bootc_imgref imgref;
	char boot_type[8];                 /* [boot] boot_type: "uki" or "bls" ("" when absent: bootc refuses it) */
	char boot_digest[SC_BOOTC_VALUE_MAX]; /* [boot] digest, "" when absent */
	char manifest_digest[80];          /* [image] manifest_digest "sha256:<64 hex>", "" when absent */
};

/*
 * sc_bootc_imgref_parse() - @s as ostree-ext parses it: a signature scheme
 * (ostree-image-signed, ostree-unverified-image, ostree-unverified-registry,
 * ostree-remote-image, ostree-remote-registry), then TRANSPORT:NAME
 * (containers-image-proxy; "docker://" is the registry). 0, or -EBADMSG with @why.
 */
int sc_bootc_imgref_parse(const char *s, struct sc_bootc_imgref *ret, char *why, size_t why_size);

/*
 * sc_bootc_origin_parse() - the .origin file's @len bytes at @text (at most
 * SC_BOOTC_ORIGIN_MAX; NUL bytes refused). INI as bootc's tini writes and reads
 * it: "[section]" lines, "key = value" lines (spaces around '=' and at the ends
 * trimmed), blank lines, and comments starting with ';' or '#'. Keys of other
 * sections or names are ignored; the ones above are taken once (twice in a
 * section is an error), each checked for its form. 0, or -EBADMSG with @why
 * naming the line.
 */
int sc_bootc_origin_parse(const char *text, size_t len, struct sc_bootc_origin *ret, char *why, size_t why_size);

struct sc_bootc_staged {
	char verity[129];         /* depl_id: lowercase hex of a SHA-256 or SHA-512 digest */
	bool finalization_locked; /* false when absent */
};

/* sc_bootc_staged_parse() - the staged-deployment JSON: exactly those two keys (the second optional). 0 or -EBADMSG. */
int sc_bootc_staged_parse(const char *text, size_t len, struct sc_bootc_staged *ret, char *why, size_t why_size);

/* What sc_bootc_deployment() found. */
struct sc_bootc_deployment {
	bool present;            /* <sysroot>/state/deploy exists: a bootc composefs system */
	char verity[129];        /* the deployment: the mounted digest */
	bool soft_reboot;        /* the kernel command line names another digest */
	char cmdline_verity[129];
	bool has_origin;         /* origin parsed */
	struct sc_bootc_origin origin;
	char origin_error[600];  /* why the origin could not be read or parsed, "" otherwise */
	char bootloader[16];     /* "systemd", "grub-cc", "grub" (LoaderInfo names another loader), "none" (no LoaderInfo) */
	bool has_staged;
	struct sc_bootc_staged staged;
	char staged_error[300];
};

/*
 * sc_bootc_deployment() - the deployment mounted as @mounted_hex (the root
 * overlay's digest; NULL when the root is not composefs) with @cmdline_hex
 * the command line's (may be NULL), under @paths (redirectable). Returns 0
 * (what could not be read is said in the *_error fields), or -ENOMEM.
 */
int sc_bootc_deployment(const struct sc_paths *paths, const char *mounted_hex, const char *cmdline_hex,
			struct sc_bootc_deployment *ret);
