// SPDX-License-Identifier: GPL-2.0-only
/* Print the documents of YAML files as one JSON array (with libyaml, the
 * loader the agent uses for kubeconfig): the stand-in reads deploy/rbac.yaml so. */
#include <stdio.h>
#include <stdlib.h>

#include "k8s_internal.h"

int main(int argc, char **argv)
{
	json_t *all = json_array();
	char err[1024];
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: k8s_yaml2json FILE.yaml...\n");
		return 2;
	}
	for (i = 1; i < argc; i++) {
		json_t *docs = k8s_yaml_load_file(argv[i], err, sizeof(err));

		if (!docs) {
			fprintf(stderr, "k8s_yaml2json: %s\n", err);
			return 2;
		}
		json_array_extend(all, docs);
		json_decref(docs);
	}
	json_dumpf(all, stdout, JSON_INDENT(1));
	putchar('\n');
	json_decref(all);
	return 0;
}
