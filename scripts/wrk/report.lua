-- Prepended to every wrk script by scripts/bench.sh: one machine-readable line per run.
-- RESULT <requests> <requests/s> <p50 us> <p99 us> <non-2xx> <socket errors>
done = function(summary, latency, requests)
    local seconds = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format("RESULT %d %.1f %d %d %d %d\n",
        summary.requests, summary.requests / seconds,
        latency:percentile(50), latency:percentile(99),
        e.status, e.connect + e.read + e.write + e.timeout))
end
