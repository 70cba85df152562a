"""moto_server with the fixes AuthDomain's tests need, each a gap between moto and AWS.

Run like `moto_server`: python3 tests/moto_server.py -H 127.0.0.1 -p PORT

Always on:
- Lambda: moto accepts `KMSKeyArn` on create_function / update_function_configuration but
  never returns it; AWS does (GetFunction -> Configuration.KMSKeyArn). Without it every plan
  would see the customer-managed key as missing.
- RDS: moto forces `HttpEndpointEnabled` to false for Aurora Serverless v2 and does not
  implement EnableHttpEndpoint; AWS enables the Data API on such clusters.
- API Gateway v2: moto has no GetAuthorizers (AWS lists an API's authorizers, paged with
  `nextToken`); its UpdateRoute cannot clear `authorizationScopes` with an empty list and
  keeps `authorizerId` when `authorizationType` becomes NONE, where AWS clears both (a route
  without authorization has no authorizer and no scopes).
- API Gateway (REST): moto has no UpdateMethod; AWS applies its JSON-Patch-style
  `patchOperations` (`replace /authorizationType`, `replace /authorizerId`) to the method.
- Policy conditions: moto evaluates only `StringEquals` and treats every other operator as
  met, treats a statement whose condition is not met as a Deny (AWS: the statement does not
  apply), and sets no `aws:SecureTransport`; so a TLS-only bucket policy (`Deny` when
  `aws:SecureTransport` is false) refused every request. Here `Bool`, `StringEquals`,
  `StringNotEquals` and `StringLike` (and their `IfExists` forms) are evaluated as AWS does,
  a statement whose condition is not met does not apply, and requests carry
  `aws:SecureTransport` true: moto listens on plain HTTP on loopback, where the product's S3
  requests are HTTPS (`read_model::object`'s unit test checks the URL it builds without an
  endpoint override).

Per account, when a test asks for them (a JSON file `<account>.json` in the directory named
by AUTHDOMAIN_MOTO_HOOKS_DIR; moto itself cannot run a function or execute SQL):
- `"lambda_invoke": {"<function name>": "<URL>"}`: Invoke of that function POSTs the payload
  to the URL (a Lambda runtime emulator running the real binary, such as `cargo lambda
  watch`) and returns its answer.
- `"psql": "<libpq connection string>"`: rds-data ExecuteStatement runs the SQL on that
  PostgreSQL server with psql and returns its records.
"""

import csv
import fnmatch
import io
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

from moto.apigateway import responses as rest_responses
from moto.apigatewayv2 import models as apigw_models
from moto.apigatewayv2 import responses as apigw_responses
from moto.awslambda import models
from moto.core.exceptions import JsonRESTError
from moto.iam import access_control
from moto.core.responses import ActionResult
from moto.rds import models as rds_models
from moto.rds import responses as rds_responses
from moto.rdsdata import responses as rdsdata_responses
from moto.server import main

# --- Policy conditions ------------------------------------------------------------------

_statement_permitted = access_control.IAMPolicyStatement.is_action_permitted


def _condition_met(condition, values):
    """AWS's evaluation of a Condition block for the operators our policies use: every key
    of every operator must match; a missing key fails unless the operator ends with
    IfExists. An operator moto does not know is left to moto (ignored)."""
    for op, keys in condition.items():
        if_exists = op.endswith("IfExists")
        base = op[: -len("IfExists")] if if_exists else op
        for key, expected in keys.items():
            expected = expected if isinstance(expected, list) else [expected]
            actual = values.get(key)
            if actual is None:
                if if_exists:
                    continue
                return False
            if base == "Bool":
                ok = any(str(e).lower() == str(actual).lower() for e in expected)
            elif base == "StringEquals":
                ok = actual in expected
            elif base == "StringNotEquals":
                ok = actual not in expected
            elif base == "StringLike":
                ok = any(fnmatch.fnmatchcase(actual, e) for e in expected)
            else:
                continue
            if not ok:
                return False
    return True


def _patched_statement_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
    condition = self._statement.get("Condition")
    if not condition:
        return _statement_permitted(self, action, resource, principal, incoming_condition_values)
    values = dict(incoming_condition_values or {})
    values.setdefault("aws:SecureTransport", "true")
    if not _condition_met(condition, values):
        return access_control.PermissionResult.NEUTRAL
    unconditional = {k: v for k, v in self._statement.items() if k != "Condition"}
    return _statement_permitted(access_control.IAMPolicyStatement(unconditional), action, resource, principal, values)


access_control.IAMPolicyStatement.is_action_permitted = _patched_statement_permitted

# --- Lambda: KMSKeyArn -------------------------------------------------------------------

_init = models.LambdaFunction.__init__
_configuration = models.LambdaFunction.get_configuration
_update = models.LambdaFunction.update_configuration


def _patched_init(self, account_id, spec, region, version=1):
    _init(self, account_id, spec, region, version)
    self.authdomain_kms_key_arn = spec.get("KMSKeyArn") or None


def _patched_configuration(self, on_create=False):
    config = _configuration(self, on_create)
    key = getattr(self, "authdomain_kms_key_arn", None)
    if key:
        config["KMSKeyArn"] = key
    return config


def _patched_update(self, config_updates):
    if "KMSKeyArn" in config_updates:
        self.authdomain_kms_key_arn = config_updates["KMSKeyArn"] or None
    return _update(self, config_updates)


models.LambdaFunction.__init__ = _patched_init
models.LambdaFunction.get_configuration = _patched_configuration
models.LambdaFunction.update_configuration = _patched_update

# --- RDS: the Data API flag -----------------------------------------------------------------

rds_models.DBCluster.enable_http_endpoint = property(
    lambda self: getattr(self, "_authdomain_http_endpoint", False),
    lambda self, value: setattr(self, "_authdomain_http_endpoint", bool(value)),
)


def _set_http_endpoint(self, enabled):
    arn = self._get_param("ResourceArn")
    for cluster in self.backend.clusters.values():
        if cluster.db_cluster_arn == arn:
            cluster._authdomain_http_endpoint = enabled
            return ActionResult({"ResourceArn": arn, "HttpEndpointEnabled": enabled})
    raise rds_models.DBClusterNotFoundError(arn)


rds_responses.RDSResponse.enable_http_endpoint = lambda self: _set_http_endpoint(self, True)
rds_responses.RDSResponse.disable_http_endpoint = lambda self: _set_http_endpoint(self, False)

# --- API Gateway v2: GetAuthorizers, clearing a route's authorization ----------------------


def _get_authorizers(self):
    api_id = self.path.split("/")[-2]
    api = self.apigatewayv2_backend.get_api(api_id)
    items = [a.to_json() for a in api.authorizers.values()]
    return 200, {}, json.dumps({"items": items})


apigw_responses.ApiGatewayV2Response.get_authorizers = _get_authorizers

_route_update = apigw_models.Route.update


def _patched_route_update(self, **kwargs):
    _route_update(self, **kwargs)
    if kwargs.get("authorization_scopes") == []:
        self.authorization_scopes = []
    if kwargs.get("authorization_type") == "NONE":
        self.authorizer_id = None
        self.authorization_scopes = []


apigw_models.Route.update = _patched_route_update

# --- API Gateway (REST): UpdateMethod -----------------------------------------------------

_METHOD_FIELDS = {
    "/authorizationType": "authorization_type",
    "/authorizerId": "authorizer_id",
    "/apiKeyRequired": "api_key_required",
    "/operationName": "operation_name",
}


def _update_method(self):
    parts = self.path.split("/")
    api_id, resource_id, method_type = parts[2], parts[4], parts[6]
    method = self.backend.get_method(api_id, resource_id, method_type)
    for op in json.loads(self.body or "{}").get("patchOperations", []):
        field = _METHOD_FIELDS.get(op.get("path"))
        if field is None:
            raise JsonRESTError("BadRequestException", f"Invalid patch path {op.get('path')}")
        value = op.get("value") if op.get("op") in ("replace", "add") else None
        if field == "api_key_required" and value is not None:
            value = str(value).lower() == "true"
        setattr(method, field, value or None if field == "authorizer_id" else value)
    if method.authorization_type == "NONE":
        method.authorizer_id = None
    return 200, {}, json.dumps(method.to_json())


rest_responses.APIGatewayResponse.update_method = _update_method

# --- Per-account hooks ----------------------------------------------------------------------


def _hooks(account_id):
    directory = os.environ.get("AUTHDOMAIN_MOTO_HOOKS_DIR")
    if not directory:
        return {}
    try:
        with open(os.path.join(directory, f"{account_id}.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


_invoke = models.LambdaFunction.invoke


def _patched_invoke(self, body, request_headers, response_headers):
    url = _hooks(self.account_id).get("lambda_invoke", {}).get(self.function_name)
    if url is None:
        return _invoke(self, body, request_headers, response_headers)
    request = urllib.request.Request(
        url,
        data=(body or "{}").encode() if isinstance(body, str) else (body or b"{}"),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            payload = response.read()
            error = response.headers.get("X-Amz-Function-Error")
    except urllib.error.HTTPError as e:
        payload, error = e.read(), "Unhandled"
    if error:
        response_headers["x-amz-function-error"] = error
    return payload


models.LambdaFunction.invoke = _patched_invoke

_NULL = "\x01NULL\x01"
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")  # :name, not ::cast
_LONG = {"smallint", "integer", "bigint", "oid"}
_DOUBLE = {"real", "double precision"}


def _psql(conn, database, script):
    target = conn + (f" dbname={database}" if database else "")
    proc = subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1", "--csv", "-P", f"null={_NULL}", target],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip())
    return proc.stdout


def _bind(sql, parameters):
    values = {}
    for p in parameters or []:
        v = p.get("value", {})
        if v.get("isNull"):
            literal = "NULL"
        elif "stringValue" in v:
            literal = "'" + v["stringValue"].replace("'", "''") + "'"
        elif "longValue" in v:
            literal = str(int(v["longValue"]))
        elif "doubleValue" in v:
            literal = repr(float(v["doubleValue"]))
        elif "booleanValue" in v:
            literal = "TRUE" if v["booleanValue"] else "FALSE"
        else:
            raise JsonRESTError("BadRequestException", f"unsupported parameter value {v}")
        values[p["name"]] = literal
    return _PARAM.sub(lambda m: values.get(m.group(1), m.group(0)), sql)


def _field(text, pgtype):
    if text == _NULL:
        return {"isNull": True}
    if pgtype in _LONG:
        return {"longValue": int(text)}
    if pgtype in _DOUBLE:
        return {"doubleValue": float(text)}
    if pgtype == "boolean":
        return {"booleanValue": text == "t"}
    return {"stringValue": text}


_execute_statement = rdsdata_responses.RDSDataServiceResponse.execute_statement


def _patched_execute_statement(self):
    conn = _hooks(self.current_account).get("psql")
    if conn is None:
        return _execute_statement(self)
    sql = _bind(self._get_param("sql"), self._get_param("parameters")).rstrip().rstrip(";")
    database = self._get_param("database")
    try:
        described = list(csv.reader(io.StringIO(_psql(conn, database, sql + " \\gdesc\n"))))
        types = [row[1] for row in described[1:]] if described[:1] == [["Column", "Type"]] else []
        out = _psql(conn, database, sql + ";\n")
    except RuntimeError as err:
        raise JsonRESTError("BadRequestException", str(err))
    result = {"numberOfRecordsUpdated": 0}
    if types:
        rows = list(csv.reader(io.StringIO(out)))
        result["records"] = [[_field(c, t) for c, t in zip(r, types)] for r in rows[1:]]
    else:
        tag = out.strip().splitlines()[-1] if out.strip() else ""
        m = re.match(r"^(INSERT \d+|UPDATE|DELETE|MERGE|COPY) (\d+)$", tag)
        if m:
            result["numberOfRecordsUpdated"] = int(m.group(2))
    return json.dumps(result)


rdsdata_responses.RDSDataServiceResponse.execute_statement = _patched_execute_statement

if __name__ == "__main__":
    sys.exit(main())
