// SPDX-License-Identifier: GPL-2.0-only
/* Capability dropping after setup: capset(2)/prctl(2) directly (no libcap),
 * for the calling (only) thread; worker threads inherit the reduced sets. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "log.h"
#include "privs.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif
#define PRIVS_CAP_MAX 63

static const char *const cap_names[] = {
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid",
	"setuid", "setpcap", "linux_immutable", "net_bind_service", "net_broadcast",
	"net_admin", "net_raw", "ipc_lock", "ipc_owner", "sys_module", "sys_rawio",
	"sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
	"sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write",
	"audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
	"block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
};
#define N_CAP_NAMES (int)(sizeof(cap_names) / sizeof(cap_names[0]))

static int cap_by_name(const char *s, size_t n)
{
	int i;

	if (n > 4 && !strncasecmp(s, "cap_", 4)) {
		s += 4;
		n -= 4;
	}
	for (i = 0; i < N_CAP_NAMES; i++)
		if (strlen(cap_names[i]) == n && !strncasecmp(cap_names[i], s, n))
			return i;
	return -1;
}

int privs_parse(const char *list, uint64_t *mask)
{
	const char *p = list, *e;
	int c;

	*mask = 0;
	if (!strcasecmp(list, "none"))
		return 0;
	while (*p) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		for (e = p; *e && *e != ',' && !isspace((unsigned char)*e); e++)
			;
		c = cap_by_name(p, (size_t)(e - p));
		if (c < 0)
			return -EINVAL;
		*mask |= 1ull << c;
		p = e;
	}
	return 0;
}

static int cap_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };

	return syscall(SYS_capget, &h, d) ? -errno : 0;
}

uint64_t privs_effective(void)
{
	struct __user_cap_data_struct d[2] = { 0 };

	if (cap_get(d))
		return 0;
	return (uint64_t)d[1].effective << 32 | d[0].effective;
}

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void mask_names(uint64_t m, char *buf, size_t cap)
{
	size_t o = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i <= PRIVS_CAP_MAX && o < cap; i++)
		if (m & (1ull << i))
			o += (size_t)snprintf(buf + o, cap - o, "%scap_%s", o ? "," : "",
					      i < N_CAP_NAMES ? cap_names[i] : "?");
	if (!buf[0])
		snprintf(buf, cap, "none");
}

int privs_drop(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };
	const char *env = getenv("SNIGATE_CAPS_KEEP");
	uint64_t keep, have;
	char names[512];
	int i, n, err;

	if (env && !strcasecmp(env, "all")) {
		log_warn("SNIGATE_CAPS_KEEP=all: keeping every capability");
		return 0;
	}
	if (privs_parse(env ? env : PRIVS_KEEP_DEFAULT, &keep)) {
		log_err("SNIGATE_CAPS_KEEP='%s': unknown capability name", env);
		return -EINVAL;
	}
	n = count_threads();
	if (n != 1) {
		log_err("dropping capabilities: %d threads (capabilities are per thread; "
			"drop before starting any)", n);
		return -EBUSY;
	}
	err = cap_get(d);
	if (err)
		return err;
	have = (uint64_t)d[1].permitted << 32 | d[0].permitted;
	keep &= have;
	/* The bounding set first: dropping from it needs CAP_SETPCAP, which the
	 * capset below removes. EINVAL = a capability this kernel lacks. */
	for (i = 0; i <= PRIVS_CAP_MAX; i++) {
		if (keep & (1ull << i))
			continue;
		if (prctl(PR_CAPBSET_READ, i, 0, 0, 0) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) && errno != EINVAL) {
			err = -errno;
			log_err("PR_CAPBSET_DROP %d: %s", i, strerror(errno));
			return err;
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return -errno;
	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	d[0].inheritable = d[1].inheritable = 0;
	if (syscall(SYS_capset, &h, d)) {
		err = -errno;
		log_err("capset: %s", strerror(errno));
		return err;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	/* A core dump or ptrace attach would expose Terminate private keys. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (privs_effective() != keep) {
		log_err("capabilities still effective after capset: %#llx",
			(unsigned long long)privs_effective());
		return -EPERM;
	}
	mask_names(keep, names, sizeof(names));
	log_info("capabilities after setup: %s (dropped the rest%s)", names,
		 env ? "; SNIGATE_CAPS_KEEP" : "");
	return 0;
}
