/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * OpenSSL objects as owned resources: _cleanup_(TYPE_freep) for each type
 * the probe and agent hold (systemd's DEFINE_TRIVIAL_CLEANUP_FUNC, once).
 */
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#define SC_DEFINE_OPENSSL_CLEANUP(type, free_fn)        \
	static inline void type##_freep(type **p)       \
	{                                               \
		if (*p)                                 \
			free_fn(*p);                    \
	}

SC_DEFINE_OPENSSL_CLEANUP(BIGNUM, BN_free)
SC_DEFINE_OPENSSL_CLEANUP(BIO, BIO_free)
SC_DEFINE_OPENSSL_CLEANUP(ECDSA_SIG, ECDSA_SIG_free)
SC_DEFINE_OPENSSL_CLEANUP(EVP_CIPHER_CTX, EVP_CIPHER_CTX_free)
SC_DEFINE_OPENSSL_CLEANUP(EVP_MD_CTX, EVP_MD_CTX_free)
SC_DEFINE_OPENSSL_CLEANUP(EVP_PKEY, EVP_PKEY_free)
SC_DEFINE_OPENSSL_CLEANUP(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
SC_DEFINE_OPENSSL_CLEANUP(OSSL_PARAM, OSSL_PARAM_free)
SC_DEFINE_OPENSSL_CLEANUP(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free)
SC_DEFINE_OPENSSL_CLEANUP(X509, X509_free)
SC_DEFINE_OPENSSL_CLEANUP(X509_STORE, X509_STORE_free)
SC_DEFINE_OPENSSL_CLEANUP(X509_STORE_CTX, X509_STORE_CTX_free)
