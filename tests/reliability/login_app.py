"""A tiny login service, recorded like the demo API, for secrets in responses.

The demo API never sets cookies or hands out tokens, so this app does: its
answers carry two Set-Cookie headers and a token in the JSON body, and it
takes a token in a path segment. The secret
values come from the environment, so the test knows what must not leak.
"""

from __future__ import annotations

import logging
import os

from flask import Flask, jsonify, redirect, request

from recorder.flask import init_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

app = Flask(__name__)


@app.post("/login")
def login():
    """Answer a form login with a session cookie, a remember cookie and a token."""
    username = request.form.get("username", "")
    response = jsonify(
        {
            "username": username,
            "access_token": os.environ["LOGIN_ACCESS_TOKEN"],
            "token_type": "bearer",
        }
    )
    response.set_cookie("session", os.environ["LOGIN_SESSION_COOKIE"], httponly=True)
    response.set_cookie("remember", os.environ["LOGIN_REMEMBER_COOKIE"])
    return response


@app.get("/authorize")
def authorize():
    """Send the client on with a token in the URL, as OAuth's implicit flow does
    (Flask writes the URL into the HTML body of the redirect too)."""
    return redirect(f"/done?access_token={os.environ['LOGIN_REDIRECT_TOKEN']}")


@app.post("/signup")
def signup():
    """Take a sign-up in any media type (JSON sent as text/plain, for one)."""
    request.get_data()
    return jsonify({"created": True}), 201


@app.get("/reset-password/<token>")
def reset_password(token: str):
    """Take a reset link's token in the path, as e-mailed links carry it."""
    return jsonify({"valid": bool(token)})


@app.get("/healthz")
def healthz():
    """Answer 200 while the process serves requests."""
    return jsonify({"status": "ok"})


init_app(
    app,
    sink="kafka",
    bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
    topic=os.environ["RECORDING_TOPIC"],
)
