#!/usr/bin/env python3
"""A stand-in ConnectWise Manage server for tests, over real TLS on 127.0.0.1.

Usage: manage_standin.py --state-dir DIR [--config CONFIG.json]

Makes a throwaway CA and server certificate in DIR, listens on an ephemeral
port and prints one JSON line: {"port": N, "ca": "DIR/ca.pem",
"requests": "DIR/requests.jsonl"}. Every request is appended to requests.jsonl
before it is answered. Exits when stdin reaches EOF, or on SIGTERM.
Standard library only, plus the openssl command.

The config file's top-level keys replace the defaults (standin_state.DEFAULTS).
While it runs, the server takes control commands, one JSON object a line:

- on stdin, each answered by one line on stdout, {"ok": true} or
  {"ok": false, "error": "..."} (with the command's "id" when it had one):
  {"op": "config", "patch": {...}}   merge a patch into the live config
  {"op": "expire-tokens"}            every token issued so far has expired
  {"op": "ping"}
- over HTTPS, for shell scripts: GET /__test/config (the live config),
  POST /__test/config with the patch as the body, POST /__test/expire-tokens.

Before any other route (the two control routes excepted), a request's path,
as sent and without the query, is looked up in `failures`, whose steps are
used up one a request, then in `redirects`.
"""

import argparse
import copy
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

# The helpers sit next to this file; leave no bytecode in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standin_routes import HTML_PAGE, ManageRoutes  # noqa: E402
from standin_state import DEFAULTS, ConfigError, State  # noqa: E402

CONTROL_PATHS = ("/__test/config", "/__test/expire-tokens")


def make_certificates(state_dir):
    """A CA and a server certificate for 127.0.0.1 and localhost (EC P-256)."""
    def path(name):
        return os.path.join(state_dir, name)

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    # A config of our own, so the host's openssl.cnf plays no part.
    with open(path("openssl.cnf"), "w") as f:
        f.write("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
                "[ca_ext]\nbasicConstraints = critical, CA:TRUE\n"
                "keyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n"
                "[server_ext]\nbasicConstraints = critical, CA:FALSE\n"
                "keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n"
                "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                "authorityKeyIdentifier = keyid\n")
    for key in ("ca.key", "server.key"):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", path(key))
    openssl("req", "-config", path("openssl.cnf"), "-x509", "-new", "-key", path("ca.key"),
            "-subj", "/CN=cwm-profile stand-in CA", "-days", "2", "-sha256",
            "-extensions", "ca_ext", "-out", path("ca.pem"))
    openssl("req", "-config", path("openssl.cnf"), "-new", "-key", path("server.key"),
            "-subj", "/CN=localhost", "-out", path("server.csr"))
    openssl("x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"),
            "-CAkey", path("ca.key"), "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
            "-days", "2", "-sha256", "-extfile", path("openssl.cnf"),
            "-extensions", "server_ext", "-out", path("server.pem"))
    return path("ca.pem"), path("server.pem"), path("server.key")


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state, tls, log_path):
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = state
        self.tls = tls
        self.log_path = log_path
        self.log_lock = threading.Lock()

    def get_request(self):
        # The handshake happens in the handler's thread, so a client that
        # never finishes it cannot stall the accept loop.
        sock, addr = self.socket.accept()
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        # Clients that reject our certificate, or give up on a slow answer,
        # are part of the tests; one line on stderr is enough.
        print(f"stand-in: {sys.exc_info()[1]!r}", file=sys.stderr, flush=True)

    def record(self, entry):
        with self.log_lock, open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()


class Handler(ManageRoutes, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "StandIn/1"

    def setup(self):
        self.request.settimeout(15)
        self.request.do_handshake()
        super().setup()

    def log_message(self, format, *args):
        print("stand-in: " + format % args, file=sys.stderr, flush=True)

    # Every method goes through the same routing; unknown routes get 404.
    def do_GET(self):
        self.route()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    @property
    def state(self):
        return self.server.state

    # --- plumbing -------------------------------------------------------

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)):
                data += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline().strip():
                pass
            return data
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self, status, body=b"", content_type="application/json", extra=()):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(status)
        if body:
            charset = "" if "charset" in content_type else "; charset=utf-8"
            self.send_header("Content-Type", content_type + charset)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, message):
        self.answer(status, {"code": code, "message": message})

    def route(self):
        url = urlsplit(self.path)
        self.url_path, self.query = url.path, url.query
        self.body = self.read_body().decode("utf-8", errors="replace")
        # One config for the whole request, however the live one changes.
        self.config = self.state.config
        self.server.record({
            "method": self.command, "path": url.path, "query": url.query,
            "headers": [[n, v] for n, v in self.headers.items()], "body": self.body,
        })
        if url.path in CONTROL_PATHS:
            return self.control(url.path)
        step = self.state.next_failure(url.path)
        if step is not None:
            return self.inject(step)
        redirect = self.config["redirects"].get(url.path)
        if redirect is not None:
            return self.redirect(redirect)
        if url.path.startswith("/__test/"):
            return self.test_route(url.path[len("/__test/"):], parse_qs(url.query))
        if url.path.startswith("/login/companyinfo/") and self.command == "GET":
            return self.company_info(unquote(url.path[len("/login/companyinfo/"):]))
        for name, company in self.config["companies"].items():
            prefix = "/" + company.get("codebase", "v4_6_release/")
            if url.path.startswith(prefix):
                return self.codebase_route(url.path[len(prefix):], name)
        # Manage answers unknown paths, and codebases no company is on, with a JSON 404.
        self.error(404, "NotFound", f"No codebase at {url.path}")

    # --- injected behaviour ---------------------------------------------

    def inject(self, step):
        """A configured answer in place of the route's: a status with a JSON
        error body, a given body (an HTML error page, say) with any extra
        headers, or a reset."""
        if step == "reset":
            return self.reset_connection()
        if isinstance(step, int):
            step = {"status": step}
        status = step["status"]
        extra = [("Retry-After", step["retryAfter"])] if "retryAfter" in step else []
        extra += list(step.get("headers", {}).items())
        content_type = step.get("contentType", "application/json")
        if "body" in step:
            return self.answer(status, step["body"].encode(), content_type, extra)
        self.answer(status, {"code": "Test", "message": f"injected {status}"}, content_type, extra)

    def reset_connection(self):
        """Drops the connection as a failing front end does: a TCP reset
        (SO_LINGER 0, then close), with no answer and no TLS close_notify."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The socket only really closes once the reading side lets go of it.
        self.connection.close()
        self.rfile.close()

    def redirect(self, redirect):
        """A configured redirect; `to` may name {host} (the host the request
        used, without its port) and {port} (the port we listen on)."""
        asked = self.headers.get("Host") or "127.0.0.1"
        host = asked.partition("]")[0] + "]" if asked.startswith("[") else asked.split(":")[0]
        target = (redirect["to"].replace("{host}", host)
                  .replace("{port}", str(self.server.server_address[1])))
        self.answer(redirect.get("status", 302), extra=[("Location", target)])

    # --- control -----------------------------------------------------------

    def control(self, path):
        """The HTTP side of the control channel, for scripts."""
        if path == "/__test/config" and self.command == "GET":
            return self.answer(200, self.state.config)
        if self.command != "POST":
            return self.error(404, "NotFound", f"No route for {self.command} {path}")
        reply = run_command({"op": "config", "patch": self.parsed_json()}
                            if path == "/__test/config" else {"op": "expire-tokens"},
                            self.state)
        self.answer(200 if reply["ok"] else 400, reply)

    def parsed_json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    # --- routes for transport tests ----------------------------------------

    def test_route(self, name, query):
        first = lambda key, default: query.get(key, [default])[0]
        if name == "redirect":
            status = int(first("status", "302"))
            return self.answer(status, extra=[("Location", first("to", "/"))])
        if name == "slow":
            time.sleep(float(first("seconds", "1")))
            return self.answer(200, {})
        if name.startswith("status/") and name[len("status/"):].isdigit():
            code = int(name[len("status/"):])
            return self.error(code, "Test", f"status {code}")
        if name == "html":
            return self.answer(200, HTML_PAGE, "text/html")
        if name == "echo":
            return self.answer(200, {
                "method": self.command, "path": self.url_path, "query": self.query,
                "headers": [[n, v] for n, v in self.headers.items()], "body": self.body,
            })
        self.error(404, "NotFound", f"No test route {name}")


def run_command(command, state):
    """One control command; the reply says whether it worked."""
    reply = {"id": command["id"]} if isinstance(command, dict) and "id" in command else {}
    try:
        op = command.get("op") if isinstance(command, dict) else None
        if op == "config":
            state.apply(command.get("patch"))
        elif op == "expire-tokens":
            state.expire_tokens()
        elif op != "ping":
            raise ConfigError(f"unknown op {op!r}")
    except Exception as error:  # a bad command must not end the channel
        return {**reply, "ok": False, "error": str(error) or repr(error)}
    return {**reply, "ok": True}


def serve_control_channel(state):
    """Commands on stdin, replies on stdout, until stdin reaches EOF."""
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            command = json.loads(line)
        except ValueError as error:
            reply = {"ok": False, "error": f"not JSON: {error}"}
        else:
            reply = run_command(command, state)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def main():
    # The test process may start us with SIGTERM blocked; it must stop us.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--config")
    args = parser.parse_args()
    state_dir = os.path.abspath(args.state_dir)
    os.makedirs(state_dir, exist_ok=True)
    config = copy.deepcopy(DEFAULTS)
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            config.update(json.load(f))
    try:
        state = State(config)
    except ConfigError as error:
        sys.exit(f"stand-in: bad config: {error}")

    ca, cert, key = make_certificates(state_dir)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    log_path = os.path.join(state_dir, "requests.jsonl")
    open(log_path, "w").close()
    server = StandInServer(state, tls, log_path)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    print(json.dumps({"port": server.server_address[1], "ca": ca, "requests": log_path}),
          flush=True)
    # The test process holds our stdin open; EOF means it is done (or died).
    serve_control_channel(state)
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
