// SPDX-License-Identifier: GPL-2.0-only
/* libFuzzer target of the policy compiler: arbitrary bytes as a YAML or JSON
 * manifest file (first byte picks), then compile, lookups and YAML output.
 * Any crash, leak or sanitizer report is a bug: bad input must be an error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const snis[] = { "foo.example.com", "a.b.example.com", "example.com",
					    "x" };
	struct policy_input *in;
	struct policy_compiled *pc;
	struct policy_error err;
	const char *name;
	size_t i, b;
	FILE *f;

	if (size < 1 || size > (1u << 20))
		return 0;
	name = data[0] & 1 ? "fuzz.json" : "fuzz.yaml";
	in = policy_input_new();
	if (!in)
		return 0;
	if (policy_input_add_buffer(in, name, (const char *)data + 1, size - 1, &err) == 0) {
		pc = policy_compile(in, NULL);
		if (pc) {
			for (b = 0; b < pc->n_binds; b++)
				for (i = 0; i < sizeof(snis) / sizeof(snis[0]); i++)
					(void)policy_lookup(pc, pc->binds[b].id, snis[i]);
			f = fopen("/dev/null", "w");
			if (f) {
				policy_write_yaml(f, pc->status);
				fclose(f);
			}
			policy_compiled_free(pc);
		}
	} else if (!err.msg[0]) {
		abort(); /* every failure must say why */
	}
	policy_input_free(in);
	return 0;
}
