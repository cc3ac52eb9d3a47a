-- wrk script for tests/bench/api-rps.sh: POST /v1/routes, each request a new blackhole
-- route with a destination of its own (10.<base+thread>.<hi>.<lo>/32), so none is a
-- duplicate (409). Bounded: each thread stops after `max` requests (wrk's -d bounds the
-- time). Arguments after "--": BASE MAX_PER_THREAD. The Authorization header comes from
-- wrk's -H.
local next_thread = 0

function setup(thread)
	thread:set("tid", next_thread)
	next_thread = next_thread + 1
end

function init(args)
	base = tonumber(args[1] or "0")
	max = tonumber(args[2] or "10000")
	if max > 65536 then max = 65536 end
	n = 0
	wrk.method = "POST"
	wrk.path = "/v1/routes"
	wrk.headers["Content-Type"] = "application/json"
end

function request()
	if n >= max then
		wrk.thread:stop()
	end
	local i = n % 65536
	n = n + 1
	local body = string.format('{"destination":"10.%d.%d.%d/32","type":"blackhole"}',
		(base + tid) % 256, math.floor(i / 256), i % 256)
	return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("BENCH requests=%d duration_us=%d rps=%.0f p50_us=%d p99_us=%d errors=%d status_errors=%d\n",
		summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(99),
		e.connect + e.read + e.write + e.status + e.timeout, e.status))
end
