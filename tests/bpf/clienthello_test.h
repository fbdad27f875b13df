/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Result record of tests/bpf/clienthello_test.bpf.c, read by its loader
 * tests/sock/bpf_hello_check.c: shared here so it is never mirrored. */
#ifndef SNG_CLIENTHELLO_TEST_H
#define SNG_CLIENTHELLO_TEST_H

#include "lib/clienthello.h"

/* Value of the one-element array map sng_cht_out. */
struct sng_cht_out {
	__s32 rc;           /* sng_ch_parse_record() return */
	__s32 copy_rc;      /* sng_ch_copy_sni() return when rc == SNG_OK */
	__u32 skb_len;      /* skb->len the program saw */
	__u32 runs;         /* program invocations */
	struct sng_ch_info info;
	__u8 sni[SNG_HOSTNAME_MAX + 1];
	__u8 pad[2];
};
_Static_assert(sizeof(struct sng_cht_out) == 16 + 32 + 256, "sng_cht_out size");

#endif
