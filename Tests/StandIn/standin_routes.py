"""The routes of the stand-in Manage server that imitate the real one: company
info, the web login, and the REST API under /{codebase}apis/3.0 with its
authentication, impersonation tokens, a paged ticket collection and an echo.

`ManageRoutes` is mixed into the request handler, which provides `answer`,
`error`, `config` (the config taken at the start of the request), `state`,
`url_path`, `query` and `body`.
"""

import base64
import binascii
import json
import math
import re
import time
from urllib.parse import parse_qsl, unquote, unquote_plus

HTML_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in</body></html>"
API_PREFIX = "apis/3.0/"
MAX_PAGE_SIZE = 1000

# Method (None: any), path under apis/3.0/ (without a trailing slash), handler.
# Manage matches routes without regard to case; first match wins.
API_ROUTES = [
    ("GET", r"system/info", "system_info"),
    (None, r"system/echo", "system_echo"),
    ("POST", r"system/members/([^/]+)/tokens", "member_tokens"),
    ("GET", r"service/tickets", "list_tickets"),
    ("POST", r"service/tickets", "create_ticket"),
    ("GET", r"service/tickets/count", "count_tickets"),
    ("GET", r"service/tickets/([^/]+)", "get_ticket"),
]


class Invalid(Exception):
    """A request the API rejects with 400 InvalidObject."""

    def __init__(self, message, field="", resource="", code="InvalidField", summary=None):
        super().__init__(message)
        self.body = {"code": "InvalidObject", "message": summary or message,
                     "errors": [{"code": code, "message": message,
                                 "resource": resource, "field": field}]}


class ManageRoutes:
    # --- company info and the web login ----------------------------------

    def version_parts(self):
        year, minor, build = (self.config["version"].lstrip("v").split(".") + ["0", "0"])[:3]
        return year, minor, build

    def company_info(self, name):
        """GET /login/companyinfo/{company}: unauthenticated codebase lookup."""
        if name.lower() in (h.lower() for h in self.config["htmlCompanies"]):
            # Some front ends answer with a sign-in page and status 200.
            return self.answer(200, HTML_PAGE, "text/html")
        companies = self.config["companies"]
        match = next((k for k in companies if k.lower() == name.lower()), None)
        if match is None:
            # The real server answers an unknown company with 200 and `null`.
            return self.answer(200, b"null")
        company = companies[match]
        year, minor, build = self.version_parts()
        site = company.get("siteUrl")
        self.answer(200, {
            "CompanyName": match, "Codebase": company.get("codebase", "v4_6_release/"),
            "VersionCode": f"v{year}.{minor}", "VersionNumber": f"v4.6.{build}",
            "CompanyID": match, "IsCloud": bool(company.get("isCloud")),
            # Cloud answers name the API host; by default, the host asked.
            "SiteUrl": site if site is not None else self.headers.get("Host", ""),
            "AllowedOrigins": ["*.myconnectwise.net"],
        })

    def codebase_route(self, rest, codebase_company):
        """Everything under /{codebase}: the login page and the REST API."""
        if rest.lower() == "login/login.aspx":
            return self.login()
        if rest.lower().startswith(API_PREFIX):
            return self.api(rest[len(API_PREFIX):].rstrip("/"), codebase_company)
        self.error(404, "NotFound", f"No route for {self.command} /{rest}")

    def login(self):
        """/{codebase}login/login.aspx: the sign-in page. POSTed a form with
        ?response=json it answers JSON, with a member hash for the cookies
        when the name and password match a member without MFA."""
        wanted = {k.lower(): v for k, v in reversed(parse_qsl(self.query))}
        if self.command != "POST" or wanted.get("response", "").lower() != "json":
            return self.answer(200, HTML_PAGE, "text/html")
        form = self.form_fields()
        user = next((u for u in self.config["users"]
                     if u["company"].lower() == form.get("companyname", "").lower()
                     and u["username"].lower() == form.get("username", "").lower()
                     and u["password"] == form.get("password")), None)
        if user is None or user.get("mfa"):
            # Bad names, bad passwords and MFA members all look the same.
            return self.answer(200, {"Success": False})
        hash_value = self.state.issue_hash(user["company"], user["username"])
        self.answer(200, {"Success": True, "Hash": hash_value})

    def form_fields(self):
        """The urlencoded form in the body, names lower-cased (ASP.NET reads
        form fields without regard to case); other bodies carry no fields."""
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return {}
        pairs = parse_qsl(self.body, keep_blank_values=True, encoding="utf-8")
        return {k.lower(): v for k, v in reversed(pairs)}

    # --- the REST API ------------------------------------------------------

    def api(self, rest, codebase_company):
        """apis/3.0/...: find the route, authenticate, check the version asked."""
        for method, pattern, name in API_ROUTES:
            match = re.fullmatch(pattern, rest, re.IGNORECASE)
            if match and method in (None, self.command):
                break
        else:
            return self.error(404, "NotFound", f"No route for {self.command} /{API_PREFIX}{rest}")
        principal = self.authenticate()
        if principal is None:
            return
        accept = self.headers.get("Accept", "")
        wanted = re.search(r"version\s*=\s*([^;,\s]+)", accept)
        if wanted and not re.fullmatch(r"\d{4}\.\d+", wanted.group(1)):
            return self.error(400, "InvalidVersion",
                              f"The server does not support the API version {wanted.group(1)}")
        try:
            getattr(self, name)(principal, codebase_company, *map(unquote, match.groups()))
        except Invalid as invalid:
            self.answer(400, invalid.body)

    def authenticate(self):
        """Manage's API authentication: clientId on every call, then Basic auth
        (an API key or an impersonation token) or, only without Authorization,
        the cookies of a web login. Returns who is calling as a dict with
        kind ("key", "token", "cookie") and company, or answers and returns None."""
        client_id = self.headers.get("clientId")  # header lookup ignores case
        if not client_id:
            return self.error(401, "ConnectWiseApi", "ClientId is required")
        if client_id != self.config["clientId"]:
            return self.error(401, "ConnectWiseApi", "Invalid clientId")
        authorization = self.headers.get("Authorization")
        if authorization:
            return self.basic_principal(authorization)
        if set(self.cookies()) & {"companyname", "memberhash", "memberid", "membercontext"}:
            return self.cookie_principal()
        # Manage sends some 401s with no body at all.
        return self.answer(401)

    def basic_principal(self, authorization):
        parts = decode_basic(authorization)
        if parts is None:
            return self.error(401, "ConnectWiseApi", "UserNotAuthenticated")
        company, public, private = parts
        credential = next((c for c in self.config["credentials"]
                           if c["company"].lower() == company.lower()
                           and c["publicKey"] == public and c["privateKey"] == private), None)
        if credential is not None:
            if credential.get("forbidden"):
                return self.error(403, "Security",
                                  "You do not have security permission to perform this action.")
            return {"kind": "key", "company": credential["company"], "credential": credential}
        token = self.state.find_token(company, public, private)
        if token is None or token["expires"] <= time.time():
            return self.error(401, "ConnectWiseApi", "UserNotAuthenticated")
        return {"kind": "token", "company": token["company"], "member": token["member"]}

    def cookie_principal(self):
        """The four cookies of a web login; the hash must be one issued to
        that member of that company."""
        jar = self.cookies()
        session = self.state.session(jar.get("memberhash", ""))
        if (session is None or jar.get("membercontext", "").lower() != "web"
                or jar.get("companyname", "").lower() != session["company"].lower()
                or jar.get("memberid", "").lower() != session["username"].lower()):
            return self.error(401, "ConnectWiseApi", "UserNotAuthenticated")
        return {"kind": "cookie", "company": session["company"], "member": session["username"]}

    def cookies(self):
        """Cookie names lower-cased (ASP.NET ignores their case), values decoded."""
        jar = {}
        for header in self.headers.get_all("Cookie") or []:
            for part in header.split(";"):
                name, equals, value = part.strip().partition("=")
                if equals and name:
                    jar.setdefault(name.lower(), unquote(value.strip().strip('"')))
        return jar

    # --- API routes ----------------------------------------------------------

    def system_info(self, principal, codebase_company):
        """GET system/info: the server's version, as clients validate a connection."""
        companies = {k.lower(): v for k, v in self.config["companies"].items()}
        company = companies.get(principal["company"].lower(),
                                self.config["companies"][codebase_company])
        year, minor, _ = self.version_parts()
        self.answer(200, {
            "version": self.config["version"], "isCloud": bool(company.get("isCloud")),
            "serverTimeZone": "Eastern Standard Time", "cloudRegion": "NA",
            "licenseBits": [{"activeFlag": True, "name": "Stand-in"}],
        }, extra=[("api-current-version", f"{year}.{minor}")])

    def system_echo(self, principal, _codebase_company):
        """ANY system/echo: not a Manage route; shows a request as it arrived
        behind the API's authentication, and who it authenticated as."""
        self.answer(200, {
            "method": self.command, "path": self.url_path, "query": self.query,
            "params": [[k, v] for k, v in parse_qsl(self.query, keep_blank_values=True)],
            "headers": [[n, v] for n, v in self.headers.items()], "body": self.body,
            "auth": {k: principal.get(k) for k in ("kind", "company", "member")},
        })

    def member_tokens(self, principal, _codebase_company, member):
        """POST system/members/{member}/tokens: an API key with the right to
        impersonate gets a key pair that acts as that member until it expires."""
        usertype = self.headers.get("x-cw-usertype")
        if usertype is None:
            raise Invalid("x-cw-usertype header is required", field="x-cw-usertype")
        if usertype.lower() != "member":
            raise Invalid("x-cw-usertype must be member", field="x-cw-usertype")
        if principal["kind"] != "key":
            return self.error(403, "Security", "Only an API member may request member tokens.")
        if not principal["credential"].get("canImpersonate", True):
            return self.error(403, "Security", "This API member may not impersonate other members.")
        body = self.json_body(resource="memberTokens", optional=True)
        named = body.get("memberIdentifier") if isinstance(body, dict) else None
        if named is not None and str(named).lower() != member.lower():
            raise Invalid("memberIdentifier does not match the member in the URL",
                          field="memberIdentifier", resource="memberTokens")
        known = next((m for m in self.config["members"] if m.lower() == member.lower()), None)
        if known is None:
            return self.error(404, "NotFound", f"Member '{member}' was not found")
        token = self.state.issue_token(principal["company"], known,
                                       self.config["tokenLifetimeSeconds"])
        self.answer(200, {
            "publicKey": token["publicKey"], "privateKey": token["privateKey"],
            "expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(token["expires"])),
        })

    def list_tickets(self, _principal, _codebase_company):
        """GET service/tickets: a collection filtered by `conditions` and paged
        by page number, or with `pagination-type: forward-only` by the id to
        continue after; the Link header names the other pages."""
        tickets = self.matching_tickets()
        size = int_param(self.params(), "pageSize", 25, 1, MAX_PAGE_SIZE)
        if self.headers.get("pagination-type", "").lower() == "forward-only":
            page, links = self.forward_page(tickets, size)
        else:
            page, links = self.numbered_page(tickets, size)
        self.answer(200, page, extra=[("Link", ", ".join(links))] if links else [])

    def numbered_page(self, tickets, size):
        number = int_param(self.params(), "page", 1, 1)
        last = max(1, math.ceil(len(tickets) / size))
        links = []
        drop = {"page", "pagesize"}
        if number > 1:
            links.append(f'<{self.link(drop, page=1, pageSize=size)}>; rel="first"')
            links.append(f'<{self.link(drop, page=number - 1, pageSize=size)}>; rel="prev"')
        if number < last:
            links.append(f'<{self.link(drop, page=number + 1, pageSize=size)}>; rel="next"')
            links.append(f'<{self.link(drop, page=last, pageSize=size)}>; rel="last"')
        return tickets[(number - 1) * size:number * size], links

    def forward_page(self, tickets, size):
        after = int_param(self.params(), "pageId", 0, 0)
        rest = [t for t in tickets if t["id"] > after]
        page = rest[:size]
        # Forward-only paging always names a next page; an empty one ends it.
        following = ""
        if len(rest) > size:
            following = self.link({"page", "pageid", "pagesize"},
                                  pageId=page[-1]["id"], pageSize=size)
        return page, [f'<{following}>; rel="next"']

    def count_tickets(self, _principal, _codebase_company):
        """GET service/tickets/count: how many match the conditions."""
        self.answer(200, {"count": len(self.matching_tickets())})

    def get_ticket(self, _principal, _codebase_company, ticket_id):
        """GET service/tickets/{id}: one ticket, or 404."""
        found = next((t for t in self.state.tickets(self.config)
                      if ticket_id.isdigit() and t["id"] == int(ticket_id)), None)
        if found is None:
            return self.error(404, "NotFound", f"Ticket with id {ticket_id} was not found")
        self.answer(200, found)

    def create_ticket(self, _principal, _codebase_company):
        """POST service/tickets: 201 with the ticket as stored, with its new id."""
        fields = self.json_body(resource="ticket")
        if not isinstance(fields.get("summary"), str) or not fields["summary"].strip():
            raise Invalid("The summary field is required.", field="summary", resource="ticket",
                          code="NullValue", summary="ticket object is invalid")
        self.answer(201, self.state.create_ticket(self.config, fields))

    # --- helpers for the routes ----------------------------------------------

    def params(self):
        return parse_qsl(self.query, keep_blank_values=True)

    def matching_tickets(self):
        tickets = self.state.tickets(self.config)
        conditions = param(self.params(), "conditions")
        if not conditions:
            return tickets
        test = ConditionParser(conditions).parse()
        return [t for t in tickets if test(t)]

    def json_body(self, resource, optional=False):
        """The body as a JSON object; `optional` allows an empty body ({})."""
        if optional and not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except ValueError:
            raise Invalid("The request body is not valid JSON.", resource=resource,
                          code="InvalidJson", summary=f"{resource} object is invalid") from None
        if not isinstance(value, dict):
            raise Invalid("The request body must be a JSON object.", resource=resource,
                          code="InvalidJson", summary=f"{resource} object is invalid")
        return value

    def link(self, drop, **params):
        """An absolute URL to this path on the Host asked, with the query's
        other parameters as they came (still encoded) and `params` added."""
        kept = [pair for pair in self.query.split("&")
                if pair and unquote_plus(pair.partition("=")[0]).lower() not in drop]
        query = "&".join(kept + [f"{k}={v}" for k, v in params.items()])
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        return f"https://{host}{self.url_path}?{query}"


def param(pairs, name):
    """The first value of a query parameter, names compared without case."""
    return next((v for k, v in pairs if k.lower() == name.lower()), None)


def int_param(pairs, name, default, minimum, maximum=None):
    raw = param(pairs, name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"-?\d+", raw.strip()):
        raise Invalid(f"{name} must be an integer", field=name)
    value = int(raw)
    if value < minimum:
        raise Invalid(f"{name} must be at least {minimum}", field=name)
    if maximum is not None and value > maximum:
        raise Invalid(f"{name} may not be greater than {maximum}", field=name)
    return value


def decode_basic(authorization):
    """(company, public, private) from `Basic base64(company+public:private)`."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, private = decoded.partition(":")
    company, _, public = user.partition("+")
    return company, public, private


# --- the `conditions` language, as far as tickets need it ------------------------

TOKEN = re.compile(r'\s*(?:(?P<number>-?\d+)|"(?P<string>(?:[^"\\]|\\.)*)"'
                   r'|(?P<op>>=|<=|!=|=|<|>|\(|\))|(?P<word>[A-Za-z_]\w*))')
FIELDS = {"id": int, "summary": str}
COMPARE = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "contains": lambda a, b: b in a,
    "like": lambda a, b: re.fullmatch(".*".join(map(re.escape, b.split("*"))), a) is not None,
}


def _both(a, b):
    return lambda item: a(item) and b(item)


def _either(a, b):
    return lambda item: a(item) or b(item)


class ConditionParser:
    """Comparisons such as `id>10`, `summary="Ticket 3"`, `summary like "T*"`,
    joined by `and`/`or` (and before or) and grouped by parentheses. Strings
    compare without case, as Manage's database does."""

    def __init__(self, text):
        self.text = text
        self.tokens = []
        position = 0
        while text[position:].strip():
            match = TOKEN.match(text, position)
            if match is None:
                self.fail()
            self.tokens.append((match.lastgroup, match.group(match.lastgroup)))
            position = match.end()

    def fail(self):
        raise Invalid(f"conditions is invalid: {self.text}", field="conditions")

    def take(self, kind=None, *values):
        if not self.tokens:
            self.fail()
        token_kind, value = self.tokens[0]
        if (kind and token_kind != kind) or (values and value.lower() not in values):
            self.fail()
        return self.tokens.pop(0)[1]

    def peek(self, *values):
        return bool(self.tokens) and self.tokens[0][1].lower() in values

    def parse(self):
        test = self.disjunction()
        if self.tokens:
            self.fail()
        return test

    def disjunction(self):
        test = self.conjunction()
        while self.peek("or"):
            self.take()
            test = _either(test, self.conjunction())
        return test

    def conjunction(self):
        test = self.factor()
        while self.peek("and"):
            self.take()
            test = _both(test, self.factor())
        return test

    def factor(self):
        if self.peek("("):
            self.take()
            test = self.disjunction()
            self.take("op", ")")
            return test
        return self.comparison()

    def comparison(self):
        field = self.take("word").lower()
        if field not in FIELDS:
            raise Invalid(f"Unknown field {field} in conditions", field="conditions")
        op = self.take().lower()
        if op not in COMPARE:
            self.fail()
        kind, raw = self.tokens.pop(0) if self.tokens else self.fail()
        value = int(raw) if kind == "number" else re.sub(r"\\(.)", r"\1", raw)
        if (kind == "number") != (FIELDS[field] is int) or kind not in ("number", "string"):
            self.fail()
        if FIELDS[field] is int and op in ("contains", "like"):
            self.fail()
        compare = COMPARE[op]
        if FIELDS[field] is str:
            return lambda item: compare(str(item.get(field, "")).lower(), value.lower())
        return lambda item: compare(item.get(field), value)
