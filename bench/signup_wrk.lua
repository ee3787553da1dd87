-- wrk script of bench/signup.py: GET the page, or POST sign-ups each with a new address.
-- Env: MODE (get | form | api), EMAIL_PREFIX (unique per run), and for form: COOKIE,
-- CSRF_TOKEN; for form and api: CONSENT_VERSION; for api: ORIGIN. CLOSE=1: no keep-alive.
-- done() prints "statuses 2xx=N other=M" counted over every thread.
local mode = os.getenv("MODE") or "get"
local prefix = os.getenv("EMAIL_PREFIX") or "bench"
local close = os.getenv("CLOSE") == "1"  -- a new connection per request, as behind a proxy
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local sent = 0
ok = 0
other = 0

local function address()
  sent = sent + 1
  return prefix .. "-" .. tostring(tid) .. "-" .. tostring(sent) .. "@bench.example"
end

local function headers(fields)
  if close then
    fields["Connection"] = "close"
  end
  return fields
end

function request()
  if mode == "form" then
    local body = "csrf_token=" .. os.getenv("CSRF_TOKEN") .. "&consent_version=" .. os.getenv("CONSENT_VERSION") ..
        "&website=&email=" .. address():gsub("@", "%%40")
    return wrk.format("POST", nil, headers({
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Cookie"] = os.getenv("COOKIE"),
      ["Accept-Language"] = "de",
    }), body)
  elseif mode == "api" then
    local body = '{"email": "' .. address() .. '", "consent_version": "' .. os.getenv("CONSENT_VERSION") .. '"}'
    return wrk.format("POST", nil, headers({
      ["Content-Type"] = "application/json",
      ["Origin"] = os.getenv("ORIGIN"),
    }), body)
  end
  return wrk.format("GET", nil, headers({ ["Accept-Language"] = "de" }))
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local total_ok, total_other = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_other = total_other + thread:get("other")
  end
  io.write(string.format("statuses 2xx=%d other=%d\n", total_ok, total_other))
end
