"""Flask-JWT-Extended in cookie mode, for the interop tests (driven by tests/interop).

Reads {"secret": ..., "access": ..., "access_csrf": ..., "refresh": ..., "refresh_csrf": ...}
on stdin: tokens issued by tower-jwt-auth and the CSRF values of its cookies. Sends them as
cookies to a Flask app with JWT_TOKEN_LOCATION = ["cookies"] (CSRF protection on, the
defaults), with the right, a wrong and no X-CSRF-TOKEN header, and records each answer. Then
logs in on that app and prints the Set-Cookie headers Flask-JWT-Extended wrote.
"""
import json
import sys

from flask import Flask, jsonify
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    get_jwt_identity,
    jwt_required,
    set_access_cookies,
    set_refresh_cookies,
)

request = json.load(sys.stdin)
app = Flask(__name__)
app.config["JWT_SECRET_KEY"] = request["secret"]
app.config["JWT_TOKEN_LOCATION"] = ["cookies"]
JWTManager(app)


@app.route("/protected", methods=["POST"])
@jwt_required()
def protected():
    return jsonify(identity=get_jwt_identity())


@app.route("/refresh", methods=["POST"])
@jwt_required(refresh=True)
def refresh():
    return jsonify(identity=get_jwt_identity())


@app.route("/login", methods=["POST"])
def login():
    resp = jsonify(login=True)
    set_access_cookies(resp, create_access_token(identity="7"))
    set_refresh_cookies(resp, create_refresh_token(identity="7"))
    return resp


def answer(response):
    return {"status": response.status_code, "json": response.get_json()}


results = {}
for kind, url, cookie in [
    ("access", "/protected", "access_token_cookie"),
    ("refresh", "/refresh", "refresh_token_cookie"),
]:
    for case, header in [
        ("right", request[kind + "_csrf"]),
        ("wrong", "not-the-csrf-value"),
        ("none", None),
    ]:
        client = app.test_client()
        client.set_cookie(cookie, request[kind])
        headers = {"X-CSRF-TOKEN": header} if header is not None else {}
        results[f"{kind}_{case}"] = answer(client.post(url, headers=headers))

login = app.test_client().post("/login")
print(json.dumps({"results": results, "set_cookie": login.headers.getlist("Set-Cookie")}))
