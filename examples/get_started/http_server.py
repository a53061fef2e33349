"""The receiver from the EMQX Webhook page's Get Started, unchanged but for the port (PORT, default 5000)."""

import os

from flask import Flask, json, request

api = Flask(__name__)


@api.route('/', methods=['POST'])
def print_messages():
    reply = {"result": "ok", "message": "success"}
    print("got post request: ", request.get_data(), flush=True)
    return json.dumps(reply), 200


if __name__ == '__main__':
    api.run(port=int(os.environ.get("PORT", "5000")))
