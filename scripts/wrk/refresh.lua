-- POST /auth/refresh, each request with a live refresh token: the tokens of distinct
-- sessions are read from the file BENCH_REFRESH_TOKENS (one per line), shared out among
-- wrk's threads; each answer's new token goes back in the thread's pool. A request whose
-- answer carries no token (an error) loses its session: non-2xx answers are counted.
local counter = 0
local threads = {}

function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
    table.insert(threads, thread)
end

function init(args)
    pool = {}
    local n = 0
    local total = tonumber(os.getenv("BENCH_THREADS") or "1")
    for line in io.lines(os.getenv("BENCH_REFRESH_TOKENS")) do
        if n % total == id then
            table.insert(pool, line)
        end
        n = n + 1
    end
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
end

function request()
    local token = table.remove(pool)
    if token == nil then
        -- Every session of this thread is in flight: ask with a bad token (counted as non-2xx).
        token = "none"
    end
    return wrk.format(nil, nil, nil, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
    local token = body:match('"refresh_token":"([^"]+)"')
    if token then
        table.insert(pool, token)
    end
end
