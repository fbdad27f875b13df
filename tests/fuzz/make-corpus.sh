#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Regenerate tests/fuzz/corpus/clienthello/: real ClientHellos captured from
# openssl s_client, curl and python3 ssl, plus synthetic large/split ones.
# Runs in a private network namespace (re-execs itself under unshare -n);
# the capture listener only records the first bytes a client sends.
# Usage: tests/fuzz/make-corpus.sh [OUTDIR]   (root, or unshare -rn capable)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/corpus/clienthello}
out=$(mkdir -p "$out" && cd "$out" && pwd)

if [ -z "${SNG_IN_NETNS:-}" ]; then
	SNG_IN_NETNS=1 exec unshare -n -- "$0" "$out"
fi
ip link set lo up

tmp=$(mktemp -d /tmp/sng-corpus.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

# capture PORT FILE: accept one connection, keep what arrives until 400 ms
# of silence (the client then waits for a ServerHello that never comes).
capture() {
	python3 - "$1" "$2" <<'EOF' &
import socket, sys
port, path = int(sys.argv[1]), sys.argv[2]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(1); s.settimeout(10)
open(path + ".ready", "w").close()
c, _ = s.accept(); c.settimeout(0.4)
data = b""
try:
    while len(data) < 65536:
        b = c.recv(65536)
        if not b:
            break
        data += b
except socket.timeout:
    pass
open(path, "wb").write(data)
c.close()
EOF
	local i
	for ((i = 0; i < 100; i++)); do [ -e "$2.ready" ] && break; sleep 0.05; done
	rm -f "$2.ready"
}

port=44300
# grab NAME CLIENT-COMMAND...: capture what CLIENT sends to 127.0.0.1:$port
grab() {
	local name=$1; shift
	port=$((port + 1))
	capture "$port" "$out/$name.bin"
	# The client blocks waiting for the server: give it 1.5 s, then stop it.
	timeout 1.5 "${@//PORT/$port}" </dev/null >/dev/null 2>&1 || true
	wait
	printf '  %-28s %6d bytes\n' "$name" "$(stat -c %s "$out/$name.bin")"
}

echo "capturing into $out"
s_client="openssl s_client -connect 127.0.0.1:PORT -servername foo.example.com"
grab openssl-default $s_client
grab openssl-tls1_2 $s_client -tls1_2
grab openssl-tls1_3 $s_client -tls1_3
grab openssl-ffdhe8192 $s_client -groups ffdhe8192:x25519
grab openssl-alpn $s_client -alpn h2,http/1.1
grab openssl-nosni openssl s_client -connect 127.0.0.1:PORT -noservername
# 25 x 200-character ALPN names: 5.3 KB in one record.
alpn25=$(python3 -c 'print(",".join(("p%02d" % i) + "x" * 197 for i in range(25)))')
grab openssl-alpn-5k $s_client -alpn "$alpn25"
# 100 names: about 20 KB, which OpenSSL splits into 2 records (TOO_BIG).
alpn100=$(python3 -c 'print(",".join(("p%03d" % i) + "x" * 196 for i in range(100)))')
grab openssl-alpn-20k $s_client -alpn "$alpn100"
grab curl curl -sk --max-time 1 --resolve foo.example.com:PORT:127.0.0.1 https://foo.example.com:PORT/
grab curl-tls1_2 curl -sk --max-time 1 --tls-max 1.2 --resolve foo.example.com:PORT:127.0.0.1 https://foo.example.com:PORT/
grab python-ssl python3 -c '
import socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["h2", "http/1.1"])
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
try: ctx.wrap_socket(s, server_hostname="foo.example.com")
except Exception: pass' PORT

echo "synthetic"
python3 - "$out" <<'EOF'
import os, struct, sys
out = sys.argv[1]

def u16(n): return struct.pack(">H", n)
def ext(t, data): return u16(t) + u16(len(data)) + data
def sni(name): 
    e = b"\x00" + u16(len(name)) + name
    return ext(0, u16(len(e)) + e)
def hello(exts, sid=32, suites=b"\x13\x01\x13\x02\xc0\x2b"):
    body = b"\x03\x03" + bytes(range(32)) + bytes([sid]) + b"\x5a" * sid
    body += u16(len(suites)) + suites + b"\x01\x00"
    e = b"".join(exts)
    body += u16(len(e)) + e
    return b"\x01" + struct.pack(">I", len(body))[1:] + body
def records(msg, size=16384, ver=b"\x03\x01"):
    r = b""
    for i in range(0, len(msg), size):
        frag = msg[i:i + size]
        r += b"\x16" + ver + u16(len(frag)) + frag
    return r
def save(name, data):
    open(os.path.join(out, name + ".bin"), "wb").write(data)
    print("  %-28s %6d bytes" % (name, len(data)))

# X25519MLKEM768 (0x11ec): 1184 + 32 = 1216-byte client share, plus x25519.
ks = u16(0x11ec) + u16(1216) + bytes((i * 7) & 0xff for i in range(1216))
ks += u16(0x001d) + u16(32) + b"\x11" * 32
keyshare = ext(51, u16(len(ks)) + ks)
common = [ext(43, b"\x04\x03\x04\x03\x03"),       # supported_versions 1.3, 1.2
          ext(10, u16(6) + b"\x11\xec\x00\x1d\x00\x17"),  # supported_groups
          ext(13, u16(4) + b"\x08\x04\x04\x03"),  # signature_algorithms
          ext(16, u16(12) + b"\x02h2\x08http/1.1")]  # ALPN
# Chrome-like extras (GREASE 0x0a0a/0x1a1a..., 16 suites): about 1.5 KB,
# more than one 1448-byte segment.
chrome_suites = bytes.fromhex("6a6a130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f0035")
extras = [ext(0x0a0a, b""), ext(23, b""), ext(65281, b"\x00"),
          ext(11, b"\x01\x00"), ext(35, b""), ext(5, b"\x01\x00\x00\x00\x00"),
          ext(18, b""), ext(45, b"\x01\x01"), ext(27, b"\x02\x00\x02"),
          ext(17513, b"\x00\x03\x02h2"), ext(0xfe0d, b"\x00" * 40),
          ext(0x1a1a, b"\x00")]
name = b"pq.example.com"
pq_last = hello(extras + common + [keyshare, sni(name)], suites=chrome_suites)
pq_first = hello([sni(name)] + extras + common + [keyshare], suites=chrome_suites)
save("synth-pq-sni-last", records(pq_last))
save("synth-pq-sni-first", records(pq_first))
pad = ext(21, b"\x00" * 5000)  # padding extension: a 6.5 KB hello
save("synth-6k-sni-last", records(hello(common + [keyshare, pad, sni(name)])))
save("synth-pq-1000b-records", records(pq_last, 1000))
small = hello([sni(b"foo.example.com")] + common, sid=0)
save("synth-small-1b-records", records(small, 1))
save("synth-small-7b-records", records(small, 7))
# A hello of exactly SNG_HELLO_MAX (16384) bytes in one record: the largest OK.
base = hello(common + [sni(name)], sid=0)
fill = 16384 - len(base) - 4
save("synth-16k-max", records(hello(common + [ext(21, b"\x00" * fill), sni(name)], sid=0)))
# ClientHello followed by pipelined application data in the same write.
save("synth-pipelined", records(small) + b"\x17\x03\x03\x00\x05hello")
# Not TLS at all.
save("http-get", b"GET / HTTP/1.1\r\nHost: foo.example.com\r\n\r\n")
# SSLv2-compatible CLIENT-HELLO (RFC 5246 E.2): msg_type 1, version 3.1,
# 7 three-byte cipher specs, no session id, 16-byte challenge.
specs = bytes.fromhex("010080030080070080060040040080020080000039")
v2 = b"\x01\x03\x01" + u16(len(specs)) + u16(0) + u16(16) + specs + bytes(range(16))
save("sslv2-hello", u16(0x8000 | len(v2)) + v2)
EOF
ls "$out" | wc -l
