// SPDX-License-Identifier: GPL-2.0-only
/* Outcome and engine names: one table indexed by -reason (designated
 * initialisers, so the order cannot drift; test_reasons checks all named). */
#include "reasons.h"

static const char *const reason_names[SNG_R__COUNT] = {
	[0] = "routed",
	[-SNG_R_HELLO_TRUNCATED] = "hello_truncated",
	[-SNG_R_NOT_TLS] = "not_tls",
	[-SNG_R_BAD_VERSION] = "bad_version",
	[-SNG_R_NOT_HELLO] = "not_hello",
	[-SNG_R_MALFORMED] = "malformed",
	[-SNG_R_TOO_BIG] = "too_big",
	[-SNG_R_NO_SNI] = "no_sni",
	[-SNG_R_BAD_SNI] = "bad_sni",
	[-SNG_R_HELLO_TIMEOUT] = "hello_timeout",
	[-SNG_R_NO_LISTENER] = "no_listener",
	[-SNG_R_NO_ROUTE] = "no_route",
	[-SNG_R_NO_BACKEND] = "no_backend",
	[-SNG_R_INVALID_BACKEND] = "invalid_backend",
	[-SNG_R_NO_ENDPOINT] = "no_endpoint",
	[-SNG_R_CONNECT_FAIL] = "connect_fail",
	[-SNG_R_CLIENT_CLOSED] = "client_closed",
	[-SNG_R_IDLE_TIMEOUT] = "idle_timeout",
	[-SNG_R_HANDSHAKE_FAIL] = "handshake_fail",
	[-SNG_R_RESET] = "reset",
	[-SNG_R_REDIRECT_FAIL] = "redirect_fail",
	[-SNG_R_OVERLOAD] = "overload",
	[-SNG_R_SEVERAL_SNI] = "several_sni",
};

/* The last named code must be the last code: appending to enum sng_reason
 * fails here until the new code gets its name above. */
_Static_assert(-SNG_R_SEVERAL_SNI == SNG_R__COUNT - 1, "reason_names: name every enum sng_reason");

const char *reason_name_idx(unsigned idx)
{
	if (idx >= SNG_R__COUNT)
		return (const char *)0;
	return reason_names[idx] ? reason_names[idx] : "unknown";
}

const char *reason_name(int reason)
{
	if (reason > 0 || reason <= -SNG_R__COUNT)
		return "unknown";
	return reason_name_idx((unsigned)-reason);
}

const char *engine_name(int engine)
{
	switch (engine) {
	case SNG_ENGINE_AUTO: return "auto";
	case SNG_ENGINE_SOCKMAP: return "sockmap";
	case SNG_ENGINE_USERSPACE: return "userspace";
	default: return "unknown";
	}
}
