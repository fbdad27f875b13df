#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Kubernetes API server STAND-IN for snigate's tests (no API server can run
# here): list/watch/get/patch/Lease in the real wire format, scripted events.
"""A faithful stand-in for the parts of kube-apiserver snigate talks to.

Wire format as the real server: lists are `<Kind>List` objects with
metadata.resourceVersion (items of built-in kinds carry no apiVersion/kind),
`limit`/`continue` pagination; watches are chunked HTTP/1.1 streams of
`{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}\n` lines,
BOOKMARK events when allowWatchBookmarks=true, an ERROR event with a 410
Expired Status (or an HTTP 410, selectable) for compacted resourceVersions;
401/403 Status bodies for bad or forbidden tokens; Status 404 for unserved
versions. The /status subresource takes JSON merge patches (RFC 7386) with
an optional metadata.resourceVersion precondition (409 on mismatch);
coordination.k8s.io/v1 Leases support get/create/update with optimistic
concurrency. Optional RBAC enforcement from ClusterRole/Role JSON.

Control endpoints (no auth), all JSON:
  POST /_standin/apply       body: object       -> ADDED or MODIFIED event
                             (a JSON array: a burst, applied back to back)
  POST /_standin/delete      body: {kind, namespace?, name} -> DELETED event
  POST /_standin/expire?mode=event|http
        compact history: every resourceVersion handed out so far becomes too old;
        open watches get an ERROR 410 event (mode=event) or are closed and
        the reconnect gets HTTP 410 (mode=http).
  POST /_standin/inject?plural=P  body: raw bytes written into open watches
                             of P (fault injection: malformed events)
  POST /_standin/expire_continue   the next list continue token is too old
                             (410, as after a compaction between pages)
  GET  /_standin/patches     every PATCH received (status write-back)
  GET  /_standin/requests    every API request (method, path, code, user)
  GET  /_standin/events      every event: rv, type, kind, key, sent (time
                             just before it was first written to a watch stream)
  GET  /_standin/dump        every stored object as a kind: List
  GET  /_standin/health
"""
import argparse
import base64
import copy
import json
import os
import queue
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GW = "gateway.networking.k8s.io"
# plural -> (group, kind, namespaced, served versions)
RESOURCES = {
    "gatewayclasses": (GW, "GatewayClass", False, ["v1", "v1beta1"]),
    "gateways": (GW, "Gateway", True, ["v1", "v1beta1"]),
    "tlsroutes": (GW, "TLSRoute", True, ["v1"]),
    "referencegrants": (GW, "ReferenceGrant", True, ["v1", "v1beta1"]),
    "backendtlspolicies": (GW, "BackendTLSPolicy", True, ["v1"]),
    "services": ("", "Service", True, ["v1"]),
    "namespaces": ("", "Namespace", False, ["v1"]),
    "secrets": ("", "Secret", True, ["v1"]),
    "configmaps": ("", "ConfigMap", True, ["v1"]),
    "endpointslices": ("discovery.k8s.io", "EndpointSlice", True, ["v1"]),
    "leases": ("coordination.k8s.io", "Lease", True, ["v1"]),
}
KIND_TO_PLURAL = {v[1]: k for k, v in RESOURCES.items()}
VERB_OF = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
           "DELETE": "delete"}


def status_obj(code, reason, message, details=None):
    o = {"kind": "Status", "apiVersion": "v1", "metadata": {},
         "status": "Failure", "message": message, "reason": reason,
         "code": code}
    if details:
        o["details"] = details
    return o


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


class Watcher:
    def __init__(self, plural, ns):
        self.plural = plural
        self.ns = ns
        self.q = queue.Queue()


class State:
    def __init__(self, args):
        self.lock = threading.RLock()
        self.rv = 1000
        self.floor = 0          # resourceVersions below this are compacted
        self.store = {p: {} for p in RESOURCES}
        self.history = []       # (rv, plural, type, obj)
        self.watchers = []
        self.patches = []
        self.requests = []
        self.events = []        # dicts, index aligned with history
        self.expire_mode = "event"
        self.expire_continue = False
        self.tokens = {}        # token -> user
        self.forbidden = set()
        self.rbac = None
        self.bookmark_s = args.bookmark_interval
        for t in args.token or []:
            user, _, tok = t.partition("=")
            self.tokens[tok] = user
        for t in args.forbidden_token or []:
            self.forbidden.add(t)
        if args.tlsroute_versions:
            g, k, n, _ = RESOURCES["tlsroutes"]
            RESOURCES["tlsroutes"] = (g, k, n, args.tlsroute_versions.split(","))
        if args.rbac:
            self.rbac = self.load_rbac(args.rbac)
        if args.fixtures:
            self.load_fixtures(args.fixtures)

    # ---- RBAC (ClusterRole / Role rules, as the authorizer applies them) ----
    @staticmethod
    def load_rbac(path):
        with open(path) as f:
            docs = json.load(f)
        roles = {}
        bindings = []
        for d in docs if isinstance(docs, list) else [docs]:
            if not isinstance(d, dict):
                continue
            k = d.get("kind")
            md = d.get("metadata", {})
            if k in ("ClusterRole", "Role"):
                roles[(k, md.get("namespace"), md.get("name"))] = d.get("rules", [])
            elif k in ("ClusterRoleBinding", "RoleBinding"):
                bindings.append(d)
        grants = []  # (namespace or None, rules, subjects)
        for b in bindings:
            ref = b.get("roleRef", {})
            ns = b.get("metadata", {}).get("namespace")
            rk = ref.get("kind")
            rules = roles.get((rk, ns if rk == "Role" else None, ref.get("name")), [])
            grants.append((ns if b["kind"] == "RoleBinding" else None, rules,
                           b.get("subjects", [])))
        return grants

    def allowed(self, user, verb, group, resource, ns, name=None):
        if self.rbac is None:
            return True
        for gns, rules, subjects in self.rbac:
            if not any(user == "system:serviceaccount:%s:%s" % (s.get("namespace"), s.get("name"))
                       for s in subjects if s.get("kind") == "ServiceAccount"):
                continue
            if gns is not None and gns != ns:
                continue
            for r in rules:
                if (group in r.get("apiGroups", []) or "*" in r.get("apiGroups", [])) and \
                   (resource in r.get("resources", []) or "*" in r.get("resources", [])) and \
                   (verb in r.get("verbs", []) or "*" in r.get("verbs", [])):
                    # resourceNames never match list/watch/create (no name).
                    if "resourceNames" in r and (name is None or name not in r["resourceNames"]):
                        continue
                    return True
        return False

    def load_fixtures(self, d):
        for fn in sorted(os.listdir(d)):
            if not fn.endswith(".json"):
                continue
            with open(os.path.join(d, fn)) as f:
                lst = json.load(f)
            kind = lst["kind"][:-4] if lst.get("kind", "").endswith("List") else None
            for it in lst.get("items", []):
                k = it.get("kind", kind)
                plural = KIND_TO_PLURAL[k]
                group, _, _, vers = RESOURCES[plural]
                it.setdefault("kind", k)
                it.setdefault("apiVersion", (group + "/" if group else "") + vers[0])
                self.put(plural, it, event=False)

    # ---- storage ----
    @staticmethod
    def key(obj):
        md = obj["metadata"]
        return (md.get("namespace", ""), md["name"])

    def put(self, plural, obj, event=True, etype=None):
        with self.lock:
            group, kind, namespaced, vers = RESOURCES[plural]
            obj = copy.deepcopy(obj)
            md = obj.setdefault("metadata", {})
            if namespaced:
                md.setdefault("namespace", "default")
            else:
                md.pop("namespace", None)
            k = self.key(obj)
            old = self.store[plural].get(k)
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            if old:
                md["uid"] = old["metadata"].get("uid")
                md["creationTimestamp"] = old["metadata"].get("creationTimestamp")
                gen = old["metadata"].get("generation", 1)
                if old.get("spec") != obj.get("spec"):
                    gen += 1
                md["generation"] = gen
            else:
                md.setdefault("uid", str(uuid.uuid4()))
                md.setdefault("creationTimestamp",
                              time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
                md.setdefault("generation", 1)
            self.store[plural][k] = obj
            if event:
                self.emit(plural, etype or ("MODIFIED" if old else "ADDED"), obj)
            return obj

    def delete(self, plural, k):
        with self.lock:
            obj = self.store[plural].pop(k, None)
            if obj is None:
                return None
            self.rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self.emit(plural, "DELETED", obj)
            return obj

    def emit(self, plural, etype, obj):
        rv = int(obj["metadata"]["resourceVersion"])
        ev = {"rv": rv, "type": etype, "kind": RESOURCES[plural][1],
              "key": "%s/%s" % self.key(obj), "sent": None}
        h = (rv, plural, etype, copy.deepcopy(obj), ev)
        self.history.append(h)
        self.events.append(ev)
        for w in list(self.watchers):
            if w.plural == plural:
                w.q.put(("event", h))

    def expire(self, mode):
        with self.lock:
            # As etcd compaction on a busy cluster: other writes moved the
            # revision on, then history up to the current revision went.
            # A fresh list (at the current revision) can be watched again.
            self.rv += 5
            self.floor = self.rv
            self.expire_mode = mode
            self.history = [h for h in self.history if h[0] >= self.floor]
            for w in list(self.watchers):
                w.q.put(("expire", mode))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "snigate-apiserver-standin/1"

    def log_message(self, fmt, *a):
        if self.server.args.verbose:
            sys.stderr.write("standin: " + fmt % a + "\n")

    # ---- response helpers ----
    def send_json(self, code, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.record(code)

    def send_status(self, code, reason, message, details=None):
        self.send_json(code, status_obj(code, reason, message, details))

    def record(self, code):
        if self.path.startswith("/_standin/"):
            return
        st = self.server.state
        with st.lock:
            st.requests.append({"t": time.time(), "method": self.command, "path": self.path,
                                "code": code, "user": getattr(self, "user", None),
                                "agent": self.headers.get("User-Agent", "")})

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # ---- auth ----
    def authenticate(self):
        st = self.server.state
        cert = None
        try:
            cert = self.connection.getpeercert()
        except (AttributeError, ValueError):
            cert = None
        if cert:
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        self.user = v
                        return True
        auth = self.headers.get("Authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else None
        if tok in st.forbidden:
            self.user = "system:serviceaccount:forbidden:nobody"
            self.forbidden = True
            return True
        if tok and tok in st.tokens:
            self.user = st.tokens[tok]
            return True
        self.user = None
        self.send_status(401, "Unauthorized", "Unauthorized")
        return False

    # ---- routing ----
    def parse(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        parts = [p for p in u.path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns, rest = rest[1], rest[2:]
        if not rest:
            return None
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        return group, version, ns, plural, name, sub, q

    def resolve(self):
        p = self.parse()
        if not p:
            self.send_status(404, "NotFound", "the server could not find the requested resource")
            return None
        group, version, ns, plural, name, sub, q = p
        r = RESOURCES.get(plural)
        if not r or r[0] != group or version not in r[3] or (sub not in (None, "status")):
            self.send_status(404, "NotFound", "the server could not find the requested resource")
            return None
        if r[2] is False and ns is not None:
            self.send_status(404, "NotFound", "the server could not find the requested resource")
            return None
        return p

    def authorize(self, verb, group, plural, sub, ns, name=None):
        st = self.server.state
        res = plural + ("/" + sub if sub else "")
        if getattr(self, "forbidden", False) or not st.allowed(self.user, verb, group, res, ns, name):
            scope = ('in the namespace "%s"' % ns) if ns else "at the cluster scope"
            self.send_status(403, "Forbidden",
                             '%s%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s" %s'
                             % (res, "." + group if group else "", self.user, verb, res, group, scope),
                             {"kind": plural, "group": group})
            return False
        return True

    def do_GET(self):
        if self.path.startswith("/_standin/"):
            return self.control_get()
        if not self.authenticate():
            return
        p = self.resolve()
        if not p:
            return
        group, version, ns, plural, name, sub, q = p
        st = self.server.state
        if name:
            if not self.authorize("get", group, plural, sub, ns, name):
                return
            with st.lock:
                obj = st.store[plural].get((ns or "", name))
            if obj is None:
                return self.send_status(404, "NotFound", '%s "%s" not found' % (plural, name),
                                        {"name": name, "kind": plural})
            return self.send_json(200, self.wire(obj, plural, version))
        watch = q.get("watch") in ("1", "true")
        if not self.authorize("watch" if watch else "list", group, plural, None, ns):
            return
        if watch:
            return self.watch(plural, version, ns, q)
        return self.list(plural, version, ns, q)

    def wire(self, obj, plural, version, in_list=False):
        group, kind, _, _ = RESOURCES[plural]
        o = copy.deepcopy(obj)
        o["apiVersion"] = (group + "/" if group else "") + version
        if in_list and not group or in_list and group in ("discovery.k8s.io", "coordination.k8s.io"):
            # The real server omits apiVersion/kind on items of built-in lists.
            o.pop("apiVersion", None)
            o.pop("kind", None)
        return o

    def list(self, plural, version, ns, q):
        st = self.server.state
        group, kind, _, _ = RESOURCES[plural]
        with st.lock:
            objs = sorted((k, v) for k, v in st.store[plural].items() if ns is None or k[0] == ns)
            rv = st.rv
        start = 0
        if q.get("continue"):
            try:
                tok = json.loads(base64.b64decode(q["continue"]))
                rv, start = int(tok["rv"]), int(tok["start"])
            except (ValueError, KeyError, TypeError):
                return self.send_status(400, "BadRequest", "invalid continue token")
            if rv < st.floor or st.expire_continue:
                st.expire_continue = False
                return self.send_status(410, "Expired",
                                        "The provided continue parameter is too old to display "
                                        "a consistent list result.")
        limit = int(q.get("limit") or 0) or len(objs) + 1
        page = objs[start:start + limit]
        md = {"resourceVersion": str(rv)}
        if start + limit < len(objs):
            md["continue"] = base64.b64encode(json.dumps(
                {"rv": rv, "start": start + limit}).encode()).decode()
        self.send_json(200, {"kind": kind + "List",
                             "apiVersion": (group + "/" if group else "") + version,
                             "metadata": md,
                             "items": [self.wire(v, plural, version, True) for _, v in page]})

    def watch(self, plural, version, ns, q):
        st = self.server.state
        group, kind, _, _ = RESOURCES[plural]
        try:
            since = int(q.get("resourceVersion") or 0)
        except ValueError:
            return self.send_status(400, "BadRequest", "bad resourceVersion")
        timeout = float(q.get("timeoutSeconds") or 1800)
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true")
        w = Watcher(plural, ns)
        too_old = False
        with st.lock:
            if since and since < st.floor:
                too_old = True
                mode = st.expire_mode
            else:
                backlog = [h for h in st.history if h[1] == plural and h[0] > since]
                st.watchers.append(w)
        expired = status_obj(410, "Expired", "too old resource version: %d (%d)" % (since, st.floor))
        if too_old and mode == "http":
            return self.send_json(410, expired)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.record(200)
        try:
            if too_old:
                self.chunk((json.dumps({"type": "ERROR", "object": expired}) + "\n").encode())
                self.chunk(b"")
                return
            for h in backlog:
                self.send_event(h, version, ns)
            deadline = time.monotonic() + timeout
            next_bm = time.monotonic() + st.bookmark_s
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                try:
                    what, arg = w.q.get(timeout=max(0.01, min(deadline, next_bm) - now))
                except queue.Empty:
                    if bookmarks and time.monotonic() >= next_bm:
                        with st.lock:
                            rv = st.rv
                        self.chunk((json.dumps({"type": "BOOKMARK", "object": {
                            "kind": kind, "apiVersion": (group + "/" if group else "") + version,
                            "metadata": {"resourceVersion": str(rv)}}}) + "\n").encode())
                        next_bm = time.monotonic() + st.bookmark_s
                    continue
                if what == "event":
                    self.send_event(arg, version, ns)
                elif what == "expire":
                    if arg == "event":
                        self.chunk((json.dumps({"type": "ERROR", "object": status_obj(
                            410, "Expired", "too old resource version: %d (%d)"
                            % (since, st.floor))}) + "\n").encode())
                    break
                elif what == "raw":
                    self.chunk(arg)
                elif what == "close":
                    break
            self.chunk(b"")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            with st.lock:
                if w in st.watchers:
                    st.watchers.remove(w)

    def send_event(self, h, version, ns):
        st = self.server.state
        rv, plural, etype, obj, ev = h
        if ns is not None and obj["metadata"].get("namespace") != ns:
            return
        line = (json.dumps({"type": etype, "object": self.wire(obj, plural, version)})
                + "\n").encode()
        # Stamped before the write: latencies measured from it are upper bounds.
        with st.lock:
            if ev["sent"] is None:
                ev["sent"] = time.time()
        if self.server.args.split_events:
            # Chunk boundaries are arbitrary on the wire: split the event
            # mid-object, with a pause, so the client must reassemble it.
            self.chunk(line[:len(line) // 2])
            time.sleep(0.02)
            self.chunk(line[len(line) // 2:])
        else:
            self.chunk(line)

    def do_POST(self):
        if self.path.startswith("/_standin/"):
            return self.control_post()
        if not self.authenticate():
            return
        p = self.resolve()
        if not p:
            return
        group, version, ns, plural, name, sub, q = p
        if name or plural != "leases":
            return self.send_status(405, "MethodNotAllowed", "create is only served for leases here")
        if not self.authorize("create", group, plural, None, ns):
            return
        try:
            obj = json.loads(self.body())
        except ValueError:
            return self.send_status(400, "BadRequest", "invalid JSON body")
        st = self.server.state
        with st.lock:
            obj.setdefault("metadata", {})["namespace"] = ns
            if (ns, obj["metadata"].get("name")) in st.store[plural]:
                return self.send_status(409, "AlreadyExists", 'leases.coordination.k8s.io "%s" '
                                        "already exists" % obj["metadata"].get("name"))
            obj = st.put(plural, obj)
        self.send_json(201, obj)

    def do_PUT(self):
        if not self.authenticate():
            return
        p = self.resolve()
        if not p:
            return
        group, version, ns, plural, name, sub, q = p
        if not name or plural != "leases":
            return self.send_status(405, "MethodNotAllowed", "update is only served for leases here")
        if not self.authorize("update", group, plural, None, ns, name):
            return
        try:
            obj = json.loads(self.body())
        except ValueError:
            return self.send_status(400, "BadRequest", "invalid JSON body")
        st = self.server.state
        with st.lock:
            cur = st.store[plural].get((ns, name))
            if cur is None:
                return self.send_status(404, "NotFound", 'leases "%s" not found' % name)
            if obj.get("metadata", {}).get("resourceVersion") != cur["metadata"]["resourceVersion"]:
                return self.send_status(409, "Conflict", 'Operation cannot be fulfilled on '
                                        'leases.coordination.k8s.io "%s": the object has been '
                                        "modified; please apply your changes to the latest "
                                        "version and try again" % name)
            obj["metadata"]["namespace"] = ns
            obj = st.put(plural, obj)
        self.send_json(200, obj)

    def do_PATCH(self):
        if not self.authenticate():
            return
        p = self.resolve()
        if not p:
            return
        group, version, ns, plural, name, sub, q = p
        raw = self.body()
        st = self.server.state
        ctype = self.headers.get("Content-Type", "")
        with st.lock:
            st.patches.append({"t": time.time(), "user": self.user,
                               "agent": self.headers.get("User-Agent", ""), "path": self.path,
                               "content_type": ctype, "body": raw.decode(errors="replace")})
        if not name or sub != "status":
            return self.send_status(405, "MethodNotAllowed", "only /status is patched here")
        if not self.authorize("patch", group, plural, sub, ns, name):
            return
        if ctype.split(";")[0].strip() != "application/merge-patch+json":
            return self.send_status(415, "UnsupportedMediaType",
                                    "the stand-in accepts application/merge-patch+json only")
        try:
            patch = json.loads(raw)
        except ValueError:
            return self.send_status(400, "BadRequest", "invalid JSON patch")
        with st.lock:
            cur = st.store[plural].get((ns or "", name))
            if cur is None:
                return self.send_status(404, "NotFound", '%s "%s" not found' % (plural, name))
            want_rv = (patch.get("metadata") or {}).get("resourceVersion")
            if want_rv is not None and want_rv != cur["metadata"]["resourceVersion"]:
                return self.send_status(409, "Conflict", "Operation cannot be fulfilled on %s "
                                        '"%s": the object has been modified' % (plural, name))
            new = copy.deepcopy(cur)
            # The status subresource ignores everything but status.
            if "status" in patch:
                new["status"] = merge_patch(cur.get("status", {}), patch["status"])
            if new == cur:
                return self.send_json(200, self.wire(cur, plural, version))
            # A status write does not bump generation.
            gen = cur["metadata"].get("generation", 1)
            obj = st.put(plural, new)
            obj["metadata"]["generation"] = gen
        self.send_json(200, self.wire(obj, plural, version))

    # ---- control ----
    def control_get(self):
        st = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        with st.lock:
            if path == "/_standin/patches":
                return self.send_json(200, st.patches)
            if path == "/_standin/requests":
                return self.send_json(200, st.requests)
            if path == "/_standin/events":
                return self.send_json(200, st.events)
            if path == "/_standin/dump":
                items = [v for p, objs in st.store.items() if p != "leases"
                         for _, v in sorted(objs.items())]
                return self.send_json(200, {"apiVersion": "v1", "kind": "List", "items": items})
            if path == "/_standin/leases":
                return self.send_json(200, list(st.store["leases"].values()))
            if path == "/_standin/health":
                return self.send_json(200, {"ok": True, "rv": st.rv,
                                            "watchers": len(st.watchers)})
        self.send_json(404, {"error": "unknown control path"})

    def control_post(self):
        st = self.server.state
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        raw = self.body()
        if u.path == "/_standin/inject":
            # Fault injection: raw bytes into every open watch of a resource.
            with st.lock:
                ws = [w for w in st.watchers if w.plural == q.get("plural")]
            for w in ws:
                w.q.put(("raw", raw))
            return self.send_json(200, {"watchers": len(ws)})
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self.send_json(400, {"error": "bad JSON"})
        if u.path == "/_standin/apply" and isinstance(body, list):
            # A burst: every object applied back to back, one event each.
            rvs = []
            for o in body:
                plural = KIND_TO_PLURAL.get(o.get("kind"))
                if not plural:
                    return self.send_json(400, {"error": "unknown kind"})
                rvs.append(st.put(plural, o)["metadata"]["resourceVersion"])
            return self.send_json(200, {"rvs": rvs})
        if u.path == "/_standin/apply":
            plural = KIND_TO_PLURAL.get(body.get("kind"))
            if not plural:
                return self.send_json(400, {"error": "unknown kind"})
            obj = st.put(plural, body)
            return self.send_json(200, {"rv": obj["metadata"]["resourceVersion"]})
        if u.path == "/_standin/delete":
            plural = KIND_TO_PLURAL.get(body.get("kind"))
            ns = body.get("namespace", "default") if plural and RESOURCES[plural][2] else ""
            obj = st.delete(plural, (ns, body.get("name"))) if plural else None
            if obj is None:
                return self.send_json(404, {"error": "not found"})
            return self.send_json(200, {"rv": obj["metadata"]["resourceVersion"]})
        if u.path == "/_standin/expire_continue":
            st.expire_continue = True
            return self.send_json(200, {})
        if u.path == "/_standin/expire":
            st.expire(q.get("mode", "event"))
            return self.send_json(200, {"floor": st.floor})
        self.send_json(404, {"error": "unknown control path"})


def main():
    ap = argparse.ArgumentParser(description="Kubernetes API server stand-in")
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the bound port here")
    ap.add_argument("--fixtures", help="directory of recorded <Kind>List JSON files")
    ap.add_argument("--token", action="append", help="USER=TOKEN accepted bearer token")
    ap.add_argument("--forbidden-token", action="append", help="token that gets 403")
    ap.add_argument("--rbac", help="JSON array of ClusterRole/Role/*Binding to enforce")
    ap.add_argument("--tlsroute-versions", help="served TLSRoute versions, e.g. v1alpha2")
    ap.add_argument("--bookmark-interval", type=float, default=1.0)
    ap.add_argument("--split-events", action="store_true",
                    help="send each watch event in two chunks, 20 ms apart")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--client-ca", help="verify client certificates against this CA")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    # A real API server accepts hundreds of connections at once; the
    # socketserver default backlog of 5 would drop the agent's parallel
    # list requests' SYNs.
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer((args.listen, args.port), Handler)
    srv.daemon_threads = True
    srv.args = args
    srv.state = State(args)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca:
            ctx.load_verify_locations(args.client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    port = srv.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(args.port_file + ".tmp", args.port_file)
    sys.stderr.write("standin: serving on %s:%d\n" % (args.listen, port))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
