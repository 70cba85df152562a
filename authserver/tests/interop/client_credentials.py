"""Interop check: get a token from an AuthDomain auth server with a third-party OAuth client
(authlib) and verify it against the published JWKS with a third-party JOSE library (PyJWT).

Prints one JSON object on success; exits non-zero with the reason otherwise.
"""
import argparse
import json
import sys

import authlib
import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--issuer", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret")
    p.add_argument("--private-key-pem", help="PEM file: authenticate with private_key_jwt (RS256)")
    p.add_argument("--scope", default="read")
    p.add_argument("--audience", required=True)
    p.add_argument("--alg", required=True)
    a = p.parse_args()

    # Discovery, as a client library user would start.
    meta = requests.get(a.issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=10).json()
    assert meta["issuer"] == a.issuer, meta
    token_url = meta["token_endpoint"]

    if a.private_key_pem:
        with open(a.private_key_pem) as f:
            key = f.read()
        session = OAuth2Session(a.client_id, key, token_endpoint_auth_method="private_key_jwt", scope=a.scope)
        session.register_client_auth_method(PrivateKeyJWT(token_url, alg="RS256"))
    else:
        session = OAuth2Session(
            a.client_id, a.client_secret, token_endpoint_auth_method="client_secret_basic", scope=a.scope
        )
    token = session.fetch_token(token_url, grant_type="client_credentials")
    access_token = token["access_token"]

    header = jwt.get_unverified_header(access_token)
    if header.get("typ") != "at+jwt":
        print(f"typ is {header.get('typ')!r}, expected 'at+jwt'", file=sys.stderr)
        return 1
    signing_key = jwt.PyJWKClient(meta["jwks_uri"]).get_signing_key_from_jwt(access_token)
    claims = jwt.decode(
        access_token,
        signing_key.key,
        algorithms=[a.alg],
        audience=a.audience,
        issuer=a.issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )
    print(json.dumps({
        "header": header,
        "claims": claims,
        "token_type": token["token_type"],
        "libraries": {"authlib": authlib.__version__, "pyjwt": jwt.__version__},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
