/* SPDX-License-Identifier: GPL-2.0-only */
/* Subcommands of the snigate binary. Each takes argc/argv after the
 * subcommand name (argv[0] is the subcommand) and returns an exit code. */
#ifndef SNIGATE_CMD_H
#define SNIGATE_CMD_H

/* Exit codes shared by every subcommand. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,     /* runtime failure */
	EXIT_BADINPUT = 2, /* malformed manifests or bad usage */
};

int cmd_run(int argc, char **argv);   /* agent/cmd_run.c */
int cmd_check(int argc, char **argv); /* agent/cmd_check.c */
int cmd_dump(int argc, char **argv);  /* agent/cmd_dump.c */
int cmd_cleanup(int argc, char **argv); /* agent/cmd_dump.c */
int cmd_status(int argc, char **argv); /* agent/cmd_status.c */

#endif
