-- POST /auth/login with the body in BENCH_LOGIN_BODY (a registered user's credentials).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_LOGIN_BODY")
