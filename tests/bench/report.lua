-- wrk script for tests/bench/api-rps.sh: a machine-readable summary line after the run.
-- Requests are wrk's own (method, path and headers from its command line).
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("BENCH requests=%d duration_us=%d rps=%.0f p50_us=%d p99_us=%d errors=%d\n",
		summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(99),
		e.connect + e.read + e.write + e.status + e.timeout))
end
