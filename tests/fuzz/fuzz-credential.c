/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Credential activation's outside data (common/sc-evidence.h, host-probe/verify/probe-credential.h). The
 * first byte picks the parser, the rest is its input:
 *   0  the agent's parse of the host's challenge frame (sc_credential_challenge_parse)
 *   1  the host's handling of the agent's EK document: parse, EK public area, EK certificate chain
 *      to a fixed CA (a swtpm local CA, below), and the challenge made from it
 *   2  the host's check of the agent's answer to a pending challenge
 *   3  an EK certificate (DER) against the CA and a fixed EK public area
 * Corpus: tests/fuzz/corpus/credential (a real swtpm's EK document and certificate, a challenge, an answer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sc-base64.h"
#include "probe-credential.h"
#include "probe-evidence.h"
#include "sc-evidence.h"
#include "sc-json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The root and issuer of the swtpm local CA that certified the corpus's EK certificate. */
static const char ca_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIEEDCCAnigAwIBAgIUJ0gsmrNBr/eP5X7rM/zbXeT4GQAwDQYJKoZIhvcNAQEL\n"
	"BQAwHzEdMBsGA1UEAxMUc3d0cG0tbG9jYWxjYS1yb290Y2EwIBcNMjYxMjAxMTIx\n"
	"OTQ1WhgPOTk5OTEyMzEyMzU5NTlaMB8xHTAbBgNVBAMTFHN3dHBtLWxvY2FsY2Et\n"
	"cm9vdGNhMIIBojANBgkqhkiG9w0BAQEFAAOCAY8AMIIBigKCAYEAyHMTE36JCWpk\n"
	"1Xz1XsHDyG6inLMSpC4tANG0+2LqPxVC+Vttue/u6qWRYXnQMA6aCmt/N/HVx1Pc\n"
	"x3UWui9mBWYlu/bgCy3oGoOtsg3lK8rrhu77UdiFaicGXJldl8UhDV0ZWFs4b6Iw\n"
	"2sbVsCpx4VF2CAxapom9xrtuTaE5S8tn6TDbfSoafVUNR2QqFzLaBxtk7KR24lrF\n"
	"0SrWJSUO9EYJmfz5E4fe7J4cCVtnYZhjW66N6zZMZ8fWzUw1OcaU0RU/KpDDlEfq\n"
	"mIlNvLUZKwgvcOviyZ6FXhbNk1yM1wM4sD50jLtK8KD+5XTT+NKm7FTWcTk3z4Ut\n"
	"62xivuAn1HEta+49MRcg4qqTxZrodHJXDEDdtHwlD+TDXD/WrNWLqpitSpZF2I3x\n"
	"o3/XyVR2DsiqPnVnFWzPyqiZLMEzQjKzOszoi0a47Aru9e7H5lJQDOgjAt0EWkkC\n"
	"gaaYrHJp4IWR2nbUIfengfJtSt0J+sAvhRZWcWwVaZkgdpREF2zdAgMBAAGjQjBA\n"
	"MA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgIEMB0GA1UdDgQWBBSIVgZ6\n"
	"ljaR900jrpiDnOLyETbofjANBgkqhkiG9w0BAQsFAAOCAYEAS7tGBrJUufp9nrat\n"
	"esS8wuWgS9iRZFyq338LUCYtAYwVgcB1ciqW64nUrFQCGFEW8j8yZA2JL8daaiPp\n"
	"YDVHTxhIB2gXN8VL3U4f27aodIyecd65yNF3eY33qdn+onA4EO7fFUggjqQ/DN9P\n"
	"zPuhdZ8H1DmsAQzx8oaEHeGdCa38LQgCHp1eBfFGcIzG9AHGPLZw7nlrVb8oLNxa\n"
	"gWdllI9IPhFRlTT6qpSF85NXVjygmOMhzirlz1BSiDlNOEuKlliUd1qF1YChTveg\n"
	"4BiB+NyNSjq6nV4zl4uq+f2N+RgQZw6LWM0dA6khMW0/iDxpPNNs+v7ZUnBeMOeB\n"
	"LC2VHIkIdtE2NRxcY1rvOX4HQGEZZ5hRZE/4KWZv8GVim0ga396v5fTezXb7b+p5\n"
	"z4EWohiLkeE8067Ligl8GdU0RlRqnwn2Hz4cSPHY9vfUVI7Gm24G9SnZLkidul7n\n"
	"5HJgVUPu2ALU5tWERe+LYbjcoUpmHn8Os6geM0wUo3lIGMKF\n"
	"-----END CERTIFICATE-----\n"
	"-----BEGIN CERTIFICATE-----\n"
	"MIIEKjCCApKgAwIBAgIUBXdTqAObpBlCZcB3o548BNcqOJIwDQYJKoZIhvcNAQEL\n"
	"BQAwHzEdMBsGA1UEAxMUc3d0cG0tbG9jYWxjYS1yb290Y2EwIBcNMjYxMjAxMTIx\n"
	"OTQ1WhgPOTk5OTEyMzEyMzU5NTlaMBgxFjAUBgNVBAMTDXN3dHBtLWxvY2FsY2Ew\n"
	"ggGiMA0GCSqGSIb3DQEBAQUAA4IBjwAwggGKAoIBgQC1tpngKO8sY80IxqZg+eXR\n"
	"WElZoKGGrCnocdZXiEuFnS73YfhpFU6FhA4SwtxG380HIEjLUeH9K3yUtImQpdcR\n"
	"Nn8+ldjzVWhStw+P66e3XpkCnICS1qKHS8AhLytrL6IEaOBU7IaeeFRluBlWf7VR\n"
	"K8HlXeaIyK8JQdf+qseWQpaNbTIHY2oTNegdDp9VYbr7VQO/CzrD2ALxUO/ZTa4M\n"
	"/xkEDkdGKmF49rrbWb8HKY4/I3lS++g55dWHbu/Ew3PHS8pWWppXde4XssSOVZqE\n"
	"jcUVeEZt0TL0KLZ1uWo0NTXNXjYra+Alr9sIPBS08YXtM6G9P/w+CHVgRWvZNfxS\n"
	"UV2G+gWdJ1qjrtRhIg4I81NA8tD4Sc03NYIT4the1V0M+h/4nAQwMzKtHTri7zp8\n"
	"a7S+hkPL+QtdECLKxyuT/wV54iN50Ir+hR7MUT6pvJdV0G0TZufr5uVYpKWlMqT7\n"
	"GzVEQeDd6iANuOM8b1dutDggMJVnoLTMdarD+8zgJykCAwEAAaNjMGEwDwYDVR0T\n"
	"AQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAgQwHQYDVR0OBBYEFMMBzaP3lDPT95JG\n"
	"pAlf1Q4T7JibMB8GA1UdIwQYMBaAFIhWBnqWNpH3TSOumIOc4vIRNuh+MA0GCSqG\n"
	"SIb3DQEBCwUAA4IBgQAUZ//6ypG+DKEIHtr200yo/FNbzcZWg6V4vAQBkgsNx/VT\n"
	"cSvvJqxKT1ziPvMFzVjrSwEYCM4prHM9nSAt+BdlUqqqR4t24GVeLV9aR+GduIip\n"
	"TAnjNilfrj2IlMeP+rLl6/26iC6oCnvuiTpGvma06tqTrVblt94Bmq2kwadnFUen\n"
	"VQOPzE49LAe6EtD67PzU8I+3ei9Wy379dAyDoaXryfZWGAcYJTm3dFMUsjiY4ilI\n"
	"QdBYZOuVDptJi3a7Z+/dkyP/a5gpmRAlIJN9iX3t/YzctRqD2tc3lmB5ZjbCcFB1\n"
	"sULc8Gc/K0o/BUefzyNvCo6JEa6+Zoiz6f0E8oh18an72Vwh+iMKAswLMBG3On88\n"
	"1oljTbxYLQ4phqW8VS+iwBXI0B55DcyfKS0feAex8xb7wsKcG+wms2K+lT82YBsi\n"
	"KCjsbkMHkd0xKvpD+vF3XdwLQJiTkeWJVICUMxt+neZP0uKgXA+oE9ndU08tKBDK\n"
	"zd+KFTm6WfkGuH/gGWk=\n"
	"-----END CERTIFICATE-----\n";

/* The AK of tests/fixtures/evidence (a real guest's: template of sc-evidence.h). */
static const char ak_public[] = "ARgAAQALAAUAcgAAABAAFAALCAAAAAAAAQDdx6J24+5wLMuh7Y9sZYdQgs8fJmkhlRUYLMKKb+l5xwXvdgWmk11/4gcQa/RLG4cmdpzFuMNRZoy/XxNa2wlMjb3R/LETnywWbiDMRoVnKH/EpnNAIizefbEm67vknc2/sIZx5esOg24kaO1KN6T4YOxIvzDMBuLF9qhwH51WybI3wGof33ntfagn5IP0vUhP8Z52123cY6hSWGMwL/pSND6+llJe4czKmw9VPsZTsJZM9UhcolGpQIv3tjg8AaSo22bE46RYONVk+nbnM0P4zKxL6aycNVb6rXiISxtAzQLKXAeilhXDp1vJsR3QtoUV2E5PuKj9RYaB3cvwDlhJ";
static const char nonce[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static char path[64];

static const char *ca_file(void)
{
	if (!path[0]) {
		int fd;
		FILE *f;

		snprintf(path, sizeof(path), "/tmp/sealcheck-fuzz-ca-XXXXXX");
		fd = mkstemp(path);
		if (fd < 0 || !(f = fdopen(fd, "w")))
			abort();
		fputs(ca_pem, f);
		fclose(f);
	}
	return path;
}

static void cleanup(void) __attribute__((destructor));
static void cleanup(void)
{
	if (path[0])
		(void)unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_credential_config cfg = { .ek_ca_file = ca_file() };
	struct probe_credential_state st;
	char *text = NULL;
	size_t len = 0;

	if (size < 1 || size > 64 * 1024)
		return 0;
	switch (data[0]) {
	case 0: {
		struct sc_credential_challenge c;

		(void)sc_credential_challenge_parse(data + 1, size - 1, &c);
		break;
	}
	case 1: {
		json_t *ev = json_pack("{s:s}", "ak_public", ak_public);

		if (!ev)
			abort();
		if (probe_credential_challenge(&cfg, nonce, ev, data + 1, size - 1, &st, &text, &len) == 0) {
			struct sc_credential_challenge c;

			/* What the host sends, the agent parses. */
			if (sc_credential_challenge_parse(text, len, &c) < 0)
				abort();
		}
		free(text);
		json_decref(ev);
		break;
	}
	case 2:
		memset(&st, 0, sizeof(st));
		st.status = PROBE_CRED_PENDING;
		memset(st.answer, 0x5a, sizeof(st.answer));
		(void)probe_credential_check_answer(&st, nonce, data + 1, size - 1);
		break;
	case 3: {
		struct probe_tpm_public ek;
		uint8_t *raw = NULL;
		size_t raw_len = 0;
		char why[300];

		/* The fixed EK: the AK's public area stands in for any RSA key (the key check comes first). */
		if (sc_base64_decode(ak_public, 1024, &raw, &raw_len) < 0 ||
		    probe_tpm2b_public_parse(raw, raw_len, &ek, why, sizeof(why)) < 0)
			abort();
		free(raw);
		(void)probe_ek_cert_check(data + 1, size - 1, ca_file(), &ek, (data[0] & 1) ? "vm:0b6b7b6e-1111-2222-3333-444455556666" : NULL,
					  why, sizeof(why), why, sizeof(why));
		break;
	}
	default:
		break;
	}
	return 0;
}
