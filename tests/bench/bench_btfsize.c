// SPDX-License-Identifier: GPL-2.0-only
/* Prints the size of kernel structs from the running kernel's BTF, one
 * "name size" line each (run.sh: per-socket sk_psock memory). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/btf.h>

int main(int argc, char **argv)
{
	struct btf *btf;
	int i, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_btfsize STRUCT...\n");
		return 2;
	}
	btf = btf__load_vmlinux_btf();
	if (!btf) {
		fprintf(stderr, "bench_btfsize: no kernel BTF: %s\n", strerror(errno));
		return 1;
	}
	for (i = 1; i < argc; i++) {
		__s32 id = btf__find_by_name_kind(btf, argv[i], BTF_KIND_STRUCT);
		__s64 sz = id < 0 ? -1 : btf__resolve_size(btf, (__u32)id);

		if (sz < 0) {
			fprintf(stderr, "bench_btfsize: struct %s not found\n", argv[i]);
			rc = 1;
			continue;
		}
		printf("%s %lld\n", argv[i], (long long)sz);
	}
	btf__free(btf);
	return rc;
}
