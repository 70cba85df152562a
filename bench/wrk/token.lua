-- wrk script: OAuth 2.0 client_credentials token requests.
--
-- Usage:
--   wrk -t2 -c32 -d10s --latency -s bench/wrk/token.lua URL -- PATH CLIENT_ID CLIENT_SECRET [BODY]
--
--   PATH           token endpoint path: /oauth2/token (ours), /token (oidc-provider)
--   CLIENT_ID      client id,     sent with CLIENT_SECRET as HTTP Basic auth
--   CLIENT_SECRET  client secret
--   BODY           form body, default grant_type=client_credentials&scope=read
--
-- Env fallbacks when an argument is missing: TOKEN_PATH, CLIENT_ID, CLIENT_SECRET,
-- TOKEN_BODY.
--
-- After the run it prints, besides wrk's own report:
--   non200 <count>              responses whose status was not 200
--   status <code> <count>       one line per non-200 status seen
--   socket_errors connect=.. read=.. write=.. timeout=..
-- so a benchmark can check for "non200 0" and all-zero socket errors.

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = math.floor(n / 262144) % 64
    local c2 = math.floor(n / 4096) % 64
    local c3 = math.floor(n / 64) % 64
    local c4 = n % 64
    out[#out + 1] = b64chars:sub(c1 + 1, c1 + 1) .. b64chars:sub(c2 + 1, c2 + 1)
      .. (b and b64chars:sub(c3 + 1, c3 + 1) or "=")
      .. (c and b64chars:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end

-- Main-thread bookkeeping: every thread, so done() can add up their counters.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state).
local req
non200 = 0
statuses = {}

function init(args)
  local path = args[1] or os.getenv("TOKEN_PATH")
  local client_id = args[2] or os.getenv("CLIENT_ID")
  local client_secret = args[3] or os.getenv("CLIENT_SECRET")
  local body = args[4] or os.getenv("TOKEN_BODY") or "grant_type=client_credentials&scope=read"
  if not path or not client_id or not client_secret then
    error("usage: wrk ... -s token.lua URL -- PATH CLIENT_ID CLIENT_SECRET [BODY]")
  end
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = "Basic " .. base64(client_id .. ":" .. client_secret),
    ["Accept"] = "application/json",
  }
  req = wrk.format("POST", path, headers, body)
end

function request()
  return req
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  local by_status = {}
  for _, thread in ipairs(threads) do
    total = total + (thread:get("non200") or 0)
    local st = thread:get("statuses") or {}
    for code, n in pairs(st) do
      by_status[code] = (by_status[code] or 0) + n
    end
  end
  io.write(string.format("non200 %d\n", total))
  for code, n in pairs(by_status) do
    io.write(string.format("status %s %d\n", tostring(code), n))
  end
  -- Machine-readable figures for bench/tokens.sh.
  io.write(string.format("requests_per_sec %.1f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("latency_p50_ms %.3f\n", latency:percentile(50) / 1000))
  io.write(string.format("latency_p99_ms %.3f\n", latency:percentile(99) / 1000))
  local e = summary.errors
  io.write(string.format("socket_errors connect=%d read=%d write=%d timeout=%d\n",
    e.connect, e.read, e.write, e.timeout))
end
