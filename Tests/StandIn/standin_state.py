"""What the stand-in Manage server knows and remembers: its config, which can
change while it runs, and what it has handed out (tokens, login hashes,
created tickets) or still has to inject (failure steps).

All of it is shared by the request threads and the control channel, so every
change happens under one lock. The config itself is never changed in place:
a patch builds a new dict and swaps it in, so a request that took
`state.config` once at its start sees one consistent config throughout.
"""

import copy
import secrets
import string
import threading
import time
from collections import deque

# Every key a config may have. A config file replaces these key by key.
#   clientId              the integration id every API call must send
#   version               `version` in system/info, e.g. v2025.1.99999
#   companies             name -> {codebase, isCloud, siteUrl (null: the Host asked)}
#   htmlCompanies         company names whose company info is an HTML page
#   credentials           API keys: {company, publicKey, privateKey,
#                         forbidden (403 on every call), canImpersonate}
#   members               member identifiers tokens can be issued for
#   tokenLifetimeSeconds  how long an impersonation token lasts
#   users                 web logins: {company, username, password, mfa}
#   tickets               service/tickets holds 1...tickets, then those POSTed
#   failures              path -> steps: a status, {status, retryAfter, body,
#                         contentType, headers (name -> value)} or "reset";
#                         one step a request, in order
#   redirects             path -> {to ({host} and {port} filled in), status}
DEFAULTS = {
    "clientId": "11111111-2222-3333-4444-555555555555",
    "version": "v2025.1.99999",
    "companies": {
        "acme": {"codebase": "v2025_1/", "isCloud": True, "siteUrl": None},
        "onprem": {"codebase": "v4_6_release/", "isCloud": False, "siteUrl": None},
    },
    "htmlCompanies": ["htmlco"],
    "credentials": [
        {"company": "acme", "publicKey": "PUB", "privateKey": "PRIV",
         "forbidden": False, "canImpersonate": True}
    ],
    "members": ["jdoe"],
    "tokenLifetimeSeconds": 3600,
    "users": [],
    "tickets": 60,
    "failures": {},
    "redirects": {},
}

KEY_ALPHABET = string.ascii_letters + string.digits


class ConfigError(ValueError):
    """A config or patch that the server refuses; the message says why."""


# --- checking a config ------------------------------------------------------

def _expect(condition, message):
    if not condition:
        raise ConfigError(message)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_step(path, step):
    where = f"failures[{path!r}]"
    if step == "reset" or (_is_int(step) and 100 <= step <= 599):
        return
    _expect(isinstance(step, dict), f"{where}: a step is a status, an object or \"reset\"")
    _expect(_is_int(step.get("status")) and 100 <= step["status"] <= 599,
            f"{where}: an object step needs an integer status")
    unknown = set(step) - {"status", "retryAfter", "body", "contentType", "headers"}
    _expect(not unknown, f"{where}: unknown step keys {sorted(unknown)}")
    for key in ("retryAfter", "body", "contentType"):
        _expect(isinstance(step.get(key, ""), str), f"{where}: {key} must be a string")
    headers = step.get("headers", {})
    _expect(isinstance(headers, dict)
            and all(isinstance(v, str) for v in headers.values()),
            f"{where}: headers must map names to strings")


def _check_records(key, value, fields):
    _expect(isinstance(value, list), f"{key} must be a list")
    for item in value:
        _expect(isinstance(item, dict), f"{key} holds objects")
        for field, kind in fields.items():
            if field in item:
                _expect(isinstance(item[field], kind), f"{key}: {field} has the wrong type")
            else:
                _expect(kind is bool, f"{key}: every entry needs {field}")


def check(config):
    """Raises ConfigError unless `config` is a complete, well-typed config."""
    unknown = set(config) - set(DEFAULTS)
    _expect(not unknown, f"unknown config keys {sorted(unknown)}")
    _expect(isinstance(config["clientId"], str), "clientId must be a string")
    _expect(isinstance(config["version"], str), "version must be a string")
    _expect(isinstance(config["companies"], dict), "companies must be an object")
    for name, company in config["companies"].items():
        _expect(isinstance(company, dict), f"companies[{name!r}] must be an object")
        _expect(isinstance(company.get("codebase", ""), str), f"{name}: codebase is a string")
    _expect(isinstance(config["htmlCompanies"], list)
            and all(isinstance(h, str) for h in config["htmlCompanies"]),
            "htmlCompanies must be a list of strings")
    _check_records("credentials", config["credentials"],
                   {"company": str, "publicKey": str, "privateKey": str,
                    "forbidden": bool, "canImpersonate": bool})
    _expect(isinstance(config["members"], list)
            and all(isinstance(m, str) for m in config["members"]),
            "members must be a list of strings")
    _expect(_is_int(config["tokenLifetimeSeconds"]), "tokenLifetimeSeconds must be an integer")
    _check_records("users", config["users"],
                   {"company": str, "username": str, "password": str, "mfa": bool})
    _expect(_is_int(config["tickets"]) and config["tickets"] >= 0,
            "tickets must be a count")
    _expect(isinstance(config["failures"], dict), "failures must be an object")
    for path, steps in config["failures"].items():
        _expect(isinstance(steps, list), f"failures[{path!r}] must be a list")
        for step in steps:
            _check_step(path, step)
    _expect(isinstance(config["redirects"], dict), "redirects must be an object")
    for path, redirect in config["redirects"].items():
        _expect(isinstance(redirect, dict) and isinstance(redirect.get("to"), str),
                f"redirects[{path!r}] needs a string \"to\"")
        _expect(_is_int(redirect.get("status", 302)), f"redirects[{path!r}]: status is an integer")


def merged(config, patch):
    """`config` with `patch` applied: each top-level key is replaced, except
    `companies`, which is merged company by company (and field by field within
    a company). A top-level null restores the default; a company set to null
    is removed."""
    _expect(isinstance(patch, dict), "a patch is a JSON object")
    result = dict(config)
    for key, value in patch.items():
        if key == "companies" and isinstance(value, dict):
            companies = dict(result["companies"])
            for name, fields in value.items():
                if fields is None:
                    companies.pop(name, None)
                else:
                    _expect(isinstance(fields, dict), f"companies[{name!r}] must be an object")
                    companies[name] = {**companies.get(name, {}), **fields}
            result["companies"] = companies
        elif value is None and key in DEFAULTS:
            result[key] = copy.deepcopy(DEFAULTS[key])
        else:
            result[key] = value
    check(result)
    return result


# --- the live state ---------------------------------------------------------

def random_key(length=16):
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(length))


class State:
    def __init__(self, config):
        check(config)
        self.lock = threading.Lock()
        self.config = config
        self.pending = self._queues(config["failures"])
        self.tokens = []    # {"company", "member", "publicKey", "privateKey", "expires"}
        self.hashes = {}    # login hash -> {"company", "username"}
        self.created = []   # tickets made by POST, in order

    @staticmethod
    def _queues(failures):
        return {path: deque(steps) for path, steps in failures.items()}

    def apply(self, patch):
        """Merges `patch` into the live config (see `merged`). A patch that
        names `failures` starts their steps afresh."""
        with self.lock:
            self.config = merged(self.config, patch)
            if "failures" in patch:
                self.pending = self._queues(self.config["failures"])

    def next_failure(self, path):
        """The next injected step for `path`, consumed; None once there is none."""
        with self.lock:
            steps = self.pending.get(path)
            return steps.popleft() if steps else None

    # Impersonation tokens.

    def issue_token(self, company, member, lifetime):
        token = {"company": company, "member": member, "publicKey": random_key(),
                 "privateKey": random_key(), "expires": int(time.time()) + lifetime}
        with self.lock:
            self.tokens.append(token)
        return token

    def find_token(self, company, public, private):
        """The token with this key pair, expired or not; None if never issued."""
        with self.lock:
            return next((t for t in self.tokens
                         if t["company"].lower() == company.lower()
                         and t["publicKey"] == public and t["privateKey"] == private), None)

    def expire_tokens(self):
        with self.lock:
            now = int(time.time())
            for token in self.tokens:
                token["expires"] = min(token["expires"], now)

    # Cookie login.

    def issue_hash(self, company, username):
        value = secrets.token_hex(16)
        with self.lock:
            self.hashes[value] = {"company": company, "username": username}
        return value

    def session(self, value):
        with self.lock:
            return self.hashes.get(value)

    # Tickets: 1...config["tickets"] made up on the fly, then those created.

    def tickets(self, config):
        with self.lock:
            created = [dict(t) for t in self.created]
        made = {t["id"] for t in created}
        generated = [{"id": i, "summary": f"Ticket {i}"}
                     for i in range(1, config["tickets"] + 1) if i not in made]
        return sorted(generated + created, key=lambda t: t["id"])

    def create_ticket(self, config, fields):
        with self.lock:
            next_id = max([config["tickets"]] + [t["id"] for t in self.created]) + 1
            ticket = {**fields, "id": next_id}
            self.created.append(ticket)
            return dict(ticket)
