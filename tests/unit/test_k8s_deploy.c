// SPDX-License-Identifier: GPL-2.0-only
/* Structure of the deploy/ manifests: kinds and required fields, the RBAC
 * rules against the agent's own resource/verb table (both ways), the
 * DaemonSet's host integration, the GatewayClass and the Dockerfile. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s.h"
#include "k8s_api.h"
#include "k8s_internal.h"

static char root[1024];
static json_t *docs; /* every document of the deploy/ YAML files */

static void load_all(void)
{
	static const char *files[] = { "namespace.yaml", "rbac.yaml", "gatewayclass.yaml",
				       "daemonset.yaml", "kustomization.yaml" };
	const char *r = getenv("SNIGATE_ROOT");
	char path[1200], err[1024];
	size_t i;

	snprintf(root, sizeof(root), "%s", r ? r : ".");
	docs = json_array();
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		json_t *d;

		snprintf(path, sizeof(path), "%s/deploy/%s", root, files[i]);
		d = k8s_yaml_load_file(path, err, sizeof(err));
		ck_assert_msg(d, "%s", err);
		json_array_extend(docs, d);
		json_decref(d);
	}
}

static json_t *find(const char *kind, const char *name)
{
	json_t *d;
	size_t i;

	json_array_foreach(docs, i, d) {
		const char *k = json_string_value(json_object_get(d, "kind"));
		const char *n = json_string_value(json_object_get(json_object_get(d, "metadata"),
								  "name"));

		if (k && !strcmp(k, kind) && (!name || (n && !strcmp(n, name))))
			return d;
	}
	return NULL;
}

static const char *str(json_t *o, const char *dotted)
{
	char buf[256], *save, *tok;
	json_t *cur = o;

	snprintf(buf, sizeof(buf), "%s", dotted);
	for (tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
		cur = json_object_get(cur, tok);
	return json_string_value(cur);
}

static json_t *get(json_t *o, const char *dotted)
{
	char buf[256], *save, *tok;
	json_t *cur = o;

	snprintf(buf, sizeof(buf), "%s", dotted);
	for (tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
		cur = json_object_get(cur, tok);
	return cur;
}

static int has_str(json_t *arr, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return 1;
	return 0;
}

START_TEST(kinds_and_required_fields)
{
	static const char *kinds[] = { "Namespace", "ServiceAccount", "ClusterRole",
				       "ClusterRoleBinding", "Role", "RoleBinding",
				       "GatewayClass", "DaemonSet", "Kustomization" };
	json_t *d;
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		ck_assert_msg(find(kinds[i], NULL), "deploy/ has no %s", kinds[i]);
	json_array_foreach(docs, i, d) {
		const char *k = str(d, "kind");

		ck_assert_msg(str(d, "apiVersion"), "document %zu: no apiVersion", i);
		ck_assert_msg(k, "document %zu: no kind", i);
		if (strcmp(k, "Kustomization"))
			ck_assert_msg(str(d, "metadata.name"), "%s: no metadata.name", k);
	}
	/* Namespaced objects live in the agent's namespace. */
	ck_assert_str_eq(str(find("Namespace", NULL), "metadata.name"), K8S_DEFAULT_NAMESPACE);
	ck_assert_str_eq(str(find("ServiceAccount", NULL), "metadata.namespace"),
			 K8S_DEFAULT_NAMESPACE);
	ck_assert_str_eq(str(find("DaemonSet", NULL), "metadata.namespace"), K8S_DEFAULT_NAMESPACE);
	ck_assert_str_eq(str(find("Role", NULL), "metadata.namespace"), K8S_DEFAULT_NAMESPACE);
	/* The kustomization lists every manifest. */
	{
		json_t *res = get(find("Kustomization", NULL), "resources");

		ck_assert(has_str(res, "namespace.yaml") && has_str(res, "rbac.yaml") &&
			  has_str(res, "gatewayclass.yaml") && has_str(res, "daemonset.yaml"));
	}
}
END_TEST

/* Does a rule of @role grant @verb on @group/@resource? */
static int grants(json_t *role, const char *group, const char *resource, const char *verb)
{
	json_t *r;
	size_t i;

	json_array_foreach(json_object_get(role, "rules"), i, r)
		if (has_str(json_object_get(r, "apiGroups"), group) &&
		    has_str(json_object_get(r, "resources"), resource) &&
		    has_str(json_object_get(r, "verbs"), verb))
			return 1;
	return 0;
}

START_TEST(rbac_covers_every_verb_the_agent_uses)
{
	json_t *cr = find("ClusterRole", "snigate"), *role = find("Role", NULL);
	int id;

	ck_assert(cr && role);
	for (id = 0; id < K8S_RES_COUNT; id++) {
		const struct k8s_resource *r = &k8s_resources[id];
		json_t *where = r->mode == K8S_MODE_LEASE ? role : cr;
		char sub[96];
		unsigned v;

		snprintf(sub, sizeof(sub), "%s/status", r->plural);
		for (v = 1; v <= K8S_PATCH; v <<= 1) {
			if (r->verbs & v)
				ck_assert_msg(grants(where, r->group, r->plural, k8s_verb_name(v)),
					      "RBAC misses %s on %s (group \"%s\")",
					      k8s_verb_name(v), r->plural, r->group);
			if (r->status_verbs & v)
				ck_assert_msg(grants(cr, r->group, sub, k8s_verb_name(v)),
					      "RBAC misses %s on %s", k8s_verb_name(v), sub);
		}
	}
}
END_TEST

/* Least privilege: every granted verb is one the table says the agent uses. */
static void check_no_extra(json_t *role, int lease_role)
{
	json_t *r, *g, *res, *vb;
	size_t i, j, k, l;

	json_array_foreach(json_object_get(role, "rules"), i, r) {
		ck_assert_msg(!json_object_get(r, "nonResourceURLs"), "nonResourceURLs granted");
		json_array_foreach(json_object_get(r, "apiGroups"), j, g)
		json_array_foreach(json_object_get(r, "resources"), k, res)
		json_array_foreach(json_object_get(r, "verbs"), l, vb) {
			const char *gs = json_string_value(g), *rs = json_string_value(res);
			const char *vs = json_string_value(vb);
			int id, found = 0;

			ck_assert_msg(strcmp(gs, "*") && strcmp(rs, "*") && strcmp(vs, "*"),
				      "wildcard in RBAC rule %zu", i);
			for (id = 0; id < K8S_RES_COUNT; id++) {
				const struct k8s_resource *t = &k8s_resources[id];
				size_t pl = strlen(t->plural);
				int status = !strncmp(rs, t->plural, pl) && !strcmp(rs + pl, "/status");
				unsigned v;

				if (strcmp(gs, t->group) || (strcmp(rs, t->plural) && !status))
					continue;
				if ((t->mode == K8S_MODE_LEASE) != lease_role)
					continue;
				for (v = 1; v <= K8S_PATCH; v <<= 1)
					if (!strcmp(vs, k8s_verb_name(v)) &&
					    k8s_verb_allowed(id, status, v))
						found = 1;
			}
			ck_assert_msg(found, "RBAC grants %s on %s/%s, which the agent never uses",
				      vs, gs, rs);
		}
	}
}

START_TEST(rbac_is_least_privilege)
{
	json_t *cr = find("ClusterRole", "snigate"), *role = find("Role", NULL), *r;
	size_t i;

	check_no_extra(cr, 0);
	check_no_extra(role, 1);
	ck_assert(!grants(cr, "", "secrets", "list") && !grants(cr, "", "secrets", "watch"));
	/* get/update of the Lease are limited to its name. */
	json_array_foreach(json_object_get(role, "rules"), i, r) {
		json_t *vb = json_object_get(r, "verbs");

		if (has_str(vb, "get") || has_str(vb, "update"))
			ck_assert(has_str(json_object_get(r, "resourceNames"), K8S_DEFAULT_LEASE));
	}
}
END_TEST

START_TEST(bindings_bind_the_daemonset_account)
{
	json_t *ds = find("DaemonSet", NULL);
	const char *sa = str(ds, "spec.template.spec.serviceAccountName");
	static const char *b[][2] = { { "ClusterRoleBinding", "ClusterRole" },
				      { "RoleBinding", "Role" } };
	size_t i;

	ck_assert(sa);
	ck_assert_str_eq(str(find("ServiceAccount", NULL), "metadata.name"), sa);
	for (i = 0; i < 2; i++) {
		json_t *rb = find(b[i][0], NULL), *s = json_array_get(get(rb, "subjects"), 0);

		ck_assert_msg(rb, "no %s", b[i][0]);
		ck_assert_str_eq(str(rb, "roleRef.kind"), b[i][1]);
		ck_assert_str_eq(str(rb, "roleRef.apiGroup"), "rbac.authorization.k8s.io");
		ck_assert(find(b[i][1], str(rb, "roleRef.name")));
		ck_assert_str_eq(str(s, "kind"), "ServiceAccount");
		ck_assert_str_eq(str(s, "name"), sa);
		ck_assert_str_eq(str(s, "namespace"), K8S_DEFAULT_NAMESPACE);
	}
}
END_TEST

START_TEST(daemonset_host_integration)
{
	json_t *ds = find("DaemonSet", NULL), *pod = get(ds, "spec.template.spec");
	json_t *c = json_array_get(json_object_get(pod, "containers"), 0), *v, *args, *caps;
	const char *probes[] = { "readinessProbe", "livenessProbe" };
	int bpffs = 0, cgroup = 0, run = 0;
	size_t i;

	ck_assert_str_eq(str(ds, "apiVersion"), "apps/v1");
	ck_assert(json_is_true(json_object_get(pod, "hostNetwork")));
	ck_assert_str_eq(str(pod, "dnsPolicy"), "ClusterFirstWithHostNet");
	/* Selector matches the template's labels. */
	ck_assert(json_object_size(get(ds, "spec.selector.matchLabels")) > 0);
	ck_assert(json_equal(get(ds, "spec.selector.matchLabels"),
			     get(ds, "spec.template.metadata.labels")));
	/* Rolling update with surge: the new agent takes the sockets over. */
	ck_assert_str_eq(str(ds, "spec.updateStrategy.type"), "RollingUpdate");
	ck_assert_int_eq(json_integer_value(get(ds, "spec.updateStrategy.rollingUpdate.maxUnavailable")), 0);
	ck_assert_int_eq(json_integer_value(get(ds, "spec.updateStrategy.rollingUpdate.maxSurge")), 1);
	/* The old pod goes only after the new one has been Ready a while. */
	ck_assert_int_ge(json_integer_value(get(ds, "spec.minReadySeconds")), 5);
	args = json_object_get(c, "args");
	ck_assert(has_str(args, "run") && has_str(args, "--kubernetes"));
	/* A fresh node has no agent to take over from (auto); a taken-over
	 * agent must not exit (its container would restart and take over
	 * back): --linger. Plain --takeover would fail on a fresh node. */
	ck_assert(has_str(args, "--takeover=auto") && has_str(args, "--linger"));
	ck_assert(!has_str(args, "--takeover") && !has_str(args, "-f"));
	ck_assert(has_str(args, "--metrics") && has_str(args, "0.0.0.0:9464"));
	for (i = 0; i < 2; i++) {
		json_t *p = json_object_get(c, probes[i]);

		ck_assert_msg(p, "no %s", probes[i]);
		ck_assert_int_eq(json_integer_value(get(p, "httpGet.port")), 9464);
		ck_assert(str(p, "httpGet.path"));
	}
	/* Readiness must mean "this agent serves" (/readyz: 503 in an agent
	 * being taken over), not "something answers on the shared port". */
	ck_assert_str_eq(str(json_object_get(c, "readinessProbe"), "httpGet.path"), "/readyz");
	ck_assert_str_eq(str(json_object_get(c, "livenessProbe"), "httpGet.path"), "/healthz");
	/* Capabilities: minimal set, not privileged. */
	caps = get(c, "securityContext.capabilities.add");
	ck_assert(json_is_false(get(c, "securityContext.privileged")));
	ck_assert(has_str(get(c, "securityContext.capabilities.drop"), "ALL"));
	ck_assert(has_str(caps, "BPF") && has_str(caps, "NET_ADMIN") && has_str(caps, "PERFMON") &&
		  has_str(caps, "NET_BIND_SERVICE"));
	ck_assert(!has_str(caps, "SYS_ADMIN"));
	/* Host mounts: bpffs (pins), cgroup (attach), /run/snigate (takeover). */
	json_array_foreach(json_object_get(pod, "volumes"), i, v) {
		const char *p = str(v, "hostPath.path");

		bpffs |= p && !strcmp(p, "/sys/fs/bpf");
		cgroup |= p && !strcmp(p, "/sys/fs/cgroup");
		run |= p && !strcmp(p, "/run/snigate");
	}
	ck_assert(bpffs && cgroup && run);
	/* ... mounted where the agent looks: the default pin directory's
	 * bpffs and the default hand-over/control socket directory, so the
	 * new pod reaches the old pod's hand-over socket. */
	bpffs = run = 0;
	json_array_foreach(json_object_get(c, "volumeMounts"), i, v) {
		const char *mp = str(v, "mountPath"), *name = str(v, "name");
		json_t *vol;
		size_t k;

		ck_assert_msg(mp && name, "volumeMount %zu incomplete", i);
		json_array_foreach(json_object_get(pod, "volumes"), k, vol) {
			const char *hp = str(vol, "hostPath.path"), *vn = str(vol, "name");

			if (!hp || !vn || strcmp(vn, name))
				continue;
			bpffs |= !strcmp(hp, "/sys/fs/bpf") && !strcmp(mp, "/sys/fs/bpf");
			run |= !strcmp(hp, "/run/snigate") && !strcmp(mp, "/run/snigate");
		}
	}
	ck_assert_msg(bpffs && run, "bpffs or /run/snigate not mounted at the same path");
	/* Identity for the Lease and the namespace it lives in. */
	{
		int node = 0, pod_name = 0, pod_ns = 0;

		json_array_foreach(json_object_get(c, "env"), i, v) {
			const char *n = str(v, "name"), *f = str(v, "valueFrom.fieldRef.fieldPath");

			node |= n && f && !strcmp(n, "NODE_NAME") && !strcmp(f, "spec.nodeName");
			pod_name |= n && f && !strcmp(n, "POD_NAME") && !strcmp(f, "metadata.name");
			pod_ns |= n && f && !strcmp(n, "POD_NAMESPACE") &&
				  !strcmp(f, "metadata.namespace");
		}
		ck_assert(node && pod_name && pod_ns);
	}
}
END_TEST

START_TEST(gatewayclass_and_dockerfile)
{
	char path[1200], line[512];
	int from = 0, debian = 0, copy_from = 0;
	FILE *f;

	ck_assert_str_eq(str(find("GatewayClass", NULL), "spec.controllerName"),
			 POLICY_DEFAULT_CONTROLLER);
	snprintf(path, sizeof(path), "%s/deploy/Dockerfile", root);
	f = fopen(path, "r");
	ck_assert_msg(f, "no deploy/Dockerfile");
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "FROM ", 5)) {
			from++;
			debian += !strncmp(line, "FROM debian:", 12);
		}
		copy_from |= !strncmp(line, "COPY --from=", 12);
	}
	fclose(f);
	ck_assert_msg(from >= 2 && debian == from && copy_from,
		      "Dockerfile: want a multi-stage Debian build (%d FROM, %d debian)", from, debian);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("k8s_deploy");
	TCase *tc = tcase_create("manifests");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, load_all, NULL);
	tcase_add_test(tc, kinds_and_required_fields);
	tcase_add_test(tc, rbac_covers_every_verb_the_agent_uses);
	tcase_add_test(tc, rbac_is_least_privilege);
	tcase_add_test(tc, bindings_bind_the_daemonset_account);
	tcase_add_test(tc, daemonset_host_integration);
	tcase_add_test(tc, gatewayclass_and_dockerfile);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
