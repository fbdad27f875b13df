// SPDX-License-Identifier: GPL-2.0-only
/* Connection to the API server: kubeconfig (token or client certificate) or
 * the in-cluster service account, libcurl request setup, error messages. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>

#include "k8s_internal.h"
#include "log.h"

#define SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"
#define K8S_FILE_MAX (4 << 20)

int k8s_buf_add(struct k8s_buf *b, const void *d, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

void k8s_buf_free(struct k8s_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Read a whole (small) file. NULL + errno. */
static char *read_file(const char *path, size_t *len)
{
	struct k8s_buf b = { 0 };
	char tmp[4096];
	size_t n;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return NULL;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		if (b.len + n > K8S_FILE_MAX || k8s_buf_add(&b, tmp, n)) {
			fclose(f);
			k8s_buf_free(&b);
			errno = EFBIG;
			return NULL;
		}
	}
	fclose(f);
	if (!b.p && k8s_buf_add(&b, "", 0))
		return NULL;
	if (len)
		*len = b.len;
	return b.p;
}

/* Base64 (standard alphabet, padded, whitespace ignored) to bytes. */
static char *b64_decode(const char *in, size_t *out_len)
{
	size_t n = strlen(in), i, j = 0, pad = 0;
	unsigned char *clean, *out;
	int rc;

	clean = malloc(n + 1);
	if (!clean)
		return NULL;
	for (i = 0; i < n; i++)
		if (in[i] != '\n' && in[i] != '\r' && in[i] != ' ' && in[i] != '\t')
			clean[j++] = in[i];
	clean[j] = 0;
	if (j % 4) {
		free(clean);
		errno = EINVAL;
		return NULL;
	}
	out = malloc(j / 4 * 3 + 1);
	if (!out) {
		free(clean);
		return NULL;
	}
	rc = EVP_DecodeBlock(out, clean, (int)j);
	if (rc < 0) {
		free(clean);
		free(out);
		errno = EINVAL;
		return NULL;
	}
	if (j && clean[j - 1] == '=')
		pad++;
	if (j > 1 && clean[j - 2] == '=')
		pad++;
	free(clean);
	*out_len = (size_t)rc - pad;
	out[*out_len] = 0;
	return (char *)out;
}

static void wipe_free(char *p, size_t n)
{
	if (p)
		OPENSSL_cleanse(p, n);
	free(p);
}

void k8s_conn_free(struct k8s_conn *c)
{
	free(c->server);
	if (c->token)
		wipe_free(c->token, strlen(c->token));
	free(c->token_file);
	free(c->ca_file);
	free(c->ca_data);
	free(c->cert_file);
	free(c->key_file);
	free(c->cert_data);
	wipe_free(c->key_data, c->key_len);
	memset(c, 0, sizeof(*c));
}

/* A path from a kubeconfig, relative to the kubeconfig's directory. */
static char *kc_path(const char *kubeconfig, const char *p)
{
	char *dup, *dir, *out;

	if (p[0] == '/')
		return strdup(p);
	dup = strdup(kubeconfig);
	if (!dup)
		return NULL;
	dir = dirname(dup);
	if (asprintf(&out, "%s/%s", dir, p) < 0)
		out = NULL;
	free(dup);
	return out;
}

/* Find the entry named @name in the kubeconfig list @key ("clusters", ...)
 * and return its @inner object ("cluster", ...). */
static json_t *kc_find(json_t *doc, const char *key, const char *inner, const char *name)
{
	json_t *arr = json_object_get(doc, key), *it;
	size_t i;

	json_array_foreach(arr, i, it) {
		const char *n = json_string_value(json_object_get(it, "name"));

		if (n && !strcmp(n, name))
			return json_object_get(it, inner);
	}
	return NULL;
}

static const char *kc_str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* Fill @c from a file-or-data pair ("certificate-authority" and
 * "certificate-authority-data"). 0 or -errno with a message. */
static int kc_file_or_data(const char *kubeconfig, json_t *o, const char *k,
			   char **file, char **data, size_t *len, char *err, size_t errlen)
{
	char kd[64];
	const char *v;

	snprintf(kd, sizeof(kd), "%s-data", k);
	v = kc_str(o, kd);
	if (v) {
		*data = b64_decode(v, len);
		if (!*data) {
			snprintf(err, errlen, "%s: %s is not valid base64", kubeconfig, kd);
			return -EINVAL;
		}
		return 0;
	}
	v = kc_str(o, k);
	if (v) {
		*file = kc_path(kubeconfig, v);
		if (!*file)
			return -ENOMEM;
		if (access(*file, R_OK)) {
			snprintf(err, errlen, "%s: %s %s: %s", kubeconfig, k, *file, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static int conn_from_kubeconfig(struct k8s_conn *c, const char *path,
				const char *context, char *err, size_t errlen)
{
	json_t *docs, *doc, *ctx, *cluster, *user;
	const char *cname, *cl, *us, *v;
	int rc = -EINVAL;

	docs = k8s_yaml_load_file(path, err, errlen);
	if (!docs)
		return -EINVAL;
	doc = json_array_get(docs, 0);
	if (!json_is_object(doc)) {
		snprintf(err, errlen, "%s: not a kubeconfig (no top-level mapping)", path);
		goto out;
	}
	cname = context ? context : kc_str(doc, "current-context");
	if (!cname || !*cname) {
		snprintf(err, errlen, "%s: no current-context (pass --context)", path);
		goto out;
	}
	ctx = kc_find(doc, "contexts", "context", cname);
	if (!ctx) {
		snprintf(err, errlen, "%s: context \"%s\" not found", path, cname);
		goto out;
	}
	cl = kc_str(ctx, "cluster");
	us = kc_str(ctx, "user");
	cluster = cl ? kc_find(doc, "clusters", "cluster", cl) : NULL;
	if (!cluster) {
		snprintf(err, errlen, "%s: context \"%s\": cluster \"%s\" not found",
			 path, cname, cl ? cl : "");
		goto out;
	}
	v = kc_str(cluster, "server");
	if (!v || strncmp(v, "http", 4)) {
		snprintf(err, errlen, "%s: cluster \"%s\": missing or bad server URL", path, cl);
		goto out;
	}
	c->server = strdup(v);
	if (c->server && c->server[strlen(c->server) - 1] == '/')
		c->server[strlen(c->server) - 1] = 0;
	c->insecure = json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"));
	rc = kc_file_or_data(path, cluster, "certificate-authority", &c->ca_file,
			     &c->ca_data, &c->ca_len, err, errlen);
	if (rc)
		goto out;
	user = us ? kc_find(doc, "users", "user", us) : NULL;
	if (us && !user) {
		snprintf(err, errlen, "%s: context \"%s\": user \"%s\" not found", path, cname, us);
		rc = -EINVAL;
		goto out;
	}
	if (user) {
		if (json_object_get(user, "exec") || json_object_get(user, "auth-provider")) {
			snprintf(err, errlen, "%s: user \"%s\": exec and auth-provider plugins are "
				 "not supported; use a token or a client certificate", path, us);
			rc = -ENOTSUP;
			goto out;
		}
		if ((v = kc_str(user, "token")))
			c->token = strdup(v);
		if ((v = kc_str(user, "tokenFile")))
			c->token_file = kc_path(path, v);
		rc = kc_file_or_data(path, user, "client-certificate", &c->cert_file,
				     &c->cert_data, &c->cert_len, err, errlen);
		if (!rc)
			rc = kc_file_or_data(path, user, "client-key", &c->key_file,
					     &c->key_data, &c->key_len, err, errlen);
		if (rc)
			goto out;
		if (!!(c->cert_file || c->cert_data) != !!(c->key_file || c->key_data)) {
			snprintf(err, errlen, "%s: user \"%s\": client-certificate and client-key "
				 "must be given together", path, us);
			rc = -EINVAL;
			goto out;
		}
	}
	snprintf(c->where, sizeof(c->where), "kubeconfig %s context %s (%s)", path, cname, c->server);
	rc = c->server ? 0 : -ENOMEM;
out:
	json_decref(docs);
	return rc;
}

static int conn_in_cluster(struct k8s_conn *c, const char *sa_dir, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *dir = sa_dir ? sa_dir : SA_DIR_DEFAULT;

	if (!host || !*host || !port || !*port) {
		snprintf(err, errlen, "not running in a cluster: KUBERNETES_SERVICE_HOST/PORT "
			 "unset (use --kubeconfig FILE)");
		return -ENOENT;
	}
	if (asprintf(&c->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		     host, port) < 0 ||
	    asprintf(&c->token_file, "%s/token", dir) < 0 ||
	    asprintf(&c->ca_file, "%s/ca.crt", dir) < 0)
		return -ENOMEM;
	if (access(c->token_file, R_OK) || access(c->ca_file, R_OK)) {
		snprintf(err, errlen, "service account files missing in %s (token, ca.crt): %s",
			 dir, strerror(errno));
		return -ENOENT;
	}
	snprintf(c->where, sizeof(c->where), "in-cluster service account %s (%s)", dir, c->server);
	return 0;
}

int k8s_conn_init(struct k8s_conn *c, const struct k8s_options *o, char *err, size_t errlen)
{
	int rc;

	memset(c, 0, sizeof(*c));
	if (o->kubeconfig) {
		rc = conn_from_kubeconfig(c, o->kubeconfig, o->context, err, errlen);
	} else if (o->server) {
		c->server = strdup(o->server);
		rc = c->server ? 0 : -ENOMEM;
		if (!rc && c->server[strlen(c->server) - 1] == '/')
			c->server[strlen(c->server) - 1] = 0;
		snprintf(c->where, sizeof(c->where), "%s", o->server);
	} else {
		rc = conn_in_cluster(c, o->sa_dir, err, errlen);
	}
	if (rc)
		goto fail;
	if (o->token_file) {
		free(c->token_file);
		c->token_file = strdup(o->token_file);
		if (access(o->token_file, R_OK)) {
			snprintf(err, errlen, "token file %s: %s", o->token_file, strerror(errno));
			rc = -errno;
			goto fail;
		}
	}
	if (o->ca_file) {
		free(c->ca_file);
		free(c->ca_data);
		c->ca_data = NULL;
		c->ca_file = strdup(o->ca_file);
		if (access(o->ca_file, R_OK)) {
			snprintf(err, errlen, "CA file %s: %s", o->ca_file, strerror(errno));
			rc = -errno;
			goto fail;
		}
	}
	if (o->insecure)
		c->insecure = 1;
	return 0;
fail:
	k8s_conn_free(c);
	return rc;
}

int k8s_conn_setup(const struct k8s_conn *c, CURL *e, const char *method,
		   const char *path_query, const char *content_type,
		   struct curl_slist **hdrs)
{
	struct curl_slist *h = NULL;
	char *url = NULL, *auth = NULL, *tok = NULL, *ct = NULL;
	int rc = -ENOMEM;

	if (asprintf(&url, "%s%s", c->server, path_query) < 0)
		return -ENOMEM;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") ? method : NULL);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, *c->user_agent ? c->user_agent : "snigate/1");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->ca_data) {
		struct curl_blob b = { c->ca_data, c->ca_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	}
	if (c->cert_file) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
	}
	if (c->cert_data) {
		struct curl_blob cb = { c->cert_data, c->cert_len, CURL_BLOB_COPY };
		struct curl_blob kb = { c->key_data, c->key_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cb);
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &kb);
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
	/* Projected service account tokens rotate: re-read for each request. */
	if (c->token_file) {
		size_t n;

		tok = read_file(c->token_file, &n);
		if (!tok) {
			log_warn("k8s: cannot read token file %s: %s", c->token_file,
				 strerror(errno));
		} else {
			while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
				tok[--n] = 0;
		}
	}
	if (tok || c->token) {
		if (asprintf(&auth, "Authorization: Bearer %s", tok ? tok : c->token) < 0)
			goto out;
		h = curl_slist_append(h, auth);
	}
	h = curl_slist_append(h, "Accept: application/json");
	if (content_type) {
		if (asprintf(&ct, "Content-Type: %s", content_type) < 0)
			goto out;
		h = curl_slist_append(h, ct);
	}
	if (!h)
		goto out;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	*hdrs = h;
	h = NULL;
	rc = 0;
out:
	curl_slist_free_all(h);
	free(url);
	if (auth)
		wipe_free(auth, strlen(auth));
	if (tok)
		wipe_free(tok, strlen(tok));
	free(ct);
	return rc;
}

static size_t buf_write(char *d, size_t sz, size_t n, void *arg)
{
	return k8s_buf_add(arg, d, sz * n) ? 0 : sz * n;
}

int k8s_request(const struct k8s_conn *c, const char *method, const char *path,
		const char *content_type, const char *body, long timeout_ms,
		long *code, json_t **resp, char *err, size_t errlen)
{
	struct curl_slist *h = NULL;
	struct k8s_buf b = { 0 };
	CURLcode cc;
	CURL *e;
	int rc;

	*code = 0;
	*resp = NULL;
	e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	rc = k8s_conn_setup(c, e, method, path, content_type, &h);
	if (rc)
		goto out;
	if (body)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	cc = curl_easy_perform(e);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s %s: %s", method, path, curl_easy_strerror(cc));
		rc = -EIO;
		goto out;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, code);
	if (b.p)
		*resp = json_loadb(b.p, b.len, 0, NULL);
out:
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	k8s_buf_free(&b);
	return rc;
}

void k8s_describe_error(long code, const json_t *status, char *buf, size_t len)
{
	const char *msg = json_string_value(json_object_get(status, "message"));
	const char *reason = json_string_value(json_object_get(status, "reason"));
	const char *hint = "";

	if (code == 401)
		hint = " (authentication failed: the bearer token or client certificate "
		       "was rejected; check the service account token / kubeconfig user)";
	else if (code == 403)
		hint = " (forbidden: the ClusterRole in deploy/rbac.yaml must grant this)";
	else if (code == 410)
		hint = " (resourceVersion expired)";
	snprintf(buf, len, "HTTP %ld%s%s%s%s%s", code, reason ? " " : "", reason ? reason : "",
		 msg ? ": " : "", msg ? msg : "", hint);
}

void k8s_time_now(char *buf, size_t len, int micro)
{
	struct timespec ts;
	struct tm tm;
	char s[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	if (micro)
		snprintf(buf, len, "%s.%06ldZ", s, ts.tv_nsec / 1000);
	else
		snprintf(buf, len, "%sZ", s);
}
