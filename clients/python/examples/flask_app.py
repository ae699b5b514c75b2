"""A resource server trusting the users service's tokens, offline, honouring logout.

    USERS_API_URL=http://127.0.0.1:5000 REVOCATION_FEED_TOKEN=... python examples/flask_app.py
"""
import os

from flask import Flask, g

from users_verifier import Verifier
from users_verifier.flask import require_token

verifier = Verifier(os.environ.get("USERS_API_URL", "http://127.0.0.1:5000"),
                    feed_token=os.environ["REVOCATION_FEED_TOKEN"]).start()
app = Flask(__name__)


@app.get("/notes")
@require_token(verifier)
def notes():
    return {"status": "success", "data": {"user_id": int(g.claims["sub"]), "notes": []}}


if __name__ == "__main__":
    app.run(port=int(os.environ.get("PORT", "8000")))
