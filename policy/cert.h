/* SPDX-License-Identifier: GPL-2.0-only */
/* Certificate and CA handling of the policy compiler (parse and validate
 * with OpenSSL, never any I/O besides memory BIOs). */
#ifndef SNIGATE_POLICY_CERT_H
#define SNIGATE_POLICY_CERT_H

#include "internal.h"

/* Decode standard or URL-safe base64 @s (whitespace ignored) into a malloc'ed
 * NUL-terminated buffer, length in *out_len. NULL + errno on bad input. */
char *cert_b64_decode(const char *s, size_t *out_len);

/* Build @out from a kubernetes.io/tls Secret object: tls.crt chain, tls.key,
 * leaf DNS SANs; checks that both parse and that the key matches the leaf.
 * @ref ("ns/name") is copied into out->ref. Returns 0, 1 when the Secret is
 * unusable (a reason without key material written to @why), or -ENOMEM.
 * On non-zero returns @out is left empty. */
int cert_from_secret(json_t *secret, const char *ref, struct policy_cert *out, char *why,
		     size_t cap);
/* Free the buffers of @c (wiping the key) and zero it; accepts NULL. */
void cert_clear(struct policy_cert *c);

/* Append ConfigMap @configmap's ca.crt (checked to hold at least one PEM
 * certificate) to the malloc'ed bundle *bundle of *len bytes. Returns 0, 1
 * with @why on a bad ConfigMap, or -ENOMEM. */
int cert_ca_bundle(json_t *configmap, char **bundle, size_t *len, char *why, size_t cap);

#endif
