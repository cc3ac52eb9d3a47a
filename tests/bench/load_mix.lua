-- wrk script for tests/bench/load.sh: a mix of POST, GET, PUT and DELETE on routes.
-- Each thread walks its own slots; request k of a thread is, by k % 4:
--   0 POST   /v1/routes            slot s = k/4, a new blackhole route with its own id
--   1 GET    /v1/routes/{id}       slot s - LAG
--   2 PUT    /v1/routes/{id}       slot s - 2*LAG (metric 10 instead of 0)
--   3 DELETE /v1/routes/{id}       slot s - 3*LAG
-- so each route is created, read, replaced and deleted in that order, LAG slots apart
-- (many more requests than there are connections in flight), and about 3*LAG routes
-- per thread exist at any time. A slot's id and destination repeat only after 65536
-- slots, long after its DELETE. Arguments after "--": ORIGIN (0-255, one per wrk
-- process) and LAG. The Authorization header comes from wrk's -H.
-- done() prints one line: requests, latency, socket errors, and the responses by status
-- class and by status code (201: POSTs done, 204: DELETEs done, 200: GETs and PUTs).
local threads = {}
local next_thread = 0

function setup(thread)
	thread:set("tid", next_thread)
	next_thread = next_thread + 1
	table.insert(threads, thread)
end

function init(args)
	origin = tonumber(args[1] or "0")
	lag = tonumber(args[2] or "150")
	k = 0
	codes = {} -- responses by status code
	-- wrk.format takes the headers given instead of wrk.headers (-H): keep those too.
	json = { ["Content-Type"] = "application/json" }
	for name, value in pairs(wrk.headers) do
		json[name] = value
	end
end

local function id_of(slot)
	slot = slot % 65536
	return string.format("rt-%02x%02x%04x", origin % 256, tid % 256, slot)
end

local function dest_of(slot)
	slot = slot % 65536
	-- 10.<origin*4+tid>.<hi>.<lo>/32: distinct per process, thread and slot.
	return string.format("10.%d.%d.%d/32", (origin * 4 + tid) % 256, math.floor(slot / 256), slot % 256)
end

local function body_of(slot, metric)
	return string.format('{"id":"%s","destination":"%s","type":"blackhole","metric":%d}',
		id_of(slot), dest_of(slot), metric)
end

function request()
	local op = k % 4
	local s = math.floor(k / 4)
	k = k + 1
	if op == 0 then
		return wrk.format("POST", "/v1/routes", json, body_of(s, 0))
	elseif op == 1 and s >= lag then
		return wrk.format("GET", "/v1/routes/" .. id_of(s - lag))
	elseif op == 2 and s >= 2 * lag then
		return wrk.format("PUT", "/v1/routes/" .. id_of(s - 2 * lag), json, body_of(s - 2 * lag, 10))
	elseif op == 3 and s >= 3 * lag then
		return wrk.format("DELETE", "/v1/routes/" .. id_of(s - 3 * lag))
	end
	-- The first slots have nothing to read, replace or delete yet.
	return wrk.format("GET", "/v1/status")
end

function response(status, headers, body)
	codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
	local e = summary.errors
	local all, cls = {}, { [2] = 0, [4] = 0, [5] = 0, other = 0 }
	for _, t in ipairs(threads) do
		for code, n in pairs(t:get("codes")) do
			all[code] = (all[code] or 0) + n
		end
	end
	local list = {}
	for code, n in pairs(all) do
		local c = math.floor(code / 100)
		if cls[c] then cls[c] = cls[c] + n else cls.other = cls.other + n end
		table.insert(list, code)
	end
	table.sort(list)
	local hist = {}
	for _, code in ipairs(list) do
		table.insert(hist, string.format("%d:%d", code, all[code]))
	end
	io.write(string.format(
		"LOAD requests=%d duration_us=%d rps=%.0f p50_us=%d p99_us=%d max_us=%d socket_errors=%d connect=%d read=%d write=%d timeout=%d s2xx=%d s4xx=%d s5xx=%d sother=%d codes=%s\n",
		summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(99), latency.max,
		e.connect + e.read + e.write + e.timeout, e.connect, e.read, e.write, e.timeout,
		cls[2], cls[4], cls[5], cls.other, table.concat(hist, ",")))
end
