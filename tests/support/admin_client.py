"""Calls example.v1.Admin/Hello (the tonic example's admin-only method) with the Python
grpcio client: without a token, with the demo user's and with the admin's; prints the
outcomes as JSON (driven by tests/examples/tonic_app.rs).

No .proto is compiled: the request is the empty message (no bytes) and the reply's one
field (`string msg = 1`) is read by hand.

Usage: admin_client.py HOST:PORT USER_TOKEN ADMIN_TOKEN
"""
import json
import sys

import grpc


def read_msg(data):
    """`HelloReply.msg` from its wire bytes: field 1, length-delimited."""
    if not data:
        return ""
    if data[0] != 0x0A:
        raise ValueError(f"unexpected field key {data[0]:#x}")
    length, shift, i = 0, 0, 1
    while True:
        byte = data[i]
        length |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            break
        shift += 7
    return data[i : i + length].decode("utf-8")


address, user, admin = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
with grpc.insecure_channel(address) as channel:
    hello = channel.unary_unary(
        "/example.v1.Admin/Hello",
        request_serializer=lambda _: b"",
        response_deserializer=read_msg,
    )
    for name, token in [("without", None), ("user", user), ("admin", admin)]:
        metadata = None if token is None else [("authorization", f"Bearer {token}")]
        try:
            reply = hello(None, metadata=metadata, timeout=10)
            out[name] = {"code": grpc.StatusCode.OK.name, "msg": reply}
        except grpc.RpcError as e:
            out[name] = {"code": e.code().name, "details": e.details()}
print(json.dumps(out))
