-- wrk script for bench/case_submit.py.
-- Arguments (after wrk's "--"): MODE [CASES_FILE THREADS TOKEN]
--   submit: POST /api/v1/cases/<name>/submit/ with {"version": n}; CASES_FILE has one
--           "<secret_name> <version>" per line and thread i takes lines i, i+THREADS, ...
--           so no two requests submit the same case.
--   insert: POST /bench/insert/ (the minimal view).
-- Every response's status is counted; `done` prints one line "GDSI-BENCH {json}".

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1]
  non2xx, exhausted, cursor = 0, 0, 0
  requests_list = {}
  if mode == "submit" then
    local nthreads, token = tonumber(args[3]), args[4]
    local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Token " .. token}
    local index = 0
    for line in io.lines(args[2]) do
      if index % nthreads == id then
        local name, version = line:match("^(%S+) (%d+)$")
        local path = "/api/v1/cases/" .. name .. "/submit/"
        local body = '{"version": ' .. version .. '}'
        table.insert(requests_list, wrk.format("POST", path, headers, body))
      end
      index = index + 1
    end
  else
    local headers = {["Content-Type"] = "application/json"}
    requests_list[1] = wrk.format("POST", "/bench/insert/", headers, '{"version": 1}')
  end
end

function request()
  if mode ~= "submit" then
    return requests_list[1]
  end
  cursor = cursor + 1
  if cursor > #requests_list then
    -- Out of drafts: this request resubmits a case, is refused, and the run is invalid.
    exhausted = exhausted + 1
    cursor = 1
  end
  return requests_list[cursor]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local non2xx_total, exhausted_total = 0, 0
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + thread:get("non2xx")
    exhausted_total = exhausted_total + thread:get("exhausted")
  end
  local e = summary.errors
  io.write(string.format(
    'GDSI-BENCH {"requests": %d, "duration_us": %d, "non2xx": %d, "exhausted": %d, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, non2xx_total, exhausted_total,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
