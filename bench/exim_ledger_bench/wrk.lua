-- Single-event posts where each deal has at most one request in flight: a thread takes a
-- deal from its free list for each request and puts it back when the response names it.
-- The bench writes DEALS (one list per thread), TOKEN and PREFIX above this text.
local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  table.insert(threads, thread)
  next_id = next_id + 1
end

function init(args)
  free = {}
  for _, deal in ipairs(DEALS[id]) do table.insert(free, deal) end
  owned, turn, sent, reused = DEALS[id], 0, 0, 0
  statuses = {}  -- answers other than 201, by status
  headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. TOKEN}
end

function request()
  local deal = table.remove(free)
  if deal == nil then
    -- every deal of this thread is in flight or lost to an error response: reuse in turn
    turn = turn % #owned + 1
    deal = owned[turn]
    reused = reused + 1
  end
  sent = sent + 1
  local body = '{"type":"FundsDisbursed","data":{"amount":"1.00","reference":"'
    .. PREFIX .. id .. "-" .. sent .. '"}}'
  return wrk.format("POST", "/v1/deals/" .. deal .. "/events", headers, body)
end

function response(status, headers, body)
  if status ~= 201 then
    statuses[tostring(status)] = (statuses[tostring(status)] or 0) + 1
  end
  local deal = string.match(body, '"deal_id":%s*"([^"]+)"')
  if deal ~= nil then table.insert(free, deal) end
end

function done(summary, latency, requests)
  local reused, counts = 0, {}
  for _, thread in ipairs(threads) do
    reused = reused + thread:get("reused")
    for status, n in pairs(thread:get("statuses")) do counts[status] = (counts[status] or 0) + n end
  end
  local others = {}
  for status, n in pairs(counts) do table.insert(others, string.format('"%s":%d', status, n)) end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,"reused":%d,'
    .. '"p50_us":%d,"p99_us":%d,"max_us":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    reused, latency:percentile(50), latency:percentile(99), latency.max,
    table.concat(others, ",")))
end
