"""An outside issuer for the remote JWKS tests: PyJWT mints its tokens, and a small HTTP
server on a loopback port publishes its keys as a JWKS.

Prints `port <n>` once listening. Routes:
  GET  /jwks.json            the published keys (each request counted)
  GET  /.well-known/openid-configuration   discovery naming /jwks.json
  GET  /count                {"jwks": <requests of /jwks.json so far>}
  POST /key     {"kid", "alg"}            creates a key (RS256/PS256: RSA 2048, ES256: P-256)
  POST /publish {"kid"}                   publishes a created key
  POST /unpublish {"kid"}                 stops publishing it
  POST /mint    {"kid", "claims", "headers"?}   a token signed by that key (PyJWT)
  POST /verify  {"jwks_url", "token", "audience"?, "issuer"?}  PyJWKClient fetches a JWKS
                and verifies a token: {"claims"} or {"error"}
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

# The issuer its tokens carry: argv[1], or "self" for this server's own base URL (discovery).
ISSUER = sys.argv[1] if len(sys.argv) > 1 else "https://idp.example.test"
LOCK = threading.Lock()
KEYS = {}  # kid -> (alg, private key)
PUBLISHED = []  # kids in order
COUNT = {"jwks": 0}


def public_jwk(kid):
    alg, key = KEYS[kid]
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with LOCK:
            if self.path == "/jwks.json":
                COUNT["jwks"] += 1
                return self.reply(200, {"keys": [public_jwk(k) for k in PUBLISHED]})
            if self.path == "/.well-known/openid-configuration":
                host = "http://%s:%d" % self.server.server_address[:2]
                return self.reply(200, {"issuer": ISSUER, "jwks_uri": host + "/jwks.json"})
            if self.path == "/count":
                return self.reply(200, dict(COUNT))
        self.reply(404, {"msg": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        with LOCK:
            if self.path == "/key":
                alg = body["alg"]
                if alg in ("RS256", "PS256"):
                    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                else:
                    key = ec.generate_private_key(ec.SECP256R1())
                KEYS[body["kid"]] = (alg, key)
                return self.reply(200, {"kid": body["kid"]})
            if self.path == "/publish":
                if body["kid"] not in PUBLISHED:
                    PUBLISHED.append(body["kid"])
                return self.reply(200, {"published": PUBLISHED})
            if self.path == "/unpublish":
                PUBLISHED.remove(body["kid"])
                return self.reply(200, {"published": PUBLISHED})
            if self.path == "/mint":
                alg, key = KEYS[body["kid"]]
                headers = {"kid": body["kid"], **body.get("headers", {})}
                token = jwt.encode(body["claims"], key, algorithm=alg, headers=headers)
                return self.reply(200, {"token": token})
        if self.path == "/verify":
            try:
                client = jwt.PyJWKClient(body["jwks_url"])
                signing_key = client.get_signing_key_from_jwt(body["token"])
                header = jwt.get_unverified_header(body["token"])
                claims = jwt.decode(
                    body["token"],
                    signing_key.key,
                    algorithms=[header["alg"]],
                    audience=body.get("audience"),
                    issuer=body.get("issuer"),
                )
                return self.reply(200, {"claims": claims, "alg": header["alg"]})
            except Exception as e:  # reported to the Rust side, which fails the test
                return self.reply(200, {"error": "%s: %s" % (type(e).__name__, e)})
        self.reply(404, {"msg": "not found"})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if ISSUER == "self":
    ISSUER = "http://127.0.0.1:%d" % server.server_address[1]
print("port %d" % server.server_address[1], flush=True)
server.serve_forever()
