"""An OPC UA server written with asyncua (Python), a peer Millwright did not write.

Serves the variables listed in a JSON spec under Objects/Press7 (namespace urn:interop:plc),
one per OPC UA type, and prints `PORT <n>` once it listens on 127.0.0.1. With `--secure`, its
only endpoint is Basic256Sha256 SignAndEncrypt and it accepts only the user and password given;
otherwise it offers None as well and allows anonymous sessions. It stops when its standard
input closes, so it never outlives the test that started it.

    opcua_server.py SPEC.json CERT_DIR [--secure USER PASSWORD]
"""

import asyncio
import datetime
import json
import logging
import socket
import sys
from pathlib import Path

from asyncua import Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from cryptography.x509.oid import ExtendedKeyUsageOID

NAMESPACE = "urn:interop:plc"
APP_URI = "urn:interop:plc:server"


class OneUser:
    """Accepts exactly one user name and password."""

    def __init__(self, user, password):
        self.user, self.password = user, password

    def get_user(self, iserver, username=None, password=None, certificate=None):
        if username == self.user and password == self.password:
            return User(role=UserRole.User, name=username)
        return None


def variant(kind, value):
    """The OPC UA value of a spec entry, typed as the spec says."""
    if kind == "DateTime":
        return ua.Variant(datetime.datetime.fromisoformat(value), ua.VariantType.DateTime)
    if kind == "LocalizedText":
        return ua.Variant(ua.LocalizedText(value, "en"), ua.VariantType.LocalizedText)
    return ua.Variant(value, getattr(ua.VariantType, kind))


async def main():
    logging.basicConfig(level=logging.CRITICAL)
    spec = json.loads(Path(sys.argv[1]).read_text())
    certs = Path(sys.argv[2])
    certs.mkdir(parents=True, exist_ok=True)
    secure = len(sys.argv) > 3 and sys.argv[3] == "--secure"

    # A free port chosen by the system, released just before the server binds it.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    server = Server(user_manager=OneUser(sys.argv[4], sys.argv[5]) if secure else None)
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/interop/")
    server.set_server_name("Interop PLC 7")
    await server.set_application_uri(APP_URI)
    key, cert = certs / "server-key.pem", certs / "server-cert.der"
    await setup_self_signed_certificate(
        key, cert, APP_URI, "127.0.0.1",
        [ExtendedKeyUsageOID.SERVER_AUTH], {"commonName": "Interop PLC 7"},
    )
    await server.load_certificate(str(cert))
    await server.load_private_key(str(key))
    if secure:
        server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
        server.set_identity_tokens([ua.UserNameIdentityToken])
    else:
        server.set_security_policy([
            ua.SecurityPolicyType.NoSecurity,
            ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
        ])
    ns = await server.register_namespace(NAMESPACE)
    press = await server.nodes.objects.add_object(ua.NodeId("Press7", ns), ua.QualifiedName("Press7", ns))
    for entry in spec:
        v = variant(entry["type"], entry["value"])
        await press.add_variable(ua.NodeId(entry["name"], ns), ua.QualifiedName(entry["name"], ns), v)
    async with server:
        print(f"PORT {port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
