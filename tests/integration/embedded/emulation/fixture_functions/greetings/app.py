"""A small Chalice app served through the local API gateway."""

from __future__ import annotations

import os
from typing import Any

from chalice import Chalice, Response

app = Chalice(app_name="fixture-greetings")


@app.route("/v1/greetings/{name}", methods=["GET"])
def greet(name: str) -> dict[str, Any]:
    """Greet `name` with the configured greeting, in the `lang` asked for."""
    query = app.current_request.query_params or {}
    return {"greeting": f"{os.environ['FIXTURE_GREETING']}, {name}", "lang": query.get("lang")}


@app.route("/v1/greetings", methods=["POST"])
def create_greeting() -> Response:
    """Accept a JSON greeting and answer 201 with it."""
    return Response(body={"received": app.current_request.json_body}, status_code=201)
