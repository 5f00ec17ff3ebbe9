"""Write the 1 MiB array request in infra_chains' binary codec (msgpack), using the package's own codec.

Runs in the project venv. usage: python make_body.py OUT_FILE  -> prints the request headers as JSON.
Contract assumed: infra_chains.serving.codec.encode(obj, binary=True) -> bytes, and the runtime reads
`application/x-msgpack` request bodies (keyword arguments) and answers in the same codec.
"""
import json
import sys

import numpy as np

from infra_chains.serving.codec import decode, encode

MSGPACK = "application/x-msgpack"
arr = (np.arange(262_144, dtype=np.float32) % 1024) * np.float32(0.25)
body = encode({"data": arr}, binary=True)
back = decode(body, binary=True)
if not np.array_equal(np.asarray(back["data"]), arr):
    sys.exit("codec round trip changed the array")
with open(sys.argv[1], "wb") as f:
    f.write(body)
print(json.dumps({"Content-Type": MSGPACK, "Accept": MSGPACK}))
