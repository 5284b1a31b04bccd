"""Flask-JWT-Extended side of the interop tests (driven by tests/support/flask.rs).

Reads {"secret": ..., "identity": ..., "tokens": [...]} on stdin; decodes each token with
flask_jwt_extended.decode_token, creates tokens of its own for the identity, and prints one
JSON object. With {"algorithm": ..., "public_key": <PEM>} instead of a secret it only
decodes, with that public key (JWT_ALGORITHM, JWT_PUBLIC_KEY).
"""
import json
import sys
from datetime import timedelta

from flask import Flask
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    decode_token,
    get_unverified_jwt_headers,
)

request = json.load(sys.stdin)
app = Flask(__name__)
if "public_key" in request:
    app.config["JWT_ALGORITHM"] = request["algorithm"]
    app.config["JWT_PUBLIC_KEY"] = request["public_key"]
else:
    app.config["JWT_SECRET_KEY"] = request["secret"]
JWTManager(app)

with app.app_context():
    decoded = []
    for token in request["tokens"]:
        try:
            decoded.append(
                {"claims": decode_token(token), "header": get_unverified_jwt_headers(token)}
            )
        except Exception as e:  # reported to the Rust side, which fails the test
            decoded.append({"error": f"{type(e).__name__}: {e}"})
    identity = request.get("identity", "7")
    created = {} if "public_key" in request else {
        "access": create_access_token(identity=identity),
        "fresh": create_access_token(identity=identity, fresh=True),
        "fresh_for": create_access_token(identity=identity, fresh=timedelta(minutes=5)),
        "refresh": create_refresh_token(identity=identity),
        "extra": create_access_token(
            identity=identity,
            additional_claims={"role": "admin", "perms": [1, 2]},
            additional_headers={"kid": "k1"},
        ),
        "expired": create_access_token(identity=identity, expires_delta=timedelta(seconds=-5)),
    }

print(json.dumps({"decoded": decoded, "created": created}))
