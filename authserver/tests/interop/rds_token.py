"""Reference RDS IAM authentication token from botocore (what `aws rds
generate-db-auth-token` uses), at a fixed time, for comparison with ours.

usage: rds_token.py HOST PORT USER REGION ACCESS_KEY SECRET_KEY SESSION_TOKEN UNIX_TIME
"""
import datetime
import sys

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

host, port, user, region, ak, sk, token, when = sys.argv[1:9]
fixed = datetime.datetime.fromtimestamp(int(when), datetime.timezone.utc).replace(tzinfo=None)
botocore.auth.get_current_datetime = lambda *a, **k: fixed

request = AWSRequest(method="GET", url=f"https://{host}:{port}/", data={"Action": "connect", "DBUser": user})
botocore.auth.SigV4QueryAuth(Credentials(ak, sk, token or None), "rds-db", region, expires=900).add_auth(request)
print(request.url[len("https://"):])
