-- Each connection waits BENCH_DELAY_MS between requests: a steady load whose latency
-- measures the service, not the queue a closed loop at full speed builds up.
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "10")
delay = function()
    return pause
end
