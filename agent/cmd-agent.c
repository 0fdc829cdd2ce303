/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sealcheck agent: the guest side of attestation over virtio-serial.
 *
 * Finds the port by name under /sys/class/virtio-ports (no udev needed),
 * pushes a report when it starts and answers the host's newest nonce with a
 * fresh report: whatever is readable when it starts collecting is read
 * first, and only the last valid nonce of it is answered, so a burst of
 * nonces costs one collection (one deep walk), not one each. Never blocks: the port is non-blocking, every frame has a deadline,
 * an absent host (POLLHUP) only delays the push. Nothing the host sends is
 * used except a nonce of fixed size and charset.
 *
 * With a TPM (--tpm auto), a report that answers a nonce is followed by an
 * evidence frame ('E', common/sc-evidence.h): a quote whose qualifying data
 * binds the nonce and exactly the report bytes just sent. Without a TPM, or
 * without the tpm2-tss libraries, the agent answers as before and says once
 * why there is no evidence.
 *
 * A host that has not pinned this VM's AK then asks for the EK ('K', naming
 * the nonce just answered) and sends a credential challenge ('C', the same
 * nonce): the agent answers with its EK public and certificate ('K') and with
 * what TPM2_ActivateCredential recovered ('A'), so the host can bind the AK to
 * the EK (common/sc-evidence.h). Requests for any other nonce are ignored, and
 * so is a second request of either kind for the same nonce (its answer is sent,
 * or queued and sent whole): a host that asks again and again, or stops
 * reading, costs no TPM work and no queue (docs/protocol.md, "Who speaks
 * first", step 6). The EK is read from the TPM once per run and kept.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli-options.h"
#include "config.h"
#include "sc-evidence.h"
#include "sc-io.h"
#include "sc-json.h"
#include "sc-log.h"
#include "sc-term.h"
#include "sc-tpm.h"
#include "sc-wire.h"

#define HOST_POLL_MS 500      /* host absent: look again this often (qemu-ga waits 100 ms) */
#define FRAME_DEADLINE_MS 5000
#define AGENT_MAX_INPUT 4096        /* the host only ever sends nonces */
#define DRAIN_MAX (64 * 1024)       /* read at most this much before answering: a flood cannot starve the answer */
#define DRAIN_MAX_FRAMES 256        /* and at most this many frames (what the decoder holds already is decoded too) */
#define AGENT_MAX_SECONDS 120       /* default bound of each report's objects walk (--verify-objects) */

struct cli_agent_options {
	const char *port;      /* virtio-serial port name */
	const char *device;    /* a device path instead of looking the port up (tests) */
	unsigned wait_port_s;  /* how long to look for the port */
	unsigned max_answers;  /* stop after this many reports sent (0: run forever) */
	struct sc_collect_options collect; /* --verify-objects, --deep, --max-seconds */
	bool tpm;              /* --tpm auto: evidence after each answer to a nonce */
	const char *tpm_tcti;  /* --tpm-tcti, or NULL for the TPM device */
};

static bool to_journal;

/* What the host asked beyond a nonce, in one drain: for the nonce last answered only. */
struct host_requests {
	bool ek;                /* 'K': the EK public and certificate */
	bool challenge;         /* 'C': a credential challenge, in chal */
	struct sc_credential_challenge chal; /* the newest valid one of the drain */
	unsigned repeated;      /* requests of a kind already taken for the nonce: ignored */
};

/* The nonce last answered, and which of the host's requests for it were taken: each kind once. */
struct answered {
	char nonce[SC_NONCE_HEX_LEN + 1]; /* "" before the first answer to a nonce */
	bool ek;                          /* its 'K' was answered (queued, sent, or the TPM could not) */
	bool challenge;                   /* its 'C' was answered likewise */
};

_printf_(2, 3) static void logmsg(int level, const char *fmt, ...)
{
	int saved = errno;
	char msg[SC_LOG_LINE_MAX];
	va_list ap;

	/* Device paths, port names and the reasons the TPM or the host gave: escaped, as sc_log_error() does. */
	va_start(ap, fmt);
	sc_log_vformat(msg, sizeof(msg), saved, fmt, ap);
	va_end(ap);
	/* Under systemd, a <N> prefix sets the journal priority. */
	if (to_journal)
		fprintf(stderr, "<%d>", level);
	fprintf(stderr, "sealcheck-agent: %s\n", msg);
	errno = saved;
}

/* /dev/vportNpM of the port called @name, from sysfs under the root. */
static int find_port(const struct sc_paths *paths, const char *name, char **ret)
{
	_cleanup_free_ char *dir = NULL;
	DIR *d;
	struct dirent *de;
	int r = -ENOENT;

	if (sc_path_join(paths, "/sys/class/virtio-ports", &dir) < 0)
		return -ENOMEM;
	d = opendir(dir);
	if (!d)
		return -ENOENT;
	while (r == -ENOENT && (de = readdir(d))) {
		_cleanup_free_ char *p = NULL, *buf = NULL;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&p, "%s/%s/name", dir, de->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		if (sc_read_file_capped(p, SC_SMALL_FILE_MAX, &buf, &len) < 0)
			continue;
		while (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		if (strcmp(buf, name) == 0) {
			_cleanup_free_ char *rel = NULL;

			if (asprintf(&rel, "/dev/%s", de->d_name) < 0 || sc_path_join(paths, rel, ret) < 0)
				r = -ENOMEM;
			else
				r = 0;
		}
	}
	closedir(d);
	return r;
}

static int open_port(const struct sc_paths *paths, const char *name, const char *device, unsigned wait_s,
		     char **ret_path)
{
	long long deadline = sc_now_ms() + (long long)wait_s * 1000;

	for (;;) {
		_cleanup_free_ char *path = NULL;
		int fd, r;

		if (device) {
			path = strdup(device);
			r = path ? 0 : -ENOMEM;
		} else
			r = find_port(paths, name, &path);
		if (r == -ENOMEM)
			return r;
		if (r == 0) {
			fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
			if (fd >= 0) {
				*ret_path = TAKE_PTR(path);
				return fd;
			}
			if (errno == EBUSY) {
				logmsg(3, "%s: busy: another process holds the port", path);
				return -EBUSY;
			}
		}
		if (sc_now_ms() >= deadline)
			return r < 0 ? r : -ENODEV;
		sleep(2);
	}
}

/*
 * The E frame for @report (the R frame's payload as sent) answering @nonce, appended to the R frame
 * in *@frame, so both go out as one write. No TPM is not an error: the report goes alone, and why
 * is logged when it differs from the last time (once, not at every answer).
 */
static int append_evidence(const struct sc_paths *paths, const struct cli_agent_options *o, const char *nonce,
			   const char *report, size_t report_len, struct sc_wire_buf *frame)
{
	static char last_why[256];
	_cleanup_free_ char *text = NULL;
	char why[256] = "";
	size_t len;
	int r;

	r = sc_evidence_collect(paths, o->tpm_tcti, nonce, report, report_len, &text, &len, why, sizeof(why));
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		if (strcmp(why, last_why) != 0) {
			/* No TPM is normal (debug); a TPM that fails is worth a warning. */
			logmsg(r == -ENODEV || r == -EOPNOTSUPP ? 7 : 4, "no TPM evidence: %s", why);
			snprintf(last_why, sizeof(last_why), "%s", why);
		}
		return 0;
	}
	last_why[0] = '\0';
	r = sc_wire_buf_append(frame, SC_WIRE_EVIDENCE, text, len);
	if (r < 0 && r != -ENOMEM)
		logmsg(4, "no TPM evidence: the evidence frame: %s", strerror(-r));
	return r == -ENOMEM ? r : 0;
}

static int make_report_frame(const struct sc_paths *paths, const struct cli_agent_options *o, const char *nonce,
			     struct sc_wire_buf *ret, const char **verdict)
{
	const struct sc_collect_options *collect = &o->collect;
	struct sc_report rep;
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_(sc_wire_buf_done) struct sc_wire_buf frame = { 0 };
	int r;

	r = sc_report_collect(paths, collect, &rep);
	if (r < 0)
		return r;
	*verdict = sc_verdict_name(rep.verdict);
	r = sc_report_to_json(paths, &rep, nonce, &doc);
	sc_report_done(&rep);
	if (r < 0)
		return r;
	text = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (!text)
		return -ENOMEM;
	r = sc_wire_buf_append(&frame, SC_WIRE_REPORT, text, strlen(text));
	if (r < 0)
		return r;
	/* Evidence only answers a nonce: the push at start has nothing to bind. */
	if (nonce && o->tpm) {
		r = append_evidence(paths, o, nonce, text, strlen(text), &frame);
		if (r < 0)
			return r;
	}
	*ret = frame;
	frame = (struct sc_wire_buf){ 0 };
	return 0;
}

/*
 * Everything readable now, up to DRAIN_MAX bytes or DRAIN_MAX_FRAMES frames,
 * through the decoder: the newest valid nonce is kept in @nonce (*@have set),
 * the host's requests for the nonce answered in @req (the newest valid
 * challenge: one that does not parse, or names another nonce, leaves the one
 * kept before it alone), every other frame is dropped. Returns 0 when nothing
 * more is readable (or a cap was reached), 1 at end of file, or a negative
 * errno from read().
 */
static int drain(int fd, struct sc_wire_decoder *dec, char nonce[static SC_NONCE_HEX_LEN + 1], bool *have,
		 unsigned *n_nonces, const struct answered *ans, struct host_requests *req)
{
	const char *answered = ans->nonce;
	size_t total = 0;
	unsigned frames = 0;

	while (total < DRAIN_MAX && frames < DRAIN_MAX_FRAMES) {
		struct sc_wire_frame fr;
		uint8_t buf[512];
		size_t want = sc_wire_space(dec) < sizeof(buf) ? sc_wire_space(dec) : sizeof(buf);
		ssize_t n = read(fd, buf, want);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : sc_negative_errno();
		}
		if (n == 0)
			return 1; /* end of file, or a full buffer (as before: wait, do not spin) */
		total += (size_t)n;
		sc_wire_feed(dec, buf, (size_t)n);
		while (sc_wire_next(dec, &fr) == 1) {
			frames++;
			if (fr.type == SC_WIRE_EK && answered[0] && fr.len == SC_NONCE_HEX_LEN &&
			    memcmp(fr.payload, answered, SC_NONCE_HEX_LEN) == 0) {
				if (ans->ek)
					req->repeated++;
				else
					req->ek = true;
				continue;
			}
			if (fr.type == SC_WIRE_CHALLENGE && answered[0]) {
				struct sc_credential_challenge c;

				if (ans->challenge) {
					/* One activation per nonce: not even parsed. */
					req->repeated++;
					continue;
				}
				/* Parsed aside: only a valid challenge for the nonce answered replaces the one kept. */
				if (sc_credential_challenge_parse(fr.payload, fr.len, &c) == 0 && strcmp(c.nonce, answered) == 0) {
					req->chal = c;
					req->challenge = true;
				} else
					logmsg(4, "ignoring a credential challenge (%zu bytes): malformed or not for the nonce answered",
					       fr.len);
				continue;
			}
			if (fr.type != SC_WIRE_NONCE || !sc_nonce_valid((const char *)fr.payload, fr.len)) {
				char t = fr.type;
				_cleanup_free_ char *shown = NULL;

				/* The type byte is the host's: escaped, never sent raw to the journal. */
				if (sc_term_escape(&t, 1, 0, &shown) < 0)
					return -ENOMEM;
				logmsg(4, "ignoring a frame of type '%s' (%zu bytes) from the host", shown, fr.len);
				continue;
			}
			memcpy(nonce, fr.payload, SC_NONCE_HEX_LEN);
			nonce[SC_NONCE_HEX_LEN] = '\0';
			*have = true;
			(*n_nonces)++;
		}
	}
	return 0;
}

/*
 * The host's requests after an answer: the EK ('K') and a credential challenge ('C'), both for the
 * nonce answered, each taken once for it (marked in @ans whether or not the TPM could answer). The
 * EK is read from the TPM at the first request and kept in @ek for the run. A TPM that cannot
 * answer sends nothing: the host's deadline says so.
 */
static int answer_requests(const struct sc_paths *paths, const struct cli_agent_options *o, struct answered *ans,
			   struct sc_ek *ek, const struct host_requests *req, struct sc_wire_buf *frame)
{
	const char *answered = ans->nonce;
	char why[256] = "";
	int r;

	if (req->ek && !ans->ek) {
		_cleanup_free_ char *text = NULL;
		size_t len;

		ans->ek = true;
		r = 0;
		if (ek->public_len == 0) {
			r = sc_ek_read(paths, o->tpm_tcti, ek, why, sizeof(why));
			if (r < 0)
				sc_ek_done(ek); /* nothing kept: the next nonce's request tries again */
			else
				logmsg(6, "read the EK from the TPM; kept for this run");
		}
		if (r >= 0 && (r = sc_ek_document(ek, answered, &text, &len)) < 0)
			snprintf(why, sizeof(why), "the EK document: %s", strerror(-r));
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			logmsg(4, "no EK for the host: %s", why);
		else if ((r = sc_wire_buf_append(frame, SC_WIRE_EK, text, len)) < 0)
			return r;
		else
			logmsg(6, "sent the EK (its public area%s)", strstr(text, "\"ek_cert\":null") ? "; no EK certificate" : " and certificate");
	}
	if (req->challenge && !ans->challenge) {
		_cleanup_free_ char *text = NULL;
		size_t len;

		ans->challenge = true;
		r = sc_credential_respond(paths, o->tpm_tcti, &req->chal, false, &text, &len, why, sizeof(why));
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			logmsg(4, "no answer to the credential challenge: %s", why);
		else if ((r = sc_wire_buf_append(frame, SC_WIRE_ANSWER, text, len)) < 0)
			return r;
		else
			logmsg(6, "answered the credential challenge (TPM2_ActivateCredential)");
	}
	return 0;
}

static int cli_agent(const struct sc_paths *paths, const struct cli_agent_options *o)
{
	struct sc_wire_decoder dec;
	_cleanup_free_ char *path = NULL;
	/* The frames to send, whole; a report superseded or sent is freed with its length (sc_wire_buf_done()). */
	_cleanup_(sc_wire_buf_done) struct sc_wire_buf pending = { 0 };
	_cleanup_(sc_ek_done) struct sc_ek ek = { 0 }; /* read at the first EK request, kept for the run */
	const char *verdict = "error";
	struct answered ans = { .nonce = "" }; /* the nonce of the last report made, and its requests taken */
	bool pending_report = true; /* pending holds a report (counted by --max-answers), not TPM answers */
	int fd, r;

	to_journal = getenv("JOURNAL_STREAM") != NULL;
	fd = open_port(paths, o->port, o->device, o->wait_port_s, &path);
	if (fd < 0) {
		logmsg(3, "no virtio-serial port '%s' after %us (%s); not attesting", o->port, o->wait_port_s,
		       strerror(-fd));
		return 1;
	}
	logmsg(6, "attesting over %s (port %s)", path, o->port);
	if (sc_wire_decoder_init(&dec, AGENT_MAX_INPUT) < 0)
		return 2;

	/* The push at start: a report without a nonce, for hosts that only listen. */
	r = make_report_frame(paths, o, NULL, &pending, &verdict);
	if (r < 0)
		logmsg(3, "making the report: %s", strerror(-r));
	else
		logmsg(6, "verdict at start: %s", verdict);

	for (unsigned answered = 0; o->max_answers == 0 || answered < o->max_answers;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char nonce[SC_NONCE_HEX_LEN + 1];
		struct host_requests req = { 0 };
		unsigned n_nonces = 0;
		bool have = false;
		int d;

		if (pending.data) {
			/* The whole frame or nothing: a frame cut short is resent whole, never resumed. */
			r = sc_write_all(fd, pending.data, pending.len, sc_now_ms() + FRAME_DEADLINE_MS);
			if (r == 0) {
				sc_wire_buf_done(&pending);
				answered += o->max_answers && pending_report ? 1 : 0;
				continue;
			}
			if (r != -ENOTCONN && r != -ETIMEDOUT)
				logmsg(4, "sending the report: %s", strerror(-r));
		}
		if (poll(&p, 1, pending.data ? HOST_POLL_MS : -1) < 0 && errno != EINTR) {
			logmsg(3, "poll: %m");
			break;
		}
		if (p.revents & POLLHUP) {
			/* Host side closed: nothing to read; wait for it to come back. */
			usleep(HOST_POLL_MS * 1000);
			continue;
		}
		if (!(p.revents & POLLIN))
			continue;
		d = drain(fd, &dec, nonce, &have, &n_nonces, &ans, &req);
		if (d == -ENODEV) { /* port unplugged: find it again */
			close(fd);
			free(TAKE_PTR(path));
			fd = open_port(paths, o->port, o->device, o->wait_port_s, &path);
			if (fd < 0)
				break;
			continue;
		}
		if (d < 0) {
			logmsg(3, "read: %s", strerror(-d));
			break;
		}
		if (req.repeated)
			logmsg(7, "ignoring %u request(s) already answered for the nonce", req.repeated);
		if (have && strcmp(nonce, ans.nonce) == 0) {
			/*
			 * The host said again the nonce already answered (it resends until it
			 * has the answer): the report made for it is sent, or still pending
			 * and sent whole. Collecting again would put a second report and
			 * evidence on the wire, or cut the first one short.
			 */
			logmsg(7, "the nonce again: already answered");
			have = false;
		}
		if (have) {
			/* One collection for the newest nonce; a report not yet sent is superseded by it. */
			sc_wire_buf_done(&pending);
			r = make_report_frame(paths, o, nonce, &pending, &verdict);
			if (r < 0)
				logmsg(3, "making the report: %s", strerror(-r));
			else {
				logmsg(6, "answering the newest of %u nonce(s): verdict %s", n_nonces, verdict);
				memcpy(ans.nonce, nonce, sizeof(ans.nonce));
				ans.ek = ans.challenge = false; /* a new nonce: its requests are new */
				pending_report = true;
			}
		} else if (o->tpm && (req.ek || req.challenge)) {
			if (!pending.data)
				pending_report = false;
			r = answer_requests(paths, o, &ans, &ek, &req, &pending);
			if (r < 0)
				logmsg(3, "answering the host's TPM request: %s", strerror(-r));
		}
		if (d == 1)
			usleep(HOST_POLL_MS * 1000);
	}
	sc_wire_decoder_done(&dec);
	if (fd >= 0)
		close(fd);
	return 0;
}

static int run(const struct sc_program *prog, const struct sc_verb *verb, int argc, char **argv)
{
	struct sc_paths paths = SC_PATHS_SYSTEM;
	struct cli_agent_options o = {
		.port = SC_VIRTIO_PORT_DEFAULT,
		.wait_port_s = 60,
		.collect = { .max_seconds = AGENT_MAX_SECONDS },
		.tpm = true,
	};
	bool bounded = false;
	unsigned long long v;
	int c, r;

	optind = 0;
	while ((c = sc_verb_next_option(prog, verb, argc, argv)) >= 0) {
		switch (c) {
		case CLI_OPT_PORT:
			o.port = optarg;
			break;
		case CLI_OPT_DEVICE:
			o.device = optarg;
			break;
		case CLI_OPT_WAIT_PORT:
		case CLI_OPT_MAX_ANSWERS:
		case CLI_OPT_MAX_SECONDS:
			if (sc_verb_parse_number(prog, verb, c, optarg, 0, 86400, &v) < 0)
				return EXIT_USAGE;
			*(c == CLI_OPT_WAIT_PORT     ? &o.wait_port_s
			  : c == CLI_OPT_MAX_ANSWERS ? &o.max_answers
						     : &o.collect.max_seconds) = (unsigned)v;
			bounded |= c == CLI_OPT_MAX_SECONDS;
			break;
		case CLI_OPT_VERIFY_OBJECTS:
			o.collect.verify_objects = true;
			break;
		case CLI_OPT_DEEP:
			o.collect.deep = true;
			break;
		case CLI_OPT_TPM:
			if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "off") != 0)
				return sc_verb_usage_error(prog, verb, "--tpm takes auto or off, not '%s'", optarg);
			o.tpm = strcmp(optarg, "auto") == 0;
			break;
		case CLI_OPT_TPM_TCTI:
			if (!optarg[0])
				return sc_verb_usage_error(prog, verb, "--tpm-tcti needs a TCTI (device:/dev/tpmrm0, ...)");
			o.tpm_tcti = optarg;
			break;
		default:
			(void)cli_path_option(c, optarg, &paths);
			break;
		}
	}
	if ((r = sc_verb_options_done(prog, verb, c, argc, argv)) >= 0)
		return r;
	if ((o.collect.deep || bounded) && !o.collect.verify_objects)
		return sc_verb_usage_error(prog, verb, "--%s needs --verify-objects", o.collect.deep ? "deep" : "max-seconds");
	if (cli_check_paths(&paths) != 0)
		return EXIT_USAGE;
	return cli_agent(&paths, &o);
}

static const struct sc_verb_option options[] = {
	{ CLI_OPT_PORT, "the virtio-serial port's name (" SC_VIRTIO_PORT_DEFAULT ")" },
	{ CLI_OPT_DEVICE, "use this device instead of looking the port up (tests)" },
	{ CLI_OPT_WAIT_PORT, "look for the port this long (60)" },
	{ CLI_OPT_MAX_ANSWERS, "exit after sending N reports (default 0: run forever)" },
	{ CLI_OPT_TPM, "auto (default): after each answer to a nonce, TPM evidence when the "
			"machine has a TPM; off: never" },
	{ CLI_OPT_TPM_TCTI, "the tpm2-tss TCTI to use (default device:/dev/tpmrm0, then "
			     "device:/dev/tpm0; e.g. swtpm:host=127.0.0.1,port=2321)" },
	{ CLI_OPT_VERIFY_OBJECTS, "add checks.objects to each report, as status --verify-objects" },
	{ CLI_OPT_DEEP, "with --verify-objects: read every object too" },
	{ CLI_OPT_MAX_SECONDS, "with --verify-objects: stop each walk after S seconds (default "
			       "120, 0: no limit); a walk cut short is an error, never a pass" },
	{ CLI_OPT_ROOT, "read every system path below DIR (a fixture tree)" },
	{ CLI_OPT_SYSROOT, "where the composefs repository's physical root is (/sysroot)" },
	{},
};

const struct sc_verb cmd_agent = {
	.name = "agent",
	.summary = "attest to the host over a virtio-serial port (the service)",
	.description = "The guest service: push a report when the port opens, then answer the newest\n"
		       "nonce the host sent with a fresh report (docs/protocol.md), followed by TPM\n"
		       "evidence for exactly that report when the machine has a TPM (docs/evidence.md).",
	.exit_status = "0 done (--max-answers), 1 no port, 2 error or usage error.",
	.run = run,
	.options = options,
};
