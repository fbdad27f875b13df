// SPDX-License-Identifier: GPL-2.0-only
/* snigate: entry point and subcommand dispatch. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "memtrim.h"
#include "snigate_abi.h"

#ifndef SNIGATE_VERSION
#define SNIGATE_VERSION "0.1.0"
#endif

struct subcmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct subcmd subcmds[] = {
	{ "run", cmd_run, "serve the Gateways of the given manifests (root)" },
	{ "check", cmd_check, "compile manifests and print Kubernetes status" },
	{ "status", cmd_status, "live status of Gateways and TLSRoutes from the running agent" },
	{ "dump", cmd_dump, "print the pinned maps: routes, conns or stats" },
	{ "cleanup", cmd_cleanup, "remove the pinned maps" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: snigate [--version] [--help] <command> [<args>]\n\n"
		   "Kubernetes Gateway API TLS router: SNI routing in BPF maps, passthrough\n"
		   "sockets spliced in-kernel with sockmap, Terminate listeners on OpenSSL.\n\n"
		   "commands:\n");
	for (i = 0; i < sizeof(subcmds) / sizeof(subcmds[0]); i++)
		fprintf(f, "  %-10s %s\n", subcmds[i].name, subcmds[i].help);
	fprintf(f, "\n'snigate <command> --help' describes each command.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	memtrim_init(); /* before any thread: see agent/memtrim.h (B11) */
	if (argc < 2) {
		usage(stderr);
		return EXIT_BADINPUT;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("snigate %s (abi %d)\n", SNIGATE_VERSION, SNG_ABI_VERSION);
		return EXIT_OK;
	}
	for (i = 0; i < sizeof(subcmds) / sizeof(subcmds[0]); i++)
		if (!strcmp(argv[1], subcmds[i].name))
			return subcmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "snigate: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return EXIT_BADINPUT;
}
