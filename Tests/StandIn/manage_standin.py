#!/usr/bin/env python3
"""A stand-in ConnectWise Manage server for tests, over real TLS on 127.0.0.1.

Usage: manage_standin.py --state-dir DIR --config CONFIG.json

Makes a throwaway CA and server certificate in DIR, listens on an ephemeral
port and prints one JSON line: {"port": N, "ca": "DIR/ca.pem",
"requests": "DIR/requests.jsonl"}. Every request is appended to requests.jsonl
before it is answered. Exits when stdin reaches EOF, or on SIGTERM.
Standard library only, plus the openssl command.
"""

import argparse
import base64
import binascii
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULTS = {
    "clientId": "11111111-2222-3333-4444-555555555555",
    "version": "v2025.1.99999",
    "companies": {
        "acme": {"codebase": "v2025_1/", "isCloud": True, "siteUrl": None},
        "onprem": {"codebase": "v4_6_release/", "isCloud": False, "siteUrl": None},
    },
    "htmlCompanies": ["htmlco"],
    "credentials": [
        {"company": "acme", "publicKey": "PUB", "privateKey": "PRIV", "forbidden": False}
    ],
}

HTML_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in</body></html>"


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

    def __init__(self, config, tls, log_path):
        super().__init__(("127.0.0.1", 0), Handler)
        self.config = config
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

    def codebases(self):
        return {c.get("codebase", "v4_6_release/"): name
                for name, c in self.config["companies"].items()}


class Handler(BaseHTTPRequestHandler):
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
            self.send_header("Content-Type", content_type + "; charset=utf-8")
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, message):
        self.answer(status, {"code": code, "message": message})

    def route(self):
        url = urlsplit(self.path)
        self.query = url.query
        self.body = self.read_body().decode("utf-8", errors="replace")
        self.server.record({
            "method": self.command, "path": url.path, "query": url.query,
            "headers": [[n, v] for n, v in self.headers.items()], "body": self.body,
        })
        if url.path.startswith("/__test/"):
            return self.test_route(url.path[len("/__test/"):], parse_qs(url.query))
        if url.path.startswith("/login/companyinfo/") and self.command == "GET":
            return self.company_info(unquote(url.path[len("/login/companyinfo/"):]))
        for codebase, company in self.server.codebases().items():
            prefix = "/" + codebase
            if url.path.startswith(prefix):
                return self.api(url.path[len(prefix):], company)
        # Manage answers unknown paths with a JSON 404.
        self.error(404, "NotFound", f"No codebase at {url.path}")

    # --- imitations of the real server ------------------------------------

    def version_parts(self):
        year, minor, build = (self.server.config["version"].lstrip("v").split(".") + ["0", "0"])[:3]
        return year, minor, build

    def company_info(self, name):
        """GET /login/companyinfo/{company}: unauthenticated codebase lookup."""
        config = self.server.config
        if name.lower() in (h.lower() for h in config["htmlCompanies"]):
            # Some front ends answer with a sign-in page and status 200.
            return self.answer(200, HTML_PAGE, "text/html")
        match = next((k for k in config["companies"] if k.lower() == name.lower()), None)
        if match is None:
            # The real server answers an unknown company with 200 and `null`.
            return self.answer(200, b"null")
        company = config["companies"][match]
        codebase = company.get("codebase", "v4_6_release/")
        year, minor, build = self.version_parts()
        site = company.get("siteUrl")
        self.answer(200, {
            "CompanyName": match, "Codebase": codebase,
            "VersionCode": f"v{year}.{minor}", "VersionNumber": f"v4.6.{build}",
            "CompanyID": match, "IsCloud": bool(company.get("isCloud")),
            # Cloud answers name the API host; by default, the host asked.
            "SiteUrl": site if site is not None else self.headers.get("Host", ""),
            "AllowedOrigins": ["*.myconnectwise.net"],
        })

    def api(self, rest, codebase_company):
        """Everything under /{codebase}; only apis/3.0/system/info exists here."""
        if rest != "apis/3.0/system/info" or self.command != "GET":
            return self.error(404, "NotFound", f"No route for {self.command} /{rest}")
        credential = self.authenticate()
        if credential is None:
            return
        accept = self.headers.get("Accept", "")
        wanted = re.search(r"version\s*=\s*([^;,\s]+)", accept)
        if wanted and not re.fullmatch(r"\d{4}\.\d+", wanted.group(1)):
            return self.error(400, "InvalidVersion",
                              f"The server does not support the API version {wanted.group(1)}")
        companies = {k.lower(): v for k, v in self.server.config["companies"].items()}
        company = companies.get(credential["company"].lower(),
                                self.server.config["companies"][codebase_company])
        year, minor, _ = self.version_parts()
        self.answer(200, {
            "version": self.server.config["version"], "isCloud": bool(company.get("isCloud")),
            "serverTimeZone": "Eastern Standard Time", "cloudRegion": "NA",
            "licenseBits": [{"activeFlag": True, "name": "Stand-in"}],
        }, extra=[("api-current-version", f"{year}.{minor}")])

    def authenticate(self):
        """API-key authentication as Manage does it; answers and returns None on failure."""
        client_id = self.headers.get("clientId")  # header lookup ignores case
        if not client_id:
            return self.error(401, "ConnectWiseApi", "ClientId is required")
        if client_id != self.server.config["clientId"]:
            return self.error(401, "ConnectWiseApi", "Invalid clientId")
        authorization = self.headers.get("Authorization")
        if not authorization:
            # Manage sends some 401s with no body at all.
            return self.answer(401)
        credential = self.find_credential(authorization)
        if credential is None:
            return self.error(401, "ConnectWiseApi", "UserNotAuthenticated")
        if credential.get("forbidden"):
            return self.error(403, "Security",
                              "You do not have security permission to perform this action.")
        return credential

    def find_credential(self, authorization):
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, private = decoded.partition(":")
        company, _, public = user.partition("+")
        for credential in self.server.config["credentials"]:
            if (credential["company"].lower() == company.lower()
                    and credential["publicKey"] == public
                    and credential["privateKey"] == private):
                return credential
        return None

    # --- control routes for transport tests -------------------------------

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
                "method": self.command, "path": urlsplit(self.path).path, "query": self.query,
                "headers": [[n, v] for n, v in self.headers.items()], "body": self.body,
            })
        self.error(404, "NotFound", f"No test route {name}")


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
    config = dict(DEFAULTS)
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            config.update(json.load(f))

    ca, cert, key = make_certificates(state_dir)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    log_path = os.path.join(state_dir, "requests.jsonl")
    open(log_path, "w").close()
    server = StandInServer(config, tls, log_path)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    print(json.dumps({"port": server.server_address[1], "ca": ca, "requests": log_path}),
          flush=True)
    # The test process holds our stdin open; EOF means it is done (or died).
    sys.stdin.buffer.read()
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
